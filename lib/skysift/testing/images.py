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


_MADE: dict[tuple[int, int], tuple[str, str]] = {}
MIN_DRAW = 96
"""Draw at least this many stamps, so that the small test sets (48, 96) share one drawing."""


@functools.lru_cache(maxsize=None)
def small_stamps(count: int, seed: int = 11) -> tuple[str, str]:
    """(stamps folder, truth folder) of stamps 0 .. count - 1 of survey ``seed`` (64 px, binned:
    synth.imaging.stamp_tables.write_stamps), written once per process. Stamp i depends on (seed, i) only, so
    when a larger set was made already its first rows are copied instead of drawn again."""
    import pyarrow.parquet as pq

    from skysift.runtime.output import read_table
    from skysift.synth.imaging.stamp_tables import write_stamps

    if (seed, count) in _MADE:
        return _MADE[(seed, count)]
    folder = os.path.join(_root(), f"stamps-{seed}-{count}")
    bigger = [n for (s, n) in _MADE if s == seed and n >= count]
    if bigger:
        src = _MADE[(seed, min(bigger))]
        out = []
        for name, path in zip(("stamps", "truth"), src):
            os.makedirs(os.path.join(folder, name))
            pq.write_table(read_table(path).slice(0, count), os.path.join(folder, name, "part-00000000.parquet"),
                           row_group_size=64)
            out.append(os.path.join(folder, name))
        result = (out[0], out[1])
        _MADE[(seed, count)] = result
        return result
    made = max(count, MIN_DRAW)
    result = write_stamps(os.path.join(_root(), f"stamps-{seed}-{made}"), seed, made, rows_per_file=64)
    _MADE[(seed, made)] = result
    return small_stamps(count, seed) if made != count else result


def checkpoint(path: str, profile: str = "tiny", seed: int = 0, model=None, input_mask: str = "none") -> str:
    """Write a best.pt-style checkpoint of ``model`` (default: an untrained encoder seeded ``seed`` reading
    its images under ``input_mask``)."""
    import torch

    from skysift.models.image_vit import GalaxyVit, ImageVitConfig
    from skysift.runtime.tracking import IMAGE_ENCODER_KIND

    if model is None:
        torch.manual_seed(seed)
        model = GalaxyVit(ImageVitConfig(profile=profile, input_mask=input_mask))
    torch.save({"model_state": model.state_dict(), "model_config": model.cfg.to_dict(), "kind": IMAGE_ENCODER_KIND,
                "epoch": 0, "val_loss": float("nan")}, path)
    return path
