"""Output wavelength grids that every spectrum is resampled onto."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from skysift.config import ConfigError, require


@dataclass(frozen=True)
class GridConfig:
    """A uniform output wavelength grid (linear or log-linear in Angstrom)."""

    start_angstrom: float = 3850.0
    """First grid point (Tang et al. 2025: 3850 A)."""
    stop_angstrom: float = 9000.0
    """Last grid point, inclusive (Tang et al. 2025: 9000 A)."""
    n_points: int = 3688
    """Number of grid points (Tang et al. 2025: 3688; Lu et al. 2022: 2500 for 3900 <= lambda < 8900 A at 2 A,
    i.e. start 3900, stop 8898, the half-open grid ``np.arange(3900, 8900, 2)``; 5000 at 1 A, stop 8899)."""
    spacing: Literal["linear", "log"] = "linear"
    """'linear' = uniform in Angstrom (both papers); 'log' = uniform in log10(Angstrom)."""
    frame: Literal["observed", "rest"] = "observed"
    """'observed' = grid wavelengths are observed ones (Tang et al. 2025, Lu et al. 2022); 'rest' = rest-frame
    wavelengths: every spectrum is shifted by its survey redshift (lambda / (1 + z)) before resampling, so
    a line lands on the same grid point whatever the redshift."""
    from_model: str = ""
    """Take the grid from a trained encoder instead: a model URI (models:/NAME@ALIAS, models:/NAME/VERSION,
    runs:/RUN/model, a logged model folder or a best.pt checkpoint) whose metadata names the grid it was trained
    on. ingest-spectra resolves it on the driver before any Spark work; grid fields left at their defaults are
    taken from the model, a field set to another value than the model's is an error."""

    def __post_init__(self):
        require(self.start_angstrom > 0, f"grid.start_angstrom must be > 0, got {self.start_angstrom}")
        require(
            self.stop_angstrom > self.start_angstrom,
            f"grid.stop_angstrom ({self.stop_angstrom}) must exceed grid.start_angstrom ({self.start_angstrom})",
        )
        require(self.n_points >= 2, f"grid.n_points must be >= 2, got {self.n_points}")
        require(self.spacing in ("linear", "log"), f"grid.spacing must be 'linear' or 'log', got {self.spacing!r}")
        require(self.frame in ("observed", "rest"), f"grid.frame must be 'observed' or 'rest', got {self.frame!r}")
        require(isinstance(self.from_model, str), f"grid.from_model must be a model URI string, got {self.from_model!r}")

    @property
    def grid_id(self) -> str:
        """Stable text id stored in every row (e.g. 'lin:3850:9000:3688', or 'lin:3600:7000:2435:rest' for a
        rest-frame grid); models check it, so an encoder trained on one frame refuses the other."""
        prefix = "lin" if self.spacing == "linear" else "log"
        suffix = ":rest" if self.frame == "rest" else ""
        return f"{prefix}:{self.start_angstrom:g}:{self.stop_angstrom:g}:{self.n_points}{suffix}"

    def wave_angstrom(self) -> np.ndarray:
        """The grid points in Angstrom (float64)."""
        return _grid_points(self.start_angstrom, self.stop_angstrom, self.n_points, self.spacing)

    def edges_angstrom(self) -> np.ndarray:
        """Bin edges (n_points + 1) half-way between points; outer edges mirror the first/last step."""
        wave = self.wave_angstrom()
        mid = 0.5 * (wave[1:] + wave[:-1])
        return np.concatenate([[wave[0] - (mid[0] - wave[0])], mid, [wave[-1] + (wave[-1] - mid[-1])]])


@lru_cache(maxsize=16)
def _grid_points(start: float, stop: float, n: int, spacing: str) -> np.ndarray:
    if spacing == "linear":
        wave = np.linspace(start, stop, n)
    else:
        wave = np.logspace(np.log10(start), np.log10(stop), n)
    wave.setflags(write=False)
    return wave


def parse_grid_id(grid_id: str) -> GridConfig:
    """Inverse of GridConfig.grid_id."""
    parts = grid_id.split(":")
    try:
        if len(parts) not in (4, 5) or parts[0] not in ("lin", "log") or (len(parts) == 5 and parts[4] != "rest"):
            raise ValueError
        kind, start, stop, n = parts[:4]
        frame = "rest" if len(parts) == 5 else "observed"
        return GridConfig(float(start), float(stop), int(n), "linear" if kind == "lin" else "log", frame)
    except ValueError:
        raise ValueError(
            f"not a grid id: {grid_id!r} (expected e.g. 'lin:3850:9000:3688' or 'lin:3600:7000:2435:rest')") from None


GRID_FIELDS = ("start_angstrom", "stop_angstrom", "n_points", "spacing", "frame")
"""The fields that make a grid (what grid_id encodes)."""


def grid_of_model(grid: GridConfig, model_grid_id: str, model: str, prefix: str = "processing.grid.") -> GridConfig:
    """``grid`` replaced by the grid ``model_grid_id`` of ``model`` (from_model cleared).

    A field of ``grid`` left at its default takes the model's value; a field set to a value that is neither
    the default nor the model's is a conflict: ConfigError naming the field, both values and the fix. (The
    config does not record where a value came from, so a field set explicitly to its default is not seen.)"""
    try:
        wanted = parse_grid_id(model_grid_id)
    except ValueError as exc:
        raise ConfigError(f"{prefix}from_model={model}: the model's grid_id {model_grid_id!r} is unusable: {exc}") from None
    default = GridConfig()
    conflicts = [f"{prefix}{name}={getattr(grid, name)!r} (the model's: {getattr(wanted, name)!r})"
                 for name in GRID_FIELDS
                 if getattr(grid, name) != getattr(default, name) and getattr(grid, name) != getattr(wanted, name)]
    if conflicts:
        raise ConfigError(
            f"{prefix}from_model={model} gives grid {model_grid_id!r}, which conflicts with {', '.join(conflicts)}; "
            f"leave the grid fields at their defaults (or drop from_model)")
    return wanted


def resolve_grid(grid: GridConfig, prefix: str = "processing.grid.") -> tuple[GridConfig, dict | None]:
    """Resolve ``grid.from_model`` on the driver: (the model's grid, {'model_uri', 'model_version', 'grid_id'});
    a grid without from_model comes back unchanged with None. Unknown models fail with tracking's message."""
    if not grid.from_model:
        return grid, None
    from skysift.runtime import tracking

    uri = grid.from_model
    store = tracking.tracking_uri() if uri.startswith(("models:", "runs:")) else None
    info = tracking.resolve_model(uri, store)
    model_grid_id = (info.get("meta") or {}).get("model", {}).get("grid_id")
    if not model_grid_id:
        raise ConfigError(f"{prefix}from_model={uri}: the model's metadata names no grid_id")
    resolved = grid_of_model(grid, str(model_grid_id), uri, prefix)
    version = info.get("version")
    return resolved, {"model_uri": uri, "model_version": None if version is None else str(version),
                      "grid_id": resolved.grid_id}
