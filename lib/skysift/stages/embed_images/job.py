"""`skysift embed-images` driver: images table -> image_vectors (pooled vectors) + patch features, on executors.

The driver resolves the model once (a missing model, alias or version, or a model that is not an image
encoder, fails here naming what was expected) and lists the input's Parquet row groups; they are cut
into tasks (``runtime.tasks``). Each task loads the encoder once per Python worker (``runtime.cache``, on
the task's device: its GPU from Spark resources, else CUDA, else CPU), embeds its row groups and writes
its own vectors, patch-feature file and rejects into the staging folder; one row of counts comes back.

Resume (RELIABILITY.md): the work items are the input's row groups (``runtime.resume``), fixed by the files
alone; every task writes a completion marker after its files, and a rerun after a kill (``resume=true``,
the default) with the same config, input files, model and task count runs only the tasks without one.
"""
from __future__ import annotations

import functools
from typing import Any

from skysift.config import ConfigError
from skysift.stages.embed_images.config import EmbedImagesConfig
from skysift.stages.embed_images.tasks import EncoderRef, embed_task

CONFIG = EmbedImagesConfig


def prepare(cfg: EmbedImagesConfig) -> EncoderRef:
    """Resolve the model on the driver; ConfigError when it is missing or not an image encoder."""
    from skysift.models.image_vit import ImageVitConfig
    from skysift.runtime import tracking

    uri = tracking.tracking_uri() if cfg.model_uri.startswith(("models:", "runs:")) else None
    info = tracking.resolve_model(cfg.model_uri, uri)
    if info["meta"].get("kind") != tracking.IMAGE_ENCODER_KIND:
        raise ConfigError(f"model_uri {cfg.model_uri}: not a skysift image encoder (kind "
                          f"{info['meta'].get('kind')!r}); train one with `skysift train-image-encoder`")
    model = ImageVitConfig(**info["meta"]["model"])
    return EncoderRef(model_uri=cfg.model_uri, model_version=None if info["version"] is None else str(info["version"]),
                      model_dir=info["dir"], tracking_uri=uri, image_size_px=model.image_size_px,
                      input_mask=model.input_mask)


def run(spark, cfg: EmbedImagesConfig) -> dict[str, Any]:
    """Embed every image of cfg.input (spark=None: in-process); read = written + rejected."""
    from skysift.config import to_dict
    from skysift.images.network_input import id_column
    from skysift.io.tables import write_table_json
    from skysift.runtime.output import count_rows, exists, open_dataset, staged, table_files
    from skysift.runtime.resume import files_fingerprint, model_fingerprint, resume_key, resumed_count
    from skysift.runtime.row_groups import row_group_tasks, row_groups
    from skysift.runtime.tasks import run_tasks

    if not exists(cfg.input):
        raise ConfigError(f"input {cfg.input}: no such images table")
    names = open_dataset(cfg.input).schema.names
    id_column(names)
    missing = sorted({"bands", "size_px", "pixels"} - set(names))
    if missing:
        raise ConfigError(f"input {cfg.input}: not an images table, missing columns {missing}")
    ref = prepare(cfg)
    files = table_files(cfg.input)
    items = row_groups(files)
    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    n_tasks = row_group_tasks(items, cfg.rows_per_task, parallelism)
    key = resume_key(cfg, inputs=files_fingerprint(files), n_tasks=n_tasks, registry=ref.tracking_uri,
                     model_version=ref.model_version, model=model_fingerprint(cfg.model_uri, ref.model_dir))
    with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
        stats = run_tasks(functools.partial(embed_task, stage.uri, cfg, ref), items, n_tasks, spark,
                          markers=stage.markers())
        written = count_rows(stage.uri)
        if written != sum(s["written"] for s in stats):
            raise RuntimeError("rows reported by the tasks differ from the rows in the vector files")
        read = sum(s["read"] for s in stats)
        rejected = sum(s["rejected"] for s in stats)
        write_table_json(stage.uri, {"table": "image_vectors", "model_uri": cfg.model_uri,
                                     "model_version": ref.model_version, "input": str(cfg.input),
                                     "feature_dtype": cfg.feature_dtype, "producer": "skysift embed-images",
                                     "config": to_dict(cfg)})
    return {"read": int(read), "written": int(written), "rejected": int(rejected), "output": stage.output,
            "model_uri": cfg.model_uri, "model_version": ref.model_version, "tasks": len(stats),
            "resumed_tasks": resumed_count(stats), "devices": sorted({s["device"] for s in stats}),
            "executor_seconds": round(sum(s["seconds"] for s in stats), 3)}
