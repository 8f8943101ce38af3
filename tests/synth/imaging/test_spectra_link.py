"""The spectra of imaged objects (model.generate with the imaging overrides) agree with the imaging truth."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from astropy.cosmology import FlatLambdaCDM
import astropy.units as u

from skysift.synth import model
from skysift.synth.imaging import catalogs, objects, spectra_link
from skysift.synth.imaging.config import ImagingSurveyConfig, PopulationConfig

SEED = 7
SPEC_SEED = 11


@pytest.fixture(scope="module")
def linked():
    pop = dataclasses.replace(PopulationConfig(), spec_density_per_deg2=3000.0, star_density_per_deg2=0.0,
                              qso_density_per_deg2=0.0, galaxy_density_bright_per_deg2=0.01)
    cfg = ImagingSurveyConfig(population=pop)
    objs = pd.concat([objects.cell_objects(SEED, cfg, 1, k) for k in range(2)], ignore_index=True)
    params = spectra_link.spectral_parameters(objs)
    batch = spectra_link.generate_spectra(SPEC_SEED, params, dataclasses.replace(model.SynthModelConfig(), noiseless=True))
    return objs.set_index("object_id").loc[params["object_id"]], params, batch


def test_spectra_carry_the_objects_identity(linked):
    objs, params, batch = linked
    t = batch.truth
    assert len(t) == len(params) > 100
    np.testing.assert_array_equal(t["spec_id"], catalogs.spec_id(params["object_id"]))
    np.testing.assert_array_equal(t["target_class"], objs["spec_class"])
    np.testing.assert_allclose(t["z"], objs["z"], rtol=0, atol=0)
    np.testing.assert_allclose(t["ra_deg"], objs["ra"], atol=0)
    np.testing.assert_allclose(t["dec_deg"], objs["dec"], atol=0)
    np.testing.assert_allclose(t["flux_5500"], params["flux_5500"], rtol=1e-6)
    assert set(t["class"]) == {"GALAXY", "QSO", "STAR"}
    stars = (t["class"] == "STAR").to_numpy()
    np.testing.assert_array_equal(t["subclass"][stars], [model.STAR_TYPES[i][0] for i in objs["star_type"][stars]])


def test_sfr_truth_is_kennicutt_of_the_spectrum_halpha(linked):
    objs, params, batch = linked
    t = batch.truth
    ha = np.isin(t["target_class"], ("star_forming", "composite"))
    assert ha.sum() > 50
    # Independent reference: astropy's cosmology (MPA-JHU's H0 = 70, Om = 0.3) and the formulas typed here.
    d_l = FlatLambdaCDM(H0=70, Om0=0.3).luminosity_distance(objs["z"].to_numpy()[ha]).to(u.cm).value
    a_v = objs["a_v_mag"].to_numpy()[ha]
    f_fibre = t["flux_ha_6563"].to_numpy(np.float64)[ha] * 1e-17
    f_total = f_fibre / objs["fiber_fraction"].to_numpy()[ha]
    lum = 4 * np.pi * d_l**2 * f_total * 10 ** (0.4 * a_v * (6564.61 / 5500.0) ** -0.7)
    np.testing.assert_allclose(7.9e-42 * lum, 10 ** objs["log_sfr"].to_numpy()[ha], rtol=1e-5)
    np.testing.assert_allclose(
        spectra_link.sfr_from_fibre_halpha(t["flux_ha_6563"].to_numpy()[ha], objs["z"].to_numpy()[ha], a_v, objs["fiber_fraction"].to_numpy()[ha]),
        10 ** objs["log_sfr"].to_numpy()[ha], rtol=1e-5)
    # The Balmer decrement of the spectrum gives back the imaging truth's A_V (Case B 2.86, Charlot & Fall).
    dec = t["flux_ha_6563"].to_numpy(np.float64)[ha] / t["flux_hb_4861"].to_numpy(np.float64)[ha]
    a_v_back = 2.5 * np.log10(dec / 2.86) / ((4862.68 / 5500) ** -0.7 - (6564.61 / 5500) ** -0.7)
    np.testing.assert_allclose(a_v_back, a_v, atol=1e-4)
    # Halpha equivalent widths of star formers land where SDSS star-forming galaxies are (~3-300 A).
    z = objs["z"].to_numpy()[ha]
    kk = np.rint(model.pix_of(6564.61 * (1 + z))).astype(int)
    cont = np.array([np.median(np.r_[batch.model[i, k - 40 : k - 15], batch.model[i, k + 15 : k + 40]]) for i, k in zip(np.flatnonzero(ha), kk)])
    ew_rest = f_fibre * 1e17 / cont / (1 + z)
    assert np.all((ew_rest > 3) & (ew_rest < 300)), np.percentile(ew_rest, [0, 50, 100])


def test_other_classes_keep_the_models_lines(linked):
    objs, params, batch = linked
    t = batch.truth
    passive = (t["target_class"] == "passive").to_numpy()
    assert passive.sum() > 5 and (t["flux_ha_6563"][passive] == 0).all()
    agn = np.isin(t["target_class"], ("seyfert", "liner"))
    assert agn.sum() > 3 and (t["bpt_class"][agn] == t["target_class"][agn]).all()
    assert np.isnan(params["flux_ha_6563"].to_numpy()[agn | passive]).all()


def test_no_overrides_changes_nothing():
    rows = np.arange(30)
    cfg = model.SynthModelConfig()
    a = model.generate(rows, 5, cfg)
    b = model.generate(rows, 5, cfg, overrides={})
    np.testing.assert_array_equal(a.flux, b.flux)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    with pytest.raises(ValueError, match="unknown classes"):
        model.generate(rows[:2], 5, cfg, overrides={"target_class": np.array(["spiral", ""], dtype=object)})
