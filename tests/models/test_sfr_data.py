"""SFR inputs: quality levels, resolutions, the split by object, and preprocessing fitted on training rows only."""
import numpy as np
import pytest
from sklearn.decomposition import PCA

from skysift.models.sfr_config import SfrModelsConfig
from skysift.models.sfr_data import (
    QUALITY_BINNING, SfrArrays, bin_spectrum, fit_on_train, image_at_resolution, make_arrays, spectrum_at_quality,
    split_by_object)

CFG = SfrModelsConfig(image_pca_components=10, spectrum_pca_components=5)


def _arrays(n=60, seed=0, dup=False):
    rng = np.random.default_rng(seed)
    ids = np.arange(n) // 2 if dup else np.arange(1000, 1000 + n)
    return SfrArrays(object_id=ids, pixels=rng.normal(0, 1, (n, 5, 8, 8)).astype(np.float32),
                     flux=rng.normal(1, 0.2, (n, 40)).astype(np.float32), log_norm=rng.normal(0, 0.3, n),
                     log_sfr=rng.normal(0, 0.7, n), obj_class=np.array(["GALAXY"] * n, dtype=object),
                     z=rng.uniform(0.02, 0.25, n))


def test_binning_is_the_ivar_weighted_mean():
    flux = np.array([[1.0, 3.0, 5.0, 7.0, 9.0]])
    ivar = np.array([[1.0, 3.0, 0.0, 2.0, 1.0]])
    out = bin_spectrum(flux, ivar, 2)  # trailing pixel dropped
    assert out.shape == (1, 2)
    assert out[0, 0] == pytest.approx((1 * 1 + 3 * 3) / 4)
    assert out[0, 1] == pytest.approx(7.0)
    assert bin_spectrum(flux, np.zeros_like(ivar), 2)[0, 0] == pytest.approx(2.0)  # no weight: plain mean
    assert [spectrum_at_quality(np.ones((2, 3688)), None, q).shape[1] for q in range(4)] == [3688, 1844, 922, 461]
    assert QUALITY_BINNING == (1, 2, 4, 8)
    with pytest.raises(ValueError, match="quality level"):
        spectrum_at_quality(flux, ivar, 4)


def test_resolution_is_the_block_mean():
    px = np.random.default_rng(1).normal(size=(3, 5, 64, 64)).astype(np.float32)
    low = image_at_resolution(px, 16)
    ref = px.reshape(3, 5, 16, 4, 16, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(low, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not divide"):
        image_at_resolution(px, 24)


def test_split_is_by_object_fixed_and_disjoint():
    ids = np.repeat(np.arange(50), 3)  # three rows per object
    s = split_by_object(ids, (0.7, 0.15, 0.15), seed=3)
    sets = {k: set(ids[v].tolist()) for k, v in s.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert sum(len(v) for v in s.values()) == len(ids)
    assert len(sets["train"]) == 35 and len(sets["val"]) == 8
    # same ids in another row order -> the same objects per split
    perm = np.random.default_rng(0).permutation(len(ids))
    s2 = split_by_object(ids[perm], (0.7, 0.15, 0.15), seed=3)
    assert set(ids[perm][s2["test"]].tolist()) == sets["test"]
    assert split_by_object(ids, (0.7, 0.15, 0.15), seed=4)["test"].tolist() != s["test"].tolist()


def test_nothing_from_validation_or_test_reaches_the_fit():
    a = _arrays()
    split, feats = fit_on_train(a, CFG)
    digest = feats.state_digest()
    poisoned = a.take(np.arange(len(a.object_id)))
    held = np.concatenate([split["val"], split["test"]])
    poisoned.pixels[held] = 1e6
    poisoned.flux[held] = -1e6
    poisoned.log_norm[held] = 50.0
    poisoned.log_sfr[held] = 1e3
    poisoned.z[held] = 5.0
    split2, feats2 = fit_on_train(poisoned, CFG)
    assert all(np.array_equal(split[k], split2[k]) for k in split)
    assert feats2.state_digest() == digest
    # the control: one poisoned training row changes the fitted state
    poisoned.pixels[split["train"][0]] = 1e6
    assert fit_on_train(poisoned, CFG)[1].state_digest() != digest


def test_fitted_pca_equals_sklearn_on_the_training_rows():
    a = _arrays()
    split, feats = fit_on_train(a, CFG)
    train = a.take(split["train"])
    asinh = np.arcsinh(train.pixels / CFG.image_softening_nmgy).reshape(len(split["train"]), -1)
    ref = PCA(n_components=10, svd_solver="full").fit(asinh)
    np.testing.assert_allclose(np.abs(feats.image_pca.components_), np.abs(ref.components_), atol=1e-4)
    z = feats.image_pca_features(train)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    # block scaling (default): every component divided by the first one's std, PCA's variance order kept
    comps = ref.transform(asinh)
    np.testing.assert_allclose(np.abs(z), np.abs(comps / comps[:, 0].std()), rtol=1e-3, atol=1e-4)
    assert z.std(axis=0)[0] == pytest.approx(1, abs=1e-3) and np.all(np.diff(z.std(axis=0)) <= 1e-6)
    import dataclasses

    _, white = fit_on_train(a, dataclasses.replace(CFG, image_pca_scaling="whiten"))
    np.testing.assert_allclose(white.image_pca_features(train).std(axis=0), 1, atol=1e-3)
    assert feats.spectrum_pca_features(train).shape == (len(split["train"]), 7)  # 5 components + log_norm + log(1+z)
    assert feats.unscale_label(feats.scale_label(train.log_sfr)) == pytest.approx(train.log_sfr)


def test_photometry_features_are_asinh_aperture_fluxes_scaled_on_train():
    from skysift.images.apertures import aperture_fluxes

    a = _arrays()
    a.pixels[:] = np.abs(a.pixels)
    split, feats = fit_on_train(a, CFG)
    # 8 px over 25.344 arcsec: 3.168 arcsec per pixel; radii 1.5, 3, 6, 10 arcsec
    radii_px = [r / (25.344 / 8) for r in (1.5, 3.0, 6.0, 10.0)]
    assert feats.photometry_radii_px() == pytest.approx(radii_px)
    raw = lambda idx: np.arcsinh(aperture_fluxes(a.pixels[idx], radii_px) / 1.0).reshape(len(idx), -1)  # noqa: E731
    tr = raw(split["train"])
    want = (raw(split["test"]) - tr.mean(axis=0)) / tr.std(axis=0)
    np.testing.assert_allclose(feats.image_photometry_features(a.take(split["test"])), want, rtol=1e-4, atol=1e-4)
    assert feats.n_photometry == 20
    vec = feats.image_vector_features(a.take(split["test"]))
    assert vec.shape == (len(split["test"]), 10 + 20)


def test_features_refuse_another_resolution_or_quality():
    a = _arrays()
    _, feats = fit_on_train(a, CFG)
    other = SfrArrays(a.object_id, a.pixels[:, :, :4, :4], a.flux, a.log_norm, a.log_sfr, a.obj_class, z=a.z)
    with pytest.raises(ValueError, match="fitted on"):
        feats.image_cnn_input(other)
    other = SfrArrays(a.object_id, a.pixels, a.flux[:, :20], a.log_norm, a.log_sfr, a.obj_class, z=a.z)
    with pytest.raises(ValueError, match="fitted on 40 px"):
        feats.spectrum_pca_features(other)
    no_z = SfrArrays(a.object_id, a.pixels, a.flux, a.log_norm, a.log_sfr, a.obj_class)
    with pytest.raises(ValueError, match="redshift"):
        feats.spectrum_pca_features(no_z)


def test_redshift_feature_is_log1pz_scaled_on_train():
    a = _arrays()
    split, feats = fit_on_train(a, CFG)
    train = a.take(split["train"])
    lz = np.log10(1 + train.z)
    col = feats.spectrum_pca_features(train)[:, -1]
    np.testing.assert_allclose(col, (lz - lz.mean()) / lz.std(), rtol=1e-4, atol=1e-5)
    flux_col = feats.spectrum_flux_features(a.take(split["test"]))[:, -1]
    lt = np.log10(1 + a.z[split["test"]])
    np.testing.assert_allclose(flux_col, (lt - lz.mean()) / lz.std(), rtol=1e-4, atol=1e-5)


def test_make_arrays_and_config_checks():
    rng = np.random.default_rng(2)
    a = make_arrays(np.arange(4), rng.normal(size=(4, 5, 64, 64)), rng.normal(size=(4, 3688)), np.ones((4, 3688)),
                    np.full(4, 100.0), np.zeros(4), np.array(["GALAXY"] * 4), 32, 1)
    assert a.pixels.shape == (4, 5, 32, 32) and a.flux.shape == (4, 1844)
    assert a.log_norm == pytest.approx([2.0] * 4)
    from skysift.config import ConfigError

    with pytest.raises(ConfigError, match="image_px"):
        SfrModelsConfig(image_px=48)
    with pytest.raises(ConfigError, match="spectrum_branch_input"):
        SfrModelsConfig(spectrum_branch_input="raw")


def test_few_training_rows_give_bounded_features():
    """With fewer training rows than PCA components (the demo: 33), the components stop at the data's rank and
    the scalers' floor keeps held-out features bounded (they were ~1e14 before)."""
    a = _arrays(n=20)
    a.flux[:, 5] = 1.0  # a pixel constant on every row ...
    a.flux[-1, 5] = 1.5  # ... but one (held out or not)
    split, feats = fit_on_train(a, SfrModelsConfig())
    assert feats.spectrum_pca.n_components_ <= len(split["train"]) - 1
    assert feats.image_pca.n_components_ <= len(split["train"]) - 1
    held = a.take(np.concatenate([split["val"], split["test"]]))
    for x in (feats.spectrum_pca_features(held), feats.image_vector_features(held), feats.spectrum_flux_features(held)):
        assert np.isfinite(x).all() and np.abs(x).max() < 1e4
