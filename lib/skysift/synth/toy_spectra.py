"""A small labelled spectra table in the SPECTRA schema, for tests, the notebook and demos.

Three classes on the paper grid with random redshift, slope and noise: 'STAR'
(curved continuum with narrow absorption lines), 'GALAXY' (4000 A break plus
narrow emission lines) and 'QSO' (power law plus broad emission lines). Each
spectrum is normalised to median 1; rows are hive-partitioned by healpix_part.
The full synthetic survey lives in ``skysift.synth``; this generator only needs
numpy and pyarrow, so encoder tests do not depend on it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.schema import SPECTRA
from skysift.spectra.grid import parse_grid_id
from skysift.spectra.line_list import rest_waves
from skysift.synth import lines as L

CLASSES = ("STAR", "GALAXY", "QSO")
# vacuum rest wavelengths from the one line list (and the synthetic survey's absorption features)
_ABSORPTION = (L.CA_K, L.CA_H, L.HBETA, L.MG_B, L.NA_D, L.HALPHA, L.CAT_8542)
_EMISSION = tuple(rest_waves(("[OII]3728", "Hbeta", "[OIII]4960", "[OIII]5008", "Halpha", "[NII]6585", "[SII]6718")))
_BROAD = tuple(rest_waves(("MgII2799", "Hbeta", "Halpha", "Hgamma")))


def toy_flux(n: int, grid_id: str = "lin:3850:9000:3688", seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flux (n, S) float32, class labels (n,), redshift (n,)) for n random spectra."""
    rng = np.random.default_rng(seed)
    wave = parse_grid_id(grid_id).wave_angstrom()
    labels = rng.integers(0, len(CLASSES), n)
    z = np.where(labels == 0, 0.0, np.where(labels == 1, rng.uniform(0.0, 0.3, n), rng.uniform(0.1, 0.6, n)))
    x = (wave[None, :] - 6000.0) / 3000.0
    slope = rng.normal(0, 0.3, (n, 1))
    flux = np.empty((n, wave.size))
    rest = wave[None, :] / (1 + z[:, None])
    star = labels == 0
    gal = labels == 1
    qso = labels == 2
    flux[star] = 1.0 + slope[star] * x - 0.4 * x**2
    for line in _ABSORPTION:
        flux[star] -= 0.3 * np.exp(-0.5 * ((rest[star] - line) / 4.0) ** 2)
    flux[gal] = np.where(rest[gal] < 4000.0, 0.6, 1.0) + 0.5 * slope[gal] * x
    for line in _EMISSION:
        flux[gal] += rng.uniform(0.2, 1.5, (gal.sum(), 1)) * np.exp(-0.5 * ((rest[gal] - line) / 3.0) ** 2)
    flux[qso] = (wave[None, :] / 6000.0) ** (-1.0 + slope[qso])
    for line in _BROAD:
        flux[qso] += rng.uniform(0.3, 1.0, (qso.sum(), 1)) * np.exp(-0.5 * ((rest[qso] - line) / 40.0) ** 2)
    flux += rng.normal(0, 1, flux.shape) * rng.uniform(0.02, 0.1, (n, 1))
    flux /= np.median(flux, axis=1, keepdims=True)
    return flux.astype(np.float32), np.array(CLASSES)[labels], z


def toy_spectra_table(n: int, grid_id: str = "lin:3850:9000:3688", seed: int = 0, n_nonfinite: int = 0,
                      id_prefix: str = "toy") -> pa.Table:
    """A SPECTRA-schema table of n toy spectra; the first ``n_nonfinite`` rows get a NaN in flux."""
    flux, labels, z = toy_flux(n, grid_id, seed)
    flux[:n_nonfinite, 100] = np.nan
    s = flux.shape[1]
    rng = np.random.default_rng(seed + 1)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    ivar = np.full_like(flux, 100.0)

    def lists(mat: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * s, s, dtype=np.int32)),
                                        pa.array(mat.ravel(), pa.float32()))

    cols = {
        "spec_id": pa.array([f"{id_prefix}-{i}" for i in range(n)]),
        "survey": pa.array(["synth"] * n),
        "ra_deg": pa.array(ra),
        "dec_deg": pa.array(dec),
        "healpix29": pa.array(np.zeros(n, np.int64)),
        "z": pa.array(z),
        "z_err": pa.array(np.full(n, 1e-4)),
        "class": pa.array(labels),
        "subclass": pa.array([""] * n),
        "source_file": pa.array(["toy"] * n),
        "flux": lists(flux),
        "ivar": lists(ivar),
        "masked_fraction": pa.array(np.zeros(n, np.float32)),
        "norm_factor": pa.array(np.ones(n, np.float32)),
        "norm_method": pa.array(["median_rest_5300_5850"] * n),
        "snr_median": pa.array(np.full(n, 10.0, np.float32)),
        "grid_id": pa.array([grid_id] * n),
        "healpix_part": pa.array((np.arange(n) % 4).astype(np.int32)),
    }
    return pa.table(cols, schema=SPECTRA)


def write_toy_spectra(path: str | os.PathLike, n: int, grid_id: str = "lin:3850:9000:3688", seed: int = 0,
                      n_nonfinite: int = 0, row_group_rows: int = 64) -> Path:
    """Write ``toy_spectra_table`` hive-partitioned by healpix_part (plus an empty `_rejects` side folder)."""
    out = Path(path)
    table = toy_spectra_table(n, grid_id, seed, n_nonfinite)
    parts = table.column("healpix_part").to_numpy()
    for part in np.unique(parts):
        folder = out / f"healpix_part={part}"
        folder.mkdir(parents=True, exist_ok=True)
        sub = table.filter(pa.array(parts == part)).drop_columns(["healpix_part"])
        pq.write_table(sub, folder / "part-0.parquet", row_group_size=row_group_rows)
    # a side table that readers must skip (same schema so a careless reader would double-count)
    side = out / "_rejects"
    side.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.slice(0, 1).drop_columns(["healpix_part"]), side / "part-0.parquet")
    return out
