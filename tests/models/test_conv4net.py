"""Conv4Net: the paper's parameter count, layer shapes, and CBAM against its formula written out in numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skysift.config import ConfigError
from skysift.models.conv4net import CBAM, PAPER_PARAMETERS, Conv4Net, Conv4NetConfig, count_parameters


def test_parameter_count_is_the_papers():
    assert PAPER_PARAMETERS == 1_635_749
    assert count_parameters(Conv4Net()) == 1_635_749


def test_cbam_has_no_bias_and_1122_parameters():
    cbam = Conv4Net().cbam
    assert count_parameters(cbam) == 64 * 8 + 8 * 64 + 2 * 49
    assert all("bias" not in name for name, _ in cbam.named_parameters())
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in Conv4Net().modules())


def test_shapes_48_to_3_and_logits():
    net = Conv4Net().eval()
    x = torch.randn(5, 3, 48, 48)
    assert net.features(x).shape == (5, 256, 3, 3)
    assert net(x).shape == (5, 3)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _cbam_numpy(x: np.ndarray, w1: np.ndarray, w2: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Woo et al. 2018 written out: x (N,C,H,W), w1 (C/r, C), w2 (C, C/r), k (2, K, K)."""
    def mlp(v):  # v (N, C)
        return np.maximum(v @ w1.T, 0.0) @ w2.T

    gate_c = _sigmoid(mlp(x.mean(axis=(2, 3))) + mlp(x.max(axis=(2, 3))))
    y = x * gate_c[:, :, None, None]
    maps = np.stack([y.mean(axis=1), y.max(axis=1)], axis=1)  # (N, 2, H, W)
    kk = k.shape[-1]
    pad = kk // 2
    padded = np.pad(maps, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, h, w = maps.shape
    conv = np.zeros((n, h, w))
    for c in range(2):
        for i in range(kk):
            for j in range(kk):
                conv += k[c, i, j] * padded[:, c, i : i + h, j : j + w]  # cross-correlation, as torch
    return y * _sigmoid(conv)[:, None, :, :]


def test_cbam_matches_formula():
    torch.manual_seed(3)
    cbam = CBAM(16, reduction=4, kernel_px=7).double()
    x = torch.randn(2, 16, 9, 11, dtype=torch.float64)
    got = cbam(x).detach().numpy()
    w1 = cbam.channel.mlp[0].weight.detach().numpy()[:, :, 0, 0]
    w2 = cbam.channel.mlp[2].weight.detach().numpy()[:, :, 0, 0]
    k = cbam.spatial.conv.weight.detach().numpy()[0]
    np.testing.assert_allclose(got, _cbam_numpy(x.numpy(), w1, w2, k), rtol=1e-10, atol=1e-12)


def test_cbam_position_changes_output_not_count():
    torch.manual_seed(0)
    a = Conv4Net(Conv4NetConfig(cbam_position="after_relu")).eval()
    b = Conv4Net(Conv4NetConfig(cbam_position="before_relu")).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 48, 48)
    assert count_parameters(b) == PAPER_PARAMETERS
    assert not torch.allclose(a(x), b(x))


@pytest.mark.parametrize("kwargs", [{"image_px": 50}, {"cbam_reduction": 7}, {"cbam_position": "middle"}, {"dropout": 1.0}])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        Conv4NetConfig(**kwargs)
