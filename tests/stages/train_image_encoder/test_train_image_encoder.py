"""train-image-encoder: the author's defaults, the loose accuracy's definition, the MLflow registry and its
champion, and an index built with one registered version refused by a search with another."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from skysift.config import ConfigError, load_config
from skysift.paths import default_job_config
from skysift.runtime.errors import SkysiftError
from skysift.runtime.output import read_table
from skysift.stages.train_image_encoder import job as train
from skysift.stages.train_image_encoder.tasks import loose_accuracy, split_indices
from skysift.testing.images import small_stamps


def test_paper_config_holds_the_authors_defaults():
    cfg = load_config(train.CONFIG, default_job_config("train-image-encoder"), ["input=x"])
    assert (cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.epochs, cfg.split) == (1e-3, 5e-4, 8, 15, (0.8, 0.1, 0.1))
    assert cfg.model.profile == "paper" and cfg.n_transforms == 1 and cfg.margin == 1.0 and cfg.mini_search_batch == 8
    assert cfg.weights.as_tuple() == pytest.approx((1 / 3,) * 3)
    assert cfg.positive_transforms == ("hflip", "vflip", "rotate", "perspective", "crop_pad", "noise")
    assert cfg.negative_transforms == cfg.positive_transforms + ("erase", "blur") and cfg.model.position_table == "1d"
    assert cfg.model.input_mask == "none"  # Friberg reads the whole image
    tiny = load_config(train.CONFIG, "conf/train_image_encoder_tiny.yaml", ["input=x"])
    assert tiny.model.profile == "tiny" and tiny.model.image_size_px == 64 and tiny.model.input_mask == "central_source"
    with pytest.raises(ConfigError, match="model.input_mask: .crop. is not allowed"):
        load_config(train.CONFIG, None, ["input=x", "model.input_mask=crop"])
    with pytest.raises(ConfigError, match="positive_transforms must list distinct transforms"):
        load_config(train.CONFIG, None, ["input=x", "positive_transforms=[hflip,twirl]"])


def test_split_is_seeded_and_disjoint():
    parts = split_indices(100, (0.8, 0.1, 0.1), 3)
    assert [len(parts[k]) for k in ("train", "test", "val")] == [80, 10, 10]
    assert len(set(np.concatenate(list(parts.values())))) == 100
    assert all(np.array_equal(parts[k], split_indices(100, (0.8, 0.1, 0.1), 3)[k]) for k in parts)


def test_loose_accuracy_counts_full_batches_only():
    from skysift.models.image_vit import GalaxyVit, ImageVitConfig

    model = GalaxyVit(ImageVitConfig(profile="tiny"))
    images = np.random.default_rng(0).integers(0, 255, (20, 3, 64, 64), dtype=np.uint8)
    one = loose_accuracy(model, images, 8, 1, (1 / 3,) * 3, seed=0)
    every = loose_accuracy(model, images, 8, 1, (1 / 3,) * 3, seed=0, all_anchors=True)
    assert one["trials"] == 2 and every["trials"] == 16 and one["chance"] == 0.125


@pytest.fixture(scope="module")
def stamps_with_bad_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    stamps = read_table(small_stamps(96)[0])
    bad = stamps.slice(0, 1).to_pylist()
    bad[0]["stamp_id"], bad[0]["pixels"] = 999, [float("nan")] * len(bad[0]["pixels"])
    (root / "in").mkdir()
    pq.write_table(pa.concat_tables([stamps, pa.Table.from_pylist(bad, schema=stamps.schema)]), root / "in" / "p.parquet")
    return root


def _train(root, out, *extra):
    cfg = load_config(train.CONFIG, "conf/train_image_encoder_tiny.yaml",
                      [f"input={root / 'in'}", f"output={root / out}", *extra])
    return train.run(None, cfg)


@pytest.mark.slow
def test_registry_champion_and_index_version_refusal(stamps_with_bad_rows, tmp_path, monkeypatch):
    from skysift.stages.build_image_index import job as build
    from skysift.stages.embed_images import job as embed
    from skysift.stages.search_images import job as search

    root = stamps_with_bad_rows
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    first = _train(root, "r1", "epochs=3")
    assert (first["read"], first["written"], first["rejected"]) == (97, 96, 1)
    assert first["model_version"] == 1 and first["promoted"] and first["champion_version"] == 1
    assert first["loose_accuracy_batch_size"] == 8 and first["epochs_run"] == 3
    # a second run is registered as version 2; the alias moves only if its validation loss is lower
    second = _train(root, "r2", "epochs=1", "lr=1e-7")
    assert second["model_version"] == 2
    assert second["promoted"] == (second["best_val_loss"] < first["best_val_loss"])
    champion = second["champion_version"]
    other = 3 - champion
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    hist = mlflow.MlflowClient().get_metric_history(first["mlflow_run_id"], "val_loss")
    assert [m.step for m in hist] == [1, 2, 3] and min(m.value for m in hist) == pytest.approx(first["best_val_loss"])
    # the champion embeds on executors' code path, an index built with it answers, version 2 is refused
    vec, idx = tmp_path / "vec", tmp_path / "idx"
    emb = embed.run(None, load_config(embed.CONFIG, None, [f"input={root / 'in'}", f"output={vec}", "torch_threads=1"]))
    assert emb["model_version"] == str(champion) and (emb["written"], emb["rejected"]) == (96, 1)
    build.run(None, load_config(build.CONFIG, None, [f"input={vec}", f"output={idx}"]))
    np.save(tmp_path / "q.npy", np.zeros((3, 64, 64), np.float32) + 0.1)
    ok = search.run(None, load_config(search.CONFIG, None, [f"index={idx}", f"query={tmp_path / 'q.npy'}",
                                                            f"output={tmp_path / 's1'}", "contact_sheets=0"]))
    assert ok["written"] == 1 and ok["model_version"] == str(champion)
    with pytest.raises(SkysiftError, match=rf"built with model version '{champion}'.*"
                                           rf"models:/skysift-image-encoder/{other} is version '{other}'"):
        search.run(None, load_config(search.CONFIG, None, [
            f"index={idx}", f"query={tmp_path / 'q.npy'}", f"output={tmp_path / 's2'}",
            f"model_uri=models:/skysift-image-encoder/{other}"]))
    torch.set_num_threads(1)
