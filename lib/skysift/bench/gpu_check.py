"""GPU figures of the encoder paths, run where a GPU is lent: `python -m skysift.bench.gpu_check --out DIR`.

Needs only torch, numpy, pandas and pyarrow (no Spark, no MLflow), so it runs on a bare GPU machine
with PYTHONPATH=lib. It exercises the same code the jobs run on a GPU executor or driver:

- ``model``: the paper model's batched spectra/s (fp32, tf32 and bf16, several batch sizes);
- ``per_row``: the per-row model call loop on the same GPU (the embed benchmark's baseline);
- ``embed_batch``: embed-spectra's executor function (``infer.embed.EmbedBatch``, the mapInPandas body)
  on pandas batches of toy spectra, device picked by ``spark.task_device``; its spectra/s against the
  per-row loop, and its embeddings checked against a CPU float32 reference;
- ``image_embed``: embed-images' kernel (``models.image_vit.embed_images``, what its executor task calls per
  row group) on the paper-profile GalaxIDNet ViT (224 px, 18.06M parameters) at fp32 / tf32 / bf16, its
  images/s against the one-image-per-forward loop on the same device, pooled vectors checked against a CPU
  float32 reference;
- ``pretrain``: the ``pretrain`` job (``train.job.launch``) for a few hundred steps at the paper's batch 32
  (fp32, tf32, bf16), giving the hours the paper's 500,000 steps take on this card.

Every section is timed and guarded: one failing section is reported and the rest still run; the JSON
(``gpu_check.json``) is rewritten after each section so a killed run still returns what it measured.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from skysift.models.checkpoint import load_checkpoint
from skysift.models.precision import PRECISIONS
from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder
from skysift.bench.embed_bench import _save_model, forward_flops, model_throughput, per_row_baseline

GRID = "lin:3850:9000:3688"
N_POINTS = 3688


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def env_section(device: str) -> dict[str, Any]:
    out: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(), "device": device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        out.update({"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                    "multiprocessors": props.multi_processor_count, "capability": f"{props.major}.{props.minor}"})
    return out


def model_section(device: str, batches: tuple[int, ...], n_batches: int) -> dict[str, Any]:
    rows = []
    for precision in PRECISIONS:
        for b in batches:
            r = model_throughput("paper", N_POINTS, b, n_batches, device, precision)
            rows.append(r)
            print(f"model paper {precision} batch={b}: {r['spectra_s']} spectra/s "
                  f"({r['achieved_gflop_s']} GFLOP/s)", flush=True)
    best = max(rows, key=lambda r: r["spectra_s"])
    return {"rows": rows, "best": best,
            "gflop_per_spectrum": round(forward_flops(EncoderConfig(profile="paper", n_points=N_POINTS,
                                                                    grid_id=GRID)) / 1e9, 3)}


def _toy_flux(n: int, seed: int) -> np.ndarray:
    from skysift.synth.toy_spectra import toy_flux

    return toy_flux(n, GRID, seed)[0].astype(np.float32)


def per_row_section(device: str, model: SpectrumEncoder, flux: np.ndarray) -> dict[str, Any]:
    model = model.to(device)
    with torch.inference_mode():
        model.embed(torch.from_numpy(flux[:1]).to(device))
    _sync(device)
    seconds = per_row_baseline(model, flux, device)
    rate = len(flux) / seconds
    print(f"per-row loop paper fp32: {rate:.1f} spectra/s over {len(flux)} rows", flush=True)
    return {"rows": len(flux), "seconds": round(seconds, 3), "spectra_s": round(rate, 2)}


def embed_batch_section(device: str, ckpt: Path, flux: np.ndarray, batch_size: int,
                        per_row_spectra_s: float | None) -> dict[str, Any]:
    from skysift.stages.embed_spectra.tasks import EmbedBatch

    pdf = pd.DataFrame({"spec_id": np.arange(len(flux), dtype=np.int64), "flux": list(flux)})
    out: dict[str, Any] = {"rows": len(flux), "batch_size": batch_size}
    embeddings = {}
    for precision in PRECISIONS:
        fn = EmbedBatch(model_uri=str(ckpt), model_version=None, model_dir=str(ckpt), tracking_uri=None,
                        n_points=N_POINTS, pooling="mean", batch_size=batch_size, device="auto",
                        precision=precision)
        fn(pdf.iloc[:batch_size])  # load the model, warm the kernels
        _sync(device)
        t0 = time.perf_counter()
        res = fn(pdf)
        _sync(device)
        seconds = time.perf_counter() - t0
        assert res["reject_reason"].isna().all(), res["reject_reason"].dropna().head()
        embeddings[precision] = np.stack(res["embedding"].to_numpy())
        _, used = fn.model()
        rate = len(flux) / seconds
        out[precision] = {"seconds": round(seconds, 3), "spectra_s": round(rate, 2), "device_used": used}
        if per_row_spectra_s:
            out[precision]["ratio_vs_per_row"] = round(rate / per_row_spectra_s, 2)
        print(f"EmbedBatch {precision} on {used}: {rate:.1f} spectra/s", flush=True)
    # correctness: GPU fp32 against a CPU float32 reference, bf16 against fp32
    ref_model = SpectrumEncoder(EncoderConfig(profile="paper", n_points=N_POINTS, grid_id=GRID, dropout=0.0))
    ref_model.load_state_dict(load_checkpoint(ckpt)["model_state"])
    ref_model.eval()
    n_ref = 8
    with torch.inference_mode():
        ref = ref_model.embed(torch.from_numpy(flux[:n_ref])).numpy()

    def rel(a, b):
        return float(np.max(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))

    out["max_rel_l2_fp32_vs_cpu"] = rel(embeddings["fp32"][:n_ref], ref)
    for precision in PRECISIONS[1:]:
        out[f"max_rel_l2_{precision}_vs_fp32"] = rel(embeddings[precision], embeddings["fp32"])
    print("EmbedBatch check (max relative L2): " + ", ".join(f"{k}={v:.2e}" for k, v in out.items()
                                                            if k.startswith("max_rel")), flush=True)
    return out


def image_embed_section(device: str, n_images: int, batch_size: int, n_loop: int, profile: str = "paper") -> dict[str, Any]:
    """embed-images' kernel on ``n_images`` random images at each precision vs the per-image fp32 loop."""
    from skysift.models.image_vit import GalaxyVit, ImageVitConfig, embed_images, pooled_vector

    torch.manual_seed(0)
    model = GalaxyVit(ImageVitConfig(profile=profile)).eval().to(device)
    cfg = model.cfg
    x = np.random.default_rng(5).random((n_images, 3, cfg.image_size_px, cfg.image_size_px), dtype=np.float32)
    out: dict[str, Any] = {"profile": profile, "image_size_px": cfg.image_size_px, "n_images": n_images,
                           "batch_size": batch_size}
    vecs = {}
    with torch.no_grad():
        embed_images(model, x[:batch_size], batch_size, device)  # warm-up (kernels, allocator)
        for precision in PRECISIONS:
            _sync(device)
            t0 = time.perf_counter()
            _, v = embed_images(model, x, batch_size, device, precision)
            _sync(device)
            dt = time.perf_counter() - t0
            vecs[precision] = v.numpy()
            out[precision] = {"seconds": round(dt, 3), "images_s": round(n_images / dt, 1)}
        _sync(device)
        t0 = time.perf_counter()
        for i in range(n_loop):
            pooled_vector(model(torch.from_numpy(x[i:i + 1]).to(device)).float()).cpu()
        _sync(device)
        out["per_image_loop_fp32_images_s"] = round(n_loop / (time.perf_counter() - t0), 1)
        ref = pooled_vector(model.cpu()(torch.from_numpy(x[:4])).float()).numpy()
    for precision in PRECISIONS:
        out[precision]["ratio_vs_per_image_loop"] = round(out[precision]["images_s"] / out["per_image_loop_fp32_images_s"], 2)
        out[precision]["max_abs_pooled_diff_vs_cpu_fp32"] = float(np.abs(vecs[precision][:4] - ref).max())
    print(f"image_embed: {json.dumps(out)}", flush=True)
    return out


def pretrain_section(work: Path, steps: int, n_spectra: int, profile: str = "paper") -> dict[str, Any]:
    from skysift.config import load_config
    from skysift.stages.pretrain.job import PretrainConfig, launch
    from skysift.synth.toy_spectra import write_toy_spectra

    table = write_toy_spectra(work / "spectra", n_spectra, GRID, seed=3, row_group_rows=256)
    out: dict[str, Any] = {"steps": steps, "batch_size": 32, "profile": profile}
    for precision in PRECISIONS:
        cfg = load_config(PretrainConfig, None, [
            f"input={table}", f"output={work / ('pretrain_' + precision)}", f"model.profile={profile}",
            f"model.n_points={N_POINTS}", f"model.grid_id={GRID}", "batch_size=32", "lr=1e-4",
            "warmup_steps=10", "total_steps=500000", f"stop_after_steps={steps}", "val_every=1000000",
            "val_batches=2", "val_fraction=0", "checkpoint_every=1000000", "log_every=50",
            "progress=false", "mlflow.enabled=false", f"precision={precision}",
        ])
        t0 = time.perf_counter()
        summary = launch(cfg)
        wall = time.perf_counter() - t0
        rate = summary["spectra_per_s"]
        steps_s = rate / 32
        out[precision] = {"spectra_s": rate, "steps_s": round(steps_s, 2), "wall_s": round(wall, 1),
                          "device": summary["device"], "first_loss": summary["history"][0][1],
                          "last_loss": summary["history"][-1][1],
                          "hours_for_500k_steps": round(500_000 / steps_s / 3600, 1)}
        print(f"pretrain {profile} {precision}: {steps_s:.2f} steps/s ({rate:.0f} spectra/s) -> "
              f"{out[precision]['hours_for_500k_steps']} h for 500k steps; loss "
              f"{out[precision]['first_loss']:.4f} -> {out[precision]['last_loss']:.4f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/gpu_check", help="folder for gpu_check.json and scratch files")
    ap.add_argument("--budget-s", type=float, default=300.0, help="skip sections that start after this")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a CPU dry run of this script)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    q = args.quick
    result: dict[str, Any] = {}
    start = time.perf_counter()
    state: dict[str, Any] = {}

    def section(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        if time.perf_counter() - start > args.budget_s:
            result[name] = {"skipped": "time budget spent"}
        else:
            t0 = time.perf_counter()
            try:
                result[name] = fn()
            except Exception as exc:  # noqa: BLE001 - report and go on with the next section
                result[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                print(f"{name} FAILED: {exc}", flush=True)
            result[name]["section_s"] = round(time.perf_counter() - t0, 1)
        (out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))

    ckpt = out / "paper_model.pt"
    section("env", lambda: env_section(device))
    section("model", lambda: model_section(device, (2,) if q else (32, 128, 256), 1 if q else 5))
    state["model"] = _save_model("paper", GRID, N_POINTS, ckpt)
    state["flux"] = _toy_flux(16 if q else 4096, 11)
    section("per_row", lambda: per_row_section(device, state["model"], state["flux"][: 4 if q else 200]))
    per_row_rate = result["per_row"].get("spectra_s")
    section("embed_batch", lambda: embed_batch_section(device, ckpt, state["flux"], 8 if q else 256, per_row_rate))
    section("image_embed", lambda: image_embed_section(device, 8 if q else 2048, 4 if q else 128, 2 if q else 64,
                                                       "tiny" if q else "paper"))
    section("pretrain", lambda: pretrain_section(out / "pretrain", 3 if q else 200, 400 if q else 4096,
                                                        "tiny" if q else "paper"))
    result["total_s"] = round(time.perf_counter() - start, 1)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: v for k, v in result.items() if k != "model"}, default=str)[:4000], flush=True)
    return result


if __name__ == "__main__":
    main()
