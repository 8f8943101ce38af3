"""Tile-overlap merge: the grid pass against an all-pairs greedy reference; frames apart; partial boxes at tile edges."""
from __future__ import annotations

import time

import numpy as np
import pytest

from skysift.config import ConfigError
from skysift.detection.merge import MergeConfig, inner_edge_mask, iou, merge_by_frame, merge_frame, to_frame_pixels


def _brute(boxes, scores, iou_t, same_px):
    """Greedy NMS + centre rule over all pairs, written independently."""
    order = sorted(range(len(scores)), key=lambda k: (-scores[k], k))
    kept = []
    for i in order:
        bi = boxes[i]
        ok = True
        for j in kept:
            bj = boxes[j]
            iw = max(0.0, min(bi[2], bj[2]) - max(bi[0], bj[0]))
            ih = max(0.0, min(bi[3], bj[3]) - max(bi[1], bj[1]))
            inter = iw * ih
            union = (bi[2] - bi[0]) * (bi[3] - bi[1]) + (bj[2] - bj[0]) * (bj[3] - bj[1]) - inter
            d2 = ((bi[0] + bi[2]) / 2 - (bj[0] + bj[2]) / 2) ** 2 + ((bi[1] + bi[3]) / 2 - (bj[1] + bj[3]) / 2) ** 2
            if (union > 0 and inter / union > iou_t) or d2 < same_px**2:
                ok = False
                break
        if ok:
            kept.append(i)
    return sorted(kept)


def _detections(rng, n_src, dup=3, frame=(1489, 2048), big_share=0.05):
    """Sources with 1..dup jittered copies (tile duplicates), box sides 4..40 px, a few 100-300 px galaxies."""
    x = rng.uniform(0, frame[1], n_src)
    y = rng.uniform(0, frame[0], n_src)
    side = np.where(rng.random(n_src) < big_share, rng.uniform(100, 300, n_src), rng.uniform(4, 40, n_src))
    copies = rng.integers(1, dup + 1, n_src)
    xs = np.repeat(x, copies) + rng.normal(0, 1.5, copies.sum())
    ys = np.repeat(y, copies) + rng.normal(0, 1.5, copies.sum())
    ss = np.repeat(side, copies) * rng.uniform(0.8, 1.2, copies.sum())
    boxes = np.column_stack([xs - ss / 2, ys - ss / 2, xs + ss / 2, ys + ss / 2])
    scores = np.round(rng.uniform(0.2, 1.0, len(xs)), 2)  # rounding makes ties
    return boxes, scores


@pytest.mark.parametrize("seed,iou_t,same_px,cell", [(0, 0.5, 2.0, 64.0), (1, 0.3, 2.0, 17.0), (2, 0.7, 0.0, 200.0), (3, 0.5, 5.0, 8.0)])
def test_grid_equals_all_pairs(seed, iou_t, same_px, cell):
    rng = np.random.default_rng(seed)
    boxes, scores = _detections(rng, 300)
    got = merge_frame(boxes, scores, MergeConfig(iou_threshold=iou_t, same_source_px=same_px, cell_px=cell))
    assert got.tolist() == _brute(boxes.tolist(), scores.tolist(), iou_t, same_px)
    assert 0 < len(got) < len(boxes)


def test_same_source_rule_without_overlap():
    # two tiny boxes 1.5 px apart (no IoU) merge; 2.5 px apart they stay two
    boxes = np.array([[0, 0, 1, 1], [1.5, 0, 2.5, 1], [10, 0, 11, 1], [12.5, 0, 13.5, 1]], dtype=float)
    keep = merge_frame(boxes, np.array([0.9, 0.8, 0.9, 0.8]), MergeConfig(iou_threshold=0.5))
    np.testing.assert_array_equal(keep, [0, 2, 3])


def test_frames_never_merge():
    boxes = np.array([[0, 0, 10, 10]] * 4, dtype=float)
    keep = merge_by_frame(np.array(["a", "b", "a", "b"]), boxes, np.array([0.5, 0.6, 0.7, 0.4]))
    np.testing.assert_array_equal(keep, [1, 2])


def test_iou_values():
    np.testing.assert_allclose(iou(np.array([0, 0, 2, 2.0]), np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6.0]])), [1 / 7, 1, 0])


def test_to_frame_and_inner_edges():
    tile = np.array([[-0.5, 10, 5, 20], [100, 100, 110, 110], [630, 50, 639.5, 60]], dtype=float)
    np.testing.assert_allclose(to_frame_pixels(tile[1:2], np.array([470]), np.array([0]))[0], [570, 100, 580, 110])
    # tile at the frame's left edge: its left edge is the frame's (keep), its right edge is inner (drop)
    np.testing.assert_array_equal(inner_edge_mask(tile, 640, np.zeros(3), np.zeros(3), (1489, 2048)), [False, False, True])
    # a tile in the middle: both edges inner
    np.testing.assert_array_equal(inner_edge_mask(tile, 640, np.full(3, 470), np.full(3, 425), (1489, 2048)), [True, False, True])


def test_dense_frame_scales():
    rng = np.random.default_rng(5)
    boxes, scores = _detections(rng, 20000, big_share=0.001)
    t0 = time.perf_counter()
    keep = merge_frame(boxes, scores)
    seconds = time.perf_counter() - t0
    assert len(keep) > 10000
    assert seconds < 15.0  # ~40k detections; all pairs would be 8e8 comparisons


def test_bad_config():
    with pytest.raises(ConfigError, match="iou_threshold"):
        MergeConfig(iou_threshold=1.5)
