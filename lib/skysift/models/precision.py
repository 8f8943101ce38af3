"""Numeric precision of a forward pass: float32, TF32 matrix products, or bfloat16 autocast.

One helper for inference (embed-spectra, benchmarks) and pre-training, so that ``precision`` means the
same thing everywhere. Weights, optimiser state, losses and outputs stay float32 in every mode:

- ``fp32``: full float32 products (torch's default);
- ``tf32``: float32 tensors, matrix products on NVIDIA tensor cores in TF32 (10-bit mantissa); on CPU
  it is plain fp32. On an H100 it runs the paper model 3.1x faster than fp32 (BENCHMARKS.md);
- ``bf16``: bfloat16 autocast (GPUs since Ampere, CPUs with AVX-512 BF16 / AMX); no loss scaling is
  needed as bfloat16 keeps float32's exponent range.
"""
from __future__ import annotations

import contextlib

PRECISIONS = ("fp32", "tf32", "bf16")


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


@contextlib.contextmanager
def matmul_precision(device, precision: str):
    """TF32 tensor-core products on a CUDA device for ``precision='tf32'`` (forward and backward alike);
    torch's flags are restored on exit, so one worker can serve jobs of different precision."""
    import torch

    _check(precision)
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    if str(device).startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def autocast(device, precision: str):
    """bfloat16 autocast for ``precision='bf16'`` (forward pass only; backward follows its dtypes)."""
    import torch

    _check(precision)
    return torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16,
                          enabled=precision == "bf16")


@contextlib.contextmanager
def forward_autocast(device, precision: str):
    """The context of an inference forward pass at ``precision`` (TF32 flags and bf16 autocast)."""
    with matmul_precision(device, precision), autocast(device, precision):
        yield
