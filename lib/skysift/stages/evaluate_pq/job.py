"""`skysift evaluate-pq` driver: Lu et al. 2022's PQ validity test on a synthetic set (``synth.pq_validity``).

Database: ``n_stars`` F-type stars and ``n_galaxies`` emission-line galaxies on the paper's grid (3900 <= lambda
< 8900 A, 2 A, 2500 points), vectors normalised both ways of note A1; PQ with ``n_segments`` and each K of
``k_values``; reported: the share of galaxy queries whose top-1 is a galaxy, with the query inside and
outside the database (note A6), beside the paper's 58 / 87 / 96 % for K = 2 / 3 / 4.
"""
from __future__ import annotations

import pyarrow as pa

from skysift.config import to_dict
from skysift.io.tables import write_table_json
from skysift.kb.pq_index import search_vectors
from skysift.runtime.output import staged, write_parquet_atomic
from skysift.spectra.grid import GridConfig
from skysift.stages.evaluate_pq.config import EvaluatePQConfig
from skysift.stages.evaluate_pq.tasks import validity_rows
from skysift.synth.pq_validity import pq_validity_set

CONFIG = EvaluatePQConfig
NEEDS_SPARK = False
PAPER = {2: 0.58, 3: 0.87, 4: 0.96}
"""Lu et al. 2022 section 3.1.4: proportions of galaxy spectra searched out."""


def run(spark, cfg: EvaluatePQConfig) -> dict:
    """Build the set, run the experiment for every normalisation and K, write the table."""
    grid = GridConfig(3900.0, 8898.0, 2500)
    flux, _, is_galaxy = pq_validity_set(cfg.n_galaxies, cfg.n_stars, cfg.seed, grid)
    rows = []
    for norm in cfg.normalisations:
        vectors = search_vectors(flux, grid.wave_angstrom(), 2.0, norm)
        rows += validity_rows(vectors, is_galaxy, cfg.n_segments, cfg.k_values, cfg.metric, cfg.folds, cfg.seed,
                              cfg.kmeans_iterations, norm)
    for r in rows:
        r["paper_share"] = PAPER.get(r["k"])
    table = pa.Table.from_pylist(rows)
    with staged(cfg.output) as stage:
        write_parquet_atomic(f"{stage.uri}/part-00000.parquet", table)
        write_table_json(stage.uri, {"job": "evaluate-pq", "config": to_dict(cfg)})
    lines = [f"{r['normalisation']:>6} K={r['k']} {r['query']:>7}: {100 * r['share_top1_galaxy']:5.1f} %"
             + (f" (paper {100 * r['paper_share']:.0f} %)" if r["paper_share"] else "") for r in rows]
    print("\n".join(lines))
    return {"read": len(is_galaxy), "written": len(is_galaxy), "rejected": 0, "output": stage.output, "table": rows}
