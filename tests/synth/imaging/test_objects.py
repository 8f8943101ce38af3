"""The object list: colours (stars vs QSOs), the QSO fraction of spectroscopic targets, counts, ids, cells."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from skysift.synth.imaging import geometry as geo
from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import objects
from skysift.synth.imaging.config import PopulationConfig

SEED = 7


def _cells(cfg, ks, camcol=1):
    return pd.concat([objects.cell_objects(SEED, cfg, camcol, k) for k in ks], ignore_index=True)


@pytest.fixture(scope="module")
def points(make_config):
    pop = dataclasses.replace(PopulationConfig(), qso_density_per_deg2=20000.0, star_density_per_deg2=20000.0,
                              galaxy_density_bright_per_deg2=0.01, spec_density_per_deg2=0.0)
    return _cells(make_config(population=pop), range(10))


@pytest.fixture(scope="module")
def spectroscopic():
    from skysift.synth.imaging.config import ImagingSurveyConfig

    pop = dataclasses.replace(PopulationConfig(), qso_density_per_deg2=0.0, star_density_per_deg2=0.0,
                              galaxy_density_bright_per_deg2=0.01, spec_density_per_deg2=20000.0)
    return _cells(ImagingSurveyConfig(population=pop), range(3))


def test_stars_and_qsos_separate_in_colour_not_in_r(points):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    df = points[(points["mag_r"] > 17) & (points["mag_r"] < 22.5)]
    s, q = df[df["class"] == "STAR"], df[df["class"] == "QSO"]
    n = min(len(s), len(q))
    assert n > 300
    both = pd.concat([s.sample(n, random_state=0), q.sample(n, random_state=0)])
    y = (both["class"] == "QSO").to_numpy()
    colours = np.column_stack([both["mag_u"] - both["mag_g"], both["mag_g"] - both["mag_r"]])
    knn = KNeighborsClassifier(n_neighbors=25)
    acc_colour = cross_val_score(knn, colours, y, cv=5).mean()
    acc_r = cross_val_score(knn, both[["mag_r"]].to_numpy(), y, cv=5).mean()
    assert acc_colour > 0.93
    assert acc_r < 0.6  # balanced classes: r alone is close to a coin toss
    # The UV excess: QSOs below z = 2.2 have u - g < 0.6, the stellar locus sits above 0.7 (Richards et al. 2002).
    lowz = q[q["z"] < 2.2]
    assert np.mean(lowz["mag_u"] - lowz["mag_g"] < 0.6) > 0.95
    assert np.mean(s["mag_u"] - s["mag_g"] > 0.6) > 0.95


def test_one_qso_in_eleven_among_spectroscopic_galaxies_and_qsos(spectroscopic):
    sp = spectroscopic[spectroscopic["is_spec"]]
    n_gal, n_qso = (sp["class"] == "GALAXY").sum(), (sp["class"] == "QSO").sum()
    n = n_gal + n_qso
    p = 1 / 11
    assert n > 1000
    assert abs(n_qso / n - p) < 3 * np.sqrt(p * (1 - p) / n)
    gal = sp[sp["class"] == "GALAXY"]
    assert gal["mag_r"].between(14.5, 17.77).all() and gal["z"].between(0.01, 0.33).all()
    assert set(sp["zwarning"].unique()) <= {0, 4} and (sp["zwarning"] == 4).mean() == pytest.approx(0.04, abs=0.015)


def test_sfr_follows_colour_and_size(spectroscopic):
    g = spectroscopic[spectroscopic["is_spec"] & (spectroscopic["class"] == "GALAXY")]
    # Colour: bluer galaxies form stars faster per unit mass.
    assert spearmanr(g["log_ssfr"], g["mag_g"] - g["mag_r"])[0] < -0.8
    # Size: among star formers, bigger (kpc) galaxies are more massive and form more stars.
    sf = g[g["log_ssfr"] > -11]
    re_kpc = sf["re_arcsec"] * G.kpc_per_arcsec(sf["z"].to_numpy())
    assert spearmanr(sf["log_sfr"], np.log10(re_kpc))[0] > 0.15
    # The spread of log SFR in a flux-limited sample (Rustamov 2025 imply ~0.7 dex).
    assert 0.5 < g["log_sfr"].std() < 1.2


def test_galaxy_density_and_counts(make_config):
    cfg = make_config()
    df = _cells(cfg, range(20))
    area = sum(geo.cell_area_deg2(cfg, 1, k) for k in range(20))
    gal = df[(df["class"] == "GALAXY") & ~df["is_spec"] & (df["blend_host_id"] < 0)]
    n_bright = (gal["mag_r"] < 17.77).sum()
    expected = cfg.population.galaxy_density_bright_per_deg2 * area
    assert abs(n_bright - expected) < 4 * np.sqrt(expected) + 1
    # Faint counts: d log N / dm = 0.35 beyond r = 20.
    faint = gal["mag_r"].to_numpy()
    n1, n2 = ((faint > 21) & (faint < 22)).sum(), ((faint > 22) & (faint < 23)).sum()
    assert np.log10(n2 / n1) == pytest.approx(0.35, abs=0.08)


def test_ids_unique_cells_independent_and_inside_bounds(make_config):
    cfg = make_config()
    a = objects.cell_objects(SEED, cfg, 1, 4)
    objects._cell_objects_cached.cache_clear()
    b = objects.cell_objects(SEED, cfg, 1, 4)
    pd.testing.assert_frame_equal(a, b)
    both = _cells(cfg, range(-1, 6))
    assert both["object_id"].is_unique
    ra_lo, ra_hi, dec_lo, dec_hi = geo.cell_bounds_deg(cfg, 1, 4)
    assert a["ra"].between(ra_lo, ra_hi).all() and a["dec"].between(dec_lo, dec_hi).all()
    assert (a["object_id"] // 1_000_000 % 100_000 == 5).all()  # k + 1


def test_survey_objects_cover_the_run_once(make_config):
    cfg = make_config()
    so = objects.survey_objects(SEED, cfg)
    assert so["object_id"].is_unique
    assert set(so["primary_field_index"].unique()) == {0, 1, 2}
    assert so["cell"].between(-1, cfg.n_fields).all()
