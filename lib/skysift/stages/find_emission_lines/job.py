"""`skysift find-emission-lines` driver: Lu et al. 2022's Process I on any spectra table (engine: spectra/, kb/, xmatch/).

Stages, each a table under OUTPUT (the summary's ``stages`` gives the count after each, the paper's flow chart):

1. ``lines`` / ``redshifts`` (executors, one Arrow batch at a time): median continuum, sliding window, CL
   redshift from >= 3 agreeing lines, line fluxes and ratios at z_cl; spectra without a usable pixel or off
   the grid go to ``_rejects``.
2. ``pq_index`` / ``pq_candidates``: codebooks of every configuration trained from the templates (driver, or
   executor tasks over slices of segments: ``pq.train_on``), written as files that executors load once by URI
   (``runtime.cache``); only spectra with a CL redshift are queried, each run gives its top-1 template.
3. ``confirmed``: the runs merged per spectrum, kept when a run's z_rt agrees with z_cl (< 0.001), plus
   ``inspection_pass``, the automatic substitute for visual inspection (``inspection``; its effect on purity
   is measured on the synthetic pool in tests/stages/find_emission_lines and BENCHMARKS.md).
4. ``hii``: the low-velocity set (z_cl and z_rt < 500 km/s / c): region by per-row-radius cross-match, H II =
   in a region OR the diagnostic, else unclassified. ``galaxies``: the rest, with the BPT class, the nearest
   entry of every reference catalog and ``new`` from the anti-join against all of them; spectra merged into
   unique sources (friends of friends, ``dedupe_radius_arcsec``).
5. ``catalogs/galaxies`` and ``catalogs/hii``: paper Tables 3 and 2 in ``catalog_formats`` (Parquet, FITS, HATS).
6. ``report/report.html`` (``report: true``): the stage counts as the paper's flow chart, the BPT diagram,
   z_cl against z_rt and the catalogs' z, H II velocities, seconds per stage (``report.py``).

Resume (RELIABILITY.md): the line search and the scoring are ``runtime.tasks`` tasks over the input's Parquet
row groups with completion markers, and every trained PQ run leaves one; a rerun after a kill with the same
config, input and template files and task count keeps those and redoes the rest (``--set resume=false``:
afresh). Stages 3-6 run again whole (they need every spectrum), after what a killed run left of them is deleted.

Summary: read = searched + rejected spectra; written = spectra in the two catalogs; other_outcomes: no line
redshift, PQ z disagreement, failed inspection, unclassified low-velocity.
"""
from __future__ import annotations

import time

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.runtime.output import RESUME, read_table, staged, write_parquet_atomic
from skysift.runtime.resume import files_fingerprint, keep_only, resume_key, resumed_count
from skysift.runtime.row_groups import table_file_uris
from skysift.stages.find_emission_lines import pipeline as P
from skysift.stages.find_emission_lines.config import FindEmissionLinesConfig
from skysift.stages.find_emission_lines.report import write_report
from skysift.stages.find_emission_lines.tasks import check_search_setup, read_reference, read_regions

CONFIG = FindEmissionLinesConfig


def run(spark, cfg: FindEmissionLinesConfig) -> dict:
    """Run the whole pipeline from ``cfg.input`` into ``cfg.output`` (spark=None: the sequential twin)."""
    grid = P.input_grid(cfg.input)
    runs = cfg.pq.runs()
    templates = P.read_templates(cfg.templates, grid)  # a template table without z fails here
    check_search_setup(grid, runs, len(templates.ids), cfg.pq.index, cfg.pq.ivf_lists)  # M does not divide, K > templates
    regions = read_regions(cfg)
    refs = [(c, read_reference(c)) for c in cfg.reference_catalogs]  # missing mapped columns fail here
    seconds: dict[str, float] = {}
    items, n_tasks = P.work_items(cfg, spark)
    key = resume_key(cfg, inputs=files_fingerprint(table_file_uris(cfg.input)),
                     templates=files_fingerprint(table_file_uris(cfg.templates)), n_tasks=n_tasks)
    with staged(cfg.output, resume=cfg.resume, resume_key=key) as stage:
        s = stage.uri
        if stage.resumed:
            keep_only(s, KEPT_ON_RESUME)
        t = time.perf_counter()
        line_stats = P.line_search(spark, cfg, s, grid, items, n_tasks, markers=stage.markers("lines"))
        seconds["lines_and_redshifts"] = time.perf_counter() - t
        red = read_table(f"{s}/redshifts").to_pandas()
        with_z = red[red["z_cl"].notna()].reset_index(drop=True)
        t = time.perf_counter()
        index = P.build_indexes(spark, cfg, s, grid, runs, templates, markers=stage.markers("pq_index"))
        seconds["pq_training"] = time.perf_counter() - t
        t = time.perf_counter()
        score_stats = P.score(spark, cfg, s, P.scoring_setup(cfg, s, grid, runs), set(with_z["spec_id"]), items,
                              n_tasks, markers=stage.markers("scoring"))
        seconds["pq_scoring"] = time.perf_counter() - t
        t = time.perf_counter()
        confirmed = P.confirm(cfg, s, with_z, runs)
        hii, galaxies = P.classify(spark, cfg, confirmed, regions, refs)
        for name, frame in (("confirmed", confirmed), ("hii", hii), ("galaxies", galaxies)):
            write_parquet_atomic(f"{s}/{name}/part-00000.parquet", P.to_arrow(frame))
        layouts = P.write_catalogs(cfg, s, galaxies, hii)
        seconds["classification_and_catalogs"] = time.perf_counter() - t
        summary = P.summarise(cfg, line_stats, with_z, confirmed, hii, galaxies, index, seconds)
        summary["output"] = stage.output
        summary["tasks"] = len(line_stats) + len(score_stats)  # line-search + scoring tasks
        summary["resumed_tasks"] = resumed_count(line_stats) + resumed_count(score_stats)
        summary["resumed_pq_runs"] = index["resumed_runs"]
        if cfg.report:
            rel = write_report(s, summary, galaxies, hii, confirmed, [c.name for c in cfg.reference_catalogs])
            summary["report"] = rel.replace(s, stage.output, 1)
        summary["catalogs"] = {k: {**v, "path": str(v["path"]).replace(s, stage.output, 1)} if "path" in v else v
                               for k, v in layouts.items()}
        write_table_json(s, {"job": "find-emission-lines", "grid_id": grid.grid_id, "config": to_dict(cfg),
                             "summary": summary})
    return summary



KEPT_ON_RESUME = ("lines", "redshifts", "_rejects", "pq_index", "pq_candidates", RESUME)
"""What a resumed staging folder keeps (``runtime.resume.keep_only``): the resumable stages' tables (their
complete tasks have markers under _resume/; an unfinished task's files are replaced by its rerun, same
names) and the line search's rejects. Confirmed, hii, galaxies, catalogs, report and _table.json go: the
rerun writes them again whole."""
