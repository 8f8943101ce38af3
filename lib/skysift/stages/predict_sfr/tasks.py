"""The executor side of `skysift predict-sfr` (no Spark import at module level): the model reference the driver
resolved, the per-batch prediction (Arrow in, Arrow out), the mapInArrow body of one task and its sequential
twin over the table's Parquet row groups (tests, benchmark baseline)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from skysift.models.sfr_inputs import needed_columns, table_arrays
from skysift.runtime.rejects import Reject
from skysift.schema import SFR_PREDICTIONS

STAGE = "predict-sfr"
SOURCE_COL = "_source"
STATS = pa.schema([pa.field("partition", pa.int64()), pa.field("read", pa.int64()), pa.field("written", pa.int64()),
                   pa.field("rejected", pa.int64()), pa.field("seconds", pa.float64()), pa.field("device", pa.string())])
"""The one row per task that predict_partition returns to the driver."""


@dataclass(frozen=True)
class SfrModelRef:
    """What a task needs to load the model the driver resolved (never the model itself) and to cut its inputs."""

    model_uri: str
    model_version: str | None
    model_dir: str
    tracking_uri: str | None
    model_name: str
    image_px: int
    quality_level: int
    n_bands: int
    spectrum_length: int
    uses_z: bool
    uses_norm_factor: bool
    device: str = "cpu"
    torch_threads: int = 1

    def load(self):
        """(bundle, device) for this worker, loaded once per Python worker (runtime.cache, by URI + version)."""
        from skysift.runtime.cache import cached

        device = _device(self.device)

        def load():
            import torch

            from skysift.models.sfr_bundle import SfrBundle, resolve_sfr_model
            from skysift.runtime.spark import task_cpus

            if device == "cpu":
                torch.set_num_threads(max(1, self.torch_threads or task_cpus() or 1))
            folder = self.model_dir
            if not Path(folder).exists():  # an executor on another machine: fetch the version the driver resolved
                from skysift.runtime.tracking import pinned_uri

                folder = resolve_sfr_model(pinned_uri(self.model_uri, self.model_version), self.tracking_uri)["dir"]
            return SfrBundle(folder)

        return cached(("sfr-model", self.model_uri, self.model_version), device, load), device

    def predict_table(self, table: pa.Table, source: str | list[str] = "") -> tuple[pa.Table, list[Reject]]:
        """SFR_PREDICTIONS rows of ``table``'s usable rows and a Reject for every other row."""
        arrays, good, reasons = table_arrays(table, self.image_px, self.quality_level, self.n_bands,
                                             self.spectrum_length, self.uses_z, self.uses_norm_factor)
        ids = table.column("object_id").to_pylist()
        sources = source if isinstance(source, list) else [source] * table.num_rows
        rejects = [Reject(source_file=sources[i] or "", stage=STAGE, reason=r, spec_id=ids[i])
                   for i, r in enumerate(reasons) if r is not None]
        pred = np.zeros(0)
        if len(good):
            bundle, device = self.load()
            pred = bundle.predict(arrays, device=device)
        out = pa.Table.from_pydict({
            "object_id": pa.array([str(v) for v in arrays.object_id], pa.string()),
            "log_sfr_pred": pa.array(np.asarray(pred, np.float64)),
            "model_uri": pa.array([self.model_uri] * len(good), pa.string()),
            "model_version": pa.array([self.model_version] * len(good), pa.string()),
            "model_name": pa.array([self.model_name] * len(good), pa.string()),
        }, schema=SFR_PREDICTIONS)
        return out, rejects


def _device(want: str) -> str:
    if want == "cpu":
        return "cpu"
    from skysift.runtime.spark import task_device

    return task_device()


def part_name(index: int) -> str:
    """Deterministic file name of task / file ``index`` (a retried task overwrites its own file)."""
    return f"part-{index:05d}.parquet"


def _write(staging: str, name: str, tables: Iterator[pa.Table]) -> int:
    from skysift.runtime.filesystem import join
    from skysift.runtime.output import write_parquet_atomic

    batches = (b for t in tables for b in t.to_batches())
    return int(write_parquet_atomic(join(staging, name), batches, schema=SFR_PREDICTIONS))


def predict_partition(staging: str, ref: SfrModelRef, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The mapInArrow body of one task: predict its batches, write ``staging/part-<partition>.parquet`` and its
    rejects (deterministic names), return one STATS row. The task writes its own file with pyarrow: Spark's
    row-by-row writer and a second job to count would cost more than the prediction itself."""
    from pyspark import TaskContext

    from skysift.runtime.rejects import write_rejects

    started = time.perf_counter()
    ctx = TaskContext.get()
    partition = ctx.partitionId() if ctx is not None else 0
    counts = {"read": 0}
    rejects: list[Reject] = []

    def predicted() -> Iterator[pa.Table]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            counts["read"] += table.num_rows
            src = [str(s) for s in table.column(SOURCE_COL).to_pylist()] if SOURCE_COL in table.column_names else ""
            out, bad = ref.predict_table(table, src)
            rejects.extend(bad)
            yield out

    name = part_name(partition)
    written = _write(staging, name, predicted())
    write_rejects(staging, rejects, name=name)
    yield pa.RecordBatch.from_pylist([{"partition": partition, "read": counts["read"], "written": written,
                                       "rejected": len(rejects), "seconds": time.perf_counter() - started,
                                       "device": _device(ref.device)}], schema=STATS)


def predict_row_groups(staging: str, ref: SfrModelRef, batch_rows: int, first: int, items: list) -> dict:
    """One ``runtime.tasks`` task: read the row groups ``items`` (runtime.row_groups.RowGroup) with pyarrow in this
    worker, predict them ``batch_rows`` at a time, write ``part-<first>.parquet`` and its rejects; one STATS
    dict. The sequential twin runs these tasks one after the other (``run_tasks(..., spark=None)``); on Spark
    (reader=pyarrow) the JVM never touches the rows."""
    from skysift.runtime.rejects import write_rejects
    from skysift.runtime.row_groups import read_row_groups

    started = time.perf_counter()
    cols = needed_columns(ref.quality_level)
    rejects: list[Reject] = []
    counts = {"read": 0}

    def predicted() -> Iterator[pa.Table]:
        for item, batch in read_row_groups(items, cols, batch_rows):
            table = pa.Table.from_batches([batch])
            counts["read"] += table.num_rows
            out, bad = ref.predict_table(table, item.file)
            rejects.extend(bad)
            yield out

    name = part_name(first)
    written = _write(staging, name, predicted())
    write_rejects(staging, rejects, name=name)
    return {"partition": first, "read": counts["read"], "written": written, "rejected": len(rejects),
            "seconds": time.perf_counter() - started, "device": _device(ref.device)}
