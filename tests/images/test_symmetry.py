"""The 8 symmetries of the square on image stacks."""
from __future__ import annotations

import numpy as np

from skysift.images.symmetry import DIHEDRAL, apply_symmetry, dihedral_stack


def test_dihedral_stack_holds_the_8_distinct_symmetries():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    d = dihedral_stack(x)
    assert d.shape == (2, 8, 3, 4, 4) and np.array_equal(d[:, 0], x)
    assert len({d[0, i].tobytes() for i in range(8)}) == 8
    assert np.array_equal(d[:, 1], np.rot90(x, 1, axes=(-2, -1)))
    assert np.array_equal(d[:, 4], x[..., ::-1])
    # every symmetry's inverse is in the group: some version of a turned image is the image itself
    for k, m in DIHEDRAL:
        turned = apply_symmetry(x, k, m)
        assert any(np.array_equal(v, x) for v in dihedral_stack(turned).transpose(1, 0, 2, 3, 4))
