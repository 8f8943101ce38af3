"""Typed configuration of the synthetic imaging survey and of the Galaxy10-like stamps.

Per-band tuples are in the order u, g, r, i, z. Paper values name their source;
everything else says why it was chosen (``skysift choice``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require

GALAXY10_CLASSES = (
    "disturbed",
    "merging",
    "round_smooth",
    "in_between_round_smooth",
    "cigar_shaped_smooth",
    "barred_spiral",
    "unbarred_tight_spiral",
    "unbarred_loose_spiral",
    "edge_on_without_bulge",
    "edge_on_with_bulge",
)
"""The ten Galaxy10 DECaLS classes, in its label order 0..9."""
GALAXY10_COUNTS = (1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873)
"""Images per class in Galaxy10 DECaLS (17,736 in all; Leung 2023, astroNN docs): the default mix."""


def _five(name: str, values: tuple, lo: float = 0.0) -> None:
    require(len(values) == 5, f"{name} needs 5 values (u, g, r, i, z), got {len(values)}")
    require(all(v > lo for v in values), f"{name} values must be > {lo}, got {values}")


@dataclass(frozen=True)
class PSFConfig:
    """Per-band point-spread function of a field."""

    profile: Literal["moffat", "gaussian"] = "moffat"
    """Radial profile: Moffat (atmospheric seeing with wings) or Gaussian."""
    moffat_beta: float = 3.5
    """Moffat beta: not stated in the papers; skysift choice between the SDSS-like 3 and Kolmogorov's 4.77 (Trujillo et al. 2001)."""
    fwhm_min_arcsec: float = 1.0
    """Smallest FWHM of any band (issue 14: 1.0-1.6 arcsec, SDSS median seeing ~1.4 arcsec)."""
    fwhm_max_arcsec: float = 1.6
    """Largest FWHM of any band."""
    wavelength_slope: float = -0.2
    """FWHM proportional to wavelength^slope within a field (Kolmogorov seeing: -0.2), clipped to [min, max]."""

    def __post_init__(self):
        require(self.moffat_beta > 1.5, f"psf.moffat_beta must be > 1.5 (finite second moment), got {self.moffat_beta}")
        require(0.3 <= self.fwhm_min_arcsec <= self.fwhm_max_arcsec <= 5.0, f"psf FWHM range must satisfy 0.3 <= min <= max <= 5, got {self.fwhm_min_arcsec}, {self.fwhm_max_arcsec}")


@dataclass(frozen=True)
class PopulationConfig:
    """What a sky cell contains: the photometric populations and the spectroscopic targets."""

    star_density_per_deg2: float = 5000.0
    """Stars with r in [star_mag_min, star_mag_max] per deg2 (high galactic latitude; skysift choice)."""
    star_mag_min: float = 12.0
    """Brightest star r (AB); SDSS saturates near r = 14 (Stoughton et al. 2002), so a few per field saturate."""
    star_mag_max: float = 23.5
    """Faintest star r, beyond the r = 22.2 limit (Zhao et al. 2025 need sources past the cut)."""
    star_count_slope: float = 0.15
    """d log10 N / d r of the star counts (halo stars at high latitude; skysift choice)."""
    galaxy_density_bright_per_deg2: float = 90.0
    """Galaxies with r < 17.77 per deg2 (SDSS main-sample density, Strauss et al. 2002)."""
    galaxy_mag_min: float = 13.0
    """Brightest galaxy r."""
    galaxy_mag_max: float = 23.5
    """Faintest galaxy r."""
    galaxy_count_slope_bright: float = 0.45
    """d log10 N / d r for r < 20 (near-Euclidean bright galaxy counts, Yasuda et al. 2001)."""
    galaxy_count_slope_faint: float = 0.35
    """d log10 N / d r for r >= 20 (flattening faint counts, Yasuda et al. 2001)."""
    qso_density_per_deg2: float = 150.0
    """Photometric QSOs with r in [qso_mag_min, qso_mag_max] per deg2 (skysift choice, of the order of SDSS counts)."""
    qso_mag_min: float = 16.0
    """Brightest photometric QSO r."""
    qso_mag_max: float = 23.0
    """Faintest photometric QSO r."""
    blend_fraction: float = 0.03
    """Fraction of galaxies given a separate neighbour galaxy 1-3 arcsec away (blends; skysift choice)."""
    morphology_mix: tuple[float, ...] = tuple(float(c) for c in GALAXY10_COUNTS)
    """Relative frequency of the ten Galaxy10 classes (default: the Galaxy10 DECaLS class counts)."""
    spec_density_per_deg2: float = 100.0
    """Spectroscopic targets per deg2 (SDSS-I/II: 640 fibres per 7 deg2 plate, ~90-100 per deg2)."""
    spec_qso_fraction: float = 1.0 / 11.0
    """QSOs among the spectroscopic galaxies + QSOs (Rustamov 2025: ~1,000 of ~11,000)."""
    spec_star_fraction: float = 0.15
    """Stars among all spectroscopic targets (skysift choice; SDSS DR7 has ~15 % stellar spectra)."""
    spec_galaxy_mag_range: tuple[float, float] = (14.5, 17.77)
    """Petrosian-like r range of spectroscopic galaxies (SDSS main sample r < 17.77, Strauss et al. 2002)."""
    spec_qso_mag_range: tuple[float, float] = (16.0, 21.0)
    """r range of spectroscopic QSOs (SDSS i < 19.1 low-z plus fainter BOSS-like targets; skysift choice)."""
    spec_star_mag_range: tuple[float, float] = (14.5, 20.5)
    """r range of spectroscopic stars (skysift choice)."""
    zwarning_fraction: float = 0.04
    """Fraction of spectra with zWarning != 0 (Zhao et al. 2025 drop them; skysift choice)."""
    composite_fraction: float = 0.15
    """Star-forming-state galaxies whose spectrum is composite (BPT) rather than star-forming (skysift choice)."""
    seyfert_fraction: float = 0.06
    """Star-forming-state galaxies with a Seyfert 2 spectrum (skysift choice)."""
    liner_fraction: float = 0.2
    """Quenched galaxies with a LINER spectrum rather than a passive one (skysift choice)."""

    def __post_init__(self):
        for name in ("star_density_per_deg2", "galaxy_density_bright_per_deg2", "qso_density_per_deg2", "spec_density_per_deg2"):
            require(getattr(self, name) >= 0, f"population.{name} must be >= 0, got {getattr(self, name)}")
        require(self.star_mag_min < self.star_mag_max, "population.star_mag_min must be < star_mag_max")
        require(self.galaxy_mag_min < 17.77 < self.galaxy_mag_max, "population galaxy magnitude range must contain r = 17.77")
        require(self.qso_mag_min < self.qso_mag_max, "population.qso_mag_min must be < qso_mag_max")
        require(len(self.morphology_mix) == 10 and min(self.morphology_mix) >= 0 and sum(self.morphology_mix) > 0,
                f"population.morphology_mix needs 10 fractions >= 0 (Galaxy10 order {GALAXY10_CLASSES}), got {self.morphology_mix}")
        for name in ("spec_qso_fraction", "spec_star_fraction", "zwarning_fraction", "blend_fraction", "composite_fraction", "seyfert_fraction", "liner_fraction"):
            require(0 <= getattr(self, name) <= 1, f"population.{name} must be in [0, 1], got {getattr(self, name)}")
        require(self.composite_fraction + self.seyfert_fraction <= 1, "population.composite_fraction + seyfert_fraction must be <= 1")
        for name in ("spec_galaxy_mag_range", "spec_qso_mag_range", "spec_star_mag_range"):
            lo, hi = getattr(self, name)
            require(lo < hi, f"population.{name} must be (min, max) with min < max, got {(lo, hi)}")


@dataclass(frozen=True)
class CatalogConfig:
    """How the photoObj-like catalog is made from the truth."""

    complete_mag_r: float = 21.0
    """Every source brighter than this r is catalogued; fainter ones may be missed (why Zhao et al. paste sources)."""
    miss_half_mag_r: float = 22.5
    """r at which half of the sources are missing (logistic completeness; skysift choice)."""
    miss_width_mag: float = 0.3
    """Width of the logistic completeness curve in magnitudes."""
    star_galaxy_split_mag: float = 0.145
    """type = 3 (galaxy) when psfMag - modelMag > this in r (the SDSS photo rule, Stoughton et al. 2002)."""
    avg_scatter_halpha_dex: float = 0.1
    """Scatter of the MPA-JHU-like AVG around the true log SFR for Halpha-based SFRs (skysift choice)."""
    avg_scatter_d4000_dex: float = 0.3
    """Scatter of AVG for D4000-based SFRs (passive, LINER, Seyfert, QSO hosts; Brinchmann et al. 2004 are wider)."""
    flag_fraction: float = 0.08
    """Fraction of MPA-JHU-like rows with FLAG != 0 besides those with zWarning != 0 (Rustamov 2025 filter on FLAG = 0)."""

    def __post_init__(self):
        require(self.complete_mag_r < self.miss_half_mag_r, "catalog.complete_mag_r must be < miss_half_mag_r")
        require(self.miss_width_mag > 0, f"catalog.miss_width_mag must be > 0, got {self.miss_width_mag}")
        require(self.avg_scatter_halpha_dex >= 0 and self.avg_scatter_d4000_dex >= 0, "catalog AVG scatters must be >= 0")
        require(0 <= self.flag_fraction <= 1, f"catalog.flag_fraction must be in [0, 1], got {self.flag_fraction}")


@dataclass(frozen=True)
class ImagingSurveyConfig:
    """The synthetic SDSS-like imaging survey: run geometry, camera, depth, content."""

    run: int = 9000
    """Synthetic run number (above every real SDSS run, so names never collide with real frames)."""
    rerun: str = "301"
    """Rerun written into headers (SDSS DR8+ frames: 301)."""
    camcols: tuple[int, ...] = (1,)
    """Camera columns imaged (SDSS: 1-6)."""
    first_field: int = 11
    """Field number of the first field of the run (SDSS runs usually start at 11)."""
    n_fields: int = 10
    """Fields per camcol."""
    ra0_deg: float = 20.0
    """RA of the first field centre (a stripe-82-like equatorial run by default)."""
    dec0_deg: float = 0.0
    """Dec of the centre of the middle camcol."""
    shape_px: tuple[int, int] = (1489, 2048)
    """Frame shape (rows, columns): SDSS frames are 1489 x 2048; tests may use smaller frames."""
    field_step_rows: int = 1361
    """Rows between consecutive field starts (SDSS: 1361, so 128 of 1489 rows, ~9 %, overlap the next field)."""
    pixel_scale_arcsec: float = 0.396
    """Pixel scale (SDSS: 0.396 arcsec/px)."""
    camcol_spacing_deg: float = 0.42
    """Dec between camcol centres (SDSS camera: 25.2 arcmin)."""
    band_offset_max_px: float = 4.0
    """Each band's WCS is offset from the r band's by up to this many pixels per axis (issue 14: a few pixels)."""
    band_rotation_max_rad: float = 3e-4
    """Each band's WCS is rotated by up to this much (the real frames' CD matrices differ by ~3e-4)."""
    depth_5sigma_mag: tuple[float, ...] = (22.0, 22.2, 22.2, 21.3, 20.5)
    """5-sigma point-source limits u g r i z (Zhao et al. 2025, the SDSS limits); they set the sky noise."""
    psf: PSFConfig = field(default_factory=PSFConfig)
    """Point-spread function of each field and band."""
    nmgy_per_count: tuple[float, ...] = (0.0123, 0.00447, 0.00547, 0.00656, 0.0296)
    """Calibration (nanomaggies per DN): u, g, r, i from the real frames in ../shared/data; z a typical DR8 value."""
    gain: tuple[float, ...] = (2.17, 4.035, 4.895, 4.76, 4.69)
    """Electrons per DN (the real photoObj 3900-6-269 header GAIN)."""
    dark_variance_dn2: tuple[float, ...] = (2.65, 1.35, 0.95, 2.25, 1.1)
    """Read + dark variance per pixel in DN^2 (the real photoObj 3900-6-269 header DARK_VAR)."""
    saturation_dn: float = 40000.0
    """Pixels saturate at this many DN above the bias (chosen so stars saturate near r = 14 at 1.4 arcsec seeing)."""
    cosmic_rays_per_frame: float = 30.0
    """Mean cosmic-ray hits per 2048 x 1489 frame and band (~24 cm2 CCD, 54 s drift scan; skysift choice); scaled by area."""
    population: PopulationConfig = field(default_factory=PopulationConfig)
    """Object populations and spectroscopic targets."""
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    """photoObj-like completeness, star/galaxy split, MPA-JHU-like scatter and flags."""
    cell_margin_px: int = 64
    """Objects are drawn this far beyond the frame's sides too, so that light from just outside falls in."""
    float_mantissa_bits: int = 9
    """Stored mantissa bits of the image floats (SDSS FLOATCOMPRESS "10 binary digits": the real frames' low 14 bits are 0); 23 = all."""
    noiseless: bool = False
    """No noise and no cosmic rays (tests of photometry and astrometry)."""

    def __post_init__(self):
        require(1 <= self.run < 1_000_000, f"run must be in [1, 999999], got {self.run}")
        require(len(self.camcols) >= 1 and all(1 <= c <= 6 for c in self.camcols), f"camcols must be in 1..6, got {self.camcols}")
        require(len(set(self.camcols)) == len(self.camcols), f"camcols must be distinct, got {self.camcols}")
        require(0 <= self.first_field and self.n_fields >= 1, f"first_field >= 0 and n_fields >= 1, got {self.first_field}, {self.n_fields}")
        require(self.first_field + self.n_fields <= 10000, "field numbers must stay below 10000 (SDSS file names have 4 digits)")
        require(len(self.shape_px) == 2 and min(self.shape_px) >= 64, f"shape_px must be (rows, columns) >= 64, got {self.shape_px}")
        require(0 < self.field_step_rows <= self.shape_px[0], f"field_step_rows must be in (0, rows={self.shape_px[0]}], got {self.field_step_rows}")
        require(0.05 <= self.pixel_scale_arcsec <= 5, f"pixel_scale_arcsec must be in [0.05, 5], got {self.pixel_scale_arcsec}")
        require(abs(self.dec0_deg) <= 80, f"dec0_deg must be within +-80, got {self.dec0_deg}")
        require(self.band_offset_max_px >= 0 and self.band_rotation_max_rad >= 0, "band offsets and rotations must be >= 0")
        for name in ("depth_5sigma_mag", "nmgy_per_count", "gain"):
            _five(name, getattr(self, name))
        _five("dark_variance_dn2", self.dark_variance_dn2, lo=-1e-12)
        require(self.saturation_dn > 0, f"saturation_dn must be > 0, got {self.saturation_dn}")
        require(self.cosmic_rays_per_frame >= 0, f"cosmic_rays_per_frame must be >= 0, got {self.cosmic_rays_per_frame}")
        require(0 <= self.cell_margin_px <= 512, f"cell_margin_px must be in [0, 512], got {self.cell_margin_px}")
        require(1 <= self.float_mantissa_bits <= 23, f"float_mantissa_bits must be in [1, 23], got {self.float_mantissa_bits}")
        spacing_px = self.camcol_spacing_deg * 3600 / self.pixel_scale_arcsec
        if len(self.camcols) > 1:
            require(spacing_px > self.shape_px[1] + 2 * self.cell_margin_px,
                    f"camcol_spacing_deg {self.camcol_spacing_deg} is narrower than a frame plus margins")


@dataclass(frozen=True)
class StampConfig:
    """Galaxy10-DECaLS-like stamps: one resolved galaxy of a known class, with field stars and neighbours."""

    size_px: int = 256
    """Stamp side (Galaxy10 DECaLS: 256 x 256)."""
    bands: tuple[str, ...] = ("g", "r", "z")
    """Bands of the stamp (Galaxy10 DECaLS: g, r, z)."""
    pixel_scale_arcsec: float = 0.262
    """Pixel scale (DECaLS: 0.262 arcsec/px)."""
    depth_5sigma_mag: tuple[float, ...] = (24.0, 23.4, 22.5)
    """5-sigma point-source depth per stamp band (DECaLS targets g, r, z = 24.0, 23.4, 22.5; Dey et al. 2019)."""
    psf: PSFConfig = field(default_factory=lambda: PSFConfig(fwhm_min_arcsec=1.0, fwhm_max_arcsec=1.6))
    """PSF per stamp (DECaLS seeing ~1.0-1.6 arcsec)."""
    galaxy_mag_range: tuple[float, float] = (13.5, 17.5)
    """r range of the central galaxy (Galaxy Zoo DECaLS galaxies are bright)."""
    galaxy_re_range_px: tuple[float, float] = (10.0, 36.0)
    """Half-light radius of the central galaxy in pixels (it fills a good part of the stamp)."""
    centre_jitter_px: float = 2.0
    """The central galaxy sits within this many pixels of the stamp centre."""
    mean_field_stars: float = 3.0
    """Mean number of field stars per stamp (Friberg: 'surrounding stars' confuse retrieval)."""
    mean_neighbours: float = 2.0
    """Mean number of smaller neighbour galaxies per stamp."""
    morphology_mix: tuple[float, ...] = tuple(float(c) for c in GALAXY10_COUNTS)
    """Relative frequency of the ten classes (default: Galaxy10 DECaLS counts)."""
    noiseless: bool = False
    """No noise (tests)."""

    def __post_init__(self):
        require(32 <= self.size_px <= 1024, f"stamps.size_px must be in [32, 1024], got {self.size_px}")
        from skysift.synth.imaging.bands import BANDS

        require(len(self.bands) >= 1 and all(b in BANDS for b in self.bands), f"stamps.bands must be among {BANDS}, got {self.bands}")
        require(len(self.depth_5sigma_mag) == len(self.bands), f"stamps.depth_5sigma_mag needs one value per band {self.bands}")
        lo, hi = self.galaxy_re_range_px
        require(0 < lo < hi <= self.size_px / 4, f"stamps.galaxy_re_range_px must satisfy 0 < min < max <= size/4, got {(lo, hi)}")
        require(self.galaxy_mag_range[0] < self.galaxy_mag_range[1], "stamps.galaxy_mag_range must be (min, max)")
        require(self.mean_field_stars >= 0 and self.mean_neighbours >= 0, "stamps mean counts must be >= 0")
        require(len(self.morphology_mix) == 10 and min(self.morphology_mix) >= 0 and sum(self.morphology_mix) > 0,
                "stamps.morphology_mix needs 10 fractions >= 0")
