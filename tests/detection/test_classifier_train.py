"""Conv4Net training: learns a colour-coded toy set, keeps the best-validation weights, batched prediction."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.models.conv4net import Conv4NetConfig
from skysift.detection.classifier_train import ClassifierTrainConfig, _evaluate, predict_proba, prepare, train_conv4net


def _toy(n_per_class, rng):
    """Point-like blobs whose band ratios give the class (as QSO vs star colours), random position and brightness."""
    yy, xx = np.mgrid[0:48, 0:48]
    colours = np.array([[1.0, 0.3, 0.3], [0.3, 1.0, 0.3], [0.3, 0.3, 1.0]])
    x, y = [], []
    for c in range(3):
        for _ in range(n_per_class):
            cx, cy = rng.uniform(18, 30, 2)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * rng.uniform(2, 5) ** 2))
            img = colours[c][:, None, None] * blob[None] * rng.uniform(1, 10) + rng.normal(0, 0.05, (3, 48, 48))
            x.append(img.astype(np.float32))
            y.append(c)
    return np.stack(x), np.array(y)


@pytest.mark.slow  # ~20-100 s on the shared 2-core machine
def test_learns_colours_and_keeps_best():
    rng = np.random.default_rng(0)
    xt, yt = _toy(24, rng)
    xv, yv = _toy(10, rng)
    # a narrow Conv4Net: the training logic is under test, and the shared CPU is slow (the paper size is tested in tests/models)
    small = Conv4NetConfig(channels=(8, 16, 16, 16), hidden=(32, 16))
    cfg = ClassifierTrainConfig(epochs=6, patience=6, batch_size=8, lr=3e-3, device="cpu", model=small)
    res = train_conv4net(xt, yt, xv, yv, cfg)
    losses = [h["val_loss"] for h in res.history]
    assert res.best_val_loss == pytest.approx(min(losses))
    assert res.best_epoch == int(np.argmin(losses)) + 1
    loss, acc = _evaluate(res.model, prepare(xv, res.mean, res.sd), yv, 64, "cpu")
    assert loss == pytest.approx(res.best_val_loss, rel=1e-4)
    assert acc >= 0.9
    p = predict_proba(res.model, xv, res.mean, res.sd, batch_size=7)
    assert p.shape == (30, 3)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(p, predict_proba(res.model, xv, res.mean, res.sd, batch_size=1000), atol=1e-5)


def test_lr_schedules():
    from skysift.config import ConfigError
    from skysift.detection.classifier_train import lr_at

    const = ClassifierTrainConfig(epochs=4, lr=1e-3)
    assert [lr_at(s, 10, const) for s in (0, 17, 39)] == [1e-3] * 3
    cos = ClassifierTrainConfig(epochs=4, lr=1e-3, lr_schedule="cosine")
    assert lr_at(0, 10, cos) == pytest.approx(1e-3)
    assert lr_at(20, 10, cos) == pytest.approx(0.5e-3)  # half way: cos(pi / 2)
    assert lr_at(30, 10, cos) == pytest.approx(0.5e-3 * (1 + np.cos(0.75 * np.pi)))
    assert lr_at(40, 10, cos) == pytest.approx(0.0, abs=1e-12)
    warm = ClassifierTrainConfig(epochs=5, lr=1e-3, lr_schedule="cosine", warmup_epochs=1)
    assert [lr_at(s, 10, warm) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert lr_at(30, 10, warm) == pytest.approx(0.5e-3)  # half of the 40 steps after the warm-up
    with pytest.raises(ConfigError, match="lr_schedule"):
        ClassifierTrainConfig(lr_schedule="step")
    with pytest.raises(ConfigError, match="warmup_epochs"):
        ClassifierTrainConfig(epochs=3, warmup_epochs=3)


def test_channels_last_inference_equals_the_plain_layout():
    """predict_proba feeds channels-last batches (faster on oneDNN): the probabilities are the plain layout's."""
    import torch

    from skysift.models.conv4net import Conv4Net

    torch.manual_seed(3)
    model = Conv4Net().eval()
    raw = np.random.default_rng(3).gamma(2.0, 1.0, (40, 3, 48, 48)).astype(np.float32)
    mean, sd = np.array([0.1, 0.2, 0.3], np.float32), np.array([1.0, 1.1, 0.9], np.float32)
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(np.ascontiguousarray(prepare(raw, mean, sd)))), dim=1).numpy()
    got = predict_proba(model, raw, mean, sd, batch_size=16)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert all(p.is_contiguous() for p in model.parameters())  # the caller's model is left as it was
