"""Matplotlib figures for run reports (Agg backend, one PNG per call)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_png(path: str | Path, labels: Sequence[str], counts, title: str) -> Path:
    """Confusion matrix heat map (rows = truth, columns = prediction), counts annotated."""
    plt = _plt()
    cm = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(labels), 1.0 + 0.6 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def lines_png(path: str | Path, x, series: dict[str, Sequence[float]], xlabel: str, ylabel: str, title: str,
              fit: tuple[float, float] | None = None) -> Path:
    """One or more y(x) curves with markers; ``fit`` = (slope, intercept) draws a dashed line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, y in series.items():
        ax.plot(x, y, marker="o", ms=4, label=name)
    if fit is not None:
        xs = np.linspace(min(x), max(x), 50)
        ax.plot(xs, fit[0] * xs + fit[1], "k--", lw=1, label=f"fit y = {fit[0]:.4g} x + {fit[1]:.4g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def bars_png(path: str | Path, values: dict[str, float], ylabel: str, title: str,
             errors: dict[str, float] | None = None) -> Path:
    """Bar chart of named values, annotated; ``errors`` (same names) draws +-1 sigma bars."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    names = list(values)
    yerr = [errors[n] for n in names] if errors else None
    ax.bar(names, [values[n] for n in names], yerr=yerr, capsize=4, color=["C0", "C1", "C2", "C3"][: len(names)])
    for i, n in enumerate(names):
        text = f"{values[n]:.3f}" + (f"\n+-{errors[n]:.3f}" if errors else "")
        ax.text(i, 0.04, text, ha="center", va="bottom", fontsize=8, color="white")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def scatter_png(path: str | Path, panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]], xlabel: str,
                ylabel: str, title: str, diagonal: bool = False, zero_line: bool = False, xlog: bool = False) -> Path:
    """One scatter panel per entry of ``panels`` (title -> {group: (x, y)}), groups coloured alike in every panel;
    ``diagonal`` draws y = x, ``zero_line`` y = 0, ``xlog`` a logarithmic x axis."""
    plt = _plt()
    n = max(1, len(panels))
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows), squeeze=False, sharex=True, sharey=True)
    groups = list(dict.fromkeys(g for p in panels.values() for g in p))  # first-seen order: colours stable
    for ax, (name, data) in zip(axes.ravel(), panels.items()):
        for k, g in enumerate(groups):
            if g in data and len(data[g][0]):
                ax.scatter(data[g][0], data[g][1], s=9, alpha=0.7, color=f"C{k}", label=g, lw=0)
        ax.set_title(name, fontsize=8)
        ax.grid(alpha=0.3)
        if xlog:
            ax.set_xscale("log")
    for ax in axes.ravel()[: len(panels)]:  # after every panel is drawn: the shared limits are final
        if diagonal:
            lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
            hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        if zero_line:
            ax.axhline(0.0, color="k", ls="--", lw=0.8)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    axes.ravel()[0].legend(fontsize=7, markerscale=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
