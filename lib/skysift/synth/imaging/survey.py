"""Entry points for a job: one field's files and catalogs (an executor's work item), and the survey-level tables.

``make_field`` depends on (seed, config, field index) only, so executors can make the
fields of a survey in any order and in parallel; ``survey_tables`` builds the tables
that span fields (the one object list, its spectroscopic subset and the MPA-JHU-like
SFRs) from the sky cells alone, on the driver or on executors by camcol.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from skysift.synth.imaging import catalogs, fits_frames, frames, objects, spectra_link
from skysift.synth.imaging.bands import BANDS
from skysift.synth.imaging.config import ImagingSurveyConfig


@dataclass
class FieldProducts:
    """What one field work item produced."""

    paths: list[Path]
    """Frame files written (u g r i z), empty when no folder was given."""
    photoobj: pa.Table
    """photoObj-like detections of the field (PHOTOOBJ)."""
    specphoto: pa.Table
    """SpecPhoto-like rows of the field's primary spectroscopic objects (SPECPHOTO)."""
    truth: pa.Table
    """Objects with light on the field, with the per-field columns (IMAGING_TRUTH)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Time per step: objects, render, noise, catalogs, write."""


def make_field(seed: int, cfg: ImagingSurveyConfig, index: int, out_dir: str | Path | None = None,
               compress: bool = True, bands: tuple[str, ...] = BANDS) -> FieldProducts:
    """Render field ``index``, write its frames into ``out_dir`` (if given) and make its catalogs."""
    fi = frames.render_field(seed, cfg, index)
    t0 = time.perf_counter()
    cats = catalogs.field_catalogs(seed, cfg, fi)
    t1 = time.perf_counter()
    paths = [] if out_dir is None else fits_frames.write_field(fi, out_dir, seed, cfg.rerun, compress, bands)
    t2 = time.perf_counter()
    return FieldProducts(paths=paths, photoobj=cats["photoobj"], specphoto=cats["specphoto"], truth=cats["truth"],
                         seconds={**fi.seconds, "catalogs": t1 - t0, "write": t2 - t1})


def survey_tables(seed: int, cfg: ImagingSurveyConfig) -> dict[str, object]:
    """The survey-wide tables: 'truth' (one row per object, IMAGING_TRUTH), 'mpajhu' (MPAJHU) and
    'spectral_parameters' (pandas: the spectral model's overrides per spectroscopic object, rows = object ids)."""
    objs = objects.survey_objects(seed, cfg)
    return {
        "truth": catalogs.truth_table(objs),
        "mpajhu": catalogs.mpajhu_table(seed, cfg, objs),
        "spectral_parameters": spectra_link.spectral_parameters(objs),
    }
