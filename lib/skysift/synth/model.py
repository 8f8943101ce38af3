"""The synthetic spectrum model: a batch of row numbers -> spectra on the SDSS native grid + truth.

Every spectrum is drawn from its own generator ``np.random.default_rng([seed, row])``:
first a fixed vector of ``N_UNIFORMS`` uniforms (all parameters), then one standard
normal per model pixel (the noise). The physics is then computed for the whole
batch at once with numpy, one class at a time on row subsets, so a row's bytes do
not depend on which rows share its batch (tests check this).

The model grid is SDSS's: loglam_k = float32(3.5 + 1e-4 k) for k in [K_LO, K_HI),
wide enough for SDSS (k0 ~ 780-830, N ~ 3800-3850), BOSS (k0 ~ 510-560, N ~ 4580-4650)
and LAMOST (COEFF0 = 3.5682, i.e. k0 = 682, N ~ 3900-3909) spectra; each row keeps
the slice [k0, k0 + N) of its layout. Fluxes are f_lambda in 1e-17 erg/s/cm2/A.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from skysift.config import require
from skysift.schema import LINE_FLUX_COLUMNS, TRUTH
from skysift.synth import continuum as cont
from skysift.synth import lines as L
from skysift.synth import plates, sky
from skysift.synth.pool_config import EmissionPoolConfig
from skysift.sky.healpix import healpix29
from skysift.synth.profiles import C_KMS, kms_per_pixel, render_gaussians

LOGLAM0 = 3.5
DLOGLAM = 1e-4
K_LO = 500
K_HI = 5220
N_MODEL = K_HI - K_LO
KMS_PER_PIX = kms_per_pixel(DLOGLAM)  # 69.03 km/s
SIGMA_INST_KMS = 65.0
"""SDSS instrumental line sigma (R ~ 2000, wdisp ~ 1 pixel)."""

CLASSES = ("star_forming", "composite", "seyfert", "liner", "passive", "qso", "star", "lens", "outlier")
SF, COMP, SEY, LIN, PAS, QSO, STAR, LENS, OUT = range(len(CLASSES))
OUTLIER_SUBTYPES = (
    # the original four (the default mix draws only these: their rows keep their bytes)
    "extreme_reddening", "star_galaxy_blend", "unidentified_line", "broken_continuum",
    # issue 19: twelve more, after the kinds of "weird" SDSS galaxy spectra that Baron & Poznanski 2017's
    # unsupervised random-forest anomaly score finds (and Tang et al. 2025's 16-subtype outlier KB holds)
    "post_starburst", "double_peaked_lines", "wolf_rayet", "broad_balmer", "supernova", "coronal_lines",
    "extreme_emission", "ionised_outflow", "sky_residual", "flux_dropout", "featureless_continuum",
    "cosmic_ray_spikes",
)
"""Outlier subtypes: index = the subtype code drawn from ``OutlierMix``; each has its own signature (generate)."""
# (MK type, Teff K, Balmer strength, metal strength, relative frequency in SDSS stellar spectra)
STAR_TYPES = (
    ("A0", 9600.0, 1.0, 0.05, 0.04),
    ("A5", 8200.0, 0.9, 0.1, 0.04),
    ("F0", 7200.0, 0.6, 0.25, 0.08),
    ("F5", 6500.0, 0.45, 0.35, 0.14),
    ("G0", 5900.0, 0.3, 0.5, 0.14),
    ("G5", 5600.0, 0.25, 0.6, 0.12),
    ("K0", 5200.0, 0.15, 0.75, 0.12),
    ("K5", 4400.0, 0.08, 0.9, 0.1),
    ("M0", 3800.0, 0.04, 1.0, 0.1),
    ("M2", 3500.0, 0.03, 1.0, 0.07),
    ("M5", 3100.0, 0.02, 1.0, 0.05),
)

# SDSS spectral pixel mask bits (idlspec2d spmask): FULLREJECT = 18, BRIGHTSKY = 23.
FULLREJECT = 1 << 18
BRIGHTSKY = 1 << 23
BRIGHTSKY_VARIANCE_BOOST = 20.0
MASK_RUNS = 3

# Index of each parameter in a row's uniform vector. Appending is safe; reordering changes every spectrum.
_PARAMS = (
    "cls", "z", "amp", "snr", "k0", "npix", "young", "a_v", "d4000", "t_old", "sigma_star", "bpt_x", "bpt_y",
    "ew_ha", "sii", "oi", "oii", "sii_ratio", "sigma_gas", "lens_fg", "z_src", "src_strength", "src_oiii",
    "src_oii", "src_sigma", "out_sub", "out_a", "out_b", "out_c", "qso_fwhm", "qso_ew", "qso_alpha",
    "qso_oiii", "star_type", "star_t", "star_v", "fib_r", "fib_theta", "sky_level",
    "mask0", "mask0_start", "mask0_len", "mask1", "mask1_start", "mask1_len", "mask2", "mask2_start",
    "mask2_len", "z_err", "out_d", "out_e",
)
P = {name: i for i, name in enumerate(_PARAMS)}
N_UNIFORMS = 56
assert len(_PARAMS) <= N_UNIFORMS


@dataclass(frozen=True)
class ClassMix:
    """Relative frequency of each target class (normalised to sum 1)."""

    star_forming: float = 0.24
    """Star-forming galaxies below the Kauffmann 2003 line."""
    composite: float = 0.08
    """Composite galaxies between the Kauffmann 2003 and Kewley 2001 lines."""
    seyfert: float = 0.05
    """Seyfert 2 galaxies above Kewley 2001 and the Schawinski 2007 split."""
    liner: float = 0.05
    """LINERs above Kewley 2001, below the Schawinski 2007 split."""
    passive: float = 0.20
    """Passive (old, red, absorption-line) galaxies."""
    qso: float = 0.13
    """Broad-line quasars, 0.1 < z < 3.5."""
    star: float = 0.20
    """Stars A0-M5 at z ~ 0."""
    lens: float = 0.03
    """Lens candidates: foreground galaxy plus background emission lines at a higher z."""
    outlier: float = 0.02
    """Rare outliers (extreme reddening, star+galaxy blend, unidentified line, broken continuum)."""

    def __post_init__(self):
        values = [getattr(self, c) for c in CLASSES]
        require(all(v >= 0 for v in values), f"classes: fractions must be >= 0, got {dict(zip(CLASSES, values))}")
        require(sum(values) > 0, "classes: at least one fraction must be > 0")

    def cumulative(self) -> np.ndarray:
        v = np.array([getattr(self, c) for c in CLASSES], dtype=np.float64)
        return np.cumsum(v) / v.sum()


@dataclass(frozen=True)
class OutlierMix:
    """Relative frequency of each outlier subtype (normalised to sum 1; OUTLIER_SUBTYPES order).

    The default holds the original four at equal weight, which draws exactly the subtypes (and bytes) of the
    surveys made before the other twelve existed; conf/synth_survey_tang2025.yaml weights all sixteen.
    """

    extreme_reddening: float = 1.0
    """Star-forming galaxy behind A_V = 3-5 mag of dust."""
    star_galaxy_blend: float = 1.0
    """A star-forming galaxy and a foreground star in one fibre (30-70 % of the flux from the star)."""
    unidentified_line: float = 1.0
    """One strong resolved line at a random observed wavelength (4000-9000 A)."""
    broken_continuum: float = 1.0
    """A flux-calibration jump (x0.25-0.85 or x2-4) red-ward of 5600-6500 A observed."""
    post_starburst: float = 0.0
    """E+A: an old population plus 40-70 % A-star light (deep Balmer absorption), no emission lines."""
    double_peaked_lines: float = 0.0
    """Every narrow line split into two components 250-600 km/s apart (30-70 % of the flux in the blue one)."""
    wolf_rayet: float = 0.0
    """Broad (sigma 800-1500 km/s) He II 4686 + N III 4640 blue bump and C IV 5808 red bump, EW 5-25 A."""
    broad_balmer: float = 0.0
    """Broad Halpha and Hbeta (FWHM 2000-5000 km/s, Halpha EW 40-200 A) on a star-forming galaxy."""
    supernova: float = 0.0
    """A type Ia supernova near maximum (T 9,000-12,000 K, 40-80 % of the light at 5500 A): broad Si II 6150,
    S II 5400 / 5640, Ca II 3800, Mg II 4300 and Fe II 4800 troughs."""
    coronal_lines: float = 0.0
    """High-excitation lines: He II 4686, [Fe VII] 5721 / 6087, [Fe X] 6375 at 0.3-1 x Hbeta, [Ne III] x4."""
    extreme_emission: float = 0.0
    """Green-pea-like: rest EW(Halpha) 300-1500 A on a faint continuum."""
    ionised_outflow: float = 0.0
    """A broad (sigma 300-700 km/s) component blue-shifted 200-600 km/s under [O III], Halpha and [N II]."""
    sky_residual: float = 0.0
    """Sky-subtraction residuals at the strongest night-sky lines (observed 5578-8900 A), 8-40 x the noise."""
    flux_dropout: float = 0.0
    """A 200-800 A block (observed) where the flux falls to 0-10 % with the ivar unchanged (a dead amplifier)."""
    featureless_continuum: float = 0.0
    """BL Lac-like: a blue power law f_lambda ~ lambda^-(0.5-1.5) over 70-90 % of the light, no lines."""
    cosmic_ray_spikes: float = 0.0
    """4-12 single-pixel spikes of 15-80 x the noise at random pixels."""

    def __post_init__(self):
        values = [getattr(self, c) for c in OUTLIER_SUBTYPES]
        require(all(v >= 0 for v in values), f"outlier_subtypes: weights must be >= 0, got {dict(zip(OUTLIER_SUBTYPES, values))}")
        require(sum(values) > 0, "outlier_subtypes: at least one weight must be > 0")

    def cumulative(self) -> np.ndarray:
        v = np.array([getattr(self, c) for c in OUTLIER_SUBTYPES], dtype=np.float64)
        return np.cumsum(v) / v.sum()


@dataclass(frozen=True)
class LensSourceConfig:
    """How bright a lens candidate's background lines are, and at what redshift the source sits."""

    line_snr: Literal["relative", "detected"] = "relative"
    """relative: background Hbeta = the continuum at 5500 A x log-uniform(0.3, 8) (the default survey; many
    "possible" candidates then have no line a search could see); detected: the spectroscopic lens surveys'
    selection (BELLS / SLACS ask for several background lines detected): the expected combined S/N of the four
    background lines is drawn from a power law N(> S) ~ S^-snr_power between combined_snr_min and
    combined_snr_max, and raised where needed so that the second-strongest of [O II], Hbeta, [O III] reaches
    lens_detect_snr (every candidate has >= 2 of them detected where two fall inside its coverage: the BELLS
    selection, [O II] plus Hbeta or [O III])."""
    combined_snr_min: float = 4.5
    """line_snr=detected: lowest combined S/N sqrt(sum S/N^2) of the four background lines."""
    combined_snr_max: float = 60.0
    """line_snr=detected: highest combined S/N."""
    snr_power: float = 0.4
    """line_snr=detected: slope of the cumulative counts N(> S) ~ S^-snr_power of the combined S/N (1.5 would be
    a Euclidean flux-limited sample). 0.4 with combined_snr_min 4.5, lens_likely_snr 8.5 and lens_probable_snr
    6.75 gives the eBOSS candidates' grade mix (838 / 448 / 265 = 54.0 / 28.9 / 17.1 %; measured 54.7 / 28.3 /
    17.0 % on 1,500 lenses with z_offset [0.15, 0.6]): the grade mix of a selection, not a luminosity function."""
    z_offset: tuple[float, ...] = ()
    """(min, max) of z_source - z, uniform; empty = the default z + 0.2 + (1.05 - z) u (z_source up to 1.25)."""

    def __post_init__(self):
        require(self.line_snr in ("relative", "detected"), f"lens_source.line_snr must be relative or detected, got {self.line_snr!r}")
        require(0 < self.combined_snr_min <= self.combined_snr_max,
                f"lens_source: need 0 < combined_snr_min <= combined_snr_max, got {self.combined_snr_min}, {self.combined_snr_max}")
        require(self.snr_power > 0, f"lens_source.snr_power must be > 0, got {self.snr_power}")
        require(len(self.z_offset) in (0, 2), f"lens_source.z_offset must be [] or [min, max], got {list(self.z_offset)}")
        require(len(self.z_offset) == 0 or 0 < self.z_offset[0] <= self.z_offset[1],
                f"lens_source.z_offset must satisfy 0 < min <= max, got {list(self.z_offset)}")


@dataclass(frozen=True)
class LayoutMix:
    """Relative frequency of each file layout, drawn per plate (normalised to sum 1)."""

    sdss: float = 0.8
    """SDSS spec-lite: PRIMARY, COADD, SPECOBJ (k0 780-830, N 3800-3850)."""
    boss: float = 0.1
    """BOSS spec-lite: PRIMARY, COADD, SPALL (k0 510-560, N 4580-4650)."""
    lamost_image: float = 0.05
    """LAMOST DR1-DR7: 5 x N float32 primary image (flux, ivar, wavelength, andmask, ormask)."""
    lamost_table: float = 0.05
    """LAMOST DR8+: HDU1 one-row binary table with array columns."""

    def __post_init__(self):
        values = [getattr(self, c) for c in plates.LAYOUTS]
        require(all(v >= 0 for v in values), f"layouts: fractions must be >= 0, got {dict(zip(plates.LAYOUTS, values))}")
        require(sum(values) > 0, "layouts: at least one fraction must be > 0")

    def fractions(self) -> tuple[float, ...]:
        return tuple(getattr(self, c) for c in plates.LAYOUTS)


@dataclass(frozen=True)
class SynthModelConfig:
    """What the synthetic survey contains."""

    classes: ClassMix = field(default_factory=ClassMix)
    """Class mix (fractions per target class)."""
    layouts: LayoutMix = field(default_factory=LayoutMix)
    """File layout mix (fractions per plate)."""
    snr_min: float = 3.0
    """Lowest continuum S/N per pixel at 5500 A observed (log-uniform between min and max)."""
    snr_max: float = 40.0
    """Highest continuum S/N per pixel at 5500 A observed."""
    bpt_margin_dex: float = 0.1
    """Vertical distance (dex) kept from every BPT boundary, so noiseless fluxes classify unambiguously."""
    mask_run_probability: float = 0.3
    """Probability of each of 3 possible masked runs (3-27 pixels, ivar = 0, and_mask FULLREJECT)."""
    fibers_per_plate: int = 640
    """Spectra per plate (SDSS-I/II plates: 640 fibres)."""
    plate_radius_deg: float = 1.49
    """Plate radius (SDSS: 3 deg diameter field)."""
    lens_detect_snr: float = 3.0
    """A background line counts as detected above this S/N."""
    lens_likely_snr: float = 10.0
    """Grade 'likely': >= 3 background lines detected and combined S/N >= this."""
    lens_probable_snr: float = 6.0
    """Grade 'probable': >= 2 background lines detected and combined S/N >= this; else 'possible'."""
    lens_source: LensSourceConfig = field(default_factory=LensSourceConfig)
    """Background-line S/N and source redshift of the lens candidates."""
    outlier_subtypes: OutlierMix = field(default_factory=OutlierMix)
    """Mix of the 16 outlier subtypes (default: the original four)."""
    class_draw: Literal["random", "stratified"] = "random"
    """How a row's class (and outlier subtype) is drawn: random = from its own uniforms; stratified = from a
    Kronecker sequence frac(row x (sqrt 5 - 1) / 2 + c) (the subtype: from the row's place inside the outlier
    interval), so that rows 0..N-1 hold the mixes' proportions to within a few rows (random draws scatter by ~sqrt(count): 82 instead of 94
    outliers in the reduced Tang et al. 2025 preset, some subtypes with 2). Everything else stays random."""
    noiseless: bool = False
    """Write the noiseless model as flux (no noise draw, no masked runs); for tests."""
    population: Literal["default", "lu2022_pool"] = "default"
    """default: the survey above (classes, layouts, S/N); lu2022_pool: the Lu et al. 2022 stand-in, a
    LAMOST-like "Unknown" pool with templates, H II regions and reference catalogs (``synth.emission_pool``,
    configured by ``pool``; ``classes``, ``snr_*``, ``bpt_margin_dex`` and the lens keys are then unused)."""
    pool: EmissionPoolConfig = field(default_factory=EmissionPoolConfig)
    """population=lu2022_pool: what the pool holds (class mix, S/N, regions, templates, catalog coverage)."""

    def __post_init__(self):
        require(0 < self.snr_min <= self.snr_max, f"snr_min/snr_max must satisfy 0 < min <= max, got {self.snr_min}, {self.snr_max}")
        require(0 <= self.bpt_margin_dex <= 0.15, f"bpt_margin_dex must be in [0, 0.15], got {self.bpt_margin_dex}")
        require(0 <= self.mask_run_probability <= 1, f"mask_run_probability must be in [0, 1], got {self.mask_run_probability}")
        require(self.fibers_per_plate >= 1, f"fibers_per_plate must be >= 1, got {self.fibers_per_plate}")
        require(0 < self.plate_radius_deg <= 10, f"plate_radius_deg must be in (0, 10], got {self.plate_radius_deg}")
        require(self.lens_probable_snr <= self.lens_likely_snr, "lens_probable_snr must be <= lens_likely_snr")
        require(self.class_draw in ("random", "stratified"), f"class_draw must be random or stratified, got {self.class_draw!r}")
        require(self.population in ("default", "lu2022_pool"),
                f"population must be default or lu2022_pool, got {self.population!r}")


def model_loglam() -> np.ndarray:
    """float32 loglam of the model grid, bit-identical to SDSS files' loglam at the same pixel."""
    return (LOGLAM0 + DLOGLAM * np.arange(K_HI)).astype(np.float32)[K_LO:]


_WAVE = 10.0 ** model_loglam().astype(np.float64)
_DLAM = _WAVE * np.log(10.0) * DLOGLAM
_WAVE.setflags(write=False)
_DLAM.setflags(write=False)


def pix_of(wave_obs_angstrom: np.ndarray) -> np.ndarray:
    """Fractional model-grid pixel of observed (vacuum) wavelengths."""
    return (np.log10(np.asarray(wave_obs_angstrom, dtype=np.float64)) - LOGLAM0) / DLOGLAM - K_LO


@dataclass
class SynthBatch:
    """A batch of synthetic spectra on the model grid plus their truth and file metadata."""

    rows: np.ndarray
    """Row numbers (int64)."""
    flux: np.ndarray
    """(B, N_MODEL) float32 observed flux."""
    ivar: np.ndarray
    """(B, N_MODEL) float32 inverse variance (0 = masked)."""
    and_mask: np.ndarray
    """(B, N_MODEL) int32 SDSS-style pixel mask."""
    model: np.ndarray
    """(B, N_MODEL) float32 noiseless model."""
    sky: np.ndarray
    """(B, N_MODEL) float32 sky spectrum."""
    wdisp: np.ndarray
    """(B, N_MODEL) float32 line-spread sigma in pixels."""
    k0: np.ndarray
    """First pixel of each spectrum in SDSS numbering (loglam = 3.5 + 1e-4 k0)."""
    n_pix: np.ndarray
    """Number of pixels of each spectrum."""
    truth: pd.DataFrame
    """One row per spectrum in the TRUTH schema."""
    meta: dict[str, np.ndarray]
    """Per-row file metadata: layout, plate, mjd, fiber, rel_path, file_spec_id, ..."""

    def __len__(self) -> int:
        return len(self.rows)

    def pixel_slice(self, i: int) -> slice:
        """Slice of the model grid holding row i's pixels."""
        start = int(self.k0[i]) - K_LO
        return slice(start, start + int(self.n_pix[i]))

    def native_spectra(self, source_file: str = "") -> list:
        """The batch as NativeSpectrum objects (survey 'synth', SDSS loglam), for process_spectra."""
        from skysift.spectra.native import NativeSpectrum

        loglam = model_loglam()
        t = self.truth
        out = []
        for i in range(len(self)):
            s = self.pixel_slice(i)
            out.append(
                NativeSpectrum(
                    spec_id=t["spec_id"].iat[i],
                    survey="synth",
                    loglam=loglam[s],
                    flux=self.flux[i, s],
                    ivar=self.ivar[i, s],
                    and_mask=self.and_mask[i, s],
                    ra_deg=float(t["ra_deg"].iat[i]),
                    dec_deg=float(t["dec_deg"].iat[i]),
                    z=float(t["z"].iat[i]),
                    z_err=float(t["z_err"].iat[i]),
                    class_=t["class"].iat[i],
                    subclass=t["subclass"].iat[i],
                    source_file=source_file or t["source_file"].iat[i],
                    row_index=int(self.rows[i]),
                )
            )
        return out


_GOLDEN = (np.sqrt(5.0) - 1) / 2


def stratified_uniforms(rows: np.ndarray, seed: int) -> np.ndarray:
    """frac(row x (sqrt 5 - 1) / 2 + offset(seed)): a low-discrepancy (Kronecker) sequence over the rows. Any N
    consecutive rows put N p + O(log N) of them into any interval of length p."""
    offset = (int(seed) * (np.sqrt(3.0) - 1)) % 1.0
    r = np.asarray(rows, dtype=np.float64)
    # split the product so that the fraction stays exact in float64 for rows up to 1e12
    hi, lo = np.floor(r / 1e6), r % 1e6
    return ((hi * ((_GOLDEN * 1e6) % 1.0)) % 1.0 + lo * _GOLDEN + offset) % 1.0


def draw_row_randoms(rows: np.ndarray, seed: int, with_noise: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Uniform parameter vectors (B, N_UNIFORMS) and noise (B, N_MODEL) float32, one generator per row."""
    rows = np.asarray(rows, dtype=np.int64)
    u = np.empty((len(rows), N_UNIFORMS))
    noise = np.empty((len(rows), N_MODEL), dtype=np.float32) if with_noise else None
    for i, r in enumerate(rows):
        gen = np.random.default_rng([int(seed), int(r)])
        u[i] = gen.random(N_UNIFORMS)
        if with_noise:
            noise[i] = gen.standard_normal(N_MODEL, dtype=np.float32)
    return u, noise


def _span(u: np.ndarray, lo, hi) -> np.ndarray:
    return np.asarray(lo) + (np.asarray(hi) - np.asarray(lo)) * u


def _log_span(u: np.ndarray, lo, hi) -> np.ndarray:
    return 10 ** _span(u, np.log10(lo), np.log10(hi))


def _window_mean(arr: np.ndarray, center_pix: np.ndarray, half: int) -> np.ndarray:
    """Mean of arr[i, c-half : c+half+1] per row (c clipped into the grid)."""
    c = np.clip(np.rint(center_pix).astype(np.int64), half, arr.shape[1] - half - 1)
    idx = c[:, None] + np.arange(-half, half + 1)[None, :]
    return np.take_along_axis(arr, idx, axis=1).mean(axis=1)


def _absorption_depth(
    n_rows: int, z: np.ndarray, sigma_v: np.ndarray, table: np.ndarray, strength: np.ndarray
) -> np.ndarray:
    """Sum of absorption features as a fractional depth image (n_rows, N_MODEL)."""
    out = np.zeros((n_rows, N_MODEL))
    if n_rows == 0:
        return out
    waves, sig_a, ew = table[:, 0], table[:, 1], table[:, 2]
    rows = np.repeat(np.arange(n_rows), len(waves))
    obs = (waves[None, :] * (1 + z)[:, None]).ravel()
    sig_kms = np.sqrt(sigma_v[:, None] ** 2 + SIGMA_INST_KMS**2 + (C_KMS * sig_a / waves)[None, :] ** 2).ravel()
    area = (ew[None, :] * (1 + z)[:, None] * strength[:, None]).ravel()
    render_gaussians(out, rows, pix_of(obs), sig_kms / KMS_PER_PIX, area, half_width_pix=100)
    return out / _DLAM[None, :]


def _galaxy_continuum(
    u: np.ndarray, z: np.ndarray, kind: np.ndarray, a_v: np.ndarray, overrides: Mapping[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stellar continuum shape (rows, N_MODEL) of old + young populations, and stellar sigma (km/s).

    ``overrides`` (imaging link, see ``generate``): young_fraction, t_old_k, d4000 for these rows.
    """
    n = len(z)
    passive = kind == PAS
    # Young-population fraction at 5500 A: LINER and passive hosts are old, Seyfert hosts mixed.
    young_lo = np.select([kind == SF, kind == COMP, kind == SEY], [0.35, 0.15, 0.05], 0.0)
    young_hi = np.select([kind == SF, kind == COMP, kind == SEY, kind == LIN], [0.9, 0.5, 0.4, 0.15], 0.08)
    w = _override(overrides, "young_fraction", _span(u[:, P["young"]], young_lo, young_hi))
    t_old = _override(overrides, "t_old_k", _span(u[:, P["t_old"]], 4300.0, 5200.0))
    d4000 = _override(overrides, "d4000", _span(u[:, P["d4000"]], 1.7, 2.1))
    sigma_star = np.where(passive, _span(u[:, P["sigma_star"]], 120.0, 280.0), _span(u[:, P["sigma_star"]], 60.0, 160.0))
    rest = _WAVE[None, :] / (1 + z)[:, None]
    old = cont.planck_lambda(rest, t_old) * cont.balmer_4000_break(rest, d4000)
    young = cont.planck_lambda(rest, np.full(n, 15000.0)) * cont.balmer_4000_break(rest, np.full(n, 1.05))
    metal = _absorption_depth(n, z, sigma_star, L.METAL_ABSORPTION, np.ones(n))
    balmer = _absorption_depth(n, z, sigma_star, L.BALMER_ABSORPTION, np.ones(n))
    shape = (1 - w)[:, None] * old * np.clip(1 - metal - 0.15 * balmer, 0.05, 1) + w[:, None] * young * np.clip(
        1 - 0.5 * balmer, 0.05, 1
    )
    # Stars see less dust than the ionised gas: E_s = 0.44 E_gas (Calzetti 2000).
    return shape * cont.dust_attenuation(rest, 0.44 * a_v), sigma_star


def _star_continuum(u: np.ndarray, z: np.ndarray, star_type: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stellar spectra (rows, N_MODEL) and the index into STAR_TYPES (``star_type`` >= 0 overrides the draw)."""
    n = len(z)
    freq = np.array([s[4] for s in STAR_TYPES])
    itype = np.minimum(np.searchsorted(np.cumsum(freq) / freq.sum(), u[:, P["star_type"]], side="right"), len(STAR_TYPES) - 1)
    if star_type is not None:
        itype = np.where(np.asarray(star_type) >= 0, np.asarray(star_type, dtype=np.int64), itype)
    teff = np.array([STAR_TYPES[i][1] for i in itype]) * _span(u[:, P["star_t"]], 0.97, 1.03)
    balmer_s = np.array([STAR_TYPES[i][2] for i in itype])
    metal_s = np.array([STAR_TYPES[i][3] for i in itype])
    rest = _WAVE[None, :] / (1 + z)[:, None]
    sigma = np.full(n, 10.0)  # stellar lines are unresolved at R ~ 2000
    depth = (
        _absorption_depth(n, z, sigma, L.BALMER_ABSORPTION, balmer_s)
        + _absorption_depth(n, z, sigma, L.METAL_ABSORPTION, metal_s)
        + _absorption_depth(n, z, sigma, L.TIO_ABSORPTION, cont.tio_strength(teff))
    )
    shape = cont.planck_lambda(rest, teff) * cont.balmer_4000_break(rest, 1 + 0.6 * metal_s) * np.clip(1 - depth, 0.05, 1)
    return shape, itype


def _normalise(shape: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """Scale each row so that its mean over +-20 pixels around 5500 A observed equals amp."""
    k = pix_of(np.full(len(amp), 5500.0))
    return shape * (amp / _window_mean(shape, k, 20))[:, None]


def _line_snr(flux: np.ndarray, wave_obs: np.ndarray, sigma_pix: np.ndarray, sigma0: np.ndarray, k0: np.ndarray, npix: np.ndarray) -> np.ndarray:
    """Expected optimal-extraction S/N of Gaussian lines; 0 outside the row's coverage."""
    kc = pix_of(wave_obs)
    kci = np.clip(np.rint(kc).astype(np.int64), 0, N_MODEL - 1)
    boost = sky.sky_variance_boost(LOGLAM0 + K_LO * DLOGLAM, DLOGLAM, N_MODEL)
    sig_f = sigma0[:, None] * sky.edge_noise_factor(wave_obs) * np.sqrt(boost[kci])
    snr = flux / (sig_f * _DLAM[kci] * np.sqrt(2 * np.sqrt(np.pi) * sigma_pix[:, None]))
    inside = (kc + K_LO >= (k0 + 5)[:, None]) & (kc + K_LO <= (k0 + npix - 6)[:, None])
    return np.where(inside, snr, 0.0)


_SUB = {name: i for i, name in enumerate(OUTLIER_SUBTYPES)}

# Strongest night-sky emission lines, vacuum Angstrom ([O I], Na D, OH; Osterbrock et al. 1996 atlas).
SKY_RESIDUAL_LINES = (5578.9, 5891.9, 6302.0, 6365.5, 6865.9, 7318.3, 7342.9, 7794.1, 7916.0, 8346.8, 8401.6,
                      8432.7, 8829.6, 8888.3)
# Type Ia supernova near maximum: (rest trough centre A, i.e. the line blue-shifted by ~10,000 km/s; sigma A;
# depth) for Ca II H&K, Mg II 4481, Fe II ~5000, S II 5454 / 5640 and Si II 6355 (Filippenko 1997 fig. 1).
SN_IA_TROUGHS = np.array([(3800.0, 60.0, 0.6), (4300.0, 50.0, 0.4), (4800.0, 70.0, 0.3), (5400.0, 30.0, 0.25),
                          (5620.0, 30.0, 0.25), (6150.0, 60.0, 0.5)])
HEII_4686, NIII_4640, CIV_5808 = 4687.0, 4641.0, 5808.0  # Wolf-Rayet bumps (vacuum, blends)
FEVII_5721, FEVII_6087, FEX_6375 = 5722.3, 6087.9, 6376.3  # coronal lines (vacuum)


def _lens_line_snr(flux: np.ndarray, z_src: np.ndarray, src_sigma_kms: np.ndarray, sigma0: np.ndarray,
                   k0: np.ndarray, npix: np.ndarray) -> np.ndarray:
    """Expected S/N (m, 4) of the background lines ([O II], Hbeta, [O III] 5007, Halpha) of fluxes (m, 4)."""
    sig_pix = np.sqrt(src_sigma_kms**2 + SIGMA_INST_KMS**2) / KMS_PER_PIX
    # [O II] is a doublet 2.8 A apart: treat it as one line twice as wide.
    widths = np.stack([sig_pix * 2, sig_pix, sig_pix, sig_pix], axis=1)
    wave_obs = L.LENS_SOURCE_WAVES[None, :] * (1 + z_src)[:, None]
    return np.stack(
        [_line_snr(flux[:, j : j + 1], wave_obs[:, j : j + 1], widths[:, j], sigma0, k0, npix)[:, 0] for j in range(4)],
        axis=1,
    )


def _continuum_outliers(model: np.ndarray, u: np.ndarray, z: np.ndarray, amp: np.ndarray, out_sub: np.ndarray) -> None:
    """Supernova and featureless-continuum outliers: mix a second continuum into ``model`` (in place)."""
    sn = np.flatnonzero(out_sub == _SUB["supernova"])
    if len(sn):
        rest = _WAVE[None, :] / (1 + z[sn])[:, None]
        shape = cont.planck_lambda(rest, _span(u[sn, P["out_b"]], 9000.0, 12000.0))
        depth = _span(u[sn, P["out_c"]], 0.7, 1.3)[:, None]
        for centre, sig, d in SN_IA_TROUGHS:
            shape = shape * (1 - np.clip(depth * d, 0, 0.9) * np.exp(-0.5 * ((rest - centre) / sig) ** 2))
        frac = _span(u[sn, P["out_a"]], 0.4, 0.8)[:, None]
        model[sn] = (1 - frac) * model[sn] + frac * _normalise(shape, amp[sn])
    fc = np.flatnonzero(out_sub == _SUB["featureless_continuum"])
    if len(fc):
        pl = cont.power_law(_WAVE[None, :], -_span(u[fc, P["out_c"]], 0.5, 1.5))
        frac = _span(u[fc, P["out_b"]], 0.7, 0.9)[:, None]
        model[fc] = (1 - frac) * model[fc] + frac * _normalise(pl, amp[fc])


def _outlier_lines(add_lines, model, u, z, sigma0, k0, npix, out_sub, truth_lines, sigma_gas, rows, seed) -> tuple:
    """Queue the lines of the line outliers (Wolf-Rayet, broad Balmer, coronal, outflow); return the spikes of
    sky residuals and cosmic rays as (rows, centre pixel, sigma pixel, area) arrays for ``render_gaussians``
    (not ``add_lines``: those get no instrumental width, a cosmic ray is one pixel wide).

    ``model`` holds the continuum only (lines are rendered after this); EWs are taken against it.
    """
    def cont_at(idx, waves_obs):
        return np.stack([_window_mean(model[idx], pix_of(w), 20) for w in waves_obs.T], axis=1)

    wr = np.flatnonzero(out_sub == _SUB["wolf_rayet"])
    if len(wr):
        waves = np.array([HEII_4686, NIII_4640, CIV_5808])
        ew = _span(u[wr, P["out_a"]], 5.0, 25.0)[:, None] * np.stack(
            [np.ones(len(wr)), np.full(len(wr), 0.5), _span(u[wr, P["out_c"]], 0.4, 1.0)], axis=1)
        flux = ew * (1 + z[wr])[:, None] * cont_at(wr, waves[None, :] * (1 + z[wr])[:, None])
        add_lines("broad", wr, waves, z[wr], _span(u[wr, P["out_b"]], 800.0, 1500.0), flux)
    bb = np.flatnonzero(out_sub == _SUB["broad_balmer"])
    if len(bb):
        waves = np.array([L.HALPHA, L.HBETA])
        ew_ha = _span(u[bb, P["out_a"]], 40.0, 200.0)
        c = cont_at(bb, waves[None, :] * (1 + z[bb])[:, None])
        flux = np.stack([ew_ha * c[:, 0], ew_ha / 3.5 * c[:, 0]], axis=1) * (1 + z[bb])[:, None]
        add_lines("broad", bb, waves, z[bb], _span(u[bb, P["out_b"]], 2000.0, 5000.0) / 2.3548, flux)
    cl = np.flatnonzero(out_sub == _SUB["coronal_lines"])
    if len(cl):
        hb = truth_lines["flux_hb_4861"][cl]
        waves = np.array([HEII_4686, FEVII_5721, FEVII_6087, FEX_6375, L.NEIII_3869])
        fe7 = _span(u[cl, P["out_b"]], 0.3, 0.6)
        flux = hb[:, None] * np.stack([_span(u[cl, P["out_a"]], 0.3, 1.0), fe7, 1.5 * fe7,
                                       _span(u[cl, P["out_c"]], 0.3, 1.0), np.full(len(cl), 1.2)], axis=1)
        add_lines("narrow", cl, waves, z[cl], sigma_gas[cl], flux)
    of = np.flatnonzero(out_sub == _SUB["ionised_outflow"])
    if len(of):
        oiii, ha, nii = (truth_lines[c][of] for c in ("flux_oiii_5007", "flux_ha_6563", "flux_nii_6584"))
        waves = np.array([L.OIII_5007, L.OIII_4959, L.HALPHA, L.NII_6584])
        flux = _span(u[of, P["out_a"]], 0.5, 1.5)[:, None] * np.stack([oiii, oiii / L.OIII_5007_TO_4959, ha, nii], axis=1)
        z_out = z[of] - _span(u[of, P["out_b"]], 200.0, 600.0) / C_KMS * (1 + z[of])
        add_lines("broad", of, waves, z_out, _span(u[of, P["out_c"]], 300.0, 700.0), flux)
    boost = sky.sky_variance_boost(LOGLAM0 + K_LO * DLOGLAM, DLOGLAM, N_MODEL)
    noise_pix = sky.edge_noise_factor(_WAVE) * np.sqrt(boost)  # per-pixel sigma / sigma0
    spikes: list[tuple[np.ndarray, ...]] = []
    for name in ("sky_residual", "cosmic_ray_spikes"):
        idx = np.flatnonzero(out_sub == _SUB[name])
        for i in idx:
            gen = np.random.default_rng([int(seed), int(rows[i]), 1000 + _SUB[name]])  # own stream: row-local
            if name == "sky_residual":
                centre = pix_of(np.asarray(SKY_RESIDUAL_LINES))
                height = gen.uniform(8.0, 40.0, len(centre)) * np.where(gen.random(len(centre)) < 0.8, 1.0, -1.0)
                sig_pix = np.full(len(centre), 1.0)  # the instrumental width
            else:
                m = int(gen.integers(4, 13))
                centre = (k0[i] - K_LO + gen.uniform(5, npix[i] - 5, m)).round()
                height = gen.uniform(15.0, 80.0, m)
                sig_pix = np.full(m, 0.35)  # ~all in one pixel: neighbours get exp(-4) of it
            kc = np.clip(np.rint(centre).astype(np.int64), 0, N_MODEL - 1)
            # line flux (per-pixel units x pixel width) of a peak of ``height`` x the local noise
            area = height * sigma0[i] * noise_pix[kc] * np.sqrt(2 * np.pi) * sig_pix * _DLAM[kc]
            spikes.append((np.full(len(centre), i), centre.astype(np.float64), sig_pix, area))
    return tuple(np.concatenate(p) for p in zip(*spikes)) if spikes else ()


def line_snr_from_truth(truth: pd.DataFrame, flux_column: str, rest_wave_angstrom: float) -> np.ndarray:
    """Expected S/N of a narrow line of the truth table (the survey's own noise model; 0 outside coverage).

    Uses the truth's continuum level and S/N (sigma0 = flux_5500 / snr), the line's gas sigma and the row's
    pixel range, as the lens grades do. The S/N a line measurement (e.g. MPA-JHU's) would give, on average.
    """
    flux = truth[flux_column].to_numpy(np.float64)[:, None]
    z = truth["z"].to_numpy(np.float64)
    sigma0 = truth["flux_5500"].to_numpy(np.float64) / truth["snr"].to_numpy(np.float64)
    sig_kms = np.nan_to_num(truth["sigma_gas_kms"].to_numpy(np.float64), nan=100.0)
    sig_pix = np.sqrt(sig_kms**2 + SIGMA_INST_KMS**2) / KMS_PER_PIX
    wave_obs = (rest_wave_angstrom * (1 + z))[:, None]
    out = _line_snr(np.nan_to_num(flux), wave_obs, sig_pix, sigma0, truth["k0"].to_numpy(np.int64), truth["n_pix"].to_numpy(np.int64))
    return out[:, 0]


def bpt_line_snr(truth: pd.DataFrame) -> np.ndarray:
    """Smallest expected S/N of the four [N II]-BPT lines (Hbeta, [O III] 5007, Halpha, [N II] 6584) per row.

    The usual BPT selection (Brinchmann et al. 2004; Kauffmann et al. 2003) classifies a galaxy only when all
    four lines have S/N >= 3; this is the number to compare with that cut.
    """
    lines = (("flux_hb_4861", L.HBETA), ("flux_oiii_5007", L.OIII_5007), ("flux_ha_6563", L.HALPHA),
             ("flux_nii_6584", L.NII_6584))
    return np.min(np.stack([line_snr_from_truth(truth, c, w) for c, w in lines], axis=1), axis=1)


OVERRIDE_KEYS = (
    "target_class", "ra_deg", "dec_deg", "z", "flux_5500", "snr", "a_v_mag", "young_fraction", "t_old_k", "d4000",
    "flux_ha_6563", "star_type", "qso_alpha_nu",
)
"""Per-row parameters the imaging survey may fix (synth.imaging.spectra_link): the imaging link hook."""


def _override(overrides: Mapping[str, np.ndarray] | None, key: str, default: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """``default`` with the finite entries of ``overrides[key]`` (restricted to rows ``idx``) put in."""
    if not overrides or key not in overrides:
        return default
    value = np.asarray(overrides[key], dtype=np.float64)
    value = value if idx is None else value[idx]
    return np.where(np.isfinite(value), value, default)


def _subset(overrides: Mapping[str, np.ndarray] | None, idx: np.ndarray) -> dict[str, np.ndarray] | None:
    return None if not overrides else {k: np.asarray(v)[idx] for k, v in overrides.items()}


def generate(
    rows: np.ndarray, seed: int, cfg: SynthModelConfig, overrides: Mapping[str, np.ndarray] | None = None
) -> SynthBatch:
    """Synthesise the spectra of ``rows`` (any subset, any order) for ``seed``.

    ``overrides`` is the imaging-link hook: arrays of len(rows) for keys in OVERRIDE_KEYS
    (target_class as CLASSES names, '' = keep; star_type -1 = keep; NaN = keep) that replace
    the row's own draws, so that the spectrum of an imaged object has its class, position,
    redshift, brightness, dust, stellar population and Halpha. Without it nothing changes.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    u, noise = draw_row_randoms(rows, seed, with_noise=not cfg.noiseless)
    if cfg.class_draw == "stratified":
        u[:, P["cls"]] = stratified_uniforms(rows, seed)
    cls = np.minimum(np.searchsorted(cfg.classes.cumulative(), u[:, P["cls"]], side="right"), len(CLASSES) - 1)
    if cfg.class_draw == "stratified":
        # the subtype from where the row falls inside the outlier interval: as evenly spread as the classes
        cum = cfg.classes.cumulative()
        lo, hi = (cum[OUT - 1] if OUT else 0.0), cum[OUT]
        inside = np.clip((u[:, P["cls"]] - lo) / max(hi - lo, 1e-300), 0.0, np.nextafter(1.0, 0.0))
        u[:, P["out_sub"]] = np.where(cls == OUT, inside, u[:, P["out_sub"]])
    if overrides and "target_class" in overrides:
        names = np.asarray(overrides["target_class"], dtype=object)
        bad = sorted({str(c) for c in names if c and c not in CLASSES})
        if bad:
            raise ValueError(f"overrides target_class: unknown classes {bad}; allowed: {', '.join(CLASSES)}")
        cls = np.array([CLASSES.index(c) if c else k for c, k in zip(names, cls)], dtype=np.int64).reshape(cls.shape)

    # --- plates, fibres, positions, layouts, pixel ranges
    plate_idx = rows // cfg.fibers_per_plate
    uniq, inv = np.unique(plate_idx, return_inverse=True)
    pt = plates.plate_table(uniq, seed, cfg.layouts.fractions())
    layout = pt["layout"][inv]
    plate, mjd = pt["plate"][inv], pt["mjd"][inv]
    fiber = rows % cfg.fibers_per_plate + 1
    ra, dec = plates.offset_positions(pt["ra0_deg"][inv], pt["dec0_deg"][inv], cfg.plate_radius_deg, u[:, P["fib_r"]], u[:, P["fib_theta"]])
    ra, dec = _override(overrides, "ra_deg", ra), _override(overrides, "dec_deg", dec)
    is_boss = layout == plates.LAYOUTS.index("boss")
    is_lamost = layout >= plates.LAYOUTS.index("lamost_image")
    uk, un = u[:, P["k0"]], u[:, P["npix"]]
    k0 = np.select([is_boss, is_lamost], [510 + np.floor(51 * uk), np.full(n, 682.0)], 780 + np.floor(51 * uk)).astype(np.int64)
    npix = np.select([is_boss, is_lamost], [4580 + np.floor(71 * un), 3900 + np.floor(10 * un)], 3800 + np.floor(51 * un)).astype(np.int64)

    # --- redshifts, amplitudes, S/N
    uz = u[:, P["z"]]
    z = np.select(
        [cls <= LIN, cls == PAS, cls == QSO, cls == STAR, cls == LENS],
        [_span(uz, 0.01, 0.33), _span(uz, 0.02, 0.5), 0.1 + 3.4 * uz**1.5, _span(uz, -300.0, 300.0) / C_KMS, _span(uz, 0.05, 0.4)],
        _span(uz, 0.02, 0.3),
    )
    z = _override(overrides, "z", z)
    is_lens = cls == LENS
    if cfg.lens_source.z_offset:
        dz_lo, dz_hi = cfg.lens_source.z_offset
        z_src = np.where(is_lens, z + _span(u[:, P["z_src"]], dz_lo, dz_hi), np.nan)
    else:
        z_src = np.where(is_lens, z + 0.2 + (1.05 - z) * u[:, P["z_src"]], np.nan)
    amp = np.select([cls == STAR, cls == QSO], [_log_span(u[:, P["amp"]], 5, 200), _log_span(u[:, P["amp"]], 3, 40)], _log_span(u[:, P["amp"]], 3, 30))
    snr = _log_span(u[:, P["snr"]], cfg.snr_min, cfg.snr_max)
    amp, snr = _override(overrides, "flux_5500", amp), _override(overrides, "snr", snr)
    sigma0 = amp / snr

    # --- galaxy kind: the population used for continuum and narrow lines
    lens_passive = is_lens & (u[:, P["lens_fg"]] < 0.6)
    # the default OutlierMix (four equal weights) gives floor(4 u): the subtypes of earlier surveys, bit for bit
    out_sub = np.where(cls == OUT, np.minimum(np.searchsorted(cfg.outlier_subtypes.cumulative(), u[:, P["out_sub"]], side="right"),
                                              len(OUTLIER_SUBTYPES) - 1), -1)
    # outliers without gas (E+A, BL Lac-like) sit on an old population; every other outlier on a star-forming one
    old_outlier = np.isin(out_sub, [_SUB["post_starburst"], _SUB["featureless_continuum"]])
    kind = np.where(cls <= PAS, cls, np.where(lens_passive | old_outlier, PAS, np.where(is_lens | (cls == OUT), SF, -1)))
    av_lo = np.select([kind == COMP, kind == PAS], [0.3, 0.0], 0.0)
    av_hi = np.select([kind == SF, kind == COMP, kind == PAS], [1.5, 1.5, 0.3], 1.2)
    a_v = np.where(kind >= 0, _span(u[:, P["a_v"]], av_lo, av_hi), 0.0)
    a_v = np.where(out_sub == 0, _span(u[:, P["out_a"]], 3.0, 5.0), a_v)
    a_v = _override(overrides, "a_v_mag", a_v)

    model = np.zeros((n, N_MODEL))
    emission = np.zeros((n, N_MODEL))  # line flux per pixel; divided by pixel width at the end
    truth_lines = {c: np.zeros(n) for c in LINE_FLUX_COLUMNS}
    src_lines = {c: np.zeros(n) for c in L.LENS_SOURCE_LINES}
    sigma_gas = np.full(n, np.nan)
    fwhm_broad = np.full(n, np.nan)
    subclass = np.full(n, "", dtype=object)
    outlier_wave = np.full(n, np.nan)
    # Queued Gaussian lines per window group: narrow lines fit in +-40 pixels, broad QSO lines
    # (sigma up to ~50 pixels) need +-320.
    queued: dict[str, list[tuple[np.ndarray, ...]]] = {"narrow": [], "broad": []}

    def add_lines(group, idx, waves_rest, zz, sig_kms, fluxes):
        """Queue lines for rows idx (m,): rest waves (l,), redshifts (m,), sigma km/s (m,), fluxes (m, l)."""
        waves_obs = np.asarray(waves_rest, dtype=np.float64)[None, :] * (1 + zz)[:, None]
        sig_pix = np.sqrt(np.asarray(sig_kms, dtype=np.float64) ** 2 + SIGMA_INST_KMS**2) / KMS_PER_PIX
        queued[group].append(
            (
                np.repeat(idx, fluxes.shape[1]),
                pix_of(waves_obs).ravel(),
                np.broadcast_to(sig_pix[:, None], fluxes.shape).ravel(),
                fluxes.ravel(),
            )
        )

    # --- galaxies (all classes with a stellar population)
    gal = np.flatnonzero(kind >= 0)
    if len(gal):
        shape, sig_star = _galaxy_continuum(u[gal], z[gal], kind[gal], a_v[gal], _subset(overrides, gal))
        model[gal] = _normalise(shape, amp[gal])

    # --- stars, and the stellar half of star+galaxy blends
    psb = out_sub == _SUB["post_starburst"]
    star_rows = np.flatnonzero((cls == STAR) | (out_sub == 1) | psb)
    if len(star_rows):
        zs = _span(u[star_rows, P["star_v"]], -300.0, 300.0) / C_KMS
        zs = np.where(cls[star_rows] == STAR, z[star_rows], zs)
        star_type = None if not overrides or "star_type" not in overrides else np.asarray(overrides["star_type"])[star_rows]
        if psb.any():  # E+A: the A stars of a burst ~1 Gyr ago, at the galaxy's redshift
            star_type = np.full(len(star_rows), -1) if star_type is None else star_type.copy()
            is_psb = psb[star_rows]
            star_type[is_psb] = np.where(u[star_rows[is_psb], P["out_c"]] < 0.5, 0, 1)
            zs = np.where(is_psb, z[star_rows], zs)
        shape, itype = _star_continuum(u[star_rows], zs, star_type)
        star_model = _normalise(shape, amp[star_rows])
        pure = cls[star_rows] == STAR
        model[star_rows[pure]] = star_model[pure]
        subclass[star_rows[pure]] = [STAR_TYPES[i][0] for i in itype[pure]]
        blend = star_rows[~pure]
        frac = np.where(psb[blend], _span(u[blend, P["out_b"]], 0.4, 0.7), _span(u[blend, P["out_b"]], 0.3, 0.7))[:, None]
        model[blend] = (1 - frac) * model[blend] + frac * star_model[~pure]

    # --- continuum outliers: a supernova in the fibre, a BL Lac-like power law
    _continuum_outliers(model, u, z, amp, out_sub)

    # --- narrow emission lines of the emission classes, lens foregrounds that form stars, outliers
    sigma_gas_all = _span(u[:, P["sigma_gas"]], 50.0, 150.0)
    for name in L.EMISSION_CLASSES:
        code = CLASSES.index(name)
        idx = np.flatnonzero(kind == code)
        if not len(idx):
            continue
        ew_lo, ew_hi = L.OTHER_RATIOS_DEX[name]["log_ew_ha"]
        ew_ha = 10 ** _span(u[idx, P["ew_ha"]], ew_lo, ew_hi)
        ew_ha = np.where(out_sub[idx] == _SUB["extreme_emission"], 10 ** _span(u[idx, P["out_a"]], 2.5, 3.2), ew_ha)
        cont_ha = _window_mean(model[idx], pix_of(L.HALPHA * (1 + z[idx])), 30)
        ha_flux = _override(overrides, "flux_ha_6563", ew_ha * (1 + z[idx]) * cont_ha, idx)
        ew_ha = ha_flux / ((1 + z[idx]) * cont_ha)  # the rest EW the spectrum actually has
        fl = L.narrow_line_fluxes(
            name, ha_flux, a_v[idx], u[idx, P["bpt_x"]], u[idx, P["bpt_y"]], u[idx, P["sii"]],
            u[idx, P["oi"]], u[idx, P["oii"]], u[idx, P["sii_ratio"]], cfg.bpt_margin_dex,
        )
        keys = list(L.NARROW_LINE_WAVES)
        waves_nl = [L.NARROW_LINE_WAVES[k] for k in keys]
        fl_nl = np.stack([fl[k] for k in keys], axis=1)
        dp = out_sub[idx] == _SUB["double_peaked_lines"]
        if dp.any():  # two kinematic components, e.g. a rotating disc or a dual AGN: each line split in two
            one, two = idx[~dp], idx[dp]
            add_lines("narrow", one, waves_nl, z[one], sigma_gas_all[one], fl_nl[~dp])
            dv = _span(u[two, P["out_a"]], 250.0, 600.0) / C_KMS * (1 + z[two])
            blue = _span(u[two, P["out_b"]], 0.3, 0.7)[:, None]
            add_lines("narrow", two, waves_nl, z[two] - 0.5 * dv, sigma_gas_all[two], blue * fl_nl[dp])
            add_lines("narrow", two, waves_nl, z[two] + 0.5 * dv, sigma_gas_all[two], (1 - blue) * fl_nl[dp])
        else:
            add_lines("narrow", idx, waves_nl, z[idx], sigma_gas_all[idx], fl_nl)
        _store_truth_lines(truth_lines, idx, fl)
        sigma_gas[idx] = sigma_gas_all[idx]
        sub = {"star_forming": np.where(ew_ha > 50, "STARBURST", "STARFORMING"), "composite": "COMPOSITE"}.get(name, "AGN")
        subclass[idx] = np.where(cls[idx] == OUT, "", sub)

    # --- QSOs: power law, Lyman-alpha forest, broad lines, Seyfert-like narrow lines
    q = np.flatnonzero(cls == QSO)
    if len(q):
        alpha_nu = _override(overrides, "qso_alpha_nu", _span(u[q, P["qso_alpha"]], -0.8, -0.2), q)
        alpha_lam = -(2.0 + alpha_nu)
        rest = _WAVE[None, :] / (1 + z[q])[:, None]
        pl = cont.power_law(rest, alpha_lam)
        scale = amp[q] / _window_mean(pl * cont.lyman_alpha_forest(_WAVE[None, :], z[q]), pix_of(np.full(len(q), 5500.0)), 20)
        model[q] = pl * scale[:, None] * cont.lyman_alpha_forest(_WAVE[None, :], z[q])
        waves = L.QSO_BROAD_LINES[:, 0]
        cont_at = scale[:, None] * (waves[None, :] / 5500.0) ** alpha_lam[:, None]
        ew = L.QSO_BROAD_LINES[None, :, 1] * 10 ** _span(u[q, P["qso_ew"]], -0.2, 0.2)[:, None]
        fwhm_broad[q] = _span(u[q, P["qso_fwhm"]], 2000.0, 8000.0)
        add_lines("broad", q, waves, z[q], fwhm_broad[q] / 2.3548, ew * (1 + z[q])[:, None] * cont_at)
        ha_narrow = 10 ** _span(u[q, P["qso_oiii"]], 0.7, 1.5) * (1 + z[q]) * scale * (L.HALPHA / 5500.0) ** alpha_lam
        fl = L.narrow_line_fluxes(
            "seyfert", ha_narrow, np.zeros(len(q)), u[q, P["bpt_x"]], u[q, P["bpt_y"]], u[q, P["sii"]], u[q, P["oi"]],
            u[q, P["oii"]], u[q, P["sii_ratio"]], cfg.bpt_margin_dex,
        )
        keys = list(L.NARROW_LINE_WAVES)
        sigma_gas[q] = 400.0 / 2.3548 * np.ones(len(q))
        add_lines("narrow", q, [L.NARROW_LINE_WAVES[k] for k in keys], z[q], sigma_gas[q], np.stack([fl[k] for k in keys], axis=1))
        _store_truth_lines(truth_lines, q, fl)
        subclass[q] = "BROADLINE"

    # --- lens candidates: background star-forming source lines at z_src
    lz = np.flatnonzero(is_lens)
    src_sigma = np.full(n, np.nan)
    if len(lz):
        hb = amp[lz] * _log_span(u[lz, P["src_strength"]], 0.3, 8.0)
        oiii = hb * 10 ** _span(u[lz, P["src_oiii"]], -0.3, 0.5)
        oii = hb * 10 ** _span(u[lz, P["src_oii"]], 0.1, 0.5)
        ha = hb * L.CASE_B_HA_HB
        src_sigma[lz] = _span(u[lz, P["src_sigma"]], 40.0, 100.0)
        if cfg.lens_source.line_snr == "detected":
            # scale to the drawn combined S/N, and further where needed so that the second-strongest of [O II],
            # Hbeta and [O III] (the one there is, if only one falls inside the coverage) reaches lens_detect_snr:
            # BELLS (Brownstein et al. 2012) selects [O II] plus Hbeta or [O III]; Halpha, at 6563 (1 + z_s) A,
            # is rarely inside an SDSS spectrum at these z_s and never the line a selection rests on
            unit = _lens_line_snr(np.stack([oii, hb, oiii, ha], axis=1) / hb[:, None], z_src[lz], src_sigma[lz], sigma0[lz], k0[lz], npix[lz])
            ordered = -np.sort(-unit[:, :3], axis=1)
            ref = np.where(ordered[:, 1] > 0, ordered[:, 1], ordered[:, 0])
            comb_unit = np.sqrt((unit**2).sum(axis=1))
            ls = cfg.lens_source
            c_lo, c_hi, a = ls.combined_snr_min, ls.combined_snr_max, ls.snr_power
            target = c_lo * (1 - u[lz, P["src_strength"]] * (1 - (c_lo / c_hi) ** a)) ** (-1 / a)
            ok = ref > 0
            safe = np.where(ok, 1.0, 0.0) + np.where(ok, 0.0, 1.0)  # 1 everywhere: no division warnings below
            scale = np.maximum(target / np.where(ok, comb_unit, safe), cfg.lens_detect_snr * (1 + 1e-6) / np.where(ok, ref, safe))
            new_hb = np.where(ok, scale, hb)
            oiii, oii, ha, hb = oiii / hb * new_hb, oii / hb * new_hb, ha / hb * new_hb, new_hb
        fluxes = np.stack([oii * 0.43, oii * 0.57, hb, oiii / L.OIII_5007_TO_4959, oiii, ha], axis=1)
        waves = [L.OII_3727, L.OII_3730, L.HBETA, L.OIII_4959, L.OIII_5007, L.HALPHA]
        add_lines("narrow", lz, waves, z_src[lz], src_sigma[lz], fluxes)
        for key, val in zip(L.LENS_SOURCE_LINES, (oii, hb, oiii, ha)):
            src_lines[key][lz] = val

    # --- unidentified strong line
    ul = np.flatnonzero(out_sub == 2)
    if len(ul):
        outlier_wave[ul] = _span(u[ul, P["out_a"]], 4000.0, 9000.0)
        flux_ul = _span(u[ul, P["out_b"]], 30.0, 150.0) * _window_mean(model[ul], pix_of(outlier_wave[ul]), 20)
        # rest wavelength 1 A at "redshift" wave - 1 puts the line at the observed wave
        add_lines("narrow", ul, [1.0], outlier_wave[ul] - 1.0, np.full(len(ul), 100.0), flux_ul[:, None])

    spikes = _outlier_lines(add_lines, model, u, z, sigma0, k0, npix, out_sub, truth_lines, sigma_gas_all, rows, seed)
    if spikes:
        render_gaussians(emission, *spikes, half_width_pix=4)

    for group, half_width in (("narrow", 40), ("broad", 320)):
        if queued[group]:
            parts = [np.concatenate(p) for p in zip(*queued[group])]
            render_gaussians(emission, *parts, half_width_pix=half_width)
    model += emission / _DLAM[None, :]

    # --- broken continuum: a flux-calibration jump red-ward of a wavelength near the dichroic
    bc = np.flatnonzero(out_sub == 3)
    if len(bc):
        outlier_wave[bc] = _span(u[bc, P["out_a"]], 5600.0, 6500.0)
        ub = u[bc, P["out_b"]]
        factor = np.where(ub < 0.5, 0.25 + 0.6 * ub, 2.0 + 2.0 * (ub - 0.5))
        red = _WAVE[None, :] > outlier_wave[bc][:, None]
        model[bc] = np.where(red, model[bc] * factor[:, None], model[bc])

    # --- flux dropout: a block of pixels where the flux (not the ivar) falls to a few per cent
    fd = np.flatnonzero(out_sub == _SUB["flux_dropout"])
    if len(fd):
        lo_w = 10 ** (LOGLAM0 + DLOGLAM * k0[fd].astype(np.float64))
        hi_w = 10 ** (LOGLAM0 + DLOGLAM * (k0[fd] + npix[fd]).astype(np.float64))
        width = _span(u[fd, P["out_b"]], 200.0, 800.0)
        start = lo_w + u[fd, P["out_a"]] * np.maximum(hi_w - lo_w - width, 0.0)
        outlier_wave[fd] = start
        block = (_WAVE[None, :] >= start[:, None]) & (_WAVE[None, :] < (start + width)[:, None])
        model[fd] = np.where(block, model[fd] * _span(u[fd, P["out_c"]], 0.0, 0.1)[:, None], model[fd])

    # --- noise, masks
    boost = sky.sky_variance_boost(LOGLAM0 + K_LO * DLOGLAM, DLOGLAM, N_MODEL)
    sigma = sigma0[:, None] * (sky.edge_noise_factor(_WAVE) * np.sqrt(boost))[None, :]
    flux = model if noise is None else model + sigma * noise
    ivar = (1.0 / sigma**2).astype(np.float32)
    and_mask = np.zeros((n, N_MODEL), dtype=np.int32)
    and_mask[:, boost > BRIGHTSKY_VARIANCE_BOOST] |= BRIGHTSKY
    if not cfg.noiseless:
        kk = np.arange(N_MODEL)[None, :]
        for j in range(MASK_RUNS):
            on = u[:, P[f"mask{j}"]] < cfg.mask_run_probability
            start = (k0 - K_LO + np.floor(u[:, P[f"mask{j}_start"]] * npix)).astype(np.int64)
            length = 3 + np.floor(25 * u[:, P[f"mask{j}_len"]]).astype(np.int64)
            run = on[:, None] & (kk >= start[:, None]) & (kk < (start + length)[:, None])
            ivar[run] = 0.0
            and_mask[run] |= FULLREJECT

    # --- lens grades from the expected background-line S/N
    lens_grade = np.full(n, None, dtype=object)
    lens_snr = np.full(n, np.nan)
    if len(lz):
        fl = np.stack([src_lines[k][lz] for k in L.LENS_SOURCE_LINES], axis=1)
        snr_l = _lens_line_snr(fl, z_src[lz], src_sigma[lz], sigma0[lz], k0[lz], npix[lz])
        combined = np.sqrt((snr_l**2).sum(axis=1))
        n_det = (snr_l >= cfg.lens_detect_snr).sum(axis=1)
        lens_snr[lz] = combined
        lens_grade[lz] = np.where(
            (n_det >= 3) & (combined >= cfg.lens_likely_snr),
            "likely",
            np.where((n_det >= 2) & (combined >= cfg.lens_probable_snr), "probable", "possible"),
        )

    pipe_class = np.where(cls == QSO, "QSO", np.where(cls == STAR, "STAR", "GALAXY"))
    z_err = np.select(
        [cls == QSO, cls == STAR], [3e-4 * (1 + z), np.full(n, 5e-6)], 1.5e-5 * (1 + z)
    ) * (10.0 / snr) ** 0.5 * _span(u[:, P["z_err"]], 0.7, 1.3)
    rel_path, file_spec_id = plates.file_names(layout, plate, mjd, fiber)
    spec_id = np.array([f"synth-{r:08d}" for r in rows], dtype=object)
    bpt = L.bpt_classify(truth_lines["flux_nii_6584"], truth_lines["flux_ha_6563"], truth_lines["flux_oiii_5007"], truth_lines["flux_hb_4861"])
    sky_arr = (_span(u[:, P["sky_level"]], 2.0, 5.0)[:, None] * sky.sky_spectrum_shape(LOGLAM0 + K_LO * DLOGLAM, DLOGLAM, N_MODEL)[None, :])
    kk = np.arange(N_MODEL)[None, :]
    wdisp = 0.9 + 0.3 * (kk + K_LO - k0[:, None]) / npix[:, None]

    truth = pd.DataFrame(
        {
            "spec_id": spec_id,
            "survey": np.array(plates.LAYOUTS, dtype=object)[layout],
            "ra_deg": ra,
            "dec_deg": dec,
            "healpix29": healpix29(ra, dec),
            "class": pipe_class.astype(object),
            "subclass": subclass,
            "target_class": np.array(CLASSES, dtype=object)[cls],
            "z": z,
            "z_source": z_src,
            "snr": snr.astype(np.float32),
            "source_file": rel_path,
            **{c: truth_lines[c].astype(np.float32) for c in LINE_FLUX_COLUMNS},
            "bpt_class": bpt,
            "lens_grade": lens_grade,
            "outlier_subtype": np.where(out_sub >= 0, np.array(OUTLIER_SUBTYPES, dtype=object)[np.maximum(out_sub, 0)], None),
            "row_number": rows,
            "file_spec_id": file_spec_id,
            "plate": plate.astype(np.int32),
            "mjd": mjd.astype(np.int32),
            "fiber": fiber.astype(np.int32),
            "z_err": z_err,
            "flux_5500": amp.astype(np.float32),
            "a_v_mag": a_v.astype(np.float32),
            "sigma_gas_kms": sigma_gas.astype(np.float32),
            "fwhm_broad_kms": fwhm_broad.astype(np.float32),
            **{f"flux_src_{k}": src_lines[k].astype(np.float32) for k in L.LENS_SOURCE_LINES},
            "lens_line_snr": lens_snr.astype(np.float32),
            "outlier_wave_angstrom": outlier_wave.astype(np.float32),
            "k0": k0.astype(np.int32),
            "n_pix": npix.astype(np.int32),
        }
    )
    truth = truth[TRUTH.names]
    meta = {"layout": layout, "plate": plate, "mjd": mjd, "fiber": fiber, "rel_path": rel_path, "file_spec_id": file_spec_id}
    meta.update({k: v for k, v in plates.lamost_ids(plate, fiber).items()})
    return SynthBatch(
        rows=rows,
        flux=flux.astype(np.float32),
        ivar=ivar,
        and_mask=and_mask,
        model=model.astype(np.float32),
        sky=sky_arr.astype(np.float32),
        wdisp=wdisp.astype(np.float32),
        k0=k0,
        n_pix=npix,
        truth=truth,
        meta=meta,
    )


def _store_truth_lines(truth_lines: dict[str, np.ndarray], idx: np.ndarray, fl: dict[str, np.ndarray]) -> None:
    truth_lines["flux_oii_3727"][idx] = fl["oii_3727"] + fl["oii_3730"]
    truth_lines["flux_hb_4861"][idx] = fl["hb"]
    truth_lines["flux_oiii_5007"][idx] = fl["oiii_5007"]
    truth_lines["flux_oi_6300"][idx] = fl["oi_6300"]
    truth_lines["flux_nii_6584"][idx] = fl["nii_6584"]
    truth_lines["flux_ha_6563"][idx] = fl["ha"]
    truth_lines["flux_sii_6717"][idx] = fl["sii_6717"]
    truth_lines["flux_sii_6731"][idx] = fl["sii_6731"]
