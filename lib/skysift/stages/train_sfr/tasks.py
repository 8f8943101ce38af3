"""Driver-side pieces of `skysift train-sfr` (no Spark): the multimodal table as SfrArrays, the summary of
several seeds' runs, and the per-object predictions that evaluate-sfr reads."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from skysift.metrics.regression import mean_std
from skysift.models.sfr_data import SfrArrays, make_arrays
from skysift.runtime.errors import SkysiftError
from skysift.schema import SFR_EVAL_PREDICTIONS

COLUMNS = ["object_id", "class", "log_sfr", "pixels", "size_px", "bands", "flux", "ivar", "norm_factor", "z"]


def read_arrays(uri: str, image_px: int, quality_level: int) -> SfrArrays:
    """The multimodal table at ``uri`` as SfrArrays at one resolution and quality level."""
    from skysift.runtime.filesystem import exists, join
    from skysift.runtime.output import read_table

    under = "multimodal" if exists(join(uri, "multimodal")) else None
    if under is None:
        raise SkysiftError(f"input {uri!r}: no multimodal/ table there; give the output folder of `skysift build-multimodal`")
    from skysift.runtime.output import open_dataset

    present = open_dataset(uri, under=under).schema.names
    t = read_table(uri, columns=[c for c in COLUMNS if c in present], under=under).to_pandas()
    if len(t) == 0:
        raise SkysiftError(f"input {uri!r}: the multimodal table is empty")
    t = t.sort_values("object_id", kind="stable").reset_index(drop=True)
    size = int(t["size_px"].iat[0])
    nb = len(t["bands"].iat[0])
    pixels = np.stack([np.asarray(p, np.float32) for p in t["pixels"]]).reshape(len(t), nb, size, size)
    flux = np.stack([np.asarray(f, np.float32) for f in t["flux"]])
    ivar = np.stack([np.asarray(f, np.float32) for f in t["ivar"]])
    return make_arrays(t["object_id"].to_numpy(), pixels, flux, ivar, t["norm_factor"].to_numpy(), t["log_sfr"].to_numpy(),
                       t["class"].to_numpy(dtype=object), image_px, quality_level,
                       z=t["z"].to_numpy(dtype=np.float64, na_value=np.nan) if "z" in t else None)


def summarise(reports_per_seed: list[dict]) -> dict:
    """{model: {split: mean_std}} over the seeds' ``SfrRun.reports``."""
    out = {}
    for name in reports_per_seed[0]:
        out[name] = {split: mean_std([r[name][split] for r in reports_per_seed]) for split in reports_per_seed[0][name]}
    return out


def prediction_rows(run, arrays: SfrArrays, image_px: int, quality_level: int, seed: int) -> pa.Table:
    """SFR_EVAL_PREDICTIONS rows of one ``train_models`` run: every model's val and test predictions with truth."""
    parts = []
    for model, by_split in run.predictions.items():
        for split, pred in by_split.items():
            idx = run.split[split]
            n = len(idx)
            z = arrays.z[idx] if arrays.z is not None else np.full(n, np.nan)
            parts.append(pa.table({
                "image_px": pa.array(np.full(n, image_px), pa.int32()),
                "quality_level": pa.array(np.full(n, quality_level), pa.int32()),
                "model": [model] * n, "seed": pa.array(np.full(n, seed), pa.int32()), "split": [split] * n,
                "object_id": [str(v) for v in arrays.object_id[idx]],
                "class": pa.array([None if c is None else str(c) for c in arrays.obj_class[idx]], pa.string()),
                "z": pa.array(np.asarray(z, np.float64)), "log_sfr": pa.array(np.asarray(arrays.log_sfr[idx], np.float64)),
                "log_sfr_pred": pa.array(np.asarray(pred, np.float64))}, schema=SFR_EVAL_PREDICTIONS))
    return pa.concat_tables(parts) if parts else SFR_EVAL_PREDICTIONS.empty_table()
