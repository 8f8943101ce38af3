"""Run the demo: each chosen pipeline in order in one local Spark session, then the index page."""
from __future__ import annotations

import time
from pathlib import Path

from skysift.demo.config import DemoConfig
from skysift.demo.context import DemoRun
from skysift.demo.index_page import write_index
from skysift.demo.pipelines import module, resolve
from skysift.paths import REPO_ROOT, shared_data_dir


def run(spark, cfg: DemoConfig) -> dict:
    out = Path(cfg.output)
    out = out if out.is_absolute() else REPO_ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    demo = DemoRun(spark=spark, cfg=cfg, out=out, real=shared_data_dir() if cfg.include_real else None)
    chosen = resolve(cfg.pipelines)
    added = [p for p in chosen if p not in cfg.pipelines]
    print(f"skysift demo: pipelines {', '.join(chosen)}" + (f" ({', '.join(added)} added: needed by the others)" if added else ""),
          flush=True)
    timings = {}
    for name in chosen:
        started = time.perf_counter()
        print(f"\n##### demo pipeline: {name} #####", flush=True)
        module(name).run(demo)
        timings[name] = round(time.perf_counter() - started, 1)
    index = write_index(out, demo.stages, demo.outputs, demo.figures)
    print(f"\nskysift demo finished in {sum(timings.values()):.0f} s ({timings}): outputs in {out}\n  index: {index}",
          flush=True)
    for label, path in demo.outputs.items():
        if str(path).endswith(".html"):
            print(f"  {label}: {path}", flush=True)
    return {"read": None, "written": None, "rejected": None, "output": str(out), "index": str(index),
            "pipelines": timings, "stages": [{k: s[k] for k in ("stage", "job", "seconds")} for s in demo.stages]}
