"""Embedding tables as numpy: stacking list columns once per batch, and the Spark-side validity checks.

Any table with ``spec_id`` + ``embedding`` (a list of floats) is a valid input to
the KB jobs, whatever produced it; ``model_uri`` / ``model_version`` are used when
present.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

REQUIRED_COLUMNS = ("spec_id", "embedding")


def stack(values: pd.Series | list | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A list column as one C-contiguous float32 (n, d) array (all rows must have the same length)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        n = len(arr)
        if n == 0:
            return np.zeros((0, 0), dtype=np.float32)
        flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return np.ascontiguousarray(flat.reshape(n, -1))
    seq = list(values)
    if not seq:
        return np.zeros((0, 0), dtype=np.float32)
    return np.ascontiguousarray(np.stack([np.asarray(v, dtype=np.float32) for v in seq]))


def check_columns(columns, path: str, role: str = "embeddings") -> None:
    """Fail with the missing names when a table lacks spec_id / embedding."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        from skysift.kb.store import KbError

        raise KbError(
            f"{path}: {role} table needs columns {list(REQUIRED_COLUMNS)}; missing {missing} "
            f"(has {sorted(columns)})"
        )


def invalid_embedding_reason(col: str = "embedding"):
    """Spark column: a one-line reason when a row's embedding is unusable, else null."""
    from pyspark.sql import functions as F

    return (
        F.when(F.col(col).isNull(), F.lit("embedding is null"))
        .when(F.size(col) == 0, F.lit("embedding is empty"))
        .when(
            F.exists(col, lambda x: x.isNull() | F.isnan(x) | (F.abs(x) == float("inf"))),
            F.lit("embedding has non-finite values"),
        )
    )


def object_strings(pdf: pd.DataFrame) -> pd.DataFrame:
    """String columns as object dtype: pyspark 4.3's Arrow conversion fails on pandas 3's pyarrow-backed `str`."""
    for col in pdf.columns:
        if isinstance(pdf[col].dtype, pd.StringDtype):
            pdf[col] = pdf[col].astype(object)
    return pdf
