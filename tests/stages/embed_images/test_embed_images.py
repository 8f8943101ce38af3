"""embed-images: vectors and patch features equal a direct forward pass, bad images go to _rejects
(read = written + rejected), float16 storage keeps the re-ranking, Spark equals the in-process twin."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from skysift.config import ConfigError, load_config
from skysift.images.network_input import network_input
from skysift.kb.patch_search import read_features
from skysift.models.image_similarity import similarity_matrix
from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.embed_images import job
from skysift.testing.images import checkpoint, small_stamps

N = 40


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """40 stamps + 3 bad rows (NaN pixel, two bands, wrong pixel count), and an untrained tiny checkpoint."""
    root = tmp_path_factory.mktemp("embed")
    stamps = read_table(small_stamps(48)[0]).slice(0, N)
    bad = stamps.slice(0, 3).to_pylist()
    bad[0]["pixels"] = list(np.where(np.arange(len(bad[0]["pixels"])) == 7, np.nan, bad[0]["pixels"]))
    bad[1]["bands"], bad[1]["pixels"] = "gr", bad[1]["pixels"][: 2 * 64 * 64]
    bad[2]["pixels"] = bad[2]["pixels"][:100]
    for k, row in enumerate(bad):
        row["stamp_id"] = 1000 + k
    (root / "in").mkdir()
    pq.write_table(stamps, root / "in" / "part-0.parquet", row_group_size=16)
    pq.write_table(pa.Table.from_pylist(bad, schema=stamps.schema), root / "in" / "part-1.parquet")
    ckpt = checkpoint(str(root / "best.pt"), seed=3)
    return {"root": root, "input": str(root / "in"), "model": ckpt, "stamps": stamps}


def _run(images, out, spark=None, *extra):
    cfg = load_config(job.CONFIG, None, [f"input={images['input']}", f"output={out}", f"model_uri={images['model']}",
                                         "torch_threads=1", "rows_per_task=16", *extra])
    return job.run(spark, cfg)


@pytest.fixture(scope="module")
def embedded(images):
    out = images["root"] / "out32"
    return _run(images, out, None, "feature_dtype=float32"), out


def test_counts_and_rejects(embedded):
    s, out = embedded
    assert (s["read"], s["written"], s["rejected"]) == (N + 3, N, 3) and s["read"] == s["written"] + s["rejected"]
    rej = read_rejects(out).to_pandas().sort_values("spec_id")
    assert rej["spec_id"].tolist() == ["1000", "1001", "1002"] and set(rej["stage"]) == {"embed-images"}
    assert "non-finite" in rej["reason"].iloc[0] and "needs g, r, z" in rej["reason"].iloc[1]
    assert "pixels has 100 values" in rej["reason"].iloc[2]


def test_vectors_and_features_equal_a_direct_forward_pass(images, embedded):
    from skysift.runtime.tracking import load_image_encoder, resolve_model

    _, out = embedded
    vec = read_table(out).to_pandas().set_index("image_id").loc[[str(i) for i in range(N)]]
    model = load_image_encoder(resolve_model(images["model"]))
    _, x, _ = network_input(images["stamps"], 64)
    with torch.no_grad():
        feats, pooled = model.embed(torch.from_numpy(x))
    got = np.stack(vec["embedding"].to_numpy())
    assert np.allclose(got, pooled.numpy(), atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    stored = np.stack([read_features(str(out / f))[r] for f, r in zip(vec["features_file"], vec["features_row"])])
    assert stored.dtype == np.float32 and np.allclose(stored, feats.numpy(), atol=1e-5)


def test_a_masked_encoder_reads_the_central_source(images):
    """An encoder trained with model.input_mask=central_source embeds what it was trained on: the pixels
    outside each stamp's central footprint zeroed (images.central_source), not the whole stamp."""
    from skysift.runtime.tracking import load_image_encoder, resolve_model

    ckpt = checkpoint(str(images["root"] / "masked.pt"), seed=3, input_mask="central_source")
    out = images["root"] / "masked"
    cfg = load_config(job.CONFIG, None, [f"input={images['input']}", f"output={out}", f"model_uri={ckpt}",
                                         "torch_threads=1", "rows_per_task=16", "feature_dtype=float32"])
    s = job.run(None, cfg)
    assert (s["read"], s["written"], s["rejected"]) == (N + 3, N, 3)
    got = np.stack(read_table(out).to_pandas().set_index("image_id").loc[[str(i) for i in range(N)], "embedding"])
    model = load_image_encoder(resolve_model(ckpt))
    assert model.cfg.input_mask == "central_source"
    with torch.no_grad():
        masked = model.embed(torch.from_numpy(network_input(images["stamps"], 64, mask="central_source")[1]))[1]
        whole = model.embed(torch.from_numpy(network_input(images["stamps"], 64)[1]))[1]
    assert np.allclose(got, masked.numpy(), atol=1e-5)
    assert np.abs(got - whole.numpy()).max() > 1e-2  # the mask changed what was embedded


def test_float16_features_keep_the_reranking(images, embedded):
    """The measurement behind feature_dtype=float16: score error and top-10 agreement vs float32."""
    _, out32 = embedded
    out16 = images["root"] / "out16"
    _run(images, out16)
    f32 = np.concatenate([read_features(str(p)) for p in sorted((out32 / "features").glob("*.npy"))])
    f16 = np.concatenate([read_features(str(p)) for p in sorted((out16 / "features").glob("*.npy"))])
    assert f16.dtype == np.float16
    q = torch.from_numpy(f32[:10])
    s32 = similarity_matrix(q, torch.from_numpy(f32)).numpy()
    s16 = similarity_matrix(q, torch.from_numpy(f16)).numpy()
    err = np.abs(s16 - s32).max()
    print(f"float16 features: max |combined score error| {err:.2e}")
    assert err < 1e-3
    assert (np.argsort(-s32, 1)[:, :10] == np.argsort(-s16, 1)[:, :10]).all()


@pytest.mark.slow
def test_spark_matches_in_process(spark, images, embedded):
    _, out32 = embedded
    s = _run(images, images["root"] / "spark", spark, "feature_dtype=float32")
    assert (s["read"], s["written"], s["rejected"]) == (N + 3, N, 3) and s["tasks"] > 1
    a = read_table(out32).to_pandas().set_index("image_id").sort_index()
    b = read_table(images["root"] / "spark").to_pandas().set_index("image_id").sort_index()
    assert np.allclose(np.stack(a["embedding"]), np.stack(b["embedding"]), atol=1e-6)


def test_a_spectrum_encoder_is_refused(images, tmp_path):
    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder

    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id="lin:3850:9000:200")
    torch.save({"model_state": SpectrumEncoder(cfg).state_dict(), "model_config": cfg.to_dict()}, tmp_path / "s.pt")
    with pytest.raises(ConfigError, match="not a skysift image encoder"):
        _run({**images, "model": str(tmp_path / "s.pt")}, tmp_path / "o")
