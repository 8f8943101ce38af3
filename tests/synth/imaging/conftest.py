"""Shared small synthetic imaging surveys (no Spark): a test field is 400 x 600 pixels, not 1489 x 2048."""
from __future__ import annotations

import dataclasses

import pytest

from skysift.synth.imaging.config import ImagingSurveyConfig, PopulationConfig

SEED = 7


def small_config(**kw) -> ImagingSurveyConfig:
    """Three 400 x 600 fields of one camcol, 40 overlapping rows (10 %), SDSS depth and PSF."""
    base = dict(shape_px=(400, 600), field_step_rows=360, n_fields=3)
    base.update(kw)
    return ImagingSurveyConfig(**base)


@pytest.fixture(scope="session")
def seed() -> int:
    return SEED


@pytest.fixture(scope="session")
def make_config():
    """small_config(**overrides) for tests that need their own survey."""
    return small_config


@pytest.fixture(scope="session")
def cfg() -> ImagingSurveyConfig:
    return small_config()


@pytest.fixture(scope="session")
def field(cfg):
    """Field index 1 (the middle one) of the small survey, with noise."""
    from skysift.synth.imaging.frames import render_field

    return render_field(SEED, cfg, 1)


@pytest.fixture(scope="session")
def bright_cfg() -> ImagingSurveyConfig:
    """Noiseless small fields with many bright stars (astrometry and photometry checks)."""
    pop = dataclasses.replace(PopulationConfig(), star_density_per_deg2=20000.0, star_mag_min=14.5, star_mag_max=18.5)
    return small_config(population=pop)


@pytest.fixture(scope="session")
def field_cats(cfg, field):
    from skysift.synth.imaging.catalogs import field_catalogs

    return field_catalogs(SEED, cfg, field)
