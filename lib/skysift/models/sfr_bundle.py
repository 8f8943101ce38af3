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
    meta = {"model": name, "parts": kinds, "config": dataclasses.asdict(cfg), "image_px": cfg.image_px,
            "quality_level": cfg.quality_level, "image_shape": list(f.image_shape), "spectrum_length": f.spectrum_length,
            "val_mse": run.val_loss.get(name)}
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
        n_spec_pca = f.spectrum_pca.n_components_ + (1 if self.cfg.spectrum_log_norm else 0)
        n_spec = n_spec_pca if self.cfg.spectrum_branch_input == "pca" else f.spectrum_length + (1 if self.cfg.spectrum_log_norm else 0)
        net = build_network(part, self.cfg, n_bands, f.image_pca.n_components_, n_spec, n_spec_pca)
        net.load_state_dict(torch.load(folder / f"{part}.pt", map_location="cpu", weights_only=True))
        return net.eval()

    def check(self, arrays: SfrArrays) -> None:
        """ValueError naming the trained resolution / quality level when ``arrays`` differ."""
        shape = tuple(arrays.pixels.shape[1:])
        if shape != tuple(self.meta["image_shape"]) or arrays.flux.shape[1] != self.meta["spectrum_length"]:
            raise ValueError(
                f"model {self.meta['model']} was trained on {self.meta['image_px']} px images and spectral quality "
                f"level {self.meta['quality_level']} ({self.meta['spectrum_length']} px); got images {shape[-1]} px and "
                f"spectra of {arrays.flux.shape[1]} px")

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
