"""Spectral line catalogue (vacuum rest wavelengths) and BPT-consistent line ratios.

Wavelengths are VACUUM Angstrom, as SDSS and LAMOST store their wavelength
grids (SDSS DR line list / NIST). The BPT curves are those of the [N II] diagram:
x = log10([N II]6584/Halpha), y = log10([O III]5007/Hbeta).

* Kauffmann et al. 2003 (MNRAS 346, 1055) eq. 1: y = 0.61 / (x - 0.05) + 1.30
* Kewley et al. 2001 (ApJ 556, 121) eq. 5:     y = 0.61 / (x - 0.47) + 1.19
* Seyfert/LINER split in this diagram: Schawinski et al. 2007 (MNRAS 382, 1415)
  y = 1.05 x + 0.45. (Kewley et al. 2006 define their split only in the [S II]
  and [O I] diagrams; Schawinski's line is its usual [N II]-diagram counterpart.)
"""
from __future__ import annotations

import numpy as np

from skysift.spectra import bpt
from skysift.spectra.line_list import get_line

# --- emission lines (vacuum Angstrom): the one line list, spectra/line_list.py
LYA, CIV, CIII, MGII = (get_line(n).wave_angstrom for n in ("Lyalpha", "CIV1549", "CIII]1909", "MgII2799"))
OII_3727, OII_3730 = get_line("[OII]3727").wave_angstrom, get_line("[OII]3730").wave_angstrom
NEIII_3869 = get_line("[NeIII]3870").wave_angstrom
HEPS = get_line("Hepsilon").wave_angstrom
HDELTA, HGAMMA, HBETA = (get_line(n).wave_angstrom for n in ("Hdelta", "Hgamma", "Hbeta"))
OIII_4959, OIII_5007 = get_line("[OIII]4960").wave_angstrom, get_line("[OIII]5008").wave_angstrom
HEI_5876 = get_line("HeI5877").wave_angstrom
OI_6300, OI_6364 = get_line("[OI]6302").wave_angstrom, get_line("[OI]6366").wave_angstrom
NII_6548, HALPHA, NII_6584 = (get_line(n).wave_angstrom for n in ("[NII]6550", "Halpha", "[NII]6585"))
SII_6717, SII_6731 = get_line("[SII]6718").wave_angstrom, get_line("[SII]6733").wave_angstrom

# Doublet ratios fixed by atomic physics (Storey & Zeippen 2000; Osterbrock & Ferland 2006).
OIII_5007_TO_4959 = 2.98
NII_6584_TO_6548 = 3.05
OI_6300_TO_6364 = 3.0
# Case B recombination at T=1e4 K, n=100 cm^-3 (Osterbrock & Ferland 2006, table 4.4).
CASE_B_HA_HB = 2.86
CASE_B_HG_HB = 0.468
CASE_B_HD_HB = 0.259

# --- absorption features (vacuum Angstrom, intrinsic Gaussian sigma in Angstrom)
CA_K = 3934.78
CA_H = 3969.59
H8 = 3890.15
G_BAND = 4305.61
MG_B = 5176.70  # centroid of the Mg b triplet 5168.8/5174.1/5185.0
FE_5270 = 5271.30
FE_5335 = 5336.50
NA_D = 5894.57  # centroid of 5891.58/5897.56
CAT_8498 = 8500.36
CAT_8542 = 8544.44
CAT_8662 = 8664.52

# (wavelength, intrinsic sigma A, rest EW A at strength 1): metal lines of an old population / cool star.
METAL_ABSORPTION = np.array(
    [
        (CA_K, 4.0, 10.0),
        (CA_H, 4.0, 8.0),
        (G_BAND, 9.0, 5.0),
        (MG_B, 7.0, 6.0),
        (FE_5270, 3.0, 2.5),
        (FE_5335, 3.0, 2.0),
        (NA_D, 3.5, 4.0),
        (CAT_8498, 2.0, 1.2),
        (CAT_8542, 2.5, 3.0),
        (CAT_8662, 2.5, 2.5),
    ]
)
# Balmer absorption of A/F stars and young populations (pressure-broadened wings: wide sigma).
BALMER_ABSORPTION = np.array(
    [
        (HALPHA, 9.0, 9.0),
        (HBETA, 10.0, 12.0),
        (HGAMMA, 10.0, 12.0),
        (HDELTA, 10.0, 12.0),
        (HEPS, 8.0, 9.0),
        (H8, 7.0, 7.0),
    ]
)
# TiO bands of M stars approximated as wide depressions (bandheads near 6159, 7054, 7589 A air).
TIO_ABSORPTION = np.array([(6250.0, 70.0, 60.0), (7150.0, 80.0, 80.0), (7700.0, 90.0, 60.0)])

# QSO broad lines: (wavelength, rest EW A) after the Vanden Berk et al. 2001 SDSS composite (AJ 122, 549).
QSO_BROAD_LINES = np.array(
    [(LYA, 90.0), (CIV, 30.0), (CIII, 20.0), (MGII, 35.0), (HGAMMA, 15.0), (HBETA, 50.0), (HALPHA, 200.0)]
)

# Lines seen in a lens's background source (a star-forming galaxy at z_source).
LENS_SOURCE_LINES = ("oii_3727", "hb_4861", "oiii_5007", "ha_6563")
LENS_SOURCE_WAVES = np.array([0.5 * (OII_3727 + OII_3730), HBETA, OIII_5007, HALPHA])

# Night sky is in sky.py; the BPT emission classes:
EMISSION_CLASSES = ("star_forming", "composite", "seyfert", "liner")


def _left_of(curve, x: np.ndarray, asymptote: float) -> np.ndarray:
    """A BPT hyperbola where it holds (left of its asymptote); -inf right of it, where nothing lies below."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x < asymptote, curve(np.minimum(x, asymptote - 1e-9)), -np.inf)


def bpt_classify(nii: np.ndarray, ha: np.ndarray, oiii: np.ndarray, hb: np.ndarray) -> np.ndarray:
    """The truth's BPT class of line fluxes: ``spectra.bpt.classify_bpt`` on the [N II] diagram with the
    Schawinski 2007 Seyfert/LINER split; 'none' where a flux is not positive."""
    label = bpt.classify_bpt(hb, oiii, ha, nii, seyfert_liner="schawinski07")
    return np.where(label == None, "none", label).astype(object)  # noqa: E711 - elementwise test


def sample_bpt(class_name: str, ux: np.ndarray, uy: np.ndarray, margin_dex: float) -> tuple[np.ndarray, np.ndarray]:
    """Map uniforms (ux, uy) in [0, 1) to (x, y) inside ``class_name``'s BPT region.

    Each region keeps ``margin_dex`` (vertical distance) from every boundary so that the
    class is unambiguous from noiseless fluxes. The x ranges and the outer y limits follow
    where SDSS galaxies lie (Kauffmann 2003 fig. 1, Kewley 2006 fig. 4).
    """
    m = float(margin_dex)
    ux = np.asarray(ux, dtype=np.float64)
    uy = np.asarray(uy, dtype=np.float64)
    if class_name == "star_forming":
        x = -1.2 + 0.95 * ux
        y_hi = _left_of(bpt.kauffmann03_nii, x, 0.05) - m
        y_lo = np.maximum(y_hi - 0.6, -1.2)
    elif class_name == "composite":
        x = -0.4 + 0.4 * ux
        y_lo = np.maximum(_left_of(bpt.kauffmann03_nii, x, 0.05) + m, -0.8)
        y_hi = _left_of(bpt.kewley01_nii, x, 0.47) - m
    elif class_name == "seyfert":
        x = -0.3 + 0.8 * ux
        y_lo = np.maximum(_left_of(bpt.kewley01_nii, x, 0.47) + m, bpt.schawinski07_nii_seyfert_liner(x) + m)
        y_hi = np.full_like(x, 1.3)
    elif class_name == "liner":
        x = 0.0 + 0.6 * ux
        y_lo = np.maximum(_left_of(bpt.kewley01_nii, x, 0.47) + m, -0.6)
        y_hi = np.minimum(bpt.schawinski07_nii_seyfert_liner(x) - m, 0.7)
    else:
        raise ValueError(f"no BPT region for class {class_name!r}; allowed: {', '.join(EMISSION_CLASSES)}")
    return x, y_lo + (y_hi - y_lo) * uy


# log10 ratio ranges (dex) of the other strong lines per class:
# [S II]6717+6731/Halpha, [O I]6300/Halpha, [O II]3727+3729/Hbeta, rest EW(Halpha) in A.
# After Kewley et al. 2006 fig. 4 (S II, O I loci), Yan et al. 2006 ([O II]), Brinchmann 2004 (EW).
OTHER_RATIOS_DEX: dict[str, dict[str, tuple[float, float]]] = {
    "star_forming": {"sii": (-0.7, -0.35), "oi": (-2.0, -1.4), "oii": (0.0, 0.5), "log_ew_ha": (1.2, 2.1)},
    "composite": {"sii": (-0.55, -0.3), "oi": (-1.6, -1.1), "oii": (0.1, 0.5), "log_ew_ha": (0.7, 1.6)},
    "seyfert": {"sii": (-0.45, -0.1), "oi": (-1.2, -0.7), "oii": (0.2, 0.6), "log_ew_ha": (0.7, 1.8)},
    "liner": {"sii": (-0.3, 0.1), "oi": (-0.9, -0.5), "oii": (0.4, 0.8), "log_ew_ha": (0.0, 0.9)},
}


def charlot_fall_k(wave_angstrom: np.ndarray | float) -> np.ndarray:
    """A_lambda / A_V for the Charlot & Fall 2000 attenuation law, (lambda/5500)^-0.7."""
    return (np.asarray(wave_angstrom, dtype=np.float64) / 5500.0) ** -0.7


def narrow_line_fluxes(
    class_name: str,
    ha_flux: np.ndarray,
    a_v: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    u_sii: np.ndarray,
    u_oi: np.ndarray,
    u_oii: np.ndarray,
    u_sii_ratio: np.ndarray,
    margin_dex: float,
) -> dict[str, np.ndarray]:
    """Observed (dust-attenuated) narrow-line fluxes for rows of one emission class.

    ``ha_flux`` is the observed Halpha flux; Hbeta follows from the Case B decrement
    reddened by ``a_v`` (so Halpha/Hbeta = 2.86 * 10^(0.4 A_V (k_Hb - k_Ha))), the
    forbidden lines from the BPT draw and the class's ratio ranges. Keys are rest
    wavelengths of LINES (emission table below) and the truth columns.
    """
    x, y = sample_bpt(class_name, ux, uy, margin_dex)
    r = OTHER_RATIOS_DEX[class_name]

    def span(key, u):
        lo, hi = r[key]
        return lo + (hi - lo) * np.asarray(u, dtype=np.float64)

    dust_ha_hb = 10 ** (0.4 * a_v * (charlot_fall_k(HBETA) - charlot_fall_k(HALPHA)))
    ha = np.asarray(ha_flux, dtype=np.float64)
    hb = ha / (CASE_B_HA_HB * dust_ha_hb)
    oiii = hb * 10**y
    nii = ha * 10**x
    sii = ha * 10 ** span("sii", u_sii)
    sii_ratio = 0.9 + 0.5 * np.asarray(u_sii_ratio)  # 6717/6731: low-density limit 1.4 down to ~0.9
    oi = ha * 10 ** span("oi", u_oi)
    oii = hb * 10 ** span("oii", u_oii)
    hg = hb * CASE_B_HG_HB * 10 ** (-0.4 * a_v * (charlot_fall_k(HGAMMA) - charlot_fall_k(HBETA)))
    hd = hb * CASE_B_HD_HB * 10 ** (-0.4 * a_v * (charlot_fall_k(HDELTA) - charlot_fall_k(HBETA)))
    neiii_frac = {"star_forming": 0.08, "composite": 0.1, "seyfert": 0.3, "liner": 0.15}[class_name]
    return {
        "ha": ha,
        "hb": hb,
        "hg": hg,
        "hd": hd,
        "oiii_5007": oiii,
        "oiii_4959": oiii / OIII_5007_TO_4959,
        "nii_6584": nii,
        "nii_6548": nii / NII_6584_TO_6548,
        "sii_6717": sii * sii_ratio / (1 + sii_ratio),
        "sii_6731": sii / (1 + sii_ratio),
        "oi_6300": oi,
        "oi_6364": oi / OI_6300_TO_6364,
        "oii_3727": oii * 0.43,  # 3727/3729 ~ 0.75 in the low-density limit (Pradhan et al. 2006)
        "oii_3730": oii * 0.57,
        "neiii_3869": oii * neiii_frac,
        "hei_5876": hb * 0.1,
    }


# key in narrow_line_fluxes -> vacuum rest wavelength
NARROW_LINE_WAVES: dict[str, float] = {
    "ha": HALPHA,
    "hb": HBETA,
    "hg": HGAMMA,
    "hd": HDELTA,
    "oiii_5007": OIII_5007,
    "oiii_4959": OIII_4959,
    "nii_6584": NII_6584,
    "nii_6548": NII_6548,
    "sii_6717": SII_6717,
    "sii_6731": SII_6731,
    "oi_6300": OI_6300,
    "oi_6364": OI_6364,
    "oii_3727": OII_3727,
    "oii_3730": OII_3730,
    "neiii_3869": NEIII_3869,
    "hei_5876": HEI_5876,
}
