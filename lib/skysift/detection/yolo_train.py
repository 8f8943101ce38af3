"""YOLOv8 training through ultralytics (AGPL-3.0, the optional ``detect`` extra), fully offline.

ultralytics is imported only inside these functions, never at module import, so the rest of skysift runs
without it. Offline set-up (../shared/STACK.md): YOLO_OFFLINE=1; a writable YOLO_CONFIG_DIR holding a TTF font
saved as Ultralytics/Arial.ttf (matplotlib's bundled DejaVuSans), else plotting downloads Arial; settings
sync and mlflow off (else ultralytics logs into ./mlflow.db and switches on MLflow's pyspark autologging);
amp=False (the AMP check downloads weights on CUDA). Models are built from ``yolov8{scale}.yaml``: no
pretrained weights are ever fetched.

Profiles: ``paper`` = Zhao et al. 2025 (200 epochs, patience 50, batch 32, imgsz 640, Mosaic + Mixup +
random perspective + HSV; the values of Table 2 are not stated, so mixup / perspective take skysift values and
HSV the ultralytics defaults); ``tiny`` = tests and the demo on CPU.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from skysift.config import require

__all__ = ["YoloTrainConfig", "PROFILES", "offline_environment", "train_args", "train_yolo"]


@dataclass(frozen=True)
class YoloTrainConfig:
    """ultralytics training arguments skysift sets (the rest stay ultralytics defaults)."""

    scale: Literal["n", "s", "m", "l", "x"] = "n"
    """YOLOv8 scale of the model yaml (not stated in the paper: skysift choice n)."""
    epochs: int = 200
    """Training epochs (Zhao et al. 2025: 200)."""
    patience: int = 50
    """Stop after this many epochs without improvement (Zhao et al. 2025: 50)."""
    batch: int = 32
    """Images per batch (Zhao et al. 2025: 32)."""
    imgsz: int = 640
    """Training image side (Zhao et al. 2025: 640 tiles)."""
    mosaic: float = 1.0
    """Mosaic probability (Zhao et al. 2025: on; ultralytics default 1.0)."""
    mixup: float = 0.1
    """Mixup probability (Zhao et al. 2025: on, value not stated; ultralytics default 0 = off; skysift 0.1)."""
    perspective: float = 0.0005
    """Random perspective (Zhao et al. 2025: on, value not stated; ultralytics default 0 = off; skysift 0.0005,
    the upper end of ultralytics' documented 0-0.001 range)."""
    degrees: float = 0.0
    """Random rotation in the affine step (not stated; ultralytics default 0)."""
    hsv_h: float = 0.015
    """HSV hue gain (Zhao et al. 2025: HSV on; ultralytics default)."""
    hsv_s: float = 0.7
    """HSV saturation gain (ultralytics default)."""
    hsv_v: float = 0.4
    """HSV value gain (ultralytics default)."""
    fliplr: float = 0.5
    """Horizontal flip probability (ultralytics default; the sky has no handedness)."""
    flipud: float = 0.5
    """Vertical flip probability (skysift choice: the sky has no up; ultralytics default 0)."""
    optimizer: str = "auto"
    """ultralytics optimizer ('auto': AdamW at lr 0.002 for short runs, SGD for long ones; not stated in the paper)."""
    lr0: float = 0.01
    """Initial learning rate (ultralytics default; ignored when optimizer is 'auto'). Zhao et al. 2025: lr0 x lrf,
    values not stated."""
    warmup_epochs: float = 3.0
    """Warm-up epochs (ultralytics default 3; a few-epoch CPU profile spends them all warming up)."""
    close_mosaic: int = 10
    """Turn mosaic off for the last this many epochs (ultralytics default 10)."""
    scale_gain: float = 0.5
    """Random scale gain of the affine augmentation (ultralytics default 0.5)."""
    workers: int = 0
    """Dataloader workers (0: load in the training process; executors and tests share few cores)."""
    seed: int = 0
    """Training seed."""
    device: str = "auto"
    """'auto' (cuda:0 when visible, else cpu), 'cpu', or an ultralytics device string."""
    plots: bool = False
    """Let ultralytics draw its training plots (needs the font; off for tests)."""

    def __post_init__(self):
        require(self.scale in ("n", "s", "m", "l", "x"), f"yolo.scale must be one of n s m l x, got {self.scale!r}")
        require(self.epochs >= 1, f"yolo.epochs must be >= 1, got {self.epochs}")
        require(self.patience >= 1, f"yolo.patience must be >= 1, got {self.patience}")
        require(self.batch >= 1, f"yolo.batch must be >= 1, got {self.batch}")
        require(self.imgsz >= 32 and self.imgsz % 32 == 0, f"yolo.imgsz must be a multiple of 32, got {self.imgsz}")
        for name in ("mosaic", "mixup", "fliplr", "flipud"):
            require(0.0 <= getattr(self, name) <= 1.0, f"yolo.{name} must be in [0, 1], got {getattr(self, name)}")
        require(0.0 <= self.perspective <= 0.001, f"yolo.perspective must be in [0, 0.001], got {self.perspective}")
        require(self.optimizer in ("auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp"),
                f"yolo.optimizer must be auto, SGD, Adam, AdamW, NAdam, RAdam or RMSProp, got {self.optimizer!r}")
        require(self.lr0 > 0, f"yolo.lr0 must be > 0, got {self.lr0}")
        require(self.warmup_epochs >= 0, f"yolo.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        require(self.close_mosaic >= 0, f"yolo.close_mosaic must be >= 0, got {self.close_mosaic}")
        require(0.0 <= self.scale_gain < 1.0, f"yolo.scale_gain must be in [0, 1), got {self.scale_gain}")
        require(self.workers >= 0, f"yolo.workers must be >= 0, got {self.workers}")


PROFILES: dict[str, dict[str, Any]] = {
    "paper": {},
    "tiny": {"epochs": 3, "patience": 3, "batch": 4, "imgsz": 320, "mosaic": 1.0, "mixup": 0.1},
}
"""Overrides of YoloTrainConfig per profile: 'paper' = the defaults (Zhao et al. 2025), 'tiny' = CPU tests / demo."""


def offline_environment(config_dir: str | Path) -> Path:
    """Prepare ``config_dir`` (font) and the environment so that ultralytics never reaches the network."""
    config_dir = Path(config_dir)
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return config_dir


def _settings_off() -> None:
    from ultralytics import settings

    settings.update({"sync": False, "mlflow": False})


def resolve_device(device: str) -> str:
    """'auto' -> '0' (first CUDA device) when CUDA is visible, else 'cpu'; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def train_args(cfg: YoloTrainConfig, data_yaml: str | Path, project: str | Path, name: str = "train") -> dict[str, Any]:
    """The keyword arguments given to ``YOLO.train``."""
    keys = ("epochs", "patience", "batch", "imgsz", "mosaic", "mixup", "perspective", "degrees", "hsv_h", "hsv_s",
            "hsv_v", "fliplr", "flipud", "workers", "seed", "plots", "optimizer", "lr0", "warmup_epochs",
            "close_mosaic")
    args = {k: asdict(cfg)[k] for k in keys}
    args["scale"] = cfg.scale_gain
    args.update(data=str(data_yaml), project=str(Path(project).absolute()), name=name, exist_ok=True,
                device=resolve_device(cfg.device), amp=False, single_cls=True, verbose=False, deterministic=True)
    return args


def train_yolo(cfg: YoloTrainConfig, data_yaml: str | Path, project: str | Path, config_dir: str | Path) -> dict[str, Any]:
    """Train a one-class YOLOv8 from its yaml; returns {'best', 'last', 'metrics' (validation of best), 'epochs_run'}."""
    offline_environment(config_dir)
    _settings_off()
    from ultralytics import YOLO

    model = YOLO(f"yolov8{cfg.scale}.yaml")
    model.train(**train_args(cfg, data_yaml, project))
    trainer = model.trainer
    metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, (int, float))}
    return {"best": str(trainer.best), "last": str(trainer.last), "metrics": metrics, "epochs_run": int(trainer.epoch) + 1,
            "save_dir": str(trainer.save_dir)}
