"""One trained SFR model as a folder (the unit train-sfr will log to MLflow and predict-sfr will load):
the fitted preprocessing, the model (torch network state, scikit-learn estimator, or the two parts of a late
fusion) and meta.json naming what it was trained on (image_px, quality_level, spectrum length).

``predict`` refuses arrays at another resolution or quality level with a message naming what the model was
trained on (issue 16, "Bad input").
"""
from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np

from skysift.models.sfr_config import SfrModelsConfig
from skysift.models.sfr_data import SfrArrays, SfrFeatures

META = "meta.json"
FEATURES = "features.pkl"
KIND = "skysift-sfr"
"""``kind`` in meta.json: what predict-sfr accepts."""


def save_bundle(folder: str | Path, name: str, run, cfg: SfrModelsConfig) -> Path:
    """Write model ``name`` of a ``train_models`` run (SfrRun) into ``folder``."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = [cfg.late_image_model, "spectrum_mlp"] if name == "late_fusion" else [name]
    kinds = {}
    for part in parts:
        model = run.models[part]
        if isinstance(model, torch.nn.Module):
            torch.save(model.state_dict(), folder / f"{part}.pt")
            kinds[part] = "torch"
        else:
            (folder / f"{part}.pkl").write_bytes(pickle.dumps(model))
            kinds[part] = "sklearn"
    (folder / FEATURES).write_bytes(pickle.dumps(run.features))
    f = run.features
    meta = {"kind": KIND, "model": name, "parts": kinds, "config": dataclasses.asdict(cfg), "image_px": cfg.image_px,
            "quality_level": cfg.quality_level, "image_shape": list(f.image_shape), "spectrum_length": f.spectrum_length,
            "val_mse": run.val_loss.get(name), "uses_z": bool(cfg.spectrum_redshift),
            "uses_norm_factor": bool(cfg.spectrum_log_norm)}
    (folder / META).write_text(json.dumps(meta, indent=1))
    return folder


class SfrBundle:
    """A loaded SFR model: ``predict(arrays) -> log SFR``."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.meta = json.loads((folder / META).read_text())
        raw = dict(self.meta["config"])
        for key, value in raw.items():  # JSON lists back to the tuples the config holds
            if isinstance(value, list):
                raw[key] = tuple(value)
        self.cfg = SfrModelsConfig(**raw)
        self.features: SfrFeatures = pickle.loads((folder / FEATURES).read_bytes())
        self.parts = {}
        for part, kind in self.meta["parts"].items():
            if kind == "sklearn":
                self.parts[part] = pickle.loads((folder / f"{part}.pkl").read_bytes())
            else:
                self.parts[part] = self._network(part, folder)

    def _network(self, part: str, folder: Path):
        import torch

        from skysift.models.sfr_fusion import build_network

        f = self.features
        n_bands = f.image_shape[0]
        n_spec_pca = f.spectrum_pca.n_components_ + f.n_scalars
        n_spec = n_spec_pca if self.cfg.spectrum_branch_input == "pca" else f.spectrum_length + f.n_scalars
        net = build_network(part, self.cfg, n_bands, f.image_pca.n_components_, n_spec, n_spec_pca, f.n_photometry)
        net.load_state_dict(torch.load(folder / f"{part}.pt", map_location="cpu", weights_only=True))
        return net.eval()

    def check(self, arrays: SfrArrays) -> None:
        """ValueError naming the trained resolution / quality level when ``arrays`` differ."""
        shape = tuple(arrays.pixels.shape[1:])
        if shape != tuple(self.meta["image_shape"]) or arrays.flux.shape[1] != self.meta["spectrum_length"]:
            raise ValueError(f"model {self.meta['model']} was trained on {trained_on(self.meta)}; got images "
                             f"{shape[-1]} px and spectra of {arrays.flux.shape[1]} px")

    def predict(self, arrays: SfrArrays, device: str = "cpu") -> np.ndarray:
        """(N,) predicted log SFR."""
        from skysift.models.sfr_fusion import late_fusion, predict
        from skysift.models.sfr_training import _inputs

        self.check(arrays)
        out = {}
        for part, model in self.parts.items():
            x = _inputs(part, self.features, arrays)
            if self.meta["parts"][part] == "sklearn":
                out[part] = np.asarray(model.predict(x[0]), np.float64)
            else:
                out[part] = self.features.unscale_label(predict(model, x, device=device))
        if self.meta["model"] == "late_fusion":
            return late_fusion(out[self.cfg.late_image_model], out["spectrum_mlp"], self.cfg.late_weights)
        return out[self.meta["model"]]


def trained_on(meta: dict) -> str:
    """'16 px images and spectral quality level 3 (461 px spectra)': what a bundle was trained on."""
    return (f"{meta['image_px']} px images and spectral quality level {meta['quality_level']} "
            f"({meta['spectrum_length']} px spectra)")


def resolve_sfr_model(model_uri: str, tracking_uri: str | None = None) -> dict:
    """Find an SFR model without loading it: {'uri', 'version' (None for a folder), 'dir', 'meta'}.

    Accepts ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN/model`` or a bundle folder
    (train-sfr's champion/). Raises ``tracking.ModelNotFoundError`` (a ConfigError) naming what is missing.
    """
    from skysift.runtime import tracking

    local = Path(model_uri[len("file://"):] if model_uri.startswith("file://") else model_uri)
    version = None
    if local.exists():
        folder = local
    elif model_uri.startswith(("models:/", "runs:/")):
        mlflow = tracking.mlflow_module(tracking_uri)
        from mlflow import MlflowClient

        client = MlflowClient()
        if model_uri.startswith("models:/"):
            ref = model_uri[len("models:/"):].strip("/")
            name, sep, alias = ref.partition("@")
            number = None if sep else ref.partition("/")[2]
            if not sep:
                name = ref.partition("/")[0]
            try:
                client.get_registered_model(name)
            except Exception:  # noqa: BLE001 - MLflow raises its own RestException
                known = [m.name for m in client.search_registered_models()]
                raise tracking.ModelNotFoundError(
                    f"model_uri {model_uri!r}: no registered model {name!r} in {mlflow.get_tracking_uri()} "
                    f"(registered: {known or 'none'}); run `skysift train-sfr` first") from None
            try:
                mv = client.get_model_version_by_alias(name, alias) if sep else client.get_model_version(name, number)
            except Exception:  # noqa: BLE001
                aliases = sorted(client.get_registered_model(name).aliases or {})
                what = f"alias {alias!r}" if sep else f"version {number!r}"
                raise tracking.ModelNotFoundError(f"model_uri {model_uri!r}: {name!r} has no {what}; its aliases: "
                                                  f"{aliases or 'none'}") from None
            version = int(mv.version)
        try:
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
        except Exception as exc:  # noqa: BLE001
            raise tracking.ModelNotFoundError(f"model_uri {model_uri!r}: cannot download its files: {exc}") from None
    else:
        raise tracking.ModelNotFoundError(f"model_uri {model_uri!r}: no such folder, and not a models:/ or runs:/ URI")
    metas = sorted(folder.rglob(META)) if folder.is_dir() else []
    meta = json.loads(metas[0].read_text()) if metas else {}
    if meta.get("kind", KIND if "parts" in meta else None) != KIND:
        raise tracking.ModelNotFoundError(f"model_uri {model_uri!r}: {folder} holds no skysift SFR model "
                                          f"({META} with kind {KIND!r}); train one with `skysift train-sfr`")
    return {"uri": model_uri, "version": version, "dir": str(metas[0].parent), "meta": meta}
