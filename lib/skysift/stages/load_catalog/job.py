"""`skysift load-catalog`: a reference catalog (csv / fits / votable / parquet) -> the `labels` table.

Rows are keyed by spec_id (a column or a template over columns) or matched to
spectra by sky position. Summary: read = catalog rows = written (rows that
labelled at least one spectrum) + rejected (no label, excluded class, no key, no
spectrum within the radius); ``label_rows`` counts label rows written (a catalog
row may label several spectra of one object when matched by position).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.config import require
from skysift.io.tables import write_table_json
from skysift.runtime.output import staged
from skysift.runtime.rejects import write_rejects
from skysift.schema import LABELS, REJECTS
from skysift.stages.load_catalog.config import LoadCatalogConfig
from skysift.stages.load_catalog.tasks import derive_labels, nearest_catalog_row
from skysift.io.catalog_readers import read_catalog

CONFIG = LoadCatalogConfig


def load_labels(cfg: LoadCatalogConfig) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Driver side: read the catalog and derive (labels, rejects, rows read)."""
    df = read_catalog(cfg.input, cfg.format, cfg.na_values)
    df["_row"] = np.arange(len(df), dtype=np.int64)
    catalog = cfg.catalog_name or Path(cfg.input).name
    labels, rejects = derive_labels(df, cfg, catalog, str(cfg.input))
    return labels, rejects, len(df)


def run(spark, cfg: LoadCatalogConfig) -> dict:
    labels, rejects, read = load_labels(cfg)
    if cfg.key == "position":
        from pyspark.sql import functions as F

        targets = spark.read.parquet(cfg.match_table)
        missing = [c for c in ("spec_id", "ra_deg", "dec_deg") if c not in targets.columns]
        require(not missing, f"{cfg.match_table}: match_table needs spec_id, ra_deg, dec_deg; missing {missing}")
        matches = nearest_catalog_row(spark, targets, labels, cfg.match_radius_arcsec).toPandas()
        matched_rows = set(matches["_row"].tolist())
        unmatched = labels[~labels["_row"].isin(matched_rows)]
        rejects = pd.concat(
            [
                rejects,
                pd.DataFrame(
                    {
                        "source_file": str(cfg.input),
                        "row_index": unmatched["_row"].to_numpy(),
                        "spec_id": None,
                        "stage": "load-catalog",
                        "reason": f"no spectrum in {cfg.match_table} within {cfg.match_radius_arcsec} arcsec",
                    }
                ),
            ],
            ignore_index=True,
        )
        labels = matches.merge(labels.drop(columns=["spec_id", "match_sep_arcsec"]), on="_row", how="left")
        written = len(matched_rows)
    else:
        written = len(labels)
    with staged(cfg.output) as stage:
        table = pa.Table.from_pandas(labels.drop(columns=["_row"]).reindex(columns=LABELS.names),
                                     schema=LABELS, preserve_index=False)
        pq.write_table(table, f"{stage.uri}/part-00000.parquet")
        n_rej = write_rejects(stage.uri, pa.Table.from_pandas(rejects, schema=REJECTS, preserve_index=False))
        write_table_json(stage.uri, {"job": "load-catalog", "input": str(cfg.input), "task": cfg.task,
                                     "key": cfg.key})
    out = stage.output
    return {
        "read": int(read),
        "written": int(written),
        "rejected": int(n_rej),
        "output": str(out),
        "label_rows": int(table.num_rows),
        "task": cfg.task,
        "labels": {d["values"]: int(d["counts"]) for d in table.column("label").value_counts().to_pylist()},
    }
