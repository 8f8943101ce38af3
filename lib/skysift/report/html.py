"""A small self-contained HTML run report: headings, paragraphs, tables and images (relative links)."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Sequence

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:0.5em}figcaption{font-size:0.85em;color:#555}
code{background:#f6f6f6;padding:1px 3px}
"""


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


class HtmlReport:
    """Collects report blocks in order and writes one HTML file; images are linked relative to it."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[str] = []

    def heading(self, text: str, level: int = 2) -> "HtmlReport":
        self.blocks.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def paragraph(self, text: str) -> "HtmlReport":
        self.blocks.append(f"<p>{html.escape(text)}</p>")
        return self

    def table(self, rows: Sequence[dict], columns: Sequence[str] | None = None) -> "HtmlReport":
        if not rows:
            return self
        columns = list(columns or rows[0].keys())
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
        self.blocks.append(f"<table><tr>{head}</tr>{body}</table>")
        return self

    def image(self, path: str | Path, caption: str = "") -> "HtmlReport":
        self.blocks.append(("img", str(path), caption))  # resolved relative to the output at write time
        return self

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = []
        for b in self.blocks:
            if isinstance(b, tuple):
                rel = os.path.relpath(b[1], path.parent)
                parts.append(f'<figure><img src="{html.escape(rel)}" width="480">'
                             f"<figcaption>{html.escape(b[2])}</figcaption></figure>")
            else:
                parts.append(b)
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>\n"
            + "\n".join(parts) + "\n</body></html>\n"
        )
        return path
