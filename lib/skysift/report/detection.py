"""Figures and the HTML report of detection + classification quality (Zhao et al. 2025's metrics beside the
baselines: sep for detection, a random forest on catalog colours for classification)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from skysift.report.html import HtmlReport
from skysift.report.plots import _plt, confusion_png

__all__ = ["CLASS_COLOURS", "annotated_tile_png", "roc_pr_png", "detection_pr_png", "miss_rate_png", "write_report"]

CLASS_COLOURS = {"galaxy": "red", "star": "blue", "qso": "lime"}
"""Box colours by class, as Zhao et al. 2025 Fig. 15: red galaxy, blue star, green quasar."""

PAPER = {"detection": {"precision": 0.993, "recall": 0.690, "f1": 0.814, "ap50": 0.824, "ap50_95": 0.795},
         "classification": {"accuracy": 0.8895, "macro_precision": 0.8932, "macro_recall": 0.8887, "macro_f1": 0.8887,
                            "macro_auc": 0.9689, "auc_galaxy": 0.9922}}
"""Zhao et al. 2025's numbers (detection on their validation set, classification on their test set)."""


def annotated_tile_png(path: str | Path, rgb: np.ndarray, boxes: np.ndarray, classes: Sequence[str], title: str = "",
                       labels: np.ndarray | None = None) -> Path:
    """An RGB tile with detection boxes coloured by class (``labels``: optional truth boxes, dashed white)."""
    plt = _plt()
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(6.4, 6.4))
    ax.imshow(rgb, origin="upper", interpolation="nearest")
    if labels is not None:
        for x0, y0, x1, y1 in np.asarray(labels).reshape(-1, 4):
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="white", lw=0.6, ls="--"))
    for (x0, y0, x1, y1), c in zip(np.asarray(boxes).reshape(-1, 4), classes):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=CLASS_COLOURS.get(c, "yellow"), lw=1.0))
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=v, label=k) for k, v in CLASS_COLOURS.items()]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.5)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def roc_pr_png(path: str | Path, y: np.ndarray, proba: Mapping[str, np.ndarray], names: Sequence[str] = ("galaxy", "star", "qso"),
               title: str = "") -> Path:
    """One-vs-rest ROC (left) and precision-recall (right) curves per class, for each model in ``proba``."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    styles = ["-", "--", ":"]
    for m, (model, p) in enumerate(proba.items()):
        for k, name in enumerate(names):
            if not 0 < (y == k).sum() < len(y):
                continue
            fpr, tpr, _ = roc_curve(y == k, p[:, k])
            pr, rc, _ = precision_recall_curve(y == k, p[:, k])
            colour = CLASS_COLOURS.get(name, None)
            a1.plot(fpr, tpr, styles[m % 3], color=colour, label=f"{model} {name} (AUC {auc(fpr, tpr):.3f})")
            a2.plot(rc, pr, styles[m % 3], color=colour, label=f"{model} {name}")
    a1.plot([0, 1], [0, 1], "k:", lw=0.5)
    a1.set_xlabel("false positive rate")
    a1.set_ylabel("true positive rate")
    a2.set_xlabel("recall")
    a2.set_ylabel("precision")
    a1.legend(fontsize=6)
    a2.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def detection_pr_png(path: str | Path, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "") -> Path:
    """Detection precision-recall curves at IoU 0.5: {method: (recall, precision)}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    for name, (rec, prec) in curves.items():
        ax.plot(rec, prec, label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def miss_rate_png(path: str | Path, rows: Mapping[str, Sequence[dict]], title: str = "") -> Path:
    """Miss rate against r magnitude bins for each method (rows of quality.miss_rate_by_mag)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for name, rs in rows.items():
        x = [(max(r["r_min"], 13.0) + min(r["r_max"], 23.0)) / 2 for r in rs if r["labelled"]]
        y = [r["miss_rate"] for r in rs if r["labelled"]]
        ax.plot(x, y, marker="o", ms=4, label=name)
    ax.set_xlabel("r magnitude (label)")
    ax.set_ylabel("miss rate (IoU >= 0.5)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def write_report(path: str | Path, detection: Mapping[str, dict], classification: Mapping[str, dict],
                 figures: Mapping[str, str | Path], notes: Sequence[str] = ()) -> Path:
    """The HTML report: detection table (ours, sep, paper), miss rate, classification table (Conv4Net, RF, paper),
    confusion matrices, ROC / PR, and the notes (what was run, on what)."""
    path = Path(path)
    rep = HtmlReport("skysift detection + classification quality (Zhao et al. 2025, YL8C4Net)")
    for n in notes:
        rep.paragraph(n)
    rep.heading("Detection (IoU 0.5; labels: magnitude boxes of the photoObj rows, r <= 22.2)")
    keys = ("n_truth", "n_detections", "precision", "recall", "f1", "ap50", "ap50_95", "best_f1", "recall_r_lt_21",
            "found_r_lt_21")
    rows = [{"method": k, **{c: v.get(c, "") for c in keys}} for k, v in detection.items()]
    rows.append({"method": "paper (validation set, SDSS run 3723)", **PAPER["detection"]})
    rep.table(rows, ["method", *keys])
    for name, rs in detection.items():
        if "miss_rate" in rs:
            rep.paragraph(f"miss rate by r magnitude, {name}")
            rep.table([{k: r[k] for k in ("r_min", "r_max", "labelled", "found", "miss_rate")} for r in rs["miss_rate"]])
    rep.heading("Classification (test split)")
    ckeys = ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "macro_auc")
    crow = [{"model": k, **{c: v.get(c, "") for c in ckeys}, **{f"auc_{n}": v.get("auc", {}).get(n, "") for n in ("galaxy", "star", "qso")}}
            for k, v in classification.items()]
    crow.append({"model": "paper (Conv4Net, test set)", **PAPER["classification"]})
    rep.table(crow, ["model", *ckeys, "auc_galaxy", "auc_star", "auc_qso"])
    for caption, fig in figures.items():
        rep.image(fig, caption)
    return rep.write(path)


def confusion_figures(folder: Path, classification: Mapping[str, dict]) -> dict[str, Path]:
    """One confusion-matrix PNG per model."""
    out = {}
    for name, m in classification.items():
        safe = "".join(ch if ch.isalnum() else "_" for ch in name)
        out[f"confusion matrix, {name}"] = confusion_png(folder / f"confusion_{safe}.png", ["galaxy", "star", "qso"],
                                                         np.asarray(m["confusion"]), f"{name} (rows: true class)")
    return out


def as_table(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Rounded copy for JSON / HTML."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}
