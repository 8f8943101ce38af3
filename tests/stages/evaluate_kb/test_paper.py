"""experiment=paper building blocks: mixed test sets, target P / R / F1, leave-one-out vote, thresholds, sweeps,
the labels of the three tasks, and a small end-to-end run on toy embeddings."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.kb.faiss_index import IndexSpec
from skysift.stages.evaluate_kb import paper
from skysift.stages.evaluate_kb.config import EvaluateKbConfig, PaperExperimentConfig


def test_mixed_split_holds_out_exactly_n_targets_and_n_others():
    y = np.r_[np.ones(130, bool), np.zeros(900, bool)]
    kb, te = paper.mixed_split(y, 100, 100, 3)
    assert y[te].sum() == 100 and (~y[te]).sum() == 100
    assert len(set(kb) & set(te)) == 0 and len(kb) + len(te) == len(y)
    assert not np.array_equal(te, paper.mixed_split(y, 100, 100, 4)[1])
    with pytest.raises(ValueError, match="needs more"):
        paper.mixed_split(y, 130, 100, 0)


def test_target_prf_against_scikit_learn():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    p = np.where(rng.random(300) < 0.8, y, ~y)
    r = paper.target_prf(p, y)
    assert r["precision"] == pytest.approx(precision_score(y, p))
    assert r["recall"] == pytest.approx(recall_score(y, p))
    assert r["f1"] == pytest.approx(f1_score(y, p))
    assert paper.target_prf(np.zeros(5, bool), np.ones(5, bool))["f1"] == 0.0


def test_loo_vote_never_uses_the_entry_itself():
    # two tight clusters; one "a" planted inside the "b" cluster: leave-one-out it must be voted "b"
    x = np.r_[np.zeros((10, 2)), np.full((10, 2), 5.0), [[5.01, 5.0]]].astype(np.float32)
    y = np.array(["a"] * 10 + ["b"] * 10 + ["a"], dtype=object)
    v = paper.loo_vote(x, y, 3, IndexSpec("flat"))
    assert v[-1] == "b" and (v[:10] == "a").all() and (v[10:20] == "b").all()


def test_best_threshold_maximises_f1():
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    base = np.zeros(6, bool)
    stat = np.array([5.0, 4.0, 0.0, 3.0, 1.0, 0.0])
    t, f = paper.best_threshold(stat, base, y)
    assert t == 4.0 and f == pytest.approx(0.8)
    t, _ = paper.best_threshold(np.zeros(6), y, y)  # a perfect base: no threshold helps
    assert t == np.inf


def _toy(n_other=900, n_target=160, sep=3.0, seed=0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(0, 1, (n_other, 8)), rng.normal(sep, 1, (n_target, 8))].astype(np.float32)
    y = np.r_[np.zeros(n_other, bool), np.ones(n_target, bool)]
    return x, y


def test_kb_share_sweep_sizes_and_trade_off():
    x, y = _toy(sep=1.6)
    cfg = EvaluateKbConfig(embeddings="e", labels=("l",), output="o", paper=PaperExperimentConfig(
        test_targets=50, test_others=50, lens_kb_shares=(0.05, 0.1, 0.5)))
    sw = paper.kb_share_sweep(x, y, cfg)
    for p in sw:
        assert p["kb_targets"] / (p["kb_targets"] + p["kb_others"]) == pytest.approx(p["target_share"], abs=0.01)
    assert sw[-1]["kb_targets"] == 110 and sw[-1]["kb_others"] == 110  # all KB targets at a share of one half
    # more targets in the KB: recall up, precision down (the paper's Fig. 4 trade-off)
    assert sw[-1]["recall"] > sw[0]["recall"] and sw[-1]["precision"] <= sw[0]["precision"]


def test_topk_k3_is_the_plain_vote():
    x, y = _toy(sep=1.8)
    cfg = EvaluateKbConfig(embeddings="e", labels=("l",), output="o", top_k_max=5,
                           paper=PaperExperimentConfig(test_targets=40, test_others=40, repeats=1, baseline_repeats=0))
    tk = paper.topk_prf(x, y, cfg)
    res = paper.evaluate_task("t", cfg, x, y, None, None, None, pd.DataFrame(index=range(len(x))))
    assert [p["k"] for p in tk] == [1, 2, 3, 4, 5]
    assert tk[2]["f1"] == pytest.approx(res["methods"]["kb_vote"]["f1_mean"])


def test_task_labels_from_truth():
    from skysift.synth.model import ClassMix, SynthModelConfig, generate
    from skysift.synth.tang2025 import task_labels

    mix = ClassMix(star_forming=1, composite=0.3, seyfert=0.3, liner=1, passive=1, qso=0, star=0, lens=0.5, outlier=0.3)
    t = generate(np.arange(400), 1, SynthModelConfig(classes=mix)).truth
    lab = task_labels(t, 3.0)
    lens = lab[lab.task == "lens"]
    assert len(lens) == len(t) and (lens.label == "lens").sum() == (t.target_class == "lens").sum()
    li = lab[lab.task == "liner"].merge(t[["spec_id", "bpt_class"]], on="spec_id")
    assert (li.loc[li.label == "liner", "bpt_class"] == "liner").all()
    # LINERs below the S/N cut are neither targets nor non-targets
    from skysift.synth.model import bpt_line_snr

    weak = t.spec_id[(t.bpt_class == "liner") & (bpt_line_snr(t) < 3)]
    assert len(weak) > 0 and not li.spec_id.isin(weak).any()


def test_paper_experiment_end_to_end_on_toy_tables(tmp_path):
    # three tasks on toy embeddings (targets offset from the rest), flux for the baselines: the report and the
    # metrics hold every method, the paper's numbers and the sweeps
    rng = np.random.default_rng(5)
    n = 1200
    kind = rng.choice(["liner", "lens", "outlier", "other"], n, p=[0.15, 0.15, 0.1, 0.6])
    centre = {"liner": 2.5, "lens": -2.5, "outlier": 5.0, "other": 0.0}
    emb = np.stack([rng.normal(centre[k], 1, 8) for k in kind]).astype(np.float32)
    flux = (rng.normal(1, 0.1, (n, 64)) + emb[:, :1]).astype(np.float32)
    ids = [f"s{i}" for i in range(n)]
    labels = pd.concat([pd.DataFrame({"spec_id": ids, "label": np.where(kind == t, t, "other"), "task": t})
                        for t in ("liner", "lens", "outlier")])
    for name, table in {
        "embeddings": pa.table({"spec_id": ids, "embedding": pa.array(list(emb), pa.list_(pa.float32()))}),
        "spectra": pa.table({"spec_id": ids, "flux": pa.array(list(flux), pa.list_(pa.float32())),
                             "ivar": pa.array(list(np.ones_like(flux)), pa.list_(pa.float32())),
                             "grid_id": ["lin:3600:8400:64:rest"] * n}),
        "labels": pa.Table.from_pandas(labels, preserve_index=False),
    }.items():
        (tmp_path / name).mkdir()
        pq.write_table(table, tmp_path / name / "part-0.parquet")
    from skysift.stages.evaluate_kb import job

    cfg = EvaluateKbConfig(experiment="paper", embeddings=str(tmp_path / "embeddings"), labels=(str(tmp_path / "labels"),),
                           spectra=str(tmp_path / "spectra"), output=str(tmp_path / "run"), rf_trees=20, cnn_epochs=1,
                           flux_bin_pixels=2, threads=1, top_k_max=4,
                           paper=PaperExperimentConfig(test_targets=30, test_others=30, repeats=2, baseline_repeats=1))
    s = job.run(None, cfg)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(m["tasks"]) == {"liner", "lens", "outlier"}
    for task, r in m["tasks"].items():
        assert r["paper"] == paper.PAPER_PRF[task]
        assert len(r["methods"]["kb_vote"]["repeats"]) == 2 and len(r["methods"]["random_forest"]["repeats"]) == 1
        assert r["methods"]["kb_vote"]["f1_mean"] > 0.9  # well-separated toy clusters
        assert ("kb_vote_residual" in r["methods"]) == (task in paper.EXTENDED)
    assert len(m["tasks"]["lens"]["kb_share_sweep"]) == len(PaperExperimentConfig().lens_kb_shares)
    html = (tmp_path / "run" / "report.html").read_text()
    for fig in m["figures"]:
        assert (tmp_path / "run" / fig).exists() and fig in html
    assert "0.9701" in html and "RECALL" in html and "EXTENSION" in html
    assert s["lens_kb_vote_f1"] == pytest.approx(m["tasks"]["lens"]["methods"]["kb_vote"]["f1_mean"], abs=1e-4)


def test_best_threshold_weights_the_others_to_another_mix():
    # 2 targets, 8 others; at weight 1 the best cut keeps 1 target (F1 2/3; the cut at 1.0: 4/7); at the weight
    # that makes the 8 others count as 2, the cut at 1.0 takes both targets and three others: F1 = 4 / 4.75
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    stat = np.array([5.0, 1.0, 2.0, 1.5, 1.2, 0.4, 0.3, 0.2, 0.1, 0.05])
    base = np.zeros(10, bool)
    t, f = paper.best_threshold(stat, base, y)
    assert t == 5.0 and f == pytest.approx(2 / 3)
    t, f = paper.best_threshold(stat, base, y, other_weight=0.25)
    assert t == 1.0 and f == pytest.approx(4 / 4.75)
    pc = PaperExperimentConfig(test_targets=25, test_others=50)
    assert paper.threshold_weight(pc, y) == pytest.approx(2 * 2 / 8)
    assert paper.threshold_weight(PaperExperimentConfig(threshold_mix="kb"), y) == 1.0
