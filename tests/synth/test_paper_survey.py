"""Issue 19's additions to the synthetic model: 16 outlier subtypes with their own signatures, lens candidates
whose background lines are drawn as a lens search detects them, the BPT line S/N, and the Tang et al. 2025 preset."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from skysift.synth import lines as L
from skysift.synth.model import (
    OUTLIER_SUBTYPES, SKY_RESIDUAL_LINES, ClassMix, LensSourceConfig, OutlierMix, SynthModelConfig, _window_mean,
    bpt_line_snr, generate, line_snr_from_truth, model_loglam, pix_of,
)

WAVE = 10.0 ** model_loglam().astype(np.float64)
ONLY_OUTLIERS = ClassMix(star_forming=0, composite=0, seyfert=0, liner=0, passive=0, qso=0, star=0, lens=0, outlier=1)
ALL_SIXTEEN = OutlierMix(**{name: 1.0 for name in OUTLIER_SUBTYPES})


def test_default_outlier_mix_draws_the_original_four_as_floor_4u():
    # the surveys made before issue 19 drew min(floor(4 u), 3): the default mix must give the same subtype per row
    cfg = SynthModelConfig(classes=ONLY_OUTLIERS)
    b = generate(np.arange(200), 11, cfg)
    from skysift.synth.model import P, draw_row_randoms

    u, _ = draw_row_randoms(np.arange(200), 11, with_noise=False)
    expect = np.array(OUTLIER_SUBTYPES, dtype=object)[np.minimum((u[:, P["out_sub"]] * 4).astype(int), 3)]
    assert (b.truth.outlier_subtype.to_numpy() == expect).all()


def test_new_subtypes_leave_default_survey_bytes_alone():
    # a default survey with outliers hashes the same whether or not the other twelve subtypes exist in the mix
    rows = np.arange(300)
    a = generate(rows, 5, SynthModelConfig())
    b = generate(rows, 5, SynthModelConfig(outlier_subtypes=OutlierMix()))
    assert hashlib.sha256(a.flux.tobytes()).hexdigest() == hashlib.sha256(b.flux.tobytes()).hexdigest()
    # and a row that is not an outlier keeps its bytes when the mix weights all sixteen
    c = generate(rows, 5, SynthModelConfig(outlier_subtypes=ALL_SIXTEEN))
    normal = (a.truth.target_class != "outlier").to_numpy()
    assert np.array_equal(a.flux[normal], c.flux[normal])


@pytest.fixture(scope="module")
def outliers():
    cfg = SynthModelConfig(classes=ONLY_OUTLIERS, outlier_subtypes=ALL_SIXTEEN, noiseless=True)
    return generate(np.arange(480), 3, cfg)


def _rows(b, name):
    return np.flatnonzero((b.truth.outlier_subtype == name).to_numpy())


def test_all_sixteen_subtypes_drawn_and_finite(outliers):
    counts = outliers.truth.outlier_subtype.value_counts()
    assert set(counts.index) == set(OUTLIER_SUBTYPES)
    assert counts.min() >= 15  # 480 rows over 16 equal weights: 30 expected each
    assert np.isfinite(outliers.model).all()


def test_sky_residual_spikes_sit_on_sky_lines(outliers):
    b = outliers
    for i in _rows(b, "sky_residual")[:5]:
        s = b.pixel_slice(i)
        m = b.model[i]
        inside = [w for w in SKY_RESIDUAL_LINES if WAVE[s][5] < w < WAVE[s][-5]]
        k = np.rint(pix_of(np.asarray(inside))).astype(int)
        # a spike differs from the mean of pixels 4-8 away on either side by far more than elsewhere
        def contrast(kk):
            side = np.r_[m[kk - 8:kk - 3], m[kk + 4:kk + 9]]
            return abs(m[kk] - side.mean()) / max(side.std(), 1e-9)
        assert np.median([contrast(kk) for kk in k]) > 5


def test_cosmic_rays_are_single_pixel_spikes(outliers):
    b = outliers
    for i in _rows(b, "cosmic_ray_spikes")[:5]:
        s = b.pixel_slice(i)
        m = b.model[i, s].astype(np.float64)
        n = 0
        for j in range(6, len(m) - 6):
            c = np.median(m[j - 6:j + 7])
            h = m[j] - c
            # one pixel far above its surroundings, its neighbours < 1/4 of it: no resolved line looks like that
            if h > 0.3 * c and m[j] == m[j - 1:j + 2].max() and max(m[j - 1], m[j + 1]) - c < 0.25 * h:
                n += 1
        assert 4 <= n <= 12


def test_flux_dropout_block(outliers):
    b = outliers
    for i in _rows(b, "flux_dropout")[:5]:
        start = b.truth.outlier_wave_angstrom.iat[i]
        s = b.pixel_slice(i)
        block = (WAVE[s] > start + 5) & (WAVE[s] < start + 195)
        assert b.model[i, s][block].mean() < 0.11 * np.median(b.model[i, s][~block])
        assert (b.ivar[i, s][block] > 0).all()  # the ivar does not flag it


def test_post_starburst_and_featureless_have_no_emission(outliers):
    t = outliers.truth
    for name in ("post_starburst", "featureless_continuum"):
        r = _rows(outliers, name)
        assert (t.flux_ha_6563.to_numpy()[r] == 0).all() and (t.bpt_class.to_numpy()[r] == "none").all()
    # E+A: Hdelta absorption deeper than in the featureless (power-law dominated) spectra
    def hdelta_depth(rows):
        z = t.z.to_numpy()[rows]
        line = _window_mean(outliers.model[rows], pix_of(L.HDELTA * (1 + z)), 1)
        side = 0.5 * (_window_mean(outliers.model[rows], pix_of((L.HDELTA - 40) * (1 + z)), 3)
                      + _window_mean(outliers.model[rows], pix_of((L.HDELTA + 40) * (1 + z)), 3))
        return 1 - line / side
    assert np.median(hdelta_depth(_rows(outliers, "post_starburst"))) > 0.15
    assert np.median(hdelta_depth(_rows(outliers, "post_starburst"))) > 2 * np.median(hdelta_depth(_rows(outliers, "featureless_continuum")))


def test_extreme_emission_and_broad_features(outliers):
    t, m = outliers.truth, outliers.model
    ee = _rows(outliers, "extreme_emission")
    z = t.z.to_numpy()[ee]
    cont = _window_mean(m[ee], pix_of(6400 * (1 + z)), 10)
    ew = t.flux_ha_6563.to_numpy()[ee] / cont / (1 + z)
    assert np.median(ew) > 250  # rest EW(Halpha) 300-1500 A
    for name, wave in (("wolf_rayet", 4687.0), ("broad_balmer", L.HALPHA)):
        r = _rows(outliers, name)
        z = t.z.to_numpy()[r]
        # 20 A (rest) off the line centre there is still line flux: a broad feature, not a narrow line
        off = _window_mean(m[r], pix_of((wave + 20) * (1 + z)), 1)
        far = _window_mean(m[r], pix_of((wave + 150) * (1 + z)), 3)
        assert np.median(off / far) > 1.05, name


def test_double_peaked_lines_split_in_two(outliers):
    t, m = outliers.truth, outliers.model
    for i in _rows(outliers, "double_peaked_lines")[:6]:
        z = t.z.iat[i]
        k = pix_of(np.array([L.OIII_5007 * (1 + z)]))[0]
        seg = m[i, int(k) - 8:int(k) + 9]
        # two maxima with a dip between them at the systemic wavelength
        peaks = [j for j in range(1, len(seg) - 1) if seg[j] >= seg[j - 1] and seg[j] >= seg[j + 1] and seg[j] > 1.2 * seg.min()]
        assert len(peaks) >= 2, seg


def test_lens_lines_drawn_as_detected():
    only_lens = ClassMix(star_forming=0, composite=0, seyfert=0, liner=0, passive=0, qso=0, star=0, lens=1, outlier=0)
    cfg = SynthModelConfig(classes=only_lens, lens_likely_snr=8.5, lens_probable_snr=6.75, lens_source=LensSourceConfig(
        line_snr="detected", combined_snr_min=4.5, combined_snr_max=60.0, snr_power=0.4, z_offset=(0.15, 0.6)))
    b = generate(np.arange(800), 9, cfg)
    t = b.truth
    dz = (t.z_source - t.z).to_numpy()
    assert dz.min() >= 0.15 and dz.max() <= 0.6
    assert t.lens_line_snr.min() >= 4.5 * 0.999
    # every candidate's second-strongest of [O II] / Hbeta / [O III] reaches S/N 3 (per-line S/N, same model)
    from skysift.synth.model import _lens_line_snr

    fl = np.stack([t[f"flux_src_{k}"].to_numpy(np.float64) for k in L.LENS_SOURCE_LINES], axis=1)
    sigma0 = t.flux_5500.to_numpy(np.float64) / t.snr.to_numpy(np.float64)
    # the source's line width is not in the truth: at the narrowest width drawn (40 km/s) the S/N is the
    # highest it can be, so if that is below 3 the candidate failed the selection
    snr_l = _lens_line_snr(fl, t.z_source.to_numpy(), np.full(len(t), 40.0), sigma0, t.k0.to_numpy(), t.n_pix.to_numpy())
    second = -np.sort(-snr_l[:, :3], axis=1)[:, 1]  # of [O II], Hbeta, [O III]
    two_inside = second > 0  # a second line falls inside the coverage (else only the one there is is scaled)
    assert two_inside.mean() > 0.9
    assert (second[two_inside] >= 3.0 * 0.999).all()
    frac = t.lens_grade.value_counts(normalize=True)
    # the eBOSS candidates' grade mix (838 / 448 / 265 of 1,551): 0.54 / 0.29 / 0.17
    assert frac["likely"] == pytest.approx(0.54, abs=0.05)
    assert frac["probable"] == pytest.approx(0.29, abs=0.05)
    assert frac["possible"] == pytest.approx(0.17, abs=0.05)


def test_bpt_line_snr_scales_with_flux_over_noise():
    cfg = SynthModelConfig(classes=ClassMix(star_forming=0, composite=0, seyfert=0, liner=1, passive=0, qso=0, star=0,
                                            lens=0, outlier=0), noiseless=True)
    t = generate(np.arange(100), 2, cfg).truth
    s = bpt_line_snr(t)
    assert (s > 0).all()
    # twice the line flux, twice the S/N; a quarter of the continuum S/N, a quarter of the line S/N
    t2 = t.copy()
    for c in ("flux_hb_4861", "flux_oiii_5007", "flux_ha_6563", "flux_nii_6584"):
        t2[c] = 2 * t2[c]
    assert bpt_line_snr(t2) == pytest.approx(2 * s, rel=1e-5)
    t3 = t.copy()
    t3["snr"] = t3["snr"] / 4
    assert bpt_line_snr(t3) == pytest.approx(s / 4, rel=1e-5)
    # the minimum over the four lines
    each = np.stack([line_snr_from_truth(t, c, w) for c, w in (("flux_hb_4861", L.HBETA), ("flux_oiii_5007", L.OIII_5007),
                                                                 ("flux_ha_6563", L.HALPHA), ("flux_nii_6584", L.NII_6584))])
    assert np.array_equal(each.min(axis=0), s)


def test_measured_line_snr_matches_the_expected_one():
    # the expected S/N of Halpha from the truth against a direct measurement on noisy spectra: optimal Gaussian
    # extraction with the known line centre and width, scatter over many noise draws
    cfg = SynthModelConfig(classes=ClassMix(star_forming=1, composite=0, seyfert=0, liner=0, passive=0, qso=0, star=0,
                                            lens=0, outlier=0), mask_run_probability=0.0)
    b = generate(np.arange(60), 8, cfg)
    t = b.truth
    from skysift.synth.model import KMS_PER_PIX, SIGMA_INST_KMS

    expect = line_snr_from_truth(t, "flux_ha_6563", L.HALPHA)
    resid = b.flux.astype(np.float64) - b.model.astype(np.float64)  # the noise realisation alone
    k = pix_of(L.HALPHA * (1 + t.z.to_numpy()))
    sig_pix = np.sqrt(t.sigma_gas_kms.to_numpy() ** 2 + SIGMA_INST_KMS**2) / KMS_PER_PIX
    pix = np.arange(b.flux.shape[1])[None, :]
    prof = np.exp(-0.5 * ((pix - k[:, None]) / sig_pix[:, None]) ** 2)
    w = prof * b.ivar
    # noise of the optimal line estimate relative to its signal = 1 / S/N
    signal = (w * (b.model - _window_mean(b.model, k + 40, 10)[:, None]) * (prof > 1e-3)).sum(1)
    noise_draw = (w * resid * (prof > 1e-3)).sum(1)
    ratio = noise_draw / signal * expect
    assert np.std(ratio) == pytest.approx(1.0, abs=0.3)


def test_stratified_class_draw_holds_the_proportions():
    mix = ClassMix(star_forming=4320, composite=1440, seyfert=1120, liner=1600, passive=5592, qso=0, star=0, lens=1551,
                   outlier=377)
    cfg = SynthModelConfig(classes=mix, outlier_subtypes=ALL_SIXTEEN, class_draw="stratified")
    from skysift.synth.model import CLASSES, OUT, P, draw_row_randoms, stratified_uniforms

    # the class and subtype rule of generate() on 16,000 rows without rendering them
    u = stratified_uniforms(np.arange(16000), 2025)
    cum = mix.cumulative()
    cls = np.searchsorted(cum, u, side="right")
    counts = np.bincount(cls, minlength=len(CLASSES))
    expect = np.array([getattr(mix, c) for c in CLASSES])
    assert np.abs(counts - expect).max() <= 2  # random draws: ~sqrt(count), e.g. +-39 for lenses
    inside = (u[cls == OUT] - cum[OUT - 1]) / (cum[OUT] - cum[OUT - 1])
    sub = np.bincount(np.searchsorted(ALL_SIXTEEN.cumulative(), inside, side="right"), minlength=16)
    assert sub.min() >= 22 and sub.max() <= 25  # 377 / 16 = 23.6
    # and generate() does the same on a slice (rows 4000..4399: the slice's own share)
    b = generate(np.arange(4000, 4400), 2025, cfg)
    assert (b.truth.target_class.to_numpy() == np.array(CLASSES, dtype=object)[cls[4000:4400]]).all()
    # the other parameters stay the row's own random draws: the same as with class_draw=random for that class
    ur, _ = draw_row_randoms(np.arange(4000, 4400), 2025, with_noise=False)
    assert np.allclose(b.truth.snr.to_numpy(), 10 ** (np.log10(3) + (np.log10(40) - np.log10(3)) * ur[:, P["snr"]]), rtol=1e-6)
