"""Benchmark case `cutouts`: make-cutouts on Spark vs a single-process loop of astropy ``Cutout2D`` per band.

Inputs (``make_inputs(workdir) -> CutoutInputs``): a folder of frames, a catalog and the bands. The
default is the real u frame of 3900-6-269 and its photoObj (981 objects, one band); the synthetic
imaging survey can be passed in later. The frames are ingested first (untimed: that is the `frames`
case); then

* ours: ``make_cutouts.run`` on the given SparkSession (after an untimed warm-up run), from the ingest
  output (tiles pasted back; bands the tiles lack from their frames);
* baseline: in this process, per field: ``astropy.io.fits`` opens the band frames, ``reproject_interp``
  puts them on the reference grid (when there is more than one band), then for every catalog row on the
  frame one ``Cutout2D`` per band (``mode='partial'``, NaN fill), the 32/16/8 levels by reshape-mean, and
  pyarrow writes them. ``baseline_cut_only_s`` is the Cutout2D + levels loop alone.
"""
from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class CutoutInputs:
    """What the cutouts benchmark cuts."""

    frames: Path
    """Folder of frame files."""
    catalog: Path
    """Catalog file (FITS, CSV or Parquet) with id, ra, dec columns."""
    bands: tuple[str, ...]
    """Bands of each cutout (the first one is also the ingest reference unless it holds r)."""
    id_column: str = "objid"
    ra_column: str = "ra"
    dec_column: str = "dec"


def real_cutout_inputs(workdir: Path) -> CutoutInputs:
    """The real u frame of 3900-6-269 and its photoObj catalog."""
    from skysift.paths import shared_data_dir

    src = shared_data_dir()
    if src is None:
        raise FileNotFoundError("the shared real sample (../shared/data) is not present: pass make_inputs")
    folder = Path(workdir) / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "frame-u-003900-6-0269.fits.bz2"
    if not link.exists():
        os.symlink(src / "sdss-imaging" / link.name, link)
    return CutoutInputs(frames=folder, catalog=src / "sdss-imaging" / "photoObj-003900-6-0269.fits", bands=("u",))


def synthetic_cutout_inputs(workdir: Path, n_fields: int = 40, seed: int = 7, compress: bool = True,
                            n_rows: int = 0) -> CutoutInputs:
    """``n_fields`` synthetic SDSS-format fields and their photoObj-like catalog (``synth.imaging``), ugriz.
    With ``n_rows`` above the catalog's size, the catalog is repeated to that many rows, each copy moved by up
    to 3 arcsec (seeded; ids ``OBJID-COPY``), so that 40 fields (~20k objects) give the issue's 100,000 cutouts
    of the same frames."""
    import pyarrow.parquet as pq

    from skysift.bench.frames_bench import synthetic_fields

    folder, catalog = synthetic_fields(workdir, n_fields, seed, compress)
    if n_rows:
        repeated = Path(workdir) / f"synth-photoobj-{n_fields}-{seed}-x{n_rows}.parquet"
        if not repeated.exists():
            pq.write_table(repeat_catalog(pq.read_table(catalog, columns=["objid", "ra", "dec"]), n_rows, seed),
                           repeated)
        catalog = repeated
    return CutoutInputs(frames=folder, catalog=catalog, bands=("u", "g", "r", "i", "z"))


def repeat_catalog(table, n_rows: int, seed: int, jitter_arcsec: float = 3.0):
    """``n_rows`` rows of (objid, ra, dec): the rows of ``table`` in turn, copy c > 0 moved by a uniform offset of
    up to ``jitter_arcsec`` in each axis (ra scaled by cos dec) and named ``OBJID-c``."""
    import pyarrow as pa

    n = table.num_rows
    take = np.arange(n_rows) % n
    copy = np.arange(n_rows) // n
    rng = np.random.default_rng(seed)
    ra = table.column("ra").to_numpy().astype(float)[take]
    dec = table.column("dec").to_numpy().astype(float)[take]
    shift = rng.uniform(-jitter_arcsec, jitter_arcsec, (2, n_rows)) / 3600.0 * (copy > 0)
    ids = np.array([str(v) for v in table.column("objid").to_pylist()])[take]
    ids = np.where(copy > 0, np.char.add(np.char.add(ids, "-"), copy.astype(str)), ids)
    return pa.table({"objid": pa.array(ids.tolist(), pa.string()),
                     "ra": ra + shift[0] / np.cos(np.radians(dec)), "dec": dec + shift[1]})


def baseline_cutouts(files: list[str], ra: np.ndarray, dec: np.ndarray, ids: list[str], bands: tuple[str, ...],
                     reference: str, out: Path, size_px: int = 64, levels_px=(32, 16, 8)) -> dict:
    """The astropy loop; returns {cutouts, cut_only_s}."""
    import astropy.units as u
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    from astropy.wcs import WCS
    from reproject import reproject_interp

    from skysift.io.frame_files import group_fields

    out.mkdir(parents=True, exist_ok=True)
    fields, _ = group_fields(files, bands)
    done = np.zeros(len(ra), bool)
    n_cut, cut_s = 0, 0.0
    for ff in fields:
        if any(b not in ff.files for b in bands):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, wcs = {}, {}
            for b in bands:
                with fits.open(ff.files[b]) as hdul:
                    data[b] = hdul[0].data.astype(np.float32)
                    wcs[b] = WCS(hdul[0].header).celestial
        ref_wcs, shape = wcs[reference], data[reference].shape
        images = [data[b] if b == reference else reproject_interp((data[b], wcs[b]), ref_wcs, shape, order="bilinear",
                                                                  return_footprint=False) for b in bands]
        x, y = ref_wcs.all_world2pix(ra, dec, 0)
        on = ~done & (x >= -0.5) & (x < shape[1] - 0.5) & (y >= -0.5) & (y < shape[0] - 0.5)
        start = time.perf_counter()
        rows = []
        for k in np.flatnonzero(on):
            pos = SkyCoord(ra[k] * u.deg, dec[k] * u.deg)
            cut = np.stack([Cutout2D(img, pos, (size_px, size_px), wcs=ref_wcs, mode="partial", fill_value=np.nan).data
                            for img in images]).astype(np.float32)
            lv = [cut.reshape(len(bands), s, size_px // s, s, size_px // s).mean(axis=(2, 4)).astype(np.float32).ravel()
                  for s in levels_px]
            rows.append((ids[k], cut.ravel(), lv))
        cut_s += time.perf_counter() - start
        done |= on
        table = pa.table({"object_id": [r[0] for r in rows],
                          "pixels": pa.array([r[1] for r in rows], pa.list_(pa.float32())),
                          "level_pixels": pa.array([r[2] for r in rows], pa.list_(pa.list_(pa.float32())))})
        pq.write_table(table, out / f"{ff.field_id}.parquet")
        n_cut += len(rows)
    return {"cutouts": n_cut, "cut_only_s": cut_s}


def run_cutouts_benchmark(spark, make_inputs: Callable[[Path], CutoutInputs] = real_cutout_inputs,
                          workdir: str | Path = ".", size_px: int = 64) -> dict:
    """ours (make-cutouts on ``spark``) vs the Cutout2D loop; {ours_s, baseline_s, ratio, cutouts, rates, peak memory}."""
    from skysift.bench.memory import MemorySampler
    from skysift.config import load_config
    from skysift.io.catalog_readers import read_catalog
    from skysift.io.frame_files import list_frame_files
    from skysift.paths import conf_dir
    from skysift.stages.ingest_frames import job as ingest_job
    from skysift.stages.make_cutouts import job as cut_job
    from skysift.stages.make_cutouts.tasks import catalog_columns, catalog_format

    workdir = Path(workdir)
    inp = make_inputs(workdir)
    reference = "r" if "r" in inp.bands else inp.bands[0]
    bands = ",".join(inp.bands)
    ingest_cfg = load_config(ingest_job.CONFIG, conf_dir() / "ingest_frames.yaml",
                             [f"input={inp.frames}", f"output={workdir / 'ingest'}", f"bands={bands}",
                              f"reference_band={reference}"])
    start = time.perf_counter()
    ingest_job.run(spark, ingest_cfg)
    t_ingest = time.perf_counter() - start

    def cfg(out: Path, catalog: Path = inp.catalog):
        return load_config(cut_job.CONFIG, conf_dir() / "make_cutouts.yaml",
                           [f"catalog={catalog}", f"input={workdir / 'ingest'}", f"output={out}", f"bands={bands}",
                            f"size_px={size_px}", f"id_column={inp.id_column}", f"ra_column={inp.ra_column}",
                            f"dec_column={inp.dec_column}"])

    # the warm-up (workers start, import astropy, read the fields table) on the first 2,000 rows, not all 100,000
    df = read_catalog(inp.catalog, catalog_format(str(inp.catalog), "auto"))
    id_col, ra_col, dec_col = catalog_columns(list(df.columns), cfg(workdir / "unused"))
    head = workdir / "warmup-catalog.parquet"
    df[[id_col, ra_col, dec_col]].head(2000).to_parquet(head)
    cut_job.run(spark, cfg(workdir / "warmup", head))
    with MemorySampler() as mem:
        start = time.perf_counter()
        summary = cut_job.run(spark, cfg(workdir / "ours"))
        t_ours = time.perf_counter() - start

    files = list_frame_files(str(inp.frames))
    with MemorySampler() as mem_base:
        start = time.perf_counter()
        df = read_catalog(inp.catalog, catalog_format(str(inp.catalog), "auto"))
        base = baseline_cutouts(files, df[ra_col].to_numpy(float), df[dec_col].to_numpy(float),
                                df[id_col].astype(str).tolist(), inp.bands, reference, workdir / "baseline", size_px)
        t_base = time.perf_counter() - start
    shutil.rmtree(workdir / "warmup", ignore_errors=True)
    head.unlink()
    n = summary["written"]
    return {
        "ours_s": round(t_ours, 3), "baseline_s": round(t_base, 3), "ratio": round(t_base / t_ours, 3),
        "baseline_cut_only_s": round(base["cut_only_s"], 3), "ingest_s": round(t_ingest, 3),
        "cutouts": n, "baseline_cutouts": base["cutouts"], "bands": list(inp.bands), "rejected": summary["rejected"],
        "ours_cutouts_per_s": round(n / t_ours, 1), "baseline_cutouts_per_s": round(base["cutouts"] / t_base, 1),
        "executor_seconds": summary["executor_seconds"],
        **mem.peaks.as_dict(), "baseline_peak_gib": mem_base.peaks.as_dict()["python_driver_peak_gib"],
    }
