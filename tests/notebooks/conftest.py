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
    """Every code cell's text output, joined by newlines."""
    images: list
    """The outputs that carry a PNG."""


def execute(name: str, timeout_s: int = 600, cwd: Path | None = None) -> ExecutedNotebook:
    """Run notebooks/NAME in a fresh kernel (working folder: notebooks/, or ``cwd``)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd or NOTEBOOKS)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    return ExecutedNotebook(nb, "\n".join(out.get("text", "") for out in outputs),
                            [out for out in outputs if "image/png" in out.get("data", {})])


@pytest.fixture
def run_notebook():
    """``run_notebook(name, timeout_s=600, cwd=None) -> ExecutedNotebook``."""
    return execute
