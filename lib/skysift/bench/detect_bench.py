"""Benchmark case `detect`: detect-sources on the executors vs one process calling the models tile by tile, on the
same tiles; sep (SExtractor's algorithm) on the same tiles for reference; Conv4Net batched vs one crop at a time.

Inputs (untimed): ``n_tiles`` tiles of small synthetic fields written as an ingest output
(``testing.detection.synthetic_ingest``: 400 x 640 frames in 320 px tiles, 6 per field, so 200 tiles = 34 fields)
and tiny models (``testing.detection.tiny_models``; throughput does not depend on how well they were trained, only
on the boxes they return, counted in the result; conf 0.01 so that the one-epoch detector returns boxes for the
classifier to crop and the merge to work on).

* ours: ``detect_sources.run(spark, ...)`` end to end (no catalog, no HATS), after an untimed warm-up run that loads
  the models into the executors' Python workers;
* baseline: the same job's sequential twin (``spark=None``) with ``detector.batch_tiles=1``: one process, one tile
  per detector call, torch with every core (its intra-op threads), the same merge and outputs;
* sep: ``sep.Background`` + ``sep.extract`` (1.5 sigma, 5 px) on each tile's r band, one process;
* Conv4Net: ``n_crops`` random 3 x 48 x 48 crops, batches of 1,024 vs one crop per forward pass, CPU, torch with
  every core (measured first: ultralytics' training in the same process leaves torch at one thread).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def _ingest(workdir: Path, n_tiles: int, seed: int):
    from skysift.testing.detection import synthetic_ingest

    n_fields = max(1, -(-n_tiles // 6))
    return synthetic_ingest(workdir / "ingest", seed=seed, n_fields=n_fields, shape_px=(400, 640), tile_size_px=320,
                            min_overlap_px=32)


def _detect_cfg(data, models, out: Path, *sets: str):
    from skysift.config import load_config
    from skysift.paths import conf_dir
    from skysift.stages.detect_sources import job

    return load_config(job.CONFIG, conf_dir() / "detect_sources.yaml", [
        f"input={data.root}", f"output={out}", f"detector_uri={models.detector}", f"classifier_uri={models.classifier}",
        "hats=false", "device=cpu", "detector.conf=0.01", *sets])


def sep_tiles_per_s(root: Path) -> tuple[float, int]:
    """(seconds, objects) of sep on the r band of every tile of an ingest output, one process."""
    import sep

    from skysift.images.tables import column_stack
    from skysift.runtime.output import read_table

    t = read_table(str(root), columns=["size_px", "bands", "pixels"], under="tiles")
    size = int(t.column("size_px")[0].as_py())
    bands = t.column("bands")[0].as_py()
    pix = column_stack(t.column("pixels"), (len(bands), size, size))
    r = bands.index("r")
    start = time.perf_counter()
    n = 0
    for tile in pix:
        data = np.ascontiguousarray(np.nan_to_num(tile[r]), dtype=np.float64)
        bkg = sep.Background(data)
        n += len(sep.extract(data - bkg.back(), 1.5, err=bkg.globalrms, minarea=5))
    return time.perf_counter() - start, n


def conv4net_crops_per_s(n_crops: int = 2048, seed: int = 0) -> dict:
    """Conv4Net on the CPU: crops/s in batches of 1,024 and one crop per forward pass (best of 2 each)."""
    import torch

    from skysift.models.conv4net import Conv4Net

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # training in this process (ultralytics) may have left it at 1
    model = Conv4Net().eval()
    x = torch.randn(n_crops, 3, 48, 48)
    n_single = min(n_crops, 256)
    with torch.no_grad():
        model(x[:8])
        best_b = best_1 = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            for s in range(0, n_crops, 1024):
                model(x[s : s + 1024])
            best_b = min(best_b, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for k in range(n_single):
                model(x[k : k + 1])
            best_1 = min(best_1, time.perf_counter() - t0)
    batched, single = n_crops / best_b, n_single / best_1
    used = torch.get_num_threads()
    torch.set_num_threads(threads)
    return {"conv4net_batched_crops_per_s": round(batched, 1), "conv4net_single_crops_per_s": round(single, 1),
            "conv4net_ratio": round(batched / single, 2), "conv4net_threads": used}


def run_detect_benchmark(spark, workdir: Path, n_tiles: int = 200, seed: int = 7) -> dict:
    """The timings of the module doc (one run each after the warm-up; the machine's load is the caller's to note)."""
    from skysift.runtime.output import count_rows
    from skysift.stages.detect_sources import job
    from skysift.testing.detection import tiny_models

    workdir = Path(workdir)
    conv4net = conv4net_crops_per_s()  # first: nothing has touched torch's thread count yet
    t0 = time.perf_counter()
    data = _ingest(workdir, n_tiles, seed)
    models = tiny_models(workdir / "models")
    setup_s = time.perf_counter() - t0
    tiles = count_rows(str(data.root), under="tiles")
    job.run(spark, _detect_cfg(data, models, workdir / "warm"))  # loads the models into the executors' workers
    t0 = time.perf_counter()
    ours = job.run(spark, _detect_cfg(data, models, workdir / "ours"))
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = job.run(None, _detect_cfg(data, models, workdir / "base", "detector.batch_tiles=1",
                                     f"torch_threads={os.cpu_count() or 1}"))
    base_s = time.perf_counter() - t0
    sep_s, sep_n = sep_tiles_per_s(data.root)
    # batch 16 and batch 1 may differ in the last bits of a score (BLAS blocking), so the counts are reported, not required equal
    return {"tiles": tiles, "detections": ours["detections"], "sources": ours["catalog_rows"],
            "baseline_detections": base["detections"], "baseline_sources": base["catalog_rows"], "ours_s": round(ours_s, 3),
            "baseline_s": round(base_s, 3), "ours_tiles_per_s": round(tiles / ours_s, 2),
            "baseline_tiles_per_s": round(tiles / base_s, 2), "sep_s": round(sep_s, 3),
            "sep_tiles_per_s": round(tiles / sep_s, 2), "sep_objects": sep_n, "setup_s": round(setup_s, 1),
            "executor_seconds": ours["executor_seconds"], "ours_steps_s": ours["seconds_by_step"],
            "baseline_steps_s": base["seconds_by_step"], "ours_merge_match_on": ours["merge_match_on"], **conv4net}
