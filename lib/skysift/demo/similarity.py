"""Demo pipeline ``similarity``: galaxy image similarity search (issue 17; Friberg, GalaxIDNet).

Galaxy10-like stamps (synthetic, 64 px binned g r z; their class labels are used for the report only)
  -> train-image-encoder (tiny profile), registered as models:/skysift-image-encoder@champion
  -> embed-images: the stamps + the real SDSS g r z cutout of ../shared/data (one images table); the real
     u-band cutouts of the imaging pipeline, one band only, all go to _rejects with the reason
  -> build-image-index -> search-images: a few stamps and a quarter turn of one (faiss + re-rank, recall@k
     against the exhaustive scan; query_symmetries=dihedral), and the real cutout found by its sky position
  -> contact sheets (figures) and the quality report (precision@k against raw-pixel PCA and the untrained
     network, rotation / flip invariance, the paper's loss and loose accuracy)
Reads from ``imaging``: the real u cutouts (demo.out / imaging_cutouts_real_u, when the real data exists).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.demo.context import DemoRun
from skysift.paths import REPO_ROOT

SECTION = "Image similarity"
STAMPS_PER_TASK = 64
QUERY_CLASSES = 4
"""Stamps of this many classes are queries (the first stamp of each), plus a quarter turn of the first."""
STAMP_RA_DEG, STAMP_DEC_DEG, STAMP_STEP_DEG = 30.0, -20.0, 0.01
"""The stamps have no sky position; they are placed on a line (0.01 deg apart) so that a position query works
on them too."""


def _draw_task(folder: str, seed: int, total: int, first_index: int, firsts: list[int]) -> dict:
    """One task: stamps ``firsts[i] .. + STAMPS_PER_TASK`` (binned to 64 px) written under ``folder``."""
    from skysift.synth.imaging.stamp_tables import write_stamps

    for first in firsts:
        write_stamps(folder, seed, min(STAMPS_PER_TASK, total - first), first=first, rows_per_file=STAMPS_PER_TASK)
    return {"stamps": sum(min(STAMPS_PER_TASK, total - f) for f in firsts)}


def draw_stamps(demo: DemoRun, folder: Path, count: int, seed: int) -> tuple[Path, Path]:
    """Draw ``count`` Galaxy10-like stamps on the demo's Spark session (~0.1 s a stamp); logged as a stage."""
    import time

    from skysift.runtime.tasks import run_tasks

    started = time.perf_counter()
    firsts = list(range(0, count, STAMPS_PER_TASK))
    stats = run_tasks(functools.partial(_draw_task, str(folder), seed, count), firsts,
                      min(len(firsts), demo.spark.sparkContext.defaultParallelism), demo.spark)
    n = sum(s["stamps"] for s in stats)
    demo.stages.append({"stage": "Galaxy10-like stamps (synthetic, 64 px g r z)", "job": "synth.imaging.write_stamps",
                        "seconds": round(time.perf_counter() - started, 1),
                        "summary": {"read": None, "written": n, "rejected": 0, "output": str(folder / "stamps")},
                        "note": "binned 256 -> 64 px stamps with field stars and neighbours; labels kept for the report"})
    return folder / "stamps", folder / "truth"


def images_table(stamps: Path, real: Path | None, out: Path) -> Path:
    """The images table searched: the stamps as cutouts (positions on a line) + the real SDSS g r z cutout."""
    from skysift.images.cutout_table import read_sdss_cutouts, stamps_with_positions

    table = pq.read_table(stamps)
    n = table.num_rows
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(stamps_with_positions(table, STAMP_RA_DEG + STAMP_STEP_DEG * np.arange(n), np.full(n, STAMP_DEC_DEG),
                                         "stamp-"), out / "part-0.parquet", row_group_size=128)
    if real is not None and (real / "sdss-imaging").is_dir():
        sdss, _ = read_sdss_cutouts(str(real / "sdss-imaging"))
        if sdss.num_rows:
            pq.write_table(sdss, out / "part-1.parquet")
    return out


def query_table(stamps: Path, truth: Path, out: Path) -> Path:
    """The first stamp of QUERY_CLASSES classes, and a quarter turn of the first (it should find its original)."""
    from skysift.images.symmetry import apply_symmetry

    table = pq.read_table(stamps)
    labels = pq.read_table(truth).to_pandas().set_index("stamp_id")["label"]
    first_of = labels.groupby(labels).head(1).index.to_numpy()[:QUERY_CLASSES]
    ids = table.column("stamp_id").to_numpy()
    rows = table.take(pa.array([int(np.flatnonzero(ids == i)[0]) for i in first_of]))
    s = int(rows.column("size_px")[0].as_py())
    px = np.asarray(rows.column("pixels")[0].values, np.float32).reshape(-1, s, s)
    turned = rows.slice(0, 1)
    turned = turned.set_column(turned.schema.get_field_index("pixels"), "pixels", pa.array(
        [apply_symmetry(px, 1, False).ravel()], type=rows.schema.field("pixels").type))
    both = pa.concat_tables([rows, turned])
    names = [f"stamp-{i}" for i in first_of] + [f"stamp-{first_of[0]}-turned-90"]
    both = both.append_column("image_id", pa.array(names))  # the id a search reports (index ids: stamp-<id>)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(both, out / "part-0.parquet")
    return out


def quality(train_dir: Path, stamps: Path, truth: Path, out: Path) -> tuple[str, str]:
    """report.image_quality on the stamps with the trained checkpoint and an untrained twin."""
    import json

    import torch

    from skysift.models.checkpoint import load_checkpoint
    from skysift.models.image_vit import GalaxyVit, ImageVitConfig
    from skysift.report.image_quality import quality_report, write_report
    from skysift.runtime.output import read_table
    from skysift.stages.train_image_encoder.tasks import load_images

    ckpt = load_checkpoint(train_dir / "best.pt")
    trained = GalaxyVit(ImageVitConfig(**ckpt["model_config"]))
    trained.load_state_dict(ckpt["model_state"])
    torch.manual_seed(0)
    untrained = GalaxyVit(ImageVitConfig(**ckpt["model_config"]))
    ids, images, _ = load_images(str(stamps), trained.cfg.image_size_px, "grz", 16, mask=trained.cfg.input_mask)
    labels = read_table(str(truth)).to_pandas().set_index("stamp_id").loc[ids.astype(int), "label"].to_numpy()
    summary = json.loads((train_dir / "train_summary.json").read_text())
    report = quality_report(trained, untrained, images, labels, k=10, query_step=4, train_summary=summary,
                            expanded=("rot30",), expanded_queries=16)
    return write_report(out, report)


def run(demo: DemoRun) -> None:
    cfg, out, real, stage = demo.cfg, demo.out, demo.real, demo.stage
    root = out / "similarity"
    stamps, truth = draw_stamps(demo, root / "stamps", cfg.similarity_stamps, cfg.seed)
    train_dir, images = root / "train", images_table(stamps, real, root / "images")
    stage("train the image encoder (tiny, self-supervised pairs)", "train-image-encoder", [
        "--config", REPO_ROOT / "conf" / "train_image_encoder_tiny.yaml", "--input", stamps, "--output", train_dir,
        "--set", f"epochs={cfg.similarity_epochs}", "--set", f"seed={cfg.seed}"],
        note="contrastive pairs from flips, rotations, perspective, crop, noise (labels never read); "
             "best validation loss registered as skysift-image-encoder@champion")
    model = "models:/skysift-image-encoder@champion"
    vectors, index = root / "vectors", root / "index"
    stage("embed the stamps + the real SDSS cutout", "embed-images", [
        "--input", images, "--output", vectors, "--set", f"model_uri={model}"])
    real_u = out / "imaging_cutouts_real_u"
    if real_u.is_dir():
        stage("embed the real u cutouts (one band: every row is rejected)", "embed-images", [
            "--input", real_u, "--output", root / "vectors_real_u", "--set", f"model_uri={model}"],
            note="the encoder needs g, r and z; the rejects name the missing bands")
    stage("build the image index (sharded faiss, pooled vectors)", "build-image-index", [
        "--input", vectors, "--output", index])
    queries, hits = query_table(stamps, truth, root / "queries"), root / "search"
    found = stage("search: stamps of 4 classes + a quarter turn of one", "search-images", [
        "--index", index, "--query", queries, "--output", hits, "--set", "mode=both",
        "--set", "query_symmetries=dihedral", "--set", f"model_uri={model}"],
        note="faiss candidates re-ranked by the combined score; recall@10 against the exhaustive scan")
    for i, png in enumerate(sorted((hits / "sheets").glob("query-*.png"))):
        demo.figure(SECTION, f"query {i + 1}: top 10 (faiss + re-rank)", png)
    demo.outputs.update({"image encoder run": train_dir, "image vectors": vectors, "image index": index,
                         "image search results": hits})
    if real is not None and (real / "sdss-imaging").is_dir():
        by_pos = root / "search_position"
        stage("search by sky position: the real SDSS cutout at 164.4311 +39.0359", "search-images", [
            "--index", index, "--ra", "164.4311", "--dec", "39.0359", "--output", by_pos, "--set", "k=8",
            "--set", f"model_uri={model}"],
            note="an extension (Friberg section 3.2: future work): the nearest cutout is embedded and searched")
        for png in sorted((by_pos / "sheets").glob("query-*.png")):
            demo.figure(SECTION, "query by position: the real SDSS cutout and its top 8", png)
    report_json, report_md = quality(train_dir, stamps, truth, root / "report")
    demo.outputs.update({"image similarity quality report": Path(report_md),
                         "image similarity quality report (JSON)": Path(report_json)})
    print(f"image search: recall@10 faiss vs exhaustive {found.get('recall_at_10_faiss_vs_exhaustive')}; "
          f"report {report_md}", flush=True)
