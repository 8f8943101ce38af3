"""Imaging tables: `fields` and `tiles` (ingest-frames) and `cutouts` (make-cutouts).

Pixels travel as ONE ``list<float32>`` column per row, row-major (bands, rows, columns), with the
band names in ``bands`` (``images.tables.stack_column`` / ``column_stack`` convert to and from numpy
without a copy per row). Measured on the 12 tiles of the real field 2583-2-136 (3 x 640 x 640,
2-core machine shared with other jobs; best of 3): one column and one column per band wrote and
read back in the same time (write 0.16 vs 0.16 s, read 0.11 vs 0.11 s with snappy, 51 MB either
way), so the single column wins on the other counts: a field may stack a different set of bands,
and an image moves as one buffer (DESIGN.md).

Each field carries its own description as Arrow field metadata ``doc`` (read by
``io.catalog_writers.column_description``); ``COLUMN_DOCS`` gets the names that no other table uses yet.
"""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


_STR_LIST = pa.list_(pa.string())
_F32_LIST = pa.list_(pa.float32())
_F64_LIST = pa.list_(pa.float64())

# --- fields: one registered field (all bands on the reference band's grid) per row
FIELDS = pa.schema(
    [
        _f("field_id", pa.string(), "field id: RUN-CAMCOL-FIELD for SDSS frames (no zero padding), else the file name with its band token removed", False),
        _f("run", pa.int32(), "SDSS imaging run (null when unknown)"),
        _f("camcol", pa.int32(), "SDSS camera column 1-6 (null when unknown)"),
        _f("field", pa.int32(), "SDSS field number within the run (null when unknown)"),
        _f("bands", _STR_LIST, "bands stacked in this field's tiles, in stack order"),
        _f("reference_band", pa.string(), "band whose pixel grid and WCS every band was registered onto"),
        _f("bands_present", _STR_LIST, "bands with a usable or unread frame file: the stacked bands and unused_bands, sorted"),
        _f("wcs_header", pa.string(), "the reference band's celestial WCS as FITS header text (SIP kept); pixel (0, 0) is the frame's first pixel"),
        _f("height_px", pa.int32(), "rows of the reference frame (SDSS 1489)"),
        _f("width_px", pa.int32(), "columns of the reference frame (SDSS 2048)"),
        _f("pixel_scale_arcsec", pa.float64(), "mean pixel side of the reference WCS in arcsec (SDSS 0.396)"),
        _f("unit", pa.string(), "pixel unit of the reference frame (BUNIT; SDSS 'nanomaggy')"),
        _f("sky_level", _F32_LIST, "per band (aligned with bands): sigma-clipped median of the band's own frame (before registration), median over 128 px boxes; pixel unit"),
        _f("sky_noise", _F32_LIST, "per band: robust sky noise of the band's own frame (clipped sd corrected for the clip, median over 128 px boxes; images.background.sky_stats); pixel unit"),
        _f("band_coverage", _F32_LIST, "per band: fraction of reference pixels the registered band covers (1 for the reference)"),
        _f("source_files", _STR_LIST, "per band (aligned with bands): the frame file it was read from"),
        _f("unused_files", _STR_LIST, "frame files of this field whose band is neither required nor optional (not stacked; make-cutouts reads them for such bands)"),
        _f("unused_bands", _STR_LIST, "band of each unused file (aligned with unused_files)"),
        _f("ra_deg", pa.float64(), "right ascension of the reference frame's centre pixel, ICRS degrees"),
        _f("dec_deg", pa.float64(), "declination of the reference frame's centre pixel, ICRS degrees"),
        _f("healpix29", pa.int64(), "nested HEALPix index at order 29 of the frame centre"),
        _f("corners_ra_deg", _F64_LIST, "RA of the frame's 4 outer pixel corners (-0.5,-0.5), (W-0.5,-0.5), (W-0.5,H-0.5), (-0.5,H-0.5), degrees"),
        _f("corners_dec_deg", _F64_LIST, "Dec of the same 4 corners, degrees"),
        _f("tile_size_px", pa.int32(), "side of this field's tiles in pixels"),
        _f("tiles_x", pa.int32(), "tiles across (columns of the tile grid)"),
        _f("tiles_y", pa.int32(), "tiles down (rows of the tile grid)"),
        _f("tile_files", _STR_LIST, "Parquet files of the tiles table holding this field's tiles, relative to the output folder"),
        _f("seconds", _F32_LIST, "executor seconds for this field: decompress, parse (header, pixels, WCS), register, sky, tiles, rgb, write"),
    ]
)

# --- tiles: one overlapping square tile of a registered field per row
TILES = pa.schema(
    [
        _f("tile_id", pa.string(), "FIELD_ID-tNN: the field id and the tile's row-major index in its grid", False),
        _f("field_id", pa.string(), "the field (fields.field_id) the tile was cut from", False),
        _f("tile_index", pa.int32(), "row-major index in the field's tile grid: iy * tiles_x + ix"),
        _f("x0", pa.int32(), "reference-frame column of the tile's first pixel (0-based)"),
        _f("y0", pa.int32(), "reference-frame row of the tile's first pixel (0-based)"),
        _f("size_px", pa.int32(), "tile side in pixels"),
        _f("bands", _STR_LIST, "band names, in the order of the pixels' first axis"),
        _f("pixels", _F32_LIST, "float32 band stack, row-major (bands, size_px, size_px), registered onto the reference band; NaN where a band does not cover"),
        _f("wcs_header", pa.string(), "the tile's celestial WCS: the field's with CRPIX shifted by (x0, y0)"),
        _f("ra_deg", pa.float64(), "right ascension of the tile's centre, ICRS degrees"),
        _f("dec_deg", pa.float64(), "declination of the tile's centre, ICRS degrees"),
        _f("healpix29", pa.int64(), "nested HEALPix index at order 29 of the tile centre"),
        _f("rgb_png", pa.binary(), "8-bit Lupton asinh RGB (R=i, G=r, B=g) as PNG bytes, PNG row 0 = pixel row 0 (y = 0); null when not made"),
        _f("healpix_part", pa.int32(), "coarse nested HEALPix index of the tile centre (partition column; order in _table.json)"),
    ]
)

# --- cutouts: one square cutout per catalog row
CUTOUTS = pa.schema(
    [
        _f("object_id", pa.string(), "the catalog row's id (id_column as text; row number when there is no id column)", False),
        _f("row_index", pa.int64(), "row of the catalog file (0-based)"),
        _f("ra_deg", pa.float64(), "catalog right ascension, ICRS degrees"),
        _f("dec_deg", pa.float64(), "catalog declination, ICRS degrees"),
        _f("healpix29", pa.int64(), "nested HEALPix index at order 29 of (ra_deg, dec_deg)"),
        _f("size_px", pa.int32(), "cutout side in pixels"),
        _f("bands", _STR_LIST, "band names, in the order of the pixels' first axis"),
        _f("pixels", _F32_LIST, "float32 (bands, size_px, size_px) row-major, on the source field's reference grid; fill value (NaN) outside the frame"),
        _f("levels_px", pa.list_(pa.int32()), "sides of the downsampled versions in level_pixels (e.g. 32, 16, 8)"),
        _f("level_pixels", pa.list_(_F32_LIST), "per level: float32 (bands, L, L) block means of pixels (area averaging; mean surface brightness per original pixel)"),
        _f("flags", pa.int32(), "bits: 1 EDGE (reaches past the frame), 2 OUTSIDE, 4 NONFINITE (NaN inside the frame, e.g. a band's uncovered margin), 8 MASKED (other sources masked)"),
        _f("field_id", pa.string(), "the field the cutout was cut from (the one holding it with the largest margin)"),
        _f("x_px", pa.float64(), "position in the field's reference grid, 0-based column"),
        _f("y_px", pa.float64(), "position in the field's reference grid, 0-based row"),
        _f("x0", pa.int32(), "field column of the cutout's first pixel (the cutout's WCS is the field's shifted by (x0, y0))"),
        _f("y0", pa.int32(), "field row of the cutout's first pixel"),
        _f("margin_px", pa.int32(), "pixels between the cutout and the nearest frame edge (< 0: it reaches past the edge)"),
        _f("n_fields", pa.int32(), "fields whose frame holds the position (> 1 in overlaps)"),
        _f("healpix_part", pa.int32(), "coarse nested HEALPix index of the position (partition column; order in _table.json)"),
    ]
)

# Documented once for describe(); names other tables already document keep their text there, and
# each table's own text is the field's ``doc`` metadata.
for _schema in (FIELDS, TILES, CUTOUTS):
    for _field in _schema:
        COLUMN_DOCS.setdefault(_field.name, _field.metadata[b"doc"].decode())
