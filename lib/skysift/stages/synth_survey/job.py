"""`skysift synth-survey` driver: the built-in synthetic survey, generated on Spark executors.

The rows 0..n_spectra-1 are cut into partitions of ``rows_per_partition``;
``spark.range(n_partitions)`` gives each task one partition index through
``mapInPandas`` and the task generates its rows in
chunks of ``batch_rows`` (``model.generate``), writes its own output files into
the staging folder and returns one line of counts. Only those counts reach the
driver. Output (committed atomically by runtime.output.staged):

* format=fits:    OUTPUT/spectra/<plate>/spec-*.fits (SDSS/BOSS/LAMOST layouts),
                  OUTPUT/truth/part-<first row>.parquet (TRUTH schema)
* format=parquet: OUTPUT/spectra/healpix_part=<p>/part-<first row>.parquet (SPECTRA
                  schema, via spectra.processing.process_spectra_arrow: the
                  same resampling/normalisation as ingest-spectra), OUTPUT/truth/...,
                  OUTPUT/_rejects/ for spectra the processing refused.

* imaging.enabled (issue 14, ``imaging_job``): OUTPUT/imaging/frames/frame-BAND-RUN-CAMCOL-FIELD.fits[.bz2],
                  OUTPUT/imaging/{photoobj,specphoto,field_truth}/part-<field>.parquet, imaging/truth and
                  imaging/mpajhu (survey-wide), optional imaging/stamps + stamps_truth, and the spectra of
                  the spectroscopic objects in spectra/ + truth/ (part-linked-*; spec_id synth-<object_id>).
                  ``read`` then counts the default rows plus the linked spectra; ``imaging`` has the rest.
``model.population=lu2022_pool`` (the Lu et al. 2022 stand-in, ``synth.emission_pool``) adds
OUTPUT/templates/ (a spectra table whose z is the published z), OUTPUT/templates_truth/, the H II
region catalog OUTPUT/hii_regions/ (written here, on the driver: it is small and a function of the seed)
and the reference catalogs OUTPUT/catalogs/{cds,sdss,ned}/; the truth follows schema.POOL_TRUTH.

Every task writes files named by its first row with pyarrow/fitsio, so the same
seed and config give the same bytes. Executors write straight into OUTPUT's
staging folder: OUTPUT must be on a file system all executors see (local disk in
local mode, NFS/shared disk on a cluster).
"""
from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import pandas as pd

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.filesystem import makedirs
from skysift.runtime.output import staged
from skysift.runtime.resume import resumed_count
from skysift.runtime.tasks import run_tasks
from skysift.spectra.grid import resolve_grid
from skysift.stages.synth_survey.config import SynthSurveyConfig
from skysift.stages.synth_survey.imaging_job import run_imaging
from skysift.stages.synth_survey.tasks import n_partitions, n_template_partitions, source_label, synth_task

CONFIG = SynthSurveyConfig


def _finish(staging: str, cfg: SynthSurveyConfig, stats: pd.DataFrame, started: float, n_linked: int = 0) -> dict:
    stats = stats.reindex(columns=sorted(set(stats.columns) | {"written", "rejected", "files", "rows", "seconds", "partitions"}), fill_value=0)
    written, rejected, files = (int(stats[c].sum()) for c in ("written", "rejected", "files"))
    rows = int(stats["rows"].sum())
    if rows != cfg.n_spectra + n_linked:
        raise RuntimeError(f"synth-survey generated {rows} rows, expected {cfg.n_spectra + n_linked}")
    props = {"table": "truth", "producer": "skysift synth-survey", "seed": cfg.seed, "config": to_dict(cfg)}
    write_table_json(f"{staging}/truth", props)
    if cfg.format == "parquet":
        makedirs(f"{staging}/spectra")
        write_table_json(
            f"{staging}/spectra",
            {
                "table": "spectra",
                "grid_id": cfg.processing.grid.grid_id,
                "partition_column": "healpix_part",
                "partition_order": cfg.processing.partition_order,
                "producer": "skysift synth-survey",
                "config": to_dict(cfg),
            },
        )
    pool = {}
    if cfg.model.population == "lu2022_pool":
        pool = _finish_pool(staging, cfg, stats)
    write_table_json(staging, {"producer": "skysift synth-survey", "format": cfg.format, "config": to_dict(cfg)})
    seconds = time.perf_counter() - started
    task_seconds = float(stats["seconds"].sum())
    return {
        "read": cfg.n_spectra + n_linked,
        "written": written,
        "rejected": rejected,
        "files_written": files,
        "format": cfg.format,
        "partitions": int(stats["partitions"].sum()),
        "spectra_per_second": round(rows / seconds, 1) if seconds > 0 else None,
        "spectra_per_task_second": round(rows / task_seconds, 1) if task_seconds > 0 else None,
        **pool,
    }


def _finish_pool(staging: str, cfg: SynthSurveyConfig, stats: pd.DataFrame) -> dict:
    """lu2022_pool: the H II region catalog, the templates' and catalogs' table properties; their counts."""
    import pyarrow as pa

    from skysift.runtime.output import write_parquet_atomic
    from skysift.synth.emission_pool import region_catalog
    from skysift.synth.pool_config import REFERENCE_CATALOGS

    regions = region_catalog(cfg.seed, cfg.model.pool)
    write_parquet_atomic(f"{staging}/hii_regions/part-0000000000.parquet", pa.Table.from_pandas(regions,
                                                                                               preserve_index=False))
    write_table_json(f"{staging}/hii_regions", {"table": "hii_regions", "producer": "skysift synth-survey",
                                                "seed": cfg.seed})
    makedirs(f"{staging}/templates")
    write_table_json(f"{staging}/templates", {
        "table": "spectra", "grid_id": cfg.processing.grid.grid_id, "partition_column": "healpix_part",
        "partition_order": cfg.processing.partition_order, "producer": "skysift synth-survey (templates)",
        "config": to_dict(cfg)})
    for name in REFERENCE_CATALOGS:
        makedirs(f"{staging}/catalogs/{name}")
    return {"templates": int(stats["template_rows"].sum()), "templates_written": int(stats["templates_written"].sum()),
            "templates_rejected": int(stats["templates_rejected"].sum()), "hii_regions": len(regions)}


def run(spark, cfg: SynthSurveyConfig) -> dict:
    """Generate cfg.n_spectra spectra into cfg.output: on the executors, or in this process when spark is None
    (the sequential twin: tests, the benchmark baseline)."""
    started = time.perf_counter()
    # processing.grid.from_model (format=parquet writes spectra on a grid): asked of the registry once, here
    grid, grid_source = resolve_grid(cfg.processing.grid)
    cfg = dataclasses.replace(cfg, processing=dataclasses.replace(cfg.processing, grid=grid))
    # the linked spectra's task count follows the parallelism: part of what the staged files depend on
    key = {"config": {k: v for k, v in to_dict(cfg).items() if k != "resume"},
           "parallelism": 1 if spark is None else int(spark.sparkContext.defaultParallelism)}
    with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
        n_parts = n_partitions(cfg) + n_template_partitions(cfg)
        # one partition per task: only the partition numbers leave the driver
        stats = run_tasks(functools.partial(synth_task, cfg, stage.uri), list(range(n_parts)), n_parts, spark,
                          markers=stage.markers("spectra"))
        imaging, linked = ({}, []) if not cfg.imaging.enabled else run_imaging(spark, cfg, stage.uri, stage.markers)
        summary = _finish(stage.uri, cfg, pd.DataFrame(stats + linked), started, imaging.get("linked_spectra", 0))
        summary["resumed_tasks"] = resumed_count(stats) + imaging.get("resumed_tasks", 0)
    return {**summary, **({"imaging": imaging} if imaging else {}), **({"grid_from_model": grid_source} if grid_source else {}),
            "output": stage.output}


def read_truth(output: str | Path) -> pd.DataFrame:
    """The truth table of a synth-survey output, sorted by row number."""
    import pyarrow.dataset as pads

    table = pads.dataset(str(Path(output) / "truth"), format="parquet").to_table()
    return table.to_pandas().sort_values("row_number", kind="stable").reset_index(drop=True)


__all__ = ["CONFIG", "SynthSurveyConfig", "run", "read_truth"]
