"""Arrow schemas of the synthetic imaging survey's tables, with a doc per column.

Column docs join ``schema.COLUMN_DOCS`` for names no other table documents yet (CasJobs names such as ``ra``,
``objid`` are this survey's own).

* PHOTOOBJ   photoObj-like detections per field (CasJobs PhotoObj column names)
* SPECPHOTO  SpecPhoto-like: the spectroscopic subset joined to its photometry
* IMAGING_TRUTH  what was put into the images, one row per object (per field or per survey)
* MPAJHU     MPA-JHU-like SFRs of the spectroscopic galaxies and QSOs (AVG = log SFR, FLAG)
* STAMPS / STAMP_TRUTH  Galaxy10-like stamps and their labels (kept apart: labels are for evaluation)
"""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS
from skysift.synth.imaging.bands import BANDS


def _per_band(name: str, typ: pa.DataType) -> list[pa.Field]:
    return [pa.field(f"{name}_{b}", typ) for b in BANDS]


PHOTOOBJ = pa.schema(
    [
        pa.field("objid", pa.int64(), nullable=False),
        pa.field("run", pa.int32()),
        pa.field("rerun", pa.string()),
        pa.field("camcol", pa.int16()),
        pa.field("field", pa.int32()),
        pa.field("obj", pa.int32()),
        pa.field("mode", pa.int8()),
        pa.field("type", pa.int8()),
        pa.field("flags", pa.int64()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        *_per_band("psfMag", pa.float32()),
        *_per_band("psfMagErr", pa.float32()),
        *_per_band("psfFlux", pa.float32()),
        *_per_band("psfFluxIvar", pa.float32()),
        *_per_band("modelMag", pa.float32()),
        *_per_band("modelMagErr", pa.float32()),
        *_per_band("modelFlux", pa.float32()),
        *_per_band("petroMag", pa.float32()),
        *_per_band("petroMagErr", pa.float32()),
        pa.field("petroRad_r", pa.float32()),
        pa.field("object_id", pa.int64()),
        pa.field("field_index", pa.int32()),
        pa.field("healpix29", pa.int64()),
    ]
)

SPECPHOTO = pa.schema(
    [
        pa.field("specobjid", pa.int64(), nullable=False),
        pa.field("spec_id", pa.string()),
        pa.field("objid", pa.int64()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("class", pa.string()),
        pa.field("subclass", pa.string()),
        pa.field("z", pa.float64()),
        pa.field("zErr", pa.float64()),
        pa.field("zWarning", pa.int32()),
        pa.field("type", pa.int8()),
        *_per_band("psfMag", pa.float32()),
        *_per_band("modelMag", pa.float32()),
        *_per_band("petroMag", pa.float32()),
        pa.field("petroRad_r", pa.float32()),
        pa.field("object_id", pa.int64()),
        pa.field("field_index", pa.int32()),
    ]
)

IMAGING_TRUTH = pa.schema(
    [
        pa.field("object_id", pa.int64(), nullable=False),
        pa.field("camcol", pa.int16()),
        pa.field("cell", pa.int32()),
        pa.field("primary_field_index", pa.int32()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("healpix29", pa.int64()),
        pa.field("class", pa.string()),
        pa.field("morphology", pa.string()),
        pa.field("morphology_label", pa.int8()),
        pa.field("target_class", pa.string()),
        pa.field("star_type", pa.string()),
        pa.field("is_spec", pa.bool_()),
        pa.field("spec_id", pa.string()),
        pa.field("zwarning", pa.int32()),
        pa.field("z", pa.float64()),
        *_per_band("mag", pa.float32()),
        *_per_band("flux", pa.float32()),
        pa.field("re_arcsec", pa.float32()),
        pa.field("bt", pa.float32()),
        pa.field("re_bulge_arcsec", pa.float32()),
        pa.field("n_bulge", pa.float32()),
        pa.field("q_bulge", pa.float32()),
        pa.field("re_disk_arcsec", pa.float32()),
        pa.field("q_disk", pa.float32()),
        pa.field("pa_deg", pa.float32()),
        pa.field("n_arms", pa.int8()),
        pa.field("pitch_deg", pa.float32()),
        pa.field("f_arms", pa.float32()),
        pa.field("f_bar", pa.float32()),
        pa.field("f_clumps", pa.float32()),
        pa.field("f_tidal", pa.float32()),
        pa.field("f_comp", pa.float32()),
        pa.field("log_mstar", pa.float32()),
        pa.field("log_sfr", pa.float32()),
        pa.field("log_ssfr", pa.float32()),
        pa.field("a_v_mag", pa.float32()),
        pa.field("young_fraction", pa.float32()),
        pa.field("fiber_fraction", pa.float32()),
        pa.field("flux_halpha_total", pa.float32()),
        pa.field("qso_alpha_nu", pa.float32()),
        pa.field("blend_host_id", pa.int64()),
        # per-field rows only (null in the survey-level table)
        pa.field("field_index", pa.int32()),
        pa.field("x_r", pa.float64()),
        pa.field("y_r", pa.float64()),
        pa.field("in_frame", pa.bool_()),
        pa.field("saturated_bands", pa.int16()),
        pa.field("detected", pa.bool_()),
    ]
)

MPAJHU = pa.schema(
    [
        pa.field("specobjid", pa.int64(), nullable=False),
        pa.field("spec_id", pa.string()),
        pa.field("object_id", pa.int64()),
        pa.field("class", pa.string()),
        pa.field("AVG", pa.float32()),
        pa.field("P16", pa.float32()),
        pa.field("P84", pa.float32()),
        pa.field("FLAG", pa.int32()),
        pa.field("sfr_indicator", pa.string()),
    ]
)

STAMPS = pa.schema(
    [
        pa.field("stamp_id", pa.int64(), nullable=False),
        pa.field("bands", pa.string()),
        pa.field("size_px", pa.int16()),
        pa.field("pixel_scale_arcsec", pa.float32()),
        pa.field("pixels", pa.list_(pa.float32())),
    ]
)

STAMP_TRUTH = pa.schema(
    [
        pa.field("stamp_id", pa.int64(), nullable=False),
        pa.field("label", pa.int8()),
        pa.field("morphology", pa.string()),
        *[pa.field(f"mag_{b}", pa.float32()) for b in ("g", "r", "z")],
        pa.field("re_arcsec", pa.float32()),
        pa.field("bt", pa.float32()),
        pa.field("q_disk", pa.float32()),
        pa.field("pa_deg", pa.float32()),
        pa.field("x_px", pa.float32()),
        pa.field("y_px", pa.float32()),
        pa.field("fwhm_r_arcsec", pa.float32()),
        pa.field("n_stars", pa.int16()),
        pa.field("n_neighbours", pa.int16()),
    ]
)

IMAGING_COLUMN_DOCS: dict[str, str] = {
    "objid": "SDSS-style objID: skyVersion 2 | rerun << 48 | run << 32 | camcol << 29 | field << 16 | obj",
    "run": "imaging run", "rerun": "processing rerun ('301')", "camcol": "camera column 1-6", "field": "field number",
    "obj": "detection number within the field, 1-based",
    "mode": "1 = primary (the field whose unique area holds the object), 2 = secondary (an overlap copy)",
    "type": "SDSS photo type: 3 galaxy, 6 star (psfMag_r - modelMag_r > 0.145 -> 3); there is no QSO type",
    "flags": "SDSS-like flag bits: SATURATED (1 << 18) when a pixel of the object saturated in any band",
    "ra": "right ascension (deg, ICRS); photoObj: measured (true + astrometric noise)",
    "dec": "declination (deg, ICRS); photoObj: measured",
    "petroRad_r": "Petrosian radius in r (arcsec), eta = 0.2, from the true profile and PSF",
    "object_id": "synthetic object id: links images, catalogs, truth and the spectrum (spec_id synth-<object_id>)",
    "field_index": "synthetic field index (0 .. n_camcols * n_fields - 1) the row was measured on",
    "healpix29": "nested HEALPix index at order 29 of (ra, dec)",
    "specobjid": "spectrum id (synthetic: the object_id, the spectral model's row)",
    "spec_id": "the spectral survey's spec_id of this object's spectrum: synth-<object_id:08d>",
    "class": "GALAXY | STAR | QSO (SDSS spectroscopic classes; truth: the object's class)",
    "subclass": "SDSS-like subclass: MK type for stars, STARFORMING / STARBURST / AGN / COMPOSITE for galaxies, BROADLINE for QSOs",
    "z": "redshift (truth; SpecPhoto: the pipeline z = truth, its error in zErr)",
    "zErr": "redshift error", "zWarning": "SDSS zWarning: 0 good, 4 SMALL_DELTA_CHI2 (Zhao et al. 2025 drop != 0)",
    "zwarning": "zWarning of the object's spectrum (0 when no spectrum)",
    "cell": "sky cell along the run (field k's unique area), -1 .. n_fields",
    "primary_field_index": "field index whose unique area holds the object",
    "morphology": "Galaxy10 DECaLS class name (galaxies) or 'point'",
    "morphology_label": "Galaxy10 label 0-9 (galaxies) or -1",
    "target_class": "spectral-model class of the object's spectrum (star_forming ... qso, star)",
    "star_type": "MK type of a star (model.STAR_TYPES) or ''",
    "is_spec": "chosen for spectroscopy (in SpecPhoto, gets a spectrum)",
    "re_arcsec": "half-light radius of the galaxy (disk R_e for disk classes, bulge R_e for smooth ones)",
    "bt": "bulge-to-total light ratio in r", "re_bulge_arcsec": "bulge R_e", "n_bulge": "bulge Sersic index",
    "q_bulge": "bulge axis ratio", "re_disk_arcsec": "exponential disk R_e (0: no disk)", "q_disk": "disk axis ratio (inclination)",
    "pa_deg": "position angle of the major axis, east of north (deg)", "n_arms": "number of spiral arms",
    "pitch_deg": "spiral pitch angle (deg)", "f_arms": "r-light fraction in spiral arms", "f_bar": "r-light fraction in the bar",
    "f_clumps": "r-light fraction in star-forming clumps", "f_tidal": "r-light fraction in tidal tails",
    "f_comp": "r-light fraction in the merger companion (merging class)",
    "log_mstar": "log10 stellar mass (Msun; Bell et al. 2003 M/L from rest g - r)",
    "log_sfr": "log10 true SFR (Msun/yr): the SFR truth", "log_ssfr": "log10 specific SFR (1/yr)",
    "a_v_mag": "gas A_V (mag); stars see 0.44 A_V", "young_fraction": "young-light fraction at 5500 A (sets colour)",
    "fiber_fraction": "fraction of the r light in a 3-arcsec fibre (spectra see this fraction)",
    "flux_halpha_total": "total observed Halpha flux (1e-17 erg/s/cm2) = Kennicutt(SFR) attenuated by A_V; fibre = x fiber_fraction",
    "qso_alpha_nu": "QSO power-law index alpha_nu", "blend_host_id": "object_id of the galaxy this blend neighbour was placed beside (-1)",
    "x_r": "0-based column of the object in the r frame (pixel centres at integers)", "y_r": "0-based row in the r frame",
    "in_frame": "the object's centre lies on the r frame", "saturated_bands": "bit b set when band b (u=0 .. z=4) saturated at the centre",
    "detected": "the object has a row in this field's photoObj",
    "AVG": "MPA-JHU-like mean of the log10 SFR likelihood (true log SFR + indicator scatter)",
    "P16": "16th percentile of log SFR", "P84": "84th percentile of log SFR",
    "FLAG": "0 = reliable; 1 = flagged at random (catalog.flag_fraction); 2 = zWarning != 0",
    "sfr_indicator": "halpha (star-forming / composite: SFR from Halpha) | d4000 (passive, LINER, Seyfert) | qso_host",
    "stamp_id": "stamp number (with the seed it fixes the stamp)", "bands": "bands of the stamp, e.g. 'grz'",
    "size_px": "stamp side", "pixel_scale_arcsec": "stamp pixel scale",
    "pixels": "float32 (n_bands, size, size) row-major, nanomaggies",
    "label": "Galaxy10 class label 0-9 of the central galaxy (evaluation only)",
    "x_px": "0-based column of the central galaxy in the stamp", "y_px": "0-based row of the central galaxy",
    "fwhm_r_arcsec": "PSF FWHM in r", "n_stars": "field stars in the stamp", "n_neighbours": "neighbour galaxies in the stamp",
}
for _b in BANDS:
    IMAGING_COLUMN_DOCS.update(
        {
            f"psfMag_{_b}": f"asinh PSF magnitude in {_b} (SDSS softening)",
            f"psfMagErr_{_b}": f"error of psfMag_{_b}",
            f"psfFlux_{_b}": f"PSF flux in {_b} (nanomaggies): PSF-weighted, = total for point sources",
            f"psfFluxIvar_{_b}": f"inverse variance of psfFlux_{_b} (1/nMgy^2)",
            f"modelMag_{_b}": f"asinh model magnitude in {_b} (the truncated model's total flux + noise)",
            f"modelMagErr_{_b}": f"error of modelMag_{_b}",
            f"modelFlux_{_b}": f"model flux in {_b} (nanomaggies)",
            f"petroMag_{_b}": f"asinh Petrosian magnitude in {_b} (flux within 2 petroRad)",
            f"petroMagErr_{_b}": f"error of petroMag_{_b}",
            f"mag_{_b}": f"true total AB magnitude in {_b}",
            f"flux_{_b}": f"true total flux in {_b} (nanomaggies)",
        }
    )


def undocumented(schema: pa.Schema) -> list[str]:
    """Columns of ``schema`` without a doc in this module."""
    return [f.name for f in schema if f.name not in IMAGING_COLUMN_DOCS]


for _name, _doc in IMAGING_COLUMN_DOCS.items():
    COLUMN_DOCS.setdefault(_name, _doc)
