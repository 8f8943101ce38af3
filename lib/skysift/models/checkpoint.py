"""Training checkpoints (``best.pt`` / ``last.pt``): written atomically, read without unpickling code.

A checkpoint is a dict of tensors, numbers, strings and nested dicts / lists (model and optimiser state, the
model's config, the step), so ``torch.load(weights_only=True)`` reads every one skysift writes. A file a user
passes as ``model_uri`` may come from anyone: a full unpickle would run whatever code it holds (issue 18, part 5),
so nothing here loads with ``weights_only=False``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from skysift.runtime.errors import SkysiftError

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


class CheckpointError(SkysiftError):
    """A file that is not a checkpoint skysift can read safely."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """``payload`` to ``path`` through a temporary sibling and a rename: a killed run never leaves half a file."""
    import torch

    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The dict saved at ``path``, loaded with ``weights_only=True``; CheckpointError naming the file otherwise."""
    import pickle

    import torch

    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a checkpoint skysift reads safely (tensors, numbers, strings and dicts "
                              f"only): {reason[:200]}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: a checkpoint holds a dict, found {type(payload).__name__}")
    return payload
