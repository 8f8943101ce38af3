"""Figures of the emission-line pipeline (Lu et al. 2022): the stage flow chart, the [N II] BPT diagram, redshift
comparisons (the paper's Figs. 6 and 10) and H II velocities (Fig. 7). Matplotlib Agg, one PNG per call;
used by `skysift find-emission-lines`'s report, the demo and notebooks/09_emission_lines.ipynb."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from skysift.report.plots import _plt
from skysift.spectra.bpt import kauffmann03_nii, kewley01_nii, schawinski07_nii_seyfert_liner

C_KMS = 299792.458

FLOW = (
    ("searched", "searched"),
    ("with_line_redshift", "with a line redshift (>= 3 lines)"),
    ("pq_candidates", "PQ candidates (|z_cl - z_rt| < 0.001)"),
    ("confirmed", "confirmed (inspection rule)"),
)
"""The linear part of the paper's flow chart: summary ``stages`` key, box label."""
BRANCHES = (
    ("galaxies", "galaxies (> 500 km/s)", (("known_galaxies", "known"), ("new_galaxies", "new"))),
    ("low_velocity", "low-velocity (< 500 km/s)", (("hii", "H II"), ("unclassified", "unclassified"))),
)
"""The two branches after confirmation and their two outcomes each."""

BPT_COLOURS = {"star_forming": "tab:blue", "composite": "tab:green", "seyfert": "tab:red", "liner": "tab:orange",
               "agn": "tab:purple"}


def flow_chart_png(path: str | Path, stages: Mapping[str, int], title: str = "find-emission-lines: spectra per stage"
                   ) -> Path:
    """Boxes with the count after every stage (``stages`` = the job summary's ``stages``), arrows between them:
    searched -> line redshift -> PQ candidates -> confirmed -> galaxies / low-velocity -> known / new and
    H II / unclassified."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.0, 6.4))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")

    def box(x, y, text, count, colour="#eef3fb"):
        ax.text(x, y, f"{text}\n{count:,}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="#335"))

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="#335", lw=1.2))

    ys = [9.3, 7.9, 6.5, 5.1]
    for (key, label), y in zip(FLOW, ys):
        box(5, y, label, int(stages.get(key, 0)))
    for y0, y1 in zip(ys, ys[1:]):
        arrow(5, y0 - 0.45, 5, y1 + 0.45)
    for (key, label, outcomes), x in zip(BRANCHES, (2.6, 7.4)):
        box(x, 3.4, label, int(stages.get(key, 0)), "#f4f0e6")
        arrow(5, ys[-1] - 0.45, x, 3.85)
        for (okey, olabel), dx in zip(outcomes, (-1.2, 1.2)):
            box(x + dx, 1.5, olabel, int(stages.get(okey, 0)), "#eef8ee")
            arrow(x, 2.95, x + dx, 1.95)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def bpt_png(path: str | Path, log_nii_ha: Sequence[float], log_oiii_hb: Sequence[float], classes: Sequence[str],
            title: str = "[N II] BPT diagram") -> Path:
    """log([O III]5008/Hbeta) vs log([N II]6585/Halpha), points coloured by class, with the Kauffmann 2003 and
    Kewley 2001 curves and the Schawinski 2007 Seyfert/LINER line (not stated in Lu et al. 2022: skysift's)."""
    plt = _plt()
    x = np.asarray(log_nii_ha, dtype=float)
    y = np.asarray(log_oiii_hb, dtype=float)
    cls = np.asarray(classes, dtype=object)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    ok = np.isfinite(x) & np.isfinite(y)
    for name, colour in BPT_COLOURS.items():
        sel = ok & (cls == name)
        if sel.any():
            ax.scatter(x[sel], y[sel], s=10, color=colour, label=f"{name} ({int(sel.sum())})", alpha=0.8)
    xs = np.linspace(-2.0, 0.04, 200)
    ax.plot(xs, kauffmann03_nii(xs), "k--", lw=1, label="Kauffmann 2003")
    xk = np.linspace(-2.0, 0.46, 200)
    ax.plot(xk, kewley01_nii(xk), "k-", lw=1, label="Kewley 2001")
    xl = np.linspace(-0.18, 1.0, 50)
    ax.plot(xl, schawinski07_nii_seyfert_liner(xl), "k:", lw=1, label="Schawinski 2007 (skysift choice)")
    ax.set_xlim(-2.0, 1.0)
    ax.set_ylim(-1.5, 1.5)
    ax.set_xlabel("log([N II] 6585 / Halpha)")
    ax.set_ylabel("log([O III] 5008 / Hbeta)")
    ax.set_title(f"{title} ({int(ok.sum())} galaxies with all four lines)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def redshift_comparison_png(path: str | Path, pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                            xlabel: str, ylabel: str, title: str) -> Path:
    """Scatter of z pairs (one series per name: (x, y)), with the 1:1 line (the paper's Figs. 6 and 10)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    top = 0.0
    for name, (a, b) in pairs.items():
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.any():
            ax.scatter(a[ok], b[ok], s=9, alpha=0.7, label=f"{name} ({int(ok.sum())})")
            top = max(top, float(np.max(a[ok])), float(np.max(b[ok])))
    top = top * 1.05 or 0.4
    ax.plot([0, top], [0, top], "k-", lw=0.8, label="1:1")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def velocity_hist_png(path: str | Path, z: Sequence[float], title: str = "H II spectra: cz from z_cl") -> Path:
    """Histogram of c z in km/s (the paper's Fig. 7: most H II velocities below 150 km/s)."""
    plt = _plt()
    v = np.asarray(z, dtype=float) * C_KMS
    v = v[np.isfinite(v)]
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.hist(v, bins=30, color="tab:blue")
    ax.set_xlabel("c z (km/s)")
    ax.set_ylabel("spectra")
    ax.set_title(f"{title} ({len(v)})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
