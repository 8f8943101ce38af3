"""Executing a notebook of notebooks/ and collecting what it printed and drew (every test of this folder)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass
class ExecutedNotebook:
    nb: nbformat.NotebookNode
    text: str
    """Every code cell's printed text (stdout, then stderr), the cells joined by newlines."""
    images: list
    """The outputs that carry a PNG."""


def execute(name: str, timeout_s: int = 600, cwd: Path | None = None) -> ExecutedNotebook:
    """Run notebooks/NAME in a fresh kernel (working folder: notebooks/, or ``cwd``)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd or NOTEBOOKS)}}).execute()
    cells = [cell.get("outputs", []) for cell in nb.cells if cell.cell_type == "code"]
    outputs = [out for cell in cells for out in cell]
    return ExecutedNotebook(nb, "\n".join(cell_text(cell) for cell in cells),
                            [out for out in outputs if "image/png" in out.get("data", {})])


def cell_text(outputs) -> str:
    """A cell's stdout and stderr stream outputs, each stream's pieces joined as written. The kernel flushes a
    stream on a timer, so one print can arrive as two outputs: joining those with a newline split
    "bad.npy {'read': 3, ...}" in a loaded CI-like run (session 14)."""
    streams = {name: "".join(out.get("text", "") for out in outputs
                             if out.get("output_type") == "stream" and out.get("name") == name)
               for name in ("stdout", "stderr")}
    return "\n".join(text for text in streams.values() if text)


@pytest.fixture
def run_notebook():
    """``run_notebook(name, timeout_s=600, cwd=None) -> ExecutedNotebook``."""
    return execute
