"""Run geometry: cells cover every field, field ids, config validation."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.config import ConfigError
from skysift.synth.imaging import geometry as geo
from skysift.synth.imaging.config import ImagingSurveyConfig, StampConfig


def test_cells_k_minus_1_to_k_plus_1_cover_field_k_with_margins(make_config):
    cfg = make_config(dec0_deg=30.0, camcols=(1, 3))
    for index in range(geo.n_field_indices(cfg)):
        fid = geo.field_id(cfg, index)
        cond = geo.field_conditions(7, cfg, fid)
        ny, nx = cfg.shape_px
        m = cfg.cell_margin_px
        for b in range(5):
            w = geo.band_wcs(cfg, fid, b, cond)
            xs = np.array([-m, nx + m, -m, nx + m, nx / 2]) - 0.5
            ys = np.array([-m, -m, ny + m, ny + m, ny / 2]) - 0.5
            ra, dec = w.wcs_pix2world(xs, ys, 0)
            lo = geo.cell_bounds_deg(cfg, fid.camcol, fid.k - 1)
            hi = geo.cell_bounds_deg(cfg, fid.camcol, fid.k + 1)
            assert np.all((ra > lo[0]) & (ra < hi[1]))
            # Across the scan the frame spans the cell width, band offsets aside.
            tol = cfg.band_offset_max_px * 2 * cfg.pixel_scale_arcsec / 3600
            assert np.all((dec > lo[2] - tol) & (dec < lo[3] + tol))


def test_field_ids_and_numbers(make_config):
    cfg = make_config(camcols=(2, 5), n_fields=4, first_field=100)
    ids = [geo.field_id(cfg, i) for i in range(geo.n_field_indices(cfg))]
    assert [(f.camcol, f.field) for f in ids[:5]] == [(2, 100), (2, 101), (2, 102), (2, 103), (5, 100)]
    with pytest.raises(ValueError, match="outside the survey"):
        geo.field_id(cfg, 8)


def test_bad_configs_fail_with_the_key_named():
    with pytest.raises(ConfigError, match="camcols"):
        ImagingSurveyConfig(camcols=(7,))
    with pytest.raises(ConfigError, match="depth_5sigma_mag"):
        ImagingSurveyConfig(depth_5sigma_mag=(22.0, 22.2))
    with pytest.raises(ConfigError, match="field_step_rows"):
        ImagingSurveyConfig(shape_px=(400, 600), field_step_rows=500)
    with pytest.raises(ConfigError, match="stamps.bands"):
        StampConfig(bands=("g", "q", "z"))
