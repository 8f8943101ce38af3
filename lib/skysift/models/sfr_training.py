"""Train every SFR model and baseline on one split, at one image resolution and spectral quality level.

``train_models(arrays, cfg, seed)`` fits the preprocessing on the training rows only (``sfr_data.fit_on_train``),
trains the networks with early stopping on the validation rows, fits the scikit-learn baselines on the
training rows' PCA features, forms the late fusion, and reports MSE / RMSE / MAE / R2 on validation and
test (all objects and galaxies only). The split is fixed (cfg.split_seed); ``seed`` drives initialisation,
shuffling and dropout, so repeats over seeds measure training noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skysift.metrics.regression import regression_report
from skysift.models.sfr_config import MODEL_NAMES, SfrModelsConfig
from skysift.models.sfr_data import SfrArrays, SfrFeatures, fit_on_train

NETWORKS = ("early_fusion", "intermediate_fusion", "image_cnn_combined", "image_cnn_per_band", "spectrum_mlp")
"""The models that are torch networks."""
TREES = ("decision_tree", "gradient_boosting")
"""The scikit-learn baselines on the concatenated image (PCA + photometry) and spectral (PCA + scalars) features."""


@dataclass
class SfrRun:
    """Everything one ``train_models`` call produced."""

    split: dict[str, np.ndarray]
    """Row indices of train / val / test."""
    features: SfrFeatures
    """The preprocessing, fitted on the training rows."""
    models: dict[str, object] = field(default_factory=dict)
    """name -> trained torch network or scikit-learn estimator (late_fusion: absent; it combines two others)."""
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    """name -> {'val', 'test'}: log SFR predictions."""
    reports: dict[str, dict[str, dict]] = field(default_factory=dict)
    """name -> {'val', 'test', 'test_galaxies'}: regression_report dicts."""
    val_loss: dict[str, float] = field(default_factory=dict)
    """name -> validation MSE of log SFR (the champion criterion)."""
    history: dict[str, dict] = field(default_factory=dict)
    """name -> {'best_epoch', 'epochs', 'seconds'} of each network or estimator."""


def _inputs(name: str, f: SfrFeatures, a: SfrArrays) -> tuple[np.ndarray, ...]:
    if name == "early_fusion":
        return f.image_vector_features(a), f.spectrum_pca_features(a)
    if name == "intermediate_fusion":
        return f.image_cnn_input(a), f.image_photometry_features(a), f.spectrum_branch_features(a)
    if name.startswith("image_cnn"):
        return f.image_cnn_input(a), f.image_photometry_features(a)
    if name == "spectrum_mlp":
        return (f.spectrum_branch_features(a),)
    return (np.concatenate([f.image_vector_features(a), f.spectrum_pca_features(a)], axis=1),)


def _needed(models: tuple[str, ...], cfg: SfrModelsConfig) -> tuple[str, ...]:
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown models {unknown}; known: {list(MODEL_NAMES)}")
    need = list(models)
    if "late_fusion" in need:
        need += [cfg.late_image_model, "spectrum_mlp"]
    return tuple(m for m in MODEL_NAMES if m in need and m != "late_fusion")


def train_models(arrays: SfrArrays, cfg: SfrModelsConfig, seed: int = 0, models: tuple[str, ...] = MODEL_NAMES) -> SfrRun:
    """Train ``models`` (and what late fusion needs) on ``arrays``; see the module docstring."""
    import time

    import torch
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.tree import DecisionTreeRegressor

    from skysift.models.sfr_fusion import build_network, late_fusion, predict, resolve_device, train_network

    split, feats = fit_on_train(arrays, cfg)
    run = SfrRun(split=split, features=feats)
    parts = {k: arrays.take(v) for k, v in split.items()}
    y_train = feats.scale_label(parts["train"].log_sfr)
    y_val = feats.scale_label(parts["val"].log_sfr)
    n_bands = arrays.pixels.shape[1]
    dims = {"img_pca": feats.image_pca.n_components_, "spec_pca": feats.spectrum_pca_features(parts["val"]).shape[1],
            "spec": feats.spectrum_branch_features(parts["val"]).shape[1]}
    device = resolve_device(cfg.device)
    for name in _needed(tuple(models), cfg):
        tr, va, te = (_inputs(name, feats, parts[k]) for k in ("train", "val", "test"))
        if name in NETWORKS:
            torch.manual_seed(int(seed))
            net = build_network(name, cfg, n_bands, dims["img_pca"], dims["spec"], dims["spec_pca"], feats.n_photometry)
            res = train_network(net, tr, y_train, va, y_val, cfg, seed)
            run.models[name] = res.model
            run.history[name] = {"best_epoch": res.best_epoch, "epochs": len(res.val_loss), "seconds": res.seconds}
            pv, pt = (feats.unscale_label(predict(res.model, x, device=device)) for x in (va, te))
        else:
            t0 = time.perf_counter()
            est = (DecisionTreeRegressor(max_depth=cfg.tree_max_depth, random_state=int(seed)) if name == "decision_tree"
                   else GradientBoostingRegressor(n_estimators=cfg.gb_estimators, learning_rate=cfg.gb_learning_rate,
                                                  max_depth=cfg.gb_max_depth, random_state=int(seed)))
            est.fit(tr[0], parts["train"].log_sfr)
            run.models[name] = est
            run.history[name] = {"best_epoch": -1, "epochs": 0, "seconds": time.perf_counter() - t0}
            pv, pt = est.predict(va[0]), est.predict(te[0])
        run.predictions[name] = {"val": pv, "test": pt}
    if "late_fusion" in models:
        p_img, p_spec = run.predictions[cfg.late_image_model], run.predictions["spectrum_mlp"]
        run.predictions["late_fusion"] = {k: late_fusion(p_img[k], p_spec[k], cfg.late_weights) for k in ("val", "test")}
    galaxies = parts["test"].obj_class != "QSO"
    for name, pred in run.predictions.items():
        run.reports[name] = {"val": regression_report(parts["val"].log_sfr, pred["val"]),
                             "test": regression_report(parts["test"].log_sfr, pred["test"]),
                             "test_galaxies": regression_report(parts["test"].log_sfr[galaxies], pred["test"][galaxies])}
        run.val_loss[name] = run.reports[name]["val"]["mse"]
    return run


def champion(run: SfrRun) -> str:
    """The model with the lowest validation MSE (ties: MODEL_NAMES order)."""
    return min(run.val_loss, key=lambda m: (run.val_loss[m], MODEL_NAMES.index(m)))
