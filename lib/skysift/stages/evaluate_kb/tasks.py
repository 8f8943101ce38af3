"""The evaluation of `skysift evaluate-kb` (driver side, numpy / faiss / scikit-learn / torch; no Spark): held-out
splits, the KB vote, the baselines, the Top-K and KB-size sweeps, retrieval timing and the HTML report."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from skysift.metrics.classification import classification_report
from skysift.kb.embeddings import stack
from skysift.kb.faiss_index import IndexSpec
from skysift.kb.local import build_local_index, knn, knn_vote
from skysift.kb.vote import MISSING, vote
from skysift.stages.evaluate_kb.config import EvaluateKbConfig


# ------------------------------------------------------------------ data
def load_labelled(cfg: EvaluateKbConfig) -> pd.DataFrame:
    """spec_id, label, task, row (index into the returned embedding matrix) + attrs['x'] = embeddings."""
    from skysift.runtime.output import read_table

    parts = []
    for path in cfg.labels:
        part = read_table(path).to_pandas()
        if "task" not in part.columns:
            part["task"] = Path(path).name
        parts.append(part[["spec_id", "label", "task"]])
    return attach_embeddings(pd.concat(parts, ignore_index=True), cfg)


def attach_embeddings(lab: pd.DataFrame, cfg: EvaluateKbConfig) -> pd.DataFrame:
    """Labels (spec_id, label, task) -> the rows with a finite embedding, + ``row`` and attrs['x'] (embeddings)."""
    from skysift.runtime.output import read_table

    if cfg.tasks:
        lab = lab[lab["task"].isin(cfg.tasks)]
    lab = lab.dropna(subset=["label"]).drop_duplicates(subset=["task", "spec_id"])
    emb = read_table(cfg.embeddings, columns=["spec_id", "embedding"])
    ids = pd.Series(np.arange(emb.num_rows), index=emb.column("spec_id").to_pandas())
    ids = ids[~ids.index.duplicated()]
    lab = lab[lab["spec_id"].isin(ids.index)].copy()
    lab["row"] = ids.loc[lab["spec_id"]].to_numpy()
    x = stack(emb.column("embedding"))
    lab = lab[np.isfinite(x[lab["row"].to_numpy()]).all(axis=1)]
    lab.attrs["x"] = x
    return lab.reset_index(drop=True)


def load_flux(spectra: str, spec_ids) -> tuple[np.ndarray, np.ndarray]:
    """(spec_ids found, flux (n, n_pix)) for the requested ids from a spectra table."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    ds = pads.dataset(spectra, format="parquet", partitioning="hive")
    t = ds.to_table(columns=["spec_id", "flux"], filter=pc.field("spec_id").isin(list(spec_ids)))
    return t.column("spec_id").to_numpy(zero_copy_only=False).astype(object), stack(t.column("flux"))


def load_flux_ivar(spectra: str, spec_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(spec_ids found, flux, ivar, grid wavelengths) for the requested ids from a spectra table on one grid."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    from skysift.spectra.grid import parse_grid_id

    ds = pads.dataset(spectra, format="parquet", partitioning="hive")
    t = ds.to_table(columns=["spec_id", "flux", "ivar", "grid_id"], filter=pc.field("spec_id").isin(list(spec_ids)))
    grids = sorted(set(t.column("grid_id").unique().to_pylist()) - {None})
    if len(grids) != 1:
        raise ValueError(f"{spectra}: the paper experiment needs one grid, the table holds {grids}")
    wave = parse_grid_id(grids[0]).wave_angstrom()
    return (t.column("spec_id").to_numpy(zero_copy_only=False).astype(object), stack(t.column("flux")),
            stack(t.column("ivar")), np.asarray(wave))


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train idx, test idx): each class split in the same proportion (classes of one row stay in train)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=object)
    train, test = [], []
    for c in sorted(set(labels.tolist()), key=str):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * len(idx))) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


# ------------------------------------------------------------------ experiments
def topk_sweep(kb_x, kb_y, q_x, q_y, k_max: int, spec: IndexSpec) -> list[dict]:
    """Macro-F1 and accuracy for K = 1..k_max from one K_max search (vote on each prefix)."""
    index = build_local_index(kb_x, spec, k_max)
    dist, ids = knn(index, q_x, k_max)
    labs = np.asarray(kb_y, dtype=object)[np.where(ids == MISSING, 0, ids)]
    out = []
    for k in range(1, k_max + 1):
        pred, _, _, _ = vote(dist[:, :k], labs[:, :k], ids[:, :k] != MISSING)
        r = classification_report(q_y, pred)
        out.append({"k": k, "macro_f1": r["macro_f1"], "accuracy": r["accuracy"]})
    return out


def kb_fraction_sweep(x, y, fractions, k: int, spec: IndexSpec, seed: int) -> list[dict]:
    """For each fraction f: KB = stratified f of the labelled rows, queries = the rest."""
    out = []
    for f in fractions:
        q_idx_tr, q_idx_te = stratified_split(y, 1.0 - f, seed)
        pred, _ = knn_vote(x[q_idx_tr], y[q_idx_tr], x[q_idx_te], k, spec)
        r = classification_report(y[q_idx_te], pred)
        out.append({"kb_fraction": float(f), "kb_size": int(len(q_idx_tr)), "queries": int(len(q_idx_te)),
                    "macro_f1": r["macro_f1"], "accuracy": r["accuracy"]})
    return out


def retrieval_timing(dim: int, sizes, n_queries: int, k: int, spec: IndexSpec, seed: int) -> dict:
    """Search seconds per query batch vs KB size (random vectors), best of 3, and a least-squares line."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_queries, dim)).astype(np.float32)
    points = []
    for n in sizes:
        x = rng.standard_normal((int(n), dim)).astype(np.float32)
        index = build_local_index(x, spec, k)
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            index.search(q, k)
            best = min(best, time.perf_counter() - t0)
        points.append({"kb_size": int(n), "seconds": float(best), "ms_per_query": 1e3 * best / n_queries})
        del index, x
    xs = np.array([p["kb_size"] for p in points], dtype=float) / 1e3
    ys = np.array([p["seconds"] for p in points])
    if len(points) >= 2:
        slope, intercept = np.polyfit(xs, ys, 1)
        pred = slope * xs + intercept
        ss_tot = float(((ys - ys.mean()) ** 2).sum())
        r2 = 1.0 - float(((ys - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    else:
        slope, intercept, r2 = float("nan"), float("nan"), float("nan")
    return {"points": points, "queries": n_queries, "dim": dim, "index": spec.kind,
            "fit": {"slope_s_per_1k_entries": float(slope), "intercept_s": float(intercept), "r2": r2,
                    "x_unit": "KB entries / 1000", "y_unit": f"seconds per batch of {n_queries} queries"},
            "paper_fit": "y = 0.0058x + 0.049 (Tang et al. 2025, up to 500k entries)"}


COMPARED = (("kb_vote", "KB vote"), ("random_forest", "random forest (flux)"), ("cnn_1d", "1-D CNN (flux)"))
"""The methods of the baseline comparison: (metrics key, report name)."""


def compare_baselines(cfg: EvaluateKbConfig, sub: pd.DataFrame, x: np.ndarray) -> dict:
    """KB vote vs random forest vs 1-D CNN, each trained on the same split, on ``comparison_repeats`` splits.

    ``res[method]`` is the full report of the first split (seed ``cfg.seed``); ``res["repeats"]`` holds every
    split's macro-F1 and ``res["mean_macro_f1"]`` / ``res["std_macro_f1"]`` their mean and sample std.
    """
    from skysift.stages.evaluate_kb.baselines import bin_flux, cnn_predict, random_forest_predict

    ids, flux = load_flux(cfg.spectra, sub["spec_id"])
    pos = pd.Series(np.arange(len(ids)), index=ids)
    sub = sub[sub["spec_id"].isin(pos.index)].reset_index(drop=True)
    flux = bin_flux(flux[pos.loc[sub["spec_id"]].to_numpy()], cfg.flux_bin_pixels)
    y = sub["label"].to_numpy(dtype=object)
    e = x[sub["row"].to_numpy()]
    seeds = [cfg.seed + r for r in range(cfg.comparison_repeats)]
    res: dict = {"flux_pixels": int(flux.shape[1]), "repeats": {"seeds": seeds, **{key: [] for key, _ in COMPARED}}}
    for seed in seeds:
        tr, te = stratified_split(y, cfg.test_fraction, seed)
        for key, _ in COMPARED:
            t0 = time.perf_counter()
            if key == "kb_vote":
                pred = knn_vote(e[tr], y[tr], e[te], cfg.k, cfg.index)[0]
            elif key == "random_forest":
                pred = random_forest_predict(flux[tr], y[tr], flux[te], cfg.rf_trees, seed, cfg.threads)
            else:
                pred = cnn_predict(flux[tr], y[tr], flux[te], epochs=cfg.cnn_epochs, seed=seed, threads=cfg.threads)
            report = {**classification_report(y[te], pred), "seconds": time.perf_counter() - t0}
            res["repeats"][key].append(report["macro_f1"])
            if seed == cfg.seed:
                res[key] = report
                res.update(n_train=int(len(tr)), n_test=int(len(te)))
    scores = {key: np.asarray(res["repeats"][key]) for key, _ in COMPARED}
    res["mean_macro_f1"] = {key: float(v.mean()) for key, v in scores.items()}
    res["std_macro_f1"] = {key: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for key, v in scores.items()}
    res["kb_vote_wins"] = int(sum(scores["kb_vote"] > scores["random_forest"]))
    return res


# ------------------------------------------------------------------ job
def evaluate(cfg: EvaluateKbConfig, out: Path) -> dict:
    """Run every experiment, write PNGs into ``out``; return the metrics dict."""
    import faiss

    from skysift.report import plots

    faiss.omp_set_num_threads(cfg.threads)
    lab = load_labelled(cfg)
    x = lab.attrs["x"]
    if len(lab) == 0:
        raise ValueError(f"no labelled embeddings: {list(cfg.labels)} and {cfg.embeddings} share no spec_id")
    metrics: dict = {"config": asdict(cfg), "tasks": {}, "figures": []}
    for task, sub in lab.groupby("task", sort=True):
        y = sub["label"].to_numpy(dtype=object)
        e = x[sub["row"].to_numpy()]
        tr, te = stratified_split(y, cfg.test_fraction, cfg.seed)
        if len(te) == 0 or len(tr) == 0:
            metrics["tasks"][task] = {"skipped": f"too few rows ({len(sub)})"}
            continue
        pred, _ = knn_vote(e[tr], y[tr], e[te], cfg.k, cfg.index)
        rep = classification_report(y[te], pred)
        rep.update(n_kb=int(len(tr)), n_test=int(len(te)))
        metrics["tasks"][task] = rep
        png = plots.confusion_png(out / f"confusion_{task}.png", rep["labels"], rep["confusion"],
                                  f"{task}: KB vote K={cfg.k}, macro-F1 {rep['macro_f1']:.3f}")
        metrics["figures"].append(png.name)

    comp = cfg.comparison_task if cfg.comparison_task in metrics["tasks"] else None
    sweep_task = comp or next(iter(metrics["tasks"]), None)
    if sweep_task is not None and "skipped" not in metrics["tasks"][sweep_task]:
        sub = lab[lab["task"] == sweep_task]
        y = sub["label"].to_numpy(dtype=object)
        e = x[sub["row"].to_numpy()]
        tr, te = stratified_split(y, cfg.test_fraction, cfg.seed)
        tk = topk_sweep(e[tr], y[tr], e[te], y[te], min(cfg.top_k_max, len(tr)), cfg.index)
        metrics["topk_sweep"] = {"task": sweep_task, "points": tk}
        png = plots.lines_png(out / "topk_sweep.png", [p["k"] for p in tk],
                              {"macro-F1": [p["macro_f1"] for p in tk], "accuracy": [p["accuracy"] for p in tk]},
                              "K (neighbours voting)", "score", f"Top-K sweep ({sweep_task})")
        metrics["figures"].append(png.name)
        fr = kb_fraction_sweep(e, y, cfg.kb_fractions, cfg.k, cfg.index, cfg.seed)
        metrics["kb_fraction_sweep"] = {"task": sweep_task, "points": fr}
        png = plots.lines_png(out / "kb_fraction_sweep.png", [100 * p["kb_fraction"] for p in fr],
                              {"macro-F1": [p["macro_f1"] for p in fr], "accuracy": [p["accuracy"] for p in fr]},
                              "labelled data in the KB (%)", "score", f"KB-proportion sweep ({sweep_task})")
        metrics["figures"].append(png.name)
    if comp and cfg.spectra:
        res = compare_baselines(cfg, lab[lab["task"] == comp], x)
        metrics["comparison"] = {"task": comp, **res}
        n = cfg.comparison_repeats
        png = plots.bars_png(out / "baselines.png", {name: res["mean_macro_f1"][key] for key, name in COMPARED},
                             "macro-F1", f"{comp}: mean of {n} split{'s' * (n > 1)}, each method on the same split",
                             errors={name: res["std_macro_f1"][key] for key, name in COMPARED} if n > 1 else None)
        metrics["figures"].append(png.name)
    if cfg.timing_sizes:
        tm = retrieval_timing(x.shape[1], cfg.timing_sizes, cfg.timing_queries, cfg.k, cfg.index, cfg.seed)
        metrics["retrieval_timing"] = tm
        fit = tm["fit"]
        png = plots.lines_png(out / "retrieval_time.png", [p["kb_size"] / 1e3 for p in tm["points"]],
                              {"measured": [p["seconds"] for p in tm["points"]]}, "KB size (thousand entries)",
                              f"seconds / {tm['queries']} queries", f"retrieval time ({cfg.index.kind}, d={tm['dim']})",
                              fit=None if np.isnan(fit["slope_s_per_1k_entries"]) else
                              (fit["slope_s_per_1k_entries"], fit["intercept_s"]))
        metrics["figures"].append(png.name)
    return metrics


def evaluate_paper_experiment(cfg: EvaluateKbConfig, out: Path) -> dict:
    """experiment=paper: labels (tables, or the three tasks from ``paper.truth``), embeddings, flux -> metrics."""
    import faiss

    from skysift.runtime.output import read_table
    from skysift.stages.evaluate_kb.paper import evaluate_paper
    from skysift.synth.tang2025 import survey_summary, task_labels

    faiss.omp_set_num_threads(cfg.threads)
    truth = read_table(cfg.paper.truth).to_pandas() if cfg.paper.truth else None
    if cfg.labels:
        lab = load_labelled(cfg)
    else:
        lab = attach_embeddings(task_labels(truth, cfg.paper.liner_min_line_snr), cfg)
    if len(lab) == 0:
        raise ValueError(f"no labelled embeddings: the labels and {cfg.embeddings} share no spec_id")
    flux = load_flux_ivar(cfg.spectra, lab["spec_id"].unique()) if cfg.spectra else None
    survey = groups = None
    if truth is not None:
        from skysift.io.tables import read_table_json

        model_cfg = (read_table_json(cfg.paper.truth) or {}).get("config", {}).get("model")
        survey = survey_summary(truth, cfg.paper.liner_min_line_snr, model_cfg)
        grp = np.where(truth["target_class"] == "lens", truth["lens_grade"],
                       np.where(truth["target_class"] == "outlier", truth["outlier_subtype"], None))
        groups = pd.DataFrame({"spec_id": truth["spec_id"], "group": grp})
    metrics = evaluate_paper(cfg, lab, lab.attrs["x"], out, flux, survey, groups)
    metrics["config"] = asdict(cfg)
    return metrics


def write_report(metrics: dict, out: Path) -> Path:
    """report.html in ``out`` from the metrics dict."""
    from skysift.report.html import HtmlReport

    rep = HtmlReport("skysift evaluate-kb")
    c = metrics["config"]
    if metrics.get("experiment") == "paper":
        from skysift.stages.evaluate_kb.paper import report_paper

        rep.paragraph(f"experiment=paper; embeddings {c['embeddings']}, spectra {c['spectra'] or '-'}, "
                      f"truth {c['paper']['truth'] or '-'}.")
        if metrics.get("inputs_seconds"):
            rep.paragraph("Inputs built here (seconds): " + ", ".join(f"{k} {v:.0f}" for k, v in metrics["inputs_seconds"].items()))
        report_paper(rep, metrics, out, c)
        return rep.write(out / "report.html")
    rep.paragraph(f"embeddings {c['embeddings']}, labels {', '.join(c['labels'])}, K={c['k']}, index {c['index']['kind']}, "
                  f"held-out {100 * c['test_fraction']:.0f} % per task (stratified, seed {c['seed']}).")
    rep.heading("Per-task precision / recall / F1 (held-out split)")
    for task, r in metrics["tasks"].items():
        if "skipped" in r:
            rep.paragraph(f"{task}: skipped ({r['skipped']})")
            continue
        rep.heading(f"{task}: macro-F1 {r['macro_f1']:.4f}, accuracy {r['accuracy']:.4f} "
                    f"(KB {r['n_kb']}, test {r['n_test']})", 3)
        rep.table([{"class": k, **v} for k, v in r["per_class"].items()],
                  ["class", "precision", "recall", "f1", "support"])
        rep.image(out / f"confusion_{task}.png", f"{task} confusion matrix")
    if "comparison" in metrics:
        cmp_ = metrics["comparison"]
        seeds = cmp_["repeats"]["seeds"]
        rep.heading(f"Baselines on {cmp_['task']} ({len(seeds)} stratified splits, seeds {seeds[0]}..{seeds[-1]}: "
                    f"{cmp_['n_train']} train, {cmp_['n_test']} test each; every method trained on the same split)")
        rep.paragraph(f"KB vote beats the random forest on {cmp_['kb_vote_wins']} of {len(seeds)} splits. "
                      f"Columns split_0.. are each split's macro-F1; accuracy and seconds are of the first split.")
        rep.table([{"method": name, "mean_macro_f1": cmp_["mean_macro_f1"][key], "std": cmp_["std_macro_f1"][key],
                    **{f"split_{i}": f for i, f in enumerate(cmp_["repeats"][key])},
                    "accuracy": cmp_[key]["accuracy"], "seconds": cmp_[key]["seconds"]} for key, name in COMPARED])
        rep.image(out / "baselines.png", "macro-F1 of the three methods (mean and std over the splits)")
    if "topk_sweep" in metrics:
        rep.heading("Sweeps")
        rep.image(out / "topk_sweep.png", f"Top-K sweep ({metrics['topk_sweep']['task']})")
        rep.image(out / "kb_fraction_sweep.png", f"KB-proportion sweep ({metrics['kb_fraction_sweep']['task']})")
        rep.table(metrics["topk_sweep"]["points"])
        rep.table(metrics["kb_fraction_sweep"]["points"])
    if "retrieval_timing" in metrics:
        tm = metrics["retrieval_timing"]
        f = tm["fit"]
        rep.heading("Retrieval time vs KB size")
        rep.paragraph(f"fit: seconds per {tm['queries']} queries = {f['slope_s_per_1k_entries']:.4g} x "
                      f"(thousand entries) + {f['intercept_s']:.4g}, R^2 = {f['r2']:.4f}; paper: {tm['paper_fit']} "
                      "(units not stated there). Random vectors of the embedding dimension.")
        rep.table(tm["points"])
        rep.image(out / "retrieval_time.png", "retrieval time vs KB size")
    return rep.write(out / "report.html")
