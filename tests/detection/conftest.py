"""A small field of the synthetic imaging survey (r-band WCS, g r i stack, photoObj / truth), made once per session."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def synth_field() -> dict:
    """400 x 640 px field 0 of survey seed 3: 'stack' (g, r, i), 'wcs_r', 'sigma_gri', 'photoobj', 'truth' (pandas)."""
    from skysift.synth.imaging import catalogs, frames
    from skysift.synth.imaging.config import ImagingSurveyConfig

    cfg = ImagingSurveyConfig(shape_px=(400, 640), n_fields=1, field_step_rows=360)
    fi = frames.render_field(3, cfg, 0)
    cats = catalogs.field_catalogs(3, cfg, fi)
    return {
        "stack": np.ascontiguousarray(fi.images[1:4]),
        "wcs_r": fi.wcs[2],
        "sigma_gri": fi.sigma_sky_nmgy[1:4],
        "photoobj": cats["photoobj"].to_pandas(),
        "truth": cats["truth"].to_pandas(),
    }
