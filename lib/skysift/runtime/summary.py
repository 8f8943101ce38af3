"""The job summary: one JSON object, always the last line a job prints.

Every job returns at least ``read``, ``written``, ``rejected`` and ``output``; jobs whose rows can also leave
by design (unmatched in an inner join, merged duplicates) list those counts under ``other_outcomes``. The
runner adds ``job``, ``seconds`` and ``balanced`` (``read == written + rejected + sum(other_outcomes)``).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

COUNT_KEYS = ("read", "written", "rejected")


def balanced(summary: Mapping[str, Any]) -> bool | None:
    """Whether every row read is accounted for; None when the job does not count rows."""
    if not all(isinstance(summary.get(k), int) and not isinstance(summary.get(k), bool) for k in COUNT_KEYS):
        return None
    other = sum(int(v) for v in (summary.get("other_outcomes") or {}).values())
    return summary["read"] == summary["written"] + summary["rejected"] + other


def finish_summary(job_name: str, result: Mapping[str, Any] | None, seconds: float) -> dict[str, Any]:
    """The job's own summary with ``job`` first and ``seconds``, the count keys and ``balanced`` filled in."""
    summary = {"job": job_name, **dict(result or {})}
    summary["seconds"] = round(seconds, 3)
    for key in (*COUNT_KEYS, "output"):
        summary.setdefault(key, None)
    ok = balanced(summary)
    if ok is not None:
        summary["balanced"] = ok
    return summary


def print_summary(summary: Mapping[str, Any]) -> None:
    """Print the summary as one JSON line (flushed: it must be the last line of the job's output)."""
    print(json.dumps(summary, default=str), flush=True)
