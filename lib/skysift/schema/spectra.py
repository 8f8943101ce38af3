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


