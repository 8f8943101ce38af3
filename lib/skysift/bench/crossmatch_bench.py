"""Benchmark case `crossmatch`: skysift on Spark vs lsdb and astropy on the same Parquet files and cores.

Input: two Parquet catalogs written to disk first (``synth.mock_catalogs.benchmark_pair``:
a 10 x 10 deg field with a dense clump, half of the right side within 0.5 arcsec of a
left source). Each contender runs end to end: Parquet in, nearest match within the
radius, matches written to disk.

* ours: ``crossmatch.run`` (the `skysift crossmatch` job) on the given SparkSession.
* lsdb: ``from_dataframe`` of both sides (its HATS partitioning), ``crossmatch``
  (nearest, same radius), ``to_hats``.
* astropy: ``SkyCoord.match_to_catalog_sky`` (KD-tree) + radius cut + Parquet write.

Answers are compared (matched left ids and their right ids) so a fast wrong run is
caught. Peak memory of our run (driver, JVM, Python workers) comes from
``bench.memory.MemorySampler``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.synth.mock_catalogs import benchmark_pair


INPUTS_JSON = "inputs.json"


def write_inputs(workdir: Path, n_left: int, n_right: int, seed: int, rows_per_file: int = 1_000_000) -> tuple[Path, Path]:
    """The two benchmark catalogs as Parquet folders (several files, 128k-row row groups).

    Kept inputs are reused: a folder whose ``inputs.json`` names the same sizes and seed
    is not written again (10M x 10M takes minutes to generate).
    """
    workdir = Path(workdir)
    params = {"n_left": n_left, "n_right": n_right, "seed": seed, "rows_per_file": rows_per_file, "version": 1}
    marker = workdir / INPUTS_JSON
    if marker.exists() and json.loads(marker.read_text()) == params:
        return workdir / "left", workdir / "right"
    for name in ("left", "right"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    marker.unlink(missing_ok=True)
    left, right = benchmark_pair(n_left, n_right, seed=seed)
    paths = []
    for name, df in (("left", left), ("right", right)):
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        for k, start in enumerate(range(0, len(df), rows_per_file)):
            table = pa.Table.from_pandas(df.iloc[start : start + rows_per_file], preserve_index=False)
            pq.write_table(table, folder / f"part-{k:05d}.parquet", row_group_size=131_072)
        paths.append(folder)
    marker.write_text(json.dumps(params))
    return paths[0], paths[1]


def _ours(spark, left: Path, right: Path, out: Path, radius_arcsec: float, **overrides) -> tuple[float, dict, dict]:
    from skysift.stages.crossmatch.config import CrossmatchConfig
    from skysift.stages.crossmatch.job import run
    from skysift.bench.memory import MemorySampler

    cfg = CrossmatchConfig(left=str(left), right=str(right), output=str(out), radius_arcsec=radius_arcsec,
                           mode="nearest", **overrides)
    with MemorySampler() as mem:
        start = time.perf_counter()
        summary = run(spark, cfg)
        seconds = time.perf_counter() - start
    return seconds, summary, mem.peaks.as_dict()


def _peak(fn, *args):
    """Run a baseline in this process; its result and this process's peak RSS (GiB) meanwhile."""
    from skysift.bench.memory import MemorySampler

    with MemorySampler() as mem:
        result = fn(*args)
    return result, mem.peaks.as_dict()["python_driver_peak_gib"]


def _lsdb(left: Path, right: Path, out: Path, radius_arcsec: float) -> float:
    import lsdb

    start = time.perf_counter()
    ldf = pd.read_parquet(left)
    rdf = pd.read_parquet(right)
    lcat = lsdb.from_dataframe(ldf, ra_column="ra_deg", dec_column="dec_deg", catalog_name="left")
    rcat = lsdb.from_dataframe(rdf, ra_column="ra_deg", dec_column="dec_deg", catalog_name="right")
    matched = lcat.crossmatch(rcat, n_neighbors=1, radius_arcsec=radius_arcsec, suffixes=("", "_right"))
    matched.to_hats(str(out), overwrite=True)
    return time.perf_counter() - start


def _astropy(left: Path, right: Path, out: Path, radius_arcsec: float) -> tuple[float, float, pd.DataFrame]:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    start = time.perf_counter()
    ldf = pd.read_parquet(left)
    rdf = pd.read_parquet(right)
    t_match = time.perf_counter()
    lc = SkyCoord(ldf["ra_deg"].to_numpy() * u.deg, ldf["dec_deg"].to_numpy() * u.deg)
    rc = SkyCoord(rdf["ra_deg"].to_numpy() * u.deg, rdf["dec_deg"].to_numpy() * u.deg)
    idx, d2d, _ = lc.match_to_catalog_sky(rc)
    sep = d2d.to_value(u.arcsec)
    t_match = time.perf_counter() - t_match
    hit = sep <= radius_arcsec
    res = ldf[hit].reset_index(drop=True)
    right_part = rdf.iloc[idx[hit]].reset_index(drop=True).add_suffix("_right")
    res = pd.concat([res, right_part], axis=1).assign(separation_arcsec=sep[hit])
    out.mkdir(parents=True, exist_ok=True)
    res.to_parquet(out / "matches.parquet", index=False)
    return time.perf_counter() - start, t_match, res


def run_crossmatch_benchmark(
    spark,
    n_left: int,
    n_right: int,
    workdir: str | Path | None = None,
    radius_arcsec: float = 2.0,
    seed: int = 0,
    baselines: Sequence[str] = ("lsdb", "astropy"),
    keep: bool = False,
    warmup: bool = True,
    **overrides: Any,
) -> dict:
    """Run ours and the baselines on the same files; print the `crossmatch:` line and return the figures.

    ``warmup`` first runs a 2,000 x 2,000 match so that Python workers and their imports
    (astropy, cdshealpix) are started, as they are in any session after its first job.
    """
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="skysift-xmatch-bench-")) if own else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        left, right = write_inputs(root / "inputs", n_left, n_right, seed)
        t_inputs = time.perf_counter() - t0
        if warmup:
            wl, wr = write_inputs(root / "warmup", 2000, 2000, seed + 1)
            _ours(spark, wl, wr, root / "warmup" / "out", radius_arcsec, **overrides)
        load_before = os.getloadavg()
        ours_s, summary, peaks = _ours(spark, left, right, root / "ours", radius_arcsec, **overrides)
        result: dict[str, Any] = {"case": "crossmatch", "n_left": n_left, "n_right": n_right,
                                  "radius_arcsec": radius_arcsec, "ours": round(ours_s, 3),
                                  "ours_groups": summary["groups"], "ours_rows": summary["rows_written"],
                                  "inputs_s": round(t_inputs, 2), **peaks}
        peaks_total = peaks["python_driver_peak_gib"] + peaks["jvm_peak_gib"] + peaks["python_workers_total_peak_gib"]
        result["ours_peak_total_gib"] = round(peaks_total, 3)
        if "lsdb" in baselines:
            t_lsdb, result["lsdb_peak_gib"] = _peak(_lsdb, left, right, root / "lsdb", radius_arcsec)
            result["baseline_lsdb"] = round(t_lsdb, 3)
        if "astropy" in baselines:
            (total, match_only, ref), result["astropy_peak_gib"] = _peak(_astropy, left, right, root / "astropy",
                                                                         radius_arcsec)
            result["baseline_astropy"] = round(total, 3)
            result["baseline_astropy_match_only"] = round(match_only, 3)
            got = pd.read_parquet(root / "ours", columns=["id", "id_right"]).sort_values("id")
            ref = ref[["id", "id_right"]].sort_values("id")
            result["same_answer_as_astropy"] = bool(
                len(got) == len(ref) and np.array_equal(got["id"].to_numpy(), ref["id"].to_numpy())
                and np.array_equal(got["id_right"].to_numpy(), ref["id_right"].to_numpy())
            )
        for name in ("lsdb", "astropy"):
            if f"baseline_{name}" in result:
                result[f"ratio_{name}"] = round(result[f"baseline_{name}"] / ours_s, 3)
        # 2 shared cores: the load average says how much of them this run really had
        result["load_avg_1m_before"] = round(load_before[0], 2)
        result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
        line = f"crossmatch: ours={ours_s:.3f}s"
        for name in ("lsdb", "astropy"):
            if f"baseline_{name}" in result:
                line += f" baseline_{name}={result[f'baseline_{name}']:.3f}s"
        for name in ("lsdb", "astropy"):
            if f"ratio_{name}" in result:
                line += f" ratio_{name}={result[f'ratio_{name}']:.2f}"
        line += (f" n={n_left}x{n_right} peak_jvm_gib={peaks['jvm_peak_gib']}"
                 f" peak_python_workers_gib={peaks['python_workers_total_peak_gib']}"
                 f" peak_driver_gib={peaks['python_driver_peak_gib']}")
        if "same_answer_as_astropy" in result:
            line += f" same_answer_as_astropy={result['same_answer_as_astropy']}"
        line += f" peak_total_gib={result['ours_peak_total_gib']} load_avg={result['load_avg_1m_before']}->{result['load_avg_1m_after']}"
        print(line, flush=True)
        return result
    finally:
        if own and not keep:
            shutil.rmtree(root, ignore_errors=True)
