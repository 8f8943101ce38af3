"""Per-batch work of `skysift build-multimodal` (no Spark import): the label column choice, the reject reason
of a joined row, and the spectral quality levels of a batch of rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.models.sfr_data import bin_spectrum
from skysift.runtime.errors import SkysiftError
from skysift.runtime.tasks import inject_partition_fault

TABLE_DIR = "multimodal"
LABEL_NAMES = ("AVG", "AVR")
"""Label columns tried by label_column=auto: AVG (MPA-JHU DR7 file), AVR (Rustamov 2025's name)."""


def label_column(columns: list[str], wanted: str, path: str) -> str:
    """The label column: ``wanted``, or for 'auto' the first of AVG / AVR present (case-insensitive)."""
    lower = {c.lower(): c for c in columns}
    for name in (LABEL_NAMES if wanted == "auto" else (wanted,)):
        if name in columns:
            return name
        if name.lower() in lower:
            return lower[name.lower()]
    raise SkysiftError(f"labels {path}: no label column {'AVG or AVR' if wanted == 'auto' else repr(wanted)} "
                       f"(columns: {', '.join(columns[:20])}); set --set label_column=NAME")


def column(columns: list[str], wanted: str, what: str, path: str) -> str:
    """``wanted`` among ``columns`` (exact, else case-insensitive); SkysiftError naming the choices."""
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    raise SkysiftError(f"{path}: no {what} column {wanted!r} (columns: {', '.join(columns[:20])}); set --set {what}_column=NAME")


def reject_reason(flag, log_sfr, has_cutout, has_spectrum) -> str | None:
    """Why a joined label row is excluded (the first that applies), None when it is kept; the Spark plan
    computes the same rule as a column expression (job.py) and a test compares them."""
    if flag is None or flag != 0:
        return f"FLAG={flag}"
    if log_sfr is None or not np.isfinite(log_sfr):
        return "non-finite label"
    if not has_cutout:
        return "no cutout"
    if not has_spectrum:
        return "no spectrum"
    return None


def add_quality_levels(pdf: pd.DataFrame, binning: tuple[int, ...]) -> pd.DataFrame:
    """``pdf`` with flux_q1..flux_q3 (flux binned by binning[1:], ivar-weighted) and quality_binning."""
    out = pdf.copy()
    n = len(pdf)
    levels = {f"flux_q{q}": [None] * n for q in range(1, len(binning))}
    lengths = np.array([len(f) for f in pdf["flux"]]) if n else np.zeros(0, int)
    for length in np.unique(lengths):  # one matrix per spectrum length (one grid per table normally)
        idx = np.flatnonzero(lengths == length)
        flux = np.stack([np.asarray(pdf["flux"].iat[i], np.float32) for i in idx])
        ivar = np.stack([np.asarray(pdf["ivar"].iat[i], np.float32) for i in idx])
        for q in range(1, len(binning)):
            binned = bin_spectrum(flux, ivar, binning[q])
            for k, i in enumerate(idx):
                levels[f"flux_q{q}"][i] = binned[k]
    for name, values in levels.items():
        out[name] = values
    out["quality_binning"] = [np.asarray(binning, np.int32)] * n
    return out


def quality_batches(binning: tuple[int, ...], columns: list[str], batches):
    """mapInPandas body: add_quality_levels per batch, columns in the output order."""
    inject_partition_fault()  # test-only switch (runtime.tasks)
    for pdf in batches:
        yield add_quality_levels(pdf, binning)[columns]
