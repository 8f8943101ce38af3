"""Completeness and purity after every stage of `skysift find-emission-lines`, against a synthetic pool's truth
(``synth-survey --set model.population=lu2022_pool``; schema.POOL_TRUTH). Used by the tests and the report.

Definitions (a spectrum's *detectable* when its truth has >= 3 CL lines of expected S/N >= 5):

* ``z``: detectable emission-line galaxies (or Galactic spectra) whose z_cl is within 0.001 of the true z;
* completeness of a stage: detectable emitters (galaxy or Galactic) still present after it, over all of them;
  purity: rows of the stage that are true emitters of the right kind with z_cl within 0.001, over its rows;
* ``bpt_accuracy``: detectable galaxies in the galaxy table whose BPT class equals the truth's;
* ``hii_recall`` / ``hii_purity``: detectable true H II spectra classified H II / H II rows that are true H II;
* ``new_precision`` / ``new_recall``: over the galaxy table, ``new`` against ``new_truth``.
"""
from __future__ import annotations

import pandas as pd

from skysift.runtime.output import read_table
from skysift.synth.pool_config import ELG_CLASSES, LOW_VELOCITY_CLASSES

Z_TOLERANCE = 0.001


def _ratio(num: int, den: int) -> float:
    return float(num) / den if den else float("nan")


def stage_quality(output: str, truth: pd.DataFrame) -> dict:
    """The figures of the module docstring for one job output and its pool truth."""
    t = truth.set_index("spec_id")
    red = read_table(f"{output}/redshifts").to_pandas().set_index("spec_id")
    conf = read_table(f"{output}/confirmed").to_pandas().set_index("spec_id")
    gal = read_table(f"{output}/galaxies").to_pandas().set_index("spec_id")
    hii = read_table(f"{output}/hii").to_pandas().set_index("spec_id")
    elg = t["target_class"].isin(ELG_CLASSES)
    galactic = t["target_class"].isin(LOW_VELOCITY_CLASSES)
    detectable = t["n_lines_snr5"] >= 3

    def correct(ids) -> pd.Series:
        ids = pd.Index(ids)
        z = red.loc[ids, "z_cl"]
        return (z - t.loc[ids, "z_true"]).abs() < Z_TOLERANCE

    det_elg = t.index[elg & detectable]
    det_gal = t.index[galactic & detectable]
    in_red = det_elg[det_elg.isin(red.index)]
    z_ok = int(correct(in_red).sum()) if len(in_red) else 0
    out = {"detectable_galaxies": int(len(det_elg)), "detectable_galactic": int(len(det_gal)),
           "z_within_0.001": _ratio(z_ok, len(det_elg))}
    emitters = det_elg.union(det_gal)
    for stage, ids in (("with_line_redshift", red.index[red["z_cl"].notna()]), ("pq_candidates", conf.index),
                       ("confirmed", conf.index[conf["inspection_pass"]])):
        ok = correct(ids) & (t.loc[ids, "target_class"].isin(ELG_CLASSES + LOW_VELOCITY_CLASSES))
        out[stage] = {"rows": int(len(ids)), "completeness": _ratio(int(emitters.isin(ids[ok.to_numpy()]).sum()), len(emitters)),
                      "purity": _ratio(int(ok.sum()), len(ids))}
    g_ok = elg.reindex(gal.index).fillna(False) & correct(gal.index)
    out["galaxies"] = {"rows": int(len(gal)), "completeness": _ratio(int(det_elg.isin(gal.index).sum()), len(det_elg)),
                       "purity": _ratio(int(g_ok.sum()), len(gal))}
    det_in_gal = det_elg[det_elg.isin(gal.index)]
    out["bpt_accuracy"] = _ratio(int((gal.loc[det_in_gal, "bpt_class"] == t.loc[det_in_gal, "bpt_class"]).sum()),
                                 len(det_in_gal))
    hii_rows = hii.index[hii["hii"].astype(bool)] if len(hii) else pd.Index([])
    true_hii = t.index[t["hii_truth"].astype(bool) & detectable]
    out["hii_recall"] = _ratio(int(true_hii.isin(hii_rows).sum()), len(true_hii))
    out["hii_purity"] = _ratio(int(t.loc[hii_rows, "hii_truth"].astype(bool).sum()), len(hii_rows))
    out["hii_rows"] = int(len(hii_rows))
    if len(gal):
        new, truth_new = gal["new"].astype(bool), t.loc[gal.index, "new_truth"].astype(bool)
        out["new_precision"] = _ratio(int((new & truth_new).sum()), int(new.sum()))
        out["new_recall"] = _ratio(int((new & truth_new).sum()), int(truth_new.sum()))
        out["new_rows"] = int(new.sum())
        out["new_truth_rows"] = int(truth_new.sum())
        src = t.loc[gal.index, "source_id"]
        out["source_merge_exact"] = bool((pd.Series(gal["source_id"].to_numpy()).groupby(src.to_numpy()).nunique() == 1).all()
                                         and (src.groupby(gal["source_id"].to_numpy()).nunique() == 1).all())
    return out


def purity_without_inspection(output: str, truth: pd.DataFrame) -> dict:
    """Purity and completeness of the PQ-confirmed set with and without the inspection rule."""
    q = stage_quality(output, truth)
    return {"before": q["pq_candidates"], "after": q["confirmed"]}

