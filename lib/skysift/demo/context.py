"""The state one demo run carries between its pipelines: the stage log, the outputs and the figures."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skysift.demo.config import DemoConfig


@dataclass
class DemoRun:
    """One run of the demo: every pipeline runs its jobs through ``stage`` and records what it made."""

    spark: Any
    """The one local SparkSession every stage shares."""
    cfg: DemoConfig
    out: Path
    """The demo's output folder (absolute)."""
    real: Path | None
    """../shared/data when present and ``include_real`` is on."""
    stages: list[dict] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    """Label -> path, linked from the index page."""
    figures: dict[str, dict[str, Path]] = field(default_factory=dict)
    """Section (pipeline) -> caption -> PNG under ``out``, shown inline on the index page."""
    products: dict[str, Path] = field(default_factory=dict)
    """What a later pipeline reads (e.g. ``imaging_survey``, ``cutouts_synthetic``)."""

    def stage(self, name: str, job: str, argv: list, note: str = "") -> dict:
        """Run ``skysift JOB ARGV`` in this session, log its summary and time, return the summary."""
        from skysift.cli import run_job

        print(f"\n=== demo stage {len(self.stages) + 1}: {name} ({job}) ===", flush=True)
        started = time.perf_counter()
        summary = run_job(job, [str(a) for a in argv], spark=self.spark)
        self.stages.append({"stage": name, "job": job, "seconds": round(time.perf_counter() - started, 1),
                            "summary": summary, "note": note})
        return summary

    def figure(self, section: str, caption: str, path: Path) -> None:
        self.figures.setdefault(section, {})[caption] = path
