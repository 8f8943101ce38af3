"""`skysift crossmatch`: sky cross-match of two Parquet catalogs on Spark.

Two Spark jobs (measured on the 1M x 1M benchmark, every extra pass cost a second or more):

1. *Scan* (``scan_catalogs``): one pass over the coordinate columns of both sides
   (``mapInArrow``, ``sky.xmatch_frames.scan_batch``) returns, per Arrow batch, the
   valid and invalid row counts, the largest per-row radius and a quantile summary
   of the order-29 cells. The driver chooses the HEALPix order m from the radius
   (``sky.healpix_cells.neighbour_order``) and plans buckets from the summaries:
   contiguous runs of order-m cells with about ``target_rows_per_group`` rows,
   dense runs split by salt (``sky.healpix_buckets``). Only when the scan saw
   invalid rows does a third, pure-JVM job write them to ``OUTPUT/_rejects``.
2. *Match*: ``mapInArrow`` tags every left row with its one group and every right
   row with each group its cone can reach, both into one *union* layout
   (``sky.xmatch_frames``); ``repartitionById(_g)`` sends each group to one task
   (no sort, no cogroup); a second ``mapInArrow`` runs the KD-tree kernel per group
   (``sky.pairs``: dual-tree pair walk for ``all`` and for ``nearest`` with counts,
   in chunks of left rows; a k-nearest query for ``nearest`` without counts; exact
   separation from the chord). For Parquet output each match task writes its own
   ``part-<partition>.parquet`` with pyarrow and returns only its counts (Spark's writer,
   converting the Arrow rows back into the JVM, took a large share of this stage: 1M x 1M
   went from 6.0-6.4 s to 4.7-5.9 s); a HATS catalog that LSDB reads still goes through
   Spark's writer. Both land in a staging folder that replaces ``OUTPUT`` at the end.

Measured on 2 shared cores (load average 4-6): 1M x 1M about 9-13 s end to end,
10M x 10M 68-88 s with ~5 GiB peak (JVM + Python workers), where lsdb took
7-15 s and 73-86 s and astropy's match_to_catalog_sky 2.7-4.6 s and 37-39 s.

Roles: the *left* side is never copied between groups, so each left row's best
match and "no match" are decided in one place; the right side is the one copied
across bucket edges (and the one that carries a per-row radius).

Summary (the CLI checks ``read == written + rejected + sum(other_outcomes)``):
``read`` / ``written`` / ``rejected`` count *left* rows (written: left rows present
in the output); ``other_outcomes.unmatched_left`` for ``how=inner``; the right side
and the pairs have their own keys (``right_read``, ``right_rejected``, ``pairs``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from skysift.config import require, to_dict
from skysift.io.tables import (
    REJECTS_DIR,
    commit_staging,
    count_rows,
    discard_staging,
    read_rejects,
    staging_path,
    write_batches_atomic,
    write_table_json,
)
from skysift.xmatch.buckets import BucketPlan, plan_buckets
from skysift.sky.healpix import neighbour_order, safe_radius_arcsec
from skysift.xmatch.frames import (
    GROUP,
    HEALPIX,
    LEFT_ID,
    N_MATCHES,
    RIGHT_ID,
    SEPARATION,
    MatchSpec,
    match_table,
    scan_batch,
    tag_batch,
    union_layout,
)

MAX_RADIUS_ARCSEC = safe_radius_arcsec(0)


class CatalogColumnError(ValueError):
    """A catalog lacks a column the job needs; the message names the columns found."""


@dataclass(frozen=True)
class CrossmatchConfig:
    """Configuration of `skysift crossmatch`."""

    left: str = ""
    """Left catalog (Parquet file or folder); every output row is a left row."""
    right: str = ""
    """Right catalog (Parquet file or folder); its columns get ``right_suffix``."""
    output: str = ""
    """Output folder (replaced as a whole on success); holds ``_rejects`` and ``_table.json``."""
    radius_arcsec: float = 2.0
    """Match radius in arcsec when ``radius_column`` is empty (2 arcsec: the image-catalog match of the issue)."""
    radius_column: str = ""
    """Right-side column holding a per-row radius in arcsec (e.g. an H II region's size): "left inside right" matches."""
    mode: Literal["nearest", "all"] = "nearest"
    """nearest: the closest right row per left row (plus ``n_matches`` within the radius); all: every pair."""
    count_matches: bool = True
    """nearest: add ``n_matches``, the number of right rows within the radius (a ball count per left row)."""
    how: Literal["inner", "left"] = "inner"
    """inner: only matched left rows; left: unmatched left rows too, with null right columns."""
    left_ra_column: str = "ra_deg"
    """Left right ascension column, ICRS degrees."""
    left_dec_column: str = "dec_deg"
    """Left declination column, ICRS degrees."""
    right_ra_column: str = "ra_deg"
    """Right right ascension column, ICRS degrees."""
    right_dec_column: str = "dec_deg"
    """Right declination column, ICRS degrees."""
    left_id_column: str = ""
    """Optional left id column copied to ``_rejects.spec_id``."""
    right_id_column: str = ""
    """Optional right id column copied to ``_rejects.spec_id``."""
    right_suffix: str = "_right"
    """Suffix added to every right column name in the output."""
    target_rows_per_group: int = 2_000_000
    """Most rows (both sides) per group, i.e. per match task; bounds Python worker memory (~0.5 GB per
    million rows), dense sky gets more groups. Fewer, larger tasks were faster on 2 cores (each task
    costs ~0.5 s of fixed work); the job never plans fewer groups than Spark's default parallelism."""
    sample_rows: int = 200_000
    """Most planning points per side (the scan's per-batch quantile summaries, thinned to this many)."""
    arrow_batch_rows: int = 100_000
    """Rows per Arrow batch for the tagging mapInPandas (set for this job only)."""
    input_split_mb: int = 64
    """Most input bytes per read task (spark.sql.files.maxPartitionBytes for this job only)."""
    format: Literal["parquet", "hats"] = "parquet"
    """Output layout: plain Parquet, or a HATS catalog (HEALPix-partitioned, LSDB reads it)."""
    hats_pixel_threshold: int = 1_000_000
    """HATS: most rows in one partition pixel (hats-import's pixel_threshold default)."""
    hats_histogram_order: int = 8
    """HATS: finest order considered for partition pixels."""
    seed: int = 0
    """Seed of the planning sample (plans differ, results do not)."""

    def __post_init__(self):
        require(bool(self.left), "left is required (--left PARQUET)")
        require(bool(self.right), "right is required (--right PARQUET)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(
            0 < self.radius_arcsec <= MAX_RADIUS_ARCSEC,
            f"radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}], got {self.radius_arcsec}",
        )
        require(self.target_rows_per_group >= 16, "target_rows_per_group must be >= 16")
        require(self.sample_rows >= 100, "sample_rows must be >= 100")
        require(self.arrow_batch_rows >= 1, "arrow_batch_rows must be >= 1")
        require(self.input_split_mb >= 1, "input_split_mb must be >= 1")
        require(bool(self.right_suffix), "right_suffix must not be empty (left and right columns would clash)")
        require(self.hats_pixel_threshold >= 1, "hats_pixel_threshold must be >= 1")
        require(0 <= self.hats_histogram_order <= 12, "hats_histogram_order must be in [0, 12]")


CONFIG = CrossmatchConfig


def require_columns(df, needed: list[str], what: str) -> None:
    """Fail with the list of columns found when a needed column is absent."""
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise CatalogColumnError(
            f"{what}: column(s) {', '.join(map(repr, missing))} not found; columns found: {', '.join(df.columns)}"
        )


def _valid_condition(ra: str, dec: str, radius: str | None = None):
    from pyspark.sql import functions as F

    cond = (
        F.col(ra).isNotNull() & F.col(dec).isNotNull() & ~F.isnan(ra) & ~F.isnan(dec)
        & (F.col(ra) >= 0) & (F.col(ra) <= 360) & (F.col(dec) >= -90) & (F.col(dec) <= 90)
    )
    if radius:
        cond = cond & F.col(radius).isNotNull() & ~F.isnan(radius) & (F.col(radius) > 0) & (
            F.col(radius) <= MAX_RADIUS_ARCSEC
        )
    return F.coalesce(cond, F.lit(False))


def rejects_frame(df, side: str, ra: str, dec: str, id_column: str, radius: str | None = None):
    """Rows of one side that cannot be matched, in the REJECTS schema (source_file, row_index, spec_id, stage, reason)."""
    from pyspark.sql import functions as F

    reason = F.format_string(
        f"{side}: {ra}=%s {dec}=%s" + (f" {radius}=%s" if radius else "")
        + f": coordinates must be finite with RA in [0, 360] and Dec in [-90, 90]"
        + (f", radius in (0, {MAX_RADIUS_ARCSEC:.0f}] arcsec" if radius else ""),
        *[F.col(c).cast("string") for c in ([ra, dec, radius] if radius else [ra, dec])],
    )
    return df.where(~_valid_condition(ra, dec, radius)).select(
        F.input_file_name().alias("source_file"),
        F.lit(None).cast("long").alias("row_index"),
        (F.col(id_column).cast("string") if id_column else F.lit(None).cast("string")).alias("spec_id"),
        F.lit("validate").alias("stage"),
        reason.alias("reason"),
    )


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


def prepare(spark, left_df, right_df, spec: MatchSpec, target_rows: int, sample_rows: int, seed: int = 0) -> PreparedMatch:
    """Count rows and plan buckets with one scan of both sides (``seed`` is kept for callers; the scan is exact)."""
    scan = scan_catalogs(left_df, right_df, spec.left_ra, spec.left_dec, spec.right_ra, spec.right_dec,
                         spec.radius_column)
    return plan_from_scan(scan, spec, target_rows, sample_rows, spark.sparkContext.defaultParallelism)


def _arrow_schema(spark, struct):
    from pyspark.sql.pandas.types import to_arrow_schema

    large = str(spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")).lower() == "true"
    return to_arrow_schema(struct, timezone=spark.conf.get("spark.sql.session.timeZone", "UTC"),
                           prefers_large_types=large)


@dataclass(frozen=True)
class _MatchInputs:
    """What both ways of running the match stage share (driver side: ``left``/``right`` are DataFrames, so
    executor closures take the other fields, never this object)."""

    left: Any
    """Left DataFrame with its row id column."""
    right: Any
    """Right DataFrame with its row id column."""
    layout: Any
    """The union layout (xmatch_frames.union_layout)."""
    tag: Any
    """tag(side, arrow batches) -> union batches carrying their group ids (runs on executors)."""
    union_struct: Any
    """Spark schema of the tagged union rows."""
    union_arrow: pa.Schema
    """Arrow schema of the tagged union rows."""
    out_struct: Any
    """Spark schema of the output rows."""
    out_arrow: pa.Schema
    """Arrow schema of the output rows."""


def _match_inputs(spark, left_valid, right_valid, prepared: PreparedMatch) -> _MatchInputs:
    """Both sides with row ids, the union layout, the tag function and the schemas of the match stage."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spec, plan = prepared.spec, prepared.plan
    # Row ids break ties and salt dense buckets; a caller may bring its own (dedupe does).
    left_in = left_valid if LEFT_ID in left_valid.columns else left_valid.withColumn(LEFT_ID, F.monotonically_increasing_id())
    right_in = right_valid if RIGHT_ID in right_valid.columns else right_valid.withColumn(RIGHT_ID, F.monotonically_increasing_id())
    long_ = T.LongType()
    layout = union_layout(spec, [(f.name, f.dataType) for f in left_in.schema.fields],
                          [(f.name, f.dataType) for f in right_in.schema.fields], long_)
    union_struct = T.StructType(
        [T.StructField(GROUP, long_, False), T.StructField(LEFT_ID, long_, True), T.StructField(RIGHT_ID, long_, True)]
        + [T.StructField(layout.slot(k), t, True) for k, t in enumerate(layout.slot_types)])
    union_arrow = _arrow_schema(spark, union_struct)
    out_fields = [T.StructField(c, layout.slot_types[layout.left_slot[c]], True) for c in spec.left_columns]
    out_fields += [T.StructField(c + spec.right_suffix, layout.slot_types[layout.right_slot[c]], True)
                   for c in spec.right_columns]
    out_fields.append(T.StructField(SEPARATION, T.DoubleType(), True))
    if spec.mode == "nearest" and spec.count_matches:
        out_fields.append(T.StructField(N_MATCHES, T.IntegerType(), True))
    if spec.keep_ids:
        out_fields += [T.StructField(LEFT_ID, long_, True), T.StructField(RIGHT_ID, long_, True)]
    out_struct = T.StructType(out_fields)
    out_arrow = _arrow_schema(spark, out_struct)

    def tag(side, batches):
        for batch in batches:
            if batch.num_rows:
                yield tag_batch(batch, side, plan, spec, layout, union_arrow)

    return _MatchInputs(left_in, right_in, layout, tag, union_struct, union_arrow, out_struct, out_arrow)


def _match_stage(spark, left_valid, right_valid, prepared: PreparedMatch):
    """The grouped union frame (one partition per group, Spark's shuffle) and the output schema."""
    from pyspark.sql import functions as F

    m = _match_inputs(spark, left_valid, right_valid, prepared)
    tag = m.tag
    tagged = m.left.mapInArrow(lambda it: tag("left", it), m.union_struct).unionByName(
        m.right.mapInArrow(lambda it: tag("right", it), m.union_struct))
    # One partition per group: the partition id is the group id, so a task holds whole groups.
    grouped = tagged.repartitionById(max(1, prepared.plan.n_groups), F.col(GROUP).cast("int"))
    return grouped, m.layout, m.out_struct, m.out_arrow


def matched_frame(spark, left_valid, right_valid, prepared: PreparedMatch, counters: dict | None = None,
                  batch_rows: int = 100_000):
    """The lazy Spark DataFrame of output rows (left, suffixed right, separation[, n_matches][, ids]).

    ``counters`` (optional): Spark accumulators named ``left_matched``, ``left_unmatched``,
    ``pairs``, filled when the frame is written.
    """
    spec = prepared.spec
    grouped, layout, out_struct, out_arrow = _match_stage(spark, left_valid, right_valid, prepared)

    def matcher(batches):
        # repartitionById hands this task whole groups; they are matched once all rows are here.
        batches = list(batches)
        if not batches:
            return
        tally: dict = {}
        yield from match_table(pa.Table.from_batches(batches), spec, layout, out_arrow, tally, max_batch_rows=batch_rows)
        if counters:
            for key, value in tally.items():
                if key in counters:
                    counters[key].add(value)

    return grouped.mapInArrow(matcher, out_struct)


def write_matches(spark, left_valid, right_valid, prepared: PreparedMatch, folder: str | Path,
                  batch_rows: int = 100_000) -> dict[str, int]:
    """Match and write the output rows as ``folder/part-<group>.parquet`` from the match tasks.

    Two stages and no Spark shuffle: the tag tasks write their union rows, sorted by group, to one Arrow
    IPC file each under ``folder/_exchange`` (``io.arrow_exchange``) and return which record batches
    hold which group; then one task per group memory-maps its batches, matches them and writes its
    Parquet file with pyarrow (under a temporary name, renamed, so a retried task replaces it). Spark's
    shuffle turned every tagged row into a JVM row and back (13.8 + 17.8 s of the 10M x 10M run).
    Returns the summed task counts (``rows``, ``left_matched``, ``left_unmatched``, ``pairs``), counted
    from the collected results, so retried tasks never count twice. The exchange folder is removed.
    """
    import shutil

    import pyarrow.parquet as pq

    from pyspark.sql.pandas.types import from_arrow_schema

    from skysift.io.arrow_exchange import INDEX_SCHEMA, group_index, read_group, write_grouped

    spec = prepared.spec
    m = _match_inputs(spark, left_valid, right_valid, prepared)
    layout, tag, union_arrow, out_arrow = m.layout, m.tag, m.union_arrow, m.out_arrow
    target = Path(folder).absolute()
    exchange = target / "_exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    exchange_str, target_str = str(exchange), str(target)

    def producer(side):
        def fn(batches):
            from pyspark import TaskContext

            part = TaskContext.get().partitionId()
            yield write_grouped(Path(exchange_str) / f"{side}-{part:06d}.arrow", tag(side, batches), GROUP,
                                union_arrow)
        return fn

    try:
        index_struct = from_arrow_schema(INDEX_SCHEMA)
        index = m.left.mapInArrow(producer("left"), index_struct).unionByName(
            m.right.mapInArrow(producer("right"), index_struct)).toArrow()
        groups = group_index(index)
        sc = spark.sparkContext
        shared = sc.broadcast(groups)

        def matcher(group_ids):
            for gid in group_ids:
                tally: dict = {}
                rows = write_batches_atomic(
                    Path(target_str) / f"part-{gid:06d}.parquet",
                    match_table(read_group(shared.value[gid], union_arrow), spec, layout, out_arrow, tally,
                                max_batch_rows=batch_rows),
                    out_arrow)
                yield {"rows": rows, **{k: tally.get(k, 0) for k in ("left_matched", "left_unmatched", "pairs")}}

        ids = sorted(groups)
        stats = sc.parallelize(ids, max(1, len(ids))).mapPartitions(matcher).collect() if ids else []
        shared.unpersist()
    finally:
        shutil.rmtree(exchange, ignore_errors=True)
    totals = {k: int(sum(s[k] for s in stats)) for k in ("rows", "left_matched", "left_unmatched", "pairs")}
    if totals["rows"] == 0:
        # No task wrote a file: an empty file keeps the schema readable by Spark and pyarrow.
        pq.write_table(out_arrow.empty_table(), target / "part-000000.parquet")
    return totals


def build_spec(cfg: CrossmatchConfig, left_df, right_df, order: int, keep_ids: bool = False,
               pairs_only_upper: bool = False) -> MatchSpec:
    left_cols = list(left_df.columns)
    right_cols = list(right_df.columns)
    add_left = HEALPIX not in left_cols
    add_right = HEALPIX not in right_cols
    left_out = left_cols + ([HEALPIX] if add_left else [])
    right_out = right_cols + ([HEALPIX] if add_right else [])
    clash = sorted(set(left_out) & {c + cfg.right_suffix for c in right_out})
    if clash:
        raise CatalogColumnError(
            f"right columns with suffix {cfg.right_suffix!r} clash with left columns {clash}; set right_suffix"
        )
    reserved = {SEPARATION, N_MATCHES, GROUP, LEFT_ID, RIGHT_ID}
    taken = sorted(reserved & (set(left_out) | {c + cfg.right_suffix for c in right_out}))
    if taken:
        raise CatalogColumnError(f"column name(s) {taken} are reserved by crossmatch; rename them")
    return MatchSpec(
        order=order,
        radius_arcsec=cfg.radius_arcsec,
        mode=cfg.mode,
        how=cfg.how,
        left_ra=cfg.left_ra_column,
        left_dec=cfg.left_dec_column,
        right_ra=cfg.right_ra_column,
        right_dec=cfg.right_dec_column,
        radius_column=cfg.radius_column or None,
        right_suffix=cfg.right_suffix,
        left_columns=tuple(left_out),
        right_columns=tuple(right_out),
        add_left_healpix=add_left,
        add_right_healpix=add_right,
        keep_ids=keep_ids,
        pairs_only_upper=pairs_only_upper,
        count_matches=cfg.count_matches,
    )


class _ArrowBatchRows:
    """Job-scoped SQL settings, restored afterwards: Arrow batch rows (the local profile's 512 suits
    30 kB spectra, not 40-byte catalog rows) and the input split size (a 1M-row catalog file is
    ~30 MB: at Spark's default 128 MB split it would be one task on one core)."""

    def __init__(self, spark, rows: int, split_bytes: int = 8 << 20):
        self.spark = spark
        self.values = {
            "spark.sql.execution.arrow.maxRecordsPerBatch": str(rows),
            "spark.sql.files.maxPartitionBytes": str(split_bytes),
        }
        self.old: dict = {}

    def __enter__(self):
        for key, value in self.values.items():
            self.old[key] = self.spark.conf.get(key, None)
            self.spark.conf.set(key, value)
        return self

    def __exit__(self, *exc):
        for key, value in self.old.items():
            if value is None:
                self.spark.conf.unset(key)
            else:
                self.spark.conf.set(key, value)


def read_catalog(spark, path: str, what: str):
    """A Parquet catalog as a Spark DataFrame; a clear error when the path does not exist."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{what} catalog {path!r} does not exist")
    return spark.read.parquet(str(path))


def write_rejects_if_any(spark, staging: Path, parts: list) -> None:
    """``_rejects`` from Spark when the scan saw invalid rows, else an empty table (no extra pass).

    ``parts``: (invalid rows counted by the scan, a function building that side's rejects frame).
    """
    from skysift.io.tables import write_rejects

    frames = [make() for n_invalid, make in parts if n_invalid]
    if not frames:
        write_rejects(staging, [])
        return
    rejects = frames[0]
    for frame in frames[1:]:
        rejects = rejects.unionByName(frame)
    # repartition, not coalesce: the filter keeps its parallel scan, only the few reject rows move.
    rejects.repartition(1).write.mode("overwrite").parquet(str(staging / REJECTS_DIR))


def run(spark, cfg: CrossmatchConfig) -> dict[str, Any]:
    """Cross-match ``cfg.left`` with ``cfg.right`` into ``cfg.output``; returns the job summary."""
    from skysift.io.catalog_writers import write_spark_catalog

    left_raw = read_catalog(spark, cfg.left, "left")
    right_raw = read_catalog(spark, cfg.right, "right")
    require_columns(left_raw, [cfg.left_ra_column, cfg.left_dec_column] + ([cfg.left_id_column] if cfg.left_id_column else []), f"left catalog {cfg.left}")
    right_needed = [cfg.right_ra_column, cfg.right_dec_column] + [c for c in (cfg.radius_column, cfg.right_id_column) if c]
    require_columns(right_raw, right_needed, f"right catalog {cfg.right}")

    radius_col = cfg.radius_column or None
    left_valid = left_raw.where(_valid_condition(cfg.left_ra_column, cfg.left_dec_column))
    right_valid = right_raw.where(_valid_condition(cfg.right_ra_column, cfg.right_dec_column, radius_col))

    staging = staging_path(cfg.output)
    sc = spark.sparkContext
    try:
        with _ArrowBatchRows(spark, cfg.arrow_batch_rows, cfg.input_split_mb << 20):
            scan = scan_catalogs(left_raw, right_raw, cfg.left_ra_column, cfg.left_dec_column, cfg.right_ra_column,
                                 cfg.right_dec_column, radius_col)
            write_rejects_if_any(spark, staging, [
                (scan.left_invalid, lambda: rejects_frame(left_raw, "left", cfg.left_ra_column, cfg.left_dec_column,
                                                          cfg.left_id_column)),
                (scan.right_invalid, lambda: rejects_frame(right_raw, "right", cfg.right_ra_column,
                                                           cfg.right_dec_column, cfg.right_id_column, radius_col)),
            ])
            radius_max = cfg.radius_arcsec
            if radius_col:
                radius_max = scan.radius_max if np.isfinite(scan.radius_max) else cfg.radius_arcsec
            order = neighbour_order(float(radius_max))
            spec = build_spec(cfg, left_raw, right_raw, order)
            prepared = plan_from_scan(scan, spec, cfg.target_rows_per_group, cfg.sample_rows,
                                      spark.sparkContext.defaultParallelism)
            if cfg.format == "parquet":
                totals = write_matches(spark, left_valid, right_valid, prepared, staging,
                                       batch_rows=cfg.arrow_batch_rows)
                layout = {"format": "parquet"}
            else:
                # HATS repartitions the rows by pixel, so it keeps Spark's writer (and the accumulators).
                counters = {k: sc.accumulator(0) for k in ("left_matched", "left_unmatched", "pairs")}
                out = matched_frame(spark, left_valid, right_valid, prepared, counters,
                                    batch_rows=cfg.arrow_batch_rows)
                layout = write_spark_catalog(
                    out, staging, format=cfg.format, ra_column=cfg.left_ra_column, dec_column=cfg.left_dec_column,
                    name=Path(cfg.output).name, pixel_threshold=cfg.hats_pixel_threshold,
                    histogram_order=cfg.hats_histogram_order,
                )
                totals = {k: int(c.value) for k, c in counters.items()}
        rej = read_rejects(staging)
        n_rej_left = int(sum(1 for r in rej.column("reason").to_pylist() if r.startswith("left:")))
        n_rej_right = rej.num_rows - n_rej_left
        matched, unmatched, pairs = (totals[k] for k in ("left_matched", "left_unmatched", "pairs"))
        written_left = matched + (unmatched if cfg.how == "left" else 0)
        summary = {
            "read": scan.left_valid + scan.left_invalid,
            "written": written_left,
            "rejected": n_rej_left,
            "other_outcomes": {"unmatched_left": unmatched} if cfg.how == "inner" else {},
            "output": str(Path(cfg.output).absolute()),
            "right_read": scan.right_valid + scan.right_invalid,
            "right_rejected": n_rej_right,
            "pairs": pairs,
            "rows_written": count_rows(staging),
            "healpix_order": order,
            "groups": prepared.plan.n_groups,
            "buckets": prepared.plan.n_buckets,
            "format": cfg.format,
            "note": "read/written/rejected count left rows; right rows and pairs have their own keys",
        }
        write_table_json(staging, {"job": "crossmatch", "config": to_dict(cfg), "layout": layout,
                                   "healpix_order": order, "summary": summary})
        commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    return summary
