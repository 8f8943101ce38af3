"""Spectra tables: `spectra` (ingest-spectra, synth-survey) and the synthetic survey's `truth`."""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS

# --- spectra: one resampled, normalised spectrum per row (ingest-spectra, synth-survey direct mode)
SPECTRA = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("survey", pa.string()),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("healpix29", pa.int64()),
        pa.field("z", pa.float64()),
        pa.field("z_err", pa.float64()),
        pa.field("class", pa.string()),
        pa.field("subclass", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("flux", pa.list_(pa.float32())),
        pa.field("ivar", pa.list_(pa.float32())),
        pa.field("masked_fraction", pa.float32()),
        pa.field("norm_factor", pa.float32()),
        pa.field("norm_method", pa.string()),
        pa.field("snr_median", pa.float32()),
        pa.field("grid_id", pa.string()),
        pa.field("healpix_part", pa.int32()),
    ]
)

# --- truth: what the synthetic survey put into each spectrum
LINE_FLUX_COLUMNS = (
    "flux_oii_3727",
    "flux_hb_4861",
    "flux_oiii_5007",
    "flux_oi_6300",
    "flux_nii_6584",
    "flux_ha_6563",
    "flux_sii_6717",
    "flux_sii_6731",
)
TRUTH = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("survey", pa.string()),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("healpix29", pa.int64()),
        pa.field("class", pa.string()),
        pa.field("subclass", pa.string()),
        pa.field("target_class", pa.string()),
        pa.field("z", pa.float64()),
        pa.field("z_source", pa.float64()),
        pa.field("snr", pa.float32()),
        pa.field("source_file", pa.string()),
        *[pa.field(name, pa.float32()) for name in LINE_FLUX_COLUMNS],
        pa.field("bpt_class", pa.string()),
        pa.field("lens_grade", pa.string()),
        pa.field("outlier_subtype", pa.string()),
        # synth-survey additions: file identity, generation parameters, lens source lines
        pa.field("row_number", pa.int64()),
        pa.field("file_spec_id", pa.string()),
        pa.field("plate", pa.int32()),
        pa.field("mjd", pa.int32()),
        pa.field("fiber", pa.int32()),
        pa.field("z_err", pa.float64()),
        pa.field("flux_5500", pa.float32()),
        pa.field("a_v_mag", pa.float32()),
        pa.field("sigma_gas_kms", pa.float32()),
        pa.field("fwhm_broad_kms", pa.float32()),
        *[pa.field(f"flux_src_{name}", pa.float32()) for name in ("oii_3727", "hb_4861", "oiii_5007", "ha_6563")],
        pa.field("lens_line_snr", pa.float32()),
        pa.field("outlier_wave_angstrom", pa.float32()),
        pa.field("k0", pa.int32()),
        pa.field("n_pix", pa.int32()),
    ]
)

COLUMN_DOCS.update({
    "spec_id": "unique spectrum id: sdss-PLATE-MJD-FIBER, lamost-OBSID (or lamost-LMJD-PLANID-SPID-FIBER when OBSID is absent), synth files as their survey layout",
    "survey": "sdss | boss | lamost | synth",
    "ra_deg": "right ascension, ICRS degrees (SDSS PLUG_RA, LAMOST RA)",
    "dec_deg": "declination, ICRS degrees (SDSS PLUG_DEC, LAMOST DEC)",
    "healpix29": "nested HEALPix index at order 29 of (ra_deg, dec_deg), as HATS uses (cdshealpix)",
    "z": "pipeline redshift (SDSS SPECOBJ Z, LAMOST Z); heliocentric, dimensionless",
    "z_err": "redshift error (SDSS Z_ERR; LAMOST Z_ERR when given, else null)",
    "class": "survey pipeline class: GALAXY, QSO, STAR (synthetic: the same three)",
    "subclass": "survey pipeline subclass (SDSS SUBCLASS, LAMOST SUBCLASS) or synthetic subtype",
    "source_file": "path of the file the row was read from",
    "flux": "float32 flux on the output grid (grid_id), divided by norm_factor; SDSS units 1e-17 erg/s/cm2/A",
    "ivar": "float32 inverse variance on the output grid, in (normalised flux)^-2; 0 = no data",
    "masked_fraction": "fraction of output pixels with ivar = 0 (outside coverage, masked or gap-bridged)",
    "norm_factor": "the divisor applied to flux (ivar multiplied by its square); 1 for normalisation 'none'",
    "norm_method": "how norm_factor was found: median_rest_5300_5850 | lu2022 | l2 | none | fallback_median_observed",
    "snr_median": "median of flux*sqrt(ivar) over pixels with ivar > 0",
    "grid_id": "the output grid: 'lin:START:STOP:N' (Angstrom, linear) or 'log:...'; suffix ':rest' = rest-frame wavelengths",
    "healpix_part": "coarse nested HEALPix index (partition column); order in the table's _table.json",
    "row_index": "row (or HDU spectrum index) inside source_file, when the file holds several",
    "stage": "job step that rejected the row: read | validate | resample | normalise | ...",
    "reason": "one-line reason the row could not be used",
    "target_class": "synthetic truth class: star_forming | composite | seyfert | liner | passive | qso | star | lens | outlier",
    "z_source": "redshift of the background source of a lens candidate (null otherwise)",
    "snr": "synthetic S/N per pixel of the continuum at 5500 A observed",
    "bpt_class": "BPT class implied by the true line fluxes (Kewley 2001 / Kauffmann 2003 / Kewley 2006 lines)",
    "lens_grade": "synthetic lens grade: likely | probable | possible (lens rows only)",
    "outlier_subtype": "synthetic outlier subtype (outlier rows only)",
})
for _name in LINE_FLUX_COLUMNS:
    COLUMN_DOCS[_name] = f"true integrated line flux of {_name[5:]} (1e-17 erg/s/cm2) before noise"
COLUMN_DOCS.update(
    {
        "row_number": "synthetic row number (the N of synth-N); with the seed it fixes the spectrum",
        "file_spec_id": "spec_id a reader gives the synthetic FITS file (sdss-PLATE-MJD-FIBER or lamost-OBSID)",
        "plate": "synthetic plate number (SDSS PLATE; LAMOST plan SYNnnnnn)",
        "mjd": "synthetic MJD (SDSS MJD; LAMOST LMJD)",
        "fiber": "synthetic fibre number on the plate, 1-based",
        "flux_5500": "synthetic continuum flux density at 5500 A observed (1e-17 erg/s/cm2/A)",
        "a_v_mag": "synthetic dust attenuation A_V of the gas (mag; stars see 0.44 A_V, Calzetti 2000)",
        "sigma_gas_kms": "synthetic narrow emission-line velocity dispersion (km/s, before instrumental)",
        "fwhm_broad_kms": "synthetic QSO broad-line FWHM (km/s; QSO rows only)",
        "flux_src_oii_3727": "lens background source [O II] 3727+3729 flux (1e-17 erg/s/cm2; lens rows only)",
        "flux_src_hb_4861": "lens background source Hbeta flux (1e-17 erg/s/cm2; lens rows only)",
        "flux_src_oiii_5007": "lens background source [O III] 5007 flux (1e-17 erg/s/cm2; lens rows only)",
        "flux_src_ha_6563": "lens background source Halpha flux (1e-17 erg/s/cm2; lens rows only)",
        "lens_line_snr": "expected combined S/N of the lens background lines inside coverage (grades use it)",
        "outlier_wave_angstrom": "observed wavelength of an outlier's unidentified line or continuum break (A)",
        "k0": "first native pixel: loglam[0] = float32(3.5 + 1e-4 k0) (LAMOST: COEFF0 = 3.5 + 1e-4 k0)",
        "n_pix": "number of native pixels in the synthetic file",
    }
)



# --- pool truth: the Lu et al. 2022 stand-in (synth-survey model.population=lu2022_pool), TRUTH + these
POOL_CL_LINES = ("ha", "hb", "oiii_5007", "oii_3727", "nii_6584", "sii_6717")
"""Truth keys of the six CL-redshift lines (Lu et al. 2022 section 2.2.5)."""
POOL_REFERENCE_CATALOGS = ("cds", "sdss", "ned")
"""The pool's synthetic reference catalogs."""
POOL_TRUTH = pa.schema(
    list(TRUTH)
    + [
        pa.field("source_id", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("repeat", pa.bool_()),
        pa.field("z_true", pa.float64()),
        pa.field("glon_deg", pa.float64()),
        pa.field("glat_deg", pa.float64()),
        pa.field("v_kms", pa.float32()),
        pa.field("hii_region_name", pa.string()),
        pa.field("hii_region_type", pa.string()),
        pa.field("hii_truth", pa.bool_()),
        pa.field("hii_passes_diagnostic", pa.bool_()),
        pa.field("log_nii_ha_true", pa.float32()),
        pa.field("log_sii_ha_true", pa.float32()),
        pa.field("log_oiii_hb_true", pa.float32()),
        *[pa.field(f"line_snr_{k}", pa.float32()) for k in POOL_CL_LINES],
        pa.field("n_lines_snr5", pa.int32()),
        *[pa.field(f"in_{c}", pa.bool_()) for c in POOL_REFERENCE_CATALOGS],
        pa.field("new_truth", pa.bool_()),
        pa.field("is_template", pa.bool_()),
    ]
)
COLUMN_DOCS.update(
    {
        "source_id": "pool truth: the physical source a spectrum shows (repeat observations share it)",
        "source_row": "pool truth: row whose parameters the spectrum was drawn from (itself unless a repeat)",
        "repeat": "pool truth: the spectrum re-observes an earlier source (new noise, position within 0.3 arcsec)",
        "z_true": "pool truth: true redshift (templates: before the published-z scatter; null for junk)",
        "glon_deg": "Galactic longitude, degrees (astropy ICRS -> Galactic)",
        "glat_deg": "Galactic latitude, degrees",
        "v_kms": "pool truth: radial velocity of a Galactic spectrum or a star, km/s (null otherwise)",
        "hii_region_name": "H II region of the synthetic catalog the position lies in (separation <= radius), else null",
        "hii_region_type": "catalog type of that region: K (known) or G / C / Q (candidates), as WISE HIICat V2",
        "hii_truth": "pool truth: an H II spectrum (Galactic, and in a region or its noiseless ratios pass the diagnostic)",
        "hii_passes_diagnostic": "pool truth: noiseless log([S II]/Ha) >= 0.63 log([N II]/Ha) - 0.55 (Lu et al. 2022)",
        "log_nii_ha_true": "pool truth: log10([N II]6585 / Halpha) of the noiseless fluxes",
        "log_sii_ha_true": "pool truth: log10(([S II]6718 + 6733) / Halpha) of the noiseless fluxes",
        "log_oiii_hb_true": "pool truth: log10([O III]5008 / Hbeta) of the noiseless fluxes",
        "n_lines_snr5": "pool truth: CL lines (Ha, Hb, [O III]5008, [O II]3728, [N II]6585, [S II]6718) with line_snr >= 5",
        "new_truth": "pool truth: an emission-line galaxy in none of the reference catalogs (a 'new' one)",
        "is_template": "pool truth: the row is a template (templates/ table), not a pool spectrum",
    }
)
for _k in POOL_CL_LINES:
    COLUMN_DOCS[f"line_snr_{_k}"] = (f"pool truth: expected optimal S/N of {_k} from the native-pixel noise "
                                     "(0 when off the 3900-8900 A grid or absent)")
for _c in POOL_REFERENCE_CATALOGS:
    COLUMN_DOCS[f"in_{_c}"] = f"pool truth: the source has an entry in the synthetic {_c} reference catalog"
