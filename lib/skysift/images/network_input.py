"""Image table rows -> the image encoder's input: 3 channels in [0, 1] at the model's size, or a reject reason.

An *images table* is any Parquet table with ``bands`` (a string of band letters, ``grz``, or a list of band
names), ``size_px`` (the side of a square image) and ``pixels`` (list<float32>, band-major, nanomaggies)
plus an id column (image_id, stamp_id or object_id) and optionally a position (ra_deg / dec_deg, or ra /
dec): the synthetic ``stamps`` (STAMPS) and the ``cutouts`` of make-cutouts (CUTOUTS) both are.

Friberg trained on Galaxy10 DECaLS, 8-bit colour JPEGs of g, r, z. We make the same kind of picture from
nanomaggies: the Lupton et al. (2004) asinh colour stretch with the parameters of
``synth.imaging.stamps.to_uint8_rgb`` (z -> red, r -> green, b -> blue; scales 2.2 / 3.4 / 6.0, stretch
0.4, Q = 6, minimum 0: a stand-in for the Legacy Survey viewer's rendering), quantised to 8 bits as the
JPEGs are, scaled to [0, 1] (the range the author's noise transform assumes: sigma 0.18 on pixels <= 0.8),
then resized to the model's side (Galaxy10's 256 px to 224 in the author's code; bilinear with
anti-aliasing: skysift choice). Vectorised over a batch; the tests hold it to astropy's make_lupton_rgb.

The stretch's parameters are in nanomaggies per DECaLS pixel (0.262 arcsec). Tables with a
``pixel_scale_arcsec`` column are first brought to that surface-brightness scale (pixels times
(0.262 / scale)^2), so that the same galaxy looks the same from 256 px at 0.262 arcsec, 64 px binned
stamps at 1.048 arcsec or SDSS cutouts at 0.396 arcsec (skysift choice; without the column, no scaling).

An encoder trained with ``input_mask=central_source`` reads its images with everything outside the central
source's footprint set to zero before the stretch (``mask``; images.central_source).

Rows that cannot be used get a one-line reason: wrong band set, a pixel count that is not
len(bands) * size_px^2, an image smaller than ``min_size_px``, non-finite pixels in the bands used.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

GALAXY10_BANDS = "grz"
"""Bands of Galaxy10 DECaLS (Friberg's data), in the order the table must name them."""
ID_COLUMNS = ("image_id", "stamp_id", "object_id")
"""Id columns an images table may have, in order of preference (stamps: stamp_id; cutouts: object_id)."""
POSITION_COLUMNS = (("ra_deg", "dec_deg"), ("ra", "dec"))
"""Position columns an images table may have, in order of preference (degrees)."""
LUPTON_SCALES = {"z": 2.2, "r": 3.4, "g": 6.0}
"""Per-band multipliers before the stretch (as synth.imaging.stamps.to_uint8_rgb)."""
REFERENCE_PIXEL_ARCSEC = 0.262
"""The pixel (DECaLS, Galaxy10) the stretch parameters are meant for."""
LUPTON_STRETCH = 0.4
"""Linear stretch of the asinh mapping (as to_uint8_rgb)."""
LUPTON_Q = 6.0
"""Asinh softening (as to_uint8_rgb)."""


def id_column(names) -> str:
    """The images table's id column (image_id, else stamp_id); ConfigError naming the columns there."""
    from skysift.config import ConfigError

    for name in ID_COLUMNS:
        if name in names:
            return name
    raise ConfigError(f"an images table needs an id column {' or '.join(ID_COLUMNS)}; it has {sorted(names)}")


def position_columns(names) -> tuple[str, str] | None:
    """(ra, dec) column names of an images table, or None when it has no position."""
    for ra, dec in POSITION_COLUMNS:
        if ra in names and dec in names:
            return ra, dec
    return None


def band_strings(column) -> list[str | None]:
    """A ``bands`` column (strings like 'grz', or lists of band names) as one string per row."""
    return [None if b is None else (b if isinstance(b, str) else "".join(b)) for b in column.to_pylist()]


def lupton_unit(images: np.ndarray, bands: str = GALAXY10_BANDS, quantise: bool = True) -> np.ndarray:
    """(N, 3, H, W) nanomaggies in ``bands`` order -> (N, 3, H, W) float32 RGB (R = z, G = r, B = g) in [0, 1].

    astropy's AsinhMapping written out for a whole batch (float32): I = mean of the scaled channels,
    each channel times asinh(I Q / stretch) * slope / I, negatives to 0, a pixel whose brightest channel
    passes 255 scaled down to it; ``quantise`` truncates to 8 bits as astropy does.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images, got shape {x.shape}")
    order = [bands.index(b) for b in ("z", "r", "g")]
    chans = np.stack([x[:, k] * np.float32(LUPTON_SCALES[b]) for k, b in zip(order, "zrg")], axis=1)
    intensity = chans.mean(axis=1, keepdims=True)
    slope = np.float32(0.1 * 255.0 / np.arcsinh(0.1 * LUPTON_Q))
    soften = np.float32(LUPTON_Q / LUPTON_STRETCH)
    with np.errstate(invalid="ignore", divide="ignore"):
        fac = np.where(intensity <= 0, np.float32(0), np.arcsinh(intensity * soften) * slope / intensity)
    chans = np.maximum(chans * fac, 0.0)
    top = chans.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        chans = np.where(top >= 255.0, chans * (np.float32(255.0) / top), chans)
    chans = np.minimum(chans, 255.0)
    if quantise:
        chans = np.floor(chans)
    return (chans / np.float32(255.0)).astype(np.float32)


def resize(images: np.ndarray, size_px: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, size_px, size_px) float32, bilinear with anti-aliasing (torch); unchanged when
    already that size."""
    import torch
    import torch.nn.functional as F

    if images.shape[-1] == size_px and images.shape[-2] == size_px:
        return np.ascontiguousarray(images, dtype=np.float32)
    with torch.no_grad():
        out = F.interpolate(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
                            size=(size_px, size_px), mode="bilinear", antialias=True, align_corners=False)
    return np.clip(out.numpy(), 0.0, 1.0)


def row_reasons(bands: list, size_px: np.ndarray, n_values: np.ndarray, wanted: str = GALAXY10_BANDS,
                min_size_px: int = 16) -> np.ndarray:
    """(N,) object: a one-line reason per row that cannot be decoded (None for usable rows)."""
    out = np.full(len(n_values), None, dtype=object)
    for i, (b, s, n) in enumerate(zip(bands, size_px, n_values)):
        b = b or ""
        missing = [c for c in wanted if c not in b]
        if n < 0:
            out[i] = "pixels is null"
        elif missing:
            out[i] = f"image has bands {b!r}, needs {', '.join(wanted)} (missing {''.join(missing)})"
        elif s is None or s < min_size_px:
            out[i] = f"image size_px {s} is below the minimum {min_size_px} px"
        elif n != len(b) * int(s) ** 2:
            out[i] = f"pixels has {n} values, expected {len(b)} bands x {s} x {s} = {len(b) * int(s) ** 2}"
    return out


def network_input(table: pa.Table, image_size_px: int, wanted: str = GALAXY10_BANDS,
                  min_size_px: int = 16, mask: str = "none") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An images table (bands, size_px, pixels) -> (usable row indices (n,), model input (n, 3, S, S)
    float32 in [0, 1], reasons (N,) object: None for usable rows). ``mask``: the encoder's
    ``input_mask`` ('central_source': images.central_source, applied to the nanomaggies before the stretch)."""
    from skysift.images.central_source import INPUT_MASKS, mask_to_central_source

    if mask not in INPUT_MASKS:
        raise ValueError(f"mask must be one of {INPUT_MASKS}, got {mask!r}")
    pixels = table.column("pixels").combine_chunks()
    lengths = pixels.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    bands = band_strings(table.column("bands"))
    sizes = np.array([-1 if s is None else int(s) for s in table.column("size_px").to_pylist()], np.int64)
    scales = (np.array([np.nan if s is None else float(s) for s in table.column("pixel_scale_arcsec").to_pylist()])
              if "pixel_scale_arcsec" in table.column_names else np.full(len(sizes), np.nan))
    area = np.where(np.isfinite(scales) & (scales > 0), (REFERENCE_PIXEL_ARCSEC / scales) ** 2, 1.0).astype(np.float32)
    reasons = row_reasons(bands, sizes, lengths, wanted, min_size_px)
    flat = pixels.flatten().to_numpy(zero_copy_only=False)
    starts = pixels.offsets.to_numpy()[:-1] - pixels.offsets[0].as_py()
    good_rows, parts = [], []
    ok = np.flatnonzero(reasons == None)  # noqa: E711 - elementwise on an object array
    keys = sorted({(bands[i], int(sizes[i])) for i in ok})
    for band_str, s in keys:
        rows = np.array([i for i in ok if bands[i] == band_str and sizes[i] == s], np.int64)
        nb = len(band_str)
        stack = np.stack([flat[starts[i]:starts[i] + nb * s * s] for i in rows]).reshape(len(rows), nb, s, s)
        stack = stack[:, [band_str.index(c) for c in wanted]].astype(np.float32, copy=False) * area[rows, None, None, None]
        bad = ~np.isfinite(stack).reshape(len(rows), -1)
        n_bad = bad.sum(axis=1)
        for i, k in zip(rows[n_bad > 0], n_bad[n_bad > 0]):
            reasons[i] = f"image has {k} non-finite pixels in bands {wanted}"
        keep = n_bad == 0
        if keep.any():
            good_rows.append(rows[keep])
            kept = stack[keep]
            if mask == "central_source":
                kept = mask_to_central_source(kept)
            parts.append(resize(lupton_unit(kept, wanted), image_size_px))
    if not parts:
        return np.zeros(0, np.int64), np.zeros((0, 3, image_size_px, image_size_px), np.float32), reasons
    idx = np.concatenate(good_rows)
    x = np.concatenate(parts)
    order = np.argsort(idx, kind="stable")
    return idx[order], x[order], reasons
