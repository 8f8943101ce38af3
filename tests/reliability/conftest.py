"""Small inputs shared by the reliability tests of the table jobs (embed-spectra, build-kb, crossmatch), each
built once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

GRID = "lin:3850:9000:200"
"""A short grid for the toy spectra (200 points): the encoder stays tiny."""


@pytest.fixture(scope="session")
def spectra(tmp_path_factory) -> Path:
    """64 toy spectra (2 with a NaN) in row groups of 4: 16 or more work items."""
    from skysift.synth.toy_spectra import write_toy_spectra

    return write_toy_spectra(tmp_path_factory.mktemp("resume-embed") / "spectra", 64, GRID, seed=5, n_nonfinite=2,
                             row_group_rows=4)


@pytest.fixture(scope="session")
def encoder(tmp_path_factory) -> Path:
    """An untrained tiny spectrum encoder on GRID as a training checkpoint (embed-spectra takes its path)."""
    import torch

    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder

    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id=GRID, dropout=0.0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("resume-encoder") / "encoder.pt"
    torch.save({"model_state": SpectrumEncoder(cfg).state_dict(), "model_config": cfg.to_dict(), "step": 0,
                "val_loss": 1.0}, path)
    return path


@pytest.fixture(scope="session")
def vectors(tmp_path_factory) -> Path:
    """400 vectors in three Gaussian clusters (emb/) and their labels (labels/, 5 without a vector)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("resume-kb")
    rng = np.random.default_rng(8)
    lab = rng.integers(0, 3, 400)
    x = (3.0 * rng.standard_normal((3, 16))[lab] + 0.6 * rng.standard_normal((400, 16))).astype(np.float32)
    ids = [f"kb-{i}" for i in range(400)]
    for name in ("emb", "labels"):
        (root / name).mkdir()
    pq.write_table(pa.table({"spec_id": ids, "embedding": pa.array(list(x), pa.list_(pa.float32())),
                             "model_version": ["1"] * 400}), root / "emb" / "part-0.parquet")
    pq.write_table(pa.table({"spec_id": ids + [f"missing-{i}" for i in range(5)],
                             "label": list(np.array(["a", "b", "c"], dtype=object)[lab]) + ["a"] * 5,
                             "task": ["toy"] * 405}), root / "labels" / "part-0.parquet")
    return root


@pytest.fixture(scope="session")
def catalogs(tmp_path_factory) -> Path:
    """left/ (2 files, 900 rows) and right/ (700 rows, 500 of them within 3" of a left row)."""
    import numpy as np
    import pandas as pd

    from skysift.synth.mock_catalogs import hard_sky, neighbours_of

    root = tmp_path_factory.mktemp("resume-xmatch")
    left = hard_sky(900, seed=41)
    left["lid"] = np.arange(len(left), dtype=np.int64)
    right = pd.concat([neighbours_of(left, 500, seed=42, max_sep_arcsec=3.0), hard_sky(200, seed=43)],
                      ignore_index=True)
    right["rid"] = np.arange(len(right), dtype=np.int64)
    for side, frame, n in (("left", left, 2), ("right", right, 1)):
        (root / side).mkdir()
        for k, part in enumerate(np.array_split(np.arange(len(frame)), n)):
            frame.iloc[part].to_parquet(root / side / f"part-{k}.parquet", index=False)
    return root
