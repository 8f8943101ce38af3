"""Inputs of the SFR models: image resolutions, spectral quality levels, the split by object, and the
preprocessing (scalers, PCA) fitted on the training split only (Rustamov 2025 §9.5: "PCA and standard
scaling parameters were computed exclusively on the training dataset").

numpy / scikit-learn only; no Spark, no torch.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from skysift.images.apertures import aperture_fluxes
from skysift.images.cutouts import downsample_mean
from skysift.models.sfr_config import SfrModelsConfig

QUALITY_BINNING = (1, 2, 4, 8)
"""Spectral quality level q is the spectrum binned by QUALITY_BINNING[q] pixels (inverse-variance weighted
mean; trailing pixels that do not fill a bin are dropped). The thesis has four levels and does not define
them: skysift choice. On the default grid (3688 px, 1.4 A) the levels have 3688 / 1844 / 922 / 461 px."""
IMAGE_LEVELS_PX = (64, 32, 16, 8)
"""Image resolutions (Rustamov 2025: 64, 32, 16, 8 px; made by area averaging: skysift choice, as make-cutouts)."""


@dataclass
class SfrArrays:
    """The aligned per-object arrays the models are trained on (row i = one object everywhere)."""

    object_id: np.ndarray
    """(N,) object ids (any dtype; the split is by these)."""
    pixels: np.ndarray
    """(N, bands, S, S) float32 cutouts (nanomaggies) at one resolution."""
    flux: np.ndarray
    """(N, L) float32 spectra at one quality level (normalised flux of the spectra table)."""
    log_norm: np.ndarray
    """(N,) log10 of the spectra's norm_factor (the flux scale removed by the normalisation)."""
    log_sfr: np.ndarray
    """(N,) float64 label: log10 SFR (MPA-JHU AVG)."""
    obj_class: np.ndarray
    """(N,) class (GALAXY / QSO), for metrics with and without QSOs."""
    z: np.ndarray | None = None
    """(N,) float64 redshift of the spectrum (the spectra table's z), or None when unknown (models with
    ``spectrum_redshift`` then refuse the arrays)."""

    def __post_init__(self):
        n = len(self.object_id)
        for name in ("pixels", "flux", "log_norm", "log_sfr", "obj_class") + (("z",) if self.z is not None else ()):
            if len(getattr(self, name)) != n:
                raise ValueError(f"SfrArrays.{name} has {len(getattr(self, name))} rows, object_id {n}")

    def take(self, index: np.ndarray) -> "SfrArrays":
        """The rows ``index`` (a copy)."""
        parts = [np.asarray(getattr(self, k))[index] for k in ("object_id", "pixels", "flux", "log_norm", "log_sfr", "obj_class")]
        return SfrArrays(*parts, z=None if self.z is None else np.asarray(self.z)[index])


def bin_spectrum(flux: np.ndarray, ivar: np.ndarray | None, factor: int) -> np.ndarray:
    """(N, L // factor) inverse-variance-weighted bin means of (N, L) spectra (plain means where a bin has no weight)."""
    flux = np.asarray(flux, dtype=np.float64)
    n, length = flux.shape
    m = length // factor
    f = flux[:, : m * factor].reshape(n, m, factor)
    if factor == 1:
        return flux.astype(np.float32)
    if ivar is None:
        return f.mean(axis=2).astype(np.float32)
    w = np.clip(np.asarray(ivar, dtype=np.float64)[:, : m * factor].reshape(n, m, factor), 0, None)
    wsum = w.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(wsum > 0, (f * w).sum(axis=2) / wsum, f.mean(axis=2))
    return out.astype(np.float32)


def spectrum_at_quality(flux: np.ndarray, ivar: np.ndarray | None, level: int) -> np.ndarray:
    """The spectra at quality level ``level`` (0..3, QUALITY_BINNING)."""
    if level not in range(len(QUALITY_BINNING)):
        raise ValueError(f"quality level must be 0..{len(QUALITY_BINNING) - 1}, got {level}")
    return bin_spectrum(flux, ivar, QUALITY_BINNING[level])


def image_at_resolution(pixels: np.ndarray, size_px: int) -> np.ndarray:
    """(N, bands, size_px, size_px) area-averaged version of (N, bands, S, S) cutouts (S divisible by size_px)."""
    s = pixels.shape[-1]
    if size_px > s or s % size_px:
        raise ValueError(f"image resolution {size_px} px does not divide the cutout size {s} px")
    return downsample_mean(np.asarray(pixels, dtype=np.float32), s // size_px)


def split_by_object(object_id: np.ndarray, fractions: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """{'train', 'val', 'test'}: row indices, every row of one object id in one split.

    The distinct ids (sorted) are permuted with ``default_rng(seed)``; the first fractions[0] of them are
    train, the next fractions[1] validation, the rest test. Same ids + seed -> same split, whatever the row order.
    """
    ids = np.asarray(object_id)
    uniq, inverse = np.unique(ids, return_inverse=True)
    perm = np.random.default_rng(int(seed)).permutation(len(uniq))
    n_train = int(round(fractions[0] * len(uniq)))
    n_val = int(round(fractions[1] * len(uniq)))
    rank = np.empty(len(uniq), np.int64)
    rank[perm] = np.arange(len(uniq))
    part = np.where(rank < n_train, 0, np.where(rank < n_train + n_val, 1, 2))[inverse]
    return {name: np.flatnonzero(part == k) for k, name in enumerate(("train", "val", "test"))}


SCALE_FLOOR = 1e-3
"""A fitted scaler's per-column std is at least SCALE_FLOOR x its largest: a column (a flux pixel, a PCA
component) almost constant on the training rows must not turn a held-out row's small deviation into 1e6."""


def _floored(scaler: StandardScaler) -> StandardScaler:
    """``scaler`` with scale_ floored at SCALE_FLOOR x max(scale_)."""
    scaler.scale_ = np.maximum(scaler.scale_, SCALE_FLOOR * float(np.max(scaler.scale_)))
    return scaler


class SfrFeatures:
    """The preprocessing of the SFR models, fitted on one (training) set of arrays.

    Kept state: image asinh softening, per-band mean / std of the asinh pixels (CNN input), the image PCA
    and the scaler of its components, the scaler of the aperture photometry, the spectrum flux scaler, its
    PCA and the scaler of [components, log_norm, log(1 + z)], and the label's mean / std (networks regress
    the standardised label).
    """

    def __init__(self, cfg: SfrModelsConfig, random_state: int = 0):
        self.cfg = cfg
        self.random_state = random_state
        self.fitted = False

    def _asinh(self, pixels: np.ndarray) -> np.ndarray:
        px = np.asarray(pixels, dtype=np.float32)
        if not np.isfinite(px).all():  # nan_to_num only where needed: it makes three passes and a copy
            px = np.nan_to_num(px, nan=0.0)
        return np.arcsinh(px / self.cfg.image_softening_nmgy)

    def fit(self, train: SfrArrays) -> "SfrFeatures":
        """Fit every scaler and PCA on ``train`` only."""
        cfg = self.cfg
        n = len(train.object_id)
        a = self._asinh(train.pixels)
        self.band_mean = a.mean(axis=(0, 2, 3))
        self.band_std = a.std(axis=(0, 2, 3)) + 1e-6
        # at most n - 1 components: centred training data has rank n - 1 at most, and a component beyond it has
        # no variance to scale (the demo's 33 training rows gave spectral features of 1e14 before this cap)
        k_img = min(cfg.image_pca_components, max(1, n - 1), a[0].size)
        self.image_pca = PCA(n_components=k_img, svd_solver="full", random_state=self.random_state).fit(a.reshape(n, -1))
        self.image_scaler = _floored(StandardScaler().fit(self.image_pca.transform(a.reshape(n, -1))))
        if cfg.image_pca_scaling == "block":  # one scale for the block: the first component's std (cfg docstring)
            self.image_scaler.scale_ = np.full_like(self.image_scaler.scale_, self.image_scaler.scale_[0])
        self.image_shape = tuple(train.pixels.shape[1:])
        self.photometry_scaler = _floored(StandardScaler().fit(self._photometry_raw(train))) if cfg.image_photometry else None
        self.flux_scaler = _floored(StandardScaler().fit(np.asarray(train.flux, dtype=np.float64)))
        fs = self.flux_scaler.transform(np.asarray(train.flux, dtype=np.float64))
        k_spec = min(cfg.spectrum_pca_components, max(1, n - 1), fs.shape[1])
        self.spectrum_pca = PCA(n_components=k_spec, svd_solver="full", random_state=self.random_state).fit(fs)
        self.spectrum_scaler = _floored(StandardScaler().fit(self._spec_raw(self.spectrum_pca.transform(fs), train)))
        self.label_mean = float(np.mean(train.log_sfr))
        self.label_std = float(np.std(train.log_sfr)) + 1e-9
        self.spectrum_length = int(train.flux.shape[1])
        self.fitted = True
        return self

    def _scalars(self, arrays: SfrArrays) -> np.ndarray:
        """(N, k) the spectrum's scalars appended to its features: log10 norm_factor, log10(1 + z) (cfg switches)."""
        cols = []
        if self.cfg.spectrum_log_norm:
            cols.append(np.asarray(arrays.log_norm, dtype=np.float64))
        if self.cfg.spectrum_redshift:
            if arrays.z is None:
                raise ValueError("the SFR features use the spectrum's redshift (spectrum_redshift=true) and the arrays have no z")
            cols.append(np.log10(1.0 + np.asarray(arrays.z, dtype=np.float64)))
        return np.stack(cols, axis=1) if cols else np.zeros((len(arrays.object_id), 0))

    def photometry_radii_px(self) -> tuple[float, ...]:
        """The aperture radii in pixels of the fitted resolution (cfg.cutout_width_arcsec / S per pixel)."""
        scale = self.cfg.cutout_width_arcsec / self.image_shape[-1]
        return tuple(r / scale for r in self.cfg.photometry_radii_arcsec)

    def _photometry_raw(self, arrays: SfrArrays) -> np.ndarray:
        flux = aperture_fluxes(arrays.pixels, self.photometry_radii_px())  # (N, bands, radii)
        return np.arcsinh(flux / self.cfg.photometry_softening_nmgy).reshape(len(flux), -1)

    @property
    def n_photometry(self) -> int:
        """Width of the photometry features (bands x radii; 0 without cfg.image_photometry)."""
        return self.image_shape[0] * len(self.cfg.photometry_radii_arcsec) if self.cfg.image_photometry else 0

    def image_photometry_features(self, arrays: SfrArrays) -> np.ndarray:
        """(N, bands x radii) standardised asinh aperture fluxes ((N, 0) without cfg.image_photometry)."""
        self._check(arrays)
        if not self.cfg.image_photometry:
            return np.zeros((len(arrays.object_id), 0), np.float32)
        return self.photometry_scaler.transform(self._photometry_raw(arrays)).astype(np.float32)

    def image_vector_features(self, arrays: SfrArrays) -> np.ndarray:
        """The image as one vector: PCA components ++ photometry (early fusion, trees)."""
        return np.concatenate([self.image_pca_features(arrays), self.image_photometry_features(arrays)], axis=1)

    @property
    def n_scalars(self) -> int:
        """How many scalars (log_norm, log(1 + z)) the spectral features append."""
        return int(self.cfg.spectrum_log_norm) + int(self.cfg.spectrum_redshift)

    def _spec_raw(self, comps: np.ndarray, arrays: SfrArrays) -> np.ndarray:
        return np.concatenate([comps, self._scalars(arrays)], axis=1)

    def _check(self, arrays: SfrArrays) -> None:
        if not self.fitted:
            raise RuntimeError("SfrFeatures.fit must be called first")
        if tuple(arrays.pixels.shape[1:]) != self.image_shape:
            raise ValueError(f"images of shape {tuple(arrays.pixels.shape[1:])}: the features were fitted on {self.image_shape}")
        if arrays.flux.shape[1] != self.spectrum_length:
            raise ValueError(f"spectra of {arrays.flux.shape[1]} px: the features were fitted on {self.spectrum_length} px")

    def image_pca_features(self, arrays: SfrArrays) -> np.ndarray:
        """(N, image_pca_components) standardised PCA components of the asinh images."""
        self._check(arrays)
        a = self._asinh(arrays.pixels).reshape(len(arrays.object_id), -1)
        return self.image_scaler.transform(self.image_pca.transform(a)).astype(np.float32)

    def spectrum_pca_features(self, arrays: SfrArrays) -> np.ndarray:
        """(N, spectrum_pca_components [+1 log_norm]) standardised PCA components of the standardised flux."""
        self._check(arrays)
        fs = self.flux_scaler.transform(np.asarray(arrays.flux, dtype=np.float64))
        return self.spectrum_scaler.transform(self._spec_raw(self.spectrum_pca.transform(fs), arrays)).astype(np.float32)

    def spectrum_flux_features(self, arrays: SfrArrays) -> np.ndarray:
        """(N, L [+k]) standardised flux (+ the standardised scalars log_norm, log(1 + z)): the 'flux' input of
        the spectral branch."""
        self._check(arrays)
        fs = self.flux_scaler.transform(np.asarray(arrays.flux, dtype=np.float64))
        sc = self._scalars(arrays)
        k = sc.shape[1]
        if k:
            sc = (sc - self.spectrum_scaler.mean_[-k:]) / self.spectrum_scaler.scale_[-k:]
            fs = np.concatenate([fs, sc], axis=1)
        return fs.astype(np.float32)

    def spectrum_branch_features(self, arrays: SfrArrays) -> np.ndarray:
        """The spectral branch's input by ``cfg.spectrum_branch_input``."""
        if self.cfg.spectrum_branch_input == "flux":
            return self.spectrum_flux_features(arrays)
        return self.spectrum_pca_features(arrays)

    def image_cnn_input(self, arrays: SfrArrays) -> np.ndarray:
        """(N, bands, S, S) float32 asinh pixels standardised per band (training mean / std)."""
        self._check(arrays)
        a = self._asinh(arrays.pixels)
        return ((a - self.band_mean[None, :, None, None]) / self.band_std[None, :, None, None]).astype(np.float32)

    def scale_label(self, log_sfr: np.ndarray) -> np.ndarray:
        """Standardised label (training mean / std)."""
        return ((np.asarray(log_sfr, np.float64) - self.label_mean) / self.label_std).astype(np.float32)

    def unscale_label(self, z: np.ndarray) -> np.ndarray:
        """log SFR from a standardised prediction."""
        return np.asarray(z, np.float64) * self.label_std + self.label_mean

    def state_digest(self) -> str:
        """sha256 of every fitted array (a test compares it to prove which rows reached the fit)."""
        h = hashlib.sha256()
        for arr in (self.band_mean, self.band_std, self.image_pca.components_, self.image_pca.mean_,
                    self.image_scaler.mean_, self.image_scaler.scale_, self.flux_scaler.mean_, self.flux_scaler.scale_,
                    self.spectrum_pca.components_, self.spectrum_pca.mean_, self.spectrum_scaler.mean_,
                    self.spectrum_scaler.scale_, np.array([self.label_mean, self.label_std]),
                    *((self.photometry_scaler.mean_, self.photometry_scaler.scale_) if self.photometry_scaler is not None else ())):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        return h.hexdigest()


def make_arrays(object_id, pixels, flux, ivar, norm_factor, log_sfr, obj_class, image_px: int, quality_level: int,
                z=None) -> SfrArrays:
    """SfrArrays at one image resolution and spectral quality level from full-size cutouts and grid spectra."""
    return SfrArrays(
        object_id=np.asarray(object_id),
        pixels=image_at_resolution(pixels, image_px),
        flux=spectrum_at_quality(flux, ivar, quality_level),
        log_norm=np.log10(np.clip(np.asarray(norm_factor, dtype=np.float64), 1e-30, None)),
        log_sfr=np.asarray(log_sfr, dtype=np.float64),
        obj_class=np.asarray(obj_class, dtype=object),
        z=None if z is None else np.asarray(z, dtype=np.float64),
    )


def fit_on_train(arrays: SfrArrays, cfg: SfrModelsConfig) -> tuple[dict[str, np.ndarray], SfrFeatures]:
    """The split by object (cfg.split_fractions, cfg.split_seed) and the features fitted on its training rows only."""
    split = split_by_object(arrays.object_id, cfg.split_fractions, cfg.split_seed)
    if min(len(v) for v in split.values()) == 0:
        raise ValueError(f"{len(arrays.object_id)} objects are too few for the split {cfg.split_fractions}")
    return split, SfrFeatures(cfg, random_state=cfg.split_seed).fit(arrays.take(split["train"]))
