"""Stream a Parquet `spectra` table into torch without loading it into memory.

petastorm is not used: it needs ``pyarrow.filesystem`` (removed in pyarrow 16)
and pyarrow <= 14, while pyspark 4.3 needs pyarrow >= 18 (see STACK.md). This
module reads the table's row groups with pyarrow directly and turns the flux list
column into one (rows, S) float32 tensor per row group with no pandas round-trip.

Sharding: the table's (file, row group) units are shuffled per epoch with a
seed shared by all processes and dealt round-robin to the global reader slots
(rank x loader worker), so every unit is read by exactly one slot per epoch.
When a table has fewer units than slots, every slot reads all units and keeps
every k-th row instead. A block shuffle buffer mixes rows across row groups. The
stream repeats epochs forever so that all DDP ranks always have a next batch;
the training loop decides how many steps to take.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

# 64-bit mixing constants (splitmix64 finaliser): a stable, vectorised hash of spec_id
# for the train/validation split, identical in every process and on every run.
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def table_files(path: str | os.PathLike) -> list[Path]:
    """Parquet files of a table folder in a stable order; `_x`/`.x` side folders and files skipped."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"spectra table not found: {root}")
    files = []
    for p in sorted(root.rglob("*.parquet")):
        parts = p.relative_to(root).parts
        if any(part.startswith(("_", ".")) for part in parts):
            continue
        files.append(p)
    if not files:
        raise FileNotFoundError(f"no Parquet files in {root} (side folders starting with '_' are skipped)")
    return files


def row_group_units(files: list[Path]) -> list[tuple[str, int, int]]:
    """(file, row group index, rows) for every non-empty row group, from the footers only."""
    units = []
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for i in range(meta.num_row_groups):
            n = meta.row_group(i).num_rows
            if n:
                units.append((str(f), i, n))
    return units


def table_grids(path: str | os.PathLike) -> list[str]:
    """Distinct grid_id values of a spectra table (reads only that column)."""
    seen: set[str] = set()
    for f in table_files(path):
        col = pq.read_table(f, columns=["grid_id"]).column("grid_id")
        seen.update(v for v in pc.unique(col).to_pylist() if v is not None)
    return sorted(seen)


def split_hash(spec_ids: pa.Array) -> np.ndarray:
    """A uniform number in [0, 1) per spec_id, stable across processes, runs and machines."""
    arr = pc.cast(spec_ids, pa.large_string()) if not pa.types.is_large_string(spec_ids.type) else spec_ids
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.fill_null("")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    n = len(arr)
    h = np.full(n, np.uint64(0x9E3779B97F4A7C15))
    lengths = np.diff(offsets)
    total = int(offsets[-1] - offsets[0])
    if total:
        owner = np.repeat(np.arange(n), lengths)
        pos = np.arange(total) - np.repeat(offsets[:-1] - offsets[0], lengths)
        chunk = data[offsets[0] : offsets[-1]].astype(np.uint64)
        # each byte is spread by a pseudo-random odd multiplier of its position before summing per
        # string; a multiplier linear in the position would make the sum depend on two numbers only
        mult = _mix64(pos.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
        with np.errstate(over="ignore"):
            contrib = (chunk + np.uint64(1)) * mult
            sums = np.zeros(n, dtype=np.uint64)
            np.add.at(sums, owner, contrib)
            h = h ^ sums ^ lengths.astype(np.uint64)
    h = _mix64(h)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on uint64."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * _M1
        h = (h ^ (h >> np.uint64(27))) * _M2
        return h ^ (h >> np.uint64(31))


def flux_matrix(column: pa.ChunkedArray | pa.Array, n_points: int, what: str = "flux") -> np.ndarray:
    """A list<float32> column of equal-length lists -> (rows, n_points) float32 array (zero copy when possible)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, n_points), np.float32)
    if arr.null_count:
        raise ValueError(f"{what}: {arr.null_count} null lists")
    lengths = pc.list_value_length(arr)
    lo, hi = pc.min_max(lengths).values()
    if lo.as_py() != n_points or hi.as_py() != n_points:
        raise ValueError(f"{what}: lists of {lo.as_py()}..{hi.as_py()} points, expected {n_points}")
    flat = arr.flatten()
    if flat.type != pa.float32():
        flat = flat.cast(pa.float32())
    return flat.to_numpy(zero_copy_only=False).reshape(len(arr), n_points)


@dataclass(frozen=True)
class StreamSpec:
    """What the stream reads and how it is split; shared by every rank and worker."""

    path: str
    n_points: int
    batch_size: int
    split: str = "train"
    val_fraction: float = 0.05
    shuffle_buffer: int = 2048
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    repeat: bool = True


class SpectraStream(IterableDataset):
    """Batches {'flux': (B, S) float32} from a Parquet spectra table, sharded by rank and worker.

    Rows whose flux holds NaN/inf are dropped (the embed job reports them as rejects).
    With ``repeat=False`` one pass is made and the last partial batch is kept.
    """

    def __init__(self, spec: StreamSpec):
        super().__init__()
        if spec.split not in ("train", "val", "all"):
            raise ValueError(f"split must be train|val|all, got {spec.split!r}")
        self.spec = spec
        self.units = row_group_units(table_files(spec.path))
        self.epoch_offset = 0

    def _slot(self) -> tuple[int, int]:
        info = get_worker_info()
        n_workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return self.spec.rank * n_workers + worker, self.spec.world_size * n_workers

    def _epoch_plan(self, epoch: int, slot: int, n_slots: int) -> list[tuple[tuple, int, int]]:
        """(unit, row stride, first row) for every unit this slot reads in ``epoch``."""
        order = np.random.default_rng([self.spec.seed, epoch]).permutation(len(self.units))
        units = [self.units[i] for i in order]
        if len(units) >= n_slots:
            return [(u, 1, 0) for u in units[slot::n_slots]]
        # too few row groups: deal rows round-robin by their position in the epoch's concatenated order
        starts = np.concatenate([[0], np.cumsum([u[2] for u in units])[:-1]])
        return [(u, n_slots, int((slot - g) % n_slots)) for u, g in zip(units, starts)]

    def _read_unit(self, unit, stride: int, offset: int) -> np.ndarray:
        path, rg, n_rows = unit
        if offset >= n_rows:
            return np.zeros((0, self.spec.n_points), np.float32)
        table = pq.ParquetFile(path).read_row_group(rg, columns=["spec_id", "flux"])
        if stride > 1:
            table = table.take(pa.array(np.arange(offset, table.num_rows, stride)))
        if self.spec.split != "all":
            is_val = split_hash(table.column("spec_id")) < self.spec.val_fraction
            table = table.filter(pa.array(is_val if self.spec.split == "val" else ~is_val))
        flux = flux_matrix(table.column("flux"), self.spec.n_points, f"{path} row group {rg} flux")
        finite = np.isfinite(flux).all(axis=1)
        return flux if finite.all() else flux[finite]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        slot, n_slots = self._slot()
        spec = self.spec
        rng = np.random.default_rng([spec.seed, 7919, slot])
        buf = np.zeros((0, spec.n_points), np.float32)
        cap = max(spec.shuffle_buffer, spec.batch_size)
        epoch = self.epoch_offset
        while True:
            rows_this_epoch = 0
            for unit, stride, offset in self._epoch_plan(epoch, slot, n_slots):
                rows = self._read_unit(unit, stride, offset)
                if len(rows) == 0:
                    continue
                rows_this_epoch += len(rows)
                buf = np.concatenate([buf, rows]) if len(buf) else rows
                if len(buf) >= cap:
                    # block shuffle: mix the whole buffer, emit whole batches, keep about half for mixing
                    buf = buf[rng.permutation(len(buf))]
                    n_out = ((len(buf) - cap // 2) // spec.batch_size) * spec.batch_size
                    for i in range(0, n_out, spec.batch_size):
                        yield {"flux": torch.from_numpy(np.ascontiguousarray(buf[i : i + spec.batch_size]))}
                    buf = buf[n_out:]
            epoch += 1
            if not spec.repeat:
                break
            if rows_this_epoch == 0:
                raise RuntimeError(
                    f"reader slot {slot} of {n_slots} found no finite {spec.split} rows in {spec.path}"
                )
        if len(buf):
            buf = buf[rng.permutation(len(buf))]
            for i in range(0, len(buf), spec.batch_size):
                yield {"flux": torch.from_numpy(np.ascontiguousarray(buf[i : i + spec.batch_size]))}


def loader(spec: StreamSpec, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over ``SpectraStream`` (the stream already yields whole batches)."""
    return torch.utils.data.DataLoader(
        SpectraStream(spec),
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
    )
