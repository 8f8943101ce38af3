"""One trained SFR model as a folder (the unit train-sfr will log to MLflow and predict-sfr will load):
the fitted preprocessing, the model (torch network state, scikit-learn estimator, or the two parts of a late
fusion) and meta.json naming what it was trained on (image_px, quality_level, spectrum length).

``predict`` refuses arrays at another resolution or quality level with a message naming what the model was
trained on (issue 16, "Bad input").

The scikit-learn parts and the fitted preprocessing are skops files, never pickles: a bundle folder may come from
anyone (a ``model_uri`` a user passes), and unpickling runs whatever code the file holds (issue 18, part 5).
``skops.io.load`` rebuilds only the types it is told to trust: scikit-learn's own plus ``TRUSTED_TYPES``.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from skysift.models.sfr_config import SfrModelsConfig
from skysift.models.sfr_data import SfrArrays, SfrFeatures

META = "meta.json"
FEATURES = "features.skops"
KIND = "skysift-sfr"
"""``kind`` in meta.json: what predict-sfr accepts."""
TRUSTED_TYPES = ("sklearn.tree._tree.Tree", "skysift.models.sfr_config.SfrModelsConfig",
                 "skysift.models.sfr_data.SfrFeatures")
"""The types beyond skops' defaults that a bundle holds (the trees of the decision tree and gradient boosting,
our preprocessing and its config); a file holding any other is refused."""


def _dump(obj, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


def _load(path: Path):
    """The object in skops file ``path``; ModelNotFoundError naming the file when it is a pickle of an older
    skysift or holds a type outside ``TRUSTED_TYPES``."""
    import skops.io as sio

    from skysift.runtime.tracking import ModelNotFoundError

    if not path.exists() and path.with_suffix(".pkl").exists():
        raise ModelNotFoundError(f"{path.parent}: an SFR bundle of an older skysift (pickled parts, which skysift no "
                                 "longer loads); retrain it with `skysift train-sfr`")
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ModelNotFoundError(f"{path}: holds types an SFR bundle never holds ({', '.join(untrusted)}); not loaded")
    return sio.load(path, trusted=list(TRUSTED_TYPES))


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
            _dump(model, folder / f"{part}.skops")
            kinds[part] = "sklearn"
    _dump(run.features, folder / FEATURES)
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
        self.features: SfrFeatures = _load(folder / FEATURES)
        self.parts = {}
        for part, kind in self.meta["parts"].items():
            if kind == "sklearn":
                self.parts[part] = _load(folder / f"{part}.skops")
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
        folder, version = tracking.download_registered(model_uri, tracking_uri, train_with="skysift train-sfr")
    else:
        raise tracking.ModelNotFoundError(f"model_uri {model_uri!r}: no such folder, and not a models:/ or runs:/ URI")
    metas = sorted(folder.rglob(META)) if folder.is_dir() else []
    meta = json.loads(metas[0].read_text()) if metas else {}
    if meta.get("kind", KIND if "parts" in meta else None) != KIND:
        raise tracking.ModelNotFoundError(f"model_uri {model_uri!r}: {folder} holds no skysift SFR model "
                                          f"({META} with kind {KIND!r}); train one with `skysift train-sfr`")
    return {"uri": model_uri, "version": version, "dir": str(metas[0].parent), "meta": meta}
