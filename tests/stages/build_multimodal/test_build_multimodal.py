"""build-multimodal on a small synthetic multimodal set: the join, the rejects with reasons, the quality levels."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skysift.runtime.output import read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.build_multimodal.config import BuildMultimodalConfig
from skysift.stages.build_multimodal.tasks import add_quality_levels, label_column, reject_reason
from skysift.testing.multimodal import cutouts_table


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from skysift.synth.imaging.multimodal import multimodal_set

    m = multimodal_set(seed=3, n_objects=14)
    root = tmp_path_factory.mktemp("mm")
    cut = cutouts_table(m)
    (root / "cutouts" / "cutouts").mkdir(parents=True)
    pq.write_table(cut.slice(1), root / "cutouts" / "cutouts" / "part-0.parquet")  # object 0 has no cutout
    (root / "spectra").mkdir()
    pq.write_table(m.spectra.filter(pa.compute.not_equal(m.spectra["spec_id"], m.mpajhu["spec_id"][1])),
                   root / "spectra" / "part-0.parquet")  # object 1 has no spectrum
    lab = m.mpajhu.to_pandas()
    lab.loc[2, "AVG"] = np.nan
    lab.loc[2, "FLAG"] = 0
    lab = lab.rename(columns={"AVG": "AVR"})  # the thesis's name
    (root / "labels").mkdir()
    pq.write_table(pa.Table.from_pandas(lab, preserve_index=False), root / "labels" / "part-0.parquet")
    return m, root, lab


def test_reason_rule_and_label_column():
    assert reject_reason(2, 0.1, True, True) == "FLAG=2"
    assert reject_reason(0, float("nan"), True, True) == "non-finite label"
    assert reject_reason(0, 0.1, False, False) == "no cutout"
    assert reject_reason(0, 0.1, True, False) == "no spectrum"
    assert reject_reason(0, 0.1, True, True) is None
    assert label_column(["x", "AVG", "AVR"], "auto", "t") == "AVG"
    assert label_column(["x", "avr"], "auto", "t") == "avr"
    with pytest.raises(Exception, match="no label column AVG or AVR"):
        label_column(["x"], "auto", "t")


def test_quality_levels_are_ivar_weighted_bins():
    import pandas as pd

    flux = np.arange(16, dtype=np.float32)
    ivar = np.ones(16, np.float32)
    ivar[0] = 0
    out = add_quality_levels(pd.DataFrame({"flux": [flux], "ivar": [ivar]}), (1, 2, 4, 8))
    assert len(out["flux_q1"].iat[0]) == 8 and len(out["flux_q3"].iat[0]) == 2
    assert out["flux_q1"].iat[0][0] == pytest.approx(1.0)  # pixel 0 has no weight
    assert out["flux_q2"].iat[0][1] == pytest.approx(5.5)


def test_job_joins_and_rejects_with_reasons(spark, inputs, tmp_path):
    from skysift.stages.build_multimodal.job import run

    m, root, lab = inputs
    ids = [str(i) for i in m.object_id[:6]]  # image embeddings of six objects only
    (tmp_path / "vec").mkdir()
    pq.write_table(pa.table({"image_id": ids, "embedding": [np.full(4, k, np.float32) for k in range(6)]}),
                   tmp_path / "vec" / "part-0.parquet")
    cfg = BuildMultimodalConfig(cutouts=str(root / "cutouts"), spectra=str(root / "spectra"),
                                labels=str(root / "labels"), output=str(tmp_path / "out"),
                                image_embeddings=str(tmp_path / "vec"), hats_pixel_threshold=4)
    summary = run(spark, cfg)
    expected = {}
    for i, r in lab.iterrows():
        why = reject_reason(int(r.FLAG), r.AVR, i != 0, i != 1)
        if why:
            expected[str(r.object_id)] = why
    rej = read_rejects(summary["output"]).to_pandas()
    assert dict(zip(rej["spec_id"], rej["reason"])) == expected
    assert "no cutout" in expected.values() and "no spectrum" in expected.values() and "non-finite label" in expected.values()
    assert summary["read"] == len(lab) == summary["written"] + summary["rejected"]
    out = read_table(summary["output"], under="multimodal").to_pandas().sort_values("object_id")
    assert set(out["object_id"]) == set(lab["object_id"].astype(str)) - set(expected)
    # the row carries the object's own cutout, spectrum and label
    k = int(out["object_id"].iat[0])
    i = int(np.flatnonzero(m.object_id == k)[0])
    np.testing.assert_array_equal(np.asarray(out["pixels"].iat[0], np.float32), m.pixels[i].ravel())
    np.testing.assert_array_equal(np.asarray(out["flux"].iat[0], np.float32), np.asarray(m.spectra["flux"][i].as_py(), np.float32))
    assert out["log_sfr"].iat[0] == pytest.approx(float(lab.loc[lab.object_id == k, "AVR"].iloc[0]), rel=1e-6)
    assert len(out["flux_q3"].iat[0]) == len(out["flux"].iat[0]) // 8
    assert set(out["class"]) <= {"GALAXY", "QSO"}
    emb = {r.object_id: r.image_embedding for r in out.itertuples()}
    for k, i in enumerate(ids):
        if i in emb:
            assert list(emb[i]) == [k] * 4
    assert all(emb[i] is None for i in emb if i not in ids) and out["spectrum_embedding"].isna().all()
    # the HATS copy: the same rows, which lsdb opens and a cone search slices
    lsdb = pytest.importorskip("lsdb")
    cat = lsdb.open_catalog(summary["hats"])
    assert len(cat.get_healpix_pixels()) >= 2  # partitioned (threshold 4 rows)
    df = cat.compute().reset_index()
    assert sorted(df["object_id"]) == sorted(out["object_id"])
    r0 = out.iloc[0]
    cone = cat.cone_search(float(r0.ra_deg), float(r0.dec_deg), 1.0).compute()
    assert list(cone["object_id"]) == [r0.object_id]
    np.testing.assert_array_equal(np.asarray(cone["pixels"].iat[0], np.float32), np.asarray(r0.pixels, np.float32))
