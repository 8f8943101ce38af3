"""Configuration of `skysift inspect-table`."""
from __future__ import annotations

from dataclasses import dataclass

from skysift.config import require


@dataclass(frozen=True)
class InspectTableConfig:
    """Configuration of `skysift inspect-table`."""

    input: str = ""
    """A table folder written by a skysift job (local path, file://, s3:// or hdfs:// URI)."""
    rejects_reasons: int = 5
    """How many of the most frequent reject reasons to list (0 = none)."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input TABLE)")
        require(self.rejects_reasons >= 0, f"rejects_reasons must be >= 0, got {self.rejects_reasons}")
