"""Benchmark case `detect`: the Conv4Net batching measurement and the sep timing on a small ingest output."""
from __future__ import annotations

from skysift.bench.detect_bench import conv4net_crops_per_s, sep_tiles_per_s


def test_conv4net_batched_and_single_rates(tmp_path):
    r = conv4net_crops_per_s(n_crops=64)
    assert r["conv4net_batched_crops_per_s"] > 0 and r["conv4net_single_crops_per_s"] > 0
    ratio = r["conv4net_batched_crops_per_s"] / r["conv4net_single_crops_per_s"]
    assert abs(r["conv4net_ratio"] - ratio) <= 0.02 * ratio + 0.01  # the rates are rounded to 0.1 crops/s


def test_sep_runs_on_every_tile(tmp_path):
    from skysift.testing.detection import synthetic_ingest

    data = synthetic_ingest(tmp_path / "ingest", seed=3, n_fields=1, shape_px=(256, 400), tile_size_px=160)
    seconds, objects = sep_tiles_per_s(data.root)
    assert seconds > 0 and objects > 0
