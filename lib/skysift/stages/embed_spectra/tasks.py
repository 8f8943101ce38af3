"""The per-batch function of `skysift embed-spectra` (Arrow in, Arrow out; no Spark here): view each batch's
flux lists as one (rows, n_points) float32 buffer, run the encoder on the task's device, flag unusable rows
with a reason."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skysift.models.precision import forward_autocast, resolve_precision
from skysift.runtime.spark import task_cpus
from skysift.schema import EMBEDDINGS

REASON_COL = "reject_reason"
SOURCE_COL = "source_file"
GRID_REASON = "row on grid"


@dataclass(frozen=True)
class EmbedBatch:
    """The per-batch function: Arrow ``RecordBatch`` (spec_id, flux[, source_file]) -> RecordBatch
    (``map_arrow`` for mapInArrow; ``__call__`` takes and returns pandas for tests and tools).

    Output columns: EMBEDDINGS plus ``source_file`` and ``reject_reason`` (null for embedded rows).
    """

    model_uri: str
    model_version: str | None
    model_dir: str
    tracking_uri: str | None
    n_points: int
    pooling: str
    batch_size: int = 256
    device: str = "auto"
    torch_threads: int = 0
    cpu_batch_size: int = 4
    precision: str = "fp32"
    grid_id: str | None = None
    """The model's grid: rows whose grid_id column says otherwise are rejected unembedded (None = no check)."""

    def model(self):
        """The encoder for this worker, loaded on first use and cached by (URI, version) and device."""
        import torch

        from skysift.runtime.cache import cached

        device = _pick_device(self.device)

        def load():
            from skysift.runtime import tracking

            # one Spark task owns spark.task.cpus cores: more torch threads would compete with the other
            # tasks' workers for their cores
            threads = self.torch_threads or task_cpus()
            if device == "cpu" and threads:
                torch.set_num_threads(threads)
            info = tracking.resolve_pinned(self.model_dir, self.model_uri, self.model_version, self.tracking_uri)
            return tracking.load_encoder(info, device)

        return cached(("model", self.model_uri, self.model_version), device, load), device

    def embed_matrix(self, flux: np.ndarray) -> np.ndarray:
        """(rows, n_points) float32 flux, all finite -> (rows, D) float32 embeddings, in chunks of
        cpu_batch_size (CPU) or batch_size (GPU) under the resolved precision."""
        import torch

        model, device = self.model()
        precision = resolve_precision(self.precision, device)
        step = self.cpu_batch_size if device == "cpu" else self.batch_size
        out = []
        with torch.inference_mode(), forward_autocast(device, precision):
            for i in range(0, len(flux), step):
                # a copy per chunk: ``flux`` may be a read-only view of the Arrow buffer, which torch refuses
                x = torch.from_numpy(np.array(flux[i : i + step], np.float32)).to(device, non_blocking=True)
                out.append(model.embed(x, self.pooling).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def arrow_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One Arrow batch -> its output batch (output_arrow_schema), rejected rows with a reason."""
        n = batch.num_rows
        names = batch.schema.names
        flux, good, reason = flux_rows(batch.column(names.index("flux")), self.n_points)
        if self.grid_id is not None and "grid_id" in names and len(good):
            grids = batch.column(names.index("grid_id"))
            other = np.asarray(pc.fill_null(pc.not_equal(grids, self.grid_id), True), dtype=bool)
            if other[good].any():
                for i in good[other[good]]:
                    reason[i] = f"{GRID_REASON} {grids[i].as_py()!r}, the model expects {self.grid_id!r}"
                flux, good = flux[~other[good]], good[~other[good]]
        emb = self.embed_matrix(flux) if len(good) else np.zeros((0, 0), np.float32)
        keep = np.zeros(n, bool)
        keep[good] = True
        dim = emb.shape[1] if len(good) else 0
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(np.where(keep, dim, 0), out=offsets[1:])
        embedding = pa.ListArray.from_arrays(pa.array(offsets), pa.array(emb.reshape(-1), pa.float32()),
                                             type=pa.list_(pa.float32()), mask=pa.array(~keep))
        source = (batch.column(names.index(SOURCE_COL)).cast(pa.string()) if SOURCE_COL in names
                  else pa.nulls(n, pa.string()))
        return pa.RecordBatch.from_arrays(
            [batch.column(names.index("spec_id")).cast(pa.string()), embedding,
             pa.array([self.model_uri] * n, pa.string()), pa.array([self.model_version] * n, pa.string()),
             source, pa.array(reason, pa.string())],
            schema=output_arrow_schema(),
        )

    def map_arrow(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The mapInArrow form."""
        for batch in batches:
            yield self.arrow_batch(batch)

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        """The pandas form (tests, tools): the same work as arrow_batch, embeddings as numpy arrays."""
        cols = ["spec_id", "flux"] + ([SOURCE_COL] if SOURCE_COL in pdf else [])
        flux = pa.array([None if f is None else np.asarray(f, np.float32) for f in pdf["flux"]],
                        pa.list_(pa.float32()))
        arrays = [pa.array(pdf["spec_id"].astype(str).tolist(), pa.string()), flux]
        if SOURCE_COL in pdf:
            arrays.append(pa.array(pdf[SOURCE_COL].tolist(), pa.string()))
        out = self.arrow_batch(pa.RecordBatch.from_arrays(arrays, names=cols))
        return out.to_pandas()

    def map_partitions(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The mapInPandas form (kept for callers of the pandas interface)."""
        for pdf in frames:
            yield self(pdf)


def embed_task(staging: str, fn: EmbedBatch, columns: list[str], first: int, items: list) -> dict:
    """One task of ``runtime.tasks.run_tasks``: read its row groups (``runtime.row_groups.RowGroup`` work
    items) with pyarrow, embed them, write the embeddings to ``staging/part-<first:010d>.parquet``
    and the rejects to ``staging/_rejects/`` (deterministic names: a retried task replaces its files, a
    resumed run skips the tasks with a marker), return its stats row (JSON). Writing here rather than
    returning the rows spares a cache of the output, Spark's row-by-row Parquet writer and two counting jobs;
    reading here rather than in Spark makes a task's rows the same whatever Spark's input splits are."""
    import time

    from skysift.runtime.filesystem import join
    from skysift.runtime.output import write_parquet_atomic
    from skysift.runtime.rejects import Reject, write_rejects
    from skysift.runtime.row_groups import read_row_groups

    started = time.perf_counter()
    name = f"part-{first:010d}.parquet"
    counts = {"read": 0}
    rejects: list[Reject] = []
    other: set[str] = set()

    def embedded() -> Iterator[pa.RecordBatch]:
        for _, batch in read_row_groups(items, columns):
            if fn.grid_id is not None and "grid_id" in batch.schema.names:
                other.update(str(g) for g in pc.unique(batch.column("grid_id")).to_pylist() if g != fn.grid_id)
            out = fn.arrow_batch(batch)
            counts["read"] += out.num_rows
            ok = pc.is_null(out.column(REASON_COL))
            if out.column(REASON_COL).null_count < out.num_rows:
                bad = out.filter(pc.invert(ok)).select(["spec_id", SOURCE_COL, REASON_COL]).to_pylist()
                for row in bad:
                    rejects.append(Reject(source_file=row[SOURCE_COL] or "", stage="embed",
                                          reason=row[REASON_COL], spec_id=row["spec_id"]))
                out = out.filter(ok)
            yield pa.RecordBatch.from_arrays([out.column(n) for n in EMBEDDINGS.names], schema=EMBEDDINGS)

    written = write_parquet_atomic(join(staging, name), embedded(), schema=EMBEDDINGS)
    write_rejects(staging, rejects, name=name)
    return {"first": first, "read": counts["read"], "written": written, "rejected": len(rejects),
            "seconds": time.perf_counter() - started, "other_grids": sorted(other)}


def flux_rows(flux: pa.Array, n_points: int) -> tuple[np.ndarray, np.ndarray, list]:
    """A list<float> column -> (float32 (k, n_points) flux of the usable rows, their indices, reasons).

    ``reasons[i]`` is None for a usable row, else why not (null, wrong length, non-finite values). When every
    row has n_points values (the normal case) the matrix is a view of the column's one flat buffer: no
    per-row Python objects, no np.stack."""
    n = len(flux)
    lengths = pc.fill_null(pc.list_value_length(flux), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    values = flux.flatten()  # the values of the non-null lists, in row order, slice offsets applied
    if values.type != pa.float32():
        values = values.cast(pa.float32())
    flat = values.to_numpy(zero_copy_only=False)
    reason: list = [None] * n
    fits = lengths == n_points
    if fits.all():
        matrix = flat.reshape(n, n_points)
        good = np.arange(n)
    else:
        for i in np.flatnonzero(~fits):
            reason[i] = "flux is null" if lengths[i] < 0 else f"flux has {lengths[i]} points, expected {n_points}"
        good = np.flatnonzero(fits)
        starts = np.cumsum(np.maximum(lengths, 0)) - np.maximum(lengths, 0)
        matrix = flat[starts[good, None] + np.arange(n_points)] if len(good) else np.zeros((0, n_points), np.float32)
    n_bad = n_points - np.isfinite(matrix).sum(axis=1)
    if n_bad.any():
        for i, k in zip(good[n_bad > 0], n_bad[n_bad > 0]):
            reason[i] = f"flux has {k} non-finite values"
        good, matrix = good[n_bad == 0], matrix[n_bad == 0]
    return np.ascontiguousarray(matrix), good, reason


def _pick_device(want: str) -> str:
    if want == "cpu":
        return "cpu"
    from skysift.runtime.spark import task_device

    return task_device()


def output_arrow_schema() -> pa.Schema:
    """mapInArrow output: EMBEDDINGS + source_file + reject_reason."""
    return pa.schema(list(EMBEDDINGS) + [pa.field(SOURCE_COL, pa.string()), pa.field(REASON_COL, pa.string())])


def embed_sequential(frames, fn: EmbedBatch) -> pd.DataFrame:
    """The same per-batch function over an iterable of pandas frames, without Spark (tests, debugging)."""
    parts = [fn(pdf) for pdf in frames]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=output_arrow_schema().names)
