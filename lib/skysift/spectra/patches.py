"""Cut a spectrum into overlapping patches (Tang et al. 2025: P=15 points, overlap O=10).

The number of patches is N = floor((S - P) / (P - O)) + 1; trailing points that do
not fill a whole patch are dropped, as in the paper (S=3688 -> N=735, the last
patch ends at point 3684).
"""
from __future__ import annotations

import numpy as np


def n_patches(n_points: int, patch_size: int, overlap: int) -> int:
    """N = floor((S - P) / (P - O)) + 1 for S points, patch size P and overlap O."""
    stride = patch_size - overlap
    if stride <= 0:
        raise ValueError(f"overlap ({overlap}) must be smaller than patch_size ({patch_size})")
    if n_points < patch_size:
        raise ValueError(f"spectrum of {n_points} points is shorter than one patch ({patch_size})")
    return (n_points - patch_size) // stride + 1


def patch_starts(n_points: int, patch_size: int, overlap: int) -> np.ndarray:
    """Index of the first point of every patch."""
    return np.arange(n_patches(n_points, patch_size, overlap)) * (patch_size - overlap)


def patchify(flux: np.ndarray, patch_size: int, overlap: int) -> np.ndarray:
    """(..., S) array -> (..., N, P) read-only strided view of the overlapping patches."""
    flux = np.asarray(flux)
    n = n_patches(flux.shape[-1], patch_size, overlap)
    windows = np.lib.stride_tricks.sliding_window_view(flux, patch_size, axis=-1)
    return windows[..., : (n - 1) * (patch_size - overlap) + 1 : patch_size - overlap, :]


def patchify_torch(flux, patch_size: int, overlap: int):
    """Torch twin of ``patchify``: (B, S) tensor -> (B, N, P) view via ``Tensor.unfold``."""
    n = n_patches(flux.shape[-1], patch_size, overlap)
    return flux.unfold(-1, patch_size, patch_size - overlap)[..., :n, :]
