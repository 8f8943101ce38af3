"""Test inputs for the image-similarity jobs, made once per process: binned Galaxy10-like stamp tables
(~0.15 s a stamp to draw, so test modules share them) and encoder checkpoints."""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

_ROOT: list[str] = []


def _root() -> str:
    if not _ROOT:
        _ROOT.append(tempfile.mkdtemp(prefix="skysift-test-images-"))
        atexit.register(shutil.rmtree, _ROOT[0], True)
    return _ROOT[0]


@functools.lru_cache(maxsize=None)
def small_stamps(count: int, seed: int = 11, rows_per_file: int = 64) -> tuple[str, str]:
    """(stamps folder, truth folder) of ``count`` 64 px stamps (synth.imaging.stamp_tables.write_stamps),
    written once per process."""
    from skysift.synth.imaging.stamp_tables import write_stamps

    return write_stamps(os.path.join(_root(), f"stamps-{seed}-{count}"), seed, count, rows_per_file=rows_per_file)


def checkpoint(path: str, profile: str = "tiny", seed: int = 0, model=None) -> str:
    """Write a best.pt-style checkpoint of ``model`` (default: an untrained encoder seeded ``seed``)."""
    import torch

    from skysift.models.image_vit import GalaxyVit, ImageVitConfig
    from skysift.runtime.tracking import IMAGE_ENCODER_KIND

    if model is None:
        torch.manual_seed(seed)
        model = GalaxyVit(ImageVitConfig(profile=profile))
    torch.save({"model_state": model.state_dict(), "model_config": model.cfg.to_dict(), "kind": IMAGE_ENCODER_KIND,
                "epoch": 0, "val_loss": float("nan")}, path)
    return path
