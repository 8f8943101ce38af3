"""Quality checks of a pre-trained encoder (Tang et al. 2025's pre-text task and embedding use).

* masked-patch MSE of the encoder vs two linear-interpolation baselines on the
  same masks, MSE over the masked patches' points as in the loss:
  - patch interpolation (the issue's gate): each masked patch predicted as the
    linear interpolation, in patch index, of its nearest unmasked neighbour
    patches;
  - point interpolation (a much stronger baseline): points that some unmasked
    patch covers are visible to the encoder too (patches overlap by O points), so
    the baseline takes them exactly and interpolates only the points no unmasked
    patch covers.
* kNN (K=3) class accuracy on the embeddings vs on PCA of the flux at the same
  dimension (5-fold stratified cross-validation).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from skysift.models.spectrum_encoder import SpectrumEncoder, masked_mse, random_mask
from skysift.spectra.patches import patch_starts, patchify


def visible_points(mask: np.ndarray, n_points: int, patch_size: int, overlap: int) -> np.ndarray:
    """(B, S) bool: points covered by at least one unmasked patch."""
    starts = patch_starts(n_points, patch_size, overlap)
    cover = np.zeros((mask.shape[0], n_points + 1), np.int32)
    rows, cols = np.nonzero(~mask)
    np.add.at(cover, (rows, starts[cols]), 1)
    np.add.at(cover, (rows, starts[cols] + patch_size), -1)
    return np.cumsum(cover, axis=1)[:, :n_points] > 0


def interpolation_prediction(flux: np.ndarray, mask: np.ndarray, patch_size: int, overlap: int) -> np.ndarray:
    """(B, S) flux with hidden points replaced by linear interpolation of the visible ones."""
    n_points = flux.shape[1]
    vis = visible_points(mask, n_points, patch_size, overlap)
    x = np.arange(n_points)
    out = flux.astype(np.float64).copy()
    for i in range(len(flux)):  # evaluation only: np.interp has no batched form
        v = vis[i]
        if v.any() and not v.all():
            out[i, ~v] = np.interp(x[~v], x[v], flux[i, v])
    return out


def patch_interpolation_prediction(patches: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(B, N, P) patches with each masked patch replaced by the linear interpolation, in patch index, of the
    nearest unmasked patch on each side (the one side's patch at the ends; unchanged when none is unmasked)."""
    b, n, _ = patches.shape
    idx = np.broadcast_to(np.arange(n), (b, n))
    left = np.maximum.accumulate(np.where(~mask, idx, -1), axis=1)
    right = np.minimum.accumulate(np.where(~mask, idx, n)[:, ::-1], axis=1)[:, ::-1]
    has_l, has_r = left >= 0, right < n
    li, ri = np.clip(left, 0, n - 1), np.clip(right, 0, n - 1)
    span = np.where(has_l & has_r, np.maximum(right - left, 1), 1)
    w_r = np.where(has_l & has_r, (idx - left) / span, np.where(has_r, 1.0, 0.0))
    rows = np.arange(b)[:, None]
    pred = (1 - w_r)[..., None] * patches[rows, li] + w_r[..., None] * patches[rows, ri]
    keep = ~mask | ~(has_l | has_r)
    return np.where(keep[..., None], patches, pred)


def patch_interpolation_mse(flux: np.ndarray, mask: np.ndarray, patch_size: int, overlap: int) -> float:
    """Masked-patch MSE of predicting each masked patch from its nearest unmasked neighbour patches."""
    target = patchify(flux.astype(np.float64), patch_size, overlap)
    pred = patch_interpolation_prediction(np.ascontiguousarray(target), mask)
    return float(((pred - target) ** 2).mean(-1)[mask].mean())


def interpolation_mse(flux: np.ndarray, mask: np.ndarray, patch_size: int, overlap: int) -> float:
    """Masked-patch MSE of the interpolation baseline (same averaging as ``masked_mse``)."""
    pred = patchify(interpolation_prediction(flux, mask, patch_size, overlap), patch_size, overlap)
    target = patchify(flux.astype(np.float64), patch_size, overlap)
    per_patch = ((pred - target) ** 2).mean(-1)
    return float(per_patch[mask].mean())


@torch.no_grad()
def masked_mse_vs_interpolation(model: SpectrumEncoder, flux: np.ndarray, seed: int = 0,
                                batch_size: int = 64) -> dict[str, float]:
    """Encoder masked MSE and interpolation MSE on the same random masks."""
    model.eval()
    cfg = model.cfg
    gen = torch.Generator().manual_seed(seed)
    mask = random_mask(len(flux), cfg, gen).numpy()
    total = 0.0
    for i in range(0, len(flux), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(flux[i : i + batch_size], dtype=np.float32))
        m = torch.from_numpy(mask[i : i + batch_size])
        total += float(masked_mse(model(x, m), model.patches(x), m)) * int(m.sum())
    return {"encoder_masked_mse": total / int(mask.sum()),
            "patch_interpolation_masked_mse": patch_interpolation_mse(flux, mask, cfg.patch_size, cfg.overlap),
            "point_interpolation_masked_mse": interpolation_mse(flux, mask, cfg.patch_size, cfg.overlap)}


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 3, seed: int = 0) -> float:
    """Mean 5-fold stratified cross-validated accuracy of a K-nearest-neighbour classifier."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(n_neighbors=k), features, labels, cv=folds).mean())


def pca_features(flux: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """PCA projection of the flux to ``dim`` components."""
    from sklearn.decomposition import PCA

    return PCA(n_components=dim, random_state=seed).fit_transform(flux)


@torch.no_grad()
def embed_array(model: SpectrumEncoder, flux: np.ndarray, pooling: str = "mean", batch_size: int = 64) -> np.ndarray:
    """Embeddings of a (B, S) array."""
    model.eval()
    out = [model.embed(torch.from_numpy(np.ascontiguousarray(flux[i : i + batch_size], dtype=np.float32)), pooling)
           for i in range(0, len(flux), batch_size)]
    return torch.cat(out).numpy()


def evaluate(model: SpectrumEncoder, flux: np.ndarray, labels: np.ndarray, k: int = 3, seed: int = 0) -> dict[str, Any]:
    """All quality numbers for one model on one labelled sample."""
    result: dict[str, Any] = masked_mse_vs_interpolation(model, flux, seed)
    emb = embed_array(model, flux)
    dim = emb.shape[1]
    result["knn_embedding"] = knn_accuracy(emb, labels, k, seed)
    result["knn_pca"] = knn_accuracy(pca_features(flux, min(dim, len(flux) - 1, flux.shape[1]), seed), labels, k, seed)
    result.update({"k": k, "dim": dim, "n": int(len(flux))})
    return result


def evaluate_table(checkpoint: str, spectra: str, label_columns: dict[str, str] | None = None,
                   truth: str | None = None, n_max: int = 1000, val_fraction: float = 0.0, k: int = 3,
                   seed: int = 0, untrained_seed: int | None = None) -> dict[str, Any]:
    """Quality numbers of a model (checkpoint path or model URI) on a spectra table.

    ``label_columns`` maps a report name to a column of the spectra table or, when
    ``truth`` is given, of the truth table joined on spec_id (e.g. {'class': 'class',
    'target_class': 'target_class'}). With ``val_fraction`` > 0 only the held-out
    validation rows of pre-training (same spec_id hash) are used. With ``untrained_seed`` the same numbers
    for the same architecture at its initial weights (``torch.manual_seed(untrained_seed)``) are added as
    ``untrained_masked_mse`` and ``knn_untrained_<name>``: what training bought.
    """
    import pyarrow as pa

    from skysift.runtime.output import read_table
    from skysift.runtime import tracking
    from skysift.io.parquet_stream import flux_matrix, split_hash

    info = tracking.resolve_model(checkpoint)
    model = tracking.load_encoder(info)
    table = read_table(spectra, ["spec_id", "flux", "class"])
    if val_fraction > 0:
        table = table.filter(pa.array(split_hash(table.column("spec_id")) < val_fraction))
    flux = flux_matrix(table.column("flux"), model.cfg.n_points)
    ok = np.isfinite(flux).all(1)
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(ok)
    idx = np.sort(rng.choice(idx, size=min(n_max, len(idx)), replace=False))
    flux = flux[idx]
    meta = table.take(pa.array(idx)).drop_columns(["flux"]).to_pandas()
    if truth:
        meta = meta.merge(read_table(truth).to_pandas(), on="spec_id", how="left", suffixes=("", "_truth"))
    result: dict[str, Any] = masked_mse_vs_interpolation(model, flux, seed)
    emb = embed_array(model, flux)
    pca = pca_features(flux, min(emb.shape[1], len(flux) - 1), seed)
    labels = {name: meta[col].astype(str).to_numpy() for name, col in (label_columns or {"class": "class"}).items()}
    for name, y in labels.items():
        result[f"knn_embedding_{name}"] = knn_accuracy(emb, y, k, seed)
        result[f"knn_pca_{name}"] = knn_accuracy(pca, y, k, seed)
    if untrained_seed is not None:
        with torch.random.fork_rng(devices=[]):  # the caller's random stream stays where it was
            torch.manual_seed(untrained_seed)
            untrained = type(model)(model.cfg).eval()
        result["untrained_masked_mse"] = masked_mse_vs_interpolation(untrained, flux, seed)["encoder_masked_mse"]
        emb_untrained = embed_array(untrained, flux)
        for name, y in labels.items():
            result[f"knn_untrained_{name}"] = knn_accuracy(emb_untrained, y, k, seed)
    result.update({"k": k, "dim": int(emb.shape[1]), "n": int(len(flux))})
    return result
