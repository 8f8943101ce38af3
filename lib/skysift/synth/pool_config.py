"""Configuration of the Lu et al. 2022 stand-in pool (``synth.emission_pool``): a LAMOST-like "Unknown" set.

Kept apart from ``emission_pool`` so that ``synth.model.SynthModelConfig`` can embed it without importing
the generator (which imports the model).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from skysift.config import require

POOL_CLASSES = (
    "star_forming", "composite", "seyfert", "liner", "passive", "star",
    "hii_region", "hii_field", "galactic_emitter", "junk_sky", "junk_cosmic", "dead_fibre",
)
"""Truth classes of the pool (``target_class``)."""
ELG_CLASSES = ("star_forming", "composite", "seyfert", "liner")
"""Emission-line galaxies (a BPT class each)."""
LOW_VELOCITY_CLASSES = ("hii_region", "hii_field", "galactic_emitter")
"""Galactic emission spectra, |v| < 150 km/s."""
TEMPLATE_CLASSES = ("star_forming", "composite", "seyfert", "liner", "passive", "hii_field")
"""Classes of the template set (low-z H II-like templates stand for the LAMOST GALAXY spectra at z ~ 0)."""


@dataclass(frozen=True)
class PoolMix:
    """Relative frequency of each pool class (normalised). The default gives ~25 % of spectra with >= 3
    emission lines (Lu et al. 2022: 123,693 of 492,938 with a CL redshift) and mostly star-like targets."""

    star_forming: float = 0.10
    """Star-forming galaxies (below Kauffmann 2003)."""
    composite: float = 0.04
    """Composite galaxies (between Kauffmann 2003 and Kewley 2001)."""
    seyfert: float = 0.03
    """Seyfert 2 galaxies (above Kewley 2001 and Schawinski 2007)."""
    liner: float = 0.03
    """LINERs (above Kewley 2001, below Schawinski 2007)."""
    passive: float = 0.08
    """Absorption-line galaxies (no emission)."""
    star: float = 0.44
    """Stars A0-M5 (LAMOST's "Unknown" set is mostly star-like targets; Lu et al. 2022 Fig. 9)."""
    hii_region: float = 0.05
    """Galactic H II spectra inside a region of the synthetic H II catalog."""
    hii_field: float = 0.03
    """Galactic H II spectra outside every region that pass the [S II]/[N II] diagnostic."""
    galactic_emitter: float = 0.02
    """Galactic low-velocity emission outside every region that fails the diagnostic ("unclassified")."""
    junk_sky: float = 0.07
    """Sky-subtraction residuals at the night-sky lines on a faint continuum."""
    junk_cosmic: float = 0.07
    """Cosmic-ray hits: 3-10 one-pixel spikes on a faint continuum."""
    dead_fibre: float = 0.04
    """Dead fibres: no usable pixel (ivar = 0), rejected by ingest."""

    def __post_init__(self):
        values = [getattr(self, c) for c in POOL_CLASSES]
        require(all(v >= 0 for v in values), f"pool.mix: fractions must be >= 0, got {dict(zip(POOL_CLASSES, values))}")
        require(sum(values) > 0, "pool.mix: at least one fraction must be > 0")

    def fractions(self) -> tuple[float, ...]:
        """Fractions in ``POOL_CLASSES`` order (not normalised)."""
        return tuple(getattr(self, c) for c in POOL_CLASSES)


@dataclass(frozen=True)
class TemplateMix:
    """Relative frequency of each template class (normalised)."""

    star_forming: float = 0.40
    """Star-forming templates."""
    composite: float = 0.12
    """Composite templates."""
    seyfert: float = 0.10
    """Seyfert templates."""
    liner: float = 0.10
    """LINER templates."""
    passive: float = 0.10
    """Absorption-line galaxy templates."""
    hii_field: float = 0.18
    """H II-like templates at |v| < 150 km/s (LAMOST GALAXY spectra at z ~ 0 give the paper's low z_rt)."""

    def __post_init__(self):
        values = [getattr(self, c) for c in TEMPLATE_CLASSES]
        require(all(v >= 0 for v in values), f"pool.templates_mix: fractions must be >= 0, got {values}")
        require(sum(values) > 0, "pool.templates_mix: at least one fraction must be > 0")

    def fractions(self) -> tuple[float, ...]:
        """Fractions in ``TEMPLATE_CLASSES`` order."""
        return tuple(getattr(self, c) for c in TEMPLATE_CLASSES)


REFERENCE_CATALOGS = ("cds", "sdss", "ned")
"""The synthetic reference catalogs (stand-ins for CDS/SIMBAD, SDSS and NED; Lu et al. 2022 section 4.2.3)."""


@dataclass(frozen=True)
class EmissionPoolConfig:
    """What the Lu et al. 2022 stand-in pool holds (``model.population: lu2022_pool``)."""

    mix: PoolMix = field(default_factory=PoolMix)
    """Class mix of the pool."""
    snr_min: float = 2.0
    """Lowest continuum S/N per pixel at 5500 A (log-uniform; Lu et al. 2022 Fig. 4: S/N_r mostly < 10)."""
    snr_max: float = 20.0
    """Highest continuum S/N per pixel at 5500 A (skysift choice: 70 % of the pool below 10)."""
    z_min: float = 0.0017
    """Lowest galaxy redshift (Lu et al. 2022: galaxies above 500 km/s, z 0.0017-0.35)."""
    z_max: float = 0.35
    """Highest galaxy redshift (Lu et al. 2022 Fig. 6)."""
    log_ew_ha_boost_dex: float = 0.3
    """Added to the default model's log EW(Halpha) ranges (skysift choice: the pool's galaxies were found by
    their lines, so they are line-strong)."""
    bpt_margin_dex: float = 0.1
    """Distance kept from the BPT boundaries (as the default model)."""
    hii_velocity_kms: float = 150.0
    """Galactic spectra have |v| below this (Lu et al. 2022 Fig. 7: "most velocities are less than 150")."""
    hii_diagnostic_margin_dex: float = 0.15
    """Distance of the true [S II]/Halpha from the H II diagnostic line (skysift choice)."""
    hii_region_fail_fraction: float = 0.25
    """Share of in-region H II spectra whose ratios fail the diagnostic (H II by membership only)."""
    n_regions: int = 60
    """Regions in the synthetic H II catalog (WISE HIICat V2 stand-in), one per cell of a 10 x 6 grid."""
    region_radius_arcsec: tuple[float, float] = (60.0, 600.0)
    """Range of region radii (log-uniform; WISE radii are 10 arcsec to degrees)."""
    region_known_fraction: float = 0.6
    """Share of regions of type K (known); the rest are G, C or Q in equal parts."""
    glon_deg: tuple[float, float] = (155.0, 205.0)
    """Galactic longitude range of the anti-centre field (Lu et al. 2022 Table 2: 159.96-206.32 deg)."""
    glat_deg: tuple[float, float] = (-12.0, 3.0)
    """Galactic latitude range of the anti-centre field (Lu et al. 2022 Table 2: -12.74 ... +3.23 deg)."""
    repeat_fraction: float = 0.03
    """Share of spectra that re-observe an earlier source (Lu et al. 2022: 5828 spectra of 5701 sources)."""
    repeat_offset_arcsec: float = 0.3
    """Position scatter of a repeat observation (skysift choice, below the dedupe radius)."""
    coverage: tuple[float, float, float] = (0.75, 0.7, 0.5)
    """Probability that a galaxy or star is in each reference catalog (cds, sdss, ned); a galaxy in none is
    new (defaults: 3.75 % new; Lu et al. 2022: 108 of 5828 = 1.9 %)."""
    astrometric_sigma_arcsec: float = 0.3
    """Per-axis position scatter of a reference-catalog entry (skysift choice, well inside 3 arcsec)."""
    decoy_fraction: float = 0.3
    """Share of sources with an unrelated reference-catalog neighbour 6-30 arcsec away (tests the radius)."""
    n_templates: int = 4000
    """Template spectra with a published z (Lu et al. 2022: 177,270 LAMOST DR6 GALAXY spectra); >= 3200 so
    that every K of Table 1 fits."""
    templates_mix: TemplateMix = field(default_factory=TemplateMix)
    """Class mix of the templates."""
    template_snr: tuple[float, float] = (20.0, 60.0)
    """Continuum S/N range of the templates (log-uniform; skysift choice)."""
    template_z_err: float = 3e-5
    """Scatter of a template's published z about its true z (skysift choice)."""

    def __post_init__(self):
        require(0 < self.snr_min <= self.snr_max, f"pool.snr_min/snr_max must satisfy 0 < min <= max")
        require(0 < self.z_min < self.z_max < 1, f"pool.z_min/z_max must satisfy 0 < min < max < 1")
        require(self.hii_velocity_kms > 0, "pool.hii_velocity_kms must be > 0")
        require(self.n_regions >= 1, "pool.n_regions must be >= 1")
        lo, hi = self.region_radius_arcsec
        require(0 < lo <= hi <= 1800, f"pool.region_radius_arcsec must satisfy 0 < low <= high <= 1800")
        require(0 <= self.region_known_fraction <= 1, "pool.region_known_fraction must be in [0, 1]")
        require(0 <= self.repeat_fraction < 0.5, "pool.repeat_fraction must be in [0, 0.5)")
        require(len(self.coverage) == len(REFERENCE_CATALOGS) and all(0 <= c <= 1 for c in self.coverage),
                f"pool.coverage must be {len(REFERENCE_CATALOGS)} probabilities ({', '.join(REFERENCE_CATALOGS)})")
        require(0 <= self.decoy_fraction <= 1, "pool.decoy_fraction must be in [0, 1]")
        require(self.n_templates >= 0, "pool.n_templates must be >= 0")
        require(0 < self.template_snr[0] <= self.template_snr[1], "pool.template_snr must be (low, high), 0 < low <= high")
        require(0 <= self.hii_region_fail_fraction <= 1, "pool.hii_region_fail_fraction must be in [0, 1]")
        require(self.glon_deg[0] < self.glon_deg[1] and self.glat_deg[0] < self.glat_deg[1],
                "pool.glon_deg / glat_deg must be (low, high) ranges")
