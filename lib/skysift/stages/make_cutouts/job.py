"""`skysift make-cutouts` driver: catalog positions x the ingest-frames output -> the `cutouts` table (+ `_rejects`).

On Spark (``spark`` given) the catalog rows meet the fields through HEALPix, and no frame or tile passes
through the driver (``spark_plan.py``):

1. catalog rows get their order-``join_order`` cell (mapInPandas); the fields table's rows get their
   footprint cells from their corners (mapInPandas, ``tasks.field_cells``);
2. a broadcast left join on the cell pairs each row with the fields near it; a mapInPandas maps each
   pair to the field's pixels through its WCS (the fields table is read once per executor worker) and
   keeps the pairs on the frame, with their containment margin; a row on no frame becomes a placeholder
   carrying its reject reason;
3. a window per row keeps the field with every requested band and the largest margin (an edge source
   is cut from the overlapping frame that holds it whole when there is one; otherwise it is flagged EDGE);
   the rows left without such a field are written to ``_rejects``;
4. ``groupBy(field_id).applyInPandas``: one task per field reads that field's tiles (or frames), cuts
   all its sources in batched calls and writes its own files ``cutouts/healpix_part=P/part-FIELD.parquet``.

Catalogs that are not Parquet (FITS, VOTable, CSV) are read by the driver (only the id and position
columns go on); Parquet catalogs are read by the executors. ``spark=None`` runs the same functions with
pandas merges in this process: the sequential twin, which writes the same rows.

Tiles or frames (``read_from``): measured on the real field 2583-2-136 (g, r, i; 4,791 cutouts of 64 px;
2-core machine shared with other jobs), getting the registered stack from the field's 12 tiles (Parquet,
51 MB) and pasting them back took 0.32 s (1.4 s on a cold first read); reading the three bz2 frames again
took 2.1 s and registering g and i 0.75-0.95 s more: ~9x. So the tiles are the default; bands the tiles
lack (ugriz cutouts from a gri ingest) come from their frames, registered exactly as ingest does (the
registration settings are read from the input's ``_table.json``). Writing the cutouts (1.7 s for those
4,791 rows, 309 MB of float32 before snappy) is then the largest executor share.

Resume (RELIABILITY.md): the work items are the fields of the input's fields table, sorted by field_id
(partitions by a stable key, ``runtime.resume``); the task of a field writes its files, named by the field,
then the field's item marker (``finish_item``). A rerun after a kill (``resume=true``, the default) with the
same config, catalog files, input (its manifest's time) and field count leaves the fields with a marker out
of the cutting (the twin skips them, Spark filters their rows out before the groupBy) and takes their
stats rows from the markers. The join, the field choice and the rejects run again (a pass over the
catalog; the rejects are rewritten whole).

Summary: ``read`` = catalog rows; ``written`` = cutout rows; ``rejected`` = rows in ``_rejects`` (invalid
position, on no ingested frame, or only on fields that lack a requested band).
"""
from __future__ import annotations

import os

import pandas as pd

from skysift.config import to_dict
from skysift.io.tables import read_table_json, write_table_json
from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import exists, join, resolve
from skysift.runtime.output import count_rows, read_table, staged
from skysift.runtime.rejects import Reject, read_rejects, write_rejects
from skysift.runtime.resume import completed_items, files_fingerprint, finish_item, resume_key, resumed_count
from skysift.stages.make_cutouts.config import MakeCutoutsConfig
from skysift.stages.make_cutouts.tasks import (
    CUTOUTS_DIR, FIELDS_DIR, STATS_COLUMNS, CutSettings, add_cells,
    candidate_positions, catalog_format, choose_fields, cut_field, field_cells, load_fields, read_catalog_pandas)

CONFIG = MakeCutoutsConfig
_FIELD_COLUMNS = ["field_id", "wcs_header", "height_px", "width_px", "corners_ra_deg", "corners_dec_deg"]


def _settings(cfg: MakeCutoutsConfig) -> CutSettings:
    fields = join(cfg.input, FIELDS_DIR)
    if not exists(fields):
        raise SkysiftError(f"input {cfg.input!r}: no fields/ table there; give the output folder of `skysift ingest-frames`")
    ingest = read_table_json(cfg.input).get("config", {})
    fs, path = resolve(join(cfg.input, "_manifest.json"))
    info = fs.get_file_info(path)
    version = str(info.mtime_ns) if info.mtime_ns is not None else ""
    uri = cfg.input if "://" in cfg.input else os.path.abspath(cfg.input)
    return CutSettings(input=uri, version=version, registration_order=ingest.get("registration_order", "bilinear"),
                       registration_step_px=int(ingest.get("registration_step_px", 64)))


def run(spark, cfg: MakeCutoutsConfig) -> dict:
    """Cut ``cfg.catalog``'s positions from the fields of ``cfg.input`` into ``cfg.output`` (spark=None: the twin)."""
    settings = _settings(cfg)
    fmt = catalog_format(cfg.catalog, cfg.catalog_format)
    field_ids = sorted(read_table(settings.input, columns=["field_id"], under=FIELDS_DIR).column("field_id").to_pylist())
    key = resume_key(cfg, catalog=files_fingerprint(_catalog_files(cfg.catalog)), input=to_dict(settings),
                     n_fields=len(field_ids))
    with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
        items = FieldItems(field_ids, stage.markers("fields"))
        if spark is None:
            read, stats = _run_twin(stage.uri, cfg, settings, fmt, items)
        else:
            from skysift.stages.make_cutouts.spark_plan import run_spark

            read, stats = run_spark(spark, stage.uri, cfg, settings, fmt, items)
        written = count_rows(stage.uri, under=CUTOUTS_DIR)
        if sum(s["written"] for s in stats) != written:
            raise RuntimeError("cutouts reported by the tasks differ from the rows in the cutouts files")
        rejected = read_rejects(stage.uri).num_rows
        if read != written + rejected:
            raise RuntimeError(f"catalog accounting failed: {read} rows read, {written} cut, {rejected} rejected")
        write_table_json(stage.uri, {"table": "cutouts", "partition_column": "healpix_part",
                                     "partition_order": cfg.partition_order, "producer": "skysift make-cutouts",
                                     "input": settings.input, "config": to_dict(cfg)})
    seconds = {k[:-2]: round(float(sum(s[k] for s in stats)), 3) for k in STATS_COLUMNS if k.endswith("_s")}
    return {"read": read, "written": written, "rejected": rejected, "output": stage.output, "fields": len(stats),
            "resumed_tasks": resumed_count(stats),
            "flag_edge": int(sum(s["flag_edge"] for s in stats)), "flag_nonfinite": int(sum(s["flag_nonfinite"] for s in stats)),
            "flag_masked": int(sum(s["flag_masked"] for s in stats)), "executor_seconds": seconds,
            "note": "read = catalog rows; written = cutouts; rejected = rows on no usable frame"}


def _catalog_files(catalog: str) -> list[str]:
    """The catalog's files: a folder's (sorted, recursive), or the one file / URI."""
    from pathlib import Path

    root = Path(catalog)
    if "://" not in catalog and root.is_dir():
        return sorted(str(p) for p in root.rglob("*") if p.is_file())
    return [catalog if "://" in catalog else os.path.abspath(catalog)]


class FieldItems:
    """The resume items of one run: the input's fields by sorted field_id, and those with a marker."""

    def __init__(self, field_ids: list[str], markers: str):
        self.index = {f: i for i, f in enumerate(field_ids)}
        self.markers = markers
        self.done = completed_items(markers, len(field_ids))
        self.done_fields = [f for f, i in self.index.items() if i in self.done]

    def finish(self, row: dict) -> dict:
        """Task side, after the field's files: its marker (and the test-only fault switch); returns ``row``."""
        finish_item(self.markers, self.index[row["field_id"]], len(self.index), row)
        return row

    def kept(self, field_id: str) -> dict | None:
        """The stats row of a field with a marker, or None."""
        return self.done.get(self.index[field_id])


def _run_twin(staging: str, cfg: MakeCutoutsConfig, settings: CutSettings, fmt: str,
              items: FieldItems) -> tuple[int, list[dict]]:
    """The sequential twin: the Spark plan's steps as pandas merges, the same per-field function."""
    cat = add_cells(read_catalog_pandas(cfg, fmt), cfg.join_order)
    fields = read_table(settings.input, columns=_FIELD_COLUMNS, under=FIELDS_DIR).to_pandas()
    pairs = cat.merge(field_cells(fields, cfg.join_order), on="cell", how="left")
    cands = candidate_positions(pairs, load_fields(settings.input, settings.version), tuple(cfg.bands), cfg.size_px)
    best = choose_fields(cands)
    lost = best[~best["complete"]]
    write_rejects(staging, [Reject(source_file=r.source_file, stage="locate" if pd.isna(r.field_id) else "bands",
                                   row_index=int(r.row_index), spec_id=r.object_id, reason=r.lacking)
                            for r in lost.itertuples()], name="part-driver.parquet")
    good = best[best["complete"]]
    stats = [items.kept(fid) or items.finish(cut_field(staging, cfg, settings, group))
             for fid, group in good.groupby("field_id", sort=True)]
    return len(cat), stats
