"""A small self-contained toy set of galaxy-like spectra with known 3-class truth (tests, notebook).

Not the synthetic survey (``skysift synth-survey``): a few thousand short spectra
made in memory in milliseconds, so that CPU tests can check the evaluation logic.
Each spectrum: a random-slope continuum with a 4000 A break, Gaussian noise, and
narrow emission lines whose ratios follow the class: star-forming below the
Kauffmann 2003 line, AGN above Kewley 2001, normal (passive) galaxies with weak
or no lines. Embeddings are the PCA projection of the flux.
"""
from __future__ import annotations

import numpy as np

from skysift.spectra.bpt import kauffmann03_nii, kewley01_nii
from skysift.spectra.line_list import rest_waves

TOY_CLASSES = ("star_forming", "agn", "normal")
# vacuum rest wavelengths (Angstrom) of [OII], Hb, [OIII]5007, [OI], Ha, [NII]6584, [SII]6717/31: the line list
_LINES = dict(zip(("oii", "hb", "oiii", "oi", "ha", "nii", "sii1", "sii2"),
                  rest_waves(("[OII]3728", "Hbeta", "[OIII]5008", "[OI]6302", "Halpha", "[NII]6585", "[SII]6718",
                              "[SII]6733")).tolist()))


def toy_wave_angstrom(n_pix: int = 800) -> np.ndarray:
    """The toy grid (rest frame, 3700-6900 A)."""
    return np.linspace(3700.0, 6900.0, n_pix)


def toy_spectra(n: int, n_pix: int = 800, snr: float = 8.0, seed: int = 0,
                class_weights=(0.45, 0.25, 0.30)) -> tuple[np.ndarray, np.ndarray]:
    """(flux (n, n_pix) float32, labels (n,) object) with labels in TOY_CLASSES."""
    rng = np.random.default_rng(seed)
    wave = toy_wave_angstrom(n_pix)
    cls = rng.choice(len(TOY_CLASSES), n, p=np.asarray(class_weights) / np.sum(class_weights))
    slope = rng.normal(0.0, 0.6, n)[:, None]
    d4000 = np.where(cls == 2, rng.uniform(1.6, 2.0, n), rng.uniform(1.1, 1.7, n))[:, None]
    x = (wave[None, :] - 5300.0) / 1600.0
    cont = (1.0 + slope * x) * np.where(wave[None, :] < 4000.0, 1.0 / d4000, 1.0)
    # BPT position: log [NII]/Ha and log [OIII]/Hb per class, either side of the demarcation lines
    x_nii = np.where(cls == 0, rng.uniform(-1.2, -0.3, n), rng.uniform(-0.3, 0.3, n))
    y_sf = kauffmann03_nii(np.minimum(x_nii, -0.05)) - rng.uniform(0.1, 0.6, n)
    y_agn = kewley01_nii(np.minimum(x_nii, 0.3)) + rng.uniform(0.1, 0.6, n)
    y_norm = rng.uniform(-0.5, 0.5, n)
    y = np.select([cls == 0, cls == 1], [y_sf, y_agn], y_norm)
    ha = np.select([cls == 0, cls == 1], [rng.uniform(3, 8, n), rng.uniform(2, 6, n)], rng.uniform(0.0, 0.6, n))
    hb = ha / 2.86
    amp = {"ha": ha, "hb": hb, "nii": ha * 10 ** x_nii, "oiii": hb * 10 ** y,
           "oii": ha * rng.uniform(0.3, 0.9, n), "oi": ha * np.where(cls == 1, 0.15, 0.04),
           "sii1": ha * np.where(cls == 1, 0.3, 0.15), "sii2": ha * np.where(cls == 1, 0.22, 0.11)}
    sigma = 3.0
    lines = np.zeros((n, n_pix))
    for name, lam in _LINES.items():
        lines += amp[name][:, None] / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((wave - lam) / sigma) ** 2)
    flux = cont + lines + rng.standard_normal((n, n_pix)) / snr
    return flux.astype(np.float32), np.asarray(TOY_CLASSES, dtype=object)[cls]


def pca_embeddings(flux: np.ndarray, dim: int = 16, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """PCA projection of ``flux`` onto its first ``dim`` components (fitted on ``fit_rows`` or all rows)."""
    f = np.asarray(flux, dtype=np.float64)
    fit = f if fit_rows is None else f[fit_rows]
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    return ((f - mean) @ vt[:dim].T).astype(np.float32)


def write_pca_embeddings(spectra: str, output: str, dim: int = 16, model_version: str = "pca") -> int:
    """An `embeddings` table (spec_id, embedding, model_uri, model_version) from PCA of a spectra table's flux.

    A stand-in for `skysift embed-spectra` when no encoder is trained (notebooks, tests): any table
    with spec_id + embedding is a valid KB input. Returns the rows written.
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from skysift.kb.embeddings import stack
    from skysift.runtime.output import read_table

    t = read_table(spectra, columns=["spec_id", "flux"])
    emb = pca_embeddings(np.nan_to_num(stack(t.column("flux"))), dim)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    n = len(emb)
    pq.write_table(
        pa.table({
            "spec_id": t.column("spec_id"),
            "embedding": pa.array(list(emb), type=pa.list_(pa.float32())),
            "model_uri": [f"pca:{dim}"] * n,
            "model_version": [model_version] * n,
        }),
        out / "part-00000.parquet",
    )
    return n
