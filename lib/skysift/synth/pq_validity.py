"""The PQ validity set of Lu et al. 2022 section 3.1.4, synthetic: emission-line galaxies among F-type stars.

The paper: 100 LAMOST DR6 galaxies with strong emission lines and 4000 LAMOST DR5 F-type spectra with
S/N_g > 50, on the 2 A grid, normalised as in its section 3.1.3. Here: F0/F5 stars of the default model
(``synth.model``, Teff 6500-7200 K, its Balmer and metal lines) at S/N 50-100, and star-forming / composite /
Seyfert / LINER galaxies of the pool (``synth.emission_pool``) at S/N 20-60 with the pool's line strengths,
both resampled onto ``grid`` with the ingest resampler (``spectra.resample``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skysift.spectra.grid import GridConfig
from skysift.spectra.resample import resample_batch
from skysift.synth import model as M
from skysift.synth import sky

PQ_VALIDITY_STREAM = 16
"""Second entropy word of the star rows of the validity set."""
F_TYPE_UNIFORM = (0.08, 0.30)
"""The ``star_type`` uniforms that pick F0 or F5 in ``model.STAR_TYPES`` (cumulative frequency 0.08-0.30)."""


def f_star_spectra(n: int, seed: int, snr: tuple[float, float] = (50.0, 100.0)) -> M.SynthBatch:
    """``n`` F-type stars (model grid), S/N log-uniform in ``snr``, |v| < 100 km/s."""
    u = np.stack([np.random.default_rng([int(seed), PQ_VALIDITY_STREAM, i]).random(M.N_UNIFORMS) for i in range(n)]) \
        if n else np.zeros((0, M.N_UNIFORMS))
    lo, hi = F_TYPE_UNIFORM
    u[:, M.P["star_type"]] = lo + (hi - lo) * u[:, M.P["star_type"]]
    z = (u[:, M.P["star_v"]] - 0.5) * 200.0 / M.C_KMS
    shape, itype = M._star_continuum(u, z)
    amp = 10 ** (np.log10(5.0) + np.log10(40.0) * u[:, M.P["amp"]])
    model = M._normalise(shape, amp)
    s = 10 ** (np.log10(snr[0]) + (np.log10(snr[1]) - np.log10(snr[0])) * u[:, M.P["snr"]])
    boost = sky.sky_variance_boost(M.LOGLAM0 + M.K_LO * M.DLOGLAM, M.DLOGLAM, M.N_MODEL)
    sigma = (amp / s)[:, None] * (sky.edge_noise_factor(M._WAVE) * np.sqrt(boost))[None, :]
    noise = np.stack([np.random.default_rng([int(seed), PQ_VALIDITY_STREAM, i, 1]).standard_normal(M.N_MODEL)
                      for i in range(n)]) if n else np.zeros((0, M.N_MODEL))
    flux = (model + sigma * noise).astype(np.float32)
    k0 = np.full(n, 682, np.int64)
    npix = np.full(n, 3905, np.int64)
    truth = {"subclass": np.array([M.STAR_TYPES[i][0] for i in itype], dtype=object), "snr": s}
    return M.SynthBatch(rows=np.arange(n), flux=flux, ivar=(1.0 / sigma**2).astype(np.float32),
                        and_mask=np.zeros(flux.shape, np.int32), model=model.astype(np.float32),
                        sky=np.zeros(flux.shape, np.float32), wdisp=np.ones(flux.shape, np.float32), k0=k0, n_pix=npix,
                        truth=truth, meta={})


def pq_validity_set(n_galaxies: int, n_stars: int, seed: int, grid: GridConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flux (n, n_pix) float32, ivar, is_galaxy (n,) bool) on ``grid``: galaxies first, then stars."""
    from skysift.synth.emission_pool import generate_pool
    from skysift.synth.pool_config import PoolMix

    zero = {f.name: 0.0 for f in dataclasses.fields(PoolMix)}
    mix = PoolMix(**{**zero, "star_forming": 0.5, "composite": 0.2, "seyfert": 0.15, "liner": 0.15})
    cfg = M.SynthModelConfig(population="lu2022_pool")
    cfg = dataclasses.replace(cfg, pool=dataclasses.replace(cfg.pool, mix=mix, snr_min=20.0, snr_max=60.0,
                                                            repeat_fraction=0.0, log_ew_ha_boost_dex=0.5))
    gal = generate_pool(np.arange(n_galaxies), seed, cfg)
    stars = f_star_spectra(n_stars, seed)
    loglam = M.model_loglam()
    rows = []
    for batch in (gal, stars):
        for i in range(len(batch.rows)):
            s = batch.pixel_slice(i)
            rows.append((loglam[s], batch.flux[i, s], batch.ivar[i, s], batch.and_mask[i, s]))
    res = resample_batch(*zip(*rows), grid)
    is_gal = np.concatenate([np.ones(n_galaxies, bool), np.zeros(n_stars, bool)])
    return res.flux, res.ivar, is_gal
