"""The demo's index page: each stage's counts and time, links to the outputs, the figures inline."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Callable


def write_index(out: Path, stages: list[dict], outputs: dict[str, Path],
                figures: dict[str, dict[str, Path]] | None = None) -> Path:
    """Write ``out/index.html`` and ``out/demo_summary.json``; ``figures`` is section -> caption -> PNG."""
    esc: Callable[[object], str] = lambda v: html.escape(str(v))  # noqa: E731
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{esc(s['stage'])}</td><td><code>skysift {esc(s['job'])}</code></td>"
        f"<td>{s['seconds']}</td><td>{esc(s['summary'].get('read'))}</td><td>{esc(s['summary'].get('written'))}"
        f"</td><td>{esc(s['summary'].get('rejected'))}</td></tr>"
        for i, s in enumerate(stages))
    links = "".join(f"<li>{esc(k)}: <a href='{esc(Path(v).as_uri())}'>{esc(v)}</a></li>" for k, v in outputs.items())
    sections = ""
    for section, captions in (figures or {}).items():
        figs = "".join(f"<h3>{esc(k)}</h3><a href='{esc(Path(v).relative_to(out))}'><img src='{esc(Path(v).relative_to(out))}' "
                       f"style='max-width:100%'></a>" for k, v in captions.items())
        sections += f"<h2>{esc(section)}</h2>{figs}" if figs else ""
    page = (f"<html><head><meta charset='utf-8'><title>skysift demo</title></head><body><h1>skysift demo</h1>"
            f"<h2>Stages</h2><table border='1' cellpadding='4'><tr><th>#</th><th>stage</th><th>job</th>"
            f"<th>seconds</th><th>read</th><th>written</th><th>rejected</th></tr>{rows}</table>"
            f"<h2>Outputs</h2><ul>{links}</ul>{sections}</body></html>")
    path = out / "index.html"
    path.write_text(page)
    (out / "demo_summary.json").write_text(json.dumps(stages, indent=2, default=str))
    return path
