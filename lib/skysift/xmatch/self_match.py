"""Friends-of-friends de-duplication of a table against itself, keeping the best row per group: on Spark
(``fof_best_spark``) and as the sequential twin (``fof_best_frame``).

The links are the engine's self-match (mode all, pairs with left id <
right id, ``xmatch.engine.matched_frame``); only the links reach the driver, where ``xmatch.fof.link_groups``
labels the groups; a broadcast join and a window keep each group's first row by the given order, with
``n_merged`` (group size, 1 for a lone row). ``skysift dedupe`` is this on a catalog; detect-sources uses it for
the 0.5 arcsec rule across frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from skysift.runtime.errors import SkysiftError
from skysift.sky.healpix import neighbour_order
from skysift.xmatch.fof import fof_group_labels, link_groups
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec

__all__ = ["GROUP_COLUMN", "N_MERGED", "FofGroups", "fof_best_frame", "fof_best_spark"]

N_MERGED = "n_merged"
GROUP_COLUMN = "_fof"
"""The working column of the group labels (reserved: an input may not have it)."""


def fof_best_frame(pdf: pd.DataFrame, radius_arcsec: float, order_by: Sequence[tuple[str, bool]],
                   ra: str = "ra_deg", dec: str = "dec_deg") -> pd.DataFrame:
    """One row per friends-of-friends group of ``pdf`` (first by ``order_by`` = [(column, ascending)]), with n_merged."""
    pdf = pdf.reset_index(drop=True)
    if pdf.empty:
        return pdf.assign(**{N_MERGED: pd.Series([], dtype=np.int32)})
    labels = fof_group_labels(pdf[ra].to_numpy(np.float64), pdf[dec].to_numpy(np.float64), radius_arcsec)
    cols = [c for c, _ in order_by]
    ranked = pdf.assign(_g=labels).sort_values(["_g", *cols], ascending=[True, *[a for _, a in order_by]], kind="mergesort")
    sizes = ranked.groupby("_g")["_g"].transform("size").astype(np.int32)
    best = ranked.assign(**{N_MERGED: sizes}).drop_duplicates("_g", keep="first").drop(columns="_g")
    return best.sort_index().reset_index(drop=True)


@dataclass(frozen=True)
class FofGroups:
    """What ``fof_best_spark`` found: the de-duplicated rows and the counts a job summary reports."""

    best: Any
    """Spark DataFrame: one row per group (``rows``' columns without the row id) plus ``n_merged``."""
    links: int
    """Pairs closer than the radius (each pair once)."""
    groups_with_duplicates: int
    """Groups of two rows or more."""
    valid_rows: int
    """Rows of ``rows`` (counted by the match plan)."""


def fof_best_spark(spark, rows, radius_arcsec: float, order_by: Sequence[tuple[str, bool]], *, ra: str = "ra_deg",
                   dec: str = "dec_deg", target_rows: int = 200_000, sample_rows: int = 200_000,
                   max_links: int = 20_000_000, what: str = "input", links_dir: str | None = None) -> FofGroups:
    """Friends-of-friends groups of a Spark DataFrame of valid positions with row ids (``LEFT_ID``), best row kept.

    The caller persists ``rows`` (its ids must be the same in the self-match and in the selection) and unpersists
    it once the result is written. ``order_by`` = [(column, ascending)]: the first row of a group by it is kept
    (nulls last). With ``links_dir`` the links are written there once and counted from the Parquet footers, so the
    self-match runs once and the driver reads them only when there are at most ``max_links`` (the folder is
    removed after); without it, at most ``max_links + 1`` links are collected.
    """
    import shutil

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skysift.runtime.output import count_rows
    from skysift.xmatch.engine import matched_frame
    from skysift.xmatch.plan import prepare

    left = rows.select(LEFT_ID, ra, dec)
    right = rows.select(F.col(LEFT_ID).alias(RIGHT_ID), ra, dec)
    spec = MatchSpec(order=neighbour_order(radius_arcsec), radius_arcsec=radius_arcsec, mode="all", left_ra=ra,
                     left_dec=dec, right_ra=ra, right_dec=dec, left_columns=(ra,), right_columns=(ra,), keep_ids=True,
                     pairs_only_upper=True)
    prepared = prepare(spark, left, right, spec, target_rows, sample_rows)
    pairs = matched_frame(spark, left, right, prepared).select(LEFT_ID, RIGHT_ID)
    if links_dir is None:
        links = pairs.limit(max_links + 1).toPandas()
        n_links = len(links)
    else:
        pairs.write.mode("overwrite").parquet(links_dir)
        n_links = count_rows(links_dir)
        links = None
    if n_links > max_links:
        found = f"more than {max_links}" if links_dir is None else str(n_links)
        raise SkysiftError(f"{what}: {found} pairs closer than {radius_arcsec} arcsec exceed max_links={max_links}; "
                           "lower radius_arcsec or raise max_links")
    if links is None:
        links = (pd.read_parquet(links_dir, columns=[LEFT_ID, RIGHT_ID]) if n_links else
                 pd.DataFrame({LEFT_ID: np.empty(0, np.int64), RIGHT_ID: np.empty(0, np.int64)}))
        shutil.rmtree(links_dir, ignore_errors=True)
    ids, group = link_groups(links[LEFT_ID].to_numpy(np.int64), links[RIGHT_ID].to_numpy(np.int64))
    # explicit schema: with no duplicates the labels frame is empty and cannot be inferred
    labels = F.broadcast(spark.createDataFrame(pd.DataFrame({LEFT_ID: ids, GROUP_COLUMN: group}), f"{LEFT_ID} long, {GROUP_COLUMN} long"))
    out_cols = [c for c in rows.columns if c != LEFT_ID]
    singles = rows.join(labels, LEFT_ID, "left_anti").select(*out_cols, F.lit(1).cast("int").alias(N_MERGED))
    w = Window.partitionBy(GROUP_COLUMN)
    # the row id last: ties keep the first row read
    rank = [F.col(c).asc_nulls_last() if asc else F.col(c).desc_nulls_last() for c, asc in order_by] + [F.col(LEFT_ID).asc()]
    best = (rows.join(labels, LEFT_ID, "inner")
            .withColumn("_rank", F.row_number().over(w.orderBy(*rank)))
            .withColumn(N_MERGED, F.count("*").over(w).cast("int"))
            .where(F.col("_rank") == 1)
            .select(*out_cols, N_MERGED))
    return FofGroups(best=singles.unionByName(best), links=int(n_links),
                     groups_with_duplicates=int(np.unique(group).size), valid_rows=int(prepared.left_rows))
