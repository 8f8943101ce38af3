"""search-images: faiss + combined-score re-ranking vs the exhaustive scan (recall@k, brute force), query
files, position queries, contact sheets, model-version refusal, read = written + rejected."""
from __future__ import annotations

import types

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.config import load_config
from skysift.images.cutout_table import stamps_with_positions
from skysift.kb.patch_search import read_features
from skysift.models.image_similarity import combined_similarity_numpy
from skysift.runtime.errors import SkysiftError
from skysift.runtime.output import read_table
from skysift.stages.build_image_index import job as build
from skysift.stages.embed_images import job as embed
from skysift.stages.search_images import job as search
from skysift.testing.images import checkpoint, small_stamps

N = 96


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """96 stamps as a cutouts table (positions on a line of 0.01 deg steps), embedded and indexed."""
    root = tmp_path_factory.mktemp("search")
    stamps = read_table(small_stamps(N)[0])
    (root / "cut").mkdir()
    pq.write_table(stamps_with_positions(stamps, 150.0 + 0.01 * np.arange(N), np.full(N, 2.0), "c"),
                   root / "cut" / "part-0.parquet", row_group_size=32)
    model = checkpoint(str(root / "m.pt"), seed=5)
    embed.run(None, load_config(embed.CONFIG, None, [f"input={root / 'cut'}", f"output={root / 'vec'}",
                                                     f"model_uri={model}", "torch_threads=1"]))
    build.run(None, load_config(build.CONFIG, None, [f"input={root / 'vec'}", f"output={root / 'idx'}"]))
    px = np.stack(stamps.column("pixels").to_numpy(zero_copy_only=False)).reshape(N, 3, 64, 64)
    return {"root": root, "model": model, "px": px, "stamps": stamps}


def _search(setup, name, *extra, spark=None):
    cfg = load_config(search.CONFIG, None, [f"index={setup['root'] / 'idx'}", f"output={setup['root'] / name}",
                                            f"model_uri={setup['model']}", *extra])
    return search.run(spark, cfg)


def test_faiss_path_recall_against_the_exhaustive_scan(setup):
    q = setup["root"] / "q20"
    q.mkdir()
    pq.write_table(setup["stamps"].slice(0, 20), q / "part-0.parquet")
    for cand in (10, 20, 40):  # 100 candidates would be the whole index of 96
        s = _search(setup, "both", f"query={q}", "mode=both", "contact_sheets=0", f"candidates={cand}")
        print(f"recall@10 faiss ({cand} candidates of {N}) vs exhaustive: {s['recall_at_10_faiss_vs_exhaustive']}")
    assert s["candidates"] == 40 and s["recall_at_10_faiss_vs_exhaustive"] >= 0.9
    assert (s["read"], s["written"], s["rejected"]) == (20, 20, 0)
    m = read_table(setup["root"] / "both").to_pandas()
    assert len(m) == 200 and (m.groupby("query_id")["rank"].apply(list).map(lambda r: r == list(range(1, 11)))).all()
    # each query is in the index: it finds itself first, with similarity 1 (w1 + w2 + w3)
    top = m[m["rank"] == 1]
    assert (top["image_id"] == "c" + top["query_id"]).all()
    assert np.allclose(top["similarity"], 1.0, atol=1e-3)


def test_exhaustive_scan_equals_brute_force(setup):
    np.save(setup["root"] / "one.npy", np.rot90(setup["px"][7], 1, (-2, -1)).copy())
    s = _search(setup, "ex", f"query={setup['root'] / 'one.npy'}", "mode=exhaustive", "k=5", "contact_sheets=1")
    m = read_table(setup["root"] / "ex").to_pandas()
    vec = read_table(setup["root"] / "vec").to_pandas()
    feats = {r.image_id: read_features(str(setup["root"] / "vec" / r.features_file))[r.features_row]
             for r in vec.itertuples()}
    # the query's own features, from the model directly
    import torch

    from skysift.images.network_input import network_input
    from skysift.runtime.tracking import load_image_encoder, resolve_model

    t = pa.table({"image_id": ["q"], "bands": ["grz"], "size_px": pa.array([64], pa.int16()),
                  "pixels": pa.array([np.rot90(setup["px"][7], 1, (-2, -1)).ravel()], type=pa.list_(pa.float32()))})
    _, x, _ = network_input(t, 64)
    with torch.no_grad():
        qf = load_image_encoder(resolve_model(setup["model"]))(torch.from_numpy(x))[0].numpy()
    sims = {i: combined_similarity_numpy(qf, f.astype(np.float32)) for i, f in feats.items()}
    ref = sorted(sims, key=lambda i: -sims[i])[:5]
    assert m["image_id"].tolist() == ref
    assert np.allclose(m["similarity"], [sims[i] for i in ref], atol=1e-4)
    assert s["written"] == 1 and (setup["root"] / "ex" / "sheets" / "query-0000.png").exists()
    import matplotlib.image

    assert matplotlib.image.imread(setup["root"] / "ex" / "sheets" / "query-0000.png").shape[2] in (3, 4)


def test_position_query_and_outside_every_field(setup):
    s = _search(setup, "pos", "ra=150.2", "dec=2.0001", "contact_sheets=0", "k=3")
    assert s["position"]["cutout"] == "c20" and s["position"]["separation_arcsec"] == pytest.approx(0.36, abs=0.01)
    assert s["top1"] == ["c20"]
    with pytest.raises(SkysiftError, match=r"outside every field .* the nearest cutout, c0, is .* arcsec away") as e:
        _search(setup, "far", "ra=149.9", "dec=2.0")
    assert "\n" not in str(e.value)


def test_bad_query_rows_are_rejected(setup):
    bad = setup["px"][:3].copy()
    bad[1, 0, 0, 0] = np.inf
    np.save(setup["root"] / "three.npy", bad)
    s = _search(setup, "rej", f"query={setup['root'] / 'three.npy'}", "contact_sheets=0")
    assert (s["read"], s["written"], s["rejected"]) == (3, 2, 1)


@pytest.mark.slow
def test_spark_exhaustive_equals_in_process(spark, setup):
    np.save(setup["root"] / "two.npy", setup["px"][[3, 50]])
    a = _search(setup, "ex-local", f"query={setup['root'] / 'two.npy'}", "mode=exhaustive", "contact_sheets=0")
    b = _search(setup, "ex-spark", f"query={setup['root'] / 'two.npy'}", "mode=exhaustive", "contact_sheets=0",
                "exhaustive_tasks=2", spark=spark)
    ta, tb = (read_table(setup["root"] / n).to_pandas() for n in ("ex-local", "ex-spark"))
    assert ta["image_id"].tolist() == tb["image_id"].tolist() and a["written"] == b["written"] == 2


def test_index_of_another_model_version_is_refused(monkeypatch):
    from skysift.runtime import tracking

    monkeypatch.setattr(tracking, "resolve_model", lambda uri, tracking_uri=None: {"version": 3, "dir": "x", "meta": {}})
    meta = types.SimpleNamespace(model_version="2", model_uri="models:/skysift-image-encoder@champion")
    cfg = load_config(search.CONFIG, None, ["index=/i", "output=/o", "query=q.npy"])
    with pytest.raises(SkysiftError, match=r"built with model version '2'.*is version '3'"):
        search.check_model(meta, "/i", cfg)
    meta.model_version = "3"
    assert search.check_model(meta, "/i", cfg)["version"] == 3


def test_real_sdss_cutout_found_by_position(setup, shared_data, tmp_path):
    """The real 51 px SDSS cutout (5 bands, 0.396"/px) indexed with stamps, queried by its sky position."""
    from skysift.images.cutout_table import read_sdss_cutouts

    sdss, _ = read_sdss_cutouts(str(shared_data / "sdss-imaging"))
    stamps = stamps_with_positions(setup["stamps"].slice(0, 20), np.full(20, 10.0), np.arange(20.0), "c")
    (tmp_path / "cut").mkdir()
    pq.write_table(pa.concat_tables([stamps, sdss]), tmp_path / "cut" / "part-0.parquet")
    embed.run(None, load_config(embed.CONFIG, None, [f"input={tmp_path / 'cut'}", f"output={tmp_path / 'vec'}",
                                                     f"model_uri={setup['model']}", "torch_threads=1"]))
    build.run(None, load_config(build.CONFIG, None, [f"input={tmp_path / 'vec'}", f"output={tmp_path / 'idx'}"]))
    s = search.run(None, load_config(search.CONFIG, None, [
        f"index={tmp_path / 'idx'}", "ra=164.4311", "dec=39.0359", f"output={tmp_path / 's'}",
        f"model_uri={setup['model']}", "k=5"]))
    assert s["position"]["cutout"] == "sdss-164.4311-39.0359" and s["position"]["separation_arcsec"] < 1.0
    assert s["top1"] == ["sdss-164.4311-39.0359"] and (tmp_path / "s" / "sheets" / "query-0000.png").exists()


def test_dihedral_query_symmetries_find_the_original_of_a_turned_or_mirrored_query(setup):
    """query_symmetries=dihedral: any quarter turn or mirror of an indexed image finds it first with similarity
    1 (its own symmetry is among the 8), in both the faiss and the exhaustive path; without it, the untrained
    encoder finds few of them (it has learned no invariance)."""
    from skysift.images.symmetry import DIHEDRAL, apply_symmetry

    picks = [(i, DIHEDRAL[1 + i % 7]) for i in range(0, N, 12)]  # 8 queries, every non-identity symmetry
    rows = setup["stamps"].take([i for i, _ in picks])
    turned = np.stack([apply_symmetry(setup["px"][i], k, m) for i, (k, m) in picks]).reshape(len(picks), -1)
    rows = rows.set_column(rows.schema.get_field_index("pixels"), "pixels",
                           pa.array(list(turned), type=rows.schema.field("pixels").type))
    (setup["root"] / "turned").mkdir()
    pq.write_table(rows, setup["root"] / "turned" / "part-0.parquet")  # a stamps table: same pixel scale
    q = f"query={setup['root'] / 'turned'}"
    s = _search(setup, "sym", q, "mode=both", "query_symmetries=dihedral", "contact_sheets=0", "k=5")
    m = read_table(setup["root"] / "sym").to_pandas()
    top = m[m["rank"] == 1].sort_values("query_id", key=lambda c: c.astype(int))
    assert top["image_id"].tolist() == [f"c{i}" for i, _ in picks]
    assert np.allclose(top["similarity"], 1.0, atol=1e-3) and s["recall_at_5_faiss_vs_exhaustive"] == 1.0
    assert s["query_symmetries"] == 8
    plain = _search(setup, "nosym", q, "mode=exhaustive", "contact_sheets=0", "k=5")
    m = read_table(setup["root"] / "nosym").to_pandas()
    hits = (m[m["rank"] == 1].sort_values("query_id")["image_id"].tolist())
    assert plain["written"] == 8 and sum(h in {f"c{i}" for i, _ in picks} for h in hits) < 8


def test_array_query_with_its_pixel_scale_matches_the_indexed_stamp(setup):
    """A .npy query is brought to the stretch's surface-brightness scale only with query_pixel_scale_arcsec:
    with the stamps' 1.048"/px it equals the indexed stamp (similarity 1); without, it looks 16x brighter."""
    np.save(setup["root"] / "s9.npy", setup["px"][9])
    scale = float(setup["stamps"].column("pixel_scale_arcsec")[9].as_py())
    assert scale == pytest.approx(1.048, abs=1e-3)
    _search(setup, "px-scaled", f"query={setup['root'] / 's9.npy'}", f"query_pixel_scale_arcsec={scale}",
            "mode=exhaustive", "contact_sheets=0", "k=3")
    _search(setup, "px-raw", f"query={setup['root'] / 's9.npy'}", "mode=exhaustive", "contact_sheets=0", "k=3")
    scaled, raw = (read_table(setup["root"] / n).to_pandas() for n in ("px-scaled", "px-raw"))
    assert scaled["image_id"].iloc[0] == "c9" and scaled["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-3)
    assert raw["similarity"].iloc[0] < 0.99


def test_a_masked_encoder_masks_its_queries(setup):
    """An encoder trained with model.input_mask=central_source: its queries are masked as its index entries
    were, so each stamp finds itself first with similarity 1; the same stamp unmasked scores lower."""
    import torch

    from skysift.images.network_input import network_input
    from skysift.runtime.tracking import load_image_encoder, resolve_model

    root = setup["root"]
    model = checkpoint(str(root / "masked.pt"), seed=5, input_mask="central_source")
    embed.run(None, load_config(embed.CONFIG, None, [f"input={root / 'cut'}", f"output={root / 'mvec'}",
                                                     f"model_uri={model}", "torch_threads=1"]))
    build.run(None, load_config(build.CONFIG, None, [f"input={root / 'mvec'}", f"output={root / 'midx'}"]))
    q = root / "mq"
    q.mkdir()
    pq.write_table(setup["stamps"].slice(0, 10), q / "part-0.parquet")
    s = search.run(None, load_config(search.CONFIG, None, [
        f"index={root / 'midx'}", f"output={root / 'mout'}", f"model_uri={model}", f"query={q}", "k=3",
        "contact_sheets=1"]))
    top = read_table(root / "mout").to_pandas().query("rank == 1")
    assert s["written"] == 10 and (top["image_id"] == "c" + top["query_id"]).all()
    assert np.allclose(top["similarity"], 1.0, atol=1e-3)
    enc = load_image_encoder(resolve_model(model))
    with torch.no_grad():
        masked = enc(torch.from_numpy(network_input(setup["stamps"].slice(0, 10), 64, mask="central_source")[1]))
        whole = enc(torch.from_numpy(network_input(setup["stamps"].slice(0, 10), 64)[1]))
    unmasked_self = combined_similarity_numpy(whole.numpy()[0], masked.numpy()[0])
    assert unmasked_self < 0.99, unmasked_self
