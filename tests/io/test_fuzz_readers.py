"""Fuzzing the FITS readers (issue 18, part 1): damaged copies of the real files never crash, hang or disagree.

Seeds: the real files in ../shared/data. Moves: ``skysift.synth.broken_files.MUTATION_KINDS``.
Properties (``skysift.bench.fuzz_bench.check_spectra`` / ``check_frame``): spectra or one-line Rejects
naming the file, no exception out of any back end except a classified one, a time bound per read,
identical arrays and metadata wherever the raw scanner and astropy both accept a file (frames: pixels and
SDSS calibration equal to astropy's). Memory is bounded in a worker process with RLIMIT_AS
(``test_fuzz_in_a_memory_capped_worker``). The long run is ``skysift benchmark fuzz --set cases=N``.
"""
from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skysift.bench.fuzz_bench import (
    check_frame,
    check_spectra,
    is_unclassified,
    load_seeds,
    run_case,
    run_fuzz,
    spectra_difference,
    strict_spectra,
)
from skysift.io.frames import Frame, read_frame
from skysift.io.spectra_fits import read_spectra_file
from skysift.runtime.rejects import Reject
from skysift.spectra.native import NativeSpectrum
from skysift.synth.broken_files import (
    MUTATION_KINDS,
    edit_card,
    fits_layout,
    write_broken_corpus,
    write_broken_frame_corpus,
)

pytestmark = pytest.mark.filterwarnings("ignore")

# CI sizes: hypothesis examples per test (the benchmark runs 20,000 and more).
SPECTRA_EXAMPLES = 1200
FRAME_EXAMPLES = 1000
SMOKE_SPECTRA, SMOKE_FRAMES = 48, 24


@pytest.fixture(scope="module")
def spectrum_seeds(shared_data):
    return load_seeds(shared_data, readers=("spectra",))


@pytest.fixture(scope="module")
def frame_seeds(shared_data):
    """The five stamps and one full SDSS frame (decompressing all four frames would cost seconds per run)."""
    seeds = load_seeds(shared_data, readers=("frame",), full_frames=False)
    return seeds + load_seeds(shared_data, readers=("frame",), names=("frame-r-002583-2-0136.fits.bz2",))


def _settings(n: int):
    return settings(max_examples=n, derandomize=True, database=None, deadline=timedelta(seconds=120), print_blob=True,
                    suppress_health_check=list(HealthCheck))


def _fuzz(seeds, folder, n: int) -> list[dict]:
    results: list[dict] = []

    @_settings(n)
    @given(i=st.integers(0, len(seeds) - 1), kind=st.sampled_from(MUTATION_KINDS), case_seed=st.integers(0, 2**63 - 1))
    def one(i, kind, case_seed):
        r = run_case(seeds[i], kind, case_seed, str(folder))
        results.append(r)
        assert not r["violations"], f"{seeds[i].name} {kind} case_seed={case_seed} ({r['what']}): {r['violations']}"

    one()
    return results


def _report(results: list[dict], label: str) -> None:
    kinds = Counter(r["kind"] for r in results)
    outcomes = Counter(o for r in results for o in (f"{k}:{v}" for k, v in r["outcome"].items()))
    agree = Counter(k for r in results for k, ok in r["agreement"].items() if ok)
    checked = Counter(k for r in results for k in r["agreement"])
    worst = max((max(r["seconds"].values()) for r in results if r["seconds"]), default=0.0)
    print(f"\n{label}: {len(results)} cases; kinds {dict(sorted(kinds.items()))}; outcomes {dict(sorted(outcomes.items()))}; "
          f"agreement {dict(agree)} of {dict(checked)}; slowest read {worst:.2f} s")


def _assert_coverage(results, min_per_kind: int, agreement_key: str, min_agreement: int) -> None:
    kinds = Counter(r["kind"] for r in results)
    assert set(kinds) == set(MUTATION_KINDS) and min(kinds.values()) >= min_per_kind, kinds
    # The test must not pass by rejecting everything: enough damaged files are still read, and compared.
    assert sum(agreement_key in r["agreement"] for r in results) >= min_agreement


def test_fuzz_spectra_smoke(spectrum_seeds, tmp_path):
    results = _fuzz(spectrum_seeds, tmp_path, SMOKE_SPECTRA)
    assert len(results) >= SMOKE_SPECTRA


def test_fuzz_frames_smoke(frame_seeds, tmp_path):
    results = _fuzz(frame_seeds, tmp_path, SMOKE_FRAMES)
    assert len(results) >= SMOKE_FRAMES


@pytest.mark.slow
def test_fuzz_spectra(spectrum_seeds, tmp_path):
    t0 = time.perf_counter()
    results = _fuzz(spectrum_seeds, tmp_path, SPECTRA_EXAMPLES)
    _report(results, f"spectra fuzz ({time.perf_counter() - t0:.0f} s)")
    _assert_coverage(results, SPECTRA_EXAMPLES // len(MUTATION_KINDS) // 3, "raw-astropy", SPECTRA_EXAMPLES // 5)


@pytest.mark.slow
def test_fuzz_frames(frame_seeds, tmp_path):
    t0 = time.perf_counter()
    results = _fuzz(frame_seeds, tmp_path, FRAME_EXAMPLES)
    _report(results, f"frame fuzz ({time.perf_counter() - t0:.0f} s)")
    _assert_coverage(results, FRAME_EXAMPLES // len(MUTATION_KINDS) // 3, "frame-astropy", FRAME_EXAMPLES // 5)


# ------------------------------------------------------------------ truncation at every structural boundary


def _boundaries(layout) -> list[int]:
    marks = set()
    for h in layout:
        marks.update((h.header_start, h.data_start, h.data_end, h.span_end, h.end_card, h.end_card + 80))
        marks.update(range(h.header_start, h.data_start, 2880))
        if h.heap_start is not None:
            marks.add(h.heap_start)
    return sorted(m for m in marks if m > 0)


@pytest.mark.parametrize("name", ["spec-0266-51602-0107.fits", "spec-3586-55181-0003.fits",
                                  pytest.param("spec-0332-52367-0639.fits", marks=pytest.mark.slow),  # 10 HDUs: ~20 s
                                  "spec-58397-EG014118N254444M01_sp03-031.fits"])
def test_truncation_at_every_boundary_spectra(spectrum_seeds, tmp_path, name):
    """Cut at (and one byte either side of) every header block, data start, data end, heap start and HDU end."""
    (seed,) = [s for s in spectrum_seeds if s.name == name]
    needed = seed.layout[0].data_end if len(seed.layout) == 1 else seed.layout[2].data_end  # LAMOST: HDU0; SDSS: HDU0-2
    n_cut = n_rejected = 0
    for mark in _boundaries(seed.layout):
        for cut in {mark - 1, mark, mark + 1} - {len(seed.data)}:
            if not 0 < cut < len(seed.data):
                continue
            path = tmp_path / name
            path.write_bytes(seed.data[:cut])
            res = check_spectra(str(path), backends=("raw", "astropy"))
            assert not res["violations"], (cut, res["violations"])
            n_cut += 1
            if cut < needed:  # the bytes a reader needs are cut: every back end must reject
                assert res["outcome"]["auto"] == "reject:read", (cut, res["outcome"])
                assert res["outcome"]["raw"] == res["outcome"]["astropy"] == "problem", (cut, res["outcome"])
                n_rejected += 1
    assert n_cut >= 20 and n_rejected >= 10
    print(f"\n{name}: {n_cut} cuts, {n_rejected} before the end of the HDUs it needs")


def test_truncation_at_every_boundary_frame(frame_seeds):
    seed = next(s for s in frame_seeds if s.name.startswith("stamp-r"))
    n_cut = 0
    for mark in _boundaries(seed.layout):
        for cut in {mark - 1, mark, mark + 1}:
            if not 0 < cut < len(seed.data):
                continue
            res = check_frame(seed.name, seed.data[:cut])
            assert not res["violations"], (cut, res["violations"])
            if cut < seed.layout[0].data_end:
                assert res["outcome"]["frame"] == "reject:read", (cut, res)
            n_cut += 1
    assert n_cut >= 10


# ------------------------------------------------------------------ regression cases of the bugs the fuzzing found


REGRESSIONS = {
    "naxis_absurd_primary.fits": "HDU 0: NAXIS = 2147483647 is not an integer in 0..999",
    "naxis_absurd_coadd.fits": "HDU 1: NAXIS = 2147483647 is not an integer in 0..999",
    "lamost_naxis1_negative.fits": "HDU 0: NAXIS1 = -400 is not an integer in 0..2**62",
    "duplicate_flux_column.fits": "has 2 columns named 'flux' (ignoring case): ['flux', 'FLUX']",
    "bzip2_bomb.fits.bz2": "bzip2 stream decompresses to more than the cap of 32 MiB",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    return folder, write_broken_corpus(folder)


@pytest.mark.parametrize("backend", ["auto", "astropy", "fitsio"])
def test_spectrum_regressions_are_rejected_fast_with_their_reason(corpus, backend):
    """Before the fixes: NAXIS = 2**31-1 hung astropy (and the raw path, which fell back to it); a negative NAXIS1
    made the scanner call os.pread with a negative size; two columns named flux (any case) were silently
    read from either; a bzip2 bomb was decompressed whole."""
    folder, expected = corpus
    for name, reason in REGRESSIONS.items():
        assert expected[name] == "read"
        t0 = time.perf_counter()
        (r,) = read_spectra_file(folder / name, backend=backend)
        assert time.perf_counter() - t0 < 5
        assert isinstance(r, Reject) and r.stage == "read", (name, r)
        if backend != "fitsio" or name in ("duplicate_flux_column.fits", "bzip2_bomb.fits.bz2", "naxis_absurd_coadd.fits"):
            assert reason in r.reason, (name, r.reason)  # cfitsio refuses the other two itself, in its own words
        assert str(folder / name) in r.reason and not is_unclassified(r.reason)


def test_frame_regressions(tmp_path):
    expected = write_broken_frame_corpus(tmp_path)
    reasons = {
        "frame_empty.fits": "empty file",
        "frame_truncated.fits": "truncated: primary image needs bytes up to",
        "frame_naxis1_overflow.fits": "NAXIS1 = 1000000000000000000000000000000 is not an integer",  # OverflowError before
        "frame_bscale_text.fits": "BSCALE = 'abc' is not a finite number",  # ValueError out of float() before
        "frame_extension_naxis_absurd.fits": "HDU 1: NAXIS = 2147483647",  # astropy hang before
        "frame_missing_end.fits": "no END card in its first 360 blocks",  # astropy parsed 1 MB of pixels as cards
        "frame_bzip2_bomb.fits.bz2": "more than the cap of 64 MiB",
    }
    assert set(reasons) == set(expected)
    for name, reason in reasons.items():
        t0 = time.perf_counter()
        r = read_frame(tmp_path / name)
        assert time.perf_counter() - t0 < 5
        assert isinstance(r, Reject) and r.stage == expected[name] and reason in r.reason, (name, r)


def test_raw_and_astropy_agree_on_irregular_header_text(shared_data, tmp_path):
    """Cards the fuzzing turned up: a lowercase keyword (astropy upper-cases it; the scanner did not and lost Z),
    a non-ASCII byte in a string value (astropy reads '?'), a value outside the standard formats (the scanner
    hands the file to astropy, which reads no value)."""
    seed = (shared_data / "lamost-spectra" / "spec-55862-B6212_sp06-010.fits").read_bytes()
    span = fits_layout(seed)[0]
    z_off = next(o for o, k in span.cards if k == "Z")
    lower = bytearray(seed)
    lower[z_off] = ord("z")
    cases = {
        "lower.fits": (bytes(lower), "z", -0.00011828),
        "latin1.fits": (edit_card(seed, 0, "SUBCLASS", "'K\xe93'"), "subclass", "K?3"),
        "irregular.fits": (edit_card(seed, 0, "Z", "0x10"), "z", None),
    }
    for name, (data, attr, value) in cases.items():
        (tmp_path / name).write_bytes(data)
        res = {b: strict_spectra(str(tmp_path / name), b) for b in ("raw", "astropy")}
        (pub,) = read_spectra_file(tmp_path / name)
        assert isinstance(pub, NativeSpectrum) and getattr(pub, attr) == value, (name, pub)
        if res["raw"][0] == "spectra":
            assert spectra_difference(res["raw"][1], res["astropy"][1]) is None, name
        else:
            assert res["raw"][0] == "unsupported" and pub.extra["backend"] == "astropy", (name, res["raw"])
            assert "not a standard FITS value" in pub.extra["fallback_from"]


# ------------------------------------------------------------------ memory: the worker with an address-space cap


@pytest.mark.slow
def test_fuzz_in_a_memory_capped_worker(shared_data):
    """Cases that announce absurd sizes, in a worker whose address space may grow by 1 GiB only (RLIMIT_AS):
    no MemoryError, no hang (the parent kills a worker silent for 6 x the time bound), peak RSS per case measured."""
    kinds = ("card_edit", "missing_end", "truncate", "compressed_cut", "hdu_duplicate", "data_fill")
    summary = run_fuzz(shared_data, 150, seed=18, kinds=kinds, full_frames=False)
    assert summary["cases"] == 150
    assert summary["failing_cases"] == 0, [(f["seed"], f["kind"], f["case_seed"], f["violations"]) for f in summary["failures"]]
    worst_rss = max(row["max_rss_mb"] for row in summary["by_kind"].values())
    print(f"\nmemory-capped worker: {summary['cases']} cases in {summary['seconds']} s, worst peak-RSS growth {worst_rss} MB, "
          f"limit {summary['memory_limit_bytes'] >> 20} MiB over {summary['worker_vm_bytes'] >> 20} MiB")
    assert worst_rss < 512


def test_an_end_card_with_trailing_bytes_is_refused(shared_data, tmp_path):
    """'END' + 77 NUL bytes: astropy's full header parser takes it as the END card, its fast parser (the one
    fits.open tries first) reads on into the next HDU. The scanner read on too: for a stamp, the second plane's
    pixels became the image (found by the fuzz suite). Neither reading can be trusted: every back end refuses."""
    stamp_path = shared_data / "sdss-imaging" / "stamp-i-164.4311-39.0359.fits"
    stamp = stamp_path.read_bytes()
    end = fits_layout(stamp)[0].end_card
    r = read_frame(stamp_path.name, data=stamp[:end] + b"END" + b"\0" * 77 + stamp[end + 80 :])
    assert isinstance(r, Reject) and f"END card at byte {end} is followed by other bytes" in r.reason, r
    # A keyword that merely starts with END is no END card: the header runs into HDU1's and is refused.
    r = read_frame(stamp_path.name, data=stamp[:end] + b"ENDING  = 1".ljust(80) + stamp[end + 80 :])
    assert isinstance(r, Reject) and "runs into another HDU (XTENSION card at byte" in r.reason, r
    spec = (shared_data / "sdss-spectra" / "spec-0266-51602-0107.fits").read_bytes()
    end = fits_layout(spec)[0].end_card
    (tmp_path / "s.fits").write_bytes(spec[:end] + b"END" + b"\0" * 77 + spec[end + 80 :])
    for backend in ("auto", "astropy", "fitsio"):
        (r,) = read_spectra_file(tmp_path / "s.fits", backend=backend)
        assert isinstance(r, Reject) and "is followed by other bytes" in r.reason, (backend, r)


def test_duplicated_structural_keywords_are_refused(shared_data, tmp_path):
    """astropy sizes an HDU from the last NAXIS2 card and answers header.get('NAXIS2') with the first."""
    spec = (shared_data / "sdss-spectra" / "spec-0266-51602-0107.fits").read_bytes()
    span = fits_layout(spec)[1]
    blank = next(o for o, k in span.cards if k == "COMMENT")
    damaged = spec[:blank] + b"NAXIS2  =                    2".ljust(80) + spec[blank + 80 :]
    (tmp_path / "d.fits").write_bytes(damaged)
    (r,) = read_spectra_file(tmp_path / "d.fits")
    assert isinstance(r, Reject) and "has a second NAXIS2 card" in r.reason, r
