"""Imaging figures for run reports: a registered field in colour with its tile grid, cutouts per class.

They read the jobs' own tables (ingest-frames' ``fields`` / ``tiles``, make-cutouts' ``cutouts``) and draw
with the kernels of ``skysift.images`` (paste_tiles, lupton_rgb_stack); nothing is recomputed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from skysift.report.plots import _plt


@dataclass
class FieldStack:
    """One registered field rebuilt from its tiles."""

    field_id: str
    """fields.field_id."""
    bands: tuple[str, ...]
    """Band names of the stack's first axis."""
    stack: np.ndarray
    """float32 (bands, rows, columns) on the reference band's grid."""
    tiles: pd.DataFrame
    """The field's tiles (tile_id, tile_index, x0, y0, size_px), by tile_index."""
    wcs_header: str
    """The reference band's WCS as header text."""


def field_stack(ingest_output: str | Path, field_id: str | None = None) -> FieldStack:
    """Field ``field_id`` (default: the first by id) of an ingest-frames output, pasted back from its tiles."""
    from skysift.images.tables import column_stack, paste_tiles
    from skysift.runtime.output import read_table

    fields = read_table(str(ingest_output), under="fields").to_pandas().sort_values("field_id")
    if field_id is None:
        field_id = str(fields.field_id.iat[0])
    row = fields[fields.field_id == field_id]
    if row.empty:
        raise ValueError(f"{ingest_output}: no field {field_id!r}; fields: {', '.join(fields.field_id)}")
    row = row.iloc[0]
    tiles = read_table(str(ingest_output), under="tiles").to_pandas()
    tiles = tiles[tiles.field_id == field_id].sort_values("tile_index").reset_index(drop=True)
    bands = tuple(row.bands)
    size = int(tiles.size_px.iat[0])
    import pyarrow as pa

    pix = column_stack(pa.array(tiles.pixels.tolist(), type=pa.list_(pa.float32())), (len(bands), size, size))
    stack = paste_tiles(pix, tiles.x0.to_numpy(), tiles.y0.to_numpy(), (int(row.height_px), int(row.width_px)))
    return FieldStack(field_id, bands, stack, tiles.drop(columns=["pixels", "rgb_png"]), str(row.wcs_header))


def field_rgb_png(path: str | Path, fs: FieldStack, title: str = "") -> Path:
    """The field in colour (Lupton asinh, R = i, G = r, B = g) with each tile's outline and index drawn."""
    from skysift.images.rgb import lupton_rgb_stack

    plt = _plt()
    rgb = lupton_rgb_stack(fs.stack, fs.bands)
    h, w = rgb.shape[:2]
    fig, ax = plt.subplots(figsize=(9, 9 * h / w + 0.5))
    ax.imshow(rgb, origin="lower")  # pixel row 0 at the bottom, as ds9 shows FITS
    colours = plt.cm.tab10(np.arange(len(fs.tiles)) % 10)
    for k, t in fs.tiles.iterrows():
        s = int(t.size_px)
        ax.add_patch(plt.Rectangle((t.x0 - 0.5, t.y0 - 0.5), s, s, fill=False, lw=1.2, ec=colours[k]))
        ax.text(t.x0 + 12, t.y0 + 12, str(int(t.tile_index)), color=colours[k], fontsize=8, va="bottom")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(-0.5, h - 0.5)
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")
    ax.set_title(title or f"field {fs.field_id}: {''.join(fs.bands)} registered, {len(fs.tiles)} tiles", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def read_cutouts(cutouts_output: str | Path) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...]]:
    """(rows without pixels, float32 (N, bands, S, S) pixels, bands) of a make-cutouts output."""
    from skysift.images.tables import column_stack
    from skysift.runtime.output import read_table

    table = read_table(str(cutouts_output), under="cutouts")
    table = table.take(np.lexsort([table.column("row_index").to_numpy()]))
    if table.num_rows == 0:
        return table.drop_columns(["pixels", "level_pixels"]).to_pandas(), np.zeros((0, 0, 0, 0), np.float32), ()
    size, bands = table.column("size_px")[0].as_py(), tuple(table.column("bands")[0].as_py())
    pixels = column_stack(table.column("pixels"), (len(bands), size, size))
    return table.drop_columns(["pixels", "level_pixels"]).to_pandas(), pixels, bands


def _display(pixels: np.ndarray, bands: Sequence[str]) -> tuple[np.ndarray, str | None]:
    """An image to show: Lupton RGB when g, r, i are there, else the first band asinh-stretched in grey."""
    from skysift.images.rgb import lupton_rgb_stack

    if all(b in bands for b in "gri"):
        return lupton_rgb_stack(pixels, bands), None
    img = np.nan_to_num(pixels[0].astype(np.float64))
    sky = float(np.median(img))
    noise = max(1.4826 * float(np.median(np.abs(img - sky))), 1e-6)
    # asinh in units of 3 sky sigmas, clipped at 1 sigma below the sky: noise dark grey, sources bright
    return np.arcsinh(np.clip(img - sky, -noise, None) / (3 * noise)), "gray"


def cutout_grid_png(path: str | Path, cutouts_output: str | Path, labels: Mapping[str, str] | None = None,
                    per_class: int = 6, title: str = "", order: Sequence[str] | None = None,
                    brightest: bool = True) -> tuple[Path, dict[str, int]]:
    """A grid of cutouts, one row per class (``labels``: cutout object_id -> class; missing ids are skipped;
    None = one row 'all'); returns the PNG and the number of cutouts of each class. Flagged cutouts
    (edge, outside) are left out so that every stamp shown is whole; ``brightest``: the class's cutouts with
    the most flux in their central 8 x 8 pixels first (else catalog order), so that the shapes show."""
    rows, pixels, bands = read_cutouts(cutouts_output)
    if brightest and len(rows):
        c = pixels.shape[-1] // 2
        flux = np.nansum(pixels[:, :, c - 4: c + 4, c - 4: c + 4], axis=(1, 2, 3))
        order_idx = np.argsort(-flux, kind="stable")
        rows, pixels = rows.iloc[order_idx].reset_index(drop=True), pixels[order_idx]
    cls = (pd.Series("all", index=rows.index) if labels is None
           else rows.object_id.map(lambda o: labels.get(str(o))))
    keep = cls.notna().to_numpy() & ((rows["flags"].to_numpy() & 3) == 0)
    counts = cls[keep].value_counts().to_dict()
    names = [c for c in (order or sorted(counts)) if counts.get(c)]
    plt = _plt()
    n_rows = max(1, len(names))
    fig, axes = plt.subplots(n_rows, per_class, figsize=(1.3 * per_class + 2.4, 1.3 * n_rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    for i, name in enumerate(names):
        idx = np.flatnonzero(keep & (cls == name).to_numpy())[:per_class]
        axes[i, 0].text(-0.1, 0.5, f"{name}\n({counts[name]})", transform=axes[i, 0].transAxes, ha="right", va="center", fontsize=8)
        for j, k in enumerate(idx):
            img, cmap = _display(pixels[k], bands)
            axes[i, j].imshow(img, origin="lower", cmap=cmap)
            axes[i, j].axis("on")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    fig.suptitle(title or f"{len(rows)} cutouts ({''.join(bands)}, {pixels.shape[-1] if len(pixels) else 0} px)", fontsize=10)
    fig.subplots_adjust(left=0.22, right=0.99, top=0.92, bottom=0.01, wspace=0.05, hspace=0.1)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path), {k: int(v) for k, v in counts.items()}


def synthetic_labels(imaging_output: str | Path) -> dict[str, str]:
    """photoObj objid (as text, the cutouts' object_id) -> truth class of a synth-survey imaging output: STAR,
    QSO, or the galaxy's Galaxy10 morphology class."""
    import pyarrow.dataset as pads

    root = Path(imaging_output)
    photo = pads.dataset(str(root / "photoobj"), format="parquet").to_table(columns=["objid", "object_id"]).to_pandas()
    truth = pads.dataset(str(root / "truth"), format="parquet").to_table().to_pandas().set_index("object_id")
    cls = truth["class"].astype(str)
    if "morphology" in truth.columns:
        cls = cls.where(cls != "GALAXY", truth["morphology"].astype(str))
    ids = photo.object_id.to_numpy()
    known = np.isin(ids, cls.index.to_numpy())
    return dict(zip(photo.objid.astype(str)[known], cls.loc[ids[known]].to_numpy()))
