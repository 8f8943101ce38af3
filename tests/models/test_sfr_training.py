"""train_models on the synthetic multimodal set: every model trains, the champion is the lowest validation MSE,
and the fusion-vs-single-modality ordering (mean test R2 over seeds) is reported; only what held when measured
(2026-12-01, numbers in the session report) is asserted."""
import numpy as np
import pytest

from skysift.models.sfr_config import SfrModelsConfig
from skysift.models.sfr_data import make_arrays
from skysift.models.sfr_training import champion, train_models

# Small CPU settings (the profile the measurement used): 16 px images, quality level 3 (8x binned spectra).
CFG = SfrModelsConfig(image_px=16, quality_level=3, max_epochs=40, patience=8, gb_estimators=100, cnn_channels=(8, 16, 32))


@pytest.fixture(scope="module")
def arrays():
    from skysift.synth.imaging.multimodal import multimodal_set

    m = multimodal_set(seed=7, n_objects=600)
    sp = m.spectra
    flux = np.stack(sp.column("flux").to_numpy(zero_copy_only=False))
    ivar = np.stack(sp.column("ivar").to_numpy(zero_copy_only=False))
    lab = m.mpajhu.to_pandas()
    keep = np.flatnonzero((lab.FLAG == 0).to_numpy())[:400]
    return make_arrays(m.object_id, m.pixels, flux, ivar, sp.column("norm_factor").to_numpy(), lab.AVG.to_numpy(),
                       lab["class"].to_numpy(), CFG.image_px, CFG.quality_level).take(keep)


@pytest.mark.slow
def test_fusions_against_single_modality(arrays):
    r2 = {}
    # Seed 0 only: the mean over seeds 0-2 was still being measured at the session's end (seed 1 so far agrees
    # for the baselines, early fusion and the spectrum MLP; see the report). Add seeds once measured.
    for seed in (0,):
        run = train_models(arrays, CFG, seed)
        assert champion(run) == min(run.val_loss, key=run.val_loss.get)
        for name, rep in run.reports.items():
            r2.setdefault(name, []).append(rep["test"]["r2"])
    mean = {k: float(np.mean(v)) for k, v in r2.items()}
    print({k: round(v, 3) for k, v in mean.items()})
    single = max(mean["image_cnn_combined"], mean["image_cnn_per_band"], mean["spectrum_mlp"])
    assert mean["late_fusion"] > single
    assert all(v > 0.3 for v in mean.values())  # every model learns the synthetic SFR
