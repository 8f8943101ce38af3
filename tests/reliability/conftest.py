"""Small inputs shared by the reliability tests, each built once per session: the table jobs' (embed-spectra,
build-kb, crossmatch: fixtures below) and ``Inputs``, the tiny inputs of every job of test_kill_rerun.py and
test_resume_task_jobs.py (the ``inputs`` fixture)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import pytest

from skysift.testing.faults import run_here

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


class Inputs:
    """Tiny inputs, each built once per session on first use (``spark``: the shared session, on demand)."""

    sfr_train_sets = ["--set", "image_px=[8]", "--set", "models=[early_fusion,decision_tree]", "--set", "quality_levels=[3]",
                      "--set", "seeds=[0]", "--set", "model.image_pca_components=8", "--set", "model.spectrum_pca_components=4",
                      "--set", "model.cnn_channels=[4]", "--set", "model.spectrum_hidden=[8,8]", "--set", "model.fusion_hidden=[8]",
                      "--set", "model.max_epochs=2", "--set", "model.patience=1", "--set", "model.gb_estimators=5"]
    """A tiny train-sfr on ``sfr_table``: two models, one resolution, one quality level, one seed."""

    def __init__(self, root: Path, spark: Callable):
        self.root = root
        self.spark = spark

    @functools.cached_property
    def survey(self) -> Path:
        """A 24-spectrum synth-survey in FITS (SDSS/BOSS/LAMOST layouts) with its truth."""
        out = self.root / "survey"
        run_here("synth-survey", ["--output", out, "--set", "n_spectra=24", "--set", "rows_per_partition=6"])
        return out

    @functools.cached_property
    def spectra(self) -> Path:
        """60 toy spectra on GRID (SPECTRA schema, hive-partitioned), 2 with a NaN (rejected by embed)."""
        from skysift.synth.toy_spectra import write_toy_spectra

        return write_toy_spectra(self.root / "spectra", 60, GRID, seed=2, n_nonfinite=2, row_group_rows=16)

    @functools.cached_property
    def spectrum_encoder(self) -> Path:
        """An untrained tiny encoder on GRID as a training checkpoint (embed-spectra takes its path)."""
        import torch

        from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder

        cfg = EncoderConfig(profile="tiny", n_points=200, grid_id=GRID, dropout=0.0)
        torch.manual_seed(0)
        path = self.root / "encoder.pt"
        torch.save({"model_state": SpectrumEncoder(cfg).state_dict(), "model_config": cfg.to_dict(), "step": 0,
                    "val_loss": 1.0}, path)
        return path

    @functools.cached_property
    def vectors(self) -> Path:
        """Three Gaussian clusters (truth): emb/ (300 KB vectors), labels/ (+5 without a vector), queries/ (40)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        root = self.root / "vectors"
        rng = np.random.default_rng(3)
        lab = rng.integers(0, 3, 340)
        x = (3.0 * rng.standard_normal((3, 8))[lab] + 0.6 * rng.standard_normal((340, 8))).astype(np.float32)
        ids = [f"kb-{i}" for i in range(300)]
        names = np.array(["a", "b", "c"], dtype=object)[lab]
        for name in ("emb", "labels", "queries"):
            (root / name).mkdir(parents=True)
        pq.write_table(pa.table({"spec_id": ids, "embedding": pa.array(list(x[:300]), pa.list_(pa.float32())),
                                 "model_version": ["1"] * 300}), root / "emb" / "part-0.parquet")
        pq.write_table(pa.table({"spec_id": ids + [f"missing-{i}" for i in range(5)],
                                 "label": list(names[:300]) + ["a"] * 5, "task": ["toy"] * 305}),
                       root / "labels" / "part-0.parquet")
        pq.write_table(pa.table({"spec_id": [f"q-{i}" for i in range(40)],
                                 "embedding": pa.array(list(x[300:]), pa.list_(pa.float32()))}),
                       root / "queries" / "part-0.parquet")
        return root

    @functools.cached_property
    def kb(self) -> Path:
        """A flat two-shard KB of ``vectors``."""
        out = self.root / "kb"
        run_here("build-kb", ["--embeddings", self.vectors / "emb", "--labels", self.vectors / "labels", "--output",
                              out, "--set", "index.kind=flat", "--set", "n_shards=2"], self.spark())
        return out

    @functools.cached_property
    def catalogs(self) -> Path:
        """left/ (3 files) and right/ (2 files): 600 hard-sky positions, 480 neighbours within 3" + 160 more,
        a few bad coordinates on each side (rejects)."""
        import numpy as np
        import pandas as pd

        from skysift.synth.mock_catalogs import hard_sky, neighbours_of

        root = self.root / "catalogs"
        left = hard_sky(600, seed=21)
        left["lid"] = np.arange(len(left), dtype=np.int64)
        right = pd.concat([neighbours_of(left, 480, seed=22, max_sep_arcsec=3.0), hard_sky(160, seed=23)],
                          ignore_index=True)
        right["rid"] = np.arange(len(right), dtype=np.int64)
        left.loc[[7, 8], ["ra_deg", "dec_deg"]] = [[np.nan, 1.0], [361.0, 0.0]]
        right.loc[[3], ["ra_deg", "dec_deg"]] = [[5.0, np.nan]]
        for side, frame, n in (("left", left, 3), ("right", right, 2)):
            (root / side).mkdir(parents=True)
            for k, part in enumerate(np.array_split(np.arange(len(frame)), n)):
                frame.iloc[part].to_parquet(root / side / f"part-{k}.parquet", index=False)
        return root

    @functools.cached_property
    def detections(self) -> Path:
        """800 positions, 300 of them repeated within 0.45" (friends-of-friends groups), a score each."""
        import numpy as np
        import pandas as pd

        from skysift.synth.mock_catalogs import hard_sky, neighbours_of

        base = hard_sky(500, seed=31)
        df = pd.concat([base, neighbours_of(base, 300, seed=32, max_sep_arcsec=0.45)], ignore_index=True)
        df["score"] = np.random.default_rng(33).uniform(0, 1, len(df))
        df["det"] = np.arange(len(df))
        path = self.root / "detections.parquet"
        df.to_parquet(path)
        return path

    @functools.cached_property
    def frames(self) -> Path:
        """Two overlapping toy fields (g/r/i, u in one): frame files as SDSS names them."""
        import numpy as np

        from skysift.synth.toy_frames import FieldSpec, write_field

        folder = self.root / "frames"
        dra = 300 * 0.396 / 3600.0 / np.cos(np.radians(2.0))
        write_field(folder, FieldSpec("fa", ra_deg=150.0, dec_deg=2.0, shape=(300, 400), bands=("u", "g", "r", "i"),
                                      seed=21))
        write_field(folder, FieldSpec("fb", ra_deg=150.0 - dra, dec_deg=2.0, shape=(300, 400), seed=22))
        return folder

    @functools.cached_property
    def fields(self) -> Path:
        """``frames`` ingested (fields + 128 px tiles)."""
        out = self.root / "fields"
        run_here("ingest-frames", ["--input", self.frames, "--output", out, "--set", "tiles.size_px=128"])
        return out

    @functools.cached_property
    def positions(self) -> Path:
        """Seven catalog positions over the two fields (one in neither)."""
        import numpy as np
        import pandas as pd

        from skysift.synth.toy_frames import FieldSpec, field_wcs

        wa = field_wcs(FieldSpec("fa", ra_deg=150.0, dec_deg=2.0, shape=(300, 400), bands=("u", "g", "r", "i"),
                                 seed=21))
        xs = np.array([200.0, 100.0, 390.0, 395.5, 3.0, 250.2, -400.0])
        ys = np.array([150.0, 80.0, 150.0, 40.0, 150.0, 297.0, 150.0])
        ra, dec = wa.all_pix2world(xs, ys, 0)
        path = self.root / "positions.parquet"
        pd.DataFrame({"objid": [f"s{k}" for k in range(len(xs))], "ra": ra, "dec": dec}).to_parquet(path)
        return path

    @functools.cached_property
    def stamps(self) -> Path:
        """48 binned Galaxy10-like stamps (64 px, g/r/z) in three row groups of 16."""
        import pyarrow.parquet as pq

        from skysift.runtime.output import read_table
        from skysift.testing.images import small_stamps

        (self.root / "stamps").mkdir()
        pq.write_table(read_table(small_stamps(48)[0]), self.root / "stamps" / "part-0.parquet", row_group_size=16)
        return self.root / "stamps"

    @functools.cached_property
    def image_encoder(self) -> Path:
        """An untrained tiny image ViT checkpoint."""
        from skysift.testing.images import checkpoint

        return Path(checkpoint(str(self.root / "image_encoder.pt"), seed=4))

    @functools.cached_property
    def image_vectors(self) -> Path:
        """``stamps`` embedded by ``image_encoder`` (patch features + pooled vectors)."""
        out = self.root / "image_vectors"
        run_here("embed-images", ["--input", self.stamps, "--output", out, "--set", f"model_uri={self.image_encoder}",
                                  "--set", "torch_threads=1", "--set", "rows_per_task=16"])
        return out

    @functools.cached_property
    def image_index(self) -> Path:
        """The faiss image index of ``image_vectors``."""
        out = self.root / "image_index"
        run_here("build-image-index", ["--input", self.image_vectors, "--output", out])
        return out

    @functools.cached_property
    def multimodal(self) -> Path:
        """build-multimodal's inputs for 14 objects (synth.imaging.multimodal): cutouts/, spectra/, labels/."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from skysift.synth.imaging.multimodal import multimodal_set
        from skysift.testing.multimodal import cutouts_table

        m = multimodal_set(seed=3, n_objects=14)
        root = self.root / "multimodal_in"
        cut = cutouts_table(m)
        for name in ("cutouts/cutouts", "spectra", "labels"):
            (root / name).mkdir(parents=True)
        pq.write_table(cut, root / "cutouts" / "cutouts" / "part-0.parquet")
        pq.write_table(m.spectra, root / "spectra" / "part-0.parquet")
        pq.write_table(m.mpajhu, root / "labels" / "part-0.parquet")
        return root

    @functools.cached_property
    def sfr_table(self) -> Path:
        """A 40-row multimodal table (16 px images, 64-point spectra, z, log_sfr) for train-sfr."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        rng = np.random.default_rng(0)
        n = 40
        y = rng.normal(0, 0.7, n)
        px = (rng.normal(0, 0.05, (n, 5, 16, 16)) + y[:, None, None, None] * 0.1).astype(np.float32)
        flux = (rng.normal(1, 0.1, (n, 64)) + y[:, None]).astype(np.float32)
        root = self.root / "sfr_in"
        (root / "multimodal").mkdir(parents=True)
        pq.write_table(pa.table({
            "object_id": [str(i) for i in range(n)], "class": ["GALAXY"] * n, "log_sfr": y,
            "pixels": [p.ravel() for p in px], "size_px": pa.array([16] * n, pa.int32()), "bands": [list("ugriz")] * n,
            "flux": list(flux), "ivar": [np.ones(64, np.float32)] * n,
            "norm_factor": pa.array(np.full(n, 10.0), pa.float32()), "z": rng.uniform(0.02, 0.2, n)}),
            root / "multimodal" / "part-0.parquet")
        return root

    @functools.cached_property
    def sfr_rows(self) -> Path:
        """``sfr_table``'s 40 rows in row groups of 10: four work items of predict-sfr."""
        import pyarrow.parquet as pq

        folder = self.root / "sfr_rows" / "multimodal"
        folder.mkdir(parents=True)
        pq.write_table(pq.read_table(self.sfr_table / "multimodal"), folder / "part-0.parquet", row_group_size=10)
        return folder.parent

    @functools.cached_property
    def sfr_model(self) -> Path:
        """A tiny early fusion (16 px, quality level 0) trained on ``sfr_table`` and saved as train-sfr saves
        its champion, without MLflow (tests/stages/predict_sfr does the same)."""
        import numpy as np
        import pyarrow.parquet as pq

        from skysift.models.sfr_bundle import save_bundle
        from skysift.models.sfr_config import SfrModelsConfig
        from skysift.models.sfr_data import make_arrays
        from skysift.models.sfr_training import train_models

        t = pq.read_table(self.sfr_table / "multimodal").to_pydict()
        n = len(t["object_id"])
        flux = np.array(t["flux"], np.float32)
        a = make_arrays(np.array(t["object_id"]), np.array(t["pixels"], np.float32).reshape(n, 5, 16, 16), flux,
                        np.ones_like(flux), np.array(t["norm_factor"]), np.array(t["log_sfr"]),
                        np.array(t["class"], dtype=object), 16, 0, z=np.array(t["z"]))
        cfg = SfrModelsConfig(image_px=16, quality_level=0, image_pca_components=8, spectrum_pca_components=4,
                              early_hidden=(8, 8), max_epochs=2, patience=1)
        path = self.root / "sfr_model"
        save_bundle(path, "early_fusion", train_models(a, cfg, 0, ("early_fusion",)), cfg)
        return path

    @functools.cached_property
    def sfr_trained(self) -> Path:
        """A train-sfr output of ``sfr_train_sets`` on ``sfr_table`` (evaluate-sfr's input)."""
        out = self.root / "sfr_trained"
        run_here("train-sfr", ["--input", self.sfr_table, "--output", out, *self.sfr_train_sets])
        return out

    @functools.cached_property
    def detection(self):
        """Two 256 x 400 synthetic fields as an ingest-frames output in 160 px tiles, with photoObj and truth
        (``testing.detection.synthetic_ingest``, as tests/stages/detect_sources)."""
        from skysift.testing.detection import synthetic_ingest

        return synthetic_ingest(self.root / "det_ingest", seed=3, n_fields=2, shape_px=(256, 400), tile_size_px=160,
                                min_overlap_px=32)

    @functools.cached_property
    def detection_models(self):
        """A one-epoch YOLOv8n and Conv4Net as local train-* output folders, unregistered (~10 s)."""
        from skysift.testing.detection import tiny_models

        return tiny_models(self.root / "det_models", register=False)

    @functools.cached_property
    def pool(self) -> Path:
        """A tiny Lu et al. 2022 pool survey (synth_survey_lu2022.yaml): 300 spectra, 120 templates."""
        from skysift.paths import conf_dir

        out = self.root / "pool"
        run_here("synth-survey", ["--config", conf_dir() / "synth_survey_lu2022.yaml", "--output", out,
                                  "--set", "n_spectra=300", "--set", "model.pool.n_templates=120",
                                  "--set", "rows_per_partition=150", "--set", "seed=13"])
        return out


@pytest.fixture(scope="session")
def inputs(tmp_path_factory, request) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("reliability-inputs"), lambda: request.getfixturevalue("spark"))
