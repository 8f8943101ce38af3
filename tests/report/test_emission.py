"""The emission-line figures are written for full, partial and empty inputs."""
import numpy as np

from skysift.report.emission import bpt_png, flow_chart_png, redshift_comparison_png, velocity_hist_png


def _png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 3000


def test_figures_from_full_partial_and_empty_inputs(tmp_path):
    assert _png(flow_chart_png(tmp_path / "flow.png", {"searched": 10, "with_line_redshift": 4}))  # missing keys: 0
    x = np.array([-0.5, np.nan, 0.2, -1.0])
    assert _png(bpt_png(tmp_path / "bpt.png", x, [0.1, 0.2, 0.8, np.nan], ["star_forming", None, "seyfert", "liner"]))
    assert _png(redshift_comparison_png(tmp_path / "z.png", {"a": ([0.1, np.nan], [0.1, 0.2]), "b": ([], [])},
                                        "x", "y", "t"))
    assert _png(velocity_hist_png(tmp_path / "v.png", []))
