"""BPT (Baldwin, Phillips & Terlevich 1981) classification of emission-line galaxies from line fluxes.

Demarcation lines, all in log10 flux ratios (x = log of the abscissa ratio,
y = log10([O III] 5007 / H beta)):

* Kewley et al. 2001 (ApJ 556, 121), maximum starburst line, eqs. 5-7:
  [N II]: y = 0.61 / (x - 0.47) + 1.19;  [S II]: y = 0.72 / (x - 0.32) + 1.30;
  [O I]:  y = 0.73 / (x + 0.59) + 1.33.
* Kauffmann et al. 2003 (MNRAS 346, 1055), eq. 1, empirical star-forming limit on [N II]:
  y = 0.61 / (x - 0.05) + 1.30.
* Kewley et al. 2006 (MNRAS 372, 961), eqs. 7-8, Seyfert / LINER division:
  [S II]: y = 1.89 x + 0.76;  [O I]: y = 1.18 x + 1.30.
* Schawinski et al. 2007 (MNRAS 382, 1415), Seyfert / LINER division ON THE [N II] DIAGRAM:
  y = 1.05 x + 0.45. Lu et al. 2022 use only the [N II] diagram and name no split; their inputs cannot
  apply Kewley 2006, so the emission-line pipeline uses this one (``seyfert_liner="schawinski07"``; the
  decision of ../shared/papers/001-lu2022-emission-lines.md section 5, labelled "not stated in paper").

H II diagnostic (Lu et al. 2022 section 4.2.2, after Riesgo-Tirado & Lopez 2002, Magrini et al. 2003,
Kniazev et al. 2008): a Galactic spectrum is H II-like when
  log10(([S II]6718 + [S II]6733) / Halpha) >= 0.63 log10([N II]6585 / Halpha) - 0.55.

Classes follow Kewley et al. 2006 section 4: on the [N II] diagram, below
Kauffmann 2003 is star-forming, between Kauffmann 2003 and Kewley 2001 is
composite, above Kewley 2001 is AGN; an AGN is a Seyfert when it lies above the
Seyfert/LINER line on the [S II] diagram (the [O I] diagram when [S II] is missing)
and a LINER otherwise (default ``seyfert_liner="kewley06"``), or, with
``seyfert_liner="schawinski07"``, above Schawinski's line on the [N II] diagram itself. Each hyperbola only holds left of its asymptote: right of
it a point is on the AGN side whatever its y.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

STAR_FORMING = "star_forming"
COMPOSITE = "composite"
SEYFERT = "seyfert"
LINER = "liner"
AGN = "agn"  # an AGN without [S II] or [O I] to split Seyfert from LINER
BPT_CLASSES = (STAR_FORMING, COMPOSITE, SEYFERT, LINER, AGN)


def kewley01_nii(x: np.ndarray) -> np.ndarray:
    """Kewley 2001 maximum-starburst line on the [N II]/Halpha diagram (valid for x < 0.47)."""
    return 0.61 / (np.asarray(x, dtype=float) - 0.47) + 1.19


def kauffmann03_nii(x: np.ndarray) -> np.ndarray:
    """Kauffmann 2003 star-forming limit on the [N II]/Halpha diagram (valid for x < 0.05)."""
    return 0.61 / (np.asarray(x, dtype=float) - 0.05) + 1.30


def kewley01_sii(x: np.ndarray) -> np.ndarray:
    """Kewley 2001 maximum-starburst line on the [S II]/Halpha diagram (valid for x < 0.32)."""
    return 0.72 / (np.asarray(x, dtype=float) - 0.32) + 1.30


def kewley01_oi(x: np.ndarray) -> np.ndarray:
    """Kewley 2001 maximum-starburst line on the [O I]/Halpha diagram (valid for x < -0.59)."""
    return 0.73 / (np.asarray(x, dtype=float) + 0.59) + 1.33


def kewley06_sii_seyfert_liner(x: np.ndarray) -> np.ndarray:
    """Kewley 2006 Seyfert/LINER line on the [S II]/Halpha diagram."""
    return 1.89 * np.asarray(x, dtype=float) + 0.76


def kewley06_oi_seyfert_liner(x: np.ndarray) -> np.ndarray:
    """Kewley 2006 Seyfert/LINER line on the [O I]/Halpha diagram."""
    return 1.18 * np.asarray(x, dtype=float) + 1.30


def schawinski07_nii_seyfert_liner(x: np.ndarray) -> np.ndarray:
    """Schawinski 2007 Seyfert/LINER line on the [N II]/Halpha diagram."""
    return 1.05 * np.asarray(x, dtype=float) + 0.45


HII_SLOPE = 0.63
"""Slope of the H II diagnostic (Lu et al. 2022 section 4.2.2)."""
HII_INTERCEPT = -0.55
"""Intercept of the H II diagnostic (Lu et al. 2022 section 4.2.2)."""


def hii_diagnostic(ha: np.ndarray, nii_6584: np.ndarray, sii_6717_6731: np.ndarray) -> np.ndarray:
    """Lu et al. 2022 H II criterion: log(([S II]6718+6733)/Ha) >= 0.63 log([N II]6585/Ha) - 0.55.

    ``sii_6717_6731`` is the SUM of the two [S II] fluxes. False where a flux is not > 0 or not finite
    (use ``hii_diagnostic_usable`` to tell "fails" from "cannot be evaluated").
    """
    x = _log_ratio(nii_6584, ha)
    s = _log_ratio(sii_6717_6731, ha)
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(s) & (s >= HII_SLOPE * x + HII_INTERCEPT)


def hii_diagnostic_usable(ha: np.ndarray, nii_6584: np.ndarray, sii_6717_6731: np.ndarray) -> np.ndarray:
    """True where all three fluxes are finite and > 0, i.e. where ``hii_diagnostic`` is meaningful."""
    return np.isfinite(_log_ratio(nii_6584, ha)) & np.isfinite(_log_ratio(sii_6717_6731, ha))


def _above(y: np.ndarray, x: np.ndarray, curve, asymptote: float) -> np.ndarray:
    # Right of the asymptote the hyperbola turns back down; every such point is beyond the line.
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x >= asymptote) | (y > curve(np.minimum(x, asymptote - 1e-9)))


def _log_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den) & (num > 0) & (den > 0)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.log10(num / np.where(ok, den, 1.0), out=out, where=ok)
    return out


def bpt_ratios(
    hb: np.ndarray,
    oiii_5007: np.ndarray,
    ha: np.ndarray,
    nii_6584: np.ndarray,
    sii_6717_6731: np.ndarray | None = None,
    oi_6300: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """log10 line ratios: y=[OIII]/Hb, x_nii=[NII]/Ha, x_sii=[SII]/Ha, x_oi=[OI]/Ha (NaN where unusable)."""
    n = np.broadcast(np.asarray(hb), np.asarray(ha)).shape
    nan = np.full(n, np.nan)
    return {
        "y": _log_ratio(oiii_5007, hb),
        "x_nii": _log_ratio(nii_6584, ha),
        "x_sii": nan if sii_6717_6731 is None else _log_ratio(sii_6717_6731, ha),
        "x_oi": nan if oi_6300 is None else _log_ratio(oi_6300, ha),
    }


def classify_bpt(
    hb: np.ndarray,
    oiii_5007: np.ndarray,
    ha: np.ndarray,
    nii_6584: np.ndarray,
    sii_6717_6731: np.ndarray | None = None,
    oi_6300: np.ndarray | None = None,
    seyfert_liner: Literal["kewley06", "schawinski07"] = "kewley06",
) -> np.ndarray:
    """BPT class per object (object array of strings; None where Hb/[OIII]/Ha/[NII] are not all > 0).

    ``sii_6717_6731`` is the sum of the [S II] 6717 and 6731 fluxes. ``seyfert_liner`` picks the AGN split:
    kewley06 ([S II] / [O I] diagrams; 'agn' when neither is given) or schawinski07 (on the [N II]
    diagram; every AGN is then a Seyfert or a LINER, and [S II] / [O I] are not used).
    """
    if seyfert_liner not in ("kewley06", "schawinski07"):
        raise ValueError(f"seyfert_liner must be kewley06 or schawinski07, got {seyfert_liner!r}")
    r = bpt_ratios(hb, oiii_5007, ha, nii_6584, sii_6717_6731, oi_6300)
    y, x = r["y"], r["x_nii"]
    usable = np.isfinite(y) & np.isfinite(x)
    above_ka03 = _above(y, x, kauffmann03_nii, 0.05)
    above_ke01 = _above(y, x, kewley01_nii, 0.47)
    has_sii = np.isfinite(r["x_sii"])
    has_oi = np.isfinite(r["x_oi"])
    with np.errstate(invalid="ignore"):
        seyfert_sii = y > kewley06_sii_seyfert_liner(r["x_sii"])
        seyfert_oi = y > kewley06_oi_seyfert_liner(r["x_oi"])
    seyfert = np.where(has_sii, seyfert_sii, seyfert_oi)
    agn_kind = np.where(has_sii | has_oi, np.where(seyfert, SEYFERT, LINER), AGN)
    if seyfert_liner == "schawinski07":
        with np.errstate(invalid="ignore"):
            agn_kind = np.where(y > schawinski07_nii_seyfert_liner(x), SEYFERT, LINER)
    # left of x ~ -1.28 the Kauffmann curve lies above Kewley's: a point below Kauffmann stays star-forming
    label = np.where(~above_ka03, STAR_FORMING, np.where(above_ke01, agn_kind, COMPOSITE)).astype(object)
    label[~usable] = None
    return label
