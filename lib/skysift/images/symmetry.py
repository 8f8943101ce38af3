"""The 8 symmetries of the square (the dihedral group D4) applied to image stacks.

Used by `search-images --set query_symmetries=dihedral` (a skysift extension): a query image is embedded
under each symmetry and an indexed image scores its best combined similarity over them, so a quarter turn or
a mirror of an indexed image finds it exactly, whatever the encoder learned.
"""
from __future__ import annotations

import numpy as np

DIHEDRAL = tuple((k, mirror) for mirror in (False, True) for k in range(4))
"""(quarter turns counter-clockwise, then mirror left-right?) of the 8 symmetries; the identity first."""


def apply_symmetry(images: np.ndarray, quarter_turns: int, mirror: bool) -> np.ndarray:
    """(..., H, W) images turned by ``quarter_turns`` x 90 deg (numpy.rot90 sense) then mirrored left-right."""
    out = np.rot90(images, quarter_turns, axes=(-2, -1)) if quarter_turns % 4 else images
    return out[..., ::-1] if mirror else out


def dihedral_stack(images: np.ndarray) -> np.ndarray:
    """(n, C, S, S) -> (n, 8, C, S, S): each image under the 8 symmetries of DIHEDRAL, identity first."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"expected (n, C, S, S) square images, got shape {x.shape}")
    return np.ascontiguousarray(np.stack([apply_symmetry(x, k, m) for k, m in DIHEDRAL], axis=1))
