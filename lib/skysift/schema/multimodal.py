"""The `multimodal` table (build-multimodal): one object per row with its cutouts, its spectrum at four quality
levels and its SFR label (Rustamov 2025)."""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


_F32 = pa.list_(pa.float32())

MULTIMODAL = pa.schema(
    [
        _f("object_id", pa.string(), "the object's id: the cutouts' object_id and the label table's id column", False),
        _f("spec_id", pa.string(), "the spectrum's spec_id (the label table's spec_id column)"),
        _f("class", pa.string(), "label-table class (GALAXY / QSO): metrics with and without QSOs"),
        _f("log_sfr", pa.float64(), "label: log10 SFR (Msun/yr), the label table's AVG (or AVR) column"),
        _f("label_flag", pa.int32(), "the label table's FLAG (always 0 here: other rows are rejected)"),
        _f("ra_deg", pa.float64(), "cutout right ascension, ICRS degrees"),
        _f("dec_deg", pa.float64(), "cutout declination, ICRS degrees"),
        _f("healpix29", pa.int64(), "nested HEALPix index at order 29 of (ra_deg, dec_deg)"),
        _f("z", pa.float64(), "the spectrum's redshift"),
        _f("bands", pa.list_(pa.string()), "band names, in the order of the pixels' first axis"),
        _f("size_px", pa.int32(), "cutout side in pixels"),
        _f("pixels", _F32, "float32 (bands, size_px, size_px) row-major cutout (make-cutouts)"),
        _f("levels_px", pa.list_(pa.int32()), "sides of the area-averaged versions in level_pixels (e.g. 32, 16, 8)"),
        _f("level_pixels", pa.list_(_F32), "per level: float32 (bands, L, L) block means (make-cutouts)"),
        _f("cutout_flags", pa.int32(), "make-cutouts flags (1 EDGE, 2 OUTSIDE, 4 NONFINITE, 8 MASKED)"),
        _f("grid_id", pa.string(), "the spectrum's wavelength grid (quality level 0)"),
        _f("quality_binning", pa.list_(pa.int32()), "pixels per bin of each quality level (1, 2, 4, 8)"),
        _f("flux", _F32, "quality level 0: the normalised flux on grid_id (spectra.flux)"),
        _f("ivar", _F32, "quality level 0: its inverse variance (spectra.ivar)"),
        _f("flux_q1", _F32, "quality level 1: flux binned by quality_binning[1] (ivar-weighted mean)"),
        _f("flux_q2", _F32, "quality level 2: flux binned by quality_binning[2]"),
        _f("flux_q3", _F32, "quality level 3: flux binned by quality_binning[3]"),
        _f("norm_factor", pa.float32(), "the spectrum's norm_factor (flux scale removed by the normalisation)"),
        _f("snr_median", pa.float32(), "the spectrum's median S/N per pixel"),
        _f("image_embedding", _F32, "the cutout's embedding (embed-images' image_vectors), null when none was joined"),
        _f("spectrum_embedding", _F32, "the spectrum's embedding (embed-spectra's embeddings), null when none was joined"),
        _f("healpix_part", pa.int32(), "coarse nested HEALPix index (partition column; order in _table.json)"),
    ]
)

SFR_PREDICTIONS = pa.schema(
    [
        _f("object_id", pa.string(), "the multimodal table's object_id", False),
        _f("log_sfr_pred", pa.float64(), "predicted log10 SFR (Msun/yr) of the model below"),
        _f("model_uri", pa.string(), "the model as asked for (models:/NAME@ALIAS, models:/NAME/VERSION or a folder)"),
        _f("model_version", pa.string(), "registered version the URI resolved to on the driver (null for a folder)"),
        _f("model_name", pa.string(), "which SFR model (early_fusion, intermediate_fusion, late_fusion, ...)"),
    ]
)
"""predict-sfr's output: one row per predicted object."""

SFR_EVAL_PREDICTIONS = pa.schema(
    [
        _f("image_px", pa.int32(), "image resolution the model saw (px)"),
        _f("quality_level", pa.int32(), "spectral quality level the model saw (0..3)"),
        _f("model", pa.string(), "SFR model name (models.sfr_config.MODEL_NAMES)"),
        _f("seed", pa.int32(), "training seed"),
        _f("split", pa.string(), "val or test (the split by object of train-sfr)"),
        _f("object_id", pa.string(), "the multimodal table's object_id", False),
        _f("class", pa.string(), "label-table class (GALAXY / QSO)"),
        _f("z", pa.float64(), "the spectrum's redshift"),
        _f("log_sfr", pa.float64(), "label: log10 SFR"),
        _f("log_sfr_pred", pa.float64(), "predicted log10 SFR (Msun/yr)"),
    ]
)
"""train-sfr's held-out predictions (predictions.parquet): what evaluate-sfr measures."""

for _schema in (MULTIMODAL, SFR_PREDICTIONS, SFR_EVAL_PREDICTIONS):
    for _field in _schema:
        COLUMN_DOCS.setdefault(_field.name, _field.metadata[b"doc"].decode())
