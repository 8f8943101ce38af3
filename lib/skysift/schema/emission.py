"""Tables of `skysift find-emission-lines` (Lu et al. 2022): lines, redshifts, PQ candidates, confirmed spectra,
galaxies, H II spectra and the two output catalogs (paper Tables 2 and 3)."""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS

# --- lines: one detected emission line per row (spectra.line_finding)
LINES = pa.schema([
    pa.field("spec_id", pa.string(), nullable=False),
    pa.field("line_index", pa.int32()),
    pa.field("center_angstrom", pa.float64()),
    pa.field("start_angstrom", pa.float64()),
    pa.field("end_angstrom", pa.float64()),
    pa.field("peak", pa.float32()),
    pa.field("flux", pa.float64()),
    pa.field("flux_err", pa.float64()),
    pa.field("snr", pa.float64()),
    pa.field("cl_line", pa.string()),
])

RATIO_COLUMNS = ("log_oiii_hb", "log_oiii_hb_err", "log_nii_ha", "log_nii_ha_err", "log_sii_ha", "log_sii_ha_err")
"""BPT / H II line ratios (``spectra.line_fluxes.line_ratios``)."""
FLUX_LINE_KEYS = {"Hbeta": "hb", "[OIII]5008": "oiii_5008", "Halpha": "ha", "[NII]6585": "nii_6585",
                  "[SII]6718": "sii_6718", "[SII]6733": "sii_6733"}
"""Line name -> column key of the measured fluxes kept in ``redshifts``."""

# --- redshifts: one row per searched spectrum (the CL redshift and, where found, line fluxes and ratios)
REDSHIFTS = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("survey", pa.string()),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("source_file", pa.string()),
        pa.field("snr_median", pa.float32()),
        pa.field("n_detected_lines", pa.int32()),
        pa.field("z_cl", pa.float64()),
        pa.field("n_cl_lines", pa.int32()),
        pa.field("cl_lines", pa.string()),
        pa.field("cl_quality", pa.float64()),
        pa.field("z_spread", pa.float64()),
    ]
    + [pa.field(f"{p}_{k}", pa.float64()) for k in FLUX_LINE_KEYS.values() for p in ("flux", "flux_err")]
    + [pa.field(c, pa.float64()) for c in RATIO_COLUMNS]
    + [pa.field("line_sigma_kms", pa.float64()), pa.field("bpt_class", pa.string()), pa.field("hii_diagnostic", pa.bool_())]
)

# --- pq_candidates: the top-1 template of every queried spectrum, per PQ configuration
PQ_CANDIDATES = pa.schema([
    pa.field("spec_id", pa.string(), nullable=False),
    pa.field("pq_config", pa.string(), nullable=False),
    pa.field("template_id", pa.string()),
    pa.field("z_rt", pa.float64()),
    pa.field("pq_distance", pa.float32()),
])

COLUMN_DOCS.update({
    "line_index": "0-based number of a detected line within its spectrum, ascending in wavelength",
    "center_angstrom": "observed line centre (peak pixel refined by a parabola), vacuum Angstrom",
    "start_angstrom": "observed start of the line's range (first pixel above the threshold), Angstrom",
    "end_angstrom": "observed end of the line's range (last pixel above the threshold), Angstrom",
    "peak": "residual (flux - median continuum) at the line's peak pixel, flux units",
    "flux_err": "1-sigma error of the detection flux from ivar",
    "cl_line": "the list line this detection was matched to by the CL redshift (null when unused)",
    "n_detected_lines": "emission lines found by the sliding window (after the S/N, contrast and sky cuts)",
    "z_cl": "CL redshift: >= 3 detected lines agree within 0.001 (Lu et al. 2022 section 2.2.5); null if none",
    "n_cl_lines": "number of distinct list lines behind z_cl",
    "cl_lines": "comma-separated names of the lines behind z_cl",
    "cl_quality": "sqrt(sum snr^2) of the lines behind z_cl (their combined detection S/N)",
    "z_spread": "max - min of the redshifts of the lines behind z_cl",
    "log_oiii_hb": "log10([O III]5008 / Hbeta) from the Gaussian fit at z_cl",
    "log_oiii_hb_err": "1-sigma error of log_oiii_hb (first-order propagation of the flux errors)",
    "log_nii_ha": "log10([N II]6585 / Halpha)",
    "log_nii_ha_err": "1-sigma error of log_nii_ha",
    "log_sii_ha": "log10(([S II]6718 + [S II]6733) / Halpha)",
    "log_sii_ha_err": "1-sigma error of log_sii_ha",
    "line_sigma_kms": "common velocity width of the Gaussian line fit (instrument included), km/s",
    "hii_diagnostic": "log([S II]/Ha) >= 0.63 log([N II]/Ha) - 0.55 (Lu et al. 2022 section 4.2.2) on the fitted fluxes",
    "pq_config": "PQ configuration of Lu et al. 2022 Table 1 as step/segments/K, e.g. 2/25/100",
    "template_id": "spec_id of the nearest template (PQ asymmetric distance, top-1)",
    "z_rt": "the nearest template's published redshift (Lu et al. 2022: redshift transfer)",
    "pq_distance": "PQ asymmetric distance to the nearest template (squared L2 or sum of segment L2 norms)",
})
for _name, _key in FLUX_LINE_KEYS.items():
    COLUMN_DOCS[f"flux_{_key}"] = f"{_name} flux from the tied-width Gaussian fit at z_cl (flux units x Angstrom)"
    COLUMN_DOCS[f"flux_err_{_key}"] = f"1-sigma error of flux_{_key} from ivar (fit covariance + continuum)"

# --- confirmed / galaxies / hii: one row per spectrum after the PQ z agreement (columns added per stage)
COLUMN_DOCS.update({
    "n_configs_agree": "PQ configurations whose top-1 template z agrees with z_cl within the tolerance",
    "best_pq_config": "the agreeing configuration whose z_rt is closest to z_cl (its template gives z_rt)",
    "inspection_pass": "passes the automatic substitute for the paper's visual inspection (conf: inspection)",
    "low_velocity": "z_cl and z_rt both below 500 km/s / c (Lu et al. 2022 section 4.2.2)",
    "region_name": "H II region (region catalog) the spectrum lies in, separation <= the region's radius",
    "region_type": "catalog type of that region (WISE HIICat: K known; G, C, Q candidates)",
    "region_radius_arcsec": "radius of that region, arcsec",
    "region_sep_arcsec": "separation from the region's centre, arcsec",
    "in_region": "the spectrum lies inside a region of the catalog",
    "hii": "H II spectrum: inside a region or passing the diagnostic (Lu et al. 2022: an OR)",
    "hii_class": "hii | unclassified (low-velocity spectra that are not H II)",
    "new_found": "Lu et al. 2022 Table 2 New_found: 1 outside every catalog region (diagnostic only), 0 inside",
    "region_new": "the region's type is not K: a region newly identified by its spectra (Table 2 '[n]' / '*')",
    "source_id": "unique source (friends-of-friends of the spectra within dedupe_radius_arcsec)",
    "n_source_spectra": "spectra of the same unique source",
    "new": "in none of the reference catalogs within their radius (anti-join against every catalog)",
    "glon_deg": "Galactic longitude, degrees",
    "glat_deg": "Galactic latitude, degrees",
})
