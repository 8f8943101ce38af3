"""8-bit colour images of g, r, i stacks with the Lupton et al. (2004) asinh stretch.

Zhao et al. 2025 trained on the official SDSS colour composites, which we cannot
fetch; this is a documented stand-in built with astropy's ``make_lupton_rgb``
(the Lupton et al. 2004 scheme those composites also follow): i -> red, r -> green,
g -> blue; the three bands share one intensity I = mean(R, G, B), each channel is
scaled by asinh(Q I / stretch) / (Q I), so colours are kept up to saturation.

Per-band scaling (skysift choice): the inputs are in nanomaggies; before the
stretch, g, r, i are multiplied by ``band_scales`` = (1.50, 1.00, 0.90), which makes
a source of solar colour (g - r = 0.44, r - i = 0.11; flux ratios g:r:i = 0.667 : 1
: 1.107) grey, so stars of the stellar locus run from blue to orange around white.
``stretch`` = 0.5 nMgy and ``Q`` = 8 (chosen by eye on the real field 2583-2-136)
keep the sky dark: the frames are sky-subtracted, so half the sky pixels fall below
``minimum`` = 0 and are black, and 90 % stay under (26, 23, 13) of 255 in R, G, B;
1.2 % of that field's pixels (star cores, the M2 cluster) saturate a channel.
NaN counts as 0 (a band's uncovered margin after registration shows in the other
two colours).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

__all__ = ["LUPTON_BAND_SCALES", "lupton_rgb", "lupton_rgb_stack"]

LUPTON_BAND_SCALES = (1.50, 1.00, 0.90)
"""Multipliers for (g, r, i) in nanomaggies before the stretch: solar colours come out grey (see module doc)."""


def lupton_rgb(
    g: np.ndarray,
    r: np.ndarray,
    i: np.ndarray,
    *,
    band_scales: Sequence[float] = LUPTON_BAND_SCALES,
    stretch: float = 0.5,
    q: float = 8.0,
    minimum: float = 0.0,
) -> np.ndarray:
    """uint8 (rows, columns, 3) RGB image, R = i, G = r, B = g (row 0 first, as the arrays are)."""
    from astropy.visualization import make_lupton_rgb

    if not (len(band_scales) == 3 and stretch > 0 and q > 0):
        raise ValueError(f"need three band_scales and stretch, q > 0; got {band_scales}, {stretch}, {q}")
    chans = []
    for img, scale in zip((i, r, g), (band_scales[2], band_scales[1], band_scales[0])):
        img = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        chans.append((img - np.float32(minimum)) * np.float32(scale))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # asinh of 0 / 0 where all three are 0 is handled by astropy
        return make_lupton_rgb(chans[0], chans[1], chans[2], stretch=stretch, Q=q, minimum=0.0)


def lupton_rgb_stack(stack: np.ndarray, bands: Sequence[str], **kwargs) -> np.ndarray:
    """``lupton_rgb`` of a (bands, rows, columns) stack, picking g, r, i by name."""
    names = list(bands)
    missing = [b for b in "gri" if b not in names]
    if missing:
        raise KeyError(f"an RGB image needs bands g, r, i; the stack has {', '.join(names)}")
    return lupton_rgb(stack[names.index("g")], stack[names.index("r")], stack[names.index("i")], **kwargs)
