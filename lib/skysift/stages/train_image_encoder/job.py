"""`skysift train-image-encoder`: contrastive self-supervised training of the GalaxIDNet ViT (Friberg).

Driver-side torch, like `skysift pretrain`: the images table is read here, the model trains on the
driver's device (a GPU when visible), and the best validation-loss checkpoint is logged to MLflow and
registered as ``skysift-image-encoder`` (alias ``champion`` when it beats the holder). Labels are never
read: the pairs are self-supervised (``models.image_augment``).
"""
from __future__ import annotations

from typing import Any

from skysift.stages.train_image_encoder.config import TrainImageEncoderConfig
from skysift.stages.train_image_encoder.tasks import train

NEEDS_SPARK = False
CONFIG = TrainImageEncoderConfig


def run(spark, cfg: TrainImageEncoderConfig) -> dict[str, Any]:
    """Train and register; summary: read = written (images used) + rejected (unusable images)."""
    from skysift.config import ConfigError
    from skysift.runtime.output import exists

    if not exists(cfg.input):
        raise ConfigError(f"input {cfg.input}: no such images table")
    summary = train(cfg)
    summary.pop("history", None)
    return summary
