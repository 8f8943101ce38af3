"""The cross-match plan: one Spark pass over both sides' coordinates (counts, largest radius, quantile
summaries of their cells), then the bucket plan decided on the driver (``xmatch.buckets``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from skysift.runtime.tasks import inject_partition_fault
from skysift.xmatch.buckets import BucketPlan, plan_buckets
from skysift.xmatch.catalogs import MAX_RADIUS_ARCSEC
from skysift.xmatch.frames import MatchSpec, scan_batch

SCAN_POINTS_PER_BATCH = 256


@dataclass(frozen=True)
class ScanResult:
    """What the scan job learnt about both sides (valid rows only in the summaries)."""

    left_valid: int
    left_invalid: int
    right_valid: int
    right_invalid: int
    radius_max: float
    """Largest valid per-row radius (NaN without ``radius_column``)."""
    left_h29: np.ndarray
    left_weight: np.ndarray
    right_h29: np.ndarray
    right_weight: np.ndarray


def scan_catalogs(left_df, right_df, left_ra: str, left_dec: str, right_ra: str, right_dec: str,
                  radius_column: str | None = None, points: int = SCAN_POINTS_PER_BATCH) -> ScanResult:
    """One Spark job over both sides' coordinate columns: counts, largest radius, planning summaries."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("side", T.ByteType()), T.StructField("n_valid", T.LongType()),
        T.StructField("n_invalid", T.LongType()), T.StructField("radius_max", T.DoubleType()),
        T.StructField("weight", T.DoubleType()), T.StructField("h29", T.ArrayType(T.LongType())),
    ])

    def scanner(side, ra, dec, radius):
        def fn(batches):
            inject_partition_fault()  # test-only switch (runtime.tasks)
            for batch in batches:
                if batch.num_rows:
                    yield scan_batch(batch, side, ra, dec, radius, points, MAX_RADIUS_ARCSEC)
        return fn

    def coords(df, ra, dec, radius):
        cols = [F.col(ra).cast("double").alias(ra), F.col(dec).cast("double").alias(dec)]
        if radius:
            cols.append(F.col(radius).cast("double").alias(radius))
        return df.select(*cols)

    parts = coords(left_df, left_ra, left_dec, None).mapInArrow(scanner(0, left_ra, left_dec, None), schema).unionByName(
        coords(right_df, right_ra, right_dec, radius_column).mapInArrow(
            scanner(1, right_ra, right_dec, radius_column), schema))
    table = parts.toArrow()
    side = table.column("side").to_numpy()
    n_valid = table.column("n_valid").to_numpy()
    n_invalid = table.column("n_invalid").to_numpy()
    r_max = table.column("radius_max").to_numpy(zero_copy_only=False)
    summaries = {}
    for k in (0, 1):
        rows = table.filter(pa.array(side == k))
        lists = rows.column("h29").combine_chunks() if rows.num_rows else pa.array([], pa.list_(pa.int64()))
        h = lists.flatten().to_numpy(zero_copy_only=False).astype(np.int64) if rows.num_rows else np.empty(0, np.int64)
        w = np.repeat(rows.column("weight").to_numpy(), np.diff(lists.offsets.to_numpy())) if rows.num_rows else np.empty(0)
        summaries[k] = (h, w)
    finite = r_max[(side == 1) & np.isfinite(r_max)]
    return ScanResult(
        left_valid=int(n_valid[side == 0].sum()), left_invalid=int(n_invalid[side == 0].sum()),
        right_valid=int(n_valid[side == 1].sum()), right_invalid=int(n_invalid[side == 1].sum()),
        radius_max=float(finite.max()) if finite.size else float("nan"),
        left_h29=summaries[0][0], left_weight=summaries[0][1], right_h29=summaries[1][0], right_weight=summaries[1][1],
    )


def thin_summary(h29: np.ndarray, weight: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` weighted quantile points standing for the same rows as (h29, weight)."""
    if h29.size <= points:
        return h29, weight
    order = np.argsort(h29, kind="stable")
    cum = np.cumsum(weight[order])
    total = cum[-1]
    at = np.searchsorted(cum, (np.arange(points) + 0.5) * (total / points))
    return h29[order][np.minimum(at, h29.size - 1)], np.full(points, total / points)


@dataclass(frozen=True)
class PreparedMatch:
    """Everything decided on the driver before the heavy stage."""

    spec: MatchSpec
    plan: BucketPlan
    left_rows: int
    """Valid left rows."""
    right_rows: int
    """Valid right rows."""
    scan: ScanResult | None = None


def plan_from_scan(scan: ScanResult, spec: MatchSpec, target_rows: int, sample_rows: int,
                   min_groups: int = 1) -> PreparedMatch:
    """The bucket plan from the scan's summaries (thinned to ``sample_rows`` points per side).

    ``min_groups`` (Spark's default parallelism): the bucket count is a multiple of it.
    """
    lh, lw = thin_summary(scan.left_h29, scan.left_weight, sample_rows)
    rh, rw = thin_summary(scan.right_h29, scan.right_weight, sample_rows)
    plan = plan_buckets(rh, lh, spec.order, target_rows, probe_weight=rw, build_weight=lw, min_buckets=min_groups)
    return PreparedMatch(spec=spec, plan=plan, left_rows=scan.left_valid, right_rows=scan.right_valid, scan=scan)


def prepare(spark, left_df, right_df, spec: MatchSpec, target_rows: int, sample_rows: int) -> PreparedMatch:
    """Count rows and plan buckets with one scan of both sides."""
    scan = scan_catalogs(left_df, right_df, spec.left_ra, spec.left_dec, spec.right_ra, spec.right_dec,
                         spec.radius_column)
    return plan_from_scan(scan, spec, target_rows, sample_rows, spark.sparkContext.defaultParallelism)


