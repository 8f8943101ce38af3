"""Issue 19's quality target on the REDUCED Tang et al. 2025 survey (conf/synth_survey_tang2025_reduced.yaml: a
quarter of the size, the same proportions): `skysift evaluate-kb --set experiment=paper` builds the survey,
pre-trains the tiny encoder on it, embeds it, and must reach the paper's F1 per task with the encoder + KB.

Held out per task: 25 targets + 25 others (the paper's 100 scaled by the survey's quarter), 3 test sets.
LINER: the plain KB vote (the paper's method). Lens and outlier: the KB vote + residual lines, an extension
beyond the paper (kb.residual_lines), because the plain vote of a CPU-sized encoder does not get there (the
measured figures of both are in BENCHMARKS.md, issue 19).
"""
from __future__ import annotations

import json

import pytest

from skysift.stages.evaluate_kb.paper import PAPER_PRF

ASSERTED = {"liner": "kb_vote", "lens": "kb_vote_residual", "outlier": "kb_vote_residual"}
PRETRAIN_STEPS = 300


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 19 part 1 in progress: the paper's F1 per task is not yet shown to hold on the reduced "
                          "survey (branch h/paperexp is still tuning it); the test runs and reports its figures", strict=False)
def test_paper_experiment_reduced_reaches_the_paper_f1(spark, tmp_path):
    from skysift.cli import run_job

    out = tmp_path / "paper"
    run_job("evaluate-kb", [
        "--set", "experiment=paper", "--output", str(out),
        "--set", "paper.survey_config=conf/synth_survey_tang2025_reduced.yaml",
        "--set", f"paper.pretrain_steps={PRETRAIN_STEPS}", "--set", "paper.test_targets=25", "--set", "paper.test_others=25",
        "--set", "paper.repeats=3", "--set", "paper.baseline_repeats=1", "--set", "rf_trees=100", "--set", "cnn_epochs=5",
        "--set", "threads=2"], spark=spark)
    m = json.loads((out / "metrics.json").read_text())
    lines = []
    for task, r in m["tasks"].items():
        for key, v in r["methods"].items():
            lines.append(f"{task:8s} {key:18s} recall {v['recall_mean']:.4f} precision {v['precision_mean']:.4f} "
                         f"F1 {v['f1_mean']:.4f} +- {v['f1_std']:.4f}")
    print("\n".join(lines))
    assert m["survey"]["classes"]["lens"] == pytest.approx(388, abs=3)  # the preset's proportions, stratified
    assert m["survey"]["classes"]["outlier"] == pytest.approx(94, abs=2)
    for task, key in ASSERTED.items():
        f1 = m["tasks"][task]["methods"][key]["f1_mean"]
        assert f1 >= PAPER_PRF[task]["f1"], (task, key, f1, lines)
    assert (out / "report.html").exists()
