"""Catalog rows -> label rows: the column mapping, label maps, BPT labels and spec_id templates.

``derive_labels`` is the per-chunk kernel of load-catalog (pandas in, pandas out,
vectorised per column); every row it cannot label becomes a reject row with a
one-line reason, so read = labelled + rejected.
"""
from __future__ import annotations

import string
import numpy as np
import pandas as pd

from skysift.schema import LINE_FLUX_COLUMNS
from skysift.spectra.bpt import classify_bpt
from skysift.stages.load_catalog.config import LoadCatalogConfig

EXCLUDE = ("", "-")  # a label_map target that removes the class from the task (counted as rejected)


def parse_label_map(entries) -> dict[str, str]:
    """('a:b', 'c:-') -> {'a': 'b', 'c': '-'} (split at the last colon, whitespace stripped)."""
    out = {}
    for pair in entries:
        src, dst = pair.rsplit(":", 1)
        out[src.strip()] = dst.strip()
    return out


def format_spec_ids(df: pd.DataFrame, template: str) -> tuple[pd.Series, pd.Series]:
    """spec_id per row from a str.format template over columns; (ids, reason for rows it cannot build)."""
    n = len(df)
    out = pd.Series([""] * n, index=df.index, dtype=object)
    reason = pd.Series([None] * n, index=df.index, dtype=object)
    for literal, name, spec, _ in string.Formatter().parse(template):
        out = out + literal
        if name is None:
            continue
        if name not in df.columns:
            raise KeyError(f"spec_id_template field {name!r} is not a catalog column; columns: {list(df.columns)}")
        col = df[name]
        if spec and spec.endswith("d"):
            num = pd.to_numeric(col, errors="coerce")
            bad = num.isna() | (num != np.floor(num))
            width = int(spec[:-1].lstrip("0") or 0) if spec[:-1] else 0
            text = num.where(~bad, 0).astype("int64").astype(str)
            text = text.str.zfill(width) if spec.startswith("0") else text
        else:
            bad = col.isna()
            text = col.map(lambda v: format(v, spec) if not pd.isna(v) else "")
        reason = reason.where(reason.notna() | ~bad, f"column {name} is missing or not usable for spec_id")
        out = out + text.astype(object)
    return out, reason


def raw_labels(df: pd.DataFrame, cfg: LoadCatalogConfig) -> tuple[pd.Series, str]:
    """Unmapped label per row (None where missing) and the reason text for missing ones."""
    if cfg.label_from == "bpt":
        need = [cfg.bpt_hb_column, cfg.bpt_oiii_column, cfg.bpt_ha_column, cfg.bpt_nii_column]
        missing = [c for c in need + list(cfg.bpt_sii_columns) + [cfg.bpt_oi_column] if c and c not in df.columns]
        if any(c in missing for c in need):
            raise KeyError(f"BPT labels need columns {need}; missing {missing}")

        def col(name):
            return df[name].to_numpy(dtype=float) if name and name in df.columns else None

        sii = None
        if cfg.bpt_sii_columns and all(c in df.columns for c in cfg.bpt_sii_columns):
            sii = np.sum([df[c].to_numpy(dtype=float) for c in cfg.bpt_sii_columns], axis=0)
        lab = classify_bpt(col(cfg.bpt_hb_column), col(cfg.bpt_oiii_column), col(cfg.bpt_ha_column),
                           col(cfg.bpt_nii_column), sii, col(cfg.bpt_oi_column))
        return pd.Series(lab, index=df.index, dtype=object), "BPT: Hb/[OIII]/Ha/[NII] flux missing or not > 0"
    if cfg.label_column not in df.columns:
        raise KeyError(f"label_column {cfg.label_column!r} is not a catalog column; columns: {list(df.columns)}")
    s = df[cfg.label_column]
    text = s.astype(object).where(s.notna(), None)
    text = text.map(lambda v: None if v is None else str(v).strip() or None)
    return text, f"no label (column {cfg.label_column} empty)"


def derive_labels(df: pd.DataFrame, cfg: LoadCatalogConfig, catalog: str, source: str):
    """(labels, rejects) for one chunk of catalog rows; labels carry `_row` (row index in the file)."""
    n = len(df)
    rows = np.arange(n, dtype=np.int64) if "_row" not in df.columns else df["_row"].to_numpy()
    reason = pd.Series([None] * n, index=df.index, dtype=object)

    def reject(mask, text):
        nonlocal reason
        mask = pd.Series(np.asarray(mask, dtype=bool), index=df.index)
        reason = reason.where(reason.notna() | ~mask, text)

    label, missing_text = raw_labels(df, cfg)
    if cfg.fill_missing_label:
        label = label.where(label.notna(), cfg.fill_missing_label)
    reject(label.isna(), missing_text)
    mapping = parse_label_map(cfg.label_map)
    if mapping:
        mapped = label.map(lambda v: mapping.get(v) if v is not None else None)
        unmapped = label.notna() & mapped.isna()
        if cfg.unmapped == "reject":
            reject(unmapped, f"label not in label_map ({', '.join(sorted(mapping))})")
        else:
            mapped = mapped.where(~unmapped, label)
        excluded = mapped.isin(EXCLUDE)
        for src in [s for s, d in mapping.items() if d in EXCLUDE]:
            reject(excluded & (label == src), f"label {src!r} excluded from task {cfg.task!r} by label_map")
        label = mapped

    ra = pd.to_numeric(df[cfg.ra_column], errors="coerce") if cfg.ra_column in df.columns else pd.Series(np.nan, index=df.index)
    dec = pd.to_numeric(df[cfg.dec_column], errors="coerce") if cfg.dec_column in df.columns else pd.Series(np.nan, index=df.index)
    z = (pd.to_numeric(df[cfg.z_column], errors="coerce") if cfg.z_column and cfg.z_column in df.columns
         else pd.Series(np.nan, index=df.index))
    if cfg.key == "spec_id":
        if cfg.spec_id_template:
            spec_id, id_reason = format_spec_ids(df, cfg.spec_id_template)
            reason = reason.where(reason.notna(), id_reason)
        else:
            if cfg.spec_id_column not in df.columns:
                raise KeyError(f"spec_id_column {cfg.spec_id_column!r} is not a catalog column; "
                               f"columns: {list(df.columns)} (or set spec_id_template / key=position)")
            raw = df[cfg.spec_id_column]
            spec_id = raw.astype(object).where(raw.notna(), None).map(lambda v: None if v is None else str(v).strip())
            reject(spec_id.isna() | (spec_id == ""), f"no spec_id (column {cfg.spec_id_column} empty)")
    else:
        spec_id = pd.Series([None] * n, index=df.index, dtype=object)
        ok = np.isfinite(ra) & np.isfinite(dec) & (dec.abs() <= 90)
        reject(~ok, f"no usable position ({cfg.ra_column}, {cfg.dec_column})")

    good = reason.isna().to_numpy()
    labels = pd.DataFrame(
        {
            "spec_id": spec_id.to_numpy()[good],
            "label": label.to_numpy()[good],
            "task": cfg.task,
            "catalog": catalog,
            "ra_deg": ra.to_numpy(dtype=float)[good],
            "dec_deg": dec.to_numpy(dtype=float)[good],
            "z": z.to_numpy(dtype=float)[good],
            "match_sep_arcsec": np.nan,
            "_row": rows[good],
        }
    )
    bad = ~good
    rejects = pd.DataFrame(
        {
            "source_file": source,
            "row_index": rows[bad],
            "spec_id": spec_id.to_numpy()[bad],
            "stage": "load-catalog",
            "reason": reason.to_numpy()[bad],
        }
    )
    return labels, rejects


def nearest_catalog_row(spark, targets, catalog: pd.DataFrame, radius_arcsec: float):
    """Spark DataFrame (spec_id, _row, match_sep_arcsec): for each target spectrum, its nearest catalog row.

    ``targets``: Spark DataFrame with spec_id, ra_deg, dec_deg; ``catalog``: pandas with _row, ra_deg, dec_deg.
    The project cross-match engine (``xmatch``) with the spectra as the left side, mode ``nearest``.
    """
    from pyspark.sql import functions as F

    from skysift.sky.healpix import neighbour_order
    from skysift.xmatch.catalogs import valid_condition
    from skysift.xmatch.engine import match_spec, matched_frame
    from skysift.xmatch.frames import SEPARATION
    from skysift.xmatch.plan import prepare

    left = targets.select("spec_id", F.col("ra_deg").cast("double"), F.col("dec_deg").cast("double"))
    left = left.where(valid_condition("ra_deg", "dec_deg"))
    right = spark.createDataFrame(catalog[["_row", "ra_deg", "dec_deg"]].reset_index(drop=True))
    right = right.where(valid_condition("ra_deg", "dec_deg"))
    spec = match_spec(left.columns, right.columns, neighbour_order(radius_arcsec), radius_arcsec,
                      mode="nearest", how="inner", right_suffix="_cat")
    # catalogs of labels are small: one planning sample of all rows, one group per core at most
    prepared = prepare(spark, left, right, spec, target_rows=2_000_000, sample_rows=200_000)
    out = matched_frame(spark, left, right, prepared)
    return out.select("spec_id", F.col("_row_cat").alias("_row"), F.col(SEPARATION).alias("match_sep_arcsec"))
