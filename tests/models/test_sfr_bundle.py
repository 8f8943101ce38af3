"""A saved SFR model predicts what the trained one predicted, and refuses another resolution / quality level."""
import numpy as np
import pytest

from skysift.models.sfr_bundle import SfrBundle, save_bundle
from skysift.models.sfr_config import SfrModelsConfig
from skysift.models.sfr_data import SfrArrays
from skysift.models.sfr_training import train_models

CFG = SfrModelsConfig(image_px=8, image_pca_components=8, spectrum_pca_components=4, cnn_channels=(4,),
                      spectrum_hidden=(8, 8), fusion_hidden=(8,), max_epochs=3, patience=2, gb_estimators=5)


def _arrays(n=40):
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.7, n)
    px = (rng.normal(0, 0.05, (n, 5, 8, 8)) + y[:, None, None, None] * 0.1).astype(np.float32)
    flux = (rng.normal(1, 0.1, (n, 24)) + y[:, None]).astype(np.float32)
    return SfrArrays(np.arange(n), px, flux, rng.normal(0, 0.1, n), y, np.array(["GALAXY"] * (n - 4) + ["QSO"] * 4, dtype=object),
                     z=rng.uniform(0.02, 0.2, n))


def test_saved_models_predict_as_trained(tmp_path):
    a = _arrays()
    run = train_models(a, CFG, seed=0, models=("early_fusion", "intermediate_fusion", "late_fusion", "gradient_boosting"))
    test = a.take(run.split["test"])
    for name in ("early_fusion", "intermediate_fusion", "late_fusion", "gradient_boosting"):
        bundle = SfrBundle(save_bundle(tmp_path / name, name, run, CFG))
        np.testing.assert_allclose(bundle.predict(test), run.predictions[name]["test"], rtol=1e-5, atol=1e-6)
    assert set(run.reports["late_fusion"]) == {"val", "test", "test_galaxies"}


def test_other_resolution_is_refused(tmp_path):
    a = _arrays()
    run = train_models(a, CFG, seed=0, models=("decision_tree",))
    bundle = SfrBundle(save_bundle(tmp_path / "dt", "decision_tree", run, CFG))
    other = SfrArrays(a.object_id, a.pixels[:, :, :4, :4], a.flux, a.log_norm, a.log_sfr, a.obj_class, z=a.z)
    with pytest.raises(ValueError, match="trained on 8 px images and spectral quality level 0"):
        bundle.predict(other)


class Foreign:
    """A type no SFR bundle holds (a stand-in for anything a stranger's file could ask to rebuild)."""


def test_bundle_files_are_not_pickles_and_foreign_content_is_refused(tmp_path):
    """A bundle holds skops files; one whose file carries a type an SFR bundle never holds, or an old pickled
    bundle, is refused with a message naming the file instead of being unpickled."""
    import pickle

    import skops.io as sio

    from skysift.runtime.tracking import ModelNotFoundError

    a = _arrays()
    run = train_models(a, CFG, seed=0, models=("decision_tree",))
    folder = save_bundle(tmp_path / "dt", "decision_tree", run, CFG)
    assert sorted(p.name for p in folder.iterdir()) == ["decision_tree.skops", "features.skops", "meta.json"]
    for p in folder.glob("*.skops"):
        with pytest.raises(Exception):
            pickle.loads(p.read_bytes())  # a zip of JSON schema + arrays, not a pickle
    sio.dump(Foreign(), folder / "decision_tree.skops")
    with pytest.raises(ModelNotFoundError, match="decision_tree.skops: holds types an SFR bundle never holds"):
        SfrBundle(folder)
    (folder / "decision_tree.skops").unlink()
    (folder / "decision_tree.pkl").write_bytes(pickle.dumps(run.models["decision_tree"]))
    with pytest.raises(ModelNotFoundError, match="older skysift"):
        SfrBundle(folder)
