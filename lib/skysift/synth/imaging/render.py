"""Stamps: analytic profiles on an oversampled grid, FFT convolution with the PSF, sub-pixel shifts, block sums.

A galaxy is rendered once per batch on an ``os``-times oversampled grid centred on
a sample (its components: Sersic bulge, exponential disk, spiral arms, bar,
star-forming clumps, tidal tails, merger companion), combined per band with band
colour weights, Fourier transformed, multiplied by the band's PSF transfer
function and by a phase ramp that moves it by the band's sub-pixel offset, and
transformed back; summing each os x os block gives the pixel integrals. The same
path without the profile (a delta) renders stars and QSOs. Every stamp sums to its
flux (the truncated model is the catalogued model, as SDSS truncates its models).

The Sersic cusp: the centre sample of a bulge carries the exact flux of its
equal-area ellipse (incomplete gamma function) instead of the point value, which
would put most of a small de Vaucouleurs bulge's light into one sample.

Batches are vectorised over objects with numpy ((B, N, N) arrays, float32),
grouped by stamp size and oversampling, and chunked to bound memory.
"""
from __future__ import annotations

import numpy as np

from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import psf as P
from skysift.synth.imaging.config import PSFConfig

STAMP_SIZES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
"""Allowed stamp sides (FFT-friendly 2^a 3^b)."""
MAX_CHUNK_SAMPLES = 2_000_000
"""Oversampled samples per chunk (B * N * N): ~8 MB per float32 array."""
COMPONENTS = ("bulge", "disk", "arms", "bar", "clumps", "tidal", "comp")
# Band colour factors per component, u g r i z (relative to r). Bulges and bars are old and red,
# arms and clumps young and blue (skysift choice; the object's total colours are set elsewhere).
_RED = (0.45, 0.75, 1.0, 1.1, 1.15)
_BLUE = (1.8, 1.35, 1.0, 0.85, 0.75)
_FLAT = (1.0, 1.0, 1.0, 1.0, 1.0)
COLOUR_FACTORS = np.array([_RED, _FLAT, _BLUE, _RED, _BLUE, _FLAT, _FLAT])
"""(7 components, 5 bands) colour factors."""
N_CLUMPS = 8
CLUMP_SIGMA_ARCSEC = 0.3


def choose_size(radius_px: np.ndarray) -> np.ndarray:
    """Smallest allowed stamp side whose half-width minus one pixel covers ``radius_px``."""
    sizes = np.array(STAMP_SIZES)
    idx = np.searchsorted(sizes // 2 - 1, np.asarray(radius_px), side="left")
    return sizes[np.minimum(idx, len(sizes) - 1)]


def choose_os(min_radius_px: np.ndarray) -> np.ndarray:
    """Oversampling: 5 below 1.5 px, 3 below 4 px, else 1 (the PSF keeps larger profiles smooth)."""
    r = np.asarray(min_radius_px)
    return np.where(r < 1.5, 5, np.where(r < 4.0, 3, 1))


def _taper(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """1 inside t - 1, smoothly 0 at t (in units of R_e)."""
    s = np.clip(t - x, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def _sersic(r_over_re: np.ndarray, n: np.ndarray) -> np.ndarray:
    n = n.astype(np.float32)
    b = G.sersic_b(n).astype(np.float32)
    with np.errstate(over="ignore"):
        v = np.exp(-b * (np.power(r_over_re, 1.0 / n) - 1.0))
    return v * _taper(r_over_re, G.truncation_re(n).astype(np.float32))


def _col(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)[:, None, None]


def _unit(img: np.ndarray) -> np.ndarray:
    s = img.sum(axis=(1, 2), keepdims=True)
    return np.divide(img, s, out=np.zeros_like(img), where=s > 0)


def component_images(p: dict[str, np.ndarray], size_px: int, os: int, cd_deg: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Unit-sum float32 images of each present component, centred on sample (kc, kc).

    Returns {component: (rows, images (len(rows), N, N))}: each component is computed only for
    the objects that have it. ``p`` holds per-object shape parameters (``galaxies.morphology``
    names, arcsec and degrees); ``cd_deg`` is the frame's 2 x 2 CD matrix (deg per pixel).
    """
    t = P.grid_offsets(size_px, os).astype(np.float32)
    cd = np.asarray(cd_deg, dtype=np.float64) * 3600.0
    dx, dy = t[None, None, :], t[None, :, None]
    xi = (cd[0, 0] * dx + cd[0, 1] * dy).astype(np.float32)  # arcsec towards +RA (east)
    eta = (cd[1, 0] * dx + cd[1, 1] * dy).astype(np.float32)  # arcsec towards +Dec (north)
    pa = np.radians(p["pa_deg"])
    sp, cp = _col(np.sin(pa)), _col(np.cos(pa))
    a = xi * sp + eta * cp  # along the major axis
    b = xi * cp - eta * sp  # along the minor axis
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    pix_area_arcsec2 = abs(np.linalg.det(cd)) / os**2

    rows = np.flatnonzero(p["bt"] > 0)
    if len(rows):
        qb, reb, nb = p["q_bulge"][rows], np.maximum(p["re_bulge_arcsec"][rows], 1e-3), p["n_bulge"][rows]
        r = np.sqrt(a[rows] ** 2 + (b[rows] / _col(qb)) ** 2) / _col(reb)
        img = _sersic(r, _col(nb))
        # Exact flux of the centre sample's equal-area ellipse, in the same units as the samples.
        from scipy.special import gamma, gammainc

        bn = G.sersic_b(nb)
        total = 2 * np.pi * nb * qb * reb**2 * np.exp(bn) * gamma(2 * nb) / bn ** (2 * nb)
        a_eq = np.sqrt(pix_area_arcsec2 / (np.pi * qb))
        kc = P.centre_index(size_px, os)
        img[:, kc, kc] = (total * gammainc(2 * nb, bn * (a_eq / reb) ** (1 / nb)) / pix_area_arcsec2).astype(np.float32)
        out["bulge"] = (rows, _unit(img))

    rows = np.flatnonzero(p["re_disk_arcsec"] > 0)
    if len(rows):
        ad, bd = a[rows], b[rows]
        qd, red = _col(p["q_disk"][rows]), _col(np.maximum(p["re_disk_arcsec"][rows], 1e-3))
        yd = bd / qd  # deprojected disk-plane coordinates (ad, yd)
        rd = np.sqrt(ad * ad + yd * yd)
        theta = np.arctan2(yd, ad)
        disk = _sersic(rd / red, np.ones((len(rows), 1, 1), np.float32))
        lop = p["lopsided"][rows]
        if np.any(lop > 0):
            disk = disk * np.clip(1.0 + _col(lop) * np.cos(theta - _col(np.radians(p["lopsided_phase_deg"][rows]))) * np.minimum(rd / red, 2.0), 0.0, None)
        out["disk"] = (rows, _unit(disk))
        sub = np.flatnonzero(p["f_arms"][rows] > 0)
        if len(sub):
            r_ = rows[sub]
            m = _col(p["n_arms"][r_])
            tan_p = _col(np.tan(np.radians(np.maximum(p["pitch_deg"][r_], 1.0))))
            r_in = _col(np.maximum(p["bar_len_arcsec"][r_], 0.4 * np.maximum(p["re_disk_arcsec"][r_], 1e-3)))
            phase = m * (theta[sub] - np.log(np.maximum(rd[sub], 1e-3) / red[sub]) / tan_p) - _col(np.radians(p["arm_phase_deg"][r_]))
            pattern = (0.5 * (1.0 + np.cos(phase))) ** 3 * (1.0 - np.exp(-((rd[sub] / r_in) ** 2)))
            out["arms"] = (r_, _unit(disk[sub] * pattern))
        sub = np.flatnonzero(p["f_bar"][rows] > 0)
        if len(sub):
            r_ = rows[sub]
            ang = _col(np.radians(p["bar_angle_deg"][r_]))
            xb = ad[sub] * np.cos(ang) + yd[sub] * np.sin(ang)
            yb = -ad[sub] * np.sin(ang) + yd[sub] * np.cos(ang)
            length = _col(np.maximum(p["bar_len_arcsec"][r_], 1e-3))
            m2 = (xb / length) ** 2 + (yb / (length * _col(p["bar_q"][r_]))) ** 2
            out["bar"] = (r_, _unit(np.clip(1.0 - m2, 0.0, None) ** 2))
        sub = np.flatnonzero(p["f_clumps"][rows] > 0)
        if len(sub):
            r_ = rows[sub]
            clumps = np.zeros((len(r_),) + a.shape[1:], np.float32)
            for i, row in enumerate(r_):
                g = np.random.default_rng(int(p["clump_seed"][row]))
                rr = p["re_disk_arcsec"][row] * 0.8 * g.exponential(1.0, N_CLUMPS)
                th = g.uniform(0, 2 * np.pi, N_CLUMPS)
                w = g.uniform(0.5, 1.5, N_CLUMPS)
                ca, cb = rr * np.cos(th), rr * np.sin(th) * p["q_disk"][row]
                for j in range(N_CLUMPS):
                    clumps[i] += w[j] * np.exp(-((a[row] - ca[j]) ** 2 + (b[row] - cb[j]) ** 2) / (2 * CLUMP_SIGMA_ARCSEC**2))
            out["clumps"] = (r_, _unit(clumps))

    rows = np.flatnonzero(p["f_tidal"] > 0)
    if len(rows):
        at, bt_ = a[rows], b[rows]
        rho = np.sqrt(at * at + bt_ * bt_)
        phi = np.arctan2(bt_, at)
        size = np.maximum(p["re_disk_arcsec"][rows], p["re_bulge_arcsec"][rows])
        r_s = _col(1.2 * size)
        length = _col(np.maximum(p["tidal_len_arcsec"][rows], 1e-3))
        tails = np.zeros_like(at)
        for offset, weight in ((0.0, 1.0), (np.pi, 0.5)):
            phi_c = _col(np.radians(p["tidal_angle_deg"][rows]) + offset) + _col(p["tidal_curvature"][rows]) * (rho - r_s) / length
            dphi = np.mod(phi - phi_c + np.pi, 2 * np.pi) - np.pi
            width = _col(0.25 * size) + 0.1 * np.clip(rho - r_s, 0.0, None)
            along = np.clip((rho - r_s) / length, 0.0, None)
            on = _taper(along, np.float32(1.0)) * np.clip((rho - r_s) / (0.3 * r_s), 0.0, 1.0)
            tails += weight * np.exp(-along * 2.0) * np.exp(-((rho * dphi) ** 2) / (2 * width**2)) * on
        out["tidal"] = (rows, _unit(tails.astype(np.float32)))

    rows = np.flatnonzero(p["f_comp"] > 0)
    if len(rows):
        ang = np.radians(p["comp_angle_deg"][rows])
        sep = p["comp_sep_arcsec"][rows]
        xi_c, eta_c = _col(sep * np.sin(ang)), _col(sep * np.cos(ang))
        pc = np.radians(p["comp_pa_deg"][rows])
        dxi, deta = xi - xi_c, eta - eta_c
        ac = dxi * _col(np.sin(pc)) + deta * _col(np.cos(pc))
        bc = dxi * _col(np.cos(pc)) - deta * _col(np.sin(pc))
        r = np.sqrt(ac * ac + (bc / _col(p["comp_q"][rows])) ** 2) / _col(np.maximum(p["comp_re_arcsec"][rows], 1e-3))
        out["comp"] = (rows, _unit(_sersic(r, _col(p["comp_n"][rows]))))
    return out


def simplify_unresolved(p: dict[str, np.ndarray], pixel_scale_arcsec: float, min_re_px: float = 2.0) -> dict[str, np.ndarray]:
    """A copy of ``p`` whose arms, bar, clumps and tails are folded into the disk where the disk R_e < ``min_re_px``.

    Such structure is invisible after a >= 2.5 px PSF; dropping it keeps faint galaxies cheap.
    The truth keeps the class and the parameters; only the rendering is simplified.
    """
    q = dict(p)
    small = p["re_disk_arcsec"] / pixel_scale_arcsec < min_re_px
    for k in ("f_arms", "f_bar", "f_clumps", "f_tidal"):
        q[k] = np.where(small, 0.0, p[k])
    return q


def component_weights(p: dict[str, np.ndarray], band_indices: tuple[int, ...]) -> np.ndarray:
    """(B, n_bands, 7) light fractions per component and band, each (object, band) summing to 1."""
    extras = np.stack([p["f_arms"], p["f_bar"], p["f_clumps"], p["f_tidal"], p["f_comp"]], axis=1)
    rest = np.clip(1.0 - extras.sum(axis=1), 0.0, 1.0)
    base = np.stack([p["bt"] * rest, (1 - p["bt"]) * rest * (p["re_disk_arcsec"] > 0), *extras.T], axis=1)
    w = base[:, None, :] * COLOUR_FACTORS[:, list(band_indices)].T[None, :, :]
    return w / np.maximum(w.sum(axis=2, keepdims=True), 1e-30)


def _shift_phase(size_px: int, os: int, shift_px: np.ndarray, at_centre_delta: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Phase ramps (B, N, 1) along y and (B, 1, N/2+1) along x moving an image by ``shift_px`` (B, 2: x, y) native pixels."""
    n = size_px * os
    fy = np.fft.fftfreq(n) * n
    fx = np.fft.rfftfreq(n) * n
    s = np.asarray(shift_px, dtype=np.float64) * os
    if at_centre_delta:
        s = s + P.centre_index(size_px, os)
    py = np.exp(-2j * np.pi * fy[None, :] * s[:, 1:2] / n).astype(np.complex64)[:, :, None]
    px = np.exp(-2j * np.pi * fx[None, :] * s[:, 0:1] / n).astype(np.complex64)[:, None, :]
    return py, px


def _RFFT_WEIGHTS(n: int) -> np.ndarray:
    """Multiplicity of each rfft column in the full spectrum (1 for DC and Nyquist, 2 otherwise)."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def _otfs(fwhm_px: np.ndarray, j: int, n_obj: int, size_px: int, os: int, psf: PSFConfig) -> np.ndarray:
    """PSF transfer functions of band j: (1, N, M) for one FWHM per band, (B, N, M) for one per object and band."""
    f = np.asarray(fwhm_px, dtype=np.float64)
    if f.ndim == 1:
        return P.otf(size_px, os, float(f[j]), psf)[None]
    # Per-object PSFs (stamps): FWHM rounded to 0.01 px so that the cache is reused.
    return np.stack([P.otf(size_px, os, round(float(v), 2), psf) for v in f[:, j]])


def _finish(spec: np.ndarray, size_px: int, os: int) -> np.ndarray:
    img = np.fft.irfft2(spec, s=(size_px * os, size_px * os), axes=(-2, -1))
    if os > 1:
        img = img.reshape(img.shape[0], size_px, os, size_px, os).sum(axis=(2, 4))
    return img.astype(np.float32)


def render_galaxies(
    p: dict[str, np.ndarray],
    flux: np.ndarray,
    frac_px: np.ndarray,
    fwhm_px: np.ndarray,
    band_indices: tuple[int, ...],
    size_px: int,
    os: int,
    cd_deg: np.ndarray,
    psf: PSFConfig,
    profile_px: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(B, n_bands, S, S) galaxy stamps: centre pixel S // 2 plus the sub-pixel offsets ``frac_px`` (B, n_bands, 2).

    ``fwhm_px`` is (n_bands,) for one PSF per band or (B, n_bands) for one per object. The profile is sampled ``os`` times per pixel on a ``profile_px`` grid (default S) and
    summed into native pixels, which integrates it over each pixel; it is then convolved
    with the PSF sampled at pixel centres on the S x S stamp, where the sub-pixel shift is
    applied as a phase ramp. Pixel integration and convolution commute, and the PSF (FWHM >=
    2.5 px) is smooth on the pixel scale, so this matches the oversampled convolution to
    well under 1 % per pixel while the FFTs stay at native resolution.
    ``flux`` (B, n_bands) in the image unit; each stamp sums to it.

    Also returns the PSF-flux ratio (B, n_bands): sum(G P) / sum(P^2) for the unit-flux galaxy G and
    the PSF P, the flux a PSF fit at the galaxy's centre measures, computed exactly in Fourier space
    (sum_k G(k) |P(k)|^2 / sum_k |P(k)|^2; the shift phases cancel). 1 for a point source.
    """
    prof = size_px if profile_px is None else int(profile_px)
    comps = component_images(p, prof, os, cd_deg)
    weights = component_weights(p, band_indices)
    n_obj = len(flux)
    out = np.empty((n_obj, len(band_indices), size_px, size_px), np.float32)
    ratio = np.empty((n_obj, len(band_indices)))
    lo = size_px // 2 - prof // 2
    cy, cx = (a[0] for a in _shift_phase(size_px, 1, np.full((1, 2), float(size_px // 2))))
    for j in range(len(band_indices)):
        img = np.zeros((n_obj, prof * os, prof * os), np.float32)
        for c, name in enumerate(COMPONENTS):
            if name in comps:
                rows, comp = comps[name]
                img[rows] += comp * weights[rows, j, c][:, None, None].astype(np.float32)
        if os > 1:
            img = img.reshape(n_obj, prof, os, prof, os).sum(axis=(2, 4))
        stamp = np.zeros((n_obj, size_px, size_px), np.float32)
        stamp[:, lo : lo + prof, lo : lo + prof] = img
        spec = np.fft.rfft2(stamp)
        otf = _otfs(fwhm_px, j, n_obj, size_px, 1, psf)
        power = (otf.real**2 + otf.imag**2) * _RFFT_WEIGHTS(size_px)[None, None, :]
        # The galaxy sits at pixel (S//2, S//2): undo that phase so the fit is centred on it.
        centred = spec * np.conj(cy)[None] * np.conj(cx)[None]
        ratio[:, j] = (centred.real * power).sum(axis=(1, 2)) / power.sum(axis=(1, 2))
        py, px = _shift_phase(size_px, 1, frac_px[:, j, :])
        spec *= otf
        spec *= py
        spec *= px
        out[:, j] = _finish(spec, size_px, 1) * np.asarray(flux[:, j], dtype=np.float32)[:, None, None]
    return out, ratio


def render_points(flux: np.ndarray, frac_px: np.ndarray, fwhm_px: np.ndarray, size_px: int, psf: PSFConfig, os: int = 3) -> np.ndarray:
    """(B, n_bands, S, S) point-source stamps (pixel-integrated PSF) at centre pixel S // 2 + ``frac_px``.

    ``fwhm_px``: (n_bands,) or (B, n_bands) as for ``render_galaxies``.
    """
    n_obj, n_bands = flux.shape
    out = np.empty((n_obj, n_bands, size_px, size_px), np.float32)
    for j in range(n_bands):
        py, px = _shift_phase(size_px, os, frac_px[:, j, :], at_centre_delta=True)
        spec = _otfs(fwhm_px, j, n_obj, size_px, os, psf) * py * px
        out[:, j] = _finish(spec, size_px, os) * np.asarray(flux[:, j], dtype=np.float32)[:, None, None]
    return out


def chunks(indices: np.ndarray, size_px: int, os: int) -> list[np.ndarray]:
    """Split object indices into chunks of at most MAX_CHUNK_SAMPLES oversampled samples."""
    per = max(1, MAX_CHUNK_SAMPLES // max(size_px * os, 1) ** 2)
    return [indices[i : i + per] for i in range(0, len(indices), per)]


def add_stamps(image: np.ndarray, stamps: np.ndarray, x_centre: np.ndarray, y_centre: np.ndarray) -> None:
    """Add (B, S, S) stamps into ``image`` in place; stamp pixel (S//2, S//2) lands on (y_centre, x_centre); edges clipped."""
    ny, nx = image.shape
    size = stamps.shape[-1]
    half = size // 2
    for s, xc, yc in zip(stamps, np.asarray(x_centre, dtype=np.int64), np.asarray(y_centre, dtype=np.int64)):
        x0, y0 = xc - half, yc - half
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x0 + size, nx), min(y0 + size, ny)
        if xa < xb and ya < yb:
            image[ya:yb, xa:xb] += s[ya - y0 : yb - y0, xa - x0 : xb - x0]
