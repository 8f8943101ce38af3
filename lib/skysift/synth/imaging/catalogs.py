"""Catalogs of the synthetic imaging survey: photoObj-like, SpecPhoto-like, truth, MPA-JHU-like (pyarrow).

photoObj rows are *measurements* of the truth with the noise the frames have:

* PSF flux: the flux a PSF fit at the centre measures, F sum(G P) / sum(P^2), from the renderer
  (exact for the rendered model; F for point sources), error
  sqrt(sigma_sky^2 n_eff + calib F / gain) with the PSF's noise-equivalent area n_eff;
* model flux: the truncated model's total, error over 4 pi (s_g^2 + s_p^2) pixels;
* Petrosian radius (eta = 0.2) of the Sersic profile (bulge or disk, whichever dominates) added
  in quadrature to the PSF's (0.98 FWHM for a Gaussian), flux within 2 R_P, aperture error;
* type 3 / 6 from psfMag_r - modelMag_r > 0.145 (SDSS's rule), so faint galaxies can be typed 6;
* completeness: every object brighter than ``complete_mag_r`` is catalogued, fainter ones with
  probability 1 / (1 + exp((r - m50) / w)): the catalog misses faint sources, as PhotoObjAll does
  (why Zhao et al. 2025 paste sources onto a clean background).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.synth.model import STAR_TYPES
from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging import geometry as geo
from skysift.synth.imaging import psf as P
from skysift.synth.imaging.bands import BANDS, asinh_mag, asinh_mag_err
from skysift.synth.imaging.config import GALAXY10_CLASSES, ImagingSurveyConfig
from skysift.synth.imaging.frames import FieldImage
from skysift.schema.imaging_survey import IMAGING_TRUTH, MPAJHU, PHOTOOBJ, SPECPHOTO

SATURATED = 1 << 18
"""SDSS photo flag bit SATUR."""
SKY_VERSION = 2
PETRO_ETA = 0.2
"""Petrosian ratio that defines R_P (SDSS: 0.2)."""
GAUSS_PETRO_PER_FWHM = 0.98
"""R_P of a Gaussian PSF in FWHM units (x / (e^x - 1) = 0.2 at x = R^2 / 2 sigma^2 = 2.66)."""


@lru_cache(maxsize=1)
def _petro_table() -> tuple[np.ndarray, np.ndarray]:
    """(n grid, R_P / R_e) for Sersic profiles, eta(R) = I(R) pi R^2 / L(<R) = 0.2."""
    from scipy.special import gamma, gammainc

    n = np.linspace(0.5, 8.0, 151)
    b = G.sersic_b(n)
    x = np.geomspace(0.05, 50.0, 4000)[None, :]
    nn, bb = n[:, None], b[:, None]
    lum = 2 * np.pi * nn * np.exp(bb) * gamma(2 * nn) / bb ** (2 * nn) * gammainc(2 * nn, bb * x ** (1 / nn))
    eta = np.exp(-bb * (x ** (1 / nn) - 1)) * np.pi * x**2 / lum
    idx = np.argmax(eta < PETRO_ETA, axis=1)
    return n, x[0, idx]


def petro_ratio(n: np.ndarray) -> np.ndarray:
    """R_P / R_e of a Sersic profile of index n (2.16 for n = 1, ~1.7 for n = 4)."""
    grid, ratio = _petro_table()
    return np.interp(np.asarray(n, dtype=np.float64), grid, ratio)


def objid(run: int, rerun: str, camcol: np.ndarray, field: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """SDSS-style bit-packed objID."""
    return (
        (np.int64(SKY_VERSION) << 59)
        | (np.int64(int(rerun)) << 48)
        | (np.int64(run) << 32)
        | (np.asarray(camcol, dtype=np.int64) << 29)
        | (np.asarray(field, dtype=np.int64) << 16)
        | np.asarray(obj, dtype=np.int64)
    )


def spec_id(object_id: np.ndarray) -> np.ndarray:
    """The spectral survey's spec_id of an object (model row = object_id): synth-<object_id:08d>."""
    return np.array([f"synth-{int(o):08d}" for o in np.asarray(object_id)], dtype=object)


def _galaxy_size(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Light-weighted circularised R_e (arcsec) and the dominant component's Sersic index; 0 and 1 for points."""
    bt = df["bt"].to_numpy()
    re = bt * df["re_bulge_arcsec"].to_numpy() * np.sqrt(np.maximum(df["q_bulge"].to_numpy(), 1e-3)) + (1 - bt) * df[
        "re_disk_arcsec"
    ].to_numpy() * np.sqrt(np.maximum(df["q_disk"].to_numpy(), 1e-3))
    n = np.where(bt >= 0.5, df["n_bulge"].to_numpy(), 1.0)
    point = df["morphology"].to_numpy() < 0
    return np.where(point, 0.0, re), np.where(point, 1.0, np.maximum(n, 0.5))


def detection_probability(r_mag: np.ndarray, cat) -> np.ndarray:
    """Chance that the photoObj-like catalog lists a source of true r magnitude ``r_mag``."""
    r = np.asarray(r_mag, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp((r - cat.miss_half_mag_r) / cat.miss_width_mag))
    return np.where(r < cat.complete_mag_r, 1.0, p)


def measure(seed: int, cfg: ImagingSurveyConfig, fi: FieldImage) -> pd.DataFrame:
    """Measured photometry of every in-frame object of a field (before the completeness cut), plus 'detected'."""
    df = fi.objects[fi.objects["in_frame"]].reset_index(drop=True)
    n = len(df)
    gen = np.random.default_rng([int(seed), geo.CATALOG_STREAM, fi.fid.camcol, fi.fid.k + 1])
    scale = cfg.pixel_scale_arcsec
    re, n_sersic = _galaxy_size(df)
    s_g = re / 1.1774 / scale  # Gaussian-equivalent width (px) of the galaxy
    fwhm_px = fi.cond.fwhm_arcsec / scale
    out: dict[str, np.ndarray] = {}
    r_p = np.sqrt((petro_ratio(n_sersic) * re) ** 2 + (GAUSS_PETRO_PER_FWHM * fi.cond.fwhm_arcsec[2]) ** 2)
    # Light inside 2 R_P: the PSF's for point sources, the Sersic profile's (seeing ignored) for galaxies.
    fwhm_r = fi.cond.fwhm_arcsec[2]
    if cfg.psf.profile == "moffat":
        beta = cfg.psf.moffat_beta
        psf_in = 1.0 - (1.0 + (2 * r_p / P.moffat_alpha(fwhm_r, beta)) ** 2) ** (1 - beta)
    else:
        psf_in = 1.0 - np.exp(-0.5 * (2 * r_p / (fwhm_r / P.FWHM_PER_SIGMA)) ** 2)
    frac_petro = np.where(df["morphology"].to_numpy() < 0, psf_in, G.sersic_enclosed(n_sersic, 2 * r_p / np.maximum(re, 1e-6)))
    for b, band in enumerate(BANDS):
        flux = df[f"flux_{band}"].to_numpy()
        sp = fwhm_px[b] / 2.3548
        sig = fi.sigma_sky_nmgy[b]
        calib = float(np.median(fi.calib[b]))
        poisson = calib * np.maximum(flux, 0) / cfg.gain[b]
        # The renderer's exact PSF-fit fraction when present, else the Gaussian approximation.
        ratio = df[f"psf_frac_{band}"].to_numpy() if f"psf_frac_{band}" in df else 2 * sp**2 / (s_g**2 + 2 * sp**2)
        psf_flux = flux * ratio
        e_psf = np.sqrt(sig**2 * P.neff_px(fwhm_px[b], cfg.psf) + calib * np.maximum(psf_flux, 0) / cfg.gain[b])
        e_model = np.where(s_g > 0, np.sqrt(sig**2 * 4 * np.pi * (s_g**2 + sp**2) + poisson), e_psf)
        petro = flux * frac_petro
        e_petro = np.sqrt(sig**2 * np.pi * (2 * r_p / scale) ** 2 + calib * petro / cfg.gain[b])
        g = gen.standard_normal((3, n))
        m_psf, m_model, m_petro = psf_flux + e_psf * g[0], flux + e_model * g[1], petro + e_petro * g[2]
        out[f"psfFlux_{band}"] = m_psf
        out[f"psfFluxIvar_{band}"] = 1.0 / e_psf**2
        out[f"psfMag_{band}"] = asinh_mag(m_psf, b)
        out[f"psfMagErr_{band}"] = asinh_mag_err(m_psf, e_psf, b)
        out[f"modelFlux_{band}"] = m_model
        out[f"modelMag_{band}"] = asinh_mag(m_model, b)
        out[f"modelMagErr_{band}"] = asinh_mag_err(m_model, e_model, b)
        out[f"petroMag_{band}"] = asinh_mag(m_petro, b)
        out[f"petroMagErr_{band}"] = asinh_mag_err(m_petro, e_petro, b)
    snr_r = np.maximum(df["flux_r"].to_numpy() / np.sqrt(fi.sigma_sky_nmgy[2] ** 2 * P.neff_px(fwhm_px[2], cfg.psf)), 1.0)
    pos_err_deg = np.maximum(0.6 * fi.cond.fwhm_arcsec[2] / snr_r, 0.005) / 3600.0
    d = gen.standard_normal((2, n)) * pos_err_deg
    dec = df["dec"].to_numpy() + d[1]
    ra = np.mod(df["ra"].to_numpy() + d[0] / np.cos(np.radians(dec)), 360.0)
    detected = gen.random(n) < detection_probability(df["mag_r"].to_numpy(), cfg.catalog)
    meas = pd.DataFrame({"object_id": df["object_id"].to_numpy(), "ra": ra, "dec": dec, "petroRad_r": r_p, **out})
    meas["type"] = np.where(meas["psfMag_r"] - meas["modelMag_r"] > cfg.catalog.star_galaxy_split_mag, 3, 6).astype(np.int8)
    meas["detected"] = detected
    return meas


def photoobj_table(seed: int, cfg: ImagingSurveyConfig, fi: FieldImage, meas: pd.DataFrame | None = None) -> pa.Table:
    """The photoObj-like table of one field (detected objects only), PHOTOOBJ schema."""
    from skysift.sky.healpix import healpix_index

    meas = measure(seed, cfg, fi) if meas is None else meas
    truth = fi.objects[fi.objects["in_frame"]].reset_index(drop=True)
    keep = meas["detected"].to_numpy()
    m, t = meas[keep].reset_index(drop=True), truth[keep].reset_index(drop=True)
    obj = np.arange(1, len(m) + 1, dtype=np.int64)
    cols = {
        "objid": objid(cfg.run, cfg.rerun, np.full(len(m), fi.fid.camcol), np.full(len(m), fi.fid.field), obj),
        "run": np.full(len(m), cfg.run, np.int32),
        "rerun": np.full(len(m), cfg.rerun, dtype=object),
        "camcol": np.full(len(m), fi.fid.camcol, np.int16),
        "field": np.full(len(m), fi.fid.field, np.int32),
        "obj": obj.astype(np.int32),
        "mode": np.where(t["primary"].to_numpy(), 1, 2).astype(np.int8),
        "type": m["type"].to_numpy(),
        "flags": np.where(t["saturated_bands"].to_numpy() > 0, SATURATED, 0).astype(np.int64),
        "ra": m["ra"].to_numpy(),
        "dec": m["dec"].to_numpy(),
    }
    for name in PHOTOOBJ.names:
        if name not in cols and name in m:
            cols[name] = m[name].to_numpy()
    cols["object_id"] = m["object_id"].to_numpy()
    cols["field_index"] = np.full(len(m), fi.fid.index, np.int32)
    cols["healpix29"] = healpix_index(cols["ra"], cols["dec"]) if len(m) else np.zeros(0, np.int64)
    return pa.Table.from_pydict({k: cols[k] for k in PHOTOOBJ.names}, schema=PHOTOOBJ)


def subclass_of(df: pd.DataFrame) -> np.ndarray:
    """SDSS-like subclass strings for objects."""
    names = {"star_forming": "STARFORMING", "composite": "COMPOSITE", "seyfert": "AGN", "liner": "AGN", "passive": "", "qso": "BROADLINE"}
    st = df["star_type"].to_numpy()
    return np.array(
        [STAR_TYPES[s][0] if s >= 0 else names.get(c, "") for s, c in zip(st, df["spec_class"].to_numpy())], dtype=object
    )


def specphoto_table(cfg: ImagingSurveyConfig, fi: FieldImage, photo: pa.Table) -> pa.Table:
    """SpecPhoto-like rows of one field: detected primary objects chosen for spectroscopy, SPECPHOTO schema."""
    p = photo.to_pandas()
    p = p[p["mode"] == 1]
    t = fi.objects.set_index("object_id")
    p = p[t.loc[p["object_id"], "is_spec"].to_numpy()]
    tt = t.loc[p["object_id"]].reset_index()
    z = tt["z"].to_numpy()
    cls = tt["class"].to_numpy()
    z_err = np.select([cls == "QSO", cls == "STAR"], [3e-4 * (1 + z), np.full(len(z), 5e-6)], 1.5e-5 * (1 + z))
    cols = {
        "specobjid": p["object_id"].to_numpy(),
        "spec_id": spec_id(p["object_id"].to_numpy()),
        "objid": p["objid"].to_numpy(),
        "ra": tt["ra"].to_numpy(),
        "dec": tt["dec"].to_numpy(),
        "class": cls,
        "subclass": subclass_of(tt),
        "z": z,
        "zErr": z_err,
        "zWarning": tt["zwarning"].to_numpy().astype(np.int32),
        "type": p["type"].to_numpy(),
    }
    for name in SPECPHOTO.names:
        if name not in cols and name in p:
            cols[name] = p[name].to_numpy()
    return pa.Table.from_pydict({k: cols[k] for k in SPECPHOTO.names}, schema=SPECPHOTO)


def truth_table(objects: pd.DataFrame, field: FieldImage | None = None, detected: pd.Series | None = None) -> pa.Table:
    """IMAGING_TRUTH rows of ``objects`` (survey_objects, or a FieldImage's objects with its field columns)."""
    from skysift.sky.healpix import healpix_index

    df = objects
    n = len(df)
    morph = df["morphology"].to_numpy().astype(np.int64)
    cols = {
        "object_id": df["object_id"].to_numpy(),
        "camcol": df["camcol"].to_numpy(),
        "cell": df["cell"].to_numpy(),
        "primary_field_index": df["primary_field_index"].to_numpy() if "primary_field_index" in df else np.full(n, -1, np.int32),
        "ra": df["ra"].to_numpy(),
        "dec": df["dec"].to_numpy(),
        "healpix29": healpix_index(df["ra"].to_numpy(), df["dec"].to_numpy()) if n else np.zeros(0, np.int64),
        "class": df["class"].to_numpy(),
        "morphology": np.array(GALAXY10_CLASSES + ("point",), dtype=object)[np.where(morph >= 0, morph, 10)],
        "morphology_label": morph.astype(np.int8),
        "target_class": df["spec_class"].to_numpy(),
        "star_type": np.array([STAR_TYPES[s][0] if s >= 0 else "" for s in df["star_type"].to_numpy()], dtype=object),
        "is_spec": df["is_spec"].to_numpy(),
        "spec_id": np.where(df["is_spec"].to_numpy(), spec_id(df["object_id"].to_numpy()), None),
        "zwarning": df["zwarning"].to_numpy(),
        "z": df["z"].to_numpy(),
        "flux_halpha_total": df["flux_halpha_total_cgs"].to_numpy() * 1e17,
    }
    for b in BANDS:
        cols[f"mag_{b}"] = df[f"mag_{b}"].to_numpy()
        cols[f"flux_{b}"] = df[f"flux_{b}"].to_numpy() if f"flux_{b}" in df else 10 ** (-0.4 * (df[f"mag_{b}"].to_numpy() - 22.5))
    for name in IMAGING_TRUTH.names:
        if name not in cols and name in df:
            cols[name] = df[name].to_numpy()
    if field is not None:
        cols["field_index"] = np.full(n, field.fid.index, np.int32)
        cols["detected"] = np.zeros(n, bool) if detected is None else detected.to_numpy()
    for name in IMAGING_TRUTH.names:
        cols.setdefault(name, np.full(n, None))
    return pa.Table.from_pydict({k: cols[k] for k in IMAGING_TRUTH.names}, schema=IMAGING_TRUTH)


def field_catalogs(seed: int, cfg: ImagingSurveyConfig, fi: FieldImage) -> dict[str, pa.Table]:
    """photoobj, specphoto and truth (objects with light on the field, with per-field columns) of one field."""
    meas = measure(seed, cfg, fi)
    photo = photoobj_table(seed, cfg, fi, meas)
    detected = pd.Series(False, index=fi.objects.index)
    in_frame = np.flatnonzero(fi.objects["in_frame"].to_numpy())
    detected.iloc[in_frame] = meas["detected"].to_numpy()
    return {
        "photoobj": photo,
        "specphoto": specphoto_table(cfg, fi, photo),
        "truth": truth_table(fi.objects, fi, detected),
    }


def mpajhu_table(seed: int, cfg: ImagingSurveyConfig, objects: pd.DataFrame) -> pa.Table:
    """MPA-JHU-like SFRs (AVG = log SFR, P16, P84, FLAG) of the spectroscopic galaxies and QSOs of ``objects``.

    AVG scatters about the true log SFR by ``avg_scatter_halpha_dex`` where the spectrum's Halpha
    carries the SFR (star-forming, composite) and ``avg_scatter_d4000_dex`` otherwise; FLAG = 2 for
    zWarning != 0, 1 for a random ``flag_fraction``, else 0. Each row's draws come from its object_id.
    """
    cat = cfg.catalog
    df = objects[objects["is_spec"].to_numpy() & np.isin(objects["class"].to_numpy(), ("GALAXY", "QSO"))]
    tc = df["spec_class"].to_numpy()
    indicator = np.where(np.isin(tc, ("star_forming", "composite")), "halpha", np.where(tc == "qso", "qso_host", "d4000")).astype(object)
    sigma = np.where(indicator == "halpha", cat.avg_scatter_halpha_dex, cat.avg_scatter_d4000_dex)
    u = np.array([np.random.default_rng([int(seed), geo.CATALOG_STREAM, 0, 0, int(o)]).random(2) for o in df["object_id"]]).reshape(-1, 2)
    from scipy.special import ndtri

    avg = df["log_sfr"].to_numpy() + sigma * ndtri(np.clip(u[:, 0], 1e-12, 1 - 1e-12))
    flag = np.where(df["zwarning"].to_numpy() != 0, 2, np.where(u[:, 1] < cat.flag_fraction, 1, 0)).astype(np.int32)
    cols = {
        "specobjid": df["object_id"].to_numpy(),
        "spec_id": spec_id(df["object_id"].to_numpy()),
        "object_id": df["object_id"].to_numpy(),
        "class": df["class"].to_numpy(),
        "AVG": avg,
        "P16": avg - sigma,
        "P84": avg + sigma,
        "FLAG": flag,
        "sfr_indicator": indicator,
    }
    return pa.Table.from_pydict(cols, schema=MPAJHU)
