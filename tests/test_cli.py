"""The job runner: flags, positional words, the JSON summary as the last line, config errors."""
import json
import sys
import types
from dataclasses import dataclass

import pytest

from skysift import cli
from skysift.config import ConfigError, require


@dataclass(frozen=True)
class EchoConfig:
    case: str = "a"
    """Case."""
    input: str = ""
    """Input."""
    n_rows: int = 1
    """Rows."""

    def __post_init__(self):
        require(self.n_rows >= 0, "n_rows must be >= 0")


@pytest.fixture
def echo_job(monkeypatch):
    mod = types.ModuleType("skysift_test_echo")
    mod.CONFIG = EchoConfig
    mod.POSITIONAL = ("case",)
    mod.NEEDS_SPARK = False
    mod.run = lambda spark, cfg: {"read": cfg.n_rows, "written": cfg.n_rows, "rejected": 0, "output": cfg.input,
                                  "case": cfg.case}
    monkeypatch.setitem(sys.modules, "skysift_test_echo", mod)
    monkeypatch.setitem(cli.TOOLS, "echo", "skysift_test_echo")
    return mod


def test_summary_is_last_line_json(echo_job, capsys):
    assert cli.main(["echo", "b", "--input", "in.fits", "--n-rows", "4", "--set", "n_rows=5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["job"] == "echo" and summary["case"] == "b" and summary["output"] == "in.fits"
    assert summary["read"] == 5 and summary["balanced"] is True and summary["seconds"] >= 0


def test_config_error_exit_code(echo_job, capsys):
    assert cli.main(["echo", "--set", "n_rows=-1"]) == 2
    assert capsys.readouterr().err.strip() == "skysift echo: error: n_rows must be >= 0"
    assert cli.main(["echo", "--bogus", "1"]) == 2
    assert "unknown key bogus" in capsys.readouterr().err


def test_unknown_job_and_extra_positional(echo_job):
    with pytest.raises(ConfigError, match="unknown job"):
        cli.run_job("nope", [])
    with pytest.raises(ConfigError, match="unexpected argument"):
        cli.run_job("echo", ["a", "b"])


def test_every_registered_job_has_entry_point_and_config():
    import importlib
    from pathlib import Path

    root = Path(cli.__file__).resolve().parents[2]
    names = cli.job_names()
    stage_dirs = sorted(p.name for p in (root / "lib" / "skysift" / "stages").iterdir()
                        if (p / "job.py").exists())
    assert sorted(n.replace("-", "_") for n in names if n not in cli.TOOLS) == stage_dirs
    for name in names:
        mod = importlib.import_module(cli.module_name(name))
        assert hasattr(mod, "run") and hasattr(mod, "CONFIG"), name
        assert cli.describe_job(name), f"{name}: its package docstring must say what the job does"
        if name != "demo":
            assert (root / "jobs" / f"{name.replace('-', '_')}.py").exists(), f"jobs/ entry missing for {name}"


def test_job_help_lists_every_field_with_type_default_and_doc(capsys):
    """`skysift crossmatch --help` prints the purpose and every field, nested ones dotted."""
    from skysift.stages.crossmatch.config import CrossmatchConfig

    assert cli.main(["crossmatch", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("skysift crossmatch: ")
    for name, _tp, _default, doc in cli.config_fields(CrossmatchConfig):
        assert f"  {name} (" in out, name
        assert doc, f"crossmatch field {name} has no docstring"
    assert "  radius_arcsec (float, default 2.0)" in out
    for name in cli.job_names():
        if name == "echo":
            continue
        assert cli.main([name, "--help"]) == 0, name
        assert capsys.readouterr().out.startswith(f"skysift {name}: ")


def test_top_level_help_describes_jobs(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "skysift.stages" not in out
    assert "crossmatch" in out and "Sky cross-match of two catalogs" in out


def test_print_config_resolves_yaml_and_overrides(echo_job, capsys, tmp_path):
    import yaml

    conf = tmp_path / "echo.yaml"
    conf.write_text("n_rows: 3\ninput: a.fits\n")
    assert cli.main(["echo", "--config", str(conf), "--set", "n_rows=7", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {"case": "a", "input": "a.fits", "n_rows": 7}


def test_user_errors_are_one_line(echo_job, capsys):
    from skysift.runtime.errors import SkysiftError

    def fail(spark, cfg):
        raise SkysiftError("catalog x.parquet: no column 'ra'\n(columns: a, b)")

    echo_job.run = fail
    assert cli.main(["echo"]) == 2
    assert capsys.readouterr().err == "skysift echo: error: catalog x.parquet: no column 'ra' (columns: a, b)\n"


def test_user_facing_error_classes_are_skysift_errors():
    """Errors a user can cause print as one line through the CLI: they all derive from SkysiftError."""
    from skysift.config import ConfigError
    from skysift.io.catalog_writers import CatalogOutputError
    from skysift.kb.store import KbError
    from skysift.runtime.errors import SkysiftError
    from skysift.runtime.filesystem import OutputError
    from skysift.runtime.spark import JavaMissingError
    from skysift.runtime.tracking import ModelNotFoundError
    from skysift.xmatch.catalogs import CatalogColumnError

    for cls in (ConfigError, CatalogOutputError, KbError, OutputError, JavaMissingError, ModelNotFoundError,
                CatalogColumnError):
        assert issubclass(cls, SkysiftError), cls
