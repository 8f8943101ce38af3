"""The executor pass over tiles with stand-in models: checks, frame pixels, partial boxes, ra/dec, crops, batching."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from skysift.detection.inference import ClassifierBundle
from skysift.detection.tile_pass import TilePassConfig, tile_pass, tile_problem
from skysift.images.tables import stack_column
from skysift.images.tiling import TileGridConfig, cut_tiles, tile_grid, tile_wcs_header
from skysift.schema import RAW_DETECTIONS, TILES


class _Boxes:
    def __init__(self, xyxy, conf):
        import torch

        self.xyxy, self.conf = torch.tensor(xyxy, dtype=torch.float32).reshape(-1, 4), torch.tensor(conf, dtype=torch.float32)


class _Result:
    def __init__(self, xyxy, conf):
        self.boxes = _Boxes(xyxy, conf)


class StubYolo:
    """predict(list of BGR images) -> one box around the centroid of the pixels above half the green (r band) maximum,
    in ultralytics' pixel-edge coordinates."""

    def __init__(self, half_px=5.0):
        self.half = half_px
        self.calls = []

    def predict(self, images, conf, iou, imgsz, device, max_det, verbose, batch):
        self.calls.append((len(images), imgsz, device))
        out = []
        for im in images:
            g = im[:, :, 1].astype(float)  # BGR: index 1 = green = r band
            if g.max() <= 0:
                out.append(_Result(np.zeros((0, 4)), np.zeros(0)))
                continue
            yy, xx = np.nonzero(g >= 0.5 * g.max())
            cx, cy = xx.mean() + 0.5, yy.mean() + 0.5  # ultralytics' pixel-edge coordinates of the centroid
            out.append(_Result([[cx - self.half, cy - self.half, cx + self.half, cy + self.half]], [0.9]))
        return out


class StubNet:
    """Stands in for Conv4Net: logits from the mean of each band, so p follows the crop's colour."""

    def __init__(self):
        import torch

        self.seen = []
        self.torch = torch

    def to(self, _dev):
        return self

    def eval(self):
        return self

    def __call__(self, x):
        self.seen.append(int(x.shape[0]))
        return x.mean(dim=(2, 3))


def _tiles(frame_shape=(200, 300), size=128, star_xy=((150.0, 100.0),), field_id="f1"):
    """A field with one Gaussian star per position, cut into tiles; returns (table, frame wcs)."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [frame_shape[1] / 2, frame_shape[0] / 2]
    w.wcs.cdelt = [-0.396 / 3600, 0.396 / 3600]
    yy, xx = np.mgrid[: frame_shape[0], : frame_shape[1]]
    img = np.zeros(frame_shape, np.float32)
    for x, y in star_xy:
        img += 50 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2)).astype(np.float32)
    stack = np.stack([img * 0.5, img, img * 2.0])
    grid = tile_grid(frame_shape, TileGridConfig(size_px=size, min_overlap_px=32))
    tiles = cut_tiles(stack, grid)
    hdr = w.to_header_string()
    n = len(grid)
    table = pa.table({
        "tile_id": [f"{field_id}-t{t.index:02d}" for t in grid.tiles], "field_id": [field_id] * n,
        "tile_index": pa.array([t.index for t in grid.tiles], pa.int32()),
        "x0": pa.array([t.x0 for t in grid.tiles], pa.int32()), "y0": pa.array([t.y0 for t in grid.tiles], pa.int32()),
        "size_px": pa.array([size] * n, pa.int32()), "bands": [["g", "r", "i"]] * n, "pixels": stack_column(tiles),
        "wcs_header": [tile_wcs_header(hdr, t) for t in grid.tiles]})
    return table, w, grid


def _models():
    return StubYolo(), ClassifierBundle(StubNet(), np.zeros(3, np.float32), np.ones(3, np.float32), 48, "cpu")


def test_tile_problems():
    shapes = {"f": (10, 10)}
    assert tile_problem(["g", "r", "i"], 64, 3 * 64 * 64, "f", shapes) is None
    assert "not in the fields table" in tile_problem(["g", "r", "i"], 64, 3 * 64 * 64, "x", shapes)
    assert "lack one of g, r, i" in tile_problem(["g", "r"], 64, 2 * 64 * 64, "f", shapes)
    assert "expected bands x size x size" in tile_problem(["g", "r", "i"], 64, 100, "f", shapes)


def test_boxes_in_frame_pixels_with_sky_positions_and_partial_flags():
    table, w, grid = _tiles(star_xy=((150.0, 100.0),))
    yolo, clf = _models()
    out = tile_pass(table, {"f1": (200, 300)}, (yolo, clf), TilePassConfig(batch_tiles=64), "cpu").to_pandas()
    assert out.columns.tolist() == RAW_DETECTIONS.names
    tiles, dets = out[out.row_kind == "tile"], out[out.row_kind == "det"].astype({"partial": bool})
    assert len(tiles) == len(grid) and tiles.reason.isna().all()
    # one predict call for the whole batch, at the tile side (native scale)
    assert yolo.calls == [(len(grid), 128, "cpu")]
    # the two tiles holding the star whole see it at frame pixel (150, 100): the tile origin was added back; the
    # others (the stub boxes their brightest pixel, on the edge facing the star) are partial
    whole = dets[~dets.partial]
    assert sorted(whole.tile_index) == [1, 4]
    np.testing.assert_allclose(whole.x_px, 150.0, atol=1e-6)
    np.testing.assert_allclose(whole.y_px, 100.0, atol=1e-6)
    ra, dec = w.all_pix2world([150.0], [100.0], 0)
    np.testing.assert_allclose(whole.ra_deg, ra[0], atol=1e-10)
    np.testing.assert_allclose(whole.dec_deg, dec[0], atol=1e-10)
    # crops are classified in one batch; p follows the colours (i brightest -> class 2 'qso' in the stub)
    assert clf.model.seen == [len(dets)]
    assert (whole[["p_galaxy", "p_star", "p_qso"]].to_numpy().argmax(1) == 2).all()
    np.testing.assert_allclose(dets[["p_galaxy", "p_star", "p_qso"]].sum(axis=1), 1.0, atol=1e-5)


def test_box_at_an_inner_tile_edge_is_partial():
    # a star right on the boundary of the first tile (x0 = 0, size 128): the tile sees a cut box
    table, w, grid = _tiles(star_xy=((125.0, 60.0),))
    out = tile_pass(table, {"f1": (200, 300)}, _models(), TilePassConfig(), "cpu").to_pandas()
    dets = out[out.row_kind == "det"].astype({"partial": bool})
    first = dets[dets.tile_index == 0]
    assert len(first) == 1 and bool(first.partial.iloc[0])
    whole = dets[~dets.partial]
    assert len(whole) >= 1 and np.allclose(whole.x_px, 125.0)


def test_bad_tiles_become_tile_rows_with_a_reason():
    table, _, grid = _tiles()
    pix = table.column("pixels").to_pylist()
    pix[1] = pix[1][:100]  # truncated
    table = table.set_column(table.schema.get_field_index("pixels"), "pixels", pa.array(pix, pa.list_(pa.float32())))
    wcs = table.column("wcs_header").to_pylist()
    wcs[2] = "NOT A HEADER"
    table = table.set_column(table.schema.get_field_index("wcs_header"), "wcs_header", pa.array(wcs))
    out = tile_pass(table, {"f1": (200, 300)}, _models(), TilePassConfig(), "cpu").to_pandas()
    t = out[out.row_kind == "tile"].set_index("tile_index")
    assert "expected bands x size x size" in t.loc[1, "reason"]
    assert "celestial" in t.loc[2, "reason"] or "cannot be read" in t.loc[2, "reason"]
    assert t.reason.notna().sum() == 2
    assert set(out[out.row_kind == "det"].tile_index) <= set(t.index[t.reason.isna()])


def test_tiles_schema_columns_are_what_the_pass_reads():
    from skysift.stages.detect_sources.tasks import TILE_COLUMNS

    assert set(TILE_COLUMNS) <= set(TILES.names)


def test_config_checks():
    from skysift.config import ConfigError

    with pytest.raises(ConfigError, match="imgsz"):
        TilePassConfig(imgsz=100)
    with pytest.raises(ConfigError, match="conf"):
        TilePassConfig(conf=1.0)
