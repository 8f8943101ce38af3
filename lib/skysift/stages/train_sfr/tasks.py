"""Driver-side pieces of `skysift train-sfr` (no Spark): the multimodal table as SfrArrays, and the summary of
several seeds' runs."""
from __future__ import annotations

import numpy as np

from skysift.metrics.regression import mean_std
from skysift.models.sfr_data import SfrArrays, make_arrays
from skysift.runtime.errors import SkysiftError

COLUMNS = ["object_id", "class", "log_sfr", "pixels", "size_px", "bands", "flux", "ivar", "norm_factor"]


def read_arrays(uri: str, image_px: int, quality_level: int) -> SfrArrays:
    """The multimodal table at ``uri`` as SfrArrays at one resolution and quality level."""
    from skysift.runtime.filesystem import exists, join
    from skysift.runtime.output import read_table

    under = "multimodal" if exists(join(uri, "multimodal")) else None
    if under is None:
        raise SkysiftError(f"input {uri!r}: no multimodal/ table there; give the output folder of `skysift build-multimodal`")
    t = read_table(uri, columns=COLUMNS, under=under).to_pandas()
    if len(t) == 0:
        raise SkysiftError(f"input {uri!r}: the multimodal table is empty")
    t = t.sort_values("object_id", kind="stable").reset_index(drop=True)
    size = int(t["size_px"].iat[0])
    nb = len(t["bands"].iat[0])
    pixels = np.stack([np.asarray(p, np.float32) for p in t["pixels"]]).reshape(len(t), nb, size, size)
    flux = np.stack([np.asarray(f, np.float32) for f in t["flux"]])
    ivar = np.stack([np.asarray(f, np.float32) for f in t["ivar"]])
    return make_arrays(t["object_id"].to_numpy(), pixels, flux, ivar, t["norm_factor"].to_numpy(), t["log_sfr"].to_numpy(),
                       t["class"].to_numpy(dtype=object), image_px, quality_level)


def summarise(reports_per_seed: list[dict]) -> dict:
    """{model: {split: mean_std}} over the seeds' ``SfrRun.reports``."""
    out = {}
    for name in reports_per_seed[0]:
        out[name] = {split: mean_std([r[name][split] for r in reports_per_seed]) for split in reports_per_seed[0][name]}
    return out
