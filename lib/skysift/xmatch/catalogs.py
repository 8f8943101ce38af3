"""Catalog inputs of the cross-match engine: reading, column checks, the position-validity rule as a Spark
column expression, and the rows that cannot be matched as rejects.

The rule is ``sky.healpix.valid_position`` (finite, RA in [0, 360], Dec in [-90, 90]) written for the JVM, so
invalid rows are counted and rejected without a Python pass.
"""
from __future__ import annotations

from skysift.runtime.errors import SkysiftError
from skysift.sky.healpix import safe_radius_arcsec

MAX_RADIUS_ARCSEC = safe_radius_arcsec(0)
"""Largest match radius the HEALPix neighbourhood scheme supports (order 0)."""


class CatalogColumnError(SkysiftError):
    """A catalog lacks a column the job needs; the message names the columns found."""


def require_columns(df, needed: list[str], what: str) -> None:
    """Fail with the list of columns found when a needed column is absent."""
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise CatalogColumnError(
            f"{what}: column(s) {', '.join(map(repr, missing))} not found; columns found: {', '.join(df.columns)}"
        )


def valid_condition(ra: str, dec: str, radius: str | None = None):
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
    return df.where(~valid_condition(ra, dec, radius)).select(
        F.input_file_name().alias("source_file"),
        F.lit(None).cast("long").alias("row_index"),
        (F.col(id_column).cast("string") if id_column else F.lit(None).cast("string")).alias("spec_id"),
        F.lit("validate").alias("stage"),
        reason.alias("reason"),
    )


def read_catalog(spark, path: str, what: str):
    """A Parquet catalog as a Spark DataFrame; a clear error when the path does not exist."""
    from skysift.runtime.output import exists

    if not exists(path):
        raise SkysiftError(f"{what} catalog {path!r} does not exist")
    return spark.read.parquet(str(path))
