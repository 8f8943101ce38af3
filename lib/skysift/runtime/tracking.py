"""MLflow wiring: tracking URI, experiments, logging the encoder, the registry and its champion alias.

``import mlflow`` costs ~2 s, so every function imports it lazily. Telemetry is
switched off before the first import (MLflow would otherwise start a background
thread that tries the network).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from skysift.config import ConfigError
from skysift.paths import REPO_ROOT

ENCODER_STATE = "encoder_state.pt"
ENCODER_CONFIG = "encoder_config.json"
IMAGE_ENCODER_KIND = "skysift-image-vit"
"""``kind`` in the config file (and checkpoints) of an image encoder; spectrum encoders have none."""


class ModelNotFoundError(ConfigError):
    """A model URI that names no registered model, alias, version or checkpoint."""


def runs_dir() -> Path:
    """Folder for local run state: $SKYSIFT_RUNS_DIR, else runs/ in the repository."""
    return Path(os.environ.get("SKYSIFT_RUNS_DIR", REPO_ROOT / "runs"))


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, else a SQLite store under runs/mlflow/."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    folder = runs_dir() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').absolute()}"


def artifact_root(uri: str) -> str | None:
    """A local artifact folder beside a SQLite store (None for other stores: the server decides)."""
    if uri.startswith("sqlite:///"):
        return str(Path(uri[len("sqlite:///"):]).absolute().parent / "artifacts")
    return None


def mlflow_module(uri: str | None = None):
    """``mlflow`` with telemetry off and the tracking + registry URI set."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:///") and uri not in _STORES_READY:
        # The first connection to a SQLite store creates or migrates its schema; two processes doing it at
        # once crash one of them ("table ... already exists", measured with two `skysift pretrain` runs
        # started together on a new store: tests/reliability/test_concurrency.py). One at a time, then.
        with registry_lock(uri):
            mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
        _STORES_READY.add(uri)
    return mlflow


_STORES_READY: set[str] = set()
"""SQLite stores this process has opened (their schema is up to date)."""


def experiment_id(mlflow, name: str, uri: str) -> str:
    """Id of experiment ``name``, created with a local artifact root when the store is SQLite (under the
    registry lock: two runs creating it at once would make one fail)."""
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    with registry_lock(uri):
        exp = mlflow.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        root = artifact_root(uri)
        location = Path(root, name).as_uri() if root else None
        return mlflow.create_experiment(name, artifact_location=location)


def run_url(uri: str, exp_id: str, run_id: str) -> str:
    """Where to look at a run: the server page, or the `mlflow ui` command + page for a local store."""
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{exp_id}/runs/{run_id}"
    return f"mlflow ui --backend-store-uri {uri} -> http://127.0.0.1:5000/#/experiments/{exp_id}/runs/{run_id}"


def flat_params(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config dict -> {'a.b': 'value'} for mlflow.log_params."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)[:500]
    return out


def log_encoder(mlflow, encoder, pooling: str = "mean", extra_meta: dict | None = None):
    """Log the encoder as an MLflow PyTorch model (flux -> embedding) with its signature.

    The weights and config also travel as extra files so that loaders rebuild our
    own ``SpectrumEncoder`` (``mlflow.pytorch.load_model`` returns a GraphModule).
    """
    import numpy as np
    import torch

    from skysift.models.spectrum_encoder import EmbeddingModel

    cfg = encoder.cfg
    wrapper = EmbeddingModel(encoder.cpu().eval(), pooling).eval()
    example = np.zeros((2, cfg.n_points), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp, ENCODER_STATE)
        torch.save(encoder.state_dict(), state_path)
        cfg_path = Path(tmp, ENCODER_CONFIG)
        cfg_path.write_text(json.dumps({"model": cfg.to_dict(), "pooling": pooling, **(extra_meta or {})}))
        return mlflow.pytorch.log_model(
            wrapper,
            name="model",
            input_example=example,
            extra_files=[str(state_path), str(cfg_path)],
        )


def register_encoder(mlflow, model_uri: str, name: str, alias: str, val_loss: float, tags: dict[str, Any]) -> dict:
    """Register ``model_uri`` as a new version of ``name`` and move ``alias`` to it when its val_loss beats the
    holder's, or when the holder was trained on another grid (``tags['grid_id']``). Losses on different grids
    measure different things, and a holder on another grid could not embed this grid's tables anyway."""
    from mlflow import MlflowClient

    client = MlflowClient()
    # Read the holder, compare, move the alias: one step for every run registering in this store at once,
    # else two runs both see the old holder and the later alias write wins whatever its loss (RELIABILITY.md).
    with registry_lock(mlflow.get_registry_uri()):
        version = mlflow.register_model(model_uri, name)
        for key, value in {**tags, "val_loss": val_loss}.items():
            client.set_model_version_tag(name, version.version, key, str(value))
        return _move_alias(client, name, alias, version, val_loss, tags)


@contextlib.contextmanager
def registry_lock(uri: str) -> Iterator[None]:
    """An exclusive lock for the registry at ``uri``, held by this process until the block ends: ``flock`` on
    a file beside a SQLite or local file store (the kernel releases it when the process dies). Other stores
    (an MLflow server) get no lock: MLflow offers no compare-and-set on aliases, so two registrations that
    interleave there can still leave the alias on the later writer's version."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        path = db.with_name(db.name + ".skysift-registry.lock")
    elif uri.startswith("file://") or uri.startswith("/"):
        path = Path(uri[len("file://"):] if uri.startswith("file://") else uri) / ".skysift-registry.lock"
    else:
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _move_alias(client, name: str, alias: str, version, val_loss: float, tags: dict[str, Any]) -> dict:
    """The champion rule of ``register_encoder`` for the new ``version``; its summary."""
    current = None
    try:
        current = client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - no holder of the alias yet
        current = None
    current_loss = math.inf
    if current is not None:
        try:
            current_loss = float(current.tags.get("val_loss", "inf"))
        except ValueError:
            current_loss = math.inf
    holder_grid = None if current is None else current.tags.get("grid_id")
    new_grid = tags.get("grid_id")
    if current is None:
        promoted, because = True, "no holder of the alias yet"
    elif holder_grid is not None and new_grid is not None and holder_grid != str(new_grid):
        promoted, because = True, f"the holder (version {current.version}) was trained on grid {holder_grid!r}"
    else:
        promoted = bool(val_loss < current_loss)
        because = f"val_loss {val_loss:.6g} {'<' if promoted else '>='} the holder's {current_loss:.6g}"
    if promoted:
        client.set_registered_model_alias(name, alias, version.version)
    return {
        "registered_model": name,
        "model_version": int(version.version),
        "alias": alias,
        "promoted": promoted,
        "promoted_because" if promoted else "kept_because": because,
        "champion_version": int(version.version) if promoted else int(current.version),
        "champion_val_loss": val_loss if promoted else current_loss,
    }


def _local_model_dir(model_uri: str) -> Path | None:
    path = Path(model_uri[len("file://"):] if model_uri.startswith("file://") else model_uri)
    return path if path.exists() else None


def pinned_uri(model_uri: str, version: str | int | None) -> str:
    """``models:/NAME/VERSION`` for a registry URI the driver resolved to ``version`` (an alias may move while a
    job runs: executors on other machines fetch the version the driver pinned); other URIs unchanged."""
    if version is None or not model_uri.startswith("models:/"):
        return model_uri
    name = model_uri[len("models:/"):].strip("/").split("@")[0].split("/")[0]
    return f"models:/{name}/{version}"


def resolve_pinned(model_dir: str, model_uri: str, version: str | int | None,
                   uri: str | None = None) -> dict[str, Any]:
    """``resolve_model``'s record on an executor: the driver's download ``model_dir`` where this machine sees it,
    else the version the driver pinned, fetched again (an executor on another machine)."""
    if Path(model_dir).exists():
        return {"uri": model_uri, "version": version, "dir": model_dir,
                "meta": _describe_local(Path(model_dir), model_uri)["meta"]}
    return resolve_model(pinned_uri(model_uri, version), uri)


def download_registered(model_uri: str, uri: str | None = None, *, what: str = "model_uri",
                        train_with: str = "skysift pretrain") -> tuple[Path, int | None]:
    """(local folder of the files, registry version or None for runs:/) of a ``models:/NAME@ALIAS``,
    ``models:/NAME/VERSION`` or ``runs:/`` URI, or a ModelNotFoundError naming what the store holds.

    ``what`` starts the message (e.g. "detector model_uri"); ``train_with`` is the command that registers one.
    """
    mlflow = mlflow_module(uri)
    from mlflow import MlflowClient

    client = MlflowClient()
    version = None
    if model_uri.startswith("models:/"):
        ref = model_uri[len("models:/"):].strip("/")
        name, sep, alias = ref.partition("@")
        if not sep:
            name, _, ver = ref.partition("/")
        try:
            client.get_registered_model(name)
        except Exception:  # noqa: BLE001 - MLflow raises its own RestException: name what exists instead
            known = [m.name for m in client.search_registered_models()]
            raise ModelNotFoundError(
                f"{what} {model_uri!r}: no registered model {name!r} in {mlflow.get_tracking_uri()}; "
                f"registered models: {known or 'none'} (run `{train_with}` first)"
            ) from None
        try:
            mv = client.get_model_version_by_alias(name, alias) if sep else client.get_model_version(name, ver)
        except Exception:  # noqa: BLE001
            aliases = sorted(client.get_registered_model(name).aliases or {})
            missing = f"alias {alias!r}" if sep else f"version {ver!r}"
            raise ModelNotFoundError(
                f"{what} {model_uri!r}: registered model {name!r} has no {missing}; its aliases: {aliases or 'none'}"
            ) from None
        version = int(mv.version)
    try:
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    except Exception as exc:  # noqa: BLE001
        raise ModelNotFoundError(f"{what} {model_uri!r}: cannot download its files: {exc}") from None
    return folder, version


def resolve_model(model_uri: str, uri: str | None = None) -> dict[str, Any]:
    """Find a model without loading it: {'uri', 'version', 'dir' (local files), 'meta'} or a clear error.

    Accepts ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN/model``, a
    logged model folder, or a training checkpoint file (``best.pt``/``last.pt``).
    """
    local = _local_model_dir(model_uri)
    if local is not None:
        return _describe_local(local, model_uri)
    if not model_uri.startswith(("models:/", "runs:/", "models:")):
        raise ModelNotFoundError(
            f"model_uri {model_uri!r}: no such file, and not a models:/NAME@ALIAS or runs:/ URI"
        )
    folder, version = download_registered(model_uri, uri)
    info = _describe_local(folder, model_uri)
    info["version"] = version
    return info


def _describe_local(path: Path, model_uri: str) -> dict[str, Any]:
    from skysift.models.checkpoint import load_checkpoint

    if path.is_file():
        ckpt = load_checkpoint(path)
        if "model_config" not in ckpt:
            raise ModelNotFoundError(f"{path}: not a skysift training checkpoint (no model_config)")
        meta = {"model": ckpt["model_config"], "pooling": "mean"}
        if "kind" in ckpt:
            meta["kind"] = ckpt["kind"]
        return {"uri": model_uri, "version": None, "dir": str(path), "meta": meta}
    cfg_files = list(path.rglob(ENCODER_CONFIG))
    if not cfg_files:
        raise ModelNotFoundError(f"{path}: no {ENCODER_CONFIG} inside; not a skysift spectrum encoder")
    meta = json.loads(cfg_files[0].read_text())
    return {"uri": model_uri, "version": None, "dir": str(cfg_files[0].parent), "meta": meta}


def _with_weights(model, info: dict[str, Any], device: str):
    """``model`` with the weights of ``info['dir']`` (a training checkpoint file, or a logged model folder's
    ENCODER_STATE), on ``device`` in eval mode; both read with weights_only=True."""
    import torch

    from skysift.models.checkpoint import load_checkpoint

    path = Path(info["dir"])
    if path.is_file():
        state = load_checkpoint(path)["model_state"]
    else:
        state = torch.load(path / ENCODER_STATE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def load_encoder(info: dict[str, Any], device: str = "cpu"):
    """Our SpectrumEncoder with the weights of a model found by ``resolve_model``, in eval mode."""
    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder

    model = SpectrumEncoder(EncoderConfig(**info["meta"]["model"]))
    return _with_weights(model, info, device)


def log_image_encoder(mlflow, encoder, extra_meta: dict | None = None):
    """Log the image encoder (``models.image_vit.GalaxyVit``) as an MLflow PyTorch model (images -> pooled
    vector) with its weights and config as extra files, which ``load_image_encoder`` rebuilds."""
    import numpy as np
    import torch

    from skysift.models.image_vit import PooledImageModel

    cfg = encoder.cfg
    wrapper = PooledImageModel(encoder.cpu().eval()).eval()
    example = np.zeros((1, cfg.n_channels, cfg.image_size_px, cfg.image_size_px), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp, ENCODER_STATE)
        torch.save(encoder.state_dict(), state_path)
        cfg_path = Path(tmp, ENCODER_CONFIG)
        cfg_path.write_text(json.dumps({"kind": IMAGE_ENCODER_KIND, "model": cfg.to_dict(), **(extra_meta or {})}))
        return mlflow.pytorch.log_model(wrapper, name="model", input_example=example,
                                        extra_files=[str(state_path), str(cfg_path)])


def load_image_encoder(info: dict[str, Any], device: str = "cpu"):
    """Our GalaxyVit with the weights of a model found by ``resolve_model``, in eval mode; ModelNotFoundError
    when the model is not an image encoder (a spectrum encoder, say)."""
    from skysift.models.image_vit import GalaxyVit, ImageVitConfig

    meta = info["meta"]
    if meta.get("kind") != IMAGE_ENCODER_KIND:
        raise ModelNotFoundError(f"model {info.get('uri') or info['dir']!r} is not a skysift image encoder "
                                 f"(kind {meta.get('kind')!r}, expected {IMAGE_ENCODER_KIND!r})")
    model = GalaxyVit(ImageVitConfig(**meta["model"]))
    return _with_weights(model, info, device)
