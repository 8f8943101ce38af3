"""Joint redshift scan for a background galaxy's emission lines in a residual (matched filter; issue 19 extension).

What the spectroscopic lens surveys do (Bolton et al. 2004 for SLACS, Brownstein et al. 2012 for BELLS): rather
than finding lines one by one and asking them to agree, scan a fine grid of trial redshifts and, at each, add up
the evidence of ALL the background lines at their predicted positions. Two lines at S/N 3.5 each, which a blind
per-line search finds only when both pass its per-line cut, make a joint S/N of ~5 at the one redshift where
both sit, while the noise of the other trials has to line up at two fixed places at once.

Per spectrum (rows of ``residual`` on a linear grid, e.g. the rest frame of the foreground):

1. matched filter: at every "centre" of a fine grid (``SUBPIXELS`` per pixel) the best-fit amplitude of a line
   profile t (a Gaussian of ``sigma_kms`` integrated over each pixel's bin, as flux-conserving resampling makes
   it) and its S/N, ``sum(w r t) / sqrt(sum(w t^2))`` with w = ivar over the usable pixels (``ok``), for two
   profiles: one line, and the [O II] 3727 / 3730 doublet (0.43 : 0.57, what the synthetic survey draws, close
   to the low-density limit);
2. robust normalisation: the single-line S/N map is divided by its running scatter (1.4826 x the running median
   absolute deviation over ``scatter_window_angstrom``, floored at ``scatter_floor``): where the neighbours'
   combination leaves structure above the noise (chi std 1.5-2.5 at a high continuum S/N), its bumps do not
   read as lines;
3. for each trial ln(1 + z) (step ``z_step``), the S/N of [O II] (doublet profile), Hbeta, [O III] 4960 + 5008
   (one amplitude, the fixed 1 : 2.98 ratio) and Halpha at their predicted centres, each only where its profile
   lies on usable pixels (``min_cover``); the trial's score is sqrt(sum of the POSITIVE S/N^2) (emission only)
   where at least ``min_lines`` of them reach ``line_snr`` (BELLS: [O II] plus Hbeta or [O III]), else 0;
4. the spectrum's score is the best trial's, its z and line count are that trial's.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from skysift.spectra.line_list import OII_3727_ANGSTROM, OII_3730_ANGSTROM, get_line

C_KMS = 299_792.458
SUBPIXELS = 4
"""Trial line centres per pixel (a line's S/N drops by up to ~10 % between pixel centres at 4.9 A per pixel and
sigma ~1.7 A; at 4 per pixel by < 2 %)."""
HALF_WINDOW_PX = 3
"""Pixels each side of a centre's pixel that its profile is integrated over (the doublet's 2.8 A + 3 sigma)."""
OII_DOUBLET = ((OII_3727_ANGSTROM, 0.43), (OII_3730_ANGSTROM, 0.57))
"""[O II] doublet components (vacuum A, flux share); its centre is the [OII]3728 blend's wavelength."""
OIII_RATIO = 2.98
"""[O III] 5008 / 4960 flux ratio (fixed by atomic physics; Storey & Zeippen 2000)."""
SCAN_LINES = ("[OII]3728", "Hbeta", "[OIII]5008", "Halpha")
"""The background lines scored per trial (the [O III] entry is the 4960 + 5008 doublet)."""


def bin_edges(wave: np.ndarray) -> np.ndarray:
    """(P + 1,) pixel bin edges of a grid of bin centres (midpoints; the end bins mirrored)."""
    w = np.asarray(wave, np.float64)
    mid = 0.5 * (w[1:] + w[:-1])
    return np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])


def centre_grid(wave: np.ndarray, sub: int = SUBPIXELS) -> tuple[np.ndarray, np.ndarray]:
    """(centres (P sub,), pixel of each centre): ``sub`` evenly spaced trial centres inside each pixel's bin."""
    e = bin_edges(wave)
    frac = (np.arange(sub) + 0.5) / sub
    centres = (e[:-1, None] + frac[None, :] * np.diff(e)[:, None]).ravel()
    return centres, np.repeat(np.arange(len(wave)), sub)


def profile_templates(wave: np.ndarray, sigma_kms: float, components=((0.0, 1.0),),
                      sub: int = SUBPIXELS) -> tuple[np.ndarray, np.ndarray]:
    """(pixel index (C, 2h+1), template (C, 2h+1)) of a line profile centred at each trial centre.

    ``components``: (offset from the centre in A, flux share); each a Gaussian of sigma = lambda sigma_kms / c
    integrated over the pixels' bins and divided by the bin width (a flux density: a line of unit flux adds
    t_j to pixel j). Indices outside the grid are clipped and their template set to 0.
    """
    e = bin_edges(wave)
    centres, pix = centre_grid(wave, sub)
    offs = np.arange(-HALF_WINDOW_PX, HALF_WINDOW_PX + 1)
    idx = pix[:, None] + offs[None, :]
    inside = (idx >= 0) & (idx < len(wave))
    idx = np.clip(idx, 0, len(wave) - 1)
    lo, hi = e[idx], e[idx + 1]
    t = np.zeros(idx.shape)
    for off, share in components:
        c = centres[:, None] + off
        s = c * sigma_kms / C_KMS
        t += share * (ndtr((hi - c) / s) - ndtr((lo - c) / s))
    t = np.where(inside, t / (hi - lo), 0.0)
    return idx, t


def profile_matrix(idx: np.ndarray, t: np.ndarray, n_pixels: int):
    """(P, C) sparse matrix of the templates (column c = the profile centred at trial centre c)."""
    from scipy.sparse import csc_matrix

    c = np.repeat(np.arange(len(idx)), idx.shape[1])
    keep = t.ravel() > 0
    return csc_matrix((t.ravel()[keep], (idx.ravel()[keep], c[keep])), shape=(n_pixels, len(idx)))


def filter_maps(resid: np.ndarray, weight: np.ndarray, ok: np.ndarray, m, m2, msum: np.ndarray,
                min_cover: float) -> tuple[np.ndarray, np.ndarray]:
    """(numerator sum(w r t), denominator sum(w t^2)) (n, C) of one profile (``m`` its ``profile_matrix``,
    ``m2`` that squared, ``msum`` its column sums); both 0 where less than ``min_cover`` of the profile's flux
    lies on ``ok`` pixels."""
    num = (m.T @ (weight * resid).T).T
    den = (m2.T @ weight.T).T
    cover = (m.T @ ok.T.astype(np.float64)).T / np.maximum(msum, 1e-30)[None, :]
    keep = (cover >= min_cover) & (den > 0)
    return np.where(keep, num, 0.0), np.where(keep, den, 0.0)


def robust_scale(snr: np.ndarray, valid: np.ndarray, centres: np.ndarray, window_angstrom: float,
                 floor: float) -> np.ndarray:
    """(n, C) 1.4826 x the running median absolute deviation of ``snr`` over ``window_angstrom`` (valid entries
    only), at least ``floor``; ``floor`` where a window holds nothing valid or the window is 0."""
    if window_angstrom <= 0:
        return np.full(snr.shape, floor)
    from skysift.spectra.continuum import median_continuum

    x = np.where(valid, snr, 0.0).astype(np.float32)
    one = np.ones_like(x)
    med = np.nan_to_num(median_continuum(x, one, centres, window_angstrom, good=valid))
    mad = median_continuum(np.abs(x - med).astype(np.float32), one, centres, window_angstrom, good=valid)
    return np.maximum(np.nan_to_num(1.4826 * mad.astype(np.float64), nan=floor), floor)


def trial_grid(z_min: float, z_max: float, z_step: float) -> np.ndarray:
    """Trial relative redshifts, uniform in ln(1 + z) with step ``z_step`` (a fraction of a pixel)."""
    lo, hi = np.log1p(z_min), np.log1p(z_max)
    return np.expm1(np.arange(lo, hi + 0.5 * z_step, z_step))


def _nearest(pos: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the trial centre nearest each of ``pos``, whether ``pos`` is inside the grid)."""
    i = np.clip(np.searchsorted(centres, pos), 1, len(centres) - 1)
    i = np.where(np.abs(centres[i - 1] - pos) <= np.abs(centres[i] - pos), i - 1, i)
    half = 0.5 * (centres[1] - centres[0])
    return i, (pos >= centres[0] - half) & (pos <= centres[-1] + half)


def _centre_index(lines_angstrom: np.ndarray, z: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index (Z, L) of the trial centre nearest each line at each z, inside (Z, L))."""
    return _nearest(lines_angstrom[None, :] * (1 + z)[:, None], centres)


class JointLineScan:
    """The scan's fixed parts for one grid (templates, trial z, gather indices); ``score`` runs it on residuals."""

    def __init__(self, wave: np.ndarray, sigma_kms: float, z_min: float, z_max: float, z_step: float,
                 line_snr: float, min_lines: int, min_cover: float = 0.6, scatter_window_angstrom: float = 300.0,
                 scatter_floor: float = 1.0):
        self.wave = np.asarray(wave, np.float64)
        self.centres, _ = centre_grid(self.wave)
        blend = get_line("[OII]3728").wave_angstrom
        self.profiles = {}
        for name, comps in (("single", ((0.0, 1.0),)), ("oii", tuple((w - blend, s) for w, s in OII_DOUBLET))):
            idx, t = profile_templates(self.wave, sigma_kms, comps)
            m = profile_matrix(idx, t, len(self.wave))
            self.profiles[name] = (m, m.multiply(m).tocsc(), np.asarray(m.sum(axis=0)).ravel())
        # [O III] 4960 sits at 4960.30 / 5008.24 of 5008's wavelength whatever the redshift: the trial centre of
        # 4960 for each centre of 5008, so that the doublet's joint S/N is one map
        o4960, o5008 = get_line("[OIII]4960").wave_angstrom, get_line("[OIII]5008").wave_angstrom
        self.partner, self.partner_inside = _nearest(self.centres * (o4960 / o5008), self.centres)
        self.z = trial_grid(z_min, z_max, z_step)
        waves = np.array([blend] + [get_line(n).wave_angstrom for n in ("Hbeta", "[OIII]5008", "Halpha")])
        self.at, self.inside = _centre_index(waves, self.z, self.centres)  # (Z, 4), the order of SCAN_LINES
        self.line_snr, self.min_lines, self.min_cover = float(line_snr), int(min_lines), float(min_cover)
        self.scatter_window, self.scatter_floor = float(scatter_window_angstrom), float(scatter_floor)

    def line_snr_maps(self, resid: np.ndarray, weight: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """(n, C, 3) S/N after the robust scaling of a line centred at each trial centre: single line,
        [O II] doublet, [O III] doublet (4960 + 5008 at 1 : 2.98, the centre being 5008's); NaN where the
        profile is not covered."""
        num1, den1 = filter_maps(resid, weight, ok, *self.profiles["single"], self.min_cover)
        num2, den2 = filter_maps(resid, weight, ok, *self.profiles["oii"], self.min_cover)
        valid = den1 > 0
        snr = np.where(valid, num1 / np.sqrt(np.where(valid, den1, 1.0)), 0.0)
        # the scatter on the pixel grid (one centre per pixel: the matched filter's own resolution), 16 x
        # cheaper than on the trial centres, then the same scale for the pixel's trial centres
        k = SUBPIXELS // 2
        s2 = np.repeat(robust_scale(snr[:, k::SUBPIXELS], valid[:, k::SUBPIXELS], self.centres[k::SUBPIXELS],
                                    self.scatter_window, self.scatter_floor) ** 2, SUBPIXELS, axis=1)
        var1, var2 = den1 * s2, den2 * s2
        r = 1.0 / OIII_RATIO  # the 4960 line's amplitude per unit 5008 amplitude
        p = self.partner
        pin = self.partner_inside[None, :]
        num3 = num1 + np.where(pin, r * num1[:, p], 0.0)
        var3 = np.where(var1 > 0, var1, 0.0) + np.where(pin, r * r * var1[:, p], 0.0)
        out = np.empty(num1.shape + (3,), np.float32)
        for k, (nm, v) in enumerate(((num1, var1), (num2, var2), (num3, var3))):
            out[..., k] = np.where(v > 0, nm / np.sqrt(np.where(v > 0, v, 1.0)), np.nan)
        return out

    def score(self, resid: np.ndarray, weight: np.ndarray, ok: np.ndarray) -> dict[str, np.ndarray]:
        """Per row: ``score`` (0 where no trial has ``min_lines`` lines at ``line_snr``), ``n_lines``, ``z_rel``
        (NaN where none) and ``snr`` (n, 4): the best trial's S/N of ``SCAN_LINES`` (NaN where not covered)."""
        resid = np.nan_to_num(np.asarray(resid, np.float64))
        weight = np.where(ok, np.asarray(weight, np.float64), 0.0)
        maps = self.line_snr_maps(resid, weight, ok)
        snr = np.empty((len(resid), len(self.z), 4), np.float32)
        for j, kind in enumerate((1, 0, 2, 0)):  # [O II] doublet, Hbeta, [O III] doublet, Halpha
            snr[..., j] = np.where(self.inside[None, :, j], maps[:, self.at[:, j], kind], np.nan)
        pos = np.nan_to_num(np.maximum(snr, 0.0))  # emission only; NaN (uncovered) -> 0
        n_det = (np.nan_to_num(snr, nan=-np.inf) >= self.line_snr).sum(-1)
        trial = np.where(n_det >= self.min_lines, np.sqrt((pos * pos).sum(-1)), 0.0)  # (n, Z)
        best = np.argmax(trial, axis=1)
        rows = np.arange(len(trial))
        score = trial[rows, best].astype(np.float64)
        found = score > 0
        return {"score": score, "n_lines": np.where(found, n_det[rows, best], 0).astype(np.int32),
                "z_rel": np.where(found, self.z[best], np.nan), "snr": snr[rows, best]}
