"""Galaxy10-DECaLS-like stamps for the similarity pipeline: 3-band 256 x 256, one resolved galaxy each.

Stamp i is drawn from ``default_rng([seed, STAMP_STREAM, i])`` only, so any batch of
any size gives the same stamps (executors generate batches in parallel). Each stamp
holds a central galaxy of one of the ten Galaxy10 classes (frequencies: the Galaxy10
DECaLS class counts), framed as Galaxy Zoo cutouts are (R_e 10-36 px at DECaLS's
0.262 arcsec/px), plus Poisson numbers of smaller neighbour galaxies and field stars
(Friberg: "task-irrelevant features (such as the surrounding stars)"), a per-stamp
Moffat PSF and sky noise for the DECaLS depth. The class label is kept in the truth
table only.

The central galaxy is rendered without oversampling (its bulge R_e >= 1.5 px; the
bulge's centre sample carries its exact flux), and the model is truncated at the
stamp's edge.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import geometry as geo
from skysift.synth.imaging import psf as P
from skysift.synth.imaging import render as R
from skysift.synth.imaging import sed
from skysift.synth.imaging.bands import BANDS, mag_to_nmgy
from skysift.synth.imaging.config import GALAXY10_CLASSES, PopulationConfig, StampConfig
from skysift.synth.imaging.objects import SHAPE_COLUMNS
from skysift.schema.imaging_survey import STAMP_TRUTH, STAMPS

_POP = PopulationConfig()


@dataclass
class StampBatch:
    """A batch of stamps and their truth."""

    stamp_ids: np.ndarray
    """(N,) int64 stamp numbers."""
    images: np.ndarray
    """(N, n_bands, S, S) float32 nanomaggies."""
    truth: pd.DataFrame
    """One row per stamp (STAMP_TRUTH columns): label, class name, magnitudes, shape, centre, PSF, counts."""
    bands: tuple[str, ...]
    """Band names of axis 1."""


def _draw(seed: int, cfg: StampConfig, i: int) -> dict:
    """Everything random about stamp i."""
    gen = np.random.default_rng([int(seed), geo.STAMP_STREAM, int(i)])
    bidx = [BANDS.index(b) for b in cfg.bands]
    morph = G.draw_classes(gen, 1, cfg.morphology_mix)
    r = gen.uniform(*cfg.galaxy_mag_range, 1)
    z = G.draw_redshift(gen, r)
    phys = G.physical(gen, morph, r, z, _POP)
    re_px = gen.uniform(*cfg.galaxy_re_range_px, 1)
    shape = G.morphology(gen, morph, re_px * cfg.pixel_scale_arcsec)
    # FWHM rounded to 0.02 arcsec: stamps then share PSF transfer functions (cached) instead of one each.
    fwhm = np.round(geo.draw_fwhm(gen, cfg.psf, cfg.bands) / 0.02) * 0.02
    centre = cfg.size_px // 2 + gen.uniform(-cfg.centre_jitter_px, cfg.centre_jitter_px, 2)
    n_nb = gen.poisson(cfg.mean_neighbours)
    nb_morph = G.draw_classes(gen, n_nb, cfg.morphology_mix)
    nb_r = r[0] + gen.uniform(1.0, 4.0, n_nb)
    nb_z = G.draw_redshift(gen, nb_r)
    nb_phys = G.physical(gen, nb_morph, nb_r, nb_z, _POP)
    nb_shape = G.morphology(gen, nb_morph, gen.uniform(2.0, 8.0, n_nb) * cfg.pixel_scale_arcsec)
    nb_xy = gen.uniform(0, cfg.size_px - 1, (n_nb, 2))
    n_st = gen.poisson(cfg.mean_field_stars)
    st_r = gen.uniform(15.0, 22.0, n_st)
    st_mags = sed.star_mags(st_r, sed.draw_star_types(gen.random(n_st)), gen.standard_normal((n_st, 4)), gen.uniform(-0.5, 0.5, n_st))
    st_xy = gen.uniform(0, cfg.size_px - 1, (n_st, 2))
    noise_seed = int(gen.integers(0, 2**62))
    return {
        "i": i, "morph": int(morph[0]), "mags": phys["mags"][0, bidx], "re_arcsec": float(re_px[0] * cfg.pixel_scale_arcsec),
        "shape": {k: v[:1] for k, v in shape.items()}, "fwhm": fwhm, "centre": centre,
        "nb_shape": nb_shape, "nb_mags": nb_phys["mags"][:, bidx], "nb_xy": nb_xy,
        "st_mags": st_mags[:, bidx], "st_xy": st_xy, "noise_seed": noise_seed,
    }


def _cat_shapes(shapes: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([s[k] for s in shapes]) for k in SHAPE_COLUMNS}


def stamp_batch(seed: int, cfg: StampConfig, first: int, count: int) -> StampBatch:
    """Stamps first .. first + count - 1 of the stamp survey ``seed``."""
    S, nb = cfg.size_px, len(cfg.bands)
    bidx = tuple(BANDS.index(b) for b in cfg.bands)
    draws = [_draw(seed, cfg, i) for i in range(first, first + count)]
    images = np.zeros((count, nb, S, S), np.float32)
    fwhm_px = np.stack([d["fwhm"] for d in draws]) / cfg.pixel_scale_arcsec
    cd = np.array([[0.0, cfg.pixel_scale_arcsec], [cfg.pixel_scale_arcsec, 0.0]]) / 3600.0
    # Central galaxies: one (S, S) profile each, no oversampling.
    shape = _cat_shapes([d["shape"] for d in draws])
    flux = mag_to_nmgy(np.stack([d["mags"] for d in draws]))
    centre = np.stack([d["centre"] for d in draws])
    ic = np.rint(centre).astype(np.int64)
    frac = np.repeat((centre - ic)[:, None, :], nb, axis=1)
    # The profile grid only needs to hold the galaxy (smaller galaxies: fewer samples); the PSF
    # convolution runs on the whole stamp.
    prof = np.minimum(R.choose_size(G.extent_arcsec(shape) / cfg.pixel_scale_arcsec), S)
    for pr in np.unique(prof):
        for chunk in R.chunks(np.flatnonzero(prof == pr), S, 1):
            p = {k: v[chunk] for k, v in shape.items()}
            st, _ = R.render_galaxies(p, flux[chunk], frac[chunk], fwhm_px[chunk], bidx, S, 1, cd, cfg.psf, profile_px=int(pr))
            for j, c in enumerate(chunk):
                for b in range(nb):
                    R.add_stamps(images[c, b], st[j : j + 1, b], [ic[c, 0]], [ic[c, 1]])
    # Neighbour galaxies of all stamps together, grouped by stamp size and oversampling.
    owner = np.concatenate([np.full(len(d["nb_xy"]), k) for k, d in enumerate(draws)]).astype(np.int64)
    if len(owner):
        nshape = R.simplify_unresolved(_cat_shapes([d["nb_shape"] for d in draws]), cfg.pixel_scale_arcsec)
        nflux = mag_to_nmgy(np.concatenate([d["nb_mags"] for d in draws]))
        nxy = np.concatenate([d["nb_xy"] for d in draws])
        nfw = fwhm_px[owner]
        ext = G.extent_arcsec(nshape) / cfg.pixel_scale_arcsec
        prof = R.choose_size(ext)
        size = np.maximum(R.choose_size(ext + 3 * nfw.max(axis=1)), prof)
        smallest = np.minimum(np.where(nshape["bt"] > 0, nshape["re_bulge_arcsec"], np.inf),
                              np.where(nshape["re_disk_arcsec"] > 0, nshape["re_disk_arcsec"], np.inf)) / cfg.pixel_scale_arcsec
        os_ = R.choose_os(smallest)
        for s, pr, o in sorted(set(zip(size.tolist(), prof.tolist(), os_.tolist()))):
            sel = np.flatnonzero((size == s) & (prof == pr) & (os_ == o))
            for chunk in R.chunks(sel, int(pr), int(o)):
                ix = np.rint(nxy[chunk]).astype(np.int64)
                fr = np.repeat((nxy[chunk] - ix)[:, None, :], nb, axis=1)
                st, _ = R.render_galaxies({k: v[chunk] for k, v in nshape.items()}, nflux[chunk], fr, nfw[chunk], bidx, int(s), int(o), cd, cfg.psf, profile_px=int(pr))
                for j, c in enumerate(chunk):
                    for b in range(nb):
                        R.add_stamps(images[owner[c], b], st[j : j + 1, b], [ix[j, 0]], [ix[j, 1]])
    # Field stars.
    sowner = np.concatenate([np.full(len(d["st_xy"]), k) for k, d in enumerate(draws)]).astype(np.int64)
    if len(sowner):
        sflux = mag_to_nmgy(np.concatenate([d["st_mags"] for d in draws]))
        sxy = np.concatenate([d["st_xy"] for d in draws])
        sfw = fwhm_px[sowner]
        size = R.choose_size(np.maximum(6 * sfw.max(axis=1), 12))
        for s in np.unique(size):
            for chunk in R.chunks(np.flatnonzero(size == s), int(s), 3):
                ix = np.rint(sxy[chunk]).astype(np.int64)
                fr = np.repeat((sxy[chunk] - ix)[:, None, :], nb, axis=1)
                st = R.render_points(sflux[chunk], fr, sfw[chunk], int(s), cfg.psf)
                for j, c in enumerate(chunk):
                    for b in range(nb):
                        R.add_stamps(images[sowner[c], b], st[j : j + 1, b], [ix[j, 0]], [ix[j, 1]])
    # Sky noise for the DECaLS depth (sky-limited: source photon noise left out).
    f_lim = mag_to_nmgy(np.array(cfg.depth_5sigma_mag))
    sigma = np.zeros((count, nb))
    for k, d in enumerate(draws):
        sigma[k] = f_lim / (5.0 * np.sqrt([P.neff_px(f, cfg.psf) for f in fwhm_px[k]]))
        if not cfg.noiseless:
            g = np.random.default_rng(d["noise_seed"])
            images[k] += (sigma[k][:, None, None] * g.standard_normal((nb, S, S))).astype(np.float32)
    r_pos = cfg.bands.index("r") if "r" in cfg.bands else 0
    truth = pd.DataFrame(
        {
            "stamp_id": np.arange(first, first + count, dtype=np.int64),
            "label": np.array([d["morph"] for d in draws], np.int8),
            "morphology": np.array([GALAXY10_CLASSES[d["morph"]] for d in draws], dtype=object),
            **{f"mag_{b}": np.array([d["mags"][cfg.bands.index(b)] if b in cfg.bands else np.nan for d in draws], np.float32) for b in ("g", "r", "z")},
            "re_arcsec": np.array([d["re_arcsec"] for d in draws], np.float32),
            "bt": shape["bt"].astype(np.float32),
            "q_disk": shape["q_disk"].astype(np.float32),
            "pa_deg": shape["pa_deg"].astype(np.float32),
            "x_px": centre[:, 0].astype(np.float32),
            "y_px": centre[:, 1].astype(np.float32),
            "fwhm_r_arcsec": np.array([d["fwhm"][r_pos] for d in draws], np.float32),
            "n_stars": np.array([len(d["st_xy"]) for d in draws], np.int16),
            "n_neighbours": np.array([len(d["nb_xy"]) for d in draws], np.int16),
        }
    )
    return StampBatch(stamp_ids=truth["stamp_id"].to_numpy(), images=images, truth=truth, bands=tuple(cfg.bands))


def stamps_table(batch: StampBatch, pixel_scale_arcsec: float) -> pa.Table:
    """The batch as a STAMPS table (pixels flattened band-major); labels are not in it."""
    n, nb, s, _ = batch.images.shape
    flat = pa.array(batch.images.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, (n + 1) * nb * s * s, nb * s * s, dtype=np.int32))
    return pa.Table.from_arrays(
        [
            pa.array(batch.stamp_ids, pa.int64()),
            pa.array(["".join(batch.bands)] * n, pa.string()),
            pa.array(np.full(n, s, np.int16)),
            pa.array(np.full(n, pixel_scale_arcsec, np.float32)),
            pa.ListArray.from_arrays(offsets, flat),
        ],
        schema=STAMPS,
    )


def stamp_truth_table(batch: StampBatch) -> pa.Table:
    """The batch's truth as a STAMP_TRUTH table."""
    return pa.Table.from_pandas(batch.truth, schema=STAMP_TRUTH, preserve_index=False)


def to_uint8_rgb(images: np.ndarray, bands: tuple[str, ...] = ("g", "r", "z")) -> np.ndarray:
    """(N, S, S, 3) uint8 colour images (z -> red, r -> green, g -> blue), Lupton asinh stretch (astropy).

    Band scales 2.2 / 3.4 / 6.0 per nanomaggy follow the Legacy Survey viewer's (a stand-in for
    Galaxy10's own JPEG rendering; skysift choice).
    """
    from astropy.visualization import make_lupton_rgb

    gi, ri, zi = (bands.index(b) for b in ("g", "r", "z"))
    out = np.empty(images.shape[:1] + images.shape[2:] + (3,), np.uint8)
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides 0 / 0 where all bands are <= 0
        for k, im in enumerate(images):
            out[k] = make_lupton_rgb(im[zi] * 2.2, im[ri] * 3.4, im[gi] * 6.0, minimum=0.0, stretch=0.4, Q=6)
    return out
