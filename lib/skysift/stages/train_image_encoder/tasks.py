"""The contrastive training loop of `skysift train-image-encoder` and its validation metrics (no Spark).

The images table is read once on the driver, made into the network's input (``images.network_input``:
the Lupton colour stretch to 8 bits, as Galaxy10's JPEGs) and held as uint8 (N, 3, S, S): 18k paper-size
images are 2.7 GB. A seeded permutation splits it train / test / validation (0.8 / 0.1 / 0.1, the author's
``random_split``). Each step makes one pair per image (``models.image_augment.make_pairs``), runs both
sides through the encoder in one batch, scores them with the combined similarity and takes the contrastive
loss. After each epoch, on the validation images: the loss on pairs drawn with a fixed seed (the same
pairs every epoch) and the mini-search loose accuracy. The best validation loss is checkpointed
(best.pt); at the end that checkpoint is scored on the test split, logged to MLflow and registered.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skysift.models.checkpoint import load_checkpoint, save_checkpoint
from skysift.models.image_augment import POSITIVE_POOL, apply_random, make_pairs, pool
from skysift.models.image_similarity import combined_similarity, contrastive_loss
from skysift.models.image_vit import GalaxyVit, ImageVitConfig
from skysift.models.precision import autocast, matmul_precision

BEST = "best.pt"
SUMMARY = "train_summary.json"
def load_images(uri: str, image_size_px: int, bands: str, min_size_px: int, max_images: int = 0,
                mask: str = "none"):
    """(ids (n,) str, images (n, 3, S, S) uint8, rejects [Reject]) of an images table, under the encoder's
    ``input_mask`` ``mask``."""
    from skysift.images.network_input import id_column, network_input
    from skysift.runtime.output import open_dataset
    from skysift.runtime.rejects import Reject

    ds = open_dataset(uri)
    idc = id_column(ds.schema.names)
    ids, parts, rejects, seen = [], [], [], 0
    for batch in ds.to_batches(columns=[idc, "bands", "size_px", "pixels"], batch_size=256):
        if max_images and seen >= max_images:
            break
        import pyarrow as pa

        table = pa.Table.from_batches([batch])
        if max_images:
            table = table.slice(0, max_images - seen)
        seen += table.num_rows
        good, x, reasons = network_input(table, image_size_px, bands, min_size_px, mask)
        row_ids = [str(v) for v in table.column(idc).to_pylist()]
        rejects += [Reject(uri, "train-image-encoder", r, row_index=None, spec_id=row_ids[i])
                    for i, r in enumerate(reasons) if r is not None]
        ids += [row_ids[i] for i in good]
        parts.append(np.round(x * 255.0).astype(np.uint8))
    images = np.concatenate(parts) if parts else np.zeros((0, 3, image_size_px, image_size_px), np.uint8)
    return np.array(ids, dtype=object), images, rejects


def split_indices(n: int, fractions, seed: int) -> dict[str, np.ndarray]:
    """{'train', 'test', 'val'} index arrays of a seeded permutation of n rows (train / test / val order)."""
    perm = np.random.default_rng([seed, 1]).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_test = int(round(fractions[1] * n))
    return {"train": np.sort(perm[:n_train]), "test": np.sort(perm[n_train:n_train + n_test]),
            "val": np.sort(perm[n_train + n_test:])}


def pools(cfg) -> tuple[dict, dict]:
    """(positive pool, negative pool) of a training config's transform names."""
    return pool(cfg.positive_transforms), pool(cfg.negative_transforms)


def _float(images: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0)


def pair_loss(model: GalaxyVit, anchors, others, y, weights, margin: float, precision: str = "fp32",
              device="cpu", negative_margin: float = 0.0) -> torch.Tensor:
    """The contrastive loss of one batch of pairs (both sides in one forward pass)."""
    with autocast(device, precision):
        feats = model(torch.cat([anchors, others]))
    fa, fb = feats.float().chunk(2)
    return contrastive_loss(combined_similarity(fa, fb, weights), y.to(fa.device), margin, negative_margin)


@torch.no_grad()
def validation_loss(model: GalaxyVit, images: np.ndarray, cfg, device) -> float:
    """Mean contrastive loss over the pairs of ``images`` (one per image, the same every epoch: fixed seed)."""
    if len(images) < 2:
        return math.nan
    model.eval()
    rng = np.random.default_rng([cfg.seed, 2])
    total, count = 0.0, 0
    for start in range(0, len(images), cfg.batch_size):
        idx = np.arange(start, min(start + cfg.batch_size, len(images)))
        batch = _float(images[idx], device)
        a, b, y = make_pairs(batch, len(images), lambda j: _float(images[j:j + 1], device)[0], idx, rng,
                             cfg.n_transforms, cfg.positive_fraction, *pools(cfg))
        total += float(pair_loss(model, a, b, y, cfg.weights, cfg.margin, "fp32", device,
                                 cfg.negative_margin)) * len(idx)
        count += len(idx)
    return total / count


@torch.no_grad()
def loose_accuracy(model: GalaxyVit, images: np.ndarray, batch_size: int, n_transforms: int, weights,
                   seed: int, device="cpu", all_anchors: bool = False,
                   positive_pool=POSITIVE_POOL) -> dict[str, Any]:
    """Friberg's mini-search loose accuracy (section 3.5): per batch of ``batch_size`` images, the first
    image's positive-transformed copy and the other batch_size - 1 images (untransformed) are ranked by
    their combined similarity to the first image; a hit when the copy ranks first. Only full batches count,
    so chance is exactly 1 / batch_size. ``all_anchors``: every image of a batch takes the anchor's place
    (batch_size trials per batch; a lower-variance variant, skysift's). The copy is made with
    ``positive_pool`` (the training run's)."""
    model.eval()
    rng = np.random.default_rng([seed, 3])
    hits = trials = 0
    for start in range(0, len(images) - batch_size + 1, batch_size):
        x = _float(images[start:start + batch_size], device)
        feats = model(x).float()
        anchors = range(batch_size) if all_anchors else range(1)
        for i in anchors:
            copy = apply_random(x[i].clone(), positive_pool, n_transforms, rng)
            cand = torch.cat([model(copy[None]).float(), feats[[j for j in range(batch_size) if j != i]]])
            sims = combined_similarity(feats[i][None], cand, weights)
            hits += int(int(torch.argmax(sims)) == 0)
            trials += 1
    return {"accuracy": hits / trials if trials else math.nan, "trials": trials, "batch_size": batch_size,
            "chance": 1.0 / batch_size}


def _device(want: str) -> torch.device:
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(want)



def train(cfg) -> dict[str, Any]:
    """Train, validate every epoch, checkpoint the best validation loss, score it on the test split, log and
    register it; returns the summary (also written to OUTPUT/train_summary.json)."""
    from skysift.runtime.errors import SkysiftError
    from skysift.runtime.rejects import write_rejects

    device = _device(cfg.device)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ids, images, rejects = load_images(cfg.input, cfg.model.image_size_px, cfg.bands, cfg.min_size_px,
                                       cfg.max_images, cfg.model.input_mask)
    n_rejected = write_rejects(str(out), rejects, name="part-00000.parquet")
    parts = split_indices(len(images), cfg.split, cfg.seed)
    if len(parts["train"]) < 2 or len(parts["val"]) < cfg.mini_search_batch:
        raise SkysiftError(
            f"{cfg.input}: {len(images)} usable images give {len(parts['train'])} training and {len(parts['val'])} "
            f"validation images; training needs >= 2 and the mini-search >= mini_search_batch={cfg.mini_search_batch}")
    train_x, val_x, test_x = (images[parts[k]] for k in ("train", "val", "test"))
    torch.manual_seed(cfg.seed)
    model = GalaxyVit(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    mlf = None
    if cfg.mlflow.enabled:
        from skysift.config import to_dict
        from skysift.models.image_vit import parameter_counts
        from skysift.runtime import tracking

        uri = tracking.tracking_uri()
        mlf = tracking.mlflow_module(uri)
        mlf.start_run(experiment_id=tracking.experiment_id(mlf, cfg.mlflow.experiment, uri))
        mlf.log_params(tracking.flat_params(to_dict(cfg)))
        counts = parameter_counts(model)
        mlf.log_params({"n_parameters_trainable": counts["trainable"], "n_parameters_total": counts["total"],
                        "n_train": len(train_x), "n_val": len(val_x), "n_test": len(test_x),
                        "loose_accuracy_batch_size": cfg.mini_search_batch})

    history, best_val, best_epoch, since_best = [], math.inf, -1, 0
    t_train = time.perf_counter()
    steps = 0
    for epoch in range(cfg.epochs):
        model.train()
        rng = np.random.default_rng([cfg.seed, 100 + epoch])
        order = rng.permutation(len(train_x))
        total, count = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            batch = _float(train_x[idx], device)
            a, b, y = make_pairs(batch, len(train_x), lambda j: _float(train_x[j:j + 1], device)[0], idx, rng,
                                 cfg.n_transforms, cfg.positive_fraction, *pools(cfg))
            with matmul_precision(device, cfg.precision):
                loss = pair_loss(model, a, b, y, cfg.weights, cfg.margin, cfg.precision, device,
                                 cfg.negative_margin)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            steps += 1
        val = validation_loss(model, val_x, cfg, device)
        acc = loose_accuracy(model, val_x, cfg.mini_search_batch, cfg.n_transforms, cfg.weights, cfg.seed, device,
                             positive_pool=pools(cfg)[0])
        row = {"epoch": epoch + 1, "train_loss": total / count, "val_loss": val, "loose_accuracy": acc["accuracy"],
               "loose_accuracy_trials": acc["trials"]}
        history.append(row)
        if mlf is not None:
            mlf.log_metrics({k: v for k, v in row.items() if k != "epoch" and v == v}, step=epoch + 1)
        if val < best_val - cfg.early_stop_min_delta:
            since_best = 0
        else:
            since_best += 1
        if val < best_val:
            best_val, best_epoch = val, epoch + 1
            save_checkpoint(out / BEST, {"model_state": model.state_dict(), "model_config": cfg.model.to_dict(),
                               "kind": "skysift-image-vit", "epoch": epoch + 1, "val_loss": val})
        if cfg.early_stop_patience and since_best >= cfg.early_stop_patience:
            break
    train_s = time.perf_counter() - t_train

    saved = load_checkpoint(out / BEST)
    best = GalaxyVit(ImageVitConfig(**saved["model_config"]))
    best.load_state_dict(saved["model_state"])
    best = best.to(device).eval()
    test = {}
    if len(test_x) >= 2:
        test["test_loss"] = validation_loss(best, test_x, cfg, device)
    if len(test_x) >= cfg.mini_search_batch:
        test["test_loose_accuracy"] = loose_accuracy(best, test_x, cfg.mini_search_batch, cfg.n_transforms,
                                                     cfg.weights, cfg.seed + 1, device,
                                                     positive_pool=pools(cfg)[0])["accuracy"]
    best_row = history[best_epoch - 1]
    summary: dict[str, Any] = {
        "read": int(len(images) + n_rejected), "written": int(len(images)), "rejected": int(n_rejected),
        "output": str(out.absolute()), "n_train": len(train_x), "n_val": len(val_x), "n_test": len(test_x),
        "epochs_run": len(history), "steps": steps, "device": device.type, "train_seconds": round(train_s, 3),
        "images_per_s": round(2 * steps * cfg.batch_size / max(train_s, 1e-9), 2),
        "best_epoch": best_epoch, "best_val_loss": best_val, "best_loose_accuracy": best_row["loose_accuracy"],
        "max_loose_accuracy": max(r["loose_accuracy"] for r in history),
        "loose_accuracy_batch_size": cfg.mini_search_batch, "loose_accuracy_chance": 1.0 / cfg.mini_search_batch,
        "paper_min_val_loss": 0.076, "paper_max_loose_accuracy": 0.93, **test,
        "history": history, "seconds": round(time.perf_counter() - t0, 3),
    }
    if mlf is not None:
        summary.update(_finish_mlflow(mlf, cfg, best, best_val, best_epoch, test))
        mlf.end_run()
    (out / SUMMARY).write_text(json.dumps(summary, default=str, indent=1))
    return summary


def _finish_mlflow(mlf, cfg, best: GalaxyVit, best_val: float, best_epoch: int, test: dict) -> dict[str, Any]:
    """Log the best checkpoint as a model and register it; the champion alias follows the registry's rule."""
    from skysift.runtime import tracking

    run = mlf.active_run()
    mlf.log_metrics({"best_val_loss": best_val, **{k: v for k, v in test.items() if v == v}}, step=best_epoch)
    result: dict[str, Any] = {"mlflow_run": tracking.run_url(mlf.get_tracking_uri(), run.info.experiment_id,
                                                             run.info.run_id), "mlflow_run_id": run.info.run_id}
    info = tracking.log_image_encoder(mlf, best, {"best_epoch": best_epoch, "bands": cfg.bands})
    result["model_uri"] = info.model_uri
    if cfg.mlflow.register:
        result.update(tracking.register_encoder(
            mlf, info.model_uri, cfg.mlflow.registered_model, cfg.mlflow.alias, best_val,
            # grid_id: the input the model reads; a holder trained on another one is replaced (tracking rule)
            {"grid_id": f"image:{cfg.bands}:{cfg.model.image_size_px}px"
                        + ("" if cfg.model.input_mask == "none" else f":{cfg.model.input_mask}"), "profile": cfg.model.profile,
             "out_dim": cfg.model.out_dim, "run_id": run.info.run_id},
        ))
    return result
