"""`skysift search-images` driver: query images (a file, or a sky position) -> their top-k similar images.

The queries are embedded on the driver with the model the index was built with (another version is
refused, naming both). ``faiss`` mode (skysift): the pooled vectors find ``n_candidates`` images per query
in the sharded index (``kb.search``, shards cached per worker), re-ranked by Friberg's combined score on
the stored patch features (``kb.patch_search.rerank``). ``exhaustive`` mode (Friberg section 3.6): the
combined score against every indexed image, its feature files cut into tasks (``runtime.tasks``: Spark, or
in-process without it). ``both`` runs the two and reports recall@k of the faiss path against the scan.
``query_symmetries=dihedral`` (skysift) embeds each query under the 8 symmetries of the square and scores
every candidate by its best symmetry (candidates: the union of the 8 pooled vectors' faiss results).
Output: the matches table (k rows per query), a contact-sheet PNG per query (sheets/), _rejects.

Resume (RELIABILITY.md), the exhaustive scan only: its tasks write no files, their top-k lists are their
stats rows, so a task's completion marker holds its whole result. A rerun after a kill (``resume=true``,
the default) with the same config, query features (a digest of what the driver embedded), index content
(``kb_version``) and task count takes those from the markers and scans only the other feature files. The
faiss path and the writing run again (seconds).
"""
from __future__ import annotations

import functools
import hashlib
import time
from typing import Any

import numpy as np
import pyarrow as pa

from skysift.runtime.errors import SkysiftError
from skysift.stages.search_images.config import SearchImagesConfig
from skysift.stages.search_images.tasks import (exhaustive_task, find_by_position, matched_images, prepare_queries,
                                                read_query_table)

CONFIG = SearchImagesConfig


def check_model(meta, index: str, cfg: SearchImagesConfig):
    """Resolve cfg.model_uri and refuse an index built with another version; returns the encoder."""
    from skysift.runtime import tracking

    uri = tracking.tracking_uri() if cfg.model_uri.startswith(("models:", "runs:")) else None
    info = tracking.resolve_model(cfg.model_uri, uri)
    version = None if info["version"] is None else str(info["version"])
    if cfg.check_model_version:
        same = (version == meta.model_version) if (version is not None or meta.model_version is not None) \
            else (cfg.model_uri == meta.model_uri)
        if not same:
            raise SkysiftError(
                f"index {index} was built with model version {meta.model_version!r} ({meta.model_uri}), but "
                f"model_uri {cfg.model_uri} is version {version!r}; rebuild the index with this model or "
                f"--set model_uri=models:/<name>/{meta.model_version}")
    return info


def _device(want: str) -> str:
    import torch

    return "cuda" if want == "auto" and torch.cuda.is_available() else "cpu"


def run(spark, cfg: SearchImagesConfig) -> dict[str, Any]:
    """Answer every query; read = written (queries answered) + rejected (unusable query images)."""
    from skysift.config import ConfigError
    from skysift.kb.patch_search import entry_features, index_entries, merge_best, rerank
    from skysift.kb.search import load_shard_set, search_shards, search_spec
    from skysift.kb.store import read_meta
    from skysift.metrics.retrieval import recall_at_k
    from skysift.images.symmetry import dihedral_stack
    from skysift.models.image_vit import ImageVitConfig, embed_images
    from skysift.report.contact_sheet import contact_sheet_png
    from skysift.runtime import tracking
    from skysift.runtime.filesystem import join, write_bytes
    from skysift.runtime.output import staged, write_parquet_atomic
    from skysift.runtime.rejects import write_rejects
    from skysift.runtime.resume import resume_key, resumed_count
    from skysift.runtime.tasks import run_tasks, task_count
    from skysift.schema import IMAGE_MATCHES

    meta = read_meta(cfg.index)
    if meta.id_column != "image_id":
        raise ConfigError(f"index {cfg.index}: not an image index (id column {meta.id_column!r}); build one with "
                          "`skysift build-image-index`")
    info = check_model(meta, cfg.index, cfg)
    encoder = ImageVitConfig(**info["meta"]["model"])
    size, mask = encoder.image_size_px, encoder.input_mask  # queries and sheets read as the index's images were
    position = None
    if cfg.query:
        queries = prepare_queries(read_query_table(cfg.query, cfg.bands, cfg.query_pixel_scale_arcsec), cfg.query, size,
                                  cfg.bands, cfg.min_size_px, mask)
    else:
        cutouts = cfg.cutouts or meta.build.get("images") or ""
        if not cutouts:
            raise ConfigError("a position query needs --cutouts TABLE (the index does not name its images table)")
        row, sep = find_by_position(cutouts, cfg.ra, cfg.dec, cfg.match_radius_arcsec)
        queries = prepare_queries(row, cutouts, size, cfg.bands, cfg.min_size_px, mask)
        position = {"ra": cfg.ra, "dec": cfg.dec, "cutout": queries.ids[0] if queries.ids else None,
                    "separation_arcsec": round(sep, 3)}
    device = _device(cfg.device)
    model = tracking.load_image_encoder(info, device)
    t_embed = time.perf_counter()
    n_sym = 8 if cfg.query_symmetries == "dihedral" else 1
    images = dihedral_stack(queries.images).reshape(-1, *queries.images.shape[1:]) if n_sym > 1 else queries.images
    feats, vecs = embed_images(model, images, 16, device, cfg.precision)
    if n_sym > 1:  # (Q, 8, P, F): rerank and the scan score each image's best symmetry
        feats = feats.reshape(len(queries.ids), n_sym, *feats.shape[1:])
    embed_s = time.perf_counter() - t_embed
    entries = entry_features(cfg.index, meta)
    k = min(cfg.k, meta.n_entries)
    scans = cfg.mode in ("exhaustive", "both") and len(feats)
    items = entries.by_file() if scans else []
    parallelism = spark.sparkContext.defaultParallelism if spark is not None else 1
    n_tasks = (cfg.exhaustive_tasks or task_count(len(items), 1, parallelism)) if scans else 0
    key = (resume_key(cfg, queries=hashlib.sha256(np.ascontiguousarray(feats.numpy()).tobytes()).hexdigest(),
                      index_version=meta.kb_version, n_tasks=n_tasks) if scans else None)  # faiss only: no resume
    with staged(cfg.output, resume=cfg.resume and bool(scans), resume_key=key) as stage:
        timing, results, recall, scanned = {}, {}, None, []
        if cfg.mode in ("faiss", "both") and len(feats):
            t = time.perf_counter()
            n_cand = min(cfg.n_candidates, meta.n_entries)
            shard_set = load_shard_set(cfg.index, meta, search_spec(meta), n_cand)
            _, gid = search_shards(np.ascontiguousarray(vecs.numpy()), shard_set, n_cand)
            gid = gid.reshape(len(feats), -1)  # a query's candidates from all its symmetries
            results["faiss"] = rerank(feats, gid, entries, k, cfg.weights)
            timing["faiss_seconds"] = round(time.perf_counter() - t, 4)
        if scans:
            t = time.perf_counter()
            task = functools.partial(exhaustive_task, feats.numpy(), k, cfg.weights)
            scanned = run_tasks(task, items, n_tasks, spark, markers=stage.markers("exhaustive"))
            parts = [{name: np.asarray(v) for name, v in r.items() if name != "_resumed"} for r in scanned]
            results["exhaustive"] = merge_best(parts, k)
            timing["exhaustive_seconds"] = round(time.perf_counter() - t, 4)
        if cfg.mode == "both" and len(feats):
            recall = recall_at_k(results["faiss"]["ids"], results["exhaustive"]["ids"])
        mode = "exhaustive" if cfg.mode == "exhaustive" else "faiss"
        ids_table = index_entries(cfg.index, meta, ["image_id", "source_file"])
        image_ids = np.asarray(ids_table.column("image_id").to_pylist(), dtype=object)
        n_rejected = write_rejects(stage.uri, queries.rejects, name="part-00000.parquet")
        written = 0
        if len(feats):
            best = results[mode]
            q_idx, r_idx = np.nonzero(best["ids"] >= 0)
            table = pa.Table.from_pydict({
                "query_id": [queries.ids[i] for i in q_idx], "rank": (r_idx + 1).astype(np.int16),
                "image_id": image_ids[best["ids"][q_idx, r_idx]].tolist(),
                **{name: best[name][q_idx, r_idx].astype(np.float32) for name in ("similarity", "cos", "l2", "l3")},
                "mode": [mode] * len(q_idx), "index_version": [meta.kb_version] * len(q_idx),
            }, schema=IMAGE_MATCHES)
            write_parquet_atomic(join(stage.uri, "part-00000.parquet"), table, schema=IMAGE_MATCHES)
            written = len(queries.ids)
            n_sheets = min(cfg.contact_sheets, len(queries.ids))
            if n_sheets:
                want = np.unique(best["ids"][:n_sheets][best["ids"][:n_sheets] >= 0])
                pictures = matched_images(ids_table.take(pa.array(want)), size, cfg.bands, mask)
                for i in range(n_sheets):
                    ok = best["ids"][i] >= 0
                    mids = image_ids[best["ids"][i][ok]]
                    titles = [f"{j + 1}. {m}\nsim {s:.3f}" for j, (m, s) in enumerate(zip(mids, best["similarity"][i][ok]))]
                    blank = np.zeros((size, size, 3), np.float32)
                    png = contact_sheet_png(queries.images[i].transpose(1, 2, 0), f"query {queries.ids[i]}",
                                            [pictures.get(m, blank) for m in mids], titles,
                                            title=f"{mode}: top {k} of {meta.n_entries} (index {meta.kb_version})")
                    write_bytes(join(stage.uri, "sheets", f"query-{i:04d}.png"), png)
    summary = {"read": int(queries.read), "written": int(written), "rejected": int(n_rejected),
               "output": stage.output, "mode": cfg.mode, "k": k, "index_entries": meta.n_entries,
               "index_version": meta.kb_version, "model_version": meta.model_version,
               "candidates": min(cfg.n_candidates, meta.n_entries), "query_symmetries": n_sym,
               "embed_seconds": round(embed_s, 4), "tasks": len(scanned), "resumed_tasks": resumed_count(scanned),
               **timing}
    if recall is not None:
        summary[f"recall_at_{k}_faiss_vs_exhaustive"] = round(recall, 4)
    if position is not None:
        summary["position"] = position
    if len(feats) and cfg.mode != "both":
        summary["top1"] = [image_ids[i] if i >= 0 else None for i in results[mode]["ids"][:, 0]][:10]
    return summary
