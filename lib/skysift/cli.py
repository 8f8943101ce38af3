"""The `skysift` command and the shared job runner behind `jobs/<name>.py`.

A job's name is its package: `skysift foo-bar` runs ``skysift.stages.foo_bar.job``, which exposes
``CONFIG`` (a frozen dataclass), ``run(spark, cfg) -> dict`` and optionally ``POSITIONAL`` (names of fields
that may be given as positional words) and ``NEEDS_SPARK = False`` for driver-only jobs. Two tools sit on
top of the stages and are named here: ``benchmark`` and ``demo``. The runner parses the common flags, loads
and validates the config before any Spark start, runs the job and prints its summary as one JSON line,
always the last line of output. Errors a user can fix (``SkysiftError``, config errors included) print as
one line ``skysift JOB: error: ...`` and exit 2.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
import typing
from types import ModuleType
from typing import Any, Sequence

from skysift.config import ConfigError, _type_name, field_docs, load_config, to_dict
from skysift.paths import default_job_config
from skysift.runtime.errors import SkysiftError

STAGES_PACKAGE = "skysift.stages"
# tools that sit on top of the stages (they chain or time jobs), not stages themselves
TOOLS: dict[str, str] = {"benchmark": "skysift.bench.job", "demo": "skysift.demo"}

USAGE = """usage: skysift JOB [POSITIONAL ...] [--config FILE] [--set key=value ...]
                    [--profile local|cluster] [--input PATH] [--output PATH] [--any-field VALUE]
       skysift JOB --help           every config field with its type, default and docstring
       skysift JOB --print-config   the resolved config (after --config and --set) as YAML

Jobs:
{jobs}
Any other --some-flag VALUE is the same as --set some_flag=VALUE.
"""


def job_names() -> list[str]:
    """Every job: one per package under skysift/stages, plus the tools."""
    import skysift.stages

    stages = [m.name.replace("_", "-") for m in pkgutil.iter_modules(skysift.stages.__path__) if m.ispkg]
    return sorted(stages + list(TOOLS))


def module_name(job_name: str) -> str:
    """The module implementing ``job_name`` (`foo-bar` -> skysift.stages.foo_bar.job)."""
    if job_name in TOOLS:
        return TOOLS[job_name]
    if job_name not in job_names():
        raise ConfigError(f"unknown job {job_name!r}; jobs: {', '.join(job_names())}")
    return f"{STAGES_PACKAGE}.{job_name.replace('-', '_')}.job"


def describe_job(job_name: str) -> str:
    """The job's one-line purpose: the first docstring line of its package (stages) or module (tools)."""
    name = TOOLS.get(job_name) or f"{STAGES_PACKAGE}.{job_name.replace('-', '_')}"
    doc = (importlib.import_module(name).__doc__ or "").strip().splitlines()
    line = doc[0] if doc else ""
    return line.split(":", 1)[1].strip() if line.startswith("`skysift") and ":" in line else line


def _usage() -> str:
    names = job_names()
    width = max(len(n) for n in names) + 2
    return USAGE.format(jobs="".join(f"  {n:<{width}}{describe_job(n)}\n" for n in names))


def config_fields(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted name, type, default, docstring) of every field of a config dataclass, nested ones expanded."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if dataclasses.is_dataclass(tp):
            rows.append((prefix + f.name, tp.__name__, None, docs.get(f.name, "")))
            rows.extend(config_fields(tp, prefix + f.name + "."))
        else:
            rows.append((prefix + f.name, _type_name(tp), default, docs.get(f.name, "")))
    return rows


def job_help(job_name: str, module: ModuleType) -> str:
    """`skysift JOB --help`: purpose, usage and every config field."""
    import textwrap

    lines = [f"skysift {job_name}: {describe_job(job_name)}", ""]
    positional = " ".join(getattr(module, "POSITIONAL", ()))
    lines.append(f"usage: skysift {job_name} {positional + ' ' if positional else ''}[--config FILE] "
                 f"[--set key=value ...] [--FIELD VALUE ...]")
    default_conf = default_job_config(job_name)
    if default_conf is not None:
        lines.append(f"default config: {default_conf}")
    lines += ["", "fields (dotted names for nested ones; --set name=value or --name value):"]
    for name, tp, default, doc in config_fields(module.CONFIG):
        head = f"  {name} ({tp})" if default is None and tp[:1].isupper() else f"  {name} ({tp}, default {default!r})"
        lines.append(head)
        if doc:
            lines.extend(textwrap.wrap(doc, width=100, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def parse_job_args(argv: Sequence[str], positional_names: Sequence[str] = ()) -> dict[str, Any]:
    """Split a job's argv into config path, overrides, profile, extra field values and the two info flags."""
    config = None
    profile = "local"
    overrides: list[str] = []
    extra: dict[str, Any] = {}
    positional: list[str] = []
    flags = {"help": False, "print_config": False}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            flags["help"] = True
        elif arg == "--print-config":
            flags["print_config"] = True
        elif arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            if eq:
                value = inline
            else:
                if i + 1 >= len(args):
                    raise ConfigError(f"{name} needs a value")
                value = args[i + 1]
                i += 1
            if name == "--config":
                config = value
            elif name == "--set":
                overrides.append(value)
            elif name == "--profile":
                profile = value
            else:
                overrides.append(f"{name[2:].replace('-', '_')}={value}")
        else:
            positional.append(arg)
        i += 1
    if len(positional) > len(positional_names):
        raise ConfigError(
            f"unexpected argument(s) {positional[len(positional_names):]}; "
            f"this job takes {list(positional_names) or 'no'} positional argument(s)"
        )
    for name, value in zip(positional_names, positional):
        extra[name] = value
    return {"config": config, "profile": profile, "overrides": overrides, "extra": extra, **flags}


def load_job(job_name: str) -> ModuleType:
    """Import the module of ``job_name`` (ConfigError for an unknown name)."""
    return importlib.import_module(module_name(job_name))


def run_job(job_name: str, argv: Sequence[str], spark=None) -> dict[str, Any] | None:
    """Parse, validate, run one job and return its summary (also printed as the last line).

    ``--help`` and ``--print-config`` print and return None without running anything.
    """
    from skysift.runtime.summary import finish_summary, print_summary

    module = load_job(job_name)
    parsed = parse_job_args(argv, getattr(module, "POSITIONAL", ()))
    if parsed["help"]:
        print(job_help(job_name, module))
        return None
    config_path = parsed["config"] or default_job_config(job_name)
    cfg = load_config(module.CONFIG, config_path, parsed["overrides"], parsed["extra"])
    if parsed["print_config"]:
        import yaml

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return None
    import time

    started = time.perf_counter()
    if getattr(module, "NEEDS_SPARK", True) and spark is None:
        from skysift.runtime.spark import session

        spark = session(parsed["profile"], app_name=f"skysift-{job_name}")
    summary = finish_summary(job_name, module.run(spark, cfg), time.perf_counter() - started)
    print_summary(summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `skysift` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    job_name, rest = argv[0], argv[1:]
    try:
        run_job(job_name, rest)
    except SkysiftError as exc:
        print(f"skysift {job_name}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


def job_main(job_name: str) -> None:
    """Body of a `jobs/<name>.py` spark-submit entry point."""
    sys.exit(main([job_name, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
