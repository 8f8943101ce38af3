"""`skysift pretrain`: masked-patch pre-training of the spectrum encoder on a `spectra` table.

Runs on the driver. One process trains in-process; several processes run
data-parallel (DDP: nccl on GPUs, gloo on CPU), launched either by pyspark's
``TorchDistributor(local_mode=True)`` or by ``torch.multiprocessing`` spawn. Under
``torchrun`` (RANK/WORLD_SIZE set) each process simply trains as its rank.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skysift.runtime.spark import free_port
from skysift.stages.pretrain.config import MlflowConfig, PretrainConfig
from skysift.stages.pretrain.tasks import SUMMARY, train_worker

NEEDS_SPARK = False


CONFIG = PretrainConfig


def _spawn_entry(local_rank: int, world: int, port: int, cfg: PretrainConfig) -> None:
    os.environ.update({"RANK": str(local_rank), "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(world),
                       "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    train_worker(cfg)


def launch(cfg: PretrainConfig, spark=None) -> dict[str, Any]:
    """Train with cfg.num_processes processes and return rank 0's summary."""
    from skysift.config import ConfigError
    from skysift.io.parquet_stream import table_grids

    try:
        grids = table_grids(cfg.input)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    if grids != [cfg.model.grid_id]:
        raise ConfigError(f"grid mismatch: model.grid_id is {cfg.model.grid_id!r}, table {cfg.input} holds {grids}")
    if "WORLD_SIZE" in os.environ:  # already one rank of torchrun: train as that rank
        result = train_worker(cfg)
        if int(os.environ.get("RANK", 0)) != 0:
            return result
    elif cfg.num_processes == 1:
        train_worker(cfg)
    elif cfg.launcher == "spawn":
        import torch.multiprocessing as mp

        mp.start_processes(_spawn_entry, args=(cfg.num_processes, free_port(), cfg),
                           nprocs=cfg.num_processes, start_method="spawn", join=True)
    else:
        import torch
        from pyspark.ml.torch.distributor import TorchDistributor

        if spark is None:
            from skysift.runtime.spark import session

            spark = session("local", app_name="skysift-pretrain")
        use_gpu = cfg.device != "cpu" and torch.cuda.is_available()
        TorchDistributor(num_processes=cfg.num_processes, local_mode=True, use_gpu=use_gpu).run(train_worker, cfg)
    return json.loads(Path(cfg.output, SUMMARY).read_text())


def run(spark, cfg: PretrainConfig) -> dict[str, Any]:
    """Job entry: train, then report the run, the registered version and the champion."""
    summary = launch(cfg, spark)
    summary.pop("history", None)
    return {"read": None, "written": None, "rejected": None, "output": str(Path(cfg.output).absolute()), **summary}
