"""The `skysift` command and the shared job runner behind `jobs/<name>.py`.

Every job lives in a lib module that exposes ``CONFIG`` (a frozen dataclass),
``run(spark, cfg) -> dict`` and optionally ``POSITIONAL`` (names of fields that
may be given as positional words, e.g. ``skysift benchmark resample``) and
``NEEDS_SPARK = False`` for driver-only jobs. The runner parses the common flags,
loads and validates the config before any Spark start, runs the job and prints
its summary as one JSON line, always the last line of output.
"""
from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any, Sequence

from skysift.config import ConfigError, load_config
from skysift.paths import default_job_config

# job name -> module implementing it. A newcomer finds each step here by its name.
JOBS: dict[str, str] = {
    "synth-survey": "skysift.synth.job",
    "ingest-spectra": "skysift.ingest.job",
    "pretrain": "skysift.train.job",
    "embed-spectra": "skysift.infer.embed",
    "benchmark": "skysift.bench.job",
    "demo": "skysift.demo",
    "load-catalog": "skysift.catalog.job",
    "build-kb": "skysift.index.build",
    "search-kb": "skysift.index.search",
    "evaluate-kb": "skysift.eval_kb.job",
    "crossmatch": "skysift.crossmatch",
    "dedupe": "skysift.dedupe",
}

COMMON_FLAGS = {"--config", "--set", "--profile", "--input", "--output"}

USAGE = """usage: skysift JOB [POSITIONAL ...] [--config FILE] [--set key=value ...]
                    [--profile local|cluster] [--input PATH] [--output PATH] [--any-field VALUE]

Jobs:
{jobs}
Any other --some-flag VALUE is the same as --set some_flag=VALUE.
"""


def _usage() -> str:
    return USAGE.format(jobs="".join(f"  {name:<16} {mod}\n" for name, mod in sorted(JOBS.items())))


def parse_job_args(argv: Sequence[str], positional_names: Sequence[str] = ()) -> dict[str, Any]:
    """Split a job's argv into config path, overrides, profile and extra field values."""
    config = None
    profile = "local"
    overrides: list[str] = []
    extra: dict[str, Any] = {}
    positional: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
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
    return {"config": config, "profile": profile, "overrides": overrides, "extra": extra}


def run_job(job_name: str, argv: Sequence[str], spark=None) -> dict[str, Any]:
    """Parse, validate, run one job and return its summary (also printed as the last line)."""
    if job_name not in JOBS:
        raise ConfigError(f"unknown job {job_name!r}; jobs: {', '.join(sorted(JOBS))}")
    module = importlib.import_module(JOBS[job_name])
    parsed = parse_job_args(argv, getattr(module, "POSITIONAL", ()))
    config_path = parsed["config"] or default_job_config(job_name)
    cfg = load_config(module.CONFIG, config_path, parsed["overrides"], parsed["extra"])
    started = time.perf_counter()
    if getattr(module, "NEEDS_SPARK", True) and spark is None:
        from skysift.spark import session

        spark = session(parsed["profile"], app_name=f"skysift-{job_name}")
    summary = dict(module.run(spark, cfg) or {})
    summary = {"job": job_name, **summary}
    summary["seconds"] = round(time.perf_counter() - started, 3)
    for key in ("read", "written", "rejected", "output"):
        summary.setdefault(key, None)
    if all(isinstance(summary[k], int) for k in ("read", "written", "rejected")):
        # jobs whose rows can also leave by design (unmatched in an inner join, merged duplicates)
        # list those counts under "other_outcomes"; every row read must still be accounted for
        other = sum(int(v) for v in (summary.get("other_outcomes") or {}).values())
        summary["balanced"] = summary["read"] == summary["written"] + summary["rejected"] + other
    print(json.dumps(summary, default=str), flush=True)
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
    except ConfigError as exc:
        print(f"skysift {job_name}: config error: {exc}", file=sys.stderr)
        return 2
    return 0


def job_main(job_name: str) -> None:
    """Body of a `jobs/<name>.py` spark-submit entry point."""
    sys.exit(main([job_name, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
