"""SFR networks: shapes, the per-band CNN's separation, late-fusion weights, early stopping keeps the best weights."""
import dataclasses

import numpy as np
import pytest
import torch

from skysift.models.sfr_config import SfrModelsConfig
from skysift.models.sfr_fusion import EarlyFusionNet, ImageBranch, build_network, late_fusion, predict, train_network

CFG = SfrModelsConfig(cnn_channels=(4, 8), spectrum_hidden=(16, 8), fusion_hidden=(8,), max_epochs=30, patience=3, batch_size=16)


def test_shapes_of_every_network():
    x_img = np.random.default_rng(0).normal(size=(6, 5, 16, 16)).astype(np.float32)
    x_spec = np.random.default_rng(1).normal(size=(6, 11)).astype(np.float32)
    x_ipca = np.random.default_rng(2).normal(size=(6, 7)).astype(np.float32)
    x_phot = np.random.default_rng(3).normal(size=(6, 20)).astype(np.float32)
    x_ivec = np.concatenate([x_ipca, x_phot], axis=1)
    for name, inputs in (("early_fusion", (x_ivec, x_spec)), ("intermediate_fusion", (x_img, x_phot, x_spec)),
                         ("image_cnn_combined", (x_img, x_phot)), ("image_cnn_per_band", (x_img, x_phot)),
                         ("spectrum_mlp", (x_spec,))):
        net = build_network(name, CFG, 5, 7, 11, 11, n_photometry=20)
        assert predict(net, inputs).shape == (6,), name
    # without photometry: the image CNNs take the images alone, the thesis's 150-input early fusion
    assert predict(build_network("image_cnn_combined", CFG, 5, 7, 11, 11), (x_img,)).shape == (6,)
    assert predict(build_network("intermediate_fusion", CFG, 5, 7, 11, 11), (x_img, x_phot[:, :0], x_spec)).shape == (6,)
    with pytest.raises(ValueError, match="no network"):
        build_network("rnn", CFG, 5, 7, 11, 11)


def test_early_fusion_layout_is_the_thesis():
    net = EarlyFusionNet(100, 50)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(150, 128), (128, 64), (64, 1)]
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.3, 0.2]


def test_image_head_and_photometry_reach_the_output():
    net = build_network("image_cnn_combined", CFG, 5, 7, 11, 11, n_photometry=20).eval()
    linears = [m for m in net.head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8 + 20, 64), (64, 1)]  # cfg.image_head_hidden (64,)
    x = torch.randn(3, 5, 16, 16)
    p = torch.randn(3, 20)
    assert (net(x, p) - net(x, p + 1.0)).abs().max() > 0


def test_per_band_branch_keeps_bands_apart():
    torch.manual_seed(0)
    branch = ImageBranch(5, (4, 8), dropout=0.0, per_band=True).eval()
    x = torch.randn(2, 5, 16, 16)
    y = x.clone()
    y[:, 3] = torch.randn(2, 16, 16)  # change band 3 only
    fx, fy = branch(x), branch(y)
    assert fx.shape == (2, 40)
    changed = (fx - fy).abs().reshape(2, 5, 8).amax(dim=(0, 2)) > 0
    assert changed.tolist() == [False, False, False, True, False]
    combined = ImageBranch(5, (4, 8), dropout=0.0, per_band=False).eval()
    assert (combined(x) - combined(y)).abs().max() > 0


def test_late_fusion_weights():
    assert late_fusion([1.0, 2.0], [3.0, 4.0]).tolist() == [2.0, 3.0]
    assert late_fusion([1.0], [3.0], (3, 1)).tolist() == [1.5]


def test_early_stopping_keeps_the_best_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = (x @ rng.normal(size=6)).astype(np.float32)
    xv = rng.normal(size=(50, 6)).astype(np.float32)
    yv = (xv @ rng.normal(size=6)).astype(np.float32)  # another relation: validation loss soon rises
    net = build_network("spectrum_mlp", CFG, 5, 6, 6, 6)
    res = train_network(net, (x,), y, (xv,), yv, CFG, seed=0)
    assert len(res.val_loss) < CFG.max_epochs  # it stopped early
    assert len(res.val_loss) == res.best_epoch + 1 + CFG.patience
    assert res.best_val_loss == pytest.approx(min(res.val_loss))
    assert float(np.mean((predict(res.model, (xv,)) - yv) ** 2)) == pytest.approx(res.best_val_loss, rel=1e-5)
    # it learns a relation that validation shares
    res2 = train_network(build_network("spectrum_mlp", dataclasses.replace(CFG, patience=10), 5, 6, 6, 6), (x,), y, (x[:50],), y[:50], CFG, 0)
    assert res2.best_val_loss < 0.5 * float(np.var(y))
