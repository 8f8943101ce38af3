"""`skysift embed-spectra`: spectra table -> embeddings table with a registered encoder, on executors.

The driver resolves the model once (a missing model, alias or version, or a
table on another wavelength grid, fails here with a message naming what was
expected). Executors receive only ``EmbedBatch`` (URI, version, a few numbers),
load the encoder once per Python worker (cached by URI and device), stack each
Arrow batch's flux lists into one tensor and run the encoder on the task's
device. Rows with non-finite or wrong-length flux go to ``OUTPUT/_rejects``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import pandas as pd

from skysift.config import ConfigError, require
from skysift.models.precision import PRECISIONS, forward_autocast
from skysift.schema import EMBEDDINGS, REJECTS

STAGE = "embed"
REASON_COL = "reject_reason"
SOURCE_COL = "source_file"
_MODELS: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class EmbedConfig:
    """Embedding of a spectra table with a trained spectrum encoder."""

    input: str = ""
    """The `spectra` Parquet table to embed."""
    output: str = ""
    """Output folder of the `embeddings` table (rejects in OUTPUT/_rejects)."""
    model_uri: str = "models:/skysift-spec-encoder@champion"
    """models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/model, a logged model folder or a best.pt checkpoint."""
    pooling: Literal["model", "mean", "max"] = "mean"
    """Pooling of patch tokens: mean (default), max, or `model` = the pooling the model was logged with."""
    batch_size: int = 256
    """Spectra per forward pass on a GPU (each Arrow batch is stacked into one tensor, then run in chunks)."""
    cpu_batch_size: int = 4
    """Spectra per forward pass on CPU: one spectrum already keeps the cores near their FLOP ceiling (735
    tokens make every matrix product large), and bigger chunks push the 735 x 735 attention maps out of
    cache (tiny model, 2 threads: 277/s at 1, 255/s at 4, 160/s at 16, 138/s at 64)."""
    device: Literal["auto", "cpu"] = "auto"
    """auto = the task's GPU from Spark resources, else CUDA if visible, else CPU."""
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    """fp32; tf32 = TF32 tensor-core products on NVIDIA GPUs (plain fp32 on CPU); or bf16 = bfloat16
    autocast for the forward pass (GPUs since Ampere, CPUs with AVX-512 BF16 or AMX): 1.9x (tiny) to 3.5x
    (paper model) faster on this machine's EPYC cores, 5.8x on an H100, embeddings within ~0.3 % relative
    L2 (see BENCHMARKS.md); the output stays float32 (models.precision)."""
    torch_threads: int = 0
    """CPU threads per Python worker (0 = the task's spark.task.cpus)."""
    partitions: int = 0
    """Repartition the input to this many tasks (0 = keep the file splits)."""

    def __post_init__(self):
        require(bool(self.input), "input: the spectra table is required (--input PATH)")
        require(bool(self.output), "output: the embeddings folder is required (--output PATH)")
        require(bool(self.model_uri), "model_uri is required (e.g. models:/skysift-spec-encoder@champion)")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.cpu_batch_size >= 1, f"cpu_batch_size must be >= 1, got {self.cpu_batch_size}")
        require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        require(self.torch_threads >= 0, "torch_threads must be >= 0")
        require(self.partitions >= 0, "partitions must be >= 0")


CONFIG = EmbedConfig


@dataclass(frozen=True)
class EmbedBatch:
    """The per-batch function `pandas.DataFrame -> pandas.DataFrame` (spec_id, flux[, source_file] in).

    Output columns: EMBEDDINGS plus ``source_file`` and ``reject_reason`` (null for embedded rows).
    """

    model_uri: str
    model_version: str | None
    model_dir: str
    tracking_uri: str | None
    n_points: int
    pooling: str
    batch_size: int = 256
    device: str = "auto"
    torch_threads: int = 0
    cpu_batch_size: int = 4
    precision: str = "fp32"

    def model(self):
        """The encoder for this worker, loaded on first use and cached by (URI, device)."""
        import torch

        device = _pick_device(self.device)
        key = (self.model_uri if self.model_version is None else f"{self.model_uri}#v{self.model_version}", device)
        if key not in _MODELS:
            from skysift.runtime import tracking

            threads = self.torch_threads or _task_cpus()
            if device == "cpu" and threads:
                torch.set_num_threads(threads)
            if Path(self.model_dir).exists():
                info = {"dir": self.model_dir, "meta": tracking._describe_local(Path(self.model_dir), "")["meta"]}
            else:  # executor on another machine: fetch the same version the driver resolved
                uri = self.model_uri
                if self.model_version is not None and uri.startswith("models:/"):
                    uri = f"models:/{uri[len('models:/'):].split('@')[0].split('/')[0]}/{self.model_version}"
                info = tracking.resolve_model(uri, self.tracking_uri)
            _MODELS[key] = tracking.load_encoder(info, device)
        return _MODELS[key], device

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        import torch

        n = len(pdf)
        reason = np.full(n, None, dtype=object)
        flux_col = pdf["flux"]
        lengths = flux_col.map(lambda a: -1 if a is None else len(a)).to_numpy()
        bad_len = lengths != self.n_points
        reason[bad_len] = [f"flux has {k} points, expected {self.n_points}" if k >= 0 else "flux is null"
                           for k in lengths[bad_len]]
        good = np.flatnonzero(~bad_len)
        flux = (np.stack(flux_col.to_numpy()[good]).astype(np.float32, copy=False)
                if len(good) else np.zeros((0, self.n_points), np.float32))
        n_bad = (~np.isfinite(flux)).sum(axis=1)
        if n_bad.any():
            reason[good[n_bad > 0]] = [f"flux has {k} non-finite values" for k in n_bad[n_bad > 0]]
            keep = n_bad == 0
            good, flux = good[keep], flux[keep]
        emb = np.zeros((len(good), 0), np.float32)
        if len(good):
            model, device = self.model()
            out = []
            step = self.cpu_batch_size if device == "cpu" else self.batch_size
            tensor = torch.from_numpy(np.ascontiguousarray(flux)).to(device)
            with torch.inference_mode(), forward_autocast(device, self.precision):
                for i in range(0, len(good), step):
                    x = tensor[i : i + step]
                    out.append(model.embed(x, self.pooling).float().cpu().numpy())
            emb = np.concatenate(out)
        embedding = np.full(n, None, dtype=object)
        embedding[good] = list(emb)
        return pd.DataFrame(
            {
                "spec_id": pdf["spec_id"].to_numpy(),
                "embedding": embedding,
                "model_uri": self.model_uri,
                "model_version": self.model_version,
                SOURCE_COL: pdf[SOURCE_COL].to_numpy() if SOURCE_COL in pdf else None,
                REASON_COL: reason,
            }
        )

    def map_partitions(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The mapInPandas form."""
        for pdf in frames:
            yield self(pdf)


def _task_cpus() -> int:
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        return int(ctx.cpus()) if ctx is not None else 0
    except Exception:  # noqa: BLE001 - outside Spark: keep torch's default
        return 0


def _pick_device(want: str) -> str:
    if want == "cpu":
        return "cpu"
    from skysift.runtime.spark import task_device

    return task_device()


def output_arrow_schema():
    """mapInPandas output: EMBEDDINGS + source_file + reject_reason."""
    import pyarrow as pa

    return pa.schema(list(EMBEDDINGS) + [pa.field(SOURCE_COL, pa.string()), pa.field(REASON_COL, pa.string())])


def prepare(cfg: EmbedConfig, table_grids: list[str] | None = None) -> EmbedBatch:
    """Resolve the model on the driver and check the table's grid; raise ConfigError naming what was expected."""
    from skysift.runtime import tracking

    uri = tracking.tracking_uri() if cfg.model_uri.startswith(("models:", "runs:")) else None
    info = tracking.resolve_model(cfg.model_uri, uri)
    meta = info["meta"]
    model_grid = meta["model"]["grid_id"]
    if table_grids is not None:
        other = sorted(set(table_grids) - {model_grid})
        if other:
            raise ConfigError(
                f"grid mismatch: model {cfg.model_uri} expects grid {model_grid!r}, "
                f"table {cfg.input} holds {other}"
            )
    return EmbedBatch(
        model_uri=cfg.model_uri,
        model_version=None if info["version"] is None else str(info["version"]),
        model_dir=info["dir"],
        tracking_uri=uri,
        n_points=int(meta["model"]["n_points"]),
        pooling=meta.get("pooling", "mean") if cfg.pooling == "model" else cfg.pooling,
        batch_size=cfg.batch_size,
        device=cfg.device,
        torch_threads=cfg.torch_threads,
        cpu_batch_size=cfg.cpu_batch_size,
        precision=cfg.precision,
    )


def run(spark, cfg: EmbedConfig) -> dict[str, Any]:
    """Embed every spectrum of cfg.input into cfg.output (atomic), rejects into cfg.output/_rejects."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from skysift.io.tables import commit_staging, discard_staging, staging_path
    from skysift.schema import spark_schema

    if not Path(cfg.input).exists():
        raise ConfigError(f"input {cfg.input}: no such spectra table")
    df = spark.read.parquet(cfg.input)
    missing = {"spec_id", "flux", "grid_id"} - set(df.columns)
    if missing:
        raise ConfigError(f"input {cfg.input}: not a spectra table, missing columns {sorted(missing)}")
    grids = [r[0] for r in df.select("grid_id").distinct().collect()]
    fn = prepare(cfg, grids)
    cols = ["spec_id", "flux"] + ([SOURCE_COL] if SOURCE_COL in df.columns else [])
    src = df.select(*cols)
    if cfg.partitions:
        src = src.repartition(cfg.partitions)
    out = src.mapInPandas(fn.map_partitions, spark_schema(output_arrow_schema())).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    staging = staging_path(cfg.output)
    try:
        good = out.filter(F.col(REASON_COL).isNull()).select(*EMBEDDINGS.names)
        good.write.mode("overwrite").parquet(str(staging))
        bad = out.filter(F.col(REASON_COL).isNotNull()).select(
            F.col(SOURCE_COL).alias("source_file"),
            F.lit(None).cast("long").alias("row_index"),
            "spec_id",
            F.lit(STAGE).alias("stage"),
            F.col(REASON_COL).alias("reason"),
        )
        n_rejected = bad.count()
        if n_rejected:
            bad.select(*REJECTS.names).write.mode("overwrite").parquet(str(staging / "_rejects"))
        n_read = out.count()
        from skysift.io.tables import write_table_json

        write_table_json(staging, {"table": "embeddings", "model_uri": cfg.model_uri,
                                   "model_version": fn.model_version, "pooling": fn.pooling,
                                   "input": str(Path(cfg.input).absolute())})
        commit_staging(staging, cfg.output)
    except BaseException:
        discard_staging(staging)
        raise
    finally:
        out.unpersist()
    return {
        "read": n_read,
        "written": n_read - n_rejected,
        "rejected": n_rejected,
        "output": str(Path(cfg.output).absolute()),
        "model_uri": cfg.model_uri,
        "model_version": fn.model_version,
    }


def embed_sequential(frames, fn: EmbedBatch) -> pd.DataFrame:
    """The same per-batch function over an iterable of pandas frames, without Spark (tests, debugging)."""
    parts = [fn(pdf) for pdf in frames]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=output_arrow_schema().names)
