"""Position matching of catalog rows to spectra: each spectrum gets its nearest catalog row within a radius.

Uses the project cross-match (``skysift.stages.crossmatch.job``: HEALPix buckets planned from
a sample, exact separation per bucket on Spark) with spectra as the left side and
catalog rows as the right side, mode ``nearest``. ``_fallback_nearest`` is a small
stand-in with the same method (order-k cells, catalog rows copied to the 8
neighbour cells, equi-join, haversine, nearest per spectrum) written before
``skysift.stages.crossmatch.job`` existed; it is used only when that module cannot be
imported, and a test checks that both give the same matches.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd


def _cells(ra: np.ndarray, dec: np.ndarray, order: int) -> np.ndarray:
    from skysift.sky.healpix import cells, healpix29

    return cells(healpix29(ra, dec), order)


def _target_cells(order: int):
    def fn(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            ok = np.isfinite(pdf["ra_deg"]) & np.isfinite(pdf["dec_deg"]) & (pdf["dec_deg"].abs() <= 90)
            pdf = pdf[ok.to_numpy()]
            out = pd.DataFrame({"spec_id": pdf["spec_id"].astype(object).to_numpy(),
                                "t_ra": pdf["ra_deg"].to_numpy(float), "t_dec": pdf["dec_deg"].to_numpy(float)})
            out["cell"] = _cells(out["t_ra"].to_numpy(), out["t_dec"].to_numpy(), order)
            yield out

    return fn


def nearest_catalog_row(spark, targets, catalog: pd.DataFrame, radius_arcsec: float):
    """Spark DataFrame (spec_id, _row, match_sep_arcsec): for each target spectrum, its nearest catalog row.

    ``targets``: Spark DataFrame with spec_id, ra_deg, dec_deg; ``catalog``: pandas with _row, ra_deg, dec_deg.
    """
    try:
        from skysift.stages.crossmatch import job as xm
    except ImportError:  # pragma: no cover - only before the shared cross-match existed
        return _fallback_nearest(spark, targets, catalog, radius_arcsec)
    return _shared_nearest(spark, xm, targets, catalog, radius_arcsec)


def _shared_nearest(spark, xm, targets, catalog: pd.DataFrame, radius_arcsec: float):
    from pyspark.sql import functions as F

    from skysift.sky.healpix import neighbour_order

    def valid(df):
        return df.where(F.col("ra_deg").isNotNull() & F.col("dec_deg").isNotNull() & ~F.isnan("ra_deg")
                        & ~F.isnan("dec_deg") & (F.abs("dec_deg") <= 90))

    left = valid(targets.select("spec_id", F.col("ra_deg").cast("double"), F.col("dec_deg").cast("double")))
    right = valid(spark.createDataFrame(catalog[["_row", "ra_deg", "dec_deg"]].reset_index(drop=True)))
    cfg = xm.CrossmatchConfig(left="targets", right="catalog", output="-", radius_arcsec=radius_arcsec,
                              mode="nearest", how="inner", right_suffix="_cat")
    spec = xm.build_spec(cfg, left, right, neighbour_order(radius_arcsec))
    prepared = xm.prepare(spark, left, right, spec, cfg.target_rows_per_group, cfg.sample_rows, cfg.seed)
    out = xm.matched_frame(spark, left, right, prepared)
    return out.select("spec_id", F.col("_row_cat").alias("_row"), F.col(xm.SEPARATION).alias("match_sep_arcsec"))


def _fallback_nearest(spark, targets, catalog: pd.DataFrame, radius_arcsec: float):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skysift.sky.healpix import neighbour_order, neighbourhood

    order = neighbour_order(radius_arcsec)
    cat = catalog[["_row", "ra_deg", "dec_deg"]].reset_index(drop=True)
    nb = neighbourhood(_cells(cat["ra_deg"].to_numpy(), cat["dec_deg"].to_numpy(), order), order)
    reps = pd.DataFrame(
        {
            "_row": np.repeat(cat["_row"].to_numpy(np.int64), 9),
            "c_ra": np.repeat(cat["ra_deg"].to_numpy(float), 9),
            "c_dec": np.repeat(cat["dec_deg"].to_numpy(float), 9),
            "cell": nb.ravel(),
        }
    )
    reps = reps[reps["cell"] >= 0]
    cat_df = spark.createDataFrame(reps)
    tgt = targets.select("spec_id", "ra_deg", "dec_deg").mapInPandas(
        _target_cells(order), "spec_id string, t_ra double, t_dec double, cell long"
    )
    r1, d1, r2, d2 = (F.radians(c) for c in ("t_ra", "t_dec", "c_ra", "c_dec"))
    hav = F.pow(F.sin((d2 - d1) / 2), 2) + F.cos(d1) * F.cos(d2) * F.pow(F.sin((r2 - r1) / 2), 2)
    sep = F.degrees(2 * F.asin(F.sqrt(F.least(F.lit(1.0), hav)))) * 3600.0
    pairs = tgt.join(cat_df, on="cell").withColumn("match_sep_arcsec", sep).filter(
        F.col("match_sep_arcsec") <= radius_arcsec
    )
    w = Window.partitionBy("spec_id").orderBy("match_sep_arcsec", "_row")
    return (
        pairs.withColumn("_n", F.row_number().over(w))
        .filter(F.col("_n") == 1)
        .select("spec_id", "_row", "match_sep_arcsec")
    )
