"""KB diagnostics: distribution of pairwise L2 distances and of the e^-d vote weights.

Tang et al. 2025 report the pairwise Euclidean distance distribution of their
KB (mean 2.84, median 2.71, std 1.18) to justify w = e^-d: weights must still
separate neighbours at typical distances. We report the same statistics on a
random sample of KB entries (all sample pairs), as JSON and PNG.
"""
from __future__ import annotations

import io
import json
import os

import numpy as np

from skysift.runtime.filesystem import join, write_bytes, write_text

PAPER_REFERENCE = {"mean": 2.84, "median": 2.71, "std": 1.18}


def pairwise_l2(x: np.ndarray) -> np.ndarray:
    """Euclidean distances of all unordered pairs of rows of ``x`` (condensed, length n(n-1)/2)."""
    from scipy.spatial.distance import pdist

    return pdist(np.asarray(x, dtype=np.float64), metric="euclidean")


def summarize(values: np.ndarray, bins: int = 50) -> dict:
    """mean, median, std, skewness, excess kurtosis and a histogram of ``values``."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0}
    counts, edges = np.histogram(v, bins=bins)
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "skewness": float(stats.skew(v)) if v.size > 2 else 0.0,
        "kurtosis": float(stats.kurtosis(v)) if v.size > 3 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def kb_diagnostics(sample: np.ndarray, bins: int = 50) -> dict:
    """Distance and weight statistics of a sample of KB embeddings."""
    d = pairwise_l2(sample)
    return {
        "n_sample": int(len(sample)),
        "pairwise_l2": summarize(d, bins),
        "weight_exp_neg_d": summarize(np.exp(-d), bins),
        "paper_reference_pairwise_l2": PAPER_REFERENCE,
    }


def write_diagnostics(folder: str | os.PathLike, diag: dict) -> list[str]:
    """Write kb_diagnostics.json and kb_distances.png into ``folder`` (any ``runtime.filesystem`` URI);
    returns the files' URIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = os.fspath(folder)
    js = join(folder, "kb_diagnostics.json")
    write_text(js, json.dumps(diag, indent=2))
    files = [js]
    if diag.get("pairwise_l2", {}).get("n"):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, key, title in (
            (axes[0], "pairwise_l2", "pairwise L2 distance d"),
            (axes[1], "weight_exp_neg_d", "weight $e^{-d}$"),
        ):
            h = diag[key]["histogram"]
            edges = np.asarray(h["edges"])
            ax.stairs(h["counts"], edges, fill=True, alpha=0.7)
            ax.axvline(diag[key]["mean"], color="k", ls="--", label=f"mean {diag[key]['mean']:.3g}")
            ax.axvline(diag[key]["median"], color="r", ls=":", label=f"median {diag[key]['median']:.3g}")
            ax.set_xlabel(title)
            ax.set_ylabel("pairs")
            ax.legend(fontsize=8)
        fig.suptitle(f"KB diagnostics ({diag['n_sample']} entries sampled)")
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=110)
        plt.close(fig)
        files.append(join(folder, "kb_distances.png"))
        write_bytes(files[-1], png.getvalue())
    return files
