"""Every table's Arrow schema with its column docs, split by domain (spectra, kb, images, ...); import from here.

Schemas are Arrow schemas (the on-disk truth, used by pandas UDF outputs and pyarrow readers); ``spark_schema``
converts them for ``mapInPandas``. Each column's unit and origin is in ``COLUMN_DOCS`` so that
``describe(table)`` can print them.
"""
from skysift.schema.common import COLUMN_DOCS, REJECTS, describe, spark_schema
from skysift.schema.detection import RAW_DETECTIONS, SOURCES
from skysift.schema.images import CUTOUTS, FIELDS, TILES
from skysift.schema.imaging_survey import IMAGING_TRUTH, MPAJHU, PHOTOOBJ, SPECPHOTO, STAMP_TRUTH, STAMPS
from skysift.schema.multimodal import MULTIMODAL, SFR_EVAL_PREDICTIONS, SFR_PREDICTIONS
from skysift.schema.emission import LINES, PQ_CANDIDATES, REDSHIFTS
from skysift.schema.similarity import IMAGE_INDEX_ENTRIES, IMAGE_MATCHES, IMAGE_VECTORS
from skysift.schema.kb import EMBEDDINGS, KB_ENTRIES, LABELS, PREDICTIONS
from skysift.schema.spectra import LINE_FLUX_COLUMNS, POOL_TRUTH, SPECTRA, TRUTH

__all__ = ["COLUMN_DOCS", "REJECTS", "describe", "spark_schema", "EMBEDDINGS", "KB_ENTRIES", "LABELS",
           "PREDICTIONS", "LINE_FLUX_COLUMNS", "SPECTRA", "TRUTH", "IMAGING_TRUTH", "MPAJHU", "PHOTOOBJ", "SPECPHOTO",
           "STAMP_TRUTH", "STAMPS", "FIELDS", "TILES", "CUTOUTS", "MULTIMODAL", "SFR_PREDICTIONS", "SFR_EVAL_PREDICTIONS",
           "LINES", "PQ_CANDIDATES", "REDSHIFTS", "POOL_TRUTH", "IMAGE_INDEX_ENTRIES", "IMAGE_MATCHES", "IMAGE_VECTORS",
           "RAW_DETECTIONS", "SOURCES"]
