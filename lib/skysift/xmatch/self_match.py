"""Friends-of-friends de-duplication of a table against itself, keeping the best row per group: on Spark
(``fof_best_spark``) and as the sequential twin (``fof_best_frame``).

The same scheme as ``skysift dedupe``: the links are the engine's self-match (mode all, pairs with left id <
right id, ``xmatch.engine.matched_frame``); only the links reach the driver, where ``xmatch.fof.link_groups``
labels the groups; a broadcast join and a window keep each group's first row by the given order, with
``n_merged`` (group size, 1 for a lone row). detect-sources uses it for the 0.5 arcsec rule across frames.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from skysift.runtime.errors import SkysiftError
from skysift.sky.healpix import neighbour_order
from skysift.xmatch.fof import fof_group_labels, link_groups
from skysift.xmatch.frames import LEFT_ID, RIGHT_ID, MatchSpec

__all__ = ["N_MERGED", "fof_best_frame", "fof_best_spark"]

N_MERGED = "n_merged"
_GROUP = "_fof"


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


def fof_best_spark(spark, rows, radius_arcsec: float, order_by: Sequence[tuple[str, bool]], *, ra: str = "ra_deg",
                   dec: str = "dec_deg", target_rows: int = 200_000, sample_rows: int = 200_000,
                   max_links: int = 20_000_000, what: str = "input"):
    """(DataFrame of one row per group with ``n_merged``, links found) for a Spark DataFrame of valid positions.

    ``rows`` is persisted here with its row ids (ids must be the same in the self-match and the selection) and
    unpersisted by the caller through the returned frame's lineage being written; call ``rows.unpersist()`` after.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skysift.xmatch.engine import matched_frame
    from skysift.xmatch.plan import prepare

    left = rows.select(LEFT_ID, ra, dec)
    right = rows.select(F.col(LEFT_ID).alias(RIGHT_ID), ra, dec)
    spec = MatchSpec(order=neighbour_order(radius_arcsec), radius_arcsec=radius_arcsec, mode="all", left_ra=ra,
                     left_dec=dec, right_ra=ra, right_dec=dec, left_columns=(ra,), right_columns=(ra,), keep_ids=True,
                     pairs_only_upper=True)
    prepared = prepare(spark, left, right, spec, target_rows, sample_rows)
    links = matched_frame(spark, left, right, prepared).select(LEFT_ID, RIGHT_ID).limit(max_links + 1).toPandas()
    if len(links) > max_links:
        raise SkysiftError(f"{what}: more than {max_links} pairs closer than {radius_arcsec} arcsec; raise max_links")
    ids, group = link_groups(links[LEFT_ID].to_numpy(np.int64), links[RIGHT_ID].to_numpy(np.int64))
    labels = F.broadcast(spark.createDataFrame(pd.DataFrame({LEFT_ID: ids, _GROUP: group}), f"{LEFT_ID} long, {_GROUP} long"))
    out_cols = [c for c in rows.columns if c != LEFT_ID]
    singles = rows.join(labels, LEFT_ID, "left_anti").select(*out_cols, F.lit(1).cast("int").alias(N_MERGED))
    w = Window.partitionBy(_GROUP)
    rank = [F.col(c).asc_nulls_last() if asc else F.col(c).desc_nulls_last() for c, asc in order_by]
    best = (rows.join(labels, LEFT_ID, "inner")
            .withColumn("_rank", F.row_number().over(w.orderBy(*rank)))
            .withColumn(N_MERGED, F.count("*").over(w).cast("int"))
            .where(F.col("_rank") == 1)
            .select(*out_cols, N_MERGED))
    return singles.unionByName(best), int(len(links))
