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
    monkeypatch.setitem(cli.JOBS, "echo", "skysift_test_echo")
    return mod


def test_summary_is_last_line_json(echo_job, capsys):
    assert cli.main(["echo", "b", "--input", "in.fits", "--n-rows", "4", "--set", "n_rows=5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["job"] == "echo" and summary["case"] == "b" and summary["output"] == "in.fits"
    assert summary["read"] == 5 and summary["balanced"] is True and summary["seconds"] >= 0


def test_config_error_exit_code(echo_job, capsys):
    assert cli.main(["echo", "--set", "n_rows=-1"]) == 2
    assert "n_rows must be >= 0" in capsys.readouterr().err
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
    for name, module in cli.JOBS.items():
        mod = importlib.import_module(module)
        assert hasattr(mod, "run") and hasattr(mod, "CONFIG"), name
        if name != "demo":
            assert (root / "jobs" / f"{name.replace('-', '_')}.py").exists(), f"jobs/ entry missing for {name}"
