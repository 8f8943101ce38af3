"""Contact sheets of image search results: the query and its top-k matches with their scores (matplotlib)."""
from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np


def contact_sheet_png(query_rgb: np.ndarray, query_title: str, match_rgbs: Sequence[np.ndarray],
                      match_titles: Sequence[str], title: str = "", n_cols: int = 6) -> bytes:
    """PNG bytes: the query (first panel, framed) then the matches, ``n_cols`` panels a row; images are
    (H, W, 3) floats in [0, 1] or uint8."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(query_rgb, query_title)] + list(zip(match_rgbs, match_titles))
    n_cols = max(1, min(n_cols, len(panels)))
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols, 2.15 * n_rows + (0.3 if title else 0)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (img, text) in enumerate(panels):
        ax = axes.ravel()[k]
        ax.imshow(np.asarray(img), interpolation="nearest")
        ax.set_title(text, fontsize=7)
        if k == 0:  # frame the query
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_edgecolor("tab:red")
                side.set_linewidth(2.5)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
