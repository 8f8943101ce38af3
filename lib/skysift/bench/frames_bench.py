"""Benchmark case `frames`: ingest-frames on Spark vs one process doing the same with astropy + reproject.

Both sides start from the same folder of frame files (``make_inputs(workdir) -> folder``; the default is
the real field 2583-2-136, the synthetic imaging survey can be passed in later) and end with the tiles on
disk as Parquet:

* ours: ``ingest_frames.run`` (the `skysift ingest-frames` job) on the given SparkSession, after one
  untimed warm-up run (Python workers import astropy and pyarrow once);
* baseline: a loop in this process: ``astropy.io.fits`` opens each band (it decompresses .bz2 itself),
  ``reproject_interp`` puts every band on the reference band's grid, ``sigma_clipped_stats`` measures the
  sky, the tiles are array slices with the WCS shifted by ``WCS.slice``, and pyarrow writes them.

The summary also gives the sequential twin (our per-field code, ``spark=None``), which separates what
Spark's parallelism brings from what the kernels bring, and where our executors' time goes (bz2
decompression is its own line).
"""
from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

REAL_FIELD = "frame-{band}-002583-2-0136.fits.bz2"


def real_frames_inputs(workdir: Path) -> Path:
    """A folder holding the real g, r, i frames of 2583-2-136 (symlinks into the shared sample)."""
    from skysift.paths import shared_data_dir

    src = shared_data_dir()
    if src is None:
        raise FileNotFoundError("the shared real sample (../shared/data) is not present: pass make_inputs")
    folder = Path(workdir) / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for band in "gri":
        link = folder / REAL_FIELD.format(band=band)
        if not link.exists():
            os.symlink(src / "sdss-imaging" / link.name, link)
    return folder


def synthetic_frames_inputs(workdir: Path, n_fields: int = 40, seed: int = 7, compress: bool = True) -> Path:
    """A folder of ``n_fields`` synthetic SDSS-format fields (u g r i z each; ``synth.imaging``), written once."""
    return synthetic_fields(workdir, n_fields, seed, compress)[0]


def _write_field(args):
    """One field's frames written into its folder; its photoObj table returned (a Pool task)."""
    from skysift.synth.imaging.config import ImagingSurveyConfig
    from skysift.synth.imaging.survey import make_field

    seed, n_fields, index, folder, compress = args
    return make_field(seed, ImagingSurveyConfig(n_fields=n_fields), index, folder, compress=compress).photoobj


def synthetic_fields(workdir: Path, n_fields: int, seed: int = 7, compress: bool = True,
                     processes: int | None = None) -> tuple[Path, Path]:
    """(frames folder, photoObj Parquet file) of ``n_fields`` synthetic fields, written once per workdir (untimed
    input preparation, in ``processes`` processes: one field is ~7 s of one core; the frames and cutouts cases
    share the files)."""
    import multiprocessing

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(workdir) / f"synth-frames-{n_fields}-{seed}"
    catalog = Path(workdir) / f"synth-photoobj-{n_fields}-{seed}.parquet"
    if not catalog.exists():
        folder.mkdir(parents=True, exist_ok=True)
        jobs = [(seed, n_fields, index, folder, compress) for index in range(n_fields)]
        with multiprocessing.get_context("spawn").Pool(processes or os.cpu_count() or 1) as pool:
            tables = pool.map(_write_field, jobs, chunksize=1)
        pq.write_table(pa.concat_tables(tables), catalog)
    return folder, catalog


def first_field(files: list[str], out: Path) -> Path:
    """A folder of links to the frames of the first field of ``files`` (the warm-up input)."""
    from skysift.io.frame_files import group_fields

    fields, _ = group_fields(files, ("u", "g", "r", "i", "z"))
    out.mkdir(parents=True, exist_ok=True)
    for path in fields[0].files.values():
        link = out / Path(path).name
        if not link.exists():
            os.symlink(os.path.abspath(path), link)
    return out


def baseline_ingest(files: list[str], out: Path, bands=("g", "r", "i"), reference: str = "r", size_px: int = 640) -> dict:
    """The astropy + reproject loop: every field's bands onto the reference, sky stats, tiles, one Parquet per field."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats
    from astropy.wcs import WCS
    from reproject import reproject_interp

    from skysift.images.tiling import TileGridConfig, tile_grid
    from skysift.io.frame_files import group_fields

    out.mkdir(parents=True, exist_ok=True)
    fields, _ = group_fields(files, bands)
    n_tiles = n_frames = 0
    for ff in fields:
        if any(b not in ff.files for b in bands):
            continue
        data, wcs = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for b in bands:
                with fits.open(ff.files[b]) as hdul:
                    data[b] = hdul[0].data.astype(np.float32)
                    wcs[b] = WCS(hdul[0].header).celestial
        ref_shape = data[reference].shape
        stack = np.empty((len(bands), *ref_shape), np.float32)
        noise = []
        for k, b in enumerate(bands):
            stack[k] = data[b] if b == reference else reproject_interp((data[b], wcs[b]), wcs[reference], ref_shape,
                                                                       order="bilinear", return_footprint=False)
            noise.append(float(sigma_clipped_stats(data[b], sigma=3, maxiters=5, stdfunc="mad_std")[2]))
        grid = tile_grid(ref_shape, TileGridConfig(size_px=size_px))
        rows = []
        for t in grid.tiles:
            sub = stack[:, t.y0 : t.y0 + size_px, t.x0 : t.x0 + size_px]
            tile_wcs = wcs[reference].slice((slice(t.y0, t.y0 + size_px), slice(t.x0, t.x0 + size_px)))
            ra, dec = tile_wcs.all_pix2world((size_px - 1) / 2, (size_px - 1) / 2, 0)
            rows.append({"tile_id": f"{ff.field_id}-t{t.index:02d}", "pixels": np.ascontiguousarray(sub).ravel(),
                         "wcs_header": tile_wcs.to_header_string(relax=True), "ra_deg": float(ra), "dec_deg": float(dec)})
        table = pa.table({"tile_id": [r["tile_id"] for r in rows],
                          "pixels": pa.array([r["pixels"] for r in rows], pa.list_(pa.float32())),
                          "wcs_header": [r["wcs_header"] for r in rows], "ra_deg": [r["ra_deg"] for r in rows],
                          "dec_deg": [r["dec_deg"] for r in rows]})
        pq.write_table(table, out / f"{ff.field_id}.parquet")
        n_tiles += len(rows)
        n_frames += len(bands)
    return {"tiles": n_tiles, "frames": n_frames}


def run_frames_benchmark(spark, make_inputs: Callable[[Path], Path] = real_frames_inputs, workdir: str | Path = ".",
                         extra_sets: tuple[str, ...] = (), twin: bool = True) -> dict:
    """ours (ingest-frames on ``spark``) vs the astropy + reproject loop on the frames ``make_inputs`` writes.

    Returns {ours_s, baseline_s, ratio, twin_s, frames, fields, tiles, ours_frames_per_s, baseline_frames_per_s,
    executor_seconds, decompress_share, peak memory (GiB)}.
    """
    from skysift.bench.memory import MemorySampler
    from skysift.config import load_config
    from skysift.io.frame_files import list_frame_files
    from skysift.paths import conf_dir
    from skysift.stages.ingest_frames import job as ingest_job

    workdir = Path(workdir)
    inputs = make_inputs(workdir)
    files = list_frame_files(str(inputs))
    for f in files:
        Path(f).read_bytes()  # the OS file cache, warm for both sides

    def cfg(out: Path, folder: Path = inputs):
        return load_config(ingest_job.CONFIG, conf_dir() / "ingest_frames.yaml",
                           [f"input={folder}", f"output={out}", *extra_sets])

    # the warm-up (Python workers start and import astropy / pyarrow) needs one field, not all 40
    ingest_job.run(spark, cfg(workdir / "warmup", first_field(files, workdir / "warmup-input")))
    with MemorySampler() as mem:
        start = time.perf_counter()
        summary = ingest_job.run(spark, cfg(workdir / "ours"))
        t_ours = time.perf_counter() - start
    t_twin = None
    if twin:
        start = time.perf_counter()
        ingest_job.run(None, cfg(workdir / "twin"))
        t_twin = time.perf_counter() - start
    with MemorySampler() as mem_base:
        start = time.perf_counter()
        base = baseline_ingest(files, workdir / "baseline")
        t_base = time.perf_counter() - start
    for name in ("warmup", "warmup-input", "twin"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    ex = summary["executor_seconds"]
    busy = sum(ex.values()) or 1.0
    n = summary["written"]
    return {
        "ours_s": round(t_ours, 3), "baseline_s": round(t_base, 3), "ratio": round(t_base / t_ours, 3),
        "twin_s": None if t_twin is None else round(t_twin, 3),
        "spark_vs_twin": None if t_twin is None else round(t_twin / t_ours, 3),
        "frames": n, "fields": summary["fields"], "tiles": summary["tiles"], "baseline_tiles": base["tiles"],
        "ours_frames_per_s": round(n / t_ours, 3), "baseline_frames_per_s": round(base["frames"] / t_base, 3),
        "executor_seconds": ex, "decompress_share": round(ex.get("decompress", 0.0) / busy, 3),
        **mem.peaks.as_dict(), "baseline_peak_gib": mem_base.peaks.as_dict()["python_driver_peak_gib"],
    }
