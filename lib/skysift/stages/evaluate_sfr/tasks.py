"""The pieces of `skysift evaluate-sfr` (pandas / numpy / matplotlib; no Spark): metrics per model x resolution x
quality level over seeds, with and without QSOs; the fusion-vs-single-modality ordering; the figures; the HTML."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skysift.metrics.regression import METRIC_NAMES, mean_std, regression_report
from skysift.models.sfr_config import FUSION_MODELS, MODEL_NAMES, SINGLE_MODALITY

SUBSETS = ("all", "without_qso")
"""Every held-out object, and the same without the QSOs."""


def subset(df: pd.DataFrame, name: str, qso_class: str = "QSO") -> pd.DataFrame:
    """The rows of ``df`` in subset ``name`` (SUBSETS)."""
    return df if name == "all" else df[df["class"].fillna("") != qso_class]


def metric_rows(df: pd.DataFrame, qso_class: str = "QSO") -> list[dict]:
    """One row per (model, image_px, quality_level, subset): n objects, seeds, and each metric's mean / std
    over the seeds (``metrics.regression``: scikit-learn's formulas), from held-out predictions (one split)."""
    rows = []
    order = {m: i for i, m in enumerate(MODEL_NAMES)}
    keys = sorted(df.groupby(["model", "image_px", "quality_level"]).groups, key=lambda k: (order.get(k[0], 99), -k[1], k[2]))
    for model, px, q in keys:
        part = df[(df.model == model) & (df.image_px == px) & (df.quality_level == q)]
        for name in SUBSETS:
            sub = subset(part, name, qso_class)
            reports = [regression_report(g.log_sfr, g.log_sfr_pred) for _, g in sub.groupby("seed")]
            if not reports:
                continue
            stats = mean_std(reports)
            row = {"model": model, "image_px": int(px), "quality_level": int(q), "subset": name,
                   "n": int(reports[0]["n"]), "seeds": len(reports)}
            for m in METRIC_NAMES:
                row[f"{m}_mean"], row[f"{m}_std"] = stats[m]["mean"], stats[m]["std"]
            rows.append(row)
    return rows


def resolution_grid(rows: list[dict], subset_name: str = "all", metric: str = "r2") -> list[dict]:
    """The thesis's comparison across image resolutions and spectral quality levels: one row per (quality level,
    model) with the ``metric``'s mean and std over seeds at each trained resolution (``"<px> px"`` keys; None where
    that combination was not trained), models in MODEL_NAMES order, quality levels ascending."""
    cells = {(r["quality_level"], r["model"], r["image_px"]): (r[f"{metric}_mean"], r[f"{metric}_std"])
             for r in rows if r["subset"] == subset_name}
    pxs = sorted({k[2] for k in cells}, reverse=True)
    order = {m: i for i, m in enumerate(MODEL_NAMES)}
    out = []
    for q, model in sorted({k[:2] for k in cells}, key=lambda k: (k[0], order.get(k[1], 99))):
        row = {"quality_level": int(q), "model": model}
        for px in pxs:
            row[f"{px} px"] = cells.get((q, model, px))
        out.append(row)
    return out


def fusion_ordering(rows: list[dict], subset_name: str = "all") -> list[dict]:
    """Per (image_px, quality_level): each fusion's mean R2 against the best image-only and spectrum-only
    baselines' (``beats_both``: above both)."""
    out = []
    table = {(r["model"], r["image_px"], r["quality_level"]): r["r2_mean"] for r in rows if r["subset"] == subset_name}
    for px, q in sorted({(k[1], k[2]) for k in table}, key=lambda c: (-c[0], c[1])):
        best = {mod: max((table[(m, px, q)] for m in names if (m, px, q) in table), default=None)
                for mod, names in SINGLE_MODALITY.items()}
        for f in FUSION_MODELS:
            if (f, px, q) not in table or None in best.values():
                continue
            r2 = table[(f, px, q)]
            out.append({"image_px": px, "quality_level": q, "fusion": f, "r2_mean": r2, "best_image_r2": best["image"],
                        "best_spectrum_r2": best["spectrum"], "beats_both": bool(r2 > best["image"] and r2 > best["spectrum"])})
    return out


def champion_check(pred: pd.DataFrame, truth: pd.DataFrame, held_out_ids, qso_class: str = "QSO") -> dict:
    """predict-sfr's rows of the held-out objects against their labels, with and without QSOs."""
    m = pred.merge(truth[["object_id", "log_sfr", "class", "z"]], on="object_id", how="inner")
    m = m[m.object_id.isin(set(held_out_ids))]
    out = {"n_predicted": int(len(pred)), "n_held_out": int(len(m))}
    for name in SUBSETS:
        s = subset(m, name, qso_class)
        out[name] = regression_report(s.log_sfr, s.log_sfr_pred) if len(s) else None
    return out


def figures(df: pd.DataFrame, out: Path, image_px: int, quality_level: int, models: list[str],
            qso_class: str = "QSO") -> list[tuple[str, Path]]:
    """Predicted vs true and residual vs redshift at one combination, first seed: [(caption, png)]."""
    from skysift.report.plots import scatter_png

    part = df[(df.image_px == image_px) & (df.quality_level == quality_level)]
    seed = int(part.seed.min())
    part = part[part.seed == seed]
    panels_true, panels_z = {}, {}
    for m in models:
        g = part[part.model == m]
        if not len(g):
            continue
        qso = g["class"].fillna("") == qso_class
        panels_true[m] = {"galaxy": (g.log_sfr[~qso], g.log_sfr_pred[~qso]), "QSO": (g.log_sfr[qso], g.log_sfr_pred[qso])}
        res = g.log_sfr_pred - g.log_sfr
        panels_z[m] = {"galaxy": (g.z[~qso], res[~qso]), "QSO": (g.z[qso], res[qso])}
    tag = f"{image_px}px_q{quality_level}"
    a = scatter_png(out / f"pred_vs_true_{tag}.png", panels_true, "true log SFR", "predicted log SFR",
                    f"predicted vs true, {image_px} px, quality level {quality_level}, seed {seed}", diagonal=True)
    z = part.z[part.z > 0]
    wide = bool(len(z) and z.max() > 10 * z.min())  # QSOs at z ~ 2 beside galaxies at z ~ 0.1: log axis
    b = scatter_png(out / f"residual_vs_z_{tag}.png", panels_z, "redshift z", "predicted - true log SFR",
                    f"residual vs redshift, {image_px} px, quality level {quality_level}, seed {seed}", zero_line=True,
                    xlog=wide)
    return [(f"predicted vs true log SFR ({tag}, seed {seed})", a), (f"residual vs redshift ({tag}, seed {seed})", b)]


def _fmt(row: dict, metric: str) -> str:
    return f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_std']:.3f}"


def write_report(path: Path, metrics: dict, figs: list[tuple[str, Path]]) -> Path:
    """report.html: the champion, the ordering, the metric tables (all / without QSOs), the figures."""
    from skysift.report.html import HtmlReport

    rep = HtmlReport("SFR from images and spectra: early / intermediate / late fusion (Rustamov 2025)")
    champ = metrics.get("champion") or {}
    rep.paragraph(f"train-sfr run {metrics['input']}; split: {metrics['split']}; seeds: {metrics['seeds']}. "
                  f"Champion (lowest mean validation MSE): {champ.get('model')} at {champ.get('image_px')} px, "
                  f"quality level {champ.get('quality_level')}. Quality levels: 0 = the full grid, 1 / 2 / 3 = "
                  "2x / 4x / 8x inverse-variance binned (skysift's definition; the thesis does not define its four). "
                  "Thesis on real SDSS: MSE 0.382 / 0.368 / 0.382, R2 0.23 / 0.26 / 0.23 (early / intermediate / late); "
                  "a synthetic truth tied to Halpha scores far higher, so only the ordering is comparable.")
    rep.heading("Fusion vs single modality (mean R2 over seeds)")
    for name in SUBSETS:
        rep.heading(name.replace("_", " "), 3)
        rep.table([{**o, "r2_mean": round(o["r2_mean"], 4), "best_image_r2": round(o["best_image_r2"], 4),
                    "best_spectrum_r2": round(o["best_spectrum_r2"], 4)} for o in metrics["ordering"][name]])
    rep.heading("R2 by image resolution and spectral quality level (mean ± std over seeds)")
    for name in SUBSETS:
        rep.heading(name.replace("_", " "), 3)
        rep.table([{k: (f"{v[0]:.3f} ± {v[1]:.3f}" if isinstance(v, (tuple, list)) else "—" if v is None else v)
                    for k, v in g.items()} for g in metrics["resolution_grid"][name]])
    for name in SUBSETS:
        rep.heading(f"Metrics per model, resolution and quality level: {name.replace('_', ' ')} (mean ± std over seeds)")
        rep.table([{"model": r["model"], "image px": r["image_px"], "quality": r["quality_level"], "n": r["n"],
                    "seeds": r["seeds"], **{m.upper() if m != "r2" else "R2": _fmt(r, m) for m in METRIC_NAMES}}
                   for r in metrics["rows"] if r["subset"] == name])
    if metrics.get("champion_predictions"):
        c = metrics["champion_predictions"]
        rep.heading("predict-sfr: the registered champion on the held-out objects")
        rep.paragraph(f"{c['n_predicted']} objects predicted, {c['n_held_out']} of them in the {metrics['split']} split.")
        rep.table([{"subset": k, **{m: round(v[m], 4) for m in (*METRIC_NAMES, "n")}} for k, v in c.items()
                   if isinstance(v, dict)])
    rep.heading("Figures")
    for caption, png in figs:
        rep.image(png, caption)
    return rep.write(path)
