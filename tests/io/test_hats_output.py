"""HATS output: our partition rule against hats' own, and our catalogs opened by hats and lsdb (independent readers)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.io.hats_output import MAX_ORDER, hats_partitions, write_hats_table
from skysift.sky.healpix import healpix29

hats = pytest.importorskip("hats")
lsdb = pytest.importorskip("lsdb")


def test_hats_partitions_follow_the_threshold():
    cells = np.array([0, 1, 2, 3, 4 * 5, 4 * 5 + 1, 4 * 11 + 3])  # order-1 histogram
    counts = np.array([10, 10, 10, 10, 400, 1, 7])
    orders, pixels, rows = hats_partitions(cells, counts, 1, pixel_threshold=100)
    got = dict(zip(zip(orders.tolist(), pixels.tolist()), rows.tolist()))
    # base pixel 0 (40 rows) merges; base 5 (401) stays split at order 1, its 400-row cell kept whole; base 11 coarse
    assert got == {(0, 0): 40, (1, 20): 400, (1, 21): 1, (0, 11): 7}


def _clustered_sky(n: int, seed: int, sigmas_deg=(0.3, 2.0, 6.0)) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters (a quarter of the rows each) over an all-sky background (the last quarter)."""
    rng = np.random.default_rng(seed)
    parts = [(rng.uniform(0, 360, n // 4), np.degrees(np.arcsin(rng.uniform(-1, 1, n // 4))))]
    for (ra0, dec0), sigma_deg in zip([(181.0, 1.0), (30.0, -40.0), (300.0, 60.0)], sigmas_deg):
        m = n // 4
        parts.append((ra0 + rng.normal(0, sigma_deg, m) / np.cos(np.radians(dec0)), dec0 + rng.normal(0, sigma_deg, m)))
    ra = np.concatenate([p[0] for p in parts]) % 360.0
    dec = np.clip(np.concatenate([p[1] for p in parts]), -89.9, 89.9)
    return ra, dec


def test_partition_rule_equals_hats_generate_alignment():
    ra, dec = _clustered_sky(40_000, seed=3, sigmas_deg=(3.0, 5.0, 10.0))
    order, threshold = 6, 300
    cells_all = healpix29(ra, dec) >> (2 * (MAX_ORDER - order))
    histogram = np.bincount(cells_all, minlength=12 * 4**order).astype(np.int64)
    assert histogram.max() <= threshold < histogram.sum()  # hats raises on a cell above the threshold
    # hats-import's call (resume_plan.get_alignment_file), without dropping empty siblings
    alignment = hats.pixel_math.generate_alignment(histogram, highest_order=order, threshold=threshold,
                                                   drop_empty_siblings=False, use_lower_order=True)
    theirs = {(int(o), int(p)): int(c) for o, p, c in {tuple(a) for a in alignment if a is not None}}
    cells, counts = np.unique(cells_all, return_counts=True)
    orders, pixels, rows = hats_partitions(cells, counts, order, threshold)
    ours = dict(zip(zip(orders.tolist(), pixels.tolist()), rows.tolist()))
    assert ours == theirs
    assert len(set(orders.tolist())) >= 4 and sum(ours.values()) == 40_000  # really mixed orders


def _sample(n: int = 2000, seed: int = 5) -> pa.Table:
    ra, dec = _clustered_sky(n, seed)
    rng = np.random.default_rng(seed)
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("ra_deg", pa.float64()), pa.field("dec_deg", pa.float64()),
                        pa.field("mag", pa.float32(), metadata={"unit": "mag", "doc": "r magnitude"}),
                        pa.field("name", pa.string())])
    return pa.table({"id": np.arange(n), "ra_deg": ra, "dec_deg": dec, "mag": rng.uniform(14, 22, n).astype(np.float32),
                     "name": [f"obj-{i}" if i % 9 else None for i in range(n)]}, schema=schema)


def test_hats_table_output_is_valid_for_hats_and_lsdb(tmp_path):
    table = _sample()
    out = tmp_path / "cat"
    info = write_hats_table(table, out, name="sample", pixel_threshold=150, histogram_order=7)
    assert info["rows"] == 2000 and info["pixels"] > 8 and info["format"] == "hats"

    # hats' own reader and strict validator
    assert hats.io.validation.is_valid_catalog(out, strict=True)
    cat = hats.read_hats(out)
    props = cat.catalog_info
    assert (props.catalog_name, props.total_rows, props.ra_column, props.dec_column) == ("sample", 2000, "ra_deg", "dec_deg")
    assert (props.healpix_column, props.healpix_order, props.hats_max_rows, props.npix_suffix) == ("healpix29", 29, 150, ".parquet")
    assert props.hats_builder.startswith("skysift v")
    pixels = cat.get_healpix_pixels()
    assert len(pixels) == info["pixels"] and int(props.hats_order) == max(p.order for p in pixels) == info["max_order"]

    # every row sits in the pixel of its file (hats' radec2pix, independent of our healpix29)
    sizes = []
    for p in pixels:
        part = pq.read_table(hats.io.pixel_catalog_file(out, p))
        sizes.append(part.num_rows)
        pix = hats.pixel_math.healpix_shim.radec2pix(p.order, part["ra_deg"].to_numpy(), part["dec_deg"].to_numpy())
        assert np.all(pix == p.pixel)
        assert np.all(np.diff(part["healpix29"].to_numpy()) >= 0)  # sorted inside the pixel
    assert sum(sizes) == 2000
    # a pixel above the threshold is a single histogram cell too dense to split (the 0.3 deg cluster)
    over = [p for p, size in zip(pixels, sizes) if size > 150]
    assert over and all(p.order == 7 for p in over)

    # _common_metadata keeps the Arrow field metadata (units and docs travel with the catalog)
    common = pq.read_schema(out / "dataset" / "_common_metadata")
    assert common.field("mag").metadata == {b"unit": b"mag", b"doc": b"r magnitude"}

    # lsdb returns exactly our rows
    got = lsdb.read_hats(str(out)).compute().reset_index().sort_values("id").reset_index(drop=True)
    want = table.to_pandas()
    assert list(got["id"]) == list(range(2000))
    for col in ("ra_deg", "dec_deg", "mag"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy())
    assert got["name"].isna().sum() == want["name"].isna().sum() == 223
    pd.testing.assert_series_equal(got["name"].fillna("-").astype(str), want["name"].fillna("-").astype(str),
                                   check_names=False)
    np.testing.assert_array_equal(got["healpix29"].to_numpy(), healpix29(want["ra_deg"].to_numpy(), want["dec_deg"].to_numpy()))
