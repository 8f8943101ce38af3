"""Numeric precision of a forward pass: float32, TF32 matrix products, or bfloat16 autocast.

One helper for inference (embed-spectra, benchmarks) and pre-training, so that ``precision`` means the
same thing everywhere. Weights, optimiser state, losses and outputs stay float32 in every mode:

- ``fp32``: full float32 products (torch's default);
- ``tf32``: float32 tensors, matrix products on NVIDIA tensor cores in TF32 (10-bit mantissa); on CPU
  it is plain fp32. On an H100 it runs the paper model 3.1x faster than fp32 (BENCHMARKS.md);
- ``bf16``: bfloat16 autocast (GPUs since Ampere, CPUs with AVX-512 BF16 / AMX); no loss scaling is
  needed as bfloat16 keeps float32's exponent range;
- ``auto`` (inference only, ``resolve_precision``): bf16 where the device computes bfloat16 natively, else
  fp32. On CPUs without AVX-512 BF16 / AMX, oneDNN emulates bfloat16 products in fp32 and gains nothing.
"""
from __future__ import annotations

import contextlib
import functools

PRECISIONS = ("fp32", "tf32", "bf16")
INFERENCE_PRECISIONS = ("auto",) + PRECISIONS
"""What embed-spectra accepts: a precision, or auto (resolved per device by ``resolve_precision``)."""
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of x86 CPUs with native bfloat16 products (AVX-512 BF16: Zen 4+, Cooper Lake; AMX: Sapphire Rapids+)."""


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: the avx512_bf16 / amx_bf16 flags of /proc/cpuinfo, else
    (no /proc, e.g. macOS) torch's own CPU probe where this torch has one; False when neither can tell."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in CPU_BF16_FLAGS)
    except OSError:
        pass
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(p()) for p in probes if p is not None)


def resolve_precision(precision: str, device) -> str:
    """``precision`` itself, or for ``auto``: bf16 on CPUs with native bfloat16 (``cpu_has_bf16``) and on CUDA
    GPUs of compute capability 8.0+ (Ampere on), fp32 elsewhere."""
    if precision != "auto":
        _check(precision)
        return precision
    if str(device).startswith("cuda"):
        import torch

        major, _minor = torch.cuda.get_device_capability(torch.device(device))
        return "bf16" if major >= 8 else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


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
    """The context of an inference forward pass at ``precision`` (TF32 flags and bf16 autocast; auto resolved)."""
    precision = resolve_precision(precision, device)
    with matmul_precision(device, precision), autocast(device, precision):
        yield
