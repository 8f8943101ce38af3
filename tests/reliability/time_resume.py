"""Kill at half, rerun with resume, against a run alone: the timings of RELIABILITY.md for embed-spectra,
build-kb and crossmatch (synth-survey and ingest-spectra: `skysift benchmark resume`). Not a test (pytest
collects test_*.py only); run it by hand:

    PYTHONPATH=lib python tests/reliability/time_resume.py [--scale 1.0] [--jobs embed-spectra,build-kb,crossmatch]

For each job (bench.resume_bench.resume_case): the job runs alone in this local Spark session (full_s); the
same command runs as ``skysift JOB`` in its own process and is SIGKILLed (with its JVM and workers) once half
of its 16 items have their completion markers; the rerun in this session resumes (resumed_s) and its output
is compared with the run alone's, byte for byte (``identical``; file names are deterministic in all three).
One JSON line per job.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ITEMS = 16


def _line(case: str, ours: float, baseline: float, **extra) -> dict:
    return {"case": case, **extra}


def embed_case(spark, work: Path, scale: float) -> tuple[list, Path]:
    """Toy spectra on the full 3,688-point grid, the tiny encoder (untrained), 16 tasks of whole row groups."""
    import torch

    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder
    from skysift.synth.toy_spectra import write_toy_spectra

    n = int(3200 * scale)
    grid = "lin:3850:9000:3688"
    table = write_toy_spectra(work / "spectra", n, grid, seed=7, row_group_rows=max(1, n // (2 * ITEMS)))
    cfg = EncoderConfig(profile="tiny", n_points=3688, grid_id=grid, dropout=0.0)
    torch.manual_seed(0)
    model = work / "encoder.pt"
    torch.save({"model_state": SpectrumEncoder(cfg).state_dict(), "model_config": cfg.to_dict(), "step": 0,
                "val_loss": 1.0}, model)
    out = work / "embeddings"
    return ["--input", table, "--output", out, "--set", f"model_uri={model}", "--set", "precision=fp32",
            "--set", "device=cpu", "--set", f"partitions={ITEMS}"], out


def kb_case(spark, work: Path, scale: float) -> tuple[list, Path]:
    """Clustered 32-d vectors into an HNSW KB of 16 shards (adding to HNSW is the expensive part)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = int(160_000 * scale)
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 8, n)
    x = (3.0 * rng.standard_normal((8, 32))[lab] + rng.standard_normal((n, 32))).astype(np.float32)
    ids = [f"s{i}" for i in range(n)]
    for name in ("emb", "labels"):
        (work / name).mkdir(parents=True)
    pq.write_table(pa.table({"spec_id": ids, "embedding": pa.array(list(x), pa.list_(pa.float32())),
                             "model_version": ["1"] * n}), work / "emb" / "part-0.parquet")
    pq.write_table(pa.table({"spec_id": ids, "label": [f"c{k}" for k in lab], "task": ["toy"] * n}),
                   work / "labels" / "part-0.parquet")
    out = work / "kb"
    return ["--embeddings", work / "emb", "--labels", work / "labels", "--output", out, "--set", "index.kind=hnsw",
            "--set", f"n_shards={ITEMS}", "--set", "diagnostics_sample=0"], out


def xmatch_case(spark, work: Path, scale: float) -> tuple[list, Path]:
    """Two 1M-row hard-sky catalogs, nearest match within 2" (mode=all on the clumps of hard_sky ran a
    Python worker out of memory: 12 GB), about 16 match groups."""
    import numpy as np
    import pandas as pd

    from skysift.synth.mock_catalogs import hard_sky, neighbours_of

    n = int(1_000_000 * scale)
    left = hard_sky(n, seed=1)
    right = pd.concat([neighbours_of(left, n // 2, seed=2, max_sep_arcsec=2.0), hard_sky(n - n // 2, seed=3)],
                      ignore_index=True)
    for side, frame in (("left", left), ("right", right)):
        (work / side).mkdir(parents=True)
        for k, part in enumerate(np.array_split(np.arange(len(frame)), 4)):
            frame.iloc[part].to_parquet(work / side / f"part-{k}.parquet", index=False)
    out = work / "xmatch"
    return ["--left", work / "left", "--right", work / "right", "--output", out,
            "--set", f"target_rows_per_group={2 * n // ITEMS}"], out


CASES = {"embed-spectra": embed_case, "build-kb": kb_case, "crossmatch": xmatch_case}


def main() -> None:
    """Parse the arguments, run the chosen cases, print one JSON line each."""
    from skysift.bench.resume_bench import resume_case
    from skysift.runtime.spark import session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--jobs", default=",".join(CASES))
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    spark = session("local", app_name="skysift-time-resume")
    root = Path(args.workdir or tempfile.mkdtemp(prefix="skysift-time-resume-"))
    for job in args.jobs.split(","):
        work = root / job
        started = time.perf_counter()
        argv, out = CASES[job](spark, work, args.scale)
        prepared_s = time.perf_counter() - started
        result = resume_case(spark, job, argv, out, ITEMS, _line)
        print(json.dumps({**result, "inputs_s": round(prepared_s, 1), "argv": [str(a) for a in argv]}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
