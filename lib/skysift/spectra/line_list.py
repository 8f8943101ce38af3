"""The one table of emission-line rest wavelengths (VACUUM Angstrom) used by line finding, redshift and fluxes.

SDSS and LAMOST both store vacuum wavelengths, and Lu et al. 2022 (section 1) say their lines "refer to the
vacuum wavelengths corresponding to the published data of LAMOST". The paper prints only nominal labels
(Halpha, Hbeta, [O III]5007, "[O III]3727" = [O II]3727, [S II]6717, [N II]6585), no values; the values here
are the standard SDSS vacuum ones listed in ../shared/papers/001-lu2022-emission-lines.md (section 3).
Air values (6563, 4861, 5007) must never be mixed in: at Halpha the air/vacuum offset is 1.8 A, i.e.
dz = 2.7e-4, a quarter of the paper's 0.001 redshift tolerance.

[O II] 3727.09/3729.88 is one entry, the blend, at the unweighted mean 3728.49 A: the two components are
2.8 A apart, less than LAMOST's ~2.8 A FWHM and the 2 A grid step, so line finding sees one peak. (A
flux-weighted centroid would move it by < 0.3 A, dz < 1e-4, for any density-sensitive ratio 0.35..1.5.)

``kind`` is ``balmer`` (H recombination), ``forbidden`` (collisionally excited), ``blend`` (an unresolved
doublet given as one line), ``recombination`` (He) or ``broad`` (quasar broad lines).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class Line(NamedTuple):
    """One emission line of the table."""

    name: str
    """Short id used in tables and configs, e.g. 'Halpha', '[OIII]5008'."""
    wave_angstrom: float
    """Vacuum rest wavelength, Angstrom."""
    kind: str
    """balmer | forbidden | blend."""


OII_3727_ANGSTROM = 3727.09
OII_3730_ANGSTROM = 3729.88

LINES: tuple[Line, ...] = (
    Line("[OII]3728", round(0.5 * (OII_3727_ANGSTROM + OII_3730_ANGSTROM), 3), "blend"),  # 3728.485
    Line("[NeIII]3870", 3869.86, "forbidden"),
    Line("Hdelta", 4102.89, "balmer"),
    Line("Hgamma", 4341.68, "balmer"),
    Line("Hbeta", 4862.68, "balmer"),
    Line("[OIII]4960", 4960.30, "forbidden"),
    Line("[OIII]5008", 5008.24, "forbidden"),
    Line("[OI]6302", 6302.05, "forbidden"),
    Line("[NII]6550", 6549.86, "forbidden"),
    Line("Halpha", 6564.61, "balmer"),
    Line("[NII]6585", 6585.27, "forbidden"),
    Line("[SII]6718", 6718.29, "forbidden"),
    Line("[SII]6733", 6732.67, "forbidden"),
)
"""All lines, ascending in wavelength."""

CL_REDSHIFT_LINES: tuple[str, ...] = ("Halpha", "Hbeta", "[OIII]5008", "[OII]3728", "[SII]6718", "[NII]6585")
"""The six lines of the paper's CL redshift (Lu et al. 2022 section 2.2.5), '[O III]3727' read as [O II]."""

BPT_LINES: tuple[str, ...] = ("Hbeta", "[OIII]5008", "Halpha", "[NII]6585", "[SII]6718", "[SII]6733")
"""Lines whose fluxes the BPT [N II] diagram and the H II diagnostic need (Lu et al. 2022 section 4.2)."""

OTHER_LINES: tuple[Line, ...] = (
    Line("Lyalpha", 1215.67, "broad"),
    Line("CIV1549", 1549.48, "broad"),
    Line("CIII]1909", 1908.73, "broad"),
    Line("MgII2799", 2799.49, "broad"),
    Line("[OII]3727", OII_3727_ANGSTROM, "forbidden"),
    Line("[OII]3730", OII_3730_ANGSTROM, "forbidden"),
    Line("Hepsilon", 3971.20, "balmer"),
    Line("HeI5877", 5877.25, "recombination"),
    Line("[OI]6366", 6365.54, "forbidden"),
)
"""Lines the synthetic survey draws but line finding does not look for: the quasar broad lines (ultraviolet,
redshifted into the optical), the two [O II] components, and weak lines. Not part of ``LINES``, so they change
neither the CL redshift nor the line-flux masks."""

_BY_NAME = {line.name: line for line in LINES + OTHER_LINES}


def line_names() -> tuple[str, ...]:
    """Names of the lines line finding uses (``LINES``), ascending in wavelength."""
    return tuple(line.name for line in LINES)


def get_line(name: str) -> Line:
    """The table entry called ``name``; a ValueError lists the known names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown emission line {name!r}; known: {', '.join(line_names())}") from None


def rest_waves(names: Sequence[str]) -> np.ndarray:
    """Vacuum rest wavelengths (float64, Angstrom) of ``names``, in the given order."""
    return np.array([get_line(n).wave_angstrom for n in names], dtype=np.float64)


def redshift_lines(names: Sequence[str] | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, rest wavelengths) of the lines a CL redshift matches against; default the paper's six.

    Raises ValueError for an unknown or repeated name, or for two lines closer than 0.2 % in wavelength (a
    detection could then match both within the 0.001 tolerance and count twice).
    """
    chosen = tuple(CL_REDSHIFT_LINES if names is None else names)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"redshift line list repeats a name: {list(chosen)}")
    waves = rest_waves(chosen)
    order = np.sort(waves)
    if len(order) > 1 and np.min(order[1:] / order[:-1]) < 1.002:
        raise ValueError(f"redshift lines closer than 0.2 % in wavelength cannot be told apart: {list(chosen)}")
    return chosen, waves


def observed_waves(names: Sequence[str], z: np.ndarray) -> np.ndarray:
    """(n_spectra, n_lines) observed wavelengths lambda_0 (1 + z) of ``names`` for redshifts ``z``."""
    return (1.0 + np.asarray(z, dtype=np.float64))[:, None] * rest_waves(names)[None, :]
