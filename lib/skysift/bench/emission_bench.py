"""Benchmark cases of the emission-line pipeline (issue 13): ``lines`` and ``pq``.

* ``lines``: batched line finding + CL redshift (``spectra.line_finding`` / ``line_redshift`` on whole
  batches) against (a) a per-spectrum loop of the same kernels (``find_lines`` on one row, then the plain
  per-spectrum CL rule ``line_redshift_reference``, faster per spectrum than ``line_redshifts`` on one row),
  (b) the per-spectrum numpy / scipy loop a user writes without skysift (``_scipy_loop_redshifts``) and (c) a
  per-spectrum pipeline built on specutils, the tool a user would reach for: ``fit_generic_continuum``
  (Chebyshev, median window 3) then ``find_lines_threshold`` (noise factor 5 from ivar) and the CL rule of
  ``line_redshift_reference`` on the emission lines it finds. Ratios on process CPU seconds (the machine is
  shared: wall seconds are recorded beside them), spectra/s and the share of true redshifts each recovers.
* ``pq``: our PQ (any K, numba ADC gather) against exact search (``faiss.IndexFlatL2``) on the same vectors:
  recall@1 (same template as exact) and the share of queries whose PQ top-1 z equals the exact top-1 z within
  0.001, per configuration; optionally an IVF coarse quantiser in front of our PQ (``ivf_lists`` > 0),
  beyond the paper, measured beside the plain PQ.
* ``emission-scale``: `skysift find-emission-lines` end to end on a synth-survey pool (conf/synth_survey_lu2022.yaml)
  of ``n_spectra`` spectra against ``n_rows`` templates with all 12 Table 1 runs (``scale_configurations``):
  seconds per stage, peak memory of the driver / JVM / Python workers (``bench.memory``), the per-unit costs
  (line search per spectrum, training per template and run, scoring per query x template and run) and from
  them an estimate for the paper's 492,938 spectra (123,693 queried) x 177,270 templates on N cores.
Inputs are the synthetic pool (``synth.emission_pool``): unknown spectra as queries, templates as the database.
"""
from __future__ import annotations

import time

import numpy as np

WAVE = np.arange(3900.0, 8900.0, 2.0)


def _pool_on_grid(n: int, seed: int, templates: bool = False, start: int = 0):
    """(flux, ivar, true z, spec class) of the ``n`` pool (or template) rows ``start``, ``start`` + 1, ... resampled
    to the paper's grid. The generator draws every row from its own index, so any split into ranges gives the
    same rows as one draw."""
    from skysift.spectra.grid import GridConfig
    from skysift.spectra.resample import resample_batch
    from skysift.synth.emission_pool import generate_pool
    from skysift.synth.model import SynthModelConfig, model_loglam

    batch = generate_pool(np.arange(start, start + n), seed, SynthModelConfig(population="lu2022_pool"),
                          templates=templates)
    loglam = model_loglam()
    rows = [(loglam[batch.pixel_slice(i)], batch.flux[i, batch.pixel_slice(i)], batch.ivar[i, batch.pixel_slice(i)],
             batch.and_mask[i, batch.pixel_slice(i)]) for i in range(n)]
    res = resample_batch(*zip(*rows), GridConfig(3900.0, 8898.0, 2500))
    t = batch.truth
    return res.flux, res.ivar, t["z"].to_numpy(np.float64), t["target_class"].to_numpy()


def _timed(fn):
    """(result, wall seconds, process CPU seconds) of fn(); CPU time is the steadier figure on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run_lines_benchmark(cfg, line) -> dict:
    """The ``lines`` case (module docstring): ratios on process CPU time, wall seconds beside them."""
    from skysift.spectra.line_finding import find_lines
    from skysift.spectra.line_redshift import line_redshift_reference, line_redshifts

    n = cfg.n_spectra or 2000
    flux, ivar, z_true, classes = _pool_on_grid(n, cfg.seed)
    find_lines(flux[:2], ivar[:2], WAVE)  # compile / load the kernel cache first

    z_batch, w_batch, c_batch = _timed(lambda: line_redshifts(find_lines(flux, ivar, WAVE), n).z_cl)

    def loop():
        z = np.full(n, np.nan)
        for i in range(n):
            det = find_lines(flux[i:i + 1], ivar[i:i + 1], WAVE)
            z[i] = line_redshift_reference(det.center_angstrom, det.snr)[0]
        return z

    z_loop, w_loop, c_loop = _timed(loop)
    z_scipy, w_scipy, c_scipy = _timed(lambda: _scipy_loop_redshifts(flux, ivar))

    n_spec = min(n, cfg.n_queries) if getattr(cfg, "n_queries", 0) else n
    z_spec, w_spec, c_spec = _timed(lambda: _specutils_redshifts(flux[:n_spec], ivar[:n_spec]))
    w_spec, c_spec = w_spec * n / n_spec, c_spec * n / n_spec

    def recovered(z, upto):
        """Share of the first ``upto`` rows with a line-bearing truth (>= 3 lines) whose z is recovered."""
        from skysift.synth.pool_config import ELG_CLASSES, LOW_VELOCITY_CLASSES

        has = np.isin(classes[:upto], ELG_CLASSES + LOW_VELOCITY_CLASSES)
        return round(float(np.mean(np.abs(z[:upto][has] - z_true[:upto][has]) < 1e-3)), 3) if has.any() else float("nan")

    same = bool(np.array_equal(np.isnan(z_batch), np.isnan(z_loop)) and
                np.allclose(z_batch[np.isfinite(z_batch)], z_loop[np.isfinite(z_loop)], atol=1e-9))
    line("lines_vs_spectrum_loop", c_batch, c_loop, unit="s_cpu", spectra=n, ours_spectra_per_s=round(n / c_batch),
         baseline_spectra_per_s=round(n / c_loop), wall_ours_s=round(w_batch, 4), wall_baseline_s=round(w_loop, 4),
         same_redshifts=same)
    line("lines_vs_scipy_loop", c_batch, c_scipy, unit="s_cpu", spectra=n, baseline_spectra_per_s=round(n / c_scipy),
         wall_baseline_s=round(w_scipy, 4), scipy_z_recovered=recovered(z_scipy, n))
    return line("lines", c_batch, c_spec, unit="s_cpu", spectra=n, ours_spectra_per_s=round(n / c_batch),
                specutils_spectra_per_s=round(n / c_spec, 1), specutils_measured_on=n_spec,
                loop_ratio=round(c_loop / c_batch, 2), scipy_loop_ratio=round(c_scipy / c_batch, 2),
                wall_ours_s=round(w_batch, 4), wall_loop_s=round(w_loop, 4), wall_scipy_s=round(w_scipy, 4),
                wall_specutils_s=round(w_spec, 2), same_redshifts_as_loop=same,
                ours_z_recovered=recovered(z_batch, n), ours_z_recovered_same_rows=recovered(z_batch, n_spec),
                scipy_z_recovered=recovered(z_scipy, n), specutils_z_recovered=recovered(z_spec, n_spec))


def _scipy_loop_redshifts(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """The per-spectrum loop a user writes with numpy / scipy alone (no skysift kernel): masked pixels filled by
    interpolation, ``scipy.ndimage.median_filter`` continuum (the same 101-pixel window), the 90th-percentile
    residual threshold, ``scipy.signal.find_peaks`` (peaks 5 pixels apart, the same sliding window), a range-sum
    S/N >= 5 from ivar over each peak's above-threshold run, and the same CL rule (``line_redshift_reference``)."""
    from scipy.ndimage import median_filter
    from scipy.signal import find_peaks

    from skysift.spectra.line_redshift import line_redshift_reference

    out = np.full(len(flux), np.nan)
    pix = np.arange(flux.shape[1])
    for i in range(len(flux)):
        good = (ivar[i] > 0) & np.isfinite(flux[i])
        if good.sum() < 10:
            continue
        f = np.interp(pix, pix[good], flux[i][good])
        resid = f - median_filter(f, size=101, mode="nearest")
        thr = np.quantile(resid[good], 0.9)
        peaks, props = find_peaks(np.where(good, resid, -np.inf), height=thr, distance=3)
        var = np.where(good, 1.0 / np.where(good, ivar[i], 1.0), np.inf)
        above = good & (resid > thr)
        centres, snrs = [], []
        for p in peaks:
            s = e = p
            while s - 1 >= 0 and above[s - 1] and p - s < 15:
                s -= 1
            while e + 1 < len(f) and above[e + 1] and e - p < 15:
                e += 1
            snr = resid[s:e + 1].sum() / np.sqrt(var[s:e + 1].sum())
            if snr >= 5:
                centres.append(WAVE[p])
                snrs.append(snr)
        out[i] = line_redshift_reference(np.asarray(centres), np.asarray(snrs))[0]
    return out


def _specutils_redshifts(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """Per spectrum: specutils continuum fit + find_lines_threshold, then the CL rule on the emission lines."""
    import warnings

    import astropy.units as u
    from astropy.nddata import StdDevUncertainty
    from specutils import Spectrum
    from specutils.fitting import find_lines_threshold, fit_generic_continuum

    from skysift.spectra.line_redshift import line_redshift_reference

    out = np.full(len(flux), np.nan)
    wave = WAVE * u.AA
    for i in range(len(flux)):
        good = ivar[i] > 0
        sigma = np.where(good, 1.0 / np.sqrt(np.where(good, ivar[i], 1.0)), np.nanmedian(flux[i]) or 1.0)
        spec = Spectrum(flux=flux[i] * u.Jy, spectral_axis=wave, uncertainty=StdDevUncertainty(sigma * u.Jy))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cont = fit_generic_continuum(spec)
            resid = spec - cont(wave)
            found = find_lines_threshold(resid, noise_factor=5)
        em = found[found["line_type"] == "emission"]
        centres = np.asarray(em["line_center"].to(u.AA).value, dtype=np.float64)
        snr = np.interp(centres, WAVE, np.abs(flux[i] - cont(wave).value) / sigma) if len(centres) else centres
        out[i] = line_redshift_reference(centres, snr)[0]
    return out


CACHE_CHUNK_ROWS = 5000
"""Rows per cache file of ``_cached_pool`` (~1.5 GB of generator memory while one is drawn)."""


def _cached_pool(n: int, seed: int, templates: bool = False, cache_dir=None, chunk_rows: int = CACHE_CHUNK_ROWS,
                 min_rows: int = 2000):
    """``_pool_on_grid`` kept under runs/bench/cache (or ``cache_dir``) from ``min_rows`` rows on (the generator takes ~1.5 ms a pool row
    and ~3.5 ms a template row of CPU on this machine); smaller sets, as the tests use, are drawn again.

    Rows are drawn and saved ``chunk_rows`` at a time (one file per range, written under a temporary name and
    renamed), so an interrupted draw resumes at its last whole chunk, a larger set reuses a smaller one's
    chunks, and the generator never holds more than one chunk. A last partial chunk is kept under its own range
    and drawn again whole when a larger set needs it. The rows are those of one big draw (the generator draws
    each row from its index; tests/bench/test_emission_bench.py)."""
    import os
    from pathlib import Path

    from skysift.paths import REPO_ROOT

    if n < min_rows:
        return _pool_on_grid(n, seed, templates=templates)
    folder = Path(cache_dir) if cache_dir else REPO_ROOT / "runs" / "bench" / "cache"
    folder = folder / f"pool_{'tpl' if templates else 'q'}_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    flux = ivar = None
    z = np.empty(n, np.float64)
    cls = np.empty(n, object)
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        path = folder / f"rows_{start:09d}_{stop:09d}.npz"
        if not path.exists():
            part = _pool_on_grid(stop - start, seed, templates=templates, start=start)
            tmp = path.with_name(path.stem + ".partial.npz")
            np.savez(tmp, flux=part[0], ivar=part[1], z=part[2], cls=part[3].astype(str))
            os.replace(tmp, path)
            del part
        with np.load(path, allow_pickle=False) as f:
            if flux is None:
                flux = np.empty((n, f["flux"].shape[1]), f["flux"].dtype)
                ivar = np.empty((n, f["ivar"].shape[1]), f["ivar"].dtype)
            flux[start:stop], ivar[start:stop] = f["flux"], f["ivar"]
            z[start:stop], cls[start:stop] = f["z"], f["cls"].astype(object)
    return flux, ivar, z, cls


def _agreement(found: np.ndarray, exact: np.ndarray, z_templates: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """(recall@1, share with |z(found) - z(exact)| < 0.001) over the queries ``rows``."""
    if not len(rows):
        return float("nan"), float("nan")
    f, e = found[rows], exact[rows]
    ok = f >= 0
    same_z = np.zeros(len(rows), bool)
    same_z[ok] = np.abs(z_templates[f[ok]] - z_templates[e[ok]]) < 1e-3
    return round(float(np.mean(f == e)), 3), round(float(np.mean(same_z)), 3)


def run_pq_benchmark(cfg, line) -> dict:
    """The ``pq`` case (module docstring): per configuration, our PQ and the IVF-PQ option vs faiss exact search.

    Every search runs in this process on one thread (faiss pinned to 1; our ADC kernel is single-threaded), so
    the ratios compare the same CPU. Agreement is reported over all queries and over the queries with a CL
    redshift (the ones the job sends to the search, as the paper).
    """
    import faiss

    from skysift.kb.pq_index import PQRun, default_ivf_lists, search_ivfpq_top1, search_top1, search_vectors
    from skysift.kb.pq_index import fill_ivfpq, train_index, train_ivfpq_empty
    from skysift.spectra.line_finding import find_lines
    from skysift.spectra.line_redshift import line_redshifts

    faiss.omp_set_num_threads(1)
    n_t = cfg.n_rows or 4000
    n_q = cfg.n_queries or 1000
    t_flux, _, t_z, _ = _cached_pool(n_t, cfg.seed, templates=True)
    q_flux, q_ivar, _, _ = _cached_pool(n_q, cfg.seed + 1)
    # CL redshifts 10,000 queries at a time (a row's lines depend on that row only): bounded memory at 100,000
    z_cl = np.concatenate([line_redshifts(find_lines(q_flux[a:a + 10_000], q_ivar[a:a + 10_000], WAVE),
                                          len(q_flux[a:a + 10_000])).z_cl for a in range(0, n_q, 10_000)])
    with_z = np.flatnonzero(np.isfinite(z_cl))
    del q_ivar
    every = np.arange(n_q)
    results = {}
    runs = [PQRun.parse(c) for c in (getattr(cfg, "pq_configurations", "") or "2/25/100,2/50/200,2/100/400").split(",")]
    for run in runs:
        if run.k > n_t:
            continue
        db = search_vectors(t_flux, WAVE, run.step_angstrom)
        q = search_vectors(q_flux, WAVE, run.step_angstrom)
        flat = faiss.IndexFlatL2(db.shape[1])
        flat.add(db)
        (_, ex_i), t_exact, c_exact = _timed(lambda: flat.search(q, 1))  # searched once: the timed call's result
        ex_i = ex_i[:, 0]
        del flat  # its copy of the templates (2 GB at 200,000)
        started = time.perf_counter()
        codebook, codes = train_index(db, run, n_iter=10)
        train_pq_s = round(time.perf_counter() - started, 2)
        (_, pq_i), t_pq, c_pq = _timed(lambda: search_top1(codebook, codes, q))
        recall, z_agree = _agreement(pq_i, ex_i, t_z, every)
        recall_z, z_agree_z = _agreement(pq_i, ex_i, t_z, with_z)
        extra = {"templates": n_t, "queries": n_q, "queries_with_cl_z": int(len(with_z)),
                 "wall_ours_s": round(t_pq, 4), "wall_exact_s": round(t_exact, 4), "train_s": train_pq_s,
                 "recall_at_1": recall, "z_agreement": z_agree,
                 "recall_at_1_cl_z": recall_z, "z_agreement_cl_z": z_agree_z}
        result = line(f"pq {run.name}", c_pq, c_exact, unit="s_cpu", **extra)
        n_lists = default_ivf_lists(n_t) if cfg.ivf_lists == -1 else cfg.ivf_lists
        if n_lists:
            variants = [("ivfpq", 0)] + ([("ivfpq_refine", cfg.ivf_refine)] if cfg.ivf_refine else [])
            result["ivf"] = []
            started = time.perf_counter()
            # one training for both variants: the same seed and data give the same trained index either way
            trained = train_ivfpq_empty(db, run, n_lists, n_iter=10)
            train_s = round(time.perf_counter() - started, 2)
            for label, refine in variants:
                started = time.perf_counter()
                index = fill_ivfpq(trained, db, refine=bool(refine))
                fill_s = round(time.perf_counter() - started, 2)
                for probe in cfg.ivf_probes:
                    if probe > n_lists:
                        continue
                    (_, ivf_i), t_ivf, c_ivf = _timed(lambda: search_ivfpq_top1(index, q, probe, refine))
                    r_all, z_all = _agreement(ivf_i, ex_i, t_z, every)
                    r_z, z_z = _agreement(ivf_i, ex_i, t_z, with_z)
                    result["ivf"].append(line(
                        f"pq {run.name} {label} lists={n_lists} probe={probe}", c_ivf, c_exact, unit="s_cpu",
                        n_lists=n_lists, n_probe=probe, refine=refine, train_s=train_s, fill_s=fill_s,
                        wall_ours_s=round(t_ivf, 4),
                        recall_at_1=r_all, z_agreement=z_all, recall_at_1_cl_z=r_z, z_agreement_cl_z=z_z))
                del index
        results[run.name] = result
    return {"case": "pq", "runs": results, "peak_rss_gib": _peak_rss_gib()}


def _peak_rss_gib() -> float:
    """This process's peak resident memory (ru_maxrss, KiB on Linux) in GiB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


PAPER_SPECTRA = 492_938
"""Lu et al. 2022: LAMOST DR7 v1.2 "Unknown" spectra searched."""
PAPER_QUERIES = 123_693
"""Lu et al. 2022: spectra with a CL redshift, the ones sent to the PQ search."""
PAPER_TEMPLATES = 177_270
"""Lu et al. 2022: LAMOST DR6 GALAXY templates."""


def paper_estimate(summary: dict, templates: int, cores_used: int, cores: tuple[int, ...] = (16, 64, 256)) -> dict:
    """Hours for the paper's sizes from one run's stage seconds, assuming line search and scoring scale with
    spectra (x templates) and spread over the cores, and K-means training scales with the templates (faiss uses
    every template: 256 points per centroid x K >= 177,270 for K >= 700) and runs on one core per run
    (``pq.train_on=executors`` spreads the segments instead: the last row divides it by the cores too)."""
    st, sec = summary["stages"], summary["stage_seconds"]
    searched, queries = max(1, st["searched"]), max(1, st["with_line_redshift"])
    lines_core_s = sec["lines_and_redshifts"] * cores_used / searched * PAPER_SPECTRA
    score_core_s = sec["pq_scoring"] * cores_used / (queries * templates) * PAPER_QUERIES * PAPER_TEMPLATES
    train_s = sec["pq_training"] / templates * PAPER_TEMPLATES
    rest_s = sec["classification_and_catalogs"] / queries * PAPER_QUERIES
    out = {"line_search_core_hours": round(lines_core_s / 3600, 2), "scoring_core_hours": round(score_core_s / 3600, 2),
           "training_hours_driver": round(train_s / 3600, 2), "classification_hours_driver": round(rest_s / 3600, 3)}
    for n in cores:
        out[f"hours_on_{n}_cores_train_on_driver"] = round(((lines_core_s + score_core_s) / n + train_s + rest_s) / 3600, 2)
        out[f"hours_on_{n}_cores_train_on_executors"] = round(((lines_core_s + score_core_s + train_s) / n + rest_s) / 3600, 2)
    return out


def run_emission_scale_benchmark(spark, cfg, workdir) -> dict:
    """The ``emission-scale`` case (module docstring)."""
    import json
    import os
    from pathlib import Path

    from skysift.bench.memory import MemorySampler
    from skysift.config import load_config
    from skysift.kb.pq_index import TABLE1_NAMES
    from skysift.paths import conf_dir
    from skysift.stages.find_emission_lines import job as elg_job
    from skysift.stages.synth_survey import job as synth_job
    from skysift.synth.emission_pool import reference_catalog_settings

    n = cfg.n_spectra or 100_000
    n_t = cfg.n_rows or 20_000
    runs = [r for r in cfg.scale_configurations.split(",") if r] or list(TABLE1_NAMES)
    work = Path(workdir)
    pool = work / "pool"
    started = time.perf_counter()
    synth_job.run(spark, load_config(synth_job.CONFIG, conf_dir() / "synth_survey_lu2022.yaml", [
        f"output={pool}", f"n_spectra={n}", f"model.pool.n_templates={n_t}", f"seed={cfg.seed}",
        f"rows_per_partition={max(500, min(20_000, n // 8))}"]))
    synth_s = time.perf_counter() - started
    job_cfg = load_config(elg_job.CONFIG, conf_dir() / "find_emission_lines.yaml", [
        f"input={pool / 'spectra'}", f"templates={pool / 'templates'}", f"output={work / 'found'}",
        f"pq.configurations={json.dumps(runs)}", f"hii_regions.path={pool / 'hii_regions'}",
        f"reference_catalogs={json.dumps(reference_catalog_settings(str(pool)))}"])
    with MemorySampler() as sampler:
        started = time.perf_counter()
        summary = elg_job.run(spark, job_cfg)
        job_s = time.perf_counter() - started
    cores = spark.sparkContext.defaultParallelism if spark is not None else 1
    result = {"case": "emission-scale", "spectra": n, "templates": n_t, "configurations": runs,
              "synth_seconds": round(synth_s, 1), "job_seconds": round(job_s, 1), "cores": cores,
              "cpu_count": os.cpu_count(), "load_average": [round(v, 1) for v in os.getloadavg()],
              "stages": summary["stages"], "stage_seconds": summary["stage_seconds"],
              "train_seconds": summary["pq"]["train_seconds"], **sampler.peaks.as_dict(),
              "paper_estimate": paper_estimate(summary, n_t, cores)}
    print("emission-scale: " + json.dumps({k: result[k] for k in ("spectra", "templates", "job_seconds",
                                                                   "stage_seconds")}), flush=True)
    return result
