"""Register the bands of a field onto the reference band's pixel grid through their WCSs.

Each SDSS band carries its own TAN WCS; on field 2583-2-136 the g frame sits ~11 px
from r and i ~3 px. ``register_image`` resamples one band onto the reference grid:

1. *Pixel map.* For every reference pixel (x, y) the position in the band's image
   is ``wcs_band.all_world2pix(wcs_ref.all_pix2world(x, y))``. Doing that for all
   3.05 M pixels of a frame costs 0.75 s in astropy, so it is done exactly on a node
   grid every ``step_px`` pixels (plus the last row/column) and interpolated
   linearly in between (two small matrix products, 0.05 s). The map between two TAN
   projections a few pixels apart is nearly affine: on the real g -> r and i -> r
   maps the interpolated map departs from the exact one by at most 4e-8 px at
   step 64 (7e-7 px at step 256). ``step_px=None`` maps every pixel exactly.
2. *Resampling.* Bilinear (default, as ``reproject_interp``'s default order) or
   bicubic convolution (Keys 1981, a = -0.5: exact for quadratics; not the B-spline
   of reproject's 'bicubic', which rings differently on the undersampled star cores,
   up to ~7 % of a star's peak) in numpy, vectorised over the whole frame.
   Positions in the outer half of a border pixel take the border pixel's value, as
   reproject does; positions further out get ``fill_value`` (NaN by default). A NaN
   source pixel spreads to the output pixels that interpolate from it.
3. *Flux.* Interpolation preserves surface brightness. ``conserve_flux=True`` also
   multiplies by the Jacobian determinant of the map (band-pixel area per
   reference-pixel area), so sums over a source are preserved when the pixel
   scales differ: a cheap first-order stand-in for ``reproject_exact``. For SDSS
   bands the areas differ by < 3e-4, so the default leaves it off.

Measured on the real field 2583-2-136 (g and i onto r, 1489 x 2048; 2-core machine
shared with other jobs; tests/images/test_registration.py holds the checks):

- agreement with ``reproject_interp(order='bilinear')``: the same 3,022,262 (g) /
  3,041,842 (i) covered pixels; max |ours - reproject| 3.1e-5 / 3.8e-5 nMgy, i.e.
  float32 rounding of the brightest pixels (peak 274 nMgy); 99.9th percentile
  2.7e-6 / 4.4e-6 nMgy, against a sky noise of 0.02-0.05 nMgy;
- bright isolated stars (106, sep detections in r, 9 x 9 first moments): median
  offset vector g - r (-0.031, +0.027) px, i - r (+0.019, -0.012) px; median
  per-star |offset| 0.085 px (g) and 0.045 px (i). Unregistered, the bands sit
  (+3.2, +11.0) px (g) and (-0.3, +3.0) px (i) from r;
- time per band: ours 0.09 s bilinear, 0.24-0.39 s bicubic; ``reproject_interp``
  1.7-2.1 s (about 20 x slower; most of its time is the exact per-pixel WCS
  transform).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "RegisteredStack",
    "source_pixel_map",
    "register_image",
    "register_stack",
    "register_frames",
]

Order = Literal["bilinear", "bicubic"]


def _as_wcs(wcs_or_header: Any):
    """A celestial astropy WCS from a WCS or header text."""
    if isinstance(wcs_or_header, str):
        from skysift.io.frames import wcs_from_header

        return wcs_from_header(wcs_or_header)
    return wcs_or_header


def _nodes(n: int, step_px: int) -> np.ndarray:
    """Node positions 0, step, 2 step, ..., and n - 1."""
    return np.unique(np.r_[np.arange(0, n, step_px), n - 1]).astype(np.float64)


def _linear_weights(nodes: np.ndarray, n: int) -> np.ndarray:
    """(n, len(nodes)) matrix W so that W @ values_at_nodes interpolates linearly to 0..n-1."""
    x = np.arange(n, dtype=np.float64)
    k = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2)
    t = (x - nodes[k]) / (nodes[k + 1] - nodes[k])
    w = np.zeros((n, len(nodes)))
    w[np.arange(n), k] = 1.0 - t
    w[np.arange(n), k + 1] = t
    return w


def _map_points(wcs_src, wcs_ref, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact reference-pixel -> source-pixel transform (0-based) through the sky."""
    ra, dec = wcs_ref.all_pix2world(x, y, 0)
    xs, ys = wcs_src.all_world2pix(ra, dec, 0)
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def source_pixel_map(
    wcs_src: Any,
    wcs_ref: Any,
    shape_ref: tuple[int, int],
    *,
    step_px: int | None = 64,
    with_jacobian: bool = False,
) -> tuple[np.ndarray, ...]:
    """Where each reference pixel falls in the source image: (x_src, y_src), each float64 ``shape_ref``.

    Exact through the two WCSs on nodes every ``step_px`` px, linear in between
    (``step_px=None``: exact at every pixel). ``with_jacobian`` adds a third array,
    |det d(x_src, y_src) / d(x_ref, y_ref)| (source-pixel area per reference pixel),
    from exact central differences (+-0.5 px) at the nodes.
    """
    wcs_src, wcs_ref = _as_wcs(wcs_src), _as_wcs(wcs_ref)
    ny, nx = shape_ref
    if step_px is None:
        yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
        xs, ys = _map_points(wcs_src, wcs_ref, xx.ravel(), yy.ravel())
        out = [xs.reshape(ny, nx), ys.reshape(ny, nx)]
        if with_jacobian:
            out.append(_jacobian(wcs_src, wcs_ref, xx.ravel(), yy.ravel()).reshape(ny, nx))
        return tuple(out)
    if step_px < 2:
        raise ValueError(f"step_px must be >= 2 or None, got {step_px}")
    nodes_x, nodes_y = _nodes(nx, step_px), _nodes(ny, step_px)
    gy, gx = np.meshgrid(nodes_y, nodes_x, indexing="ij")
    xs_n, ys_n = _map_points(wcs_src, wcs_ref, gx.ravel(), gy.ravel())
    wx, wy = _linear_weights(nodes_x, nx), _linear_weights(nodes_y, ny)
    shape_n = gx.shape

    def up(values: np.ndarray) -> np.ndarray:
        # Separable linear interpolation: (ny, n_y) @ (n_y, n_x) @ (n_x, nx).
        return wy @ values.reshape(shape_n) @ wx.T

    out = [up(xs_n), up(ys_n)]
    if with_jacobian:
        out.append(up(_jacobian(wcs_src, wcs_ref, gx.ravel(), gy.ravel())))
    return tuple(out)


def _jacobian(wcs_src, wcs_ref, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|det J| of the reference -> source pixel map by central differences of +-0.5 px."""
    h = 0.5
    xa, ya = _map_points(wcs_src, wcs_ref, x + h, y)
    xb, yb = _map_points(wcs_src, wcs_ref, x - h, y)
    xc, yc = _map_points(wcs_src, wcs_ref, x, y + h)
    xd, yd = _map_points(wcs_src, wcs_ref, x, y - h)
    dxdx, dydx = (xa - xb) / (2 * h), (ya - yb) / (2 * h)
    dxdy, dydy = (xc - xd) / (2 * h), (yc - yd) / (2 * h)
    return np.abs(dxdx * dydy - dxdy * dydx)


def _inside(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ny, nx = shape
    return (xs >= -0.5) & (xs <= nx - 0.5) & (ys >= -0.5) & (ys <= ny - 0.5)


def _bilinear(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    ny, nx = img.shape
    x0 = np.clip(np.floor(xs), 0, nx - 2).astype(np.intp)
    y0 = np.clip(np.floor(ys), 0, ny - 2).astype(np.intp)
    # Clipping the fraction to [0, 1] gives the border pixel's value in the outer half pixel.
    fx = np.clip(xs - x0, 0.0, 1.0).astype(np.float32)
    fy = np.clip(ys - y0, 0.0, 1.0).astype(np.float32)
    flat = img.ravel()
    idx = y0 * nx + x0
    top = flat[idx] * (1 - fx) + flat[idx + 1] * fx
    idx += nx
    bottom = flat[idx] * (1 - fx) + flat[idx + 1] * fx
    return top * (1 - fy) + bottom * fy


def _keys_weights(t: np.ndarray, a: float = -0.5) -> list[np.ndarray]:
    """Keys (1981) cubic convolution weights for the nodes at -1, 0, 1, 2 around a fraction t in [0, 1]."""
    t = t.astype(np.float32)
    t2, t3 = t * t, t * t * t
    w_m1 = a * (t3 - 2 * t2 + t)
    w_0 = (a + 2) * t3 - (a + 3) * t2 + 1
    w_1 = -(a + 2) * t3 + (2 * a + 3) * t2 - a * t
    w_2 = -a * (t3 - t2)
    return [w_m1, w_0, w_1, w_2]


def _bicubic(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    ny, nx = img.shape
    xc = np.clip(xs, 0.0, nx - 1.0)
    yc = np.clip(ys, 0.0, ny - 1.0)
    x0 = np.floor(xc).astype(np.intp)
    y0 = np.floor(yc).astype(np.intp)
    wx = _keys_weights(xc - x0)
    wy = _keys_weights(yc - y0)
    # Border rows/columns are replicated for the outer taps.
    cols = [np.clip(x0 + d, 0, nx - 1) for d in (-1, 0, 1, 2)]
    flat = img.ravel()
    out = np.zeros(xs.shape, dtype=np.float32)
    for j, d in enumerate((-1, 0, 1, 2)):
        row = np.clip(y0 + d, 0, ny - 1) * nx
        acc = flat[row + cols[0]] * wx[0]
        for i in (1, 2, 3):
            acc += flat[row + cols[i]] * wx[i]
        out += acc * wy[j]
    return out


def register_image(
    image: np.ndarray,
    wcs_src: Any,
    wcs_ref: Any,
    shape_ref: tuple[int, int],
    *,
    order: Order = "bilinear",
    conserve_flux: bool = False,
    fill_value: float = np.nan,
    step_px: int | None = 64,
) -> np.ndarray:
    """``image`` (with WCS ``wcs_src``) resampled onto the reference pixel grid: float32 ``shape_ref``.

    ``wcs_src`` / ``wcs_ref``: astropy WCS objects or header text. Reference pixels
    that fall outside the source image get ``fill_value``. See the module doc for
    the method and its measured accuracy.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"image must be 2-D with at least 2 x 2 pixels, got shape {image.shape}")
    if order not in ("bilinear", "bicubic"):
        raise ValueError(f"order must be 'bilinear' or 'bicubic', got {order!r}")
    maps = source_pixel_map(wcs_src, wcs_ref, shape_ref, step_px=step_px, with_jacobian=conserve_flux)
    xs, ys = maps[0], maps[1]
    inside = _inside(xs, ys, image.shape)
    out = _bilinear(image, xs, ys) if order == "bilinear" else _bicubic(image, xs, ys)
    if conserve_flux:
        out *= maps[2].astype(np.float32)
    out[~inside] = fill_value
    return out


@dataclass(eq=False)
class RegisteredStack:
    """Bands resampled onto the reference band's grid."""

    pixels: np.ndarray
    """float32 (n_bands, rows, columns) in ``bands`` order; ``fill_value`` where a band does not cover."""
    bands: tuple[str, ...]
    """Band names, in the order of the first axis."""
    reference: str
    """The band whose grid and WCS the stack is on."""
    wcs_header: str
    """The reference band's celestial WCS as header text."""
    coverage: dict[str, float]
    """Per band: fraction of reference pixels with a finite registered value (0 when a band misses the
    reference frame altogether: the caller rejects such a field; SDSS g covers 0.991 of r on 2583-2-136)."""


def register_stack(
    images: Mapping[str, np.ndarray],
    wcs: Mapping[str, Any],
    *,
    reference: str = "r",
    bands: Sequence[str] | None = None,
    order: Order = "bilinear",
    conserve_flux: bool = False,
    fill_value: float = np.nan,
    step_px: int | None = 64,
) -> RegisteredStack:
    """Register every band of ``images`` ({band: 2-D array}, WCS per band in ``wcs``) onto ``reference``.

    ``bands``: the order of the output stack (default: the keys of ``images``). The
    reference band is copied unchanged (Zhao et al. 2025 take positions from the
    r frame, hence r by default).
    """
    bands = tuple(bands) if bands is not None else tuple(images)
    missing = [b for b in (*bands, reference) if b not in images or b not in wcs]
    if missing:
        raise KeyError(f"no image or WCS for band(s) {', '.join(sorted(set(missing)))} (have {', '.join(images)})")
    ref_img = np.asarray(images[reference], dtype=np.float32)
    shape = ref_img.shape
    ref_wcs = _as_wcs(wcs[reference])
    stack = np.empty((len(bands), *shape), dtype=np.float32)
    coverage: dict[str, float] = {}
    for i, band in enumerate(bands):
        if band == reference:
            stack[i] = ref_img
        else:
            stack[i] = register_image(
                images[band], wcs[band], ref_wcs, shape, order=order, conserve_flux=conserve_flux, fill_value=fill_value, step_px=step_px
            )
        coverage[band] = float(np.isfinite(stack[i]).mean())
    header = wcs[reference] if isinstance(wcs[reference], str) else ref_wcs.to_header_string(relax=True)
    return RegisteredStack(pixels=stack, bands=bands, reference=reference, wcs_header=header, coverage=coverage)


def register_frames(frames: Mapping[str, Any], *, reference: str = "r", bands: Sequence[str] | None = None, **kwargs) -> RegisteredStack:
    """``register_stack`` for {band: Frame} (anything with ``.image`` and ``.wcs_header``)."""
    return register_stack(
        {b: f.image for b, f in frames.items()},
        {b: f.wcs_header for b, f in frames.items()},
        reference=reference,
        bands=bands,
        **kwargs,
    )
