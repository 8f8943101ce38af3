"""Configuration of `skysift predict-sfr`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require


@dataclass(frozen=True)
class PredictSfrConfig:
    """Prediction of log SFR for a `multimodal` table with a model trained by `skysift train-sfr`."""

    input: str = ""
    """Output folder of `skysift build-multimodal` (its multimodal/ table) or the table folder itself."""
    output: str = ""
    """Output folder of the `sfr_predictions` table (replaced as a whole on success; rejects in _rejects/)."""
    model_uri: str = "models:/skysift-sfr@champion"
    """models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/model or a train-sfr model folder (champion/)."""
    image_px: int = 0
    """Image resolution to predict at; 0 = the model's. Another value than the model's is an error naming
    what it was trained on (a model sees one resolution)."""
    quality_level: int = -1
    """Spectral quality level to predict at; -1 = the model's (another value: an error, as image_px)."""
    device: Literal["auto", "cpu"] = "cpu"
    """cpu (default: the networks are small, ~0.1 MFLOP per object at 16 px) or auto = the task's GPU from
    Spark resources, else CUDA if visible, else CPU."""
    torch_threads: int = 1
    """CPU threads per Python worker (0 = the task's spark.task.cpus). One: Spark already runs one worker
    per core, and a second thread per worker only contends for the same cores."""
    arrow_batch_rows: int = 1024
    """Rows per Arrow batch handed to the executor function (spark.sql.execution.arrow.maxRecordsPerBatch);
    64 px 5-band cutouts are 80 kB a row, so 1024 rows are ~80 MB."""
    partitions: int = 0
    """reader=spark: repartition the input to this many tasks (0 = keep the file splits)."""
    reader: Literal["spark", "pyarrow"] = "pyarrow"
    """pyarrow (default): one task per slice of Parquet row groups, read by the Python worker itself
    (runtime.tasks), so the JVM never converts the list columns; spark: Spark reads the table and hands Arrow
    batches to the executor function (mapInArrow). 50,000 rows on local[2] at load ~10: pyarrow 2,746 rows/s,
    spark 2,133 rows/s (BENCHMARKS.md, issue 16)."""
    rows_per_task: int = 25_000
    """reader=pyarrow (and the sequential twin): rows per task, whole row groups (at least ``min_tasks_per_core``
    tasks per core)."""
    min_tasks_per_core: int = 1
    """reader=pyarrow: fewest tasks per core, whatever ``rows_per_task`` says (the other row-group jobs use 2).
    One, because the row groups of a multimodal table are alike, so one task per core is balanced, and every
    task costs: 50,000 rows on local[2] took 1.53 s in 2 tasks, 1.78 s in 4, 2.18 s in 8 (medians of 4; empty
    runtime.tasks tasks ~28 ms each there); a larger input still gets ``rows_per_task`` rows a task."""
    resume: bool = True
    """reader=pyarrow and the sequential twin: a rerun after a kill keeps the tasks that finished (their
    files and completion markers) when config, input files, model version and files and task count are
    unchanged (RELIABILITY.md); false starts afresh. reader=spark always starts afresh."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input BUILD_MULTIMODAL_OUTPUT)")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(bool(self.model_uri), "model_uri is required (e.g. models:/skysift-sfr@champion)")
        require(self.image_px in (0, 64, 32, 16, 8), f"image_px must be 0 (the model's), 64, 32, 16 or 8, got {self.image_px}")
        require(self.quality_level in (-1, 0, 1, 2, 3), f"quality_level must be -1 (the model's) or 0..3, got {self.quality_level}")
        require(self.device in ("auto", "cpu"), f"device must be auto or cpu, got {self.device!r}")
        require(self.torch_threads >= 0, "torch_threads must be >= 0")
        require(self.arrow_batch_rows >= 1, "arrow_batch_rows must be >= 1")
        require(self.partitions >= 0, "partitions must be >= 0")
        require(self.reader in ("spark", "pyarrow"), f"reader must be spark or pyarrow, got {self.reader!r}")
        require(self.rows_per_task >= 1, "rows_per_task must be >= 1")
        require(self.min_tasks_per_core >= 1, "min_tasks_per_core must be >= 1")
