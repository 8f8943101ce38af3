"""`skysift dedupe`: merge repeated detections of one source (friends-of-friends within a radius).

Sources from overlapping tiles or repeated observations are linked when closer
than ``radius_arcsec`` (0.5 arcsec: the image catalog's de-duplication), links
are chained (friends of friends) into groups, and each group becomes one row:
the member with the highest ``score_column`` (ties: the first row read), plus
``n_merged`` (group size, 1 for a lone source).

The links come from the cross-match machinery run on the table against itself
(``crossmatch.matched_frame``, pairs with left id < right id). Only the links go
to the driver, where ``scipy.sparse.csgraph.connected_components`` labels the
groups; duplicates are a small fraction of a catalog, and ``max_links`` guards
the driver's memory.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from skysift.config import require, to_dict
from skysift.stages.crossmatch.job import (
    MAX_RADIUS_ARCSEC,
    CatalogColumnError,
    PreparedMatch,
    _ArrowBatchRows,
    _valid_condition,
    prepare,
    matched_frame,
    read_catalog,
    rejects_frame,
    require_columns,
)
from skysift.io.tables import REJECTS_DIR, commit_staging, count_rows, discard_staging, read_rejects, staging_path, write_table_json
from skysift.sky.healpix import neighbour_order
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec

N_MERGED = "n_merged"
GROUP_ID = "_fof"


@dataclass(frozen=True)
class DedupeConfig:
    """Configuration of `skysift dedupe`."""

    input: str = ""
    """Catalog to de-duplicate (Parquet file or folder)."""
    output: str = ""
    """Output folder (replaced as a whole on success); holds ``_rejects`` and ``_table.json``."""
    radius_arcsec: float = 0.5
    """Linking length in arcsec (0.5 arcsec: de-duplication of the image catalog, YL8C4Net / Zhao et al. 2025)."""
    ra_column: str = "ra_deg"
    """Right ascension column, ICRS degrees."""
    dec_column: str = "dec_deg"
    """Declination column, ICRS degrees."""
    score_column: str = ""
    """Column whose highest value is kept per group (a detection score or S/N); empty: the first row read."""
    id_column: str = ""
    """Optional id column copied to ``_rejects.spec_id``."""
    target_rows_per_group: int = 200_000
    """Rows per kernel call of the self-match."""
    sample_rows: int = 200_000
    """Rows sampled to plan the buckets."""
    arrow_batch_rows: int = 100_000
    """Rows per Arrow batch for mapInPandas (set for this job only)."""
    max_links: int = 20_000_000
    """Most links (pairs closer than the radius) brought to the driver for the group labels."""
    format: Literal["parquet", "hats"] = "parquet"
    """Output layout: plain Parquet or a HATS catalog (LSDB reads it)."""
    hats_pixel_threshold: int = 1_000_000
    """HATS: most rows in one partition pixel."""
    seed: int = 0
    """Seed of the planning sample."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input PARQUET)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(0 < self.radius_arcsec <= MAX_RADIUS_ARCSEC,
                f"radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}], got {self.radius_arcsec}")
        require(self.target_rows_per_group >= 16, "target_rows_per_group must be >= 16")
        require(self.sample_rows >= 100, "sample_rows must be >= 100")
        require(self.max_links >= 1, "max_links must be >= 1")


CONFIG = DedupeConfig


def fof_labels(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Friends-of-friends groups from links (a[i], b[i]): rows (_lid, _fof) with _fof = smallest id in the group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return pd.DataFrame({LEFT_ID: np.empty(0, np.int64), GROUP_ID: np.empty(0, np.int64)})
    ids, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = ids.size
    graph = coo_matrix((np.ones(a.size, np.int8), (inv[: a.size], inv[a.size :])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(smallest, comp, ids)
    return pd.DataFrame({LEFT_ID: ids, GROUP_ID: smallest[comp]})


def dedupe_frame(df: pd.DataFrame, radius_arcsec: float, ra: str = "ra_deg", dec: str = "dec_deg",
                 score: str | None = None) -> pd.DataFrame:
    """Sequential twin on valid rows: one row per friends-of-friends group, with ``n_merged``."""
    from skysift.xmatch.frames import crossmatch_frames

    df = df.reset_index(drop=True)
    ids = np.arange(len(df), dtype=np.int64)
    spec = MatchSpec(order=neighbour_order(radius_arcsec), radius_arcsec=radius_arcsec, mode="all",
                     left_ra=ra, left_dec=dec, right_ra=ra, right_dec=dec, left_columns=(ra,), right_columns=(ra,),
                     keep_ids=True, pairs_only_upper=True)
    pairs = crossmatch_frames(df[[ra, dec]].assign(_lid=ids), df[[ra, dec]].assign(_rid=ids), spec)
    labels = fof_labels(pairs[LEFT_ID].to_numpy(np.int64), pairs[RIGHT_ID].to_numpy(np.int64))
    group = ids.copy()
    group[labels[LEFT_ID].to_numpy()] = labels[GROUP_ID].to_numpy()
    key = -df[score].to_numpy(np.float64) if score else np.zeros(len(df))
    key = np.where(np.isnan(key), np.inf, key)
    order = np.lexsort((ids, key, group))
    first = np.ones(order.size, bool)
    first[1:] = group[order][1:] != group[order][:-1]
    keep = order[first]
    sizes = np.bincount(group, minlength=len(df))
    return df.iloc[keep].assign(**{N_MERGED: sizes[group[keep]].astype(np.int32)}).sort_index().reset_index(drop=True)


def run(spark, cfg: DedupeConfig) -> dict[str, Any]:
    """De-duplicate ``cfg.input`` into ``cfg.output``; returns the job summary."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skysift.io.catalog_writers import write_spark_catalog

    raw = read_catalog(spark, cfg.input, "input")
    require_columns(raw, [cfg.ra_column, cfg.dec_column] + [c for c in (cfg.score_column, cfg.id_column) if c],
                    f"input catalog {cfg.input}")
    for reserved in (LEFT_ID, RIGHT_ID, GROUP_ID, N_MERGED):
        if reserved in raw.columns:
            raise CatalogColumnError(f"column {reserved!r} is reserved by dedupe; columns found: {', '.join(raw.columns)}")
    valid = raw.where(_valid_condition(cfg.ra_column, cfg.dec_column))
    # Ids must be the same in the self-match and in the final selection: persist once.
    rows = valid.withColumn(LEFT_ID, F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    staging = staging_path(cfg.output)
    try:
        with _ArrowBatchRows(spark, cfg.arrow_batch_rows):
            rejects_frame(raw, "input", cfg.ra_column, cfg.dec_column, cfg.id_column).coalesce(1).write.mode(
                "overwrite").parquet(str(staging / REJECTS_DIR))
            ra, dec = cfg.ra_column, cfg.dec_column
            left = rows.select(LEFT_ID, ra, dec)
            right = rows.select(F.col(LEFT_ID).alias(RIGHT_ID), ra, dec)
            spec = MatchSpec(order=neighbour_order(cfg.radius_arcsec), radius_arcsec=cfg.radius_arcsec, mode="all",
                             left_ra=ra, left_dec=dec, right_ra=ra, right_dec=dec, left_columns=(ra,),
                             right_columns=(ra,), keep_ids=True, pairs_only_upper=True)
            prepared: PreparedMatch = prepare(spark, left, right, spec, cfg.target_rows_per_group, cfg.sample_rows, cfg.seed)
            links = matched_frame(spark, left, right, prepared).select(LEFT_ID, RIGHT_ID)
            # Written once and counted from the footers: the self-match runs once, and the
            # driver reads the links only when there are few enough.
            links_dir = staging / "_links"
            links.write.mode("overwrite").parquet(str(links_dir))
            n_links = count_rows(links_dir)
            if n_links > cfg.max_links:
                raise RuntimeError(f"{n_links} links exceed max_links={cfg.max_links}; lower radius_arcsec or raise max_links")
            pairs = pd.read_parquet(links_dir, columns=[LEFT_ID, RIGHT_ID]) if n_links else pd.DataFrame(
                {LEFT_ID: np.empty(0, np.int64), RIGHT_ID: np.empty(0, np.int64)})
            shutil.rmtree(links_dir, ignore_errors=True)
            labels = fof_labels(pairs[LEFT_ID].to_numpy(np.int64), pairs[RIGHT_ID].to_numpy(np.int64))
            # explicit schema: with no duplicates the labels frame is empty and cannot be inferred
            labels_df = F.broadcast(spark.createDataFrame(labels, f"{LEFT_ID} long, {GROUP_ID} long"))
            singles = rows.join(labels_df, LEFT_ID, "left_anti").withColumn(N_MERGED, F.lit(1))
            members = rows.join(labels_df, LEFT_ID, "inner")
            w = Window.partitionBy(GROUP_ID)
            rank_by = ([F.col(cfg.score_column).desc_nulls_last()] if cfg.score_column else []) + [F.col(LEFT_ID).asc()]
            best = (members.withColumn("_rank", F.row_number().over(w.orderBy(*rank_by)))
                    .withColumn(N_MERGED, F.count("*").over(w))
                    .where(F.col("_rank") == 1).drop("_rank", GROUP_ID))
            out_cols = list(raw.columns) + [N_MERGED]
            result = singles.select(*out_cols[:-1], F.col(N_MERGED).cast("int")).unionByName(
                best.select(*out_cols[:-1], F.col(N_MERGED).cast("int")))
            layout = write_spark_catalog(result, staging, format=cfg.format, ra_column=ra, dec_column=dec,
                                         name=Path(cfg.output).name, pixel_threshold=cfg.hats_pixel_threshold)
        rejected = read_rejects(staging).num_rows
        written = count_rows(staging)
        valid_rows = prepared.left_rows
        summary = {
            "read": valid_rows + rejected,
            "written": written,
            "rejected": rejected,
            "other_outcomes": {"merged_away": valid_rows - written},
            "merged_away": valid_rows - written,
            "links": int(n_links),
            "groups_with_duplicates": int(labels[GROUP_ID].nunique()) if len(labels) else 0,
            "output": str(Path(cfg.output).absolute()),
            "note": "read = written + rejected + merged_away",
        }
        write_table_json(staging, {"job": "dedupe", "config": to_dict(cfg), "layout": layout, "summary": summary})
        commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    finally:
        rows.unpersist()
    return summary
