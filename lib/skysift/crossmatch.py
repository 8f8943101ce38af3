"""`skysift crossmatch`: sky cross-match of two Parquet catalogs on Spark.

Steps (each a Spark stage; no table goes through the driver):

1. Read both sides, check the coordinate columns, send rows with NaN or
   out-of-range coordinates (or a bad per-row radius) to ``OUTPUT/_rejects``.
2. Choose the HEALPix order m from the largest radius
   (``sky.healpix_cells.neighbour_order``) and plan buckets from a sample of
   both sides: contiguous runs of order-m cells with about ``target_rows_per_group``
   rows each, dense runs split by salt (``sky.healpix_buckets``). The plan is a
   few small arrays carried in the closure.
3. ``mapInPandas`` tags every left row with its one group, every right row with
   each group its cone can reach (its cell and that cell's neighbours).
4. ``cogroup(...).applyInPandas`` runs the exact kernel per group
   (``sky.xmatch_frames.match_group``): candidate pairs from sorted cells, exact
   Vincenty separation, nearest / all, inner / left.
5. Spark writes the result to a staging folder that replaces ``OUTPUT`` at the end
   (Parquet, or a HATS catalog that LSDB reads with ``format=hats``).

Roles: the *left* side is never copied between groups, so each left row's best
match and "no match" are decided in one place; the right side is the one copied
across bucket edges (and the one that carries a per-row radius).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .config import require, to_dict
from .io.tables import (
    REJECTS_DIR,
    commit_staging,
    count_rows,
    discard_staging,
    read_rejects,
    staging_path,
    write_table_json,
)
from .sky.healpix_buckets import BucketPlan, plan_buckets
from .sky.healpix_cells import healpix29, neighbour_order, safe_radius_arcsec
from .sky.xmatch_frames import (
    GROUP,
    HEALPIX,
    LEFT_ID,
    N_MATCHES,
    RIGHT_ID,
    SEPARATION,
    MatchSpec,
    iter_batches,
    match_group,
    tag_left,
    tag_right,
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
    target_rows_per_group: int = 200_000
    """Rows (both sides) per kernel call; bounds Python worker memory, dense sky gets more groups."""
    sample_rows: int = 200_000
    """Rows sampled per side to plan the buckets."""
    arrow_batch_rows: int = 100_000
    """Rows per Arrow batch for the tagging mapInPandas (set for this job only)."""
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


def _sample_h29(df, ra: str, dec: str, n_rows: int, sample_rows: int, seed: int) -> tuple[np.ndarray, float]:
    """Order-29 indices of a random sample of about ``sample_rows`` rows, and the weight of one sample row."""
    if n_rows == 0:
        return np.empty(0, np.int64), 1.0
    fraction = min(1.0, sample_rows / n_rows)
    part = df.select(ra, dec)
    if fraction < 1.0:
        part = part.sample(withReplacement=False, fraction=fraction, seed=seed)
    pdf = part.toPandas()
    return healpix29(pdf[ra].to_numpy(np.float64), pdf[dec].to_numpy(np.float64)), 1.0 / fraction


@dataclass(frozen=True)
class PreparedMatch:
    """Everything decided on the driver before the heavy stages."""

    spec: MatchSpec
    plan: BucketPlan
    left_rows: int
    right_rows: int


def prepare(spark, left_df, right_df, spec: MatchSpec, target_rows: int, sample_rows: int, seed: int) -> PreparedMatch:
    """Count valid rows and plan buckets from a sample of both sides."""
    n_left = left_df.count()
    n_right = right_df.count()
    left_h, left_w = _sample_h29(left_df, spec.left_ra, spec.left_dec, n_left, sample_rows, seed)
    right_h, right_w = _sample_h29(right_df, spec.right_ra, spec.right_dec, n_right, sample_rows, seed + 1)
    plan = plan_buckets(right_h, left_h, spec.order, target_rows, probe_weight=right_w, build_weight=left_w)
    return PreparedMatch(spec=spec, plan=plan, left_rows=n_left, right_rows=n_right)


def matched_frame(spark, left_valid, right_valid, prepared: PreparedMatch):
    """The lazy Spark DataFrame of output rows (left, suffixed right, separation[, n_matches])."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spec, plan = prepared.spec, prepared.plan
    # Row ids break ties and salt dense buckets; a caller may bring its own (dedupe does).
    left_in = left_valid if LEFT_ID in left_valid.columns else left_valid.withColumn(LEFT_ID, F.monotonically_increasing_id())
    right_in = right_valid if RIGHT_ID in right_valid.columns else right_valid.withColumn(RIGHT_ID, F.monotonically_increasing_id())

    def tagged_schema(df, add_healpix):
        fields = list(df.schema.fields)
        if add_healpix:
            fields.append(T.StructField(HEALPIX, T.LongType(), True))
        return T.StructType(fields + [T.StructField(GROUP, T.LongType(), False)])

    left_schema = tagged_schema(left_in, spec.add_left_healpix)
    right_schema = tagged_schema(right_in, spec.add_right_healpix)

    def left_fn(batches):
        return iter_batches(batches, tag_left, plan, spec)

    def right_fn(batches):
        return iter_batches(batches, tag_right, plan, spec)

    left_tagged = left_in.mapInPandas(left_fn, left_schema)
    right_tagged = right_in.mapInPandas(right_fn, right_schema)

    out_fields = [left_schema[c] for c in spec.left_columns]
    out_fields += [T.StructField(c + spec.right_suffix, right_schema[c].dataType, True) for c in spec.right_columns]
    out_fields.append(T.StructField(SEPARATION, T.DoubleType(), True))
    if spec.mode == "nearest":
        out_fields.append(T.StructField(N_MATCHES, T.IntegerType(), True))
    if spec.keep_ids:
        out_fields += [T.StructField(LEFT_ID, T.LongType(), True), T.StructField(RIGHT_ID, T.LongType(), True)]
    out_schema = T.StructType(out_fields)

    def group_fn(left_pdf, right_pdf):
        return match_group(left_pdf, right_pdf, spec)

    return left_tagged.groupBy(GROUP).cogroup(right_tagged.groupBy(GROUP)).applyInPandas(group_fn, out_schema)


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


def run(spark, cfg: CrossmatchConfig) -> dict[str, Any]:
    """Cross-match ``cfg.left`` with ``cfg.right`` into ``cfg.output``; returns the job summary."""
    from .io.catalog_writers import write_spark_catalog

    left_raw = read_catalog(spark, cfg.left, "left")
    right_raw = read_catalog(spark, cfg.right, "right")
    require_columns(left_raw, [cfg.left_ra_column, cfg.left_dec_column] + ([cfg.left_id_column] if cfg.left_id_column else []), f"left catalog {cfg.left}")
    right_needed = [cfg.right_ra_column, cfg.right_dec_column] + [c for c in (cfg.radius_column, cfg.right_id_column) if c]
    require_columns(right_raw, right_needed, f"right catalog {cfg.right}")

    radius_col = cfg.radius_column or None
    left_valid = left_raw.where(_valid_condition(cfg.left_ra_column, cfg.left_dec_column))
    right_valid = right_raw.where(_valid_condition(cfg.right_ra_column, cfg.right_dec_column, radius_col))

    staging = staging_path(cfg.output)
    try:
        with _ArrowBatchRows(spark, cfg.arrow_batch_rows):
            rejects = rejects_frame(left_raw, "left", cfg.left_ra_column, cfg.left_dec_column, cfg.left_id_column).unionByName(
                rejects_frame(right_raw, "right", cfg.right_ra_column, cfg.right_dec_column, cfg.right_id_column, radius_col)
            )
            rejects.coalesce(1).write.mode("overwrite").parquet(str(staging / REJECTS_DIR))
            radius_max = cfg.radius_arcsec
            if radius_col:
                from pyspark.sql import functions as F

                radius_max = right_valid.agg(F.max(radius_col)).first()[0] or cfg.radius_arcsec
            order = neighbour_order(float(radius_max))
            spec = build_spec(cfg, left_raw, right_raw, order)
            prepared = prepare(spark, left_valid, right_valid, spec, cfg.target_rows_per_group, cfg.sample_rows, cfg.seed)
            out = matched_frame(spark, left_valid, right_valid, prepared)
            layout = write_spark_catalog(
                out, staging, format=cfg.format, ra_column=cfg.left_ra_column, dec_column=cfg.left_dec_column,
                name=Path(cfg.output).name, pixel_threshold=cfg.hats_pixel_threshold,
                histogram_order=cfg.hats_histogram_order,
            )
        rej = read_rejects(staging)
        n_rej_left = int(sum(1 for r in rej.column("reason").to_pylist() if r.startswith("left:")))
        n_rej_right = rej.num_rows - n_rej_left
        written = count_rows(staging)
        summary = {
            "read": prepared.left_rows + prepared.right_rows + rej.num_rows,
            "written": written,
            "rejected": rej.num_rows,
            "output": str(Path(cfg.output).absolute()),
            "read_left": prepared.left_rows + n_rej_left,
            "read_right": prepared.right_rows + n_rej_right,
            "rejected_left": n_rej_left,
            "rejected_right": n_rej_right,
            "healpix_order": order,
            "groups": prepared.plan.n_groups,
            "buckets": prepared.plan.n_buckets,
            "format": cfg.format,
            "note": "a join: written counts output rows, so read != written + rejected",
        }
        write_table_json(staging, {"job": "crossmatch", "config": to_dict(cfg), "layout": layout,
                                   "healpix_order": order, "summary": summary})
        commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    return summary
