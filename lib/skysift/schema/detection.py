"""Detection tables of `skysift detect-sources`: the raw per-tile pass and the source catalog.

* RAW_DETECTIONS: what the executor pass over tiles emits (one row per detection, plus one ``row_kind = 'tile'``
  row per tile read, which carries the tile's outcome); an internal table of the job, removed before commit.
* SOURCES: one row per source of the catalog (``catalog/``, ``hats/``) and of ``_unmatched``; the photometric
  catalog's own columns (its magnitudes, ``type``) follow these, named as in the catalog.

Each field carries its description as Arrow field metadata ``doc``; ``COLUMN_DOCS`` gets names no other table
documents yet.
"""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


_BOX = [
    _f("x_min", pa.float64(), "left edge of the detected box, frame pixels (0-based, pixel centres at integers, edges at +-0.5)"),
    _f("y_min", pa.float64(), "top edge of the box, frame pixels"),
    _f("x_max", pa.float64(), "right edge of the box, frame pixels"),
    _f("y_max", pa.float64(), "bottom edge of the box, frame pixels"),
    _f("x_px", pa.float64(), "box centre, frame column (reference-band grid)"),
    _f("y_px", pa.float64(), "box centre, frame row"),
]
_CLASS = [
    _f("p_galaxy", pa.float32(), "Conv4Net probability of GALAXY (48 x 48 crop of the box, Zhao et al. 2025)"),
    _f("p_star", pa.float32(), "Conv4Net probability of STAR"),
    _f("p_qso", pa.float32(), "Conv4Net probability of QSO"),
]

RAW_DETECTIONS = pa.schema(
    [
        _f("row_kind", pa.string(), "'det': one detection; 'tile': the outcome of one tile read (n_detections, reason)", False),
        _f("tile_id", pa.string(), "the tile (tiles.tile_id)"),
        _f("field_id", pa.string(), "the field the tile belongs to"),
        _f("tile_index", pa.int32(), "row-major index of the tile in its field's grid"),
        *_BOX,
        _f("ra_deg", pa.float64(), "box centre through the reference (r-band) WCS, ICRS degrees"),
        _f("dec_deg", pa.float64(), "box centre through the reference WCS, ICRS degrees"),
        _f("det_score", pa.float32(), "YOLOv8 confidence of the box"),
        *_CLASS,
        _f("partial", pa.bool_(), "the box touches a tile edge that lies inside the frame (cut by the tile: dropped before the merge)"),
        _f("n_detections", pa.int32(), "tile rows: boxes the detector returned on the tile"),
        _f("reason", pa.string(), "tile rows: why the tile was rejected (null when it was detected on)"),
        _f("seconds", pa.float64(), "tile rows: this tile's share of its batch's executor seconds"),
        _f("device", pa.string(), "tile rows: torch device the models ran on"),
    ]
)

SOURCES = pa.schema(
    [
        _f("source_id", pa.string(), "FIELD_ID-sNNNNN: the field and the source's rank in it (sorted by y_px, x_px after the merge)", False),
        _f("ra_deg", pa.float64(), "source position (box centre through the r-band WCS), ICRS degrees"),
        _f("dec_deg", pa.float64(), "source position, ICRS degrees"),
        _f("field_id", pa.string(), "field the kept detection was made on"),
        _f("tile_id", pa.string(), "tile the kept detection was made on"),
        _f("tile_index", pa.int32(), "index of that tile in the field's grid"),
        *_BOX,
        _f("det_score", pa.float32(), "YOLOv8 confidence of the kept box"),
        _f("class", pa.string(), "galaxy | star | qso: Conv4Net's most probable class"),
        *_CLASS,
        _f("n_merged", pa.int32(), "detections of overlapping frames merged into this source by the 0.5 arcsec rule (1: one frame)"),
        _f("healpix29", pa.int64(), "nested HEALPix index at order 29 of (ra_deg, dec_deg)"),
        _f("objid", pa.int64(), "id of the nearest photometric-catalog row within the match radius (null: none, or no catalog given)"),
        _f("separation_arcsec", pa.float64(), "distance to that row, arcsec (null when unmatched)"),
    ]
)

CLASS_NAMES = ("galaxy", "star", "qso")
"""The ``class`` values, in Conv4Net's output order (detection.crops.CLASSES, lower case)."""

for _schema in (RAW_DETECTIONS, SOURCES):
    for _field in _schema:
        COLUMN_DOCS.setdefault(_field.name, _field.metadata[b"doc"].decode())
