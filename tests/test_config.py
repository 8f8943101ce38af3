"""Typed config loading: YAML + --set overrides, unknown keys and bad values fail early."""
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pytest

from skysift.config import ConfigError, field_docs, load_config, parse_override, require
from skysift.stages.ingest_spectra.config import IngestConfig
from skysift.spectra.grid import GridConfig


@dataclass(frozen=True)
class Inner:
    radius_arcsec: float = 2.0
    """Match radius."""


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    """A name."""
    mode: Literal["nearest", "all"] = "nearest"
    """Match mode."""
    k: int = 3
    """Neighbours."""
    inner: Inner = field(default_factory=Inner)
    """Nested block."""
    bands: tuple[str, ...] = ("g", "r")
    """Bands."""

    def __post_init__(self):
        require(self.k >= 1, f"k must be >= 1, got {self.k}")


def test_overrides_nested_and_coerced(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner:\n  radius_arcsec: 1\n")
    cfg = load_config(Outer, path, ["inner.radius_arcsec=0.5", "k=5", "bands=u,g,r", "mode=all"])
    assert cfg == Outer(name="a", mode="all", k=5, inner=Inner(0.5), bands=("u", "g", "r"))


def test_unknown_key_names_allowed_keys():
    with pytest.raises(ConfigError, match=r"unknown key inner\.radius .*allowed: radius_arcsec"):
        load_config(Outer, None, ["inner.radius=1"])
    with pytest.raises(ConfigError, match="unknown key colour"):
        load_config(Outer, None, ["colour=red"])


def test_bad_values_fail_with_key():
    with pytest.raises(ConfigError, match=r"mode: 'best' is not allowed; allowed: 'nearest', 'all'"):
        load_config(Outer, None, ["mode=best"])
    with pytest.raises(ConfigError, match="k: expected an integer"):
        load_config(Outer, None, ["k=2.5"])
    with pytest.raises(ConfigError, match="k must be >= 1"):
        load_config(Outer, None, ["k=0"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("novalue")


def test_field_docs_are_read_from_source():
    docs = field_docs(GridConfig)
    assert set(docs) == {"start_angstrom", "stop_angstrom", "n_points", "spacing", "frame", "from_model"}
    assert "3688" in docs["n_points"]


def test_every_job_config_field_has_a_docstring():
    from dataclasses import fields, is_dataclass

    from skysift.spectra.processing import ProcessingConfig

    for cls in (IngestConfig, ProcessingConfig, GridConfig):
        docs = field_docs(cls)
        missing = [f.name for f in fields(cls) if f.name not in docs]
        assert not missing, f"{cls.__name__} fields without docstring: {missing}"
        assert is_dataclass(cls)


def test_shipped_yaml_loads():
    from skysift.paths import conf_dir

    cfg = load_config(IngestConfig, conf_dir() / "ingest_spectra.yaml", ["input=x", "output=y"])
    assert cfg.processing.grid.grid_id == "lin:3850:9000:3688"
    lu = load_config(IngestConfig, conf_dir() / "ingest_spectra_lu2022.yaml", ["input=x", "output=y"])
    assert lu.processing.grid.n_points == 2500 and lu.processing.normalisation == "lu2022"
    # the paper's half-open grid 3900 <= lambda < 8900 A at 2 A (Lu et al. 2022: "2500" points)
    np.testing.assert_array_equal(lu.processing.grid.wave_angstrom(), np.arange(3900.0, 8900.0, 2.0))
    assert lu.processing.grid.grid_id == "lin:3900:8898:2500"
