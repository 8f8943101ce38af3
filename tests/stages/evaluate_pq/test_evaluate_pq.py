"""`skysift evaluate-pq` (Lu et al. 2022 section 3.1.4) at a tiny size, and its kernel against brute-force ADC."""
from __future__ import annotations

import numpy as np
import pytest

from skysift.cli import run_job
from skysift.kb.pq import encode, reconstruct, train_codebook
from skysift.runtime.output import read_table
from skysift.stages.evaluate_pq.tasks import top1_is_galaxy
from skysift.synth.pq_validity import f_star_spectra


def test_top1_equals_brute_force_adc():
    """The top-1 class is the class of the template whose centroid reconstruction is nearest (squared ADC)."""
    rng = np.random.default_rng(2)
    db = rng.normal(size=(300, 100)).astype(np.float32)
    is_gal = rng.random(300) < 0.2
    q = db[is_gal] + rng.normal(0, 0.1, (is_gal.sum(), 100)).astype(np.float32)
    got = top1_is_galaxy(db, is_gal, q, 25, 3, "squared", 5, 10)
    cb = train_codebook(db, 25, 3, seed=5, n_iter=10)
    rec = reconstruct(cb, encode(cb, db))
    d = ((q[:, None, :] - rec[None, :, :]) ** 2).sum(axis=2)
    assert np.array_equal(got, is_gal[np.argmin(d, axis=1)])


def test_f_stars_are_f_types():
    b = f_star_spectra(40, 3)
    assert set(b.truth["subclass"]) <= {"F0", "F5"} and (b.truth["snr"] >= 50).all()


def test_job_table_both_normalisations(tmp_path):
    summary = run_job("evaluate-pq", ["--output", str(tmp_path / "o"), "--set", "n_stars=60", "--set", "n_galaxies=8",
                                      "--set", "k_values=[2, 4]"])
    t = read_table(tmp_path / "o").to_pandas()
    assert len(t) == 2 * 2 * 2 and set(t["normalisation"]) == {"l2", "lu2022"} and set(t["query"]) == {"inside", "outside"}
    assert t["share_top1_galaxy"].between(0, 1).all() and (t["n_queries"] == 8).all()
    assert t.loc[t["k"] == 2, "paper_share"].eq(0.58).all()
    assert summary["balanced"] is True
    with pytest.raises(Exception, match="n_segments must divide"):
        run_job("evaluate-pq", ["--output", str(tmp_path / "p"), "--set", "n_segments=30"])
