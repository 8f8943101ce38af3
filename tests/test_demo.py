"""skysift.demo's pieces that run in seconds (the whole demo is `make demo`)."""
from __future__ import annotations

from collections import Counter

import pytest

from skysift import demo
from skysift.demo import imaging, pipelines
from skysift.demo.index_page import write_index
from skysift.config import ConfigError


def test_photoobj_types_of_the_real_catalog(shared_data):
    path = shared_data / "sdss-imaging" / imaging.REAL_U_PHOTOOBJ
    if not path.exists():
        pytest.skip("photoObj 3900-6-269 not present")
    counts = Counter(imaging.photoobj_types(path).values())
    # MANIFEST.md: 981 objects, OBJC_TYPE 3 = galaxy 588, 6 = star 357, 0 = unknown 31, 8 = sky 5
    assert counts == {"galaxy (type 3)": 588, "star (type 6)": 357, "other": 36}


def test_index_page_shows_the_figures(tmp_path):
    (tmp_path / "imaging_report").mkdir()
    png = tmp_path / "imaging_report" / "field.png"
    png.write_bytes(b"\x89PNG")
    stages = [{"stage": "s", "job": "ingest-frames", "seconds": 1.0, "summary": {"read": 3, "written": 3, "rejected": 0}}]
    page = write_index(tmp_path, stages, {"fields": tmp_path}, {"Imaging": {"a field & its tiles": png}}).read_text()
    assert "<h2>Imaging</h2>" in page and "a field &amp; its tiles" in page
    assert "<img src='imaging_report/field.png'" in page
    assert "<h2>Imaging</h2>" not in write_index(tmp_path, stages, {}).read_text()


def test_config_checks():
    with pytest.raises(ConfigError, match="imaging_fields"):
        demo.DemoConfig(imaging_fields=0)
    with pytest.raises(ConfigError, match="K up to 800 needs at least that many emission_templates"):
        demo.DemoConfig(emission_pq_runs=("2/25/100", "2/250/800"), emission_templates=400)


def test_pipeline_subset_adds_what_it_needs_and_refuses_unknown_names():
    assert pipelines.resolve(("imaging", "spectral")) == ["spectral", "imaging"]
    for name, needs in pipelines.REQUIRES.items():
        assert set(needs) <= set(pipelines.resolve((name,)))
    with pytest.raises(ConfigError, match="unknown \\['nope'\\]"):
        demo.DemoConfig(pipelines=("nope",))
    for name in pipelines.PIPELINES:  # every listed pipeline is a module with run(demo)
        assert callable(pipelines.module(name).run)


def test_subset_from_the_command_line():
    from skysift.config import load_config

    cfg = load_config(demo.CONFIG, None, ["pipelines=imaging"])
    assert cfg.pipelines == ("imaging",)


def test_similarity_pipeline_needs_imaging_and_its_query_table(tmp_path):
    """The similarity pipeline pulls in imaging; its query table is the first stamp of 4 classes and a quarter
    turn of the first, ids as the index names them (stamp-<id>)."""
    import numpy as np
    import pyarrow.parquet as pq

    from skysift.demo import similarity
    from skysift.testing.images import small_stamps

    assert pipelines.resolve(("similarity",)) == ["imaging", "similarity"]
    stamps, truth = small_stamps(96)
    q = pq.read_table(similarity.query_table(stamps, truth, tmp_path / "q"))
    labels = pq.read_table(truth).to_pandas().set_index("stamp_id")["label"]
    ids = q.column("image_id").to_pylist()
    assert len(ids) == 5 and ids[4] == f"{ids[0]}-turned-90"
    assert labels.loc[[int(i.split("-")[1]) for i in ids[:4]]].nunique() == 4
    px = np.stack(q.column("pixels").to_numpy(zero_copy_only=False)).reshape(5, 3, 64, 64)
    assert np.array_equal(px[4], np.rot90(px[0], 1, axes=(-2, -1)))
