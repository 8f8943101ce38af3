"""Per-task work of `skysift synth-survey` (no Spark): generate one partition of rows and write its files.

Partition p holds rows [p * rows_per_partition, (p + 1) * rows_per_partition) whatever Spark does, so file
contents depend only on the config: the same seed gives the same bytes.

``model.population=lu2022_pool`` (``synth.emission_pool``): the pool rows take the partitions as above and
also write their reference-catalog entries (``catalogs/<name>/part-<first row>.parquet``); the template rows
(``pool.n_templates``) follow as partitions ``n_partitions(cfg)`` onwards and always go to the spectra table
``templates/`` (with ``templates_truth/`` and ``templates/_rejects``).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.runtime.output import PartitionedParquetWriter
from skysift.runtime.rejects import write_rejects
from skysift.schema import POOL_TRUTH, SPECTRA, TRUTH
from skysift.spectra.processing import process_spectra_arrow
from skysift.stages.synth_survey.config import SynthSurveyConfig
from skysift.synth.model import generate


def source_label(seed: int) -> str:
    """source_file of spectra generated straight into the table (format=parquet)."""
    return f"synth-survey:seed={seed}"


class PartitionWriter:
    """Generates and writes the rows of one task; ``write_chunk`` per batch, ``close`` at the end."""

    def __init__(self, cfg: SynthSurveyConfig, root: str | Path, first_row: int, part: str | None = None,
                 templates: bool = False):
        self.cfg = cfg
        self.root = Path(root)
        self.part = part or f"part-{first_row:010d}.parquet"
        self.first_row = first_row
        self.templates = templates
        self.pool = cfg.model.population == "lu2022_pool"
        self.truth: list[pa.Table] = []
        self.rejects: list[dict] = []
        self.catalogs: dict[str, list] = {}
        folder = "templates" if templates else "spectra"
        self.spectra = PartitionedParquetWriter(self.root / folder, "healpix_part", self.part, SPECTRA)
        self.rows = self.written = self.files = 0
        self.started = time.perf_counter()

    def write_chunk(self, rows: np.ndarray, overrides: dict | None = None, spec_ids: np.ndarray | None = None) -> None:
        """Generate and write ``rows``; ``overrides`` / ``spec_ids``: the imaging link (imaged objects' spectra)."""
        from skysift.synth.fits_writers import write_batch

        cfg = self.cfg
        if self.pool:
            from skysift.synth.emission_pool import generate_pool

            batch = generate_pool(rows, cfg.seed, cfg.model, templates=self.templates)
            for name, frame in batch.catalogs.items():
                self.catalogs.setdefault(name, []).append(frame)
        else:
            batch = generate(rows, cfg.seed, cfg.model, overrides)
        if spec_ids is not None:
            # the imaged object's spec_id (synth-<object_id>), the value its SpecPhoto / MPA-JHU rows carry
            batch.truth["spec_id"] = np.asarray(spec_ids, dtype=object)
        truth = batch.truth
        if cfg.format == "fits" and not self.templates:
            self.files += len(write_batch(batch, self.root, cfg.seed, cfg.fits_backend))
            self.written += len(batch)
        else:
            label = source_label(cfg.seed)
            truth = truth.assign(source_file=label)
            table, rejects = process_spectra_arrow(batch.native_spectra(label), cfg.processing)
            self.rejects.extend(r.as_row() for r in rejects)
            self.written += table.num_rows
            self.spectra.write(table)
        schema = POOL_TRUTH if self.pool else TRUTH
        self.truth.append(pa.Table.from_pandas(truth, schema=schema, preserve_index=False))
        self.rows += len(batch)

    def close(self) -> dict:
        self.spectra.close()
        truth_dir = self.root / ("templates_truth" if self.templates else "truth")
        if self.truth:
            truth_dir.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(self.truth), truth_dir / self.part)
        if self.catalogs:
            from skysift.synth.emission_pool import reference_schema

            for name, frames in self.catalogs.items():
                (self.root / "catalogs" / name).mkdir(parents=True, exist_ok=True)
                table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), schema=reference_schema(name),
                                             preserve_index=False)
                pq.write_table(table, self.root / "catalogs" / name / self.part)
        write_rejects(self.root / "templates" if self.templates else self.root, self.rejects, name=self.part)
        return {
            "first_row": self.first_row,
            "rows": self.rows,
            "written": self.written,
            "rejected": len(self.rejects),
            "files": self.files,
            "seconds": time.perf_counter() - self.started,
        }


def synth_task(cfg: SynthSurveyConfig, root: str, first_index: int, parts: list[int]) -> dict:
    """One task (``runtime.tasks``): generate and write partitions ``parts``; returns their summed counts."""
    stats = []
    n_pool = n_partitions(cfg)
    for p in parts:
        templates = int(p) >= n_pool
        start = (int(p) - n_pool if templates else int(p)) * cfg.rows_per_partition
        stop = min(start + cfg.rows_per_partition, n_template_rows(cfg) if templates else cfg.n_spectra)
        writer = PartitionWriter(cfg, root, start, templates=templates)
        for a in range(start, stop, cfg.batch_rows):
            writer.write_chunk(np.arange(a, min(a + cfg.batch_rows, stop), dtype=np.int64))
        row = writer.close()
        if templates:
            row = {**row, "template_rows": row["rows"], "templates_written": row["written"],
                   "templates_rejected": row["rejected"], "rows": 0, "written": 0, "rejected": 0}
        stats.append(row)
    keys = ("rows", "written", "rejected", "files", "seconds")
    out = {"first_row": stats[0]["first_row"], **{k: sum(s[k] for s in stats) for k in keys},
           "partitions": len(stats)}
    if cfg.model.population == "lu2022_pool":
        out.update({k: sum(s.get(k, 0) for s in stats) for k in ("template_rows", "templates_written",
                                                                 "templates_rejected")})
    return out


def n_partitions(cfg: SynthSurveyConfig) -> int:
    """Partitions of ``rows_per_partition`` rows covering rows 0 .. n_spectra-1."""
    return -(-cfg.n_spectra // cfg.rows_per_partition)


def n_template_rows(cfg: SynthSurveyConfig) -> int:
    """Template rows (lu2022_pool only): ``model.pool.n_templates``."""
    return cfg.model.pool.n_templates if cfg.model.population == "lu2022_pool" else 0


def n_template_partitions(cfg: SynthSurveyConfig) -> int:
    """Partitions of the template rows, numbered after the pool's."""
    return -(-n_template_rows(cfg) // cfg.rows_per_partition)
