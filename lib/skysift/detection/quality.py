"""Quality of detection and classification on held-out synthetic frames, with the baselines an astronomer has:
``sep`` (SExtractor's algorithm) for detection, a random forest on catalog colours for star / galaxy / QSO.

Detection truth is the paper's validation labelling: the photoObj rows of each frame as magnitude boxes
(``labels.magnitude_boxes``, r <= 22.2). A detection is a true positive at IoU >= 0.5 (``metrics.detection``);
the miss rate per r-magnitude bin is the share of a bin's labelled boxes no detection (score >= the operating
threshold) matches. Held-out frames must not overlap each other (the cross-frame rule keeps a source in one
frame only), so they are every other field of the run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from skysift.detection.labels import MagnitudeBoxConfig, magnitude_boxes
from skysift.metrics.detection import detection_report, match_image

__all__ = ["read_sources", "MAG_BINS", "FrameTruth", "frame_truths", "evaluate_boxes", "sep_detections", "miss_rate_by_mag",
           "labelled_examples", "colour_features", "classification_metrics"]

MAG_BINS = (14.0, 17.0, 18.0, 19.0, 20.0, 21.0, 21.5, 22.2)
"""Edges of the r-magnitude bins of the miss-rate curve (Zhao et al. 2025 Fig. 11 plots it against r)."""


def read_sources(output: str, parts: Sequence[str] = ("catalog", "_unmatched")) -> pd.DataFrame:
    """A detect-sources output's rows (catalog/ and _unmatched/ when present) as pandas, 64-bit ids kept exact
    (objid with nulls would otherwise become float64, which rounds SDSS objids)."""
    import os

    import pyarrow as pa

    from skysift.runtime.output import read_table

    nullable = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.int16(): pd.Int16Dtype(), pa.int8(): pd.Int8Dtype()}
    frames = [read_table(str(output), under=p).to_pandas(types_mapper=nullable.get) for p in parts
              if os.path.exists(os.path.join(str(output), p))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass
class FrameTruth:
    """The labelled boxes of one held-out frame."""

    field_id: str
    boxes: np.ndarray
    """(m, 4) magnitude boxes in frame pixels, clipped to the frame."""
    mag_r: np.ndarray
    """(m,) label magnitude of each box."""
    shape: tuple[int, int]
    """Frame (rows, columns)."""
    ra_deg: np.ndarray | None = None
    """(m,) catalog position of each labelled source."""
    dec_deg: np.ndarray | None = None
    """(m,) catalog position of each labelled source."""


def frame_truths(ingest_root: str, photoobj: pd.DataFrame, cfg: MagnitudeBoxConfig | None = None) -> dict[str, FrameTruth]:
    """{field_id: FrameTruth} of an ingest output: each field's photoObj rows (its own field number) as boxes."""
    from skysift.io.frames import wcs_from_header
    from skysift.runtime.output import read_table

    fields = read_table(ingest_root, columns=["field_id", "camcol", "field", "wcs_header", "height_px", "width_px"],
                        under="fields").to_pylist()
    out = {}
    for f in fields:
        rows = photoobj
        if f["field"] is not None:
            rows = rows[(rows["field"] == f["field"]) & ((rows["camcol"] == f["camcol"]) if f["camcol"] is not None else True)]
        shape = (int(f["height_px"]), int(f["width_px"]))
        b = magnitude_boxes(rows, wcs_from_header(f["wcs_header"]), shape, cfg)
        out[f["field_id"]] = FrameTruth(f["field_id"], np.column_stack([b.x_min, b.y_min, b.x_max, b.y_max]), b.mag_r, shape,
                                        rows["ra"].to_numpy(np.float64)[b.row], rows["dec"].to_numpy(np.float64)[b.row])
    return out


def evaluate_boxes(preds: Mapping[str, tuple[np.ndarray, np.ndarray]], truths: Mapping[str, FrameTruth],
                   score_threshold: float = 0.25, mag_bins: Sequence[float] = MAG_BINS) -> dict[str, Any]:
    """detection_report over the frames of ``truths`` (a frame without predictions counts with none), plus the miss
    rate per magnitude bin at ``score_threshold``."""
    ids = sorted(truths)
    p = [preds.get(i, (np.zeros((0, 4)), np.zeros(0))) for i in ids]
    report = detection_report(p, [truths[i].boxes for i in ids], score_threshold)
    report["miss_rate"] = miss_rate_by_mag(p, [truths[i] for i in ids], score_threshold, mag_bins)
    return report


def miss_rate_by_mag(preds: Sequence[tuple[np.ndarray, np.ndarray]], truths: Sequence[FrameTruth], score_threshold: float,
                     mag_bins: Sequence[float] = MAG_BINS) -> list[dict[str, Any]]:
    """Per bin [lo, hi): labelled boxes, matched ones (IoU >= 0.5 with a detection scoring >= the threshold), miss rate."""
    mags, hit = [], []
    for (boxes, scores), t in zip(preds, truths):
        keep = np.asarray(scores) >= score_threshold
        tp, matched = match_image(np.asarray(boxes)[keep], np.asarray(scores)[keep], t.boxes, 0.5)
        found = np.zeros(len(t.boxes), bool)
        found[matched[matched >= 0]] = True
        mags.append(t.mag_r)
        hit.append(found)
    mags = np.concatenate(mags) if mags else np.zeros(0)
    hit = np.concatenate(hit) if hit else np.zeros(0, bool)
    rows = []
    edges = list(mag_bins)
    for lo, hi in zip([-np.inf] + edges, edges + [np.inf]):
        sel = (mags >= lo) & (mags < hi)
        n = int(sel.sum())
        if n == 0 and not np.isfinite(lo):
            continue
        rows.append({"r_min": float(lo), "r_max": float(hi), "labelled": n, "found": int(hit[sel].sum()),
                     "miss_rate": float(1 - hit[sel].mean()) if n else float("nan")})
    return rows


def recall_brighter_than(preds: Mapping[str, tuple[np.ndarray, np.ndarray]], truths: Mapping[str, FrameTruth],
                         r_max: float, score_threshold: float = 0.25) -> tuple[float, int]:
    """(recall at IoU >= 0.5, labelled boxes) of the sources with label magnitude < ``r_max``."""
    found = total = 0
    for fid, t in truths.items():
        boxes, scores = preds.get(fid, (np.zeros((0, 4)), np.zeros(0)))
        keep = np.asarray(scores) >= score_threshold
        _, matched = match_image(np.asarray(boxes)[keep], np.asarray(scores)[keep], t.boxes, 0.5)
        hit = np.zeros(len(t.boxes), bool)
        hit[matched[matched >= 0]] = True
        sel = t.mag_r < r_max
        found += int(hit[sel].sum())
        total += int(sel.sum())
    return found / max(total, 1), total


def found_brighter_than(sources: pd.DataFrame, truths: Mapping[str, FrameTruth], r_max: float, score_threshold: float = 0.25,
                        radius_arcsec: float = 2.0) -> tuple[float, int]:
    """(share, labelled sources) of the labelled sources brighter than ``r_max`` with a source (det_score >= the
    threshold) within ``radius_arcsec``: the catalog's completeness, whatever the box size (the IoU recall also
    asks the box to match the magnitude box, which the petroRad rule makes 30-40 px for some r ~ 20 galaxies)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    mine = sources[sources["det_score"] >= score_threshold]
    ra = np.concatenate([t.ra_deg[t.mag_r < r_max] for t in truths.values()]) if truths else np.zeros(0)
    dec = np.concatenate([t.dec_deg[t.mag_r < r_max] for t in truths.values()]) if truths else np.zeros(0)
    if len(ra) == 0 or len(mine) == 0:
        return 0.0, int(len(ra))
    _, sep, _ = SkyCoord(ra * u.deg, dec * u.deg).match_to_catalog_sky(
        SkyCoord(mine["ra_deg"].to_numpy() * u.deg, mine["dec_deg"].to_numpy() * u.deg))
    return float((sep.arcsec < radius_arcsec).mean()), int(len(ra))


def sources_as_preds(sources: pd.DataFrame, ingest_root: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """detect-sources rows (catalog + _unmatched) -> {field_id: (boxes, det_score)} in each field's pixels.

    With ``ingest_root`` every source is placed on every frame that holds its centre (through that frame's WCS,
    keeping its box size): the cross-frame rule keeps one row per source, and a source kept on the neighbouring
    frame must still count as found in the overlap of this one.
    """
    if ingest_root is None:
        return {f: (g[["x_min", "y_min", "x_max", "y_max"]].to_numpy(np.float64), g["det_score"].to_numpy(np.float64))
                for f, g in sources.groupby("field_id")}
    from skysift.io.frames import wcs_from_header
    from skysift.runtime.output import read_table

    fields = read_table(ingest_root, columns=["field_id", "wcs_header", "height_px", "width_px"], under="fields").to_pylist()
    half_w = (sources["x_max"] - sources["x_min"]).to_numpy(np.float64) / 2
    half_h = (sources["y_max"] - sources["y_min"]).to_numpy(np.float64) / 2
    out = {}
    for f in fields:
        x, y = wcs_from_header(f["wcs_header"]).all_world2pix(sources["ra_deg"].to_numpy(np.float64),
                                                             sources["dec_deg"].to_numpy(np.float64), 0)
        on = (x >= -0.5) & (x < f["width_px"] - 0.5) & (y >= -0.5) & (y < f["height_px"] - 0.5)
        boxes = np.column_stack([x - half_w, y - half_h, x + half_w, y + half_h])[on]
        out[f["field_id"]] = (boxes, sources["det_score"].to_numpy(np.float64)[on])
    return out


def _sep_buffers() -> None:
    """Room for crowded fields (the real 2583-2-136 holds the globular cluster M2): sep's default pixel stack (300k)
    and sub-object limit (1024) overflow there."""
    import sep

    sep.set_extract_pixstack(10_000_000)
    sep.set_sub_object_limit(4096)


def sep_detections(image_r: np.ndarray, threshold_sigma: float = 1.5, min_area_px: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (n, 4) in pixel-edge skysift coordinates, flux) of sep.extract on one band (sep's background first).

    SExtractor-style defaults (skysift choice: 1.5 sigma, 5 connected pixels, sep's deblending); the box is the
    object's pixel extent (xmin..xmax) grown by the half pixel to the pixel edges; flux ranks the detections.
    """
    import sep

    _sep_buffers()
    data = np.ascontiguousarray(np.nan_to_num(image_r), dtype=np.float64)
    bkg = sep.Background(data)
    sub = data - bkg.back()
    objs = sep.extract(sub, threshold_sigma, err=bkg.globalrms, minarea=min_area_px)
    boxes = np.column_stack([objs["xmin"] - 0.5, objs["ymin"] - 0.5, objs["xmax"] + 0.5, objs["ymax"] + 0.5]).astype(np.float64)
    return boxes, np.asarray(objs["flux"], np.float64)


def sep_boxes_magnitude_sized(image_r: np.ndarray, boxes_cfg: MagnitudeBoxConfig | None = None, zero_point_nmgy: float = 1.0,
                              **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """sep detections with the labelling's magnitude boxes (side from the sep flux as an r magnitude, nanomaggies:
    m = 22.5 - 2.5 log10 f), centred on sep's centroid: the fair IoU comparison with labels made the same way."""
    import sep

    from skysift.detection.labels import box_side_px

    _sep_buffers()
    data = np.ascontiguousarray(np.nan_to_num(image_r), dtype=np.float64)
    bkg = sep.Background(data)
    objs = sep.extract(data - bkg.back(), kwargs.get("threshold_sigma", 1.5), err=bkg.globalrms,
                       minarea=kwargs.get("min_area_px", 5))
    flux = np.asarray(objs["flux"], np.float64) * zero_point_nmgy
    mag = 22.5 - 2.5 * np.log10(np.clip(flux, 1e-6, None))
    side = box_side_px(mag, None, None, boxes_cfg or MagnitudeBoxConfig())
    x, y = np.asarray(objs["x"]), np.asarray(objs["y"])
    return np.column_stack([x - side / 2, y - side / 2, x + side / 2, y + side / 2]), flux


# --------------------------------------------------------------------------- classification


def labelled_examples(seed: int, n_fields: int, shape_px: tuple[int, int], qso_density_per_deg2: float,
                      crop_cfg=None, first_field: int = 0, star_density_per_deg2: float = 5000.0,
                      galaxy_density_bright_per_deg2: float = 90.0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(raw crops, class index, photoObj rows of the same objects) of synthetic fields, every catalogued object
    labelled with its true class (as train-classifier's synthetic source). The densities may be raised above the
    sky's (stars 5,000, bright galaxies 90, QSOs ~150 per deg2) so that a few small fields give a balanced set."""
    from skysift.detection.training_sets import classification_examples, registered_gri
    from skysift.synth.imaging import catalogs, frames
    from skysift.synth.imaging.config import ImagingSurveyConfig, PopulationConfig

    survey = ImagingSurveyConfig(shape_px=shape_px, n_fields=first_field + n_fields,
                                 field_step_rows=max(1, int(round(shape_px[0] * 1361 / 1489))),
                                 population=PopulationConfig(qso_density_per_deg2=qso_density_per_deg2,
                                                             star_density_per_deg2=star_density_per_deg2,
                                                             galaxy_density_bright_per_deg2=galaxy_density_bright_per_deg2))
    raws, ys, rows = [], [], []
    for k in range(first_field, first_field + n_fields):
        fi = frames.render_field(seed, survey, k)
        cats = catalogs.field_catalogs(seed, survey, fi)
        po = cats["photoobj"].to_pandas()
        truth = cats["truth"].to_pandas().set_index("object_id")
        table = po.assign(**{"class": truth.loc[po["object_id"].to_numpy(), "class"].to_numpy(), "zWarning": 0})
        stack = np.nan_to_num(registered_gri(fi.images[1:4], fi.wcs[1:4]).pixels)
        raw, y, idx = classification_examples(stack, fi.wcs[2], table, crop_cfg)
        raws.append(raw)
        ys.append(y)
        rows.append(table.iloc[idx].reset_index(drop=True))
    return np.concatenate(raws), np.concatenate(ys), pd.concat(rows, ignore_index=True)


COLOUR_BANDS = "ugriz"


def colour_features(photo: pd.DataFrame) -> np.ndarray:
    """Catalog features of the random-forest baseline: psf colours u-g, g-r, r-i, i-z, model colours g-r, r-i,
    psfMag_r - modelMag_r (the concentration SDSS types stars with) and psfMag_r."""
    p = {b: photo[f"psfMag_{b}"].to_numpy(np.float64) for b in COLOUR_BANDS}
    m = {b: photo[f"modelMag_{b}"].to_numpy(np.float64) for b in COLOUR_BANDS}
    feats = [p["u"] - p["g"], p["g"] - p["r"], p["r"] - p["i"], p["i"] - p["z"], m["g"] - m["r"], m["r"] - m["i"],
             p["r"] - m["r"], p["r"]]
    return np.nan_to_num(np.column_stack(feats), nan=0.0, posinf=0.0, neginf=0.0)


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro P / R / F1 (skysift.metrics.classification), per-class and macro one-vs-rest AUC and the
    confusion matrix; classes 0 galaxy, 1 star, 2 qso."""
    from sklearn.metrics import roc_auc_score

    from skysift.metrics.classification import classification_report

    y = np.asarray(y)
    pred = np.asarray(proba).argmax(1)
    names = ["galaxy", "star", "qso"]
    rep = classification_report([names[i] for i in y], [names[i] for i in pred], labels=names)
    out = {"n": int(len(y)), "accuracy": rep["accuracy"], "macro_precision": rep["macro_precision"],
           "macro_recall": rep["macro_recall"], "macro_f1": rep["macro_f1"], "per_class": rep["per_class"],
           "confusion": rep["confusion"]}
    aucs = {}
    for k, name in enumerate(names):
        if 0 < (y == k).sum() < len(y):
            aucs[name] = float(roc_auc_score(y == k, proba[:, k]))
    out["auc"] = aucs
    out["macro_auc"] = float(np.mean(list(aucs.values()))) if aucs else float("nan")
    return out


# --------------------------------------------------------------------------- drivers (demo, tests, notebook)


def field_stacks(ingest_root: str) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """{field_id: ((bands, rows, cols) stack pasted back from its tiles, bands)} of a (small) ingest output."""
    from skysift.images.tables import column_stack, paste_tiles
    from skysift.runtime.output import read_table

    fields = read_table(ingest_root, columns=["field_id", "height_px", "width_px"], under="fields").to_pylist()
    tiles = read_table(ingest_root, columns=["field_id", "x0", "y0", "size_px", "bands", "pixels"], under="tiles")
    out = {}
    for f in fields:
        t = tiles.filter(tiles.column("field_id").to_numpy(zero_copy_only=False) == f["field_id"])
        size, bands = int(t.column("size_px")[0].as_py()), tuple(t.column("bands")[0].as_py())
        pix = column_stack(t.column("pixels"), (len(bands), size, size))
        out[f["field_id"]] = (paste_tiles(pix, t.column("x0").to_numpy(), t.column("y0").to_numpy(),
                                          (int(f["height_px"]), int(f["width_px"]))), bands)
    return out


def sep_sources(ingest_root: str, boxes_cfg: MagnitudeBoxConfig | None = None) -> pd.DataFrame:
    """sep's detections of every field of a (small) ingest output as source rows: field_id, box (magnitude-sized,
    sep_boxes_magnitude_sized), x_px, y_px, ra_deg, dec_deg through the field's WCS, det_score = sep flux."""
    from skysift.io.frames import wcs_from_header
    from skysift.runtime.output import read_table

    wcs = {r["field_id"]: r["wcs_header"] for r in read_table(ingest_root, columns=["field_id", "wcs_header"], under="fields").to_pylist()}
    parts = []
    for fid, (stack, bands) in field_stacks(ingest_root).items():
        boxes, flux = sep_boxes_magnitude_sized(stack[bands.index("r")], boxes_cfg)
        x, y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        ra, dec = wcs_from_header(wcs[fid]).all_pix2world(x, y, 0)
        parts.append(pd.DataFrame({"field_id": fid, "x_min": boxes[:, 0], "y_min": boxes[:, 1], "x_max": boxes[:, 2],
                                   "y_max": boxes[:, 3], "x_px": x, "y_px": y, "ra_deg": np.mod(ra, 360.0), "dec_deg": dec,
                                   "det_score": flux}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def detection_quality(ingest_root: str, photoobj: pd.DataFrame, sources: pd.DataFrame, score_threshold: float = 0.25,
                      boxes_cfg: MagnitudeBoxConfig | None = None) -> dict[str, Any]:
    """Ours (detect-sources rows: catalog + _unmatched, run with a low conf so AP sees the whole ranking) and sep
    on the same frames: reports, recall for r < 21, PR curves at IoU 0.5."""
    from skysift.metrics.detection import match_image, pr_curve

    truths = frame_truths(ingest_root, photoobj, boxes_cfg)
    sep_rows = sep_sources(ingest_root, boxes_cfg)
    out: dict[str, Any] = {}
    curves = {}
    for name, rows, thr in (("skysift YOLOv8 + merge", sources, score_threshold), ("sep (1.5 sigma, 5 px)", sep_rows, -np.inf)):
        preds = sources_as_preds(rows, ingest_root)
        rep = evaluate_boxes(preds, truths, thr)
        rep["recall_r_lt_21"], rep["n_r_lt_21"] = recall_brighter_than(preds, truths, 21.0, thr)
        rep["found_r_lt_21"], _ = found_brighter_than(rows, truths, 21.0, thr)
        out[name] = rep
        ids = sorted(truths)
        p = [preds.get(i, (np.zeros((0, 4)), np.zeros(0))) for i in ids]
        tp = np.concatenate([match_image(b, s, truths[i].boxes, 0.5)[0] for (b, s), i in zip(p, ids)]) if p else np.zeros(0, bool)
        sc = np.concatenate([s for _, s in p]) if p else np.zeros(0)
        _, prec, rec = pr_curve(sc, tp, sum(len(truths[i].boxes) for i in ids))
        curves[name] = (rec, prec)
    out["_curves"] = curves
    return out


def sep_share_found(ingest_root: str, sources: pd.DataFrame, flux_quantile: float = 0.8,
                    radius_arcsec: float = 2.0) -> dict[str, Any]:
    """On a field without a catalog (the real one): of sep's bright detections (flux above ``flux_quantile`` of sep's
    own, r band), the share detect-sources found within ``radius_arcsec``."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from skysift.io.frames import wcs_from_header
    from skysift.runtime.output import read_table

    fields = {r["field_id"]: r["wcs_header"] for r in read_table(ingest_root, columns=["field_id", "wcs_header"], under="fields").to_pylist()}
    n_bright = n_found = 0
    for fid, (stack, bands) in field_stacks(ingest_root).items():
        boxes, flux = sep_detections(stack[bands.index("r")])
        if not len(flux):
            continue
        bright = flux >= np.quantile(flux, flux_quantile)
        x, y = (boxes[bright, 0] + boxes[bright, 2]) / 2, (boxes[bright, 1] + boxes[bright, 3]) / 2
        ra, dec = wcs_from_header(fields[fid]).all_pix2world(x, y, 0)
        mine = sources[sources["field_id"] == fid]
        n_bright += int(bright.sum())
        if len(mine) == 0:
            continue
        _, sep2d, _ = SkyCoord(ra * u.deg, dec * u.deg).match_to_catalog_sky(
            SkyCoord(mine["ra_deg"].to_numpy() * u.deg, mine["dec_deg"].to_numpy() * u.deg))
        n_found += int((sep2d.arcsec < radius_arcsec).sum())
    return {"sep_bright": n_bright, "found_within_2_arcsec": n_found, "share": n_found / max(n_bright, 1),
            "flux_quantile": flux_quantile}
