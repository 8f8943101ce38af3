"""Training Conv4Net on classification crops: augmentation per epoch, normalisation, early stopping on validation loss.

Zhao et al. 2025 state none of the training settings (optimiser, lr, batch, epochs, loss, stopping); the defaults
below are skysift choices: Adam at 1e-3 (the usual start for a small CNN from scratch), cross-entropy, batch 256,
early stopping when the validation loss has not improved for ``patience`` epochs, keeping the best weights; optionally
a cosine decay with a linear warm-up (under the cosine, the CPU profile's 2e-3, batch 32, 1 warm-up epoch gave 0.762
against 0.731 for 1e-3 / batch 64 in 12 epochs on the same 2,361 crops; cosine vs constant was not isolated;
BENCHMARKS.md, issue 15).
Each epoch draws a fresh view of every training crop (crops.augment: flips, rotation), then min-max per image and
the z-score with the training statistics (crops.zscore_stats on the un-augmented training crops).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skysift.config import require
from skysift.detection import crops as C
from skysift.models.conv4net import Conv4Net, Conv4NetConfig
from skysift.models.layout import channels_last

__all__ = ["ClassifierTrainConfig", "TrainedClassifier", "prepare", "lr_at", "train_conv4net", "predict_proba"]


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Optimisation of Conv4Net (not stated in the paper: skysift choices)."""

    epochs: int = 100
    """Most epochs (skysift choice; early stopping usually ends sooner)."""
    patience: int = 10
    """Stop after this many epochs without a lower validation loss (skysift choice)."""
    batch_size: int = 256
    """Crops per step (skysift choice)."""
    lr: float = 1e-3
    """Adam learning rate (skysift choice)."""
    weight_decay: float = 0.0
    """Adam weight decay (skysift choice: none)."""
    lr_schedule: str = "constant"
    """'constant' or 'cosine': the rate falls per step along a half cosine from ``lr`` to 0 at the last of ``epochs``
    epochs, after ``warmup_epochs`` of linear rise (skysift choice; the paper states no schedule)."""
    warmup_epochs: float = 0.0
    """Epochs of linear learning-rate rise from 0 at the start (cosine schedule only; skysift choice)."""
    augment: bool = True
    """Draw flips and rotations per epoch (Zhao et al. 2025: on)."""
    seed: int = 0
    """Seed of the initial weights, the augmentation and the batch order."""
    device: str = "auto"
    """'auto' (cuda when visible), 'cpu' or a torch device string."""
    model: Conv4NetConfig = field(default_factory=Conv4NetConfig)
    """Network shape (the paper's reconstruction by default)."""

    def __post_init__(self):
        require(self.epochs >= 1, f"classifier.epochs must be >= 1, got {self.epochs}")
        require(self.patience >= 1, f"classifier.patience must be >= 1, got {self.patience}")
        require(self.batch_size >= 1, f"classifier.batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"classifier.lr must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, f"classifier.weight_decay must be >= 0, got {self.weight_decay}")
        require(self.lr_schedule in ("constant", "cosine"), f"classifier.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        require(0 <= self.warmup_epochs < self.epochs, f"classifier.warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}")


@dataclass
class TrainedClassifier:
    """The best model and what is needed to apply it."""

    model: Any
    """Conv4Net in eval mode with the best weights (on the CPU)."""
    mean: np.ndarray
    """Per-band z-score mean (of min-max scaled training crops)."""
    sd: np.ndarray
    """Per-band z-score sd."""
    history: list[dict[str, float]]
    """Per epoch: epoch, train_loss, val_loss, val_accuracy, seconds."""
    best_epoch: int
    """Epoch (1-based) of the kept weights."""
    best_val_loss: float
    """Validation loss of the kept weights."""


def prepare(raw: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Raw crops (n, bands, H, W) -> network input: min-max per image, then the z-score."""
    return C.zscore(C.minmax(raw), mean, sd)


def lr_at(step: int, steps_per_epoch: int, cfg: ClassifierTrainConfig) -> float:
    """Learning rate of optimiser step ``step`` (0-based) under ``cfg.lr_schedule`` with ``steps_per_epoch`` steps an epoch."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return 0.5 * cfg.lr * (1.0 + np.cos(np.pi * min(step - warm, total - warm) / max(total - warm, 1)))


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _evaluate(model, x, y, batch_size: int, device) -> tuple[float, float]:
    import torch

    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            xb = channels_last(torch.from_numpy(x[s : s + batch_size]).to(device))
            yb = torch.from_numpy(y[s : s + batch_size]).to(device)
            logits = model(xb)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / max(len(x), 1), correct / max(len(x), 1)


def train_conv4net(train_raw: np.ndarray, train_y: np.ndarray, val_raw: np.ndarray, val_y: np.ndarray,
                   cfg: ClassifierTrainConfig | None = None, crop_cfg: C.CropConfig | None = None) -> TrainedClassifier:
    """Train Conv4Net on raw crops (cut_crops output) with labels 0..2; early stopping on the validation loss."""
    import torch

    cfg = cfg or ClassifierTrainConfig()
    require(len(train_raw) == len(train_y) and len(train_raw) > 0, "classifier: training crops and labels must be non-empty and aligned")
    require(len(val_raw) == len(val_y) and len(val_raw) > 0, "classifier: validation crops and labels must be non-empty and aligned")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = _device(cfg.device)
    mean, sd = C.zscore_stats(C.minmax(train_raw))
    val_x = prepare(val_raw, mean, sd)
    train_y = np.asarray(train_y, dtype=np.int64)
    val_y = np.asarray(val_y, dtype=np.int64)
    # the weights channels-last too while training (a step of batch 32 at 48 px, one thread: 260 -> 209 ms;
    # 224 ms with the input alone; models.layout)
    model = Conv4Net(cfg.model).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_loss, best_state, best_epoch, history, waited = float("inf"), None, 0, [], 0
    steps_per_epoch, step = -(-len(train_raw) // cfg.batch_size), 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        views = np.stack([C.augment(c, rng, crop_cfg) for c in train_raw]) if cfg.augment else train_raw
        x = prepare(views, mean, sd)
        order = rng.permutation(len(x))
        model.train()
        loss_sum = 0.0
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            xb, yb = channels_last(torch.from_numpy(x[idx]).to(device)), torch.from_numpy(train_y[idx]).to(device)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps_per_epoch, cfg)
            step += 1
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
        val_loss, val_acc = _evaluate(model, val_x, val_y, cfg.batch_size, device)
        history.append({"epoch": epoch, "train_loss": loss_sum / len(x), "val_loss": val_loss, "val_accuracy": val_acc,
                        "seconds": time.perf_counter() - t0})
        if val_loss < best_loss:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    # back to the default layout: the saved weights and the MLflow export (torch.export) see plain tensors
    model = model.cpu().to(memory_format=torch.contiguous_format)
    model.load_state_dict(best_state)
    return TrainedClassifier(model=model.eval(), mean=mean, sd=sd, history=history, best_epoch=best_epoch, best_val_loss=best_loss)


def predict_proba(model, raw: np.ndarray, mean: np.ndarray, sd: np.ndarray, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """(n, 3) class probabilities of raw crops, batched (one forward pass per ``batch_size`` crops)."""
    import torch

    dev = _device(device)
    model = model.to(dev).eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(raw), batch_size):
            xb = channels_last(torch.from_numpy(prepare(raw[s : s + batch_size], mean, sd)).to(dev))
            out.append(torch.softmax(model(xb), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.float32)
