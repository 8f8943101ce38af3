"""The masked-patch pre-training loop run by every DDP rank (or alone on one device).

Determinism is by construction so that a resumed run continues the same loss
curve: model init uses the shared seed; each step reseeds the mask generator and
the dropout RNG from (seed, step, rank); the data stream is a pure function of
the seed and is fast-forwarded past the batches already consumed. Only rank 0
logs to MLflow and writes checkpoints (``last.pt`` every ``checkpoint_every``
steps, ``best.pt`` whenever validation loss improves).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from skysift.io.parquet_stream import StreamSpec, loader
from skysift.models.checkpoint import load_checkpoint, save_checkpoint
from skysift.models.precision import autocast, matmul_precision
from skysift.models.spectrum_encoder import SpectrumEncoder, masked_mse, random_mask

LAST = "last.pt"
BEST = "best.pt"
SUMMARY = "train_summary.json"


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """lr multiplier: linear warm-up from ~0 to 1 over ``warmup_steps``, then cosine to ``min_ratio`` at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _device(cfg, local_rank: int) -> torch.device:
    want = cfg.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda":
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


@torch.no_grad()
def validate(model: SpectrumEncoder, cfg, device: torch.device) -> float:
    """Mean masked-MSE over up to ``val_batches`` validation batches with fixed masks (rank 0 only)."""
    # no shuffling: the same first val_batches batches every time, read as soon as they are full
    spec = StreamSpec(cfg.input, model.cfg.n_points, cfg.batch_size, "val", cfg.val_fraction,
                      cfg.batch_size, cfg.seed, 0, 1, repeat=False)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    gen = torch.Generator()
    for i, batch in enumerate(loader(spec)):
        if i >= cfg.val_batches:
            break
        flux = batch["flux"].to(device)
        gen.manual_seed(_step_seed(cfg.seed, 10**9 + i, 0))
        mask = random_mask(len(flux), model.cfg, gen, device)
        total += float(model.loss(flux, mask)) * len(flux)
        count += len(flux)
    model.train(was_training)
    return total / count if count else math.nan


def weight_fingerprint(model: torch.nn.Module) -> torch.Tensor:
    """Per tensor: sum, sum of squares and index-weighted sum, in float64 (equal iff weights equal, almost surely)."""
    parts = []
    for p in model.parameters():
        flat = p.detach().double().flatten().cpu()
        idx = torch.arange(1, flat.numel() + 1, dtype=torch.float64)
        parts.append(torch.stack([flat.sum(), flat.pow(2).sum(), (flat * idx).sum()]))
    return torch.cat(parts)


def replica_difference(model: torch.nn.Module, world: int) -> float:
    """Largest difference between this rank's weight fingerprint and any other rank's (0.0 = identical replicas)."""
    import torch.distributed as dist

    mine = weight_fingerprint(model)
    gathered = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather_object(gathered, mine)
    return float(max((g - mine).abs().max() for g in gathered))



def train_worker(cfg) -> dict[str, Any]:
    """Train on this process's rank; returns the same small summary on every rank."""
    rank, world, local_rank = _dist_env()
    device = _device(cfg, local_rank)
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        backend = cfg.backend if cfg.backend != "auto" else ("nccl" if device.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend)
    if device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if device.type == "cuda":
        torch.cuda.set_device(device)

    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = SpectrumEncoder(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, cfg.warmup_steps, cfg.total_steps, cfg.min_lr_ratio)
    )
    start_step, best_val, run_id, history = 0, math.inf, None, []
    if cfg.resume and (out / LAST).exists():
        ckpt = load_checkpoint(out / LAST, map_location=device)
        model.load_state_dict(ckpt["model_state"])
        opt.load_state_dict(ckpt["optim_state"])
        sched.load_state_dict(ckpt["sched_state"])
        start_step, best_val, run_id = ckpt["step"], ckpt["best_val"], ckpt.get("mlflow_run_id")
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    end_step = cfg.total_steps if cfg.stop_after_steps is None else min(cfg.total_steps, cfg.stop_after_steps)
    mlf = run = None
    if rank == 0 and cfg.mlflow.enabled:
        from skysift.runtime import tracking

        uri = tracking.tracking_uri()
        mlf = tracking.mlflow_module(uri)
        exp_id = tracking.experiment_id(mlf, cfg.mlflow.experiment, uri)
        run = mlf.start_run(run_id=run_id, experiment_id=None if run_id else exp_id)
        run_id = run.info.run_id
        if start_step == 0:
            from skysift.config import to_dict

            mlf.log_params(tracking.flat_params(to_dict(cfg)))
            mlf.log_param("n_parameters", sum(p.numel() for p in model.parameters()))
            mlf.log_param("world_size", world)

    spec = StreamSpec(cfg.input, cfg.model.n_points, cfg.batch_size, "train", cfg.val_fraction,
                      cfg.shuffle_buffer, cfg.seed, rank, world, repeat=True)
    batches = iter(loader(spec, cfg.loader_workers))
    for _ in range(start_step):  # fast-forward: the stream is deterministic, so resume sees the same batches
        next(batches)

    bar = None
    if rank == 0 and cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=end_step, initial=start_step, desc="pretrain", unit="step", file=sys.stderr,
                   mininterval=1.0, dynamic_ncols=True)
    gen = torch.Generator()
    model.train()
    t0, seen = time.perf_counter(), 0
    for step in range(start_step, end_step):
        flux = next(batches)["flux"].to(device, non_blocking=True)
        gen.manual_seed(_step_seed(cfg.seed, step, rank))
        mask = random_mask(len(flux), cfg.model, gen, device)
        torch.manual_seed(_step_seed(cfg.seed + 1, step, rank))
        with matmul_precision(device, cfg.precision):
            with autocast(device, cfg.precision):
                pred = net(flux, mask)
            loss = masked_mse(pred.float(), model.patches(flux), mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        seen += len(flux)
        last_step = step + 1 == end_step
        if (step + 1) % cfg.log_every == 0 or last_step:
            loss_val = loss.detach()
            if distributed:
                torch.distributed.all_reduce(loss_val)
                loss_val = loss_val / world
            loss_f = float(loss_val)
            history.append((step + 1, loss_f))
            if rank == 0:
                rate = seen * world / max(1e-9, time.perf_counter() - t0)
                lr = sched.get_last_lr()[0]
                if mlf is not None:
                    mlf.log_metrics({"loss": loss_f, "lr": lr, "spectra_per_s": rate}, step=step + 1)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_f:.4g}", spectra_s=f"{rate:.0f}", refresh=False)
        if bar is not None:
            bar.update(1)
        if rank == 0 and ((step + 1) % cfg.val_every == 0 or last_step) and cfg.val_fraction > 0:
            val = validate(model, cfg, device)
            if mlf is not None:
                mlf.log_metric("val_loss", val, step=step + 1)
            if val < best_val:
                best_val = val
                save_checkpoint(out / BEST, {"model_state": model.state_dict(), "model_config": cfg.model.to_dict(),
                                   "step": step + 1, "val_loss": val})
        if rank == 0 and ((step + 1) % cfg.checkpoint_every == 0 or last_step):
            save_checkpoint(out / LAST, {"model_state": model.state_dict(), "optim_state": opt.state_dict(),
                               "sched_state": sched.state_dict(), "step": step + 1, "best_val": best_val,
                               "mlflow_run_id": run_id, "model_config": cfg.model.to_dict()})
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t0
    summary: dict[str, Any] = {"steps": end_step, "start_step": start_step, "world_size": world,
                               "device": device.type, "train_seconds": round(elapsed, 3),
                               "spectra_per_s": round(seen * world / max(elapsed, 1e-9), 2)}
    if distributed:
        summary["replica_max_abs_diff"] = replica_difference(model, world)
    if rank == 0:
        if cfg.val_fraction == 0:
            save_checkpoint(out / BEST, {"model_state": model.state_dict(), "model_config": cfg.model.to_dict(),
                               "step": end_step, "val_loss": math.nan})
        summary.update({"best_val_loss": best_val, "history": history, "mlflow_run_id": run_id})
        if mlf is not None:
            # a run stopped before total_steps is a partial run meant to be resumed: no model is registered
            summary.update(_finish_mlflow(mlf, cfg, out, best_val, end_step, end_step == cfg.total_steps))
            mlf.end_run()
        (out / SUMMARY).write_text(json.dumps(summary, default=str))
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return {"steps": end_step, "output": str(out)}


def _finish_mlflow(mlf, cfg, out: Path, best_val: float, end_step: int, complete: bool) -> dict[str, Any]:
    """Log the best checkpoint as a model and register it (complete runs only)."""
    from skysift.models.spectrum_encoder import EncoderConfig
    from skysift.runtime import tracking

    run = mlf.active_run()
    mlf.log_metric("best_val_loss", best_val if math.isfinite(best_val) else -1.0, step=end_step)
    result: dict[str, Any] = {"mlflow_tracking_uri": mlf.get_tracking_uri(),
                              "mlflow_run": tracking.run_url(mlf.get_tracking_uri(), run.info.experiment_id,
                                                             run.info.run_id)}
    if not (cfg.mlflow.log_model and complete):
        return result
    ckpt = load_checkpoint(out / BEST)
    best = SpectrumEncoder(EncoderConfig(**ckpt["model_config"]))
    best.load_state_dict(ckpt["model_state"])
    info = tracking.log_encoder(mlf, best, cfg.pooling, {"best_step": ckpt["step"]})
    result["model_uri"] = info.model_uri
    if cfg.mlflow.register:
        val = best_val if math.isfinite(best_val) else math.inf
        result.update(tracking.register_encoder(
            mlf, info.model_uri, cfg.mlflow.registered_model, cfg.mlflow.alias, val,
            {"grid_id": cfg.model.grid_id, "embed_dim": cfg.model.embed_dim, "n_points": cfg.model.n_points,
             "profile": cfg.model.profile, "run_id": run.info.run_id},
        ))
    return result
