"""The link to the spectral survey: what the spectral model needs to make the spectra of the imaged objects.

``spectral_parameters(objects)`` returns, for the spectroscopic subset, one row per
object with exactly the keys of ``model.OVERRIDE_KEYS`` plus the row number and
links; ``model_overrides`` turns it into the ``overrides`` mapping of
``model.generate``. The spectral model row of an object is its ``object_id``, so its
spectrum's spec_id is ``synth-<object_id:08d>`` (``catalogs.spec_id``), the value
the SpecPhoto-like and MPA-JHU-like tables carry.

What is tied (a fibre sees ``fiber_fraction`` of a galaxy's light; point sources 1):

* class (``target_class``), position, redshift;
* flux_5500: the object's f_lambda at 5500 A observed, through the fibre (1e-17 erg/s/cm2/A);
* for galaxies: gas A_V, young-light fraction, old-population temperature, D4000 (the same
  continuum family as the imaging colours, ``sed.galaxy_f_lambda``);
* for star-forming and composite galaxies: the Halpha flux in the fibre =
  fiber_fraction x L(Halpha) / (4 pi d_L^2) x 10^(-0.4 A_Halpha), L(Halpha) = SFR / 7.9e-42 erg/s,
  so SFR = 7.9e-42 x 4 pi d_L^2 x flux_ha_6563 / fiber_fraction x 10^(0.4 A_Halpha)
  (``sfr_from_fibre_halpha``); the Balmer decrement of the spectrum encodes A_V;
* stars: the MK type of the locus node; QSOs: the power-law index of their colours;
* snr: S/N per pixel growing as sqrt(flux_5500) (10 at 3e-17; skysift choice), clipped to [3, 40].

Seyfert, LINER and passive spectra keep the model's own lines (AGN Halpha is not an SFR
indicator: MPA-JHU use D4000 there).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from skysift.synth.imaging import galaxies as G
from skysift.synth.imaging.catalogs import spec_id

SNR_AT_3E17 = 10.0
"""Continuum S/N per pixel of a spectrum with flux_5500 = 3e-17 erg/s/cm2/A (skysift choice)."""
SNR_RANGE = (3.0, 40.0)
"""S/N clip, the spectral model's default snr_min / snr_max."""
HALPHA_CLASSES = ("star_forming", "composite")
"""Classes whose spectrum's Halpha is set from the SFR truth."""


def spectral_parameters(objects: pd.DataFrame) -> pd.DataFrame:
    """Per-object spectral-model parameters of the spectroscopic subset of ``objects`` (survey or cell objects)."""
    df = objects[objects["is_spec"].to_numpy()].sort_values("object_id", kind="stable")
    n = len(df)
    cls = df["class"].to_numpy()
    gal = cls == "GALAXY"
    ff = df["fiber_fraction"].to_numpy()
    flux_5500 = df["f_lambda_5500_cgs"].to_numpy() * ff * 1e17
    tc = df["spec_class"].to_numpy()
    linked_ha = gal & np.isin(tc, HALPHA_CLASSES)
    ha = np.where(linked_ha, df["flux_halpha_total_cgs"].to_numpy() * ff * 1e17, np.nan)
    snr = np.clip(SNR_AT_3E17 * np.sqrt(np.maximum(flux_5500, 1e-6) / 3.0), *SNR_RANGE)

    def gal_only(col):
        return np.where(gal, df[col].to_numpy(), np.nan)

    return pd.DataFrame(
        {
            "object_id": df["object_id"].to_numpy(),
            "spec_row": df["object_id"].to_numpy(),
            "spec_id": spec_id(df["object_id"].to_numpy()),
            "target_class": tc.astype(object),
            "ra_deg": df["ra"].to_numpy(),
            "dec_deg": df["dec"].to_numpy(),
            "z": df["z"].to_numpy(),
            "flux_5500": flux_5500,
            "snr": snr,
            "a_v_mag": np.where(gal, df["a_v_mag"].to_numpy(), np.nan),
            "young_fraction": gal_only("young_fraction"),
            "t_old_k": gal_only("t_old_k"),
            "d4000": gal_only("d4000"),
            "flux_ha_6563": ha,
            "star_type": df["star_type"].to_numpy().astype(np.int64),
            "qso_alpha_nu": df["qso_alpha_nu"].to_numpy(),
            # references, not overrides
            "fiber_fraction": ff,
            "log_sfr": df["log_sfr"].to_numpy(),
            "zwarning": df["zwarning"].to_numpy(),
        },
        index=np.arange(n),
    )


def model_overrides(params: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ``overrides`` mapping of ``model.generate`` for the rows ``params['spec_row']``."""
    from skysift.synth.model import OVERRIDE_KEYS

    return {k: params[k].to_numpy() for k in OVERRIDE_KEYS}


def generate_spectra(seed: int, params: pd.DataFrame, model_cfg=None):
    """Spectra of the objects in ``params`` with the spectral model (rows = object ids): a SynthBatch."""
    from skysift.synth.model import SynthModelConfig, generate

    cfg = SynthModelConfig() if model_cfg is None else model_cfg
    return generate(params["spec_row"].to_numpy(), seed, cfg, model_overrides(params))


def sfr_from_fibre_halpha(flux_ha_1e17: np.ndarray, z: np.ndarray, a_v_mag: np.ndarray, fiber_fraction: np.ndarray) -> np.ndarray:
    """Total SFR (Msun/yr) from a fibre Halpha flux (1e-17 erg/s/cm2), Kennicutt 1998 with A_V and aperture corrections."""
    total = np.asarray(flux_ha_1e17, dtype=np.float64) * 1e-17 / np.asarray(fiber_fraction, dtype=np.float64)
    return G.sfr_from_halpha(total, z, a_v_mag)
