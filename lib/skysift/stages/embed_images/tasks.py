"""The per-task function of `skysift embed-images` (no Spark here): read whole Parquet row groups of an
images table, make them the encoder's input (``images.network_input``), run the encoder on the task's
device and write the task's files: ``part-<first>.parquet`` (IMAGE_VECTORS rows), ``features/part-<first>.npy``
(the (n, P, F) patch features, ``features_row`` = row in it) and ``_rejects/part-<first>.parquet``."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from skysift.schema import IMAGE_VECTORS

STAGE = "embed-images"


@dataclass(frozen=True)
class EncoderRef:
    """What a task needs to load the encoder the driver resolved (never the model itself)."""

    model_uri: str
    model_version: str | None
    model_dir: str
    tracking_uri: str | None
    image_size_px: int
    input_mask: str = "none"
    """The encoder's ``model.input_mask`` (images.central_source), applied as its training did."""

    def load(self, device: str, threads: int = 0):
        """The encoder on ``device``, loaded once per Python worker (runtime.cache, by URI and version)."""
        import torch

        from skysift.runtime.cache import cached

        def load():
            from skysift.runtime import tracking

            if device == "cpu":
                torch.set_num_threads(max(1, threads))
            info = tracking.resolve_pinned(self.model_dir, self.model_uri, self.model_version, self.tracking_uri)
            return tracking.load_image_encoder(info, device)

        return cached(("model", self.model_uri, self.model_version), device, load)


def _device(want: str) -> str:
    if want == "cpu":
        return "cpu"
    from skysift.runtime.spark import task_device

    return task_device()


def embed_task(staging: str, cfg, ref: EncoderRef, first: int, items: list) -> dict[str, Any]:
    """Embed row groups ``items`` (runtime.row_groups.RowGroup); write this task's vectors, features and rejects
    under ``staging`` (deterministic names from ``first``); return {read, written, rejected, seconds}."""
    from skysift.images.network_input import id_column, network_input, position_columns
    from skysift.kb.patch_search import features_name, write_features
    from skysift.models.image_vit import embed_images
    from skysift.runtime.filesystem import join
    from skysift.runtime.output import write_parquet_atomic
    from skysift.runtime.rejects import Reject, write_rejects
    from skysift.runtime.row_groups import read_row_group
    from skysift.runtime.spark import task_cpus

    t0 = time.perf_counter()
    device = _device(cfg.device)
    rows, feats, rejects, n_read = [], [], [], 0
    fname = features_name(first)
    for item in items:
        file, offset = item.file, item.first_row
        table = read_row_group(item)
        n_read += table.num_rows
        if table.num_rows == 0:
            continue
        idc = id_column(table.column_names)
        ids = [str(v) for v in table.column(idc).to_pylist()]
        good, x, reasons = network_input(table, ref.image_size_px, cfg.bands, cfg.min_size_px, ref.input_mask)
        rejects += [Reject(file, STAGE, r, row_index=offset + i, spec_id=ids[i]) for i, r in enumerate(reasons) if r is not None]
        if not len(good):
            continue
        model = ref.load(device, cfg.torch_threads or task_cpus() or 1)
        step = cfg.cpu_batch_size if device == "cpu" else cfg.batch_size
        f, v = embed_images(model, x, step, device, cfg.precision)
        pos = position_columns(table.column_names)
        ra, dec = ((table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)[good] for c in pos)
                   if pos else (None, None))
        base = sum(len(p) for p in feats)
        rows.append(pa.Table.from_pydict({
            "image_id": [ids[i] for i in good],
            "ra_deg": ra if ra is not None else [None] * len(good),
            "dec_deg": dec if dec is not None else [None] * len(good),
            "embedding": pa.array(list(v.numpy()), type=pa.list_(pa.float32())),
            "model_uri": [ref.model_uri] * len(good), "model_version": [ref.model_version] * len(good),
            "features_file": [fname] * len(good),
            "features_row": np.arange(base, base + len(good), dtype=np.int32),
            "source_file": [file] * len(good),
        }, schema=IMAGE_VECTORS))
        feats.append(f.numpy().astype(cfg.feature_dtype))
    written = 0
    if rows:
        write_features(join(staging, fname), np.concatenate(feats))
        written = write_parquet_atomic(join(staging, f"part-{first:010d}.parquet"), pa.concat_tables(rows),
                                       schema=IMAGE_VECTORS)
    n_rejected = write_rejects(staging, rejects, name=f"part-{first:010d}.parquet")
    return {"read": n_read, "written": int(written), "rejected": int(n_rejected),
            "seconds": round(time.perf_counter() - t0, 3), "device": device}
