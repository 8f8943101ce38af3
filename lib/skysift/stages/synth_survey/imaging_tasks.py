"""Per-task work of `skysift synth-survey` with imaging.enabled (no Spark): fields, linked spectra, stamps.

Each work item depends on (seed, config, item index) only and writes files named by its index, so the
same seed gives the same bytes whatever the task split, and a retried task overwrites its own files:

* field i     -> imaging/frames/frame-BAND-RUN-CAMCOL-FIELD.fits[.bz2] (u g r i z),
                 imaging/{photoobj,specphoto,field_truth}/part-<i:010d>.parquet;
* linked k..  -> the spectra of spectroscopic objects k.. (object_id order) through this job's spectral
                 writer (spectra/ and truth/, part-linked-<k:010d>.parquet), spec_id = synth-<object_id>;
* stamps s..  -> imaging/stamps/part-<s:010d>.parquet and imaging/stamps_truth/part-<s:010d>.parquet.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from skysift.stages.synth_survey.config import LINKED_ROW_BASE, SynthSurveyConfig
from skysift.stages.synth_survey.tasks import PartitionWriter

FRAMES_DIR = "imaging/frames"
"""Frames of the imaging survey, under OUTPUT."""
FIELD_TABLES = ("photoobj", "specphoto", "field_truth")
"""Per-field tables under OUTPUT/imaging/: photoObj-like, SpecPhoto-like, truth with the per-field columns."""


def _write(root: Path, folder: str, part: str, table) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / folder / part)


def field_task(cfg: SynthSurveyConfig, root: str, first_index: int, indices: list[int]) -> dict:
    """One task: render, write and catalogue fields ``indices`` (global field indices, camcol-major)."""
    from skysift.synth.imaging.survey import make_field

    started = time.perf_counter()
    scfg = cfg.imaging.survey_config()
    out = Path(root)
    frames = photoobj = specphoto = 0
    steps: dict[str, float] = {}
    for index in indices:
        fp = make_field(cfg.seed, scfg, int(index), out / FRAMES_DIR, compress=cfg.imaging.compress)
        part = f"part-{int(index):010d}.parquet"
        for name, table in zip(FIELD_TABLES, (fp.photoobj, fp.specphoto, fp.truth)):
            _write(out, f"imaging/{name}", part, table)
        frames += len(fp.paths)
        photoobj += fp.photoobj.num_rows
        specphoto += fp.specphoto.num_rows
        for k, v in fp.seconds.items():
            steps[k] = steps.get(k, 0.0) + v
    return {"fields": len(indices), "frames": frames, "photoobj_rows": photoobj, "specphoto_rows": specphoto,
            "seconds": time.perf_counter() - started, **{f"seconds_{k}": v for k, v in steps.items()}}


def linked_rows(n_objects: int, first: int = 0) -> np.ndarray:
    """Spectral-model rows of spectroscopic objects first .. first + n_objects - 1 (object_id order)."""
    return LINKED_ROW_BASE + first + np.arange(n_objects, dtype=np.int64)


def linked_spectra_task(cfg: SynthSurveyConfig, root: str, first_index: int, records: list[dict]) -> dict:
    """One task: the spectra of the spectroscopic objects ``records`` (rows of spectra_link.spectral_parameters,
    object_id order; ``first_index`` = the first one's rank), written as the job writes its own spectra."""
    from skysift.synth.imaging.spectra_link import model_overrides

    params = pd.DataFrame.from_records(records)
    writer = PartitionWriter(cfg, root, LINKED_ROW_BASE + first_index, part=f"part-linked-{first_index:010d}.parquet")
    rows = linked_rows(len(params), first_index)
    overrides = model_overrides(params)
    for a in range(0, len(params), cfg.batch_rows):
        sl = slice(a, a + cfg.batch_rows)
        writer.write_chunk(rows[sl], {k: v[sl] for k, v in overrides.items()}, params["spec_id"].to_numpy()[sl])
    return {**writer.close(), "partitions": 0}


def stamp_task(cfg: SynthSurveyConfig, root: str, first_index: int, firsts: list[int]) -> dict:
    """One task: stamp batches starting at ``firsts`` (each stamps_per_task long, the last one clipped)."""
    from skysift.synth.imaging.stamps import stamp_batch, stamp_truth_table, stamps_table

    started = time.perf_counter()
    out, n = Path(root), 0
    sc = cfg.imaging.stamps
    for first in firsts:
        count = min(cfg.imaging.stamps_per_task, cfg.imaging.n_stamps - int(first))
        batch = stamp_batch(cfg.seed, sc, int(first), count)
        part = f"part-{int(first):010d}.parquet"
        _write(out, "imaging/stamps", part, stamps_table(batch, sc.pixel_scale_arcsec))
        _write(out, "imaging/stamps_truth", part, stamp_truth_table(batch))
        n += count
    return {"stamps": n, "seconds": time.perf_counter() - started}
