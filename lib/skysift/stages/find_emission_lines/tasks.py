"""Per-batch and driver-side work of `skysift find-emission-lines` (no Spark import at module level).

Executor side (one Arrow batch of spectra at a time; flux and ivar travel as one buffer each):

* ``search_batch``: line finding + CL redshift + line fluxes and ratios at z_cl -> ``lines`` rows,
  ``redshifts`` rows and rejects (no usable pixel, off-grid);
* ``score_batch``: the PQ top-1 template of every query spectrum for every configuration -> ``pq_candidates``.

Driver side (tables of candidates, thousands of rows): ``check_*`` (bad input fails at once),
``merge_candidates`` (the 12 runs merged, z agreement), ``inspect`` (the automatic substitute for visual
inspection), ``classify_low_velocity`` (H II by region catalog OR diagnostic), ``lookup_references``
(per-catalog nearest match + the "new" anti-join), ``galaxy_catalog`` / ``hii_catalog`` (paper Tables 3 / 2).
"""
from __future__ import annotations

import functools

import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skysift.kb.pq_index import (
    PQRun, check_ivfpq, check_run, default_ivf_lists, load_index, load_ivfpq, search_ivfpq_top1, search_top1,
    search_vectors,
)
from skysift.runtime.errors import SkysiftError
from skysift.runtime.rejects import Reject
from skysift.schema.emission import FLUX_LINE_KEYS, LINES, PQ_CANDIDATES, RATIO_COLUMNS, REDSHIFTS
from skysift.spectra.bpt import classify_bpt
from skysift.spectra.continuum import good_pixel_mask, grid_step_angstrom
from skysift.spectra.grid import parse_grid_id
from skysift.spectra.line_finding import find_lines
from skysift.spectra.line_fluxes import measure_line_fluxes, line_ratios
from skysift.spectra.line_redshift import line_redshifts, redshift_lines
from skysift.stages.find_emission_lines.config import FindEmissionLinesConfig, ReferenceCatalogConfig

INPUT_COLUMNS = ("spec_id", "survey", "ra_deg", "dec_deg", "source_file", "snr_median", "flux", "ivar", "grid_id")
"""Columns of the spectra table the job reads."""
STAGE = "find-emission-lines"


# ----------------------------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class Grid:
    """The spectra table's grid: id and wavelengths (linear, observed frame)."""

    grid_id: str
    """As in the table's grid_id column."""
    wave_angstrom: np.ndarray
    """The grid points."""

    @property
    def step_angstrom(self) -> float:
        """Grid step."""
        return float(self.wave_angstrom[1] - self.wave_angstrom[0])


def grid_of(grid_id: str, what: str) -> Grid:
    """The Grid of ``grid_id``; SkysiftError naming ``what`` for a log or rest-frame grid."""
    try:
        g = parse_grid_id(grid_id)
    except ValueError as exc:
        raise SkysiftError(f"{what}: {exc}") from None
    if g.spacing != "linear" or g.frame != "observed":
        raise SkysiftError(f"{what}: grid {grid_id!r} is not linear in observed Angstrom; line finding and the "
                           "PQ segments need one (e.g. lin:3900:8898:2500, conf/ingest_spectra_lu2022.yaml)")
    return Grid(grid_id, g.wave_angstrom())


def check_search_setup(grid: Grid, runs: tuple[PQRun, ...], n_templates: int, index: str = "pq",
                       ivf_lists: int = 0) -> None:
    """Every run must divide the grid at its step and have K <= templates (index=ivfpq: K rounded up to a
    power of two, and no more cells than templates); one-line SkysiftError."""
    for run in runs:
        try:
            check_run(run, len(grid.wave_angstrom), grid.step_angstrom, n_templates)
            if index == "ivfpq":
                n = int(round(len(grid.wave_angstrom) * grid.step_angstrom / run.step_angstrom))
                check_ivfpq(run, n, n_templates, ivf_lists or default_ivf_lists(n_templates))
        except ValueError as exc:
            raise SkysiftError(f"{exc} (grid {grid.grid_id}, templates: {n_templates} rows with a z)") from None


def check_templates_schema(names: list[str], path: str) -> None:
    """A template table must carry ``z`` (the published redshift RT transfers) and the spectrum columns."""
    missing = [c for c in ("spec_id", "z", "flux", "grid_id") if c not in names]
    if missing:
        raise SkysiftError(f"templates {path}: column(s) {', '.join(missing)} not found; a template table is a "
                           f"spectra table whose z is a published redshift (columns found: {', '.join(names)})")


# ----------------------------------------------------------------------------------------------- executor side


def batch_matrix(column: pa.Array, n_pix: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_pix) float32 of a list<float32> column (rows of another length or null are NaN) and the rows ok.

    Rows of the right length are taken from the one values buffer with a single reshape when every row is.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    lengths = pc.fill_null(pc.list_value_length(column), -1).to_numpy(zero_copy_only=False)
    ok = lengths == n_pix
    out = np.full((n, n_pix), np.nan, np.float32)
    if ok.all():
        out[:] = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(n, n_pix)
    elif ok.any():
        taken = column.filter(pa.array(ok))
        out[ok] = taken.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, n_pix)
    return out, ok


def _col(batch: pa.RecordBatch, name: str, n: int, dtype=None):
    if name not in batch.schema.names:
        return np.full(n, None if dtype is None else np.nan, dtype=object if dtype is None else dtype)
    values = batch.column(name).to_numpy(zero_copy_only=False)
    return values if dtype is None else values.astype(dtype)


def search_batch(batch: pa.RecordBatch, grid: Grid, cfg: FindEmissionLinesConfig) -> tuple[pa.Table, pa.Table, list]:
    """(lines rows, redshifts rows, rejects) of one batch of spectra (see the module docstring)."""
    n = batch.num_rows
    wave = grid.wave_angstrom
    ids = _col(batch, "spec_id", n)
    flux, ok_f = batch_matrix(batch.column("flux"), len(wave))
    ivar, ok_i = batch_matrix(batch.column("ivar"), len(wave))
    grid_ids = _col(batch, "grid_id", n)
    on_grid = ok_f & ok_i & np.array([g == grid.grid_id for g in grid_ids])
    usable = on_grid & good_pixel_mask(flux, ivar).any(axis=1)
    rejects = []
    sources = _col(batch, "source_file", n)
    for i in np.flatnonzero(~usable):
        if not on_grid[i]:
            reason = (f"off-grid: grid_id {grid_ids[i]!r} / {np.sum(~np.isnan(flux[i]))} flux points, expected "
                      f"{grid.grid_id} ({len(wave)} points)")
        else:
            reason = "no usable pixels (ivar = 0, NaN or inf at every grid point)"
        rejects.append(Reject(source_file=str(sources[i] or ""), stage="lines", reason=reason, spec_id=str(ids[i])))
    keep = np.flatnonzero(usable)
    flux, ivar = flux[keep], np.where(np.isfinite(ivar[keep]), ivar[keep], 0.0).astype(np.float32)
    lines = find_lines(flux, ivar, wave, cfg.line_finding)
    z = line_redshifts(lines, len(keep), cfg.line_redshift)
    names, _ = redshift_lines(cfg.line_redshift.line_names)
    cl_line = np.full(len(lines), None, dtype=object)
    cl_line[z.member_line] = np.array(names, dtype=object)[z.member_rest]
    lines_table = pa.table({
        "spec_id": pa.array(ids[keep][lines.spec_index], pa.string()),
        **{k: v for k, v in lines.columns().items() if k not in ("spec_index",)},
        "cl_line": pa.array(cl_line, pa.string()),
    }).select(LINES.names).cast(LINES)
    n_det = np.bincount(lines.spec_index, minlength=len(keep)).astype(np.int32)
    cols = {
        "spec_id": ids[keep], "survey": _col(batch, "survey", n)[keep], "ra_deg": _col(batch, "ra_deg", n, float)[keep],
        "dec_deg": _col(batch, "dec_deg", n, float)[keep], "source_file": sources[keep],
        "snr_median": _col(batch, "snr_median", n, np.float32)[keep], "n_detected_lines": n_det,
        "z_cl": z.z_cl, "n_cl_lines": z.n_lines, "cl_lines": np.where(z.has_z, z.line_names, None),
        "cl_quality": np.where(z.has_z, z.quality, np.nan), "z_spread": z.z_spread,
    }
    cols.update(_fluxes_at_z(flux, ivar, wave, z.z_cl, cfg))
    red = pa.table({f.name: pa.array(cols[f.name], f.type, from_pandas=True) for f in REDSHIFTS}, schema=REDSHIFTS)
    return lines_table, red, rejects


def _fluxes_at_z(flux, ivar, wave, z_cl, cfg: FindEmissionLinesConfig) -> dict[str, np.ndarray]:
    """Fluxes, ratios, BPT class and H II diagnostic of the rows with a CL redshift (NaN / None elsewhere)."""
    n = len(z_cl)
    out = {f"{p}_{k}": np.full(n, np.nan) for k in FLUX_LINE_KEYS.values() for p in ("flux", "flux_err")}
    out.update({c: np.full(n, np.nan) for c in RATIO_COLUMNS})
    out.update({"line_sigma_kms": np.full(n, np.nan), "bpt_class": np.full(n, None, object),
                "hii_diagnostic": np.full(n, None, object)})
    has = np.flatnonzero(np.isfinite(z_cl))
    if not len(has):
        return out
    fl = measure_line_fluxes(flux[has], ivar[has], wave, z_cl[has], cfg=cfg.line_fluxes)
    for name, key in FLUX_LINE_KEYS.items():
        f, e = fl.get(name)
        out[f"flux_{key}"][has], out[f"flux_err_{key}"][has] = f, e
    ratios = line_ratios(fl)
    for c in RATIO_COLUMNS:
        out[c][has] = ratios[c]
    if fl.sigma_kms is not None:
        out["line_sigma_kms"][has] = fl.sigma_kms
    hb, _ = fl.get("Hbeta")
    oiii, _ = fl.get("[OIII]5008")
    ha, _ = fl.get("Halpha")
    nii, _ = fl.get("[NII]6585")
    s1, _ = fl.get("[SII]6718")
    s2, _ = fl.get("[SII]6733")
    out["bpt_class"][has] = classify_bpt(hb, oiii, ha, nii, s1 + s2, seyfert_liner=cfg.seyfert_liner)
    out["hii_diagnostic"][has] = ratios["hii"]
    return out


def search_partition(staging: str, cfg: FindEmissionLinesConfig, grid: Grid, name: str,
                     batches: Iterable[pa.RecordBatch]) -> dict:
    """One task of the line search: every batch of ``batches``; writes ``lines/NAME``, ``redshifts/NAME`` and
    its rejects (deterministic names: a retried task replaces them); returns its counts."""
    from skysift.runtime.output import write_parquet_atomic
    from skysift.runtime.rejects import write_rejects

    started = time.perf_counter()
    lines, reds, rejects = [], [], []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        li, rd, rj = search_batch(batch, grid, cfg)
        lines.append(li)
        reds.append(rd)
        rejects.extend(rj)
    n_lines = write_parquet_atomic(f"{staging}/lines/{name}.parquet", pa.concat_tables(lines) if lines else LINES.empty_table(), LINES)
    red = pa.concat_tables(reds) if reds else REDSHIFTS.empty_table()
    write_parquet_atomic(f"{staging}/redshifts/{name}.parquet", red, REDSHIFTS)
    write_rejects(staging, rejects, name=f"{name}.parquet")
    with_z = int(pc.sum(pc.is_valid(red.column("z_cl"))).as_py() or 0) if red.num_rows else 0
    return {"searched": red.num_rows, "rejected": len(rejects), "with_z": with_z, "lines": n_lines,
            "seconds": time.perf_counter() - started}


@dataclass(frozen=True)
class ScoringSetup:
    """What a scoring task needs (small: travels in the closure; the indexes are loaded by URI)."""

    index_root: str
    """Folder of the PQ index files (``<root>/<run slug>/`` and ``<root>/templates/``)."""
    runs: tuple[PQRun, ...]
    """Configurations to score."""
    grid: Grid
    """The spectra's grid."""
    normalisation: str
    """l2 | lu2022."""
    metric: str
    """squared | l2_sum."""
    query_batch_rows: int
    """Queries per search call."""
    index: str = "pq"
    """pq | ivfpq (``PQSearchConfig.index``)."""
    ivf_probe: int = 2
    """index=ivfpq: cells scored per query."""
    ivf_refine: int = 0
    """index=ivfpq: candidates re-ranked by the exact distance."""


def _load_templates(root: str) -> tuple[np.ndarray, np.ndarray]:
    from skysift.runtime.output import read_table

    t = read_table(f"{root}/templates")
    return t.column("spec_id").to_numpy(zero_copy_only=False), t.column("z").to_numpy(zero_copy_only=False)


def score_batch(batch: pa.RecordBatch, setup: ScoringSetup) -> pa.Table:
    """``pq_candidates`` rows of one batch of query spectra: the top-1 template per configuration."""
    from skysift.runtime.cache import cached
    from skysift.runtime.spark import task_cpus

    import faiss

    faiss.omp_set_num_threads(max(1, task_cpus() or 1))
    group = (STAGE, setup.index_root)
    ids_t, z_t = cached(group, "templates", lambda: _load_templates(setup.index_root))
    flux, ok = batch_matrix(batch.column("flux"), len(setup.grid.wave_angstrom))
    ids = batch.column("spec_id").to_numpy(zero_copy_only=False)[ok]
    flux = flux[ok]
    parts = []
    for run in setup.runs:
        uri = f"{setup.index_root}/{run.slug}"
        if setup.index == "ivfpq":
            index = cached(group, run.slug, lambda uri=uri: load_ivfpq(uri))
            search = functools.partial(search_ivfpq_top1, index, n_probe=setup.ivf_probe, refine=setup.ivf_refine)
        else:
            codebook, codes = cached(group, run.slug, lambda uri=uri: load_index(uri))
            search = functools.partial(search_top1, codebook, codes, metric=setup.metric)
        q = search_vectors(flux, setup.grid.wave_angstrom, run.step_angstrom, setup.normalisation)
        d = np.empty(len(q), np.float32)
        i = np.empty(len(q), np.int64)
        for a in range(0, len(q), setup.query_batch_rows):
            d[a:a + setup.query_batch_rows], i[a:a + setup.query_batch_rows] = search(q[a:a + setup.query_batch_rows])
        if (i < 0).any():  # IVF-PQ: the probed cells held no template (cannot happen with >= 1 template per cell)
            raise RuntimeError(f"PQ {run.name}: {int((i < 0).sum())} queries found no template in their cells")
        parts.append(pa.table({"spec_id": pa.array(ids, pa.string()), "pq_config": pa.array([run.name] * len(ids), pa.string()),
                               "template_id": pa.array(ids_t[i], pa.string()), "z_rt": pa.array(z_t[i], pa.float64()),
                               "pq_distance": pa.array(d, pa.float32())}, schema=PQ_CANDIDATES))
    return pa.concat_tables(parts) if parts else PQ_CANDIDATES.empty_table()


def score_partition(staging: str, setup: ScoringSetup, name: str, batches: Iterable[pa.RecordBatch]) -> dict:
    """One scoring task: writes ``pq_candidates/NAME``; returns its counts."""
    from skysift.runtime.output import write_parquet_atomic

    started = time.perf_counter()
    parts = [score_batch(b, setup) for b in batches if b.num_rows]
    rows = write_parquet_atomic(f"{staging}/pq_candidates/{name}.parquet",
                                pa.concat_tables(parts) if parts else PQ_CANDIDATES.empty_table(), PQ_CANDIDATES)
    return {"queries": rows // max(1, len(setup.runs)), "rows": rows, "seconds": time.perf_counter() - started}


def train_segment_task(staging: str, vectors_uri: str, run: PQRun, seed: int, n_iter: int, first: int,
                       segments: list[int]) -> dict:
    """train_on=executors: K-means of ``segments`` of one run from the template vectors at ``vectors_uri``;
    writes ``<staging>/<slug>/_segments/part-<first>.npy``."""
    import io

    from skysift.kb.pq_index import train_segments
    from skysift.runtime.filesystem import read_bytes, write_bytes
    from skysift.runtime.spark import task_cpus

    started = time.perf_counter()
    x = np.load(io.BytesIO(read_bytes(vectors_uri)), allow_pickle=False)
    cents = train_segments(x, run.n_segments, run.k, range(segments[0], segments[-1] + 1), seed, n_iter,
                           threads=max(1, task_cpus() or 1))
    buf = io.BytesIO()
    np.save(buf, cents, allow_pickle=False)
    write_bytes(f"{staging}/{run.slug}/_segments/part-{segments[0]:06d}.npy", buf.getvalue())
    return {"segments": len(segments), "seconds": time.perf_counter() - started}


# ----------------------------------------------------------------------------------------------- driver side


def merge_candidates(candidates: pd.DataFrame, redshifts: pd.DataFrame, runs: tuple[PQRun, ...],
                     tolerance: float) -> pd.DataFrame:
    """One row per queried spectrum: the 12 runs merged; ``z_rt`` / ``template_id`` / ``pq_distance`` of the
    agreeing run whose z_rt is closest to z_cl (else of the first run), ``n_configs_agree``."""
    order = {r.name: k for k, r in enumerate(runs)}
    c = candidates.merge(redshifts[["spec_id", "z_cl"]], on="spec_id", how="inner")
    c["dz"] = (c["z_cl"] - c["z_rt"]).abs()
    c["agree"] = c["dz"] < tolerance
    c["run_order"] = c["pq_config"].map(order)
    n_agree = c.groupby("spec_id")["agree"].sum().astype(np.int32)
    c = c.sort_values(["spec_id", "agree", "dz", "run_order"], ascending=[True, False, True, True], kind="stable")
    best = c.drop_duplicates("spec_id")[["spec_id", "pq_config", "template_id", "z_rt", "pq_distance"]]
    best = best.rename(columns={"pq_config": "best_pq_config"})
    best["n_configs_agree"] = best["spec_id"].map(n_agree).to_numpy()
    return best.reset_index(drop=True)


def cl_line_stats(lines: pd.DataFrame, cfg: FindEmissionLinesConfig) -> pd.DataFrame:
    """Per spectrum, of the lines behind its CL redshift: ``cl_line_width_angstrom`` (mean end - start) and
    ``cl_lines_on_sky`` (how many sit within ``inspection.sky_half_width_angstrom`` of a night-sky line)."""
    used = lines[lines["cl_line"].notna()]
    sky = np.asarray(cfg.inspection.sky_lines_angstrom, dtype=np.float64)
    centre = used["center_angstrom"].to_numpy(np.float64)
    near = (np.abs(centre[:, None] - sky[None, :]) <= cfg.inspection.sky_half_width_angstrom).any(axis=1) \
        if sky.size else np.zeros(len(used), bool)
    frame = pd.DataFrame({"spec_id": used["spec_id"].to_numpy(), "width": (used["end_angstrom"] - used["start_angstrom"]).to_numpy(),
                          "on_sky": near})
    g = frame.groupby("spec_id")
    return pd.DataFrame({"cl_line_width_angstrom": g["width"].mean(), "cl_lines_on_sky": g["on_sky"].sum().astype(np.int32)})


def inspect(confirmed: pd.DataFrame, stats: pd.DataFrame, cfg: FindEmissionLinesConfig) -> np.ndarray:
    """The automatic substitute for visual inspection (config ``inspection``): a bool per confirmed row.

    Keeps a candidate whose CL lines have a combined S/N >= ``min_quality``, a mean width >= ``min_line_width``
    (no cosmic rays), at most ``max_sky_lines`` on night-sky lines, and >= ``min_configs_agree`` agreeing runs.
    """
    rule = cfg.inspection
    if not rule.enabled:
        return np.ones(len(confirmed), bool)
    width = confirmed["spec_id"].map(stats["cl_line_width_angstrom"]).to_numpy(np.float64)
    on_sky = confirmed["spec_id"].map(stats["cl_lines_on_sky"]).fillna(0).to_numpy()
    return ((confirmed["cl_quality"].to_numpy(np.float64) >= rule.min_quality)
            & (np.nan_to_num(width) >= rule.min_line_width_angstrom)
            & (on_sky <= rule.max_sky_lines)
            & (confirmed["n_configs_agree"].to_numpy() >= rule.min_configs_agree))


def match(spark, left: pd.DataFrame, right: pd.DataFrame, *, radius_arcsec: float, how: str, mode: str = "nearest",
          left_ra: str = "ra_deg", left_dec: str = "dec_deg", right_ra: str = "ra_deg", right_dec: str = "dec_deg",
          radius_column: str | None = None) -> pd.DataFrame:
    """Cross-match two frames with the xmatch engine (Spark when given, else its sequential twin) on valid
    rows; every left and right column is kept under its own name (so the two sides' names must differ;
    the engine's healpix29 columns are dropped)."""
    from skysift.sky.healpix import neighbour_order, valid_position
    from skysift.xmatch.engine import match_spec
    from skysift.xmatch.frames import crossmatch_frames

    left = left[valid_position(left[left_ra].to_numpy(float), left[left_dec].to_numpy(float))].reset_index(drop=True)
    rr = right[right_ra].to_numpy(float), right[right_dec].to_numpy(float)
    ok = valid_position(*rr)
    if radius_column:
        r = right[radius_column].to_numpy(float)
        ok &= np.isfinite(r) & (r > 0)
    right = right[ok].reset_index(drop=True)
    r_max = float(right[radius_column].max()) if radius_column and len(right) else radius_arcsec
    spec = match_spec(list(left.columns), list(right.columns), neighbour_order(max(r_max, radius_arcsec)),
                      radius_arcsec, mode=mode, how=how, left_ra=left_ra, left_dec=left_dec, right_ra=right_ra,
                      right_dec=right_dec, radius_column=radius_column, right_suffix=RIGHT_SUFFIX,
                      count_matches=False)
    if spark is None or len(left) == 0 or len(right) == 0:
        out = _no_right(left, right, spec, how) if len(right) == 0 else crossmatch_frames(left, right, spec)
        return _unsuffix(out)
    from skysift.xmatch.engine import matched_frame
    from skysift.xmatch.plan import prepare

    ldf = spark.createDataFrame(left)
    rdf = spark.createDataFrame(right)
    prepared = prepare(spark, ldf, rdf, spec, target_rows=2_000_000, sample_rows=200_000)
    return _unsuffix(matched_frame(spark, ldf, rdf, prepared).toPandas())


RIGHT_SUFFIX = "__right"


def _unsuffix(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in ("healpix29", "healpix29" + RIGHT_SUFFIX) if c in frame.columns])
    return frame.rename(columns={c: c[: -len(RIGHT_SUFFIX)] for c in frame.columns if c.endswith(RIGHT_SUFFIX)})


def _no_right(left: pd.DataFrame, right: pd.DataFrame, spec, how: str) -> pd.DataFrame:
    """The result when the right side has no valid row: every left row unmatched."""
    out = left[[c for c in spec.left_columns if c in left.columns]].copy()
    if how == "anti":
        return out
    if how == "inner":
        return out.iloc[:0]
    for c in spec.right_columns:
        out[c + spec.right_suffix] = pd.Series([None] * len(out), dtype=right[c].dtype if c in right else object)
    out["separation_arcsec"] = np.nan
    return out


def read_reference(cat: ReferenceCatalogConfig) -> pd.DataFrame:
    """A reference catalog with its mapped columns checked (SkysiftError naming them when absent)."""
    from skysift.io.catalog_readers import read_catalog

    try:
        df = read_catalog(cat.path, cat.format)
    except FileNotFoundError:
        raise SkysiftError(f"reference catalog {cat.name}: {cat.path} not found") from None
    needed = [cat.ra_column, cat.dec_column] + list(cat.mapped().values())
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise SkysiftError(f"reference catalog {cat.name} ({cat.path}): mapped column(s) {', '.join(missing)} not "
                           f"found; expected {', '.join(dict.fromkeys(needed))}; columns found: {', '.join(map(str, df.columns))}")
    return df


def lookup_references(spark, galaxies: pd.DataFrame, catalogs: list[tuple[ReferenceCatalogConfig, pd.DataFrame]]
                      ) -> pd.DataFrame:
    """Galaxies with NAME_<role> / NAME_sep_arcsec of their nearest entry in each catalog (within its radius)
    and ``new``: absent from the anti-join of EVERY catalog."""
    out = galaxies.copy()
    new = np.ones(len(out), bool)
    base = out[["spec_id", "ra_deg", "dec_deg"]]
    for cat, df in catalogs:
        mapped = cat.mapped()
        right = df[[cat.ra_column, cat.dec_column] + list(dict.fromkeys(mapped.values()))].copy()
        right.columns = ["_ra", "_dec"] + [f"{cat.name}_{role}" for role in dict.fromkeys(mapped)]
        near = match(spark, base, right, radius_arcsec=cat.radius_arcsec, how="left", right_ra="_ra",
                     right_dec="_dec")
        near = near.drop(columns=[c for c in ("ra_deg", "dec_deg", "_ra", "_dec") if c in near])
        near = near.rename(columns={"separation_arcsec": f"{cat.name}_sep_arcsec"})
        out = out.merge(near, on="spec_id", how="left")
        alone = match(spark, base, right, radius_arcsec=cat.radius_arcsec, how="anti", right_ra="_ra",
                      right_dec="_dec")
        new &= out["spec_id"].isin(set(alone["spec_id"])).to_numpy()
    out["new"] = new
    return out


def classify_low_velocity(spark, low: pd.DataFrame, regions: pd.DataFrame | None, cfg: FindEmissionLinesConfig
                          ) -> pd.DataFrame:
    """The low-velocity set with its region (per-row radius match), ``hii`` = in a region OR the diagnostic,
    ``new_found`` (outside every region) and ``region_new`` (a region whose type is not the known one)."""
    from skysift.sky.galactic import icrs_to_galactic

    out = low.copy()
    rc = cfg.hii_regions
    out["region_name"] = None
    out["region_type"] = None
    out["region_radius_arcsec"] = np.nan
    out["region_sep_arcsec"] = np.nan
    if regions is not None and len(out):
        right = regions[[rc.ra_column, rc.dec_column, rc.name_column, rc.type_column, rc.radius_column]].copy()
        right.columns = ["_ra", "_dec", "region_name", "region_type", "region_radius_arcsec"]
        m = match(spark, out[["spec_id", "ra_deg", "dec_deg"]], right, radius_arcsec=1.0, how="inner",
                  right_ra="_ra", right_dec="_dec", radius_column="region_radius_arcsec")
        m = m.set_index("spec_id")
        for c in ("region_name", "region_type", "region_radius_arcsec"):
            out[c] = out["spec_id"].map(m[c]).to_numpy()
        out["region_sep_arcsec"] = out["spec_id"].map(m["separation_arcsec"]).to_numpy()
    out["in_region"] = out["region_name"].notna().to_numpy()
    diag = out["hii_diagnostic"].fillna(False).astype(bool).to_numpy() if len(out) else np.zeros(0, bool)
    out["hii"] = out["in_region"].to_numpy() | diag
    out["hii_class"] = np.where(out["hii"], "hii", "unclassified")
    out["new_found"] = (~out["in_region"]).astype(np.int8)
    out["region_new"] = out["in_region"] & (out["region_type"].astype(object) != rc.known_type)
    glon, glat = icrs_to_galactic(out["ra_deg"].to_numpy(float), out["dec_deg"].to_numpy(float)) if len(out) else ([], [])
    out["glon_deg"], out["glat_deg"] = glon, glat
    return out


def read_regions(cfg: FindEmissionLinesConfig) -> pd.DataFrame | None:
    """The region catalog (None when not configured), its columns checked."""
    from skysift.io.catalog_readers import read_catalog

    rc = cfg.hii_regions
    if not rc.path:
        return None
    try:
        df = read_catalog(rc.path, rc.format)
    except FileNotFoundError:
        raise SkysiftError(f"hii_regions: {rc.path} not found") from None
    needed = [rc.ra_column, rc.dec_column, rc.name_column, rc.type_column, rc.radius_column]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise SkysiftError(f"hii_regions {rc.path}: column(s) {', '.join(missing)} not found; expected "
                           f"{', '.join(needed)}; columns found: {', '.join(map(str, df.columns))}")
    return df


GALAXY_CATALOG_BASE = ("spec_id", "source_file", "ra_deg", "dec_deg", "new", "z_cl", "bpt_class", "z_rt",
                       "source_id", "n_source_spectra", "log_nii_ha", "log_nii_ha_err", "log_oiii_hb",
                       "log_oiii_hb_err", "n_cl_lines", "cl_quality")
"""Lu et al. 2022 Table 3: file_LA, ra, dec, newG, z_our, class_our (then per catalog id / type / z / zErr)."""
HII_CATALOG_COLUMNS = ("spec_id", "source_file", "region_name", "region_type", "glon_deg", "glat_deg",
                       "region_radius_arcsec", "log_nii_ha", "log_sii_ha", "new_found", "region_new", "ra_deg",
                       "dec_deg", "z_cl", "z_rt", "hii_diagnostic", "in_region", "source_id")
"""Lu et al. 2022 Table 2: file_LAMOST, WISE_Name, Catalog, GLong, GLat, Radius, log(N II/H), log(S II/H), New_found."""


def galaxy_catalog(galaxies: pd.DataFrame, catalogs: list[ReferenceCatalogConfig]) -> pd.DataFrame:
    """The galaxy catalog in the column order of the paper's Table 3."""
    cols = list(GALAXY_CATALOG_BASE)
    for cat in catalogs:
        cols += [f"{cat.name}_{role}" for role in dict.fromkeys(cat.mapped())] + [f"{cat.name}_sep_arcsec"]
    return galaxies[[c for c in cols if c in galaxies.columns]].reset_index(drop=True)


def hii_catalog(hii: pd.DataFrame) -> pd.DataFrame:
    """The H II table in the column order of the paper's Table 2 (H II spectra only)."""
    rows = hii[hii["hii"].astype(bool)]
    return rows[[c for c in HII_CATALOG_COLUMNS if c in rows.columns]].reset_index(drop=True)


def batches_of(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``rows`` rows."""
    for t in tables:
        yield from t.to_batches(max_chunksize=rows)
