"""`skysift benchmark image-embed`: embed-images on Spark vs the one-process loop a user would write.

Both sides embed the same images table with the same encoder checkpoint (a freshly initialised model of
the chosen profile: throughput does not depend on the weights) and produce the same outputs: per image
the pooled vector (Parquet) and the (P, F) patch features (float16 .npy), after the same input step
(``images.network_input``: Lupton stretch, resize). Input: Galaxy10-like binned stamps (64 px, g r z),
``DRAWN`` of them drawn (~0.1 s a stamp) and repeated to ``n_images`` rows (throughput does not depend on
the pixels either), in row groups of 256.

- ours = `skysift embed-images` on the Spark session (one model per Python worker, one torch thread per
  task core), after a warm-up run on a small table (every worker has imported torch and loaded the
  model: the steady state of a long job);
- baseline = one Python process: read the table, ``network_input`` it in row-group batches, run the
  encoder in batches of ``cpu_batch_size`` with as many torch threads as Spark has cores, write the
  vectors and the features;
- one-thread = the same loop on one torch thread (``ratio_vs_one_thread``: what one core gives; on a
  machine shared with other work a multi-threaded torch process loses more than independent one-thread
  workers, see bench/embed_bench.py).

Both give the same vectors (``max_abs_diff_vs_loop``). Timed interleaved ``repeats`` times, best of each
kept, the 1-minute load average before every round in the result. Prints ``image-embed: ours=…s
baseline=…s ratio=…`` (ratio = baseline time / our time). On a machine with CUDA, ``gpu_images_s`` is the
bare encoder's batched images/s there (card named).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DRAWN = 256
"""Stamps actually drawn; the table repeats them."""
ROW_GROUP = 256


def write_images(folder: Path, n_images: int, seed: int) -> str:
    """A stamps table of ``n_images`` rows (the DRAWN distinct stamps repeated, ids unique)."""
    from skysift.synth.imaging.stamp_tables import write_stamps

    stamps_dir, _ = write_stamps(folder / "drawn", seed, min(DRAWN, n_images), rows_per_file=DRAWN)
    base = pq.read_table(stamps_dir)
    out = folder / "images"
    out.mkdir(parents=True, exist_ok=True)
    reps = -(-n_images // base.num_rows)
    table = pa.concat_tables([base] * reps).slice(0, n_images)
    table = table.set_column(table.schema.get_field_index("stamp_id"), "stamp_id",
                             pa.array(np.arange(n_images, dtype=table.schema.field("stamp_id").type.to_pandas_dtype())))
    pq.write_table(table, out / "part-00000000.parquet", row_group_size=ROW_GROUP)
    return str(out)


def loop_baseline(model, table: str, out: Path, image_size_px: int, batch: int, threads: int) -> float:
    """Seconds for the one-process loop: read, network_input per row group, embed, write vectors + features."""
    import torch

    from skysift.images.network_input import network_input
    from skysift.models.image_vit import embed_images

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        pf = pq.ParquetFile(Path(table) / "part-00000000.parquet")
        ids, vecs, feats = [], [], []
        for g in range(pf.metadata.num_row_groups):
            t = pf.read_row_group(g)
            good, x, _ = network_input(t, image_size_px)
            f, v = embed_images(model, x, batch)
            ids += [str(s) for s in np.asarray(t.column("stamp_id"))[good]]
            vecs.append(v.numpy())
            feats.append(f.numpy().astype(np.float16))
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "features.npy", np.concatenate(feats))
        vec = np.concatenate(vecs)
        pq.write_table(pa.table({"image_id": ids, "embedding": pa.array(list(vec), type=pa.list_(pa.float32()))}),
                       out / "vectors.parquet")
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(saved)


def gpu_throughput(model, image_size_px: int, batch: int = 256, n_batches: int = 5) -> dict[str, Any] | None:
    """Batched images/s of the bare encoder on CUDA (None without a GPU)."""
    import torch

    if not torch.cuda.is_available():
        return None
    m = model.to("cuda").eval()
    x = torch.rand(batch, 3, image_size_px, image_size_px, device="cuda")
    with torch.inference_mode():
        m(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n_batches):
            m(x)
        torch.cuda.synchronize()
    return {"gpu": torch.cuda.get_device_name(), "gpu_images_s": round(batch * n_batches / (time.perf_counter() - t0), 1)}


def run_image_embed_benchmark(spark, workdir: Path, n_images: int = 8192, profile: str = "tiny", seed: int = 7,
                              repeats: int = 3, cpu_batch_size: int = 16, line=None) -> dict[str, Any]:
    """Time embed-images on ``spark`` and the one-process loops on the same images, interleaved."""
    import torch

    from skysift.config import load_config
    from skysift.models.checkpoint import load_checkpoint
    from skysift.models.image_vit import GalaxyVit, ImageVitConfig
    from skysift.stages.embed_images import job as embed
    from skysift.testing.images import checkpoint

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    table = write_images(work, n_images, seed)
    warm = write_images(work / "warm", 64, seed + 1)
    ckpt = checkpoint(str(work / "model.pt"), profile=profile)
    cfg_model = ImageVitConfig(profile=profile)
    torch.manual_seed(0)
    model = GalaxyVit(cfg_model).eval()
    model.load_state_dict(load_checkpoint(ckpt)["model_state"])
    cores = int(spark.sparkContext.defaultParallelism) if spark is not None else 1
    threads = cores * int(spark.conf.get("spark.task.cpus", "1")) if spark is not None else 1

    def ours(src: str, out: str) -> float:
        t0 = time.perf_counter()
        s = embed.run(spark, load_config(embed.CONFIG, None, [
            f"input={src}", f"output={work / out}", f"model_uri={ckpt}", "device=cpu",
            f"cpu_batch_size={cpu_batch_size}", f"rows_per_task={ROW_GROUP}"]))
        assert s["written"] == s["read"], s
        return time.perf_counter() - t0

    ours(warm, "warm_vectors")
    loop_baseline(model, warm, work / "warm_loop", cfg_model.image_size_px, cpu_batch_size, threads)
    ours_s, base_s, one_s, loads = [], [], [], []
    for _ in range(repeats):
        loads.append(round(os.getloadavg()[0], 2))
        base_s.append(loop_baseline(model, table, work / "loop", cfg_model.image_size_px, cpu_batch_size, threads))
        one_s.append(loop_baseline(model, table, work / "loop", cfg_model.image_size_px, cpu_batch_size, 1))
        ours_s.append(ours(table, "vectors"))
    loads.append(round(os.getloadavg()[0], 2))
    o, b, one = min(ours_s), min(base_s), min(one_s)
    from skysift.runtime.output import read_table

    mine = read_table(str(work / "vectors"), ["image_id", "embedding"]).to_pandas().set_index("image_id")
    loop = pq.read_table(work / "loop" / "vectors.parquet").to_pandas().set_index("image_id")
    diff = float(np.abs(np.stack(mine.loc[loop.index, "embedding"]) - np.stack(loop["embedding"])).max())
    extra: dict[str, Any] = {
        "profile": profile, "n_images": n_images, "threads": threads, "cpu_batch_size": cpu_batch_size,
        "ours_images_s": round(n_images / o, 1), "baseline_images_s": round(n_images / b, 1),
        "one_thread_images_s": round(n_images / one, 1), "ratio_vs_one_thread": round(one / o, 3),
        "ours_all_s": [round(t, 3) for t in ours_s], "baseline_all_s": [round(t, 3) for t in base_s],
        "one_thread_all_s": [round(t, 3) for t in one_s], "load_avg_1min": f"{min(loads)}-{max(loads)}",
        "repeats": repeats, "max_abs_diff_vs_loop": diff}
    gpu = gpu_throughput(model, cfg_model.image_size_px)
    if gpu:
        extra.update(gpu)
    if line is None:
        return {"ours": o, "baseline": b, "ratio": round(b / o, 3), **extra}
    return line("image-embed", o, b, **extra)


def bench_image_embed(spark, cfg, workdir: Path, line) -> dict:
    """The case of `skysift benchmark image-embed` (n_rows: images, default 8,192; tiny profile)."""
    return run_image_embed_benchmark(spark, Path(workdir), n_images=cfg.n_rows or 8192, seed=cfg.seed, line=line)
