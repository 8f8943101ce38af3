"""The labels of Tang et al. 2025's three search experiments from the synthetic truth, and what the survey holds.

Tasks (target label / the rest): ``liner`` (LINER / non_liner), ``lens`` (lens / non_lens), ``outlier``
(outlier / normal). LINERs come from the BPT labels, as the paper's do: the truth's BPT class of the true line
fluxes, kept only where the four [N II]-diagram lines have an expected S/N >= ``min_line_snr`` (the usual
BPT selection, Brinchmann et al. 2004: S/N >= 3 in each line); a LINER below that cut would be "unclassified"
in such a catalogue and is left out of the LINER task (neither target nor non-target). Lens candidates and
outliers are the truth's classes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.synth.model import OUTLIER_SUBTYPES, bpt_line_snr

TASK_TARGETS = {"liner": ("liner", "non_liner"), "lens": ("lens", "non_lens"), "outlier": ("outlier", "normal")}
"""task -> (target label, label of everything else)."""


def task_labels(truth: pd.DataFrame, min_line_snr: float = 3.0) -> pd.DataFrame:
    """(spec_id, label, task) rows of the three tasks from a TRUTH table (pandas)."""
    spec_id = truth["spec_id"].to_numpy(object)
    cls = truth["target_class"].to_numpy(object)
    bpt_liner = truth["bpt_class"].to_numpy(object) == "liner"
    snr_ok = bpt_line_snr(truth) >= min_line_snr
    parts = []
    for task, (target, other) in TASK_TARGETS.items():
        if task == "liner":
            is_target, keep = bpt_liner & snr_ok, ~(bpt_liner & ~snr_ok)
        else:
            is_target, keep = cls == target, np.ones(len(cls), bool)
        parts.append(pd.DataFrame({"spec_id": spec_id[keep], "label": np.where(is_target[keep], target, other),
                                   "task": task}))
    return pd.concat(parts, ignore_index=True)


def survey_summary(truth: pd.DataFrame, min_line_snr: float = 3.0, model_config: dict | None = None) -> dict:
    """What the survey holds for the three tasks: class counts, lens grades and their background-line S/N,
    LINER selection, outlier subtypes (for the report); ``model_config``: the survey's ``model`` section (its
    truth table's _table.json), whose lens-selection keys are passed on."""
    lens = truth[truth["target_class"] == "lens"]
    snr = lens["lens_line_snr"].to_numpy(np.float64)
    bpt_liner = truth["bpt_class"].to_numpy(object) == "liner"
    snr_bpt = bpt_line_snr(truth)
    grades = {}
    for g in ("likely", "probable", "possible"):
        s = lens.loc[lens["lens_grade"] == g, "lens_line_snr"].to_numpy(np.float64)
        grades[g] = {"count": int(len(s)), **({"snr_min": float(s.min()), "snr_median": float(np.median(s)),
                                               "snr_max": float(s.max())} if len(s) else {})}
    sub = truth.loc[truth["target_class"] == "outlier", "outlier_subtype"].value_counts()
    return {
        "n_spectra": int(len(truth)),
        "classes": {str(k): int(v) for k, v in truth["target_class"].value_counts().items()},
        "lens_grades": grades,
        "lens_snr_percentiles": {str(p): float(np.percentile(snr, p)) for p in (5, 25, 50, 75, 95)} if len(snr) else {},
        "lens_snr_values": [float(v) for v in snr],
        "liner": {"bpt_liner": int(bpt_liner.sum()), "selected": int((bpt_liner & (snr_bpt >= min_line_snr)).sum()),
                  "min_line_snr": float(min_line_snr)},
        "outlier_subtypes": {name: int(sub.get(name, 0)) for name in OUTLIER_SUBTYPES},
        "lens_selection": {k: (model_config or {}).get(k) for k in ("lens_detect_snr", "lens_likely_snr",
                                                                     "lens_probable_snr", "lens_source")},
    }
