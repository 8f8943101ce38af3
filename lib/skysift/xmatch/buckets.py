"""Cross-match buckets: contiguous runs of order-m HEALPix cells holding about the same number of rows.

The plan is computed once on the driver from a sample of both sides' order-29
indices and is small (a few arrays of length n_buckets), so it travels to the
executors inside the closure.

* A bucket is a range of order-m cells (m = ``neighbour_order(radius)``), so
  every order-29 index lies in exactly one bucket. Boundaries snap to the start
  of the coarsest cell nearby, keeping bucket edges (and the rows copied across
  them) short.
* The *build* side (no radius, or a fixed radius) goes to the one bucket holding
  its cell; the *probe* side (the side whose rows carry the radius) goes to every
  bucket holding its cell or one of the cell's neighbours. A pair is therefore
  seen in exactly one bucket: the build row's.
* A bucket whose sample count says it would exceed ``target_rows`` (a dense
  clump, or many rows on one cell) is split into ``salt_build`` groups: each build
  row takes one salt (a hash of its row key) and each probe row is copied to every
  salt, so every (probe, build) pair still meets in exactly one group. The plan
  keeps a ``salt_probe`` axis (a grid of groups) for generality; it is 1 today.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysift.sky.healpix import MAX_ORDER, N_BASE, cells, neighbourhood


@dataclass(frozen=True)
class BucketPlan:
    """Where each row goes: bucket starts (order-m cells), salts and group-id offsets."""

    order: int
    """HEALPix order m of the cells buckets are made of (from the radius)."""
    starts: np.ndarray
    """Sorted first order-m cell of each bucket; starts[0] == 0."""
    salt_probe: np.ndarray
    """Number of probe-side salts per bucket (1 unless the bucket is dense)."""
    salt_build: np.ndarray
    """Number of build-side salts per bucket (1 unless the bucket is dense)."""
    offsets: np.ndarray
    """First group id of each bucket; bucket b owns groups offsets[b] .. offsets[b] + sP*sB - 1."""

    @property
    def n_buckets(self) -> int:
        return int(self.starts.size)

    @property
    def n_groups(self) -> int:
        return int(self.offsets[-1] + self.salt_probe[-1] * self.salt_build[-1])

    def bucket_of_cells(self, cell: np.ndarray) -> np.ndarray:
        """Bucket index of order-m cells (any shape)."""
        return np.searchsorted(self.starts, cell, side="right") - 1


def mix64(key: np.ndarray) -> np.ndarray:
    """A well-spread 64-bit hash of integer keys (splitmix64 finaliser), for salts."""
    z = np.asarray(key, dtype=np.int64).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _salts(n_probe: np.ndarray, n_build: np.ndarray, target_rows: float, limit: float | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Salts per bucket: only the build side is split, so each build row lives in exactly one group.

    Keeping build rows whole is what lets `nearest` and `how=left` be decided inside
    one group (no second shuffle); probe rows are copied to each build salt instead.
    A bucket is split only above ``limit`` rows (default ``target_rows``).
    """
    limit = target_rows if limit is None else limit
    s_probe = np.ones(n_probe.shape, dtype=np.int64)
    room = np.maximum(target_rows - n_probe, target_rows / 2.0)
    s_build = np.where(n_probe + n_build > limit, np.ceil(n_build / room), 1).astype(np.int64)
    return s_probe, np.maximum(s_build, 1)


def plan_buckets(
    probe_h29_sample: np.ndarray,
    build_h29_sample: np.ndarray,
    order: int,
    target_rows: int,
    probe_weight: float | np.ndarray = 1.0,
    build_weight: float | np.ndarray = 1.0,
    min_buckets: int = 1,
) -> BucketPlan:
    """Split the sky into buckets of about ``target_rows`` rows from samples of both sides.

    ``*_weight`` is how many real rows one sample row stands for: one number (1 / sampling
    fraction) or one per sample row (the per-batch quantile summaries of the job's scan).
    ``min_buckets`` (the number of cores): the bucket count is a multiple of it, so equal
    buckets keep every core busy to the end (3 groups on 2 cores measured 1.5x slower than 2);
    a bucket is then salted only when it exceeds both ``target_rows`` and 1.5x the mean bucket.
    """
    if target_rows < 2:
        raise ValueError(f"target_rows must be >= 2, got {target_rows}")
    pc = cells(np.asarray(probe_h29_sample, dtype=np.int64), order)
    bc = cells(np.asarray(build_h29_sample, dtype=np.int64), order)
    all_cells = np.concatenate([pc, bc])
    pw = np.broadcast_to(np.asarray(probe_weight, dtype=np.float64), pc.shape)
    bw = np.broadcast_to(np.asarray(build_weight, dtype=np.float64), bc.shape)
    weights = np.concatenate([pw, bw])
    starts = np.zeros(1, dtype=np.int64)
    if all_cells.size:
        sort = np.argsort(all_cells, kind="stable")
        sorted_cells = all_cells[sort]
        cum = np.cumsum(weights[sort])
        total = cum[-1]
        step = max(1, int(min_buckets))
        n_buckets = -(-max(int(np.ceil(total / target_rows)), step) // step) * step
        if n_buckets > 1:
            cut = np.arange(1, n_buckets) * (total / n_buckets)
            hi = sorted_cells[np.minimum(np.searchsorted(cum, cut), sorted_cells.size - 1)]
            lo = sorted_cells[np.minimum(np.searchsorted(cum, cut - 0.05 * total / n_buckets), sorted_cells.size - 1)]
            snapped = hi.copy()
            done = np.zeros(hi.size, dtype=bool)
            # Coarsest cell start inside (lo, hi]: short, straight bucket edges.
            for coarse in range(order + 1):
                step = np.int64(1) << np.int64(2 * (order - coarse))
                cand = (hi // step) * step
                take = ~done & (cand > lo)
                snapped[take] = cand[take]
                done |= take
            starts = np.unique(np.concatenate([starts, snapped]))
    counts_probe = np.bincount(np.searchsorted(starts, pc, side="right") - 1, weights=pw, minlength=starts.size)
    counts_build = np.bincount(np.searchsorted(starts, bc, side="right") - 1, weights=bw, minlength=starts.size)
    mean = (counts_probe.sum() + counts_build.sum()) / max(1, starts.size)
    limit = target_rows if min_buckets <= 1 else max(float(target_rows), 1.5 * mean)
    s_probe, s_build = _salts(counts_probe.astype(float), counts_build.astype(float), float(target_rows), limit)
    sizes = s_probe * s_build
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return BucketPlan(order=order, starts=starts, salt_probe=s_probe, salt_build=s_build, offsets=offsets)


def _expand(rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each ``rows[k]`` counts[k] times; also return 0..counts[k]-1 within each run."""
    rep = np.repeat(rows, counts)
    within = np.arange(rep.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return rep, within


def assign_build(h29: np.ndarray, row_key: np.ndarray, plan: BucketPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of build rows: (row index repeated per copy, group id, copies per row)."""
    bucket = plan.bucket_of_cells(cells(h29, plan.order))
    s_probe = plan.salt_probe[bucket]
    s_build = plan.salt_build[bucket]
    salt = (mix64(row_key) % s_build.astype(np.uint64)).astype(np.int64)
    rows, i = _expand(np.arange(bucket.size, dtype=np.int64), s_probe)
    group = plan.offsets[bucket[rows]] + i * s_build[rows] + salt[rows]
    return rows, group, s_probe


def probe_buckets(h29: np.ndarray, plan: BucketPlan) -> tuple[np.ndarray, np.ndarray]:
    """Distinct buckets touched by each probe row's cell neighbourhood: (row index, bucket) pairs."""
    nb = neighbourhood(cells(h29, plan.order), plan.order)
    bucket = np.where(nb >= 0, plan.bucket_of_cells(nb), -1)
    bucket.sort(axis=1)
    keep = bucket >= 0
    keep[:, 1:] &= bucket[:, 1:] != bucket[:, :-1]
    rows = np.broadcast_to(np.arange(bucket.shape[0], dtype=np.int64)[:, None], bucket.shape)
    return rows[keep], bucket[keep]


def assign_probe(h29: np.ndarray, row_key: np.ndarray, plan: BucketPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of probe rows: (row index repeated per copy, group id, copies per row)."""
    rows_b, bucket = probe_buckets(h29, plan)
    s_probe = plan.salt_probe[bucket]
    s_build = plan.salt_build[bucket]
    salt = (mix64(np.asarray(row_key)[rows_b]) % s_probe.astype(np.uint64)).astype(np.int64)
    k, j = _expand(np.arange(rows_b.size, dtype=np.int64), s_build)
    group = plan.offsets[bucket[k]] + salt[k] * s_build[k] + j
    copies = np.bincount(rows_b, weights=s_build, minlength=np.asarray(h29).size).astype(np.int64)
    return rows_b[k], group, copies


def full_sky_cells(order: int) -> int:
    """Number of cells on the sphere at ``order``."""
    return N_BASE << (2 * order)


__all__ = [
    "BucketPlan",
    "MAX_ORDER",
    "assign_build",
    "assign_probe",
    "full_sky_cells",
    "mix64",
    "plan_buckets",
    "probe_buckets",
]
