"""Self-supervised pairs for GalaxIDNet's contrastive training (Friberg section 3.4; note sections 3, 6, 7).

For each image of a batch one pair is made: a *positive* (y = 1: the untransformed image and a copy under
``n_transforms`` transforms drawn without replacement from the positive pool) or a *negative* (y = 0: the
image and ANOTHER image from anywhere in the training set, any class, under ``n_transforms`` transforms of
the negative pool). The pools are the paper's "x/y-flip, rotations, adding minor Gaussian noise, etc." and
"perspective warp, Gaussian blur, etc." with the author's concrete settings (note section 6, author's code):

- positive pool: horizontal flip, vertical flip, rotation by U(-180, 180) deg, perspective with distortion
  0.1, centre crop to 150/224 of the side + zero pad back, Gaussian noise sigma 0.18 on pixels <= 0.8;
- negative pool: the positive pool + erasing (area 2-10 %, aspect 0.3-3.3, zeros) + Gaussian blur (kernel
  5, sigma U(0.1, 0.4)).

``dihedral`` (a skysift addition, not in the author's pools; ``TRANSFORMS`` names every transform, the
training config chooses the pools): one of the 7 non-identity symmetries of the square, exact (no
interpolation, no black corners). The author's pool reaches only {identity, hflip, vflip, rot180} exactly
(flip compositions); a quarter turn or a transpose only through the bilinear ``rotate``, whose corners are
zero. Measured on the tiny profile (400 binned stamps, 40 epochs): top-1 retrieval of the original was
0.79 for a 90 deg query but 0.92-0.95 for rot180 / hflip, the exact members of that group.

Every random draw comes from one ``numpy.random.Generator`` (torchvision's functional ops take explicit
parameters), so a seed fixes every pair. Images are (C, S, S) float tensors in [0, 1]; results are clamped
to [0, 1] (skysift choice: the noise can leave the range).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

CROP_FRACTION = 150.0 / 224.0
"""CenterCrop(150) + Pad(37) of the author's 224 px pipeline, as a fraction of the side."""
NOISE_SIGMA = 0.18
"""Gaussian noise sigma (author's code)."""
NOISE_MAX_PIXEL = 0.8
"""Noise is added only to pixels <= this (author's code)."""
PERSPECTIVE_DISTORTION = 0.1
"""RandomPerspective distortion_scale (author's code)."""
ERASE_SCALE = (0.02, 0.1)
"""RandomErasing area fraction range (author's code)."""
ERASE_RATIO = (0.3, 3.3)
"""RandomErasing aspect-ratio range (author's code)."""
BLUR_KERNEL_PX = 5
"""GaussianBlur kernel (author's code)."""
BLUR_SIGMA = (0.1, 0.4)
"""GaussianBlur sigma range (author's code)."""

ZOOM_RANGE = (0.75, 1.0 / 0.75)
"""Scale factor range of ``zoom``, drawn log-uniformly (skysift addition)."""

BRIGHTNESS_RANGE = (0.6, 1.0 / 0.6)
"""Factor range of ``brightness``, drawn log-uniformly (skysift addition)."""
STARS_PER_IMAGE = (1, 3)
"""Point sources added by ``stars``: between these numbers, inclusive (skysift addition)."""
STAR_SIGMA_PX = (0.6, 1.2)
"""Gaussian sigma of an added point source on a 64 px image (scaled with the side)."""
STAR_PEAK = (0.3, 1.0)
"""Peak value of an added point source (network-input units, [0, 1]) before the per-channel colour."""

Transform = Callable[[torch.Tensor, np.random.Generator], torch.Tensor]


def hflip(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Mirror left-right."""
    return torch.flip(x, dims=(-1,))


def vflip(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Mirror top-bottom."""
    return torch.flip(x, dims=(-2,))


def dihedral(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One of the 7 non-identity symmetries of the square (images.symmetry.DIHEDRAL), drawn uniformly: k
    quarter turns, optionally followed by a left-right mirror (skysift addition)."""
    from skysift.images.symmetry import DIHEDRAL

    k, mirror = DIHEDRAL[1 + int(rng.integers(0, len(DIHEDRAL) - 1))]
    out = torch.rot90(x, k, dims=(-2, -1)) if k else x
    return torch.flip(out, dims=(-1,)) if mirror else out


def rotate(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Rotate by an angle drawn in [-180, 180) deg about the centre (bilinear, corners filled with 0)."""
    return TF.rotate(x, float(rng.uniform(-180.0, 180.0)), interpolation=TF.InterpolationMode.BILINEAR)


def zoom(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Rescale about the centre by a factor drawn log-uniformly in ZOOM_RANGE (bilinear; a zoom-out pads
    with zeros, a zoom-in drops the border) (skysift addition: the stamps' galaxy size does not depend on
    its class)."""
    f = float(np.exp(rng.uniform(np.log(ZOOM_RANGE[0]), np.log(ZOOM_RANGE[1]))))
    return TF.affine(x, angle=0.0, translate=[0, 0], scale=f, shear=[0.0, 0.0],
                     interpolation=TF.InterpolationMode.BILINEAR)


def brightness(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Scale every pixel by one factor drawn log-uniformly in BRIGHTNESS_RANGE (skysift addition: the
    stamps' galaxy magnitude does not depend on its class, so brightness is an instance cue, not a class one)."""
    return x * float(np.exp(rng.uniform(np.log(BRIGHTNESS_RANGE[0]), np.log(BRIGHTNESS_RANGE[1]))))


def stars(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Add 1-3 Gaussian point sources of random colour anywhere in the image (skysift addition: field stars
    are the instance cue Friberg section 5 blames, "task-irrelevant features (such as the surrounding
    stars)"; a copy with extra stars teaches the encoder to ignore them)."""
    c, h, w = x.shape[-3:]
    yy = torch.arange(h, dtype=torch.float32, device=x.device)[:, None]
    xx = torch.arange(w, dtype=torch.float32, device=x.device)[None, :]
    out = x.clone()
    for _ in range(int(rng.integers(STARS_PER_IMAGE[0], STARS_PER_IMAGE[1] + 1))):
        cy, cx = rng.uniform(0, h - 1), rng.uniform(0, w - 1)
        sigma = rng.uniform(*STAR_SIGMA_PX) * w / 64.0
        peak = rng.uniform(*STAR_PEAK) * rng.uniform(0.5, 1.0, c)
        blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * sigma ** 2))
        out = out + torch.from_numpy(peak.astype(np.float32)).to(x.device)[:, None, None] * blob
    return out


def perspective(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """RandomPerspective(distortion_scale=0.1): each corner moves inwards by up to 0.1 of the half side."""
    h, w = x.shape[-2:]
    dh, dw = int(PERSPECTIVE_DISTORTION * h // 2), int(PERSPECTIVE_DISTORTION * w // 2)

    def r(n):
        return int(rng.integers(0, n + 1))

    start = [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]
    end = [[r(dw), r(dh)], [w - 1 - r(dw), r(dh)], [w - 1 - r(dw), h - 1 - r(dh)], [r(dw), h - 1 - r(dh)]]
    return TF.perspective(x, start, end, interpolation=TF.InterpolationMode.BILINEAR)


def crop_pad(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Keep the central 150/224 of the side and pad back to the full side with zeros."""
    s = x.shape[-1]
    c = max(1, int(round(CROP_FRACTION * s)))
    lo = (s - c) // 2
    out = torch.zeros_like(x)
    out[..., lo:lo + c, lo:lo + c] = x[..., lo:lo + c, lo:lo + c]
    return out


def noise(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Add N(0, 0.18^2) to the pixels <= 0.8."""
    g = torch.from_numpy(rng.standard_normal(tuple(x.shape)).astype(np.float32)).to(x.device)
    return x + (x <= NOISE_MAX_PIXEL) * NOISE_SIGMA * g


def erase(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """RandomErasing: zero one rectangle of 2-10 % of the area, aspect ratio log-uniform in 0.3-3.3."""
    h, w = x.shape[-2:]
    for _ in range(10):  # torchvision's retry rule: a rectangle that does not fit is drawn again
        area = rng.uniform(*ERASE_SCALE) * h * w
        ratio = float(np.exp(rng.uniform(np.log(ERASE_RATIO[0]), np.log(ERASE_RATIO[1]))))
        eh, ew = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
        if 0 < eh < h and 0 < ew < w:
            top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            out = x.clone()
            out[..., top:top + eh, left:left + ew] = 0.0
            return out
    return x


def blur(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian blur, kernel 5 px, sigma drawn in [0.1, 0.4]."""
    sigma = float(rng.uniform(*BLUR_SIGMA))
    return TF.gaussian_blur(x, [BLUR_KERNEL_PX, BLUR_KERNEL_PX], [sigma, sigma])


POSITIVE_POOL: dict[str, Transform] = {"hflip": hflip, "vflip": vflip, "rotate": rotate, "perspective": perspective,
                                       "crop_pad": crop_pad, "noise": noise}
"""The positive transforms (Friberg; settings from the author's code)."""
NEGATIVE_POOL: dict[str, Transform] = {**POSITIVE_POOL, "erase": erase, "blur": blur}
"""The negative transforms: the positive pool plus erasing and blur (author's code)."""
TRANSFORMS: dict[str, Transform] = {**NEGATIVE_POOL, "dihedral": dihedral, "zoom": zoom,
                                   "stars": stars, "brightness": brightness}
"""Every transform by name: what a training config's pools may list."""


def pool(names) -> dict[str, Transform]:
    """The transforms ``names`` (in that order) of ``TRANSFORMS``; ValueError naming an unknown one."""
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transform(s) {unknown}; known: {sorted(TRANSFORMS)}")
    return {n: TRANSFORMS[n] for n in names}


def apply_random(x: torch.Tensor, pool: dict[str, Transform], n_transforms: int,
                 rng: np.random.Generator) -> torch.Tensor:
    """``x`` under ``n_transforms`` transforms of ``pool`` drawn without replacement, in the drawn order."""
    names = list(pool)
    picks = rng.choice(len(names), size=min(n_transforms, len(names)), replace=False)
    for k in picks:
        x = pool[names[int(k)]](x, rng)
    return x.clamp_(0.0, 1.0) if x.is_floating_point() else x


def make_pairs(batch: torch.Tensor, dataset_size: int, fetch: Callable[[int], torch.Tensor],
               batch_indices: np.ndarray, rng: np.random.Generator, n_transforms: int = 1,
               positive_fraction: float = 0.5, positive_pool: dict[str, Transform] = POSITIVE_POOL,
               negative_pool: dict[str, Transform] = NEGATIVE_POOL) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(anchors (B, C, S, S), others (B, C, S, S), y (B,) float) for one batch.

    ``batch`` holds the images of dataset rows ``batch_indices``; ``fetch(j)`` returns dataset row j (the
    negatives' other image, drawn uniformly among the other rows, any class). Image i is positive with
    probability ``positive_fraction`` (the paper's option "to randomly generate one or the other"); the
transforms come from ``positive_pool`` / ``negative_pool`` (default: the author's).
    """
    others, labels = [], []
    for i, row in enumerate(batch_indices):
        if rng.random() < positive_fraction or dataset_size < 2:
            others.append(apply_random(batch[i].clone(), positive_pool, n_transforms, rng))
            labels.append(1.0)
        else:
            j = int(rng.integers(0, dataset_size - 1))
            j += j >= int(row)  # any row but this one
            others.append(apply_random(fetch(j).clone(), negative_pool, n_transforms, rng))
            labels.append(0.0)
    return batch, torch.stack(others), torch.tensor(labels, dtype=torch.float32)
