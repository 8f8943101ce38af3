"""`skysift evaluate-kb` driver: held-out evaluation of the KB vote (Tang et al. 2025, section 4).

Per task: a stratified held-out split; the KB holds the training part, the test
part is predicted by the same faiss factory + e^-d softmax vote as search-kb
(``kb.local``). On the comparison task (star-forming / AGN / normal) the KB vote
is compared with a random forest and a 1-D CNN trained on the flux of the same
split. Sweeps: Top-K (K = 1..15) and the KB proportion (10..90 % of the labelled
data in the KB, the rest queried). Retrieval time is measured against KB size and
fitted with a line. Everything lands in the run folder: metrics.json, PNGs and
report.html (and in MLflow when ``mlflow: true``).

Runs on the driver (``NEEDS_SPARK = False``): it reads the tables with pyarrow and
needs all labelled embeddings in memory, which is what the sweeps do anyway.
"""
from __future__ import annotations

import json
from pathlib import Path

from skysift.runtime.output import staged
from skysift.stages.evaluate_kb.config import EvaluateKbConfig
from skysift.stages.evaluate_kb.tasks import COMPARED, evaluate, evaluate_paper_experiment, write_report

NEEDS_SPARK = False
CONFIG = EvaluateKbConfig


def _log_mlflow(cfg: EvaluateKbConfig, metrics: dict, out: Path) -> str | None:
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow  # lazy: 2 s import

    from skysift.runtime.tracking import experiment_id, tracking_uri

    # same store as pre-training; artifacts beside it, never in the working directory's ./mlruns
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_name="evaluate-kb", experiment_id=experiment_id(mlflow, cfg.mlflow_experiment, uri)) as run:
        mlflow.log_params({"k": cfg.k, "index": cfg.index.kind, "test_fraction": cfg.test_fraction,
                           "embeddings": cfg.embeddings, "labels": ",".join(cfg.labels)})
        for task, r in metrics["tasks"].items():
            if "macro_f1" in r:
                mlflow.log_metric(f"{task}.macro_f1", r["macro_f1"])
                mlflow.log_metric(f"{task}.accuracy", r["accuracy"])
        if "comparison" in metrics:
            for key, _ in COMPARED:
                mlflow.log_metric(f"comparison.{key}.macro_f1", metrics["comparison"][key]["macro_f1"])
                mlflow.log_metric(f"comparison.{key}.mean_macro_f1", metrics["comparison"]["mean_macro_f1"][key])
        mlflow.log_artifacts(str(out))
        return run.info.run_id


def _paper_summary(metrics: dict, out: Path) -> dict:
    summary = {"read": None, "written": None, "rejected": None, "output": str(out), "report": str(out / "report.html")}
    for task, r in metrics["tasks"].items():
        for key, m in r["methods"].items():
            for k in ("recall", "precision", "f1"):
                summary[f"{task}_{key}_{k}"] = round(m[f"{k}_mean"], 4)
        summary[f"{task}_paper_f1"] = r["paper"]["f1"]
    return summary


def run(spark, cfg: EvaluateKbConfig) -> dict:
    if cfg.experiment == "paper" and not cfg.output:
        import dataclasses

        from skysift.paths import REPO_ROOT

        cfg = dataclasses.replace(cfg, output=str(REPO_ROOT / "runs" / "evaluate-kb-paper"))
    # the report's figures are written by matplotlib: the run folder is on a local or shared disk
    with staged(cfg.output) as stage:
        staging = Path(stage.uri)
        if cfg.experiment == "paper":
            inputs_seconds = None
            if not cfg.embeddings:
                from skysift.stages.evaluate_kb.paper_inputs import build_inputs

                cfg, inputs_seconds = build_inputs(cfg, staging / "inputs", spark)
            metrics = evaluate_paper_experiment(cfg, staging)
            metrics["inputs_seconds"] = inputs_seconds
            if inputs_seconds:  # name the inputs where they will be after the commit, not in the staging folder
                c = metrics["config"]
                for key in ("embeddings", "spectra"):
                    c[key] = c[key].replace(str(staging), str(stage.output))
                c["paper"]["truth"] = c["paper"]["truth"].replace(str(staging), str(stage.output))
        else:
            metrics = evaluate(cfg, staging)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        write_report(metrics, staging)
    out = Path(stage.output)
    if cfg.experiment == "paper":
        return _paper_summary(metrics, out)
    run_id = _log_mlflow(cfg, metrics, out) if cfg.mlflow else None
    summary = {"read": None, "written": None, "rejected": None, "output": str(out), "report": str(out / "report.html")}
    for task, r in metrics["tasks"].items():
        if "macro_f1" in r:
            summary[f"{task}_macro_f1"] = round(r["macro_f1"], 4)
    if "comparison" in metrics:
        for key, _ in COMPARED:
            summary[f"comparison_{key}_macro_f1"] = round(metrics["comparison"][key]["macro_f1"], 4)
            summary[f"comparison_{key}_mean_macro_f1"] = round(metrics["comparison"]["mean_macro_f1"][key], 4)
        summary["comparison_kb_vote_wins"] = f"{metrics['comparison']['kb_vote_wins']}/{cfg.comparison_repeats}"
    if "retrieval_timing" in metrics:
        summary["timing_fit"] = metrics["retrieval_timing"]["fit"]
    if run_id:
        summary["mlflow_run_id"] = run_id
    return summary
