"""bench.gpu_check's image_embed section on the CPU (tiny profile): every precision timed, the ratio against the
per-image loop reported, fp32 equal to the CPU reference and bf16 within its rounding."""
from __future__ import annotations

from skysift.bench.gpu_check import image_embed_section
from skysift.models.precision import PRECISIONS


def test_image_embed_section_tiny_on_cpu():
    r = image_embed_section("cpu", 8, 4, 2, "tiny")
    assert r["n_images"] == 8 and r["per_image_loop_fp32_images_s"] > 0
    for precision in PRECISIONS:
        assert r[precision]["images_s"] > 0 and r[precision]["ratio_vs_per_image_loop"] > 0
    assert r["fp32"]["max_abs_pooled_diff_vs_cpu_fp32"] < 1e-5
    assert r["bf16"]["max_abs_pooled_diff_vs_cpu_fp32"] < 0.05  # 8-bit mantissa on unit vectors (measured 6e-4)
