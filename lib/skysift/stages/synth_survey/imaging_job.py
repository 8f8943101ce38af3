"""The imaging part of `skysift synth-survey` (imaging.enabled): fields, survey tables, linked spectra, stamps.

Driver side only (the work runs on the executors through runtime.tasks):

1. fields: one work item per global field index (``imaging_tasks.field_task``);
2. survey-wide tables, on the driver from the sky cells (catalogue-sized: ~150 objects per 400 x 600 field,
   ~2,000 per SDSS field): imaging/truth (IMAGING_TRUTH, one row per object) and imaging/mpajhu (MPAJHU);
3. the spectra of the spectroscopic subset (``spectra_link.spectral_parameters``), ``batch_rows`` per task
   chunk, through the job's own spectral writer: spectra/ + truth/ next to the default survey's;
4. stamps (imaging.n_stamps > 0).

Output under OUTPUT/imaging/: frames/, photoobj/, specphoto/, field_truth/, truth/, mpajhu/, stamps/,
stamps_truth/ (each table with its _table.json).
"""
from __future__ import annotations

import functools
from typing import Callable

import pyarrow.parquet as pq

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.filesystem import makedirs
from skysift.runtime.resume import resumed_count
from skysift.runtime.tasks import run_tasks, task_count
from skysift.stages.synth_survey.config import SynthSurveyConfig
from skysift.stages.synth_survey.imaging_tasks import FIELD_TABLES, field_task, linked_spectra_task, stamp_task

LINKED_PER_TASK = 2000
"""Linked spectra per task (as the default survey's rows_per_partition)."""


def _parallelism(spark) -> int:
    return 1 if spark is None else int(spark.sparkContext.defaultParallelism)


def _props(cfg: SynthSurveyConfig, table: str) -> dict:
    return {"table": table, "producer": "skysift synth-survey (imaging)", "seed": cfg.seed, "config": to_dict(cfg.imaging)}


def run_imaging(spark, cfg: SynthSurveyConfig, staging: str,
                markers: Callable[[str], str] | None = None) -> tuple[dict, list[dict]]:
    """Generate the imaging survey into ``staging``; returns (summary, the linked spectra's task stats).

    ``markers``: phase -> resume folder (``Staging.markers``), so that a rerun skips completed tasks."""
    marks = markers or (lambda phase: None)
    from skysift.synth.imaging.geometry import n_field_indices
    from skysift.synth.imaging.survey import survey_tables

    im, scfg = cfg.imaging, cfg.imaging.survey_config()
    n_fields = n_field_indices(scfg)
    n_tasks = -(-n_fields // im.fields_per_task)
    fstats = run_tasks(functools.partial(field_task, cfg, staging), list(range(n_fields)), n_tasks, spark,
                       markers=marks("fields"))
    for name in FIELD_TABLES:
        write_table_json(f"{staging}/imaging/{name}", _props(cfg, name))

    tables = survey_tables(cfg.seed, scfg)
    for name in ("truth", "mpajhu"):
        makedirs(f"{staging}/imaging/{name}")
        pq.write_table(tables[name], f"{staging}/imaging/{name}/part-0000000000.parquet")
        write_table_json(f"{staging}/imaging/{name}", _props(cfg, name))

    params = tables["spectral_parameters"]
    linked = []
    if im.spectra and len(params):
        records = params.to_dict("records")
        n = task_count(len(records), LINKED_PER_TASK, _parallelism(spark))
        linked = run_tasks(functools.partial(linked_spectra_task, cfg, staging), records, n, spark,
                           markers=marks("linked"))

    n_stamps, sstats = 0, []
    if im.n_stamps:
        firsts = list(range(0, im.n_stamps, im.stamps_per_task))
        sstats = run_tasks(functools.partial(stamp_task, cfg, staging), firsts, len(firsts), spark,
                           markers=marks("stamps"))
        n_stamps = sum(s["stamps"] for s in sstats)
        for name in ("stamps", "stamps_truth"):
            write_table_json(f"{staging}/imaging/{name}", _props(cfg, name))

    summary = {
        "fields": sum(s["fields"] for s in fstats),
        "frames_written": sum(s["frames"] for s in fstats),
        "photoobj_rows": sum(s["photoobj_rows"] for s in fstats),
        "specphoto_rows": sum(s["specphoto_rows"] for s in fstats),
        "objects": tables["truth"].num_rows,
        "mpajhu_rows": tables["mpajhu"].num_rows,
        "spectroscopic_objects": len(params),
        "linked_spectra": sum(s["rows"] for s in linked),
        "stamps": n_stamps,
        "field_seconds": round(sum(s["seconds"] for s in fstats), 2),
        "resumed_tasks": resumed_count(fstats + linked + sstats),  # tasks whose marker a killed run left
    }
    return summary, linked
