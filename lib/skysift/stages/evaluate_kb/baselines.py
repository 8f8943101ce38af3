"""Baselines trained on the same split as the KB: a random forest and a small 1-D CNN on the flux.

Both see the resampled flux (optionally averaged over ``bin_pixels`` adjacent
pixels to keep CPU time small), standardised per pixel with training-set
statistics. Neither is tuned: they are the reference points of Tang et al. 2025's
comparison, not competitors we try to beat by tuning.
"""
from __future__ import annotations

import numpy as np


def bin_flux(flux: np.ndarray, bin_pixels: int) -> np.ndarray:
    """Average ``bin_pixels`` adjacent pixels (the tail that does not fill a bin is dropped); NaN -> 0."""
    f = np.nan_to_num(np.asarray(flux, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if bin_pixels <= 1:
        return f
    n = (f.shape[1] // bin_pixels) * bin_pixels
    return f[:, :n].reshape(f.shape[0], -1, bin_pixels).mean(axis=2)


def random_forest_predict(train_x, train_y, test_x, n_estimators: int = 200, seed: int = 0,
                          n_jobs: int = 2) -> np.ndarray:
    """Fit scikit-learn's RandomForestClassifier on (train_x, train_y); predict test_x."""
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
    rf.fit(train_x, np.asarray(train_y, dtype=str))
    return rf.predict(test_x).astype(object)


def _cnn(n_classes: int, channels: int):
    import torch.nn as nn

    c = channels
    return nn.Sequential(
        nn.Conv1d(1, c, 7, padding=3), nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(c, 2 * c, 5, padding=2), nn.BatchNorm1d(2 * c), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(2 * c, 2 * c, 5, padding=2), nn.BatchNorm1d(2 * c), nn.ReLU(), nn.AdaptiveMaxPool1d(8),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * c, n_classes),
    )


def cnn_predict(train_x, train_y, test_x, epochs: int = 15, batch_size: int = 64, lr: float = 1e-3,
                channels: int = 16, seed: int = 0, threads: int = 2) -> np.ndarray:
    """Train a small 1-D CNN classifier (CPU) on standardised flux; predict test_x."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    classes, y = np.unique(np.asarray(train_y, dtype=str), return_inverse=True)
    mu = train_x.mean(axis=0, keepdims=True)
    sd = train_x.std(axis=0, keepdims=True) + 1e-6
    xt = torch.from_numpy(((train_x - mu) / sd).astype(np.float32)).unsqueeze(1)
    yt = torch.from_numpy(y.astype(np.int64))
    model = _cnn(len(classes), channels)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch_size):
            idx = perm[start:start + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    xs = torch.from_numpy(((test_x - mu) / sd).astype(np.float32)).unsqueeze(1)
    with torch.no_grad():
        pred = torch.cat([model(xs[i:i + 1024]).argmax(1) for i in range(0, len(xs), 1024)]).numpy()
    return classes[pred].astype(object)
