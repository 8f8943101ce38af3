"""Writing Galaxy10-like stamp tables (STAMPS + STAMP_TRUTH) for the similarity jobs, tests and the demo.

``write_stamps(..., bin_factor=4)`` draws the full Galaxy10-like stamps (256 px of 0.262 arcsec,
``StampConfig()``) and sums 4 x 4 pixel blocks: 64 px of 1.048 arcsec holding the same sky, galaxy and
flux, what the ``tiny`` image encoder reads. Drawing the stamps at 1.048 arcsec/px directly is not the
same: their bulges fall below the renderer's 1.5 px minimum R_e (no oversampling of the central galaxy) and
show cross-shaped aliasing artefacts (seen on the contact sheets; measured against the binned stamps). One
stamp costs ~0.15 s to draw here either way.
"""
from __future__ import annotations

import os

import pyarrow.parquet as pq

from skysift.images.cutouts import downsample_mean
from skysift.synth.imaging.config import StampConfig
from skysift.synth.imaging.stamps import StampBatch, stamp_batch, stamp_truth_table, stamps_table


def binned(batch: StampBatch, factor: int) -> StampBatch:
    """The batch with factor x factor pixel blocks summed (flux kept; truth positions divided by factor)."""
    if factor == 1:
        return batch
    truth = batch.truth.copy()
    truth["x_px"] = (truth["x_px"] + 0.5) / factor - 0.5
    truth["y_px"] = (truth["y_px"] + 0.5) / factor - 0.5
    images = (downsample_mean(batch.images, factor) * factor ** 2).astype("float32")
    return StampBatch(stamp_ids=batch.stamp_ids, images=images, truth=truth, bands=batch.bands)


def write_stamps(folder: str | os.PathLike, seed: int, count: int, cfg: StampConfig = StampConfig(),
                 bin_factor: int = 4, first: int = 0, rows_per_file: int = 128) -> tuple[str, str]:
    """Write stamps first .. first + count - 1, binned by ``bin_factor``, as FOLDER/stamps (STAMPS) and
    FOLDER/truth (STAMP_TRUTH), ``rows_per_file`` rows per Parquet file; returns the two folder paths."""
    if cfg.size_px % bin_factor:
        raise ValueError(f"bin_factor {bin_factor} does not divide the stamp size {cfg.size_px}")
    root = os.fspath(folder)
    stamps_dir, truth_dir = os.path.join(root, "stamps"), os.path.join(root, "truth")
    os.makedirs(stamps_dir, exist_ok=True)
    os.makedirs(truth_dir, exist_ok=True)
    for start in range(first, first + count, rows_per_file):
        n = min(rows_per_file, first + count - start)
        batch = binned(stamp_batch(seed, cfg, start, n), bin_factor)
        pq.write_table(stamps_table(batch, cfg.pixel_scale_arcsec * bin_factor),
                       os.path.join(stamps_dir, f"part-{start:08d}.parquet"))
        pq.write_table(stamp_truth_table(batch), os.path.join(truth_dir, f"part-{start:08d}.parquet"))
    return stamps_dir, truth_dir
