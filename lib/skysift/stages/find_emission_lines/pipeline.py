"""The driver's steps of `skysift find-emission-lines` (``job.run`` calls them in order). Spark is optional
everywhere: the executor steps are ``runtime.tasks`` tasks over slices of the input's Parquet row groups
(``work_items``), which each task reads with pyarrow (the 2,500-point flux and ivar lists never enter the
JVM); with ``spark=None`` the same tasks run one after the other in this process (the sequential twin the
tests use). The row groups are fixed by the files alone, so the tasks are also the units of resume, with the
trained PQ runs (``build_indexes(markers=)``).
"""
from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skysift.io.tables import read_table_json
from skysift.kb.pq import PQCodebook, encode
from skysift.kb.pq_index import PQRun, search_vectors, train_index, train_ivfpq, write_index, write_ivfpq
from skysift.runtime.errors import SkysiftError
from skysift.runtime.filesystem import list_files, read_bytes, remove_tree, write_bytes
from skysift.runtime.output import open_dataset, read_table, write_parquet_atomic
from skysift.stages.find_emission_lines import tasks as T
from skysift.stages.find_emission_lines.config import FindEmissionLinesConfig



# ----------------------------------------------------------------------------------------------- inputs


def input_grid(path: str) -> T.Grid:
    """The spectra table's grid from its _table.json, else from its first row (SkysiftError if neither)."""
    props = read_table_json(path)
    grid_id = props.get("grid_id")
    if not grid_id:
        try:
            ds = open_dataset(path)
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable table is the same user error
            raise SkysiftError(f"input {path}: not a spectra table ({exc})") from None
        if "grid_id" not in ds.schema.names:
            raise SkysiftError(f"input {path}: no grid_id (neither _table.json nor a grid_id column); "
                               "ingest the spectra with skysift ingest-spectra first")
        head = ds.head(1, columns=["grid_id"])
        if head.num_rows == 0:
            raise SkysiftError(f"input {path}: the spectra table is empty")
        grid_id = head.column("grid_id")[0].as_py()
    return T.grid_of(grid_id, f"input {path}")


@dataclass(frozen=True)
class Templates:
    """The template spectra with a finite published z, on the input's grid."""

    ids: np.ndarray
    """spec_id per template."""
    z: np.ndarray
    """Published redshift per template."""
    flux: np.ndarray
    """(n, n_pix) float32 flux."""


def read_templates(path: str, grid: T.Grid) -> Templates:
    """Templates with a finite z; SkysiftError for a table without z, on another grid, or with no usable row."""
    try:
        ds = open_dataset(path)
    except Exception as exc:  # noqa: BLE001
        raise SkysiftError(f"templates {path}: not a spectra table ({exc})") from None
    T.check_templates_schema(ds.schema.names, path)
    table = ds.to_table(columns=["spec_id", "z", "flux", "grid_id"])
    grids = set(pc.unique(table.column("grid_id")).to_pylist()) - {None}
    if grids - {grid.grid_id}:
        raise SkysiftError(f"templates {path}: grid {sorted(grids)} differs from the input's {grid.grid_id}; "
                           "ingest both with the same grid")
    flux, ok = T.batch_matrix(table.column("flux"), len(grid.wave_angstrom))
    z = table.column("z").to_numpy(zero_copy_only=False).astype(np.float64)
    keep = ok & np.isfinite(z) & np.isfinite(flux).any(axis=1)
    if not keep.any():
        raise SkysiftError(f"templates {path}: no row has a finite z and a flux on the grid; the templates must "
                           "carry their published redshift in column z")
    ids = table.column("spec_id").to_numpy(zero_copy_only=False)
    return Templates(ids[keep], z[keep], flux[keep])


# ----------------------------------------------------------------------------------------------- stage 1


def work_items(cfg: FindEmissionLinesConfig, spark) -> tuple[list, int]:
    """(the input's Parquet row groups, the task count): the line-search and scoring tasks' units, fixed by
    the files alone (``runtime.row_groups``), so that a rerun cuts the same tasks (resume)."""
    from skysift.runtime.row_groups import row_group_tasks, row_groups, table_file_uris

    items = row_groups(table_file_uris(cfg.input))
    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    return items, row_group_tasks(items, cfg.rows_per_task, parallelism)


def part_name(first: int) -> str:
    """File name of the task whose slice starts at row group ``first`` (a retried task overwrites its own)."""
    return f"part-{first:05d}"


def line_search(spark, cfg: FindEmissionLinesConfig, staging: str, grid: T.Grid, items: list, n_tasks: int,
                markers: str | None = None) -> list[dict]:
    """Lines, redshifts and rejects of every input spectrum; one stats row per task (``runtime.tasks``: each
    task reads its row groups with pyarrow; ``markers``: resume)."""
    from skysift.runtime.tasks import run_tasks

    task = functools.partial(_search_task, staging, cfg, grid)
    return run_tasks(task, items, n_tasks, spark, markers=markers)


def _search_task(staging: str, cfg: FindEmissionLinesConfig, grid: T.Grid, first: int, part: list) -> dict:
    from skysift.runtime.row_groups import read_row_groups

    batches = (b for _, b in read_row_groups(part, list(T.INPUT_COLUMNS), cfg.arrow_batch_rows))
    return T.search_partition(staging, cfg, grid, part_name(first), batches)


# ----------------------------------------------------------------------------------------------- stage 2


def build_indexes(spark, cfg: FindEmissionLinesConfig, staging: str, grid: T.Grid, runs: tuple[PQRun, ...],
                  templates: Templates, markers: str | None = None) -> dict:
    """Train and write the index of every run under ``staging/pq_index``; returns seconds per run.

    ``markers`` (resume): the runs are work items ``0..len(runs)-1`` of ``runtime.resume`` (the config, hence
    the runs and their order, is in the resume key); a run is marked finished (``finish_item``) after all of
    its index files, and a run with a marker (``completed_items``) is not trained again: its seconds come from
    the marker, and ``resumed_runs`` counts them."""
    from skysift.runtime.resume import completed_items, finish_item

    root = f"{staging}/pq_index"
    write_parquet_atomic(f"{root}/templates/part-00000.parquet", pa.table({"spec_id": pa.array(templates.ids, pa.string()),
                                                                "z": pa.array(templates.z, pa.float64())}))
    done = completed_items(markers, len(runs)) if markers else {}
    timing = {}
    for item, run in enumerate(runs):
        if item in done:
            if done[item].get("run") != run.name:  # the key holds the runs: a mismatch is a foreign folder
                raise SkysiftError(f"{markers}: marker of PQ run {item} is {done[item].get('run')!r}, "
                                   f"expected {run.name!r}; rerun with --set resume=false")
            timing[run.name] = done[item]["seconds"]
            continue
        started = time.perf_counter()
        _train_run(spark, cfg, root, grid, run, templates)
        timing[run.name] = round(time.perf_counter() - started, 3)
        finish_item(markers, item, len(runs), {"run": run.name, "seconds": timing[run.name]})
    return {"train_seconds": timing, "templates": int(len(templates.ids)), "train_on": cfg.pq.train_on,
            "index": cfg.pq.index, "resumed_runs": len(done)}


def _train_run(spark, cfg: FindEmissionLinesConfig, root: str, grid: T.Grid, run: PQRun, templates: Templates) -> None:
    """Train one run's index from the templates and write its files under ``root/<slug>``."""
    x = search_vectors(templates.flux, grid.wave_angstrom, run.step_angstrom, cfg.pq.normalisation)
    if cfg.pq.index == "ivfpq":
        write_ivfpq(root, run, train_ivfpq(x, run, cfg.pq.ivf_lists, cfg.pq.ivf_refine > 0, cfg.pq.seed,
                                           cfg.pq.kmeans_iterations, cfg.driver_threads))
        return
    if cfg.pq.train_on == "driver":
        codebook, codes = train_index(x, run, cfg.pq.seed, cfg.pq.kmeans_iterations, cfg.driver_threads)
    else:
        codebook = _train_on_tasks(spark, cfg, root, run, x)
        codes = encode(codebook, x)
    write_index(root, run, codebook, codes)


def _train_on_tasks(spark, cfg: FindEmissionLinesConfig, root: str, run: PQRun, x: np.ndarray) -> PQCodebook:
    """Per-segment K-means in ``runtime.tasks`` tasks over slices of segments; the driver assembles them."""
    from skysift.runtime.tasks import run_tasks, task_count

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(x), allow_pickle=False)
    vectors_uri = f"{root}/{run.slug}/_vectors.npy"
    write_bytes(vectors_uri, buf.getvalue())
    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    n_tasks = task_count(run.n_segments, cfg.pq.segments_per_task, parallelism)
    task = functools.partial(T.train_segment_task, root, vectors_uri, run, cfg.pq.seed, cfg.pq.kmeans_iterations)
    run_tasks(task, list(range(run.n_segments)), n_tasks, spark)
    parts = sorted(list_files(f"{root}/{run.slug}/_segments", ".npy"))
    cents = np.concatenate([np.load(io.BytesIO(read_bytes(p)), allow_pickle=False) for p in parts])
    remove_tree(f"{root}/{run.slug}/_segments")
    remove_tree(vectors_uri)
    if cents.shape[0] != run.n_segments:
        raise RuntimeError(f"PQ {run.name}: {cents.shape[0]} segments trained, expected {run.n_segments}")
    return PQCodebook(np.ascontiguousarray(cents))


def scoring_setup(cfg: FindEmissionLinesConfig, staging: str, grid: T.Grid, runs) -> T.ScoringSetup:
    """What scoring tasks need."""
    return T.ScoringSetup(f"{staging}/pq_index", tuple(runs), grid, cfg.pq.normalisation, cfg.pq.metric,
                          cfg.pq.query_batch_rows, cfg.pq.index, cfg.pq.ivf_probe, cfg.pq.ivf_refine)


def score(spark, cfg: FindEmissionLinesConfig, staging: str, setup: T.ScoringSetup, query_ids: set, items: list,
          n_tasks: int, markers: str | None = None) -> list[dict]:
    """``pq_candidates`` of the spectra in ``query_ids`` (only those with a CL redshift, as the paper); the
    same row-group tasks as the line search, each keeping the rows of its groups that are queries."""
    from skysift.runtime.tasks import run_tasks

    wanted = pa.array(sorted(query_ids), pa.string())
    task = functools.partial(_score_task, staging, setup, wanted, cfg.arrow_batch_rows)
    return run_tasks(task, items, n_tasks, spark, markers=markers)


def _score_task(staging: str, setup: T.ScoringSetup, wanted: pa.Array, batch_rows: int, first: int, part: list) -> dict:
    from skysift.runtime.row_groups import read_row_groups

    picked = (b.filter(pc.is_in(b.column("spec_id"), value_set=wanted))
              for _, b in read_row_groups(part, ["spec_id", "flux"], batch_rows))
    return T.score_partition(staging, setup, part_name(first), picked)


# ----------------------------------------------------------------------------------------------- stages 3-5


def confirm(cfg: FindEmissionLinesConfig, staging: str, with_z: pd.DataFrame, runs) -> pd.DataFrame:
    """Spectra whose z_cl a PQ run's z_rt confirms, with ``inspection_pass`` and ``low_velocity``."""
    cand = read_table(f"{staging}/pq_candidates").to_pandas()
    merged = T.merge_candidates(cand, with_z, runs, cfg.pq.z_agreement)
    confirmed = with_z.merge(merged, on="spec_id", how="inner")
    confirmed = confirmed[confirmed["n_configs_agree"] > 0].reset_index(drop=True)
    lines = read_table(f"{staging}/lines", columns=["spec_id", "cl_line", "center_angstrom", "start_angstrom",
                                                   "end_angstrom"]).to_pandas()
    stats = T.cl_line_stats(lines, cfg)
    confirmed = confirmed.join(stats, on="spec_id")
    confirmed["inspection_pass"] = T.inspect(confirmed, stats, cfg)
    zl = cfg.low_velocity_z
    confirmed["low_velocity"] = (confirmed["z_cl"] < zl) & (confirmed["z_rt"] < zl)
    return confirmed


def _sources(frame: pd.DataFrame, radius_arcsec: float) -> pd.DataFrame:
    """``source_id`` (spec_id of the group's first row) and ``n_source_spectra`` by friends of friends."""
    from skysift.xmatch.fof import fof_group_labels

    out = frame.copy()
    if len(out) == 0:
        out["source_id"] = pd.Series([], dtype=object)
        out["n_source_spectra"] = pd.Series([], dtype=np.int32)
        return out
    labels = fof_group_labels(out["ra_deg"].to_numpy(float), out["dec_deg"].to_numpy(float), radius_arcsec)
    out["source_id"] = out["spec_id"].to_numpy()[labels]
    out["n_source_spectra"] = np.bincount(labels, minlength=len(out))[labels].astype(np.int32)
    return out


def classify(spark, cfg: FindEmissionLinesConfig, confirmed: pd.DataFrame, regions, refs):
    """(hii table: the low-velocity set classified; galaxies table: BPT class, reference look-ups, new)."""
    kept = confirmed[confirmed["inspection_pass"]].reset_index(drop=True)
    low = kept[kept["low_velocity"]].reset_index(drop=True)
    gal = kept[~kept["low_velocity"]].reset_index(drop=True)
    # every frame is on the driver already: small cross-matches run there (cfg.spark_match_min_rows)
    rows = len(kept) + (len(regions) if regions is not None else 0) + sum(len(df) for _, df in refs)
    on = spark if rows >= cfg.spark_match_min_rows else None
    hii = _sources(T.classify_low_velocity(on, low, regions, cfg), cfg.dedupe_radius_arcsec)
    galaxies = _sources(T.lookup_references(on, gal, refs), cfg.dedupe_radius_arcsec)
    return hii, galaxies


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A stage frame as an Arrow table; all-null object columns (an empty stage) become strings, not nulls."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields))


def write_catalogs(cfg: FindEmissionLinesConfig, staging: str, galaxies: pd.DataFrame, hii: pd.DataFrame) -> dict:
    """The galaxy catalog (Table 3) and H II table (Table 2) in every format of ``catalog_formats``."""
    from skysift.io.catalog_writers import write_catalog

    layouts = {}
    for name, frame in (("galaxies", T.galaxy_catalog(galaxies, list(cfg.reference_catalogs))),
                        ("hii", T.hii_catalog(hii))):
        table = to_arrow(frame)
        for fmt in cfg.catalog_formats:
            if fmt == "hats" and table.num_rows == 0:
                layouts[f"{name}_{fmt}"] = {"format": fmt, "rows": 0, "note": "empty: no HATS catalog written"}
                continue
            layouts[f"{name}_{fmt}"] = write_catalog(table, f"{staging}/catalogs/{name}/{fmt}", fmt,
                                                     ra_column="ra_deg", dec_column="dec_deg", name=name)
    return layouts


def summarise(cfg: FindEmissionLinesConfig, line_stats, with_z, confirmed, hii, galaxies, index, seconds) -> dict:
    """The job summary: read / written / rejected / other outcomes and the count after every stage."""
    searched = int(sum(r["searched"] for r in line_stats))
    rejected = int(sum(r["rejected"] for r in line_stats))
    kept = confirmed[confirmed["inspection_pass"]]
    n_hii = int(hii["hii"].sum()) if len(hii) else 0
    zl = cfg.low_velocity_z
    straddle = int(((confirmed["z_cl"] < zl) != (confirmed["z_rt"] < zl)).sum())
    new_sources = int(galaxies.groupby("source_id")["new"].all().sum()) if len(galaxies) else 0
    stages = {
        "searched": searched,
        "with_line_redshift": int(len(with_z)),
        "pq_candidates": int(len(confirmed)),
        "confirmed": int(len(kept)),
        "low_velocity": int(len(hii)),
        "galaxies": int(len(galaxies)),
        "hii": n_hii,
        "unclassified": int(len(hii) - n_hii),
        "known_galaxies": int((~galaxies["new"]).sum()) if len(galaxies) else 0,
        "new_galaxies": int(galaxies["new"].sum()) if len(galaxies) else 0,
        "galaxy_sources": int(galaxies["source_id"].nunique()) if len(galaxies) else 0,
        "new_galaxy_sources": new_sources,
        "hii_regions_hit": int(hii.loc[hii["in_region"], "region_name"].nunique()) if len(hii) else 0,
        "new_hii_regions": int(hii.loc[hii["region_new"].astype(bool), "region_name"].nunique()) if len(hii) else 0,
    }
    written = stages["galaxies"] + stages["hii"]
    return {
        "read": searched + rejected,
        "written": written,
        "rejected": rejected,
        "other_outcomes": {
            "no_line_redshift": searched - stages["with_line_redshift"],
            "pq_z_disagree": stages["with_line_redshift"] - stages["pq_candidates"],
            "inspection_rejected": stages["pq_candidates"] - stages["confirmed"],
            "unclassified_low_velocity": stages["unclassified"],
        },
        "stages": stages,
        "bpt": galaxies["bpt_class"].fillna("none").value_counts().to_dict() if len(galaxies) else {},
        "straddling_500_kms": straddle,
        "pq": index,
        "stage_seconds": {k: round(v, 3) for k, v in seconds.items()},
        "note": "read = written (galaxies + H II spectra) + rejected + other outcomes; stages: Lu et al. 2022 flow",
    }
