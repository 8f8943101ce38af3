"""`skysift evaluate-sfr` driver: train-sfr's held-out predictions -> metrics.json, figures and report.html.

Reads ``predictions.parquet`` of a train-sfr run (every model's val and test predictions per resolution,
quality level and seed), computes MSE / RMSE / MAE / R2 per model x resolution x quality level as
mean +- std over the seeds, on all held-out objects and without QSOs, the fusion-vs-single-modality
ordering, and predicted-vs-true and residual-vs-redshift figures at the champion's combination. With
``predictions`` (a predict-sfr output) it also scores the registered champion's rows of the held-out
objects. Runs on the driver (``NEEDS_SPARK = False``): the inputs are a few hundred thousand rows at most.
"""
from __future__ import annotations

import json
from pathlib import Path

from skysift.config import ConfigError
from skysift.runtime.output import staged
from skysift.stages.evaluate_sfr.config import EvaluateSfrConfig
from skysift.stages.evaluate_sfr.tasks import (SUBSETS, champion_check, figures, fusion_ordering, metric_rows,
                                               resolution_grid, write_report)

NEEDS_SPARK = False
CONFIG = EvaluateSfrConfig
PREDICTIONS = "predictions.parquet"


def _read_predictions(cfg: EvaluateSfrConfig):
    import pyarrow.parquet as pq

    from skysift.runtime.filesystem import exists, join, resolve

    path = join(cfg.input, PREDICTIONS)
    if not exists(path):
        raise ConfigError(f"input {cfg.input}: no {PREDICTIONS}; give the output folder of `skysift train-sfr`")
    fs, local = resolve(path)
    df = pq.read_table(local, filesystem=fs).to_pandas()
    df = df[df.split == cfg.split]
    if cfg.models:
        df = df[df.model.isin(cfg.models)]
    if not len(df):
        raise ConfigError(f"input {cfg.input}: no {cfg.split} predictions of models {list(cfg.models) or 'any'}")
    return df


def run(spark, cfg: EvaluateSfrConfig) -> dict:
    """Write the report of cfg.input into cfg.output (spark unused)."""
    from skysift.config import to_dict
    from skysift.models.sfr_config import FUSION_MODELS, SINGLE_MODALITY
    from skysift.runtime.filesystem import exists, join, read_text

    df = _read_predictions(cfg)
    report_json = join(cfg.input, "report.json")
    champ = json.loads(read_text(report_json)).get("champion") if exists(report_json) else None
    rows = metric_rows(df, cfg.qso_class)
    metrics = {"input": cfg.input, "split": cfg.split, "seeds": sorted(int(s) for s in df.seed.unique()),
               "champion": champ, "rows": rows, "ordering": {s: fusion_ordering(rows, s) for s in SUBSETS},
               "resolution_grid": {s: resolution_grid(rows, s) for s in SUBSETS},
               "config": to_dict(cfg)}
    if cfg.predictions:
        from skysift.runtime.output import read_table

        pred = read_table(cfg.predictions).to_pandas()
        mm = cfg.multimodal if not exists(join(cfg.multimodal, "multimodal")) else join(cfg.multimodal, "multimodal")
        truth = read_table(mm, columns=["object_id", "log_sfr", "class", "z"]).to_pandas()
        held = df.object_id.unique()
        metrics["champion_predictions"] = champion_check(pred, truth, held, cfg.qso_class)
    with staged(cfg.output) as stage:
        out = Path(stage.uri)
        combo = (champ["image_px"], champ["quality_level"]) if champ else (int(df.image_px.max()), int(df.quality_level.min()))
        plot_models = [m for m in (*FUSION_MODELS, *SINGLE_MODALITY["image"], *SINGLE_MODALITY["spectrum"])
                       if m in set(df.model)]
        figs = figures(df, out, combo[0], combo[1], plot_models, cfg.qso_class)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
        write_report(out / "report.html", metrics, figs)
    beats = [o for o in metrics["ordering"]["all"] if o["beats_both"]]
    return {"read": None, "written": None, "rejected": None, "output": stage.output,
            "report": str(Path(stage.output) / "report.html"), "prediction_rows": int(len(df)), "metric_rows": len(rows),
            "fusions_beating_both": f"{len(beats)}/{len(metrics['ordering']['all'])}",
            "r2_mean": {f"{r['model']}@{r['image_px']}px_q{r['quality_level']}": round(r["r2_mean"], 4)
                        for r in rows if r["subset"] == "all"}}
