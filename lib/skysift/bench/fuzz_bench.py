"""`skysift benchmark fuzz --set cases=N`: the FITS readers against damaged copies of the real survey files.

Seeds are the real files in ../shared/data (SDSS/BOSS spec and spec-lite, LAMOST
images, SDSS frames decompressed, SDSS stamps). Each case takes one seed and one
``skysift.synth.broken_files.MUTATION_KINDS`` move (bit flips, truncation at a
structural boundary, header cards edited / blanked, END removed, non-ASCII bytes,
HDUs swapped / copied / dropped, EXTNAME changed, data overwritten, compressed
streams cut or damaged) and checks the properties issue 18 asks for:

* ``read_spectra_file`` (public, ``backend='auto'``) and ``read_frame`` return
  spectra / a Frame or Rejects whose reason is one line naming the file; no
  exception escapes;
* each spectrum back end on its own (``strict_spectra``: raw scanner, astropy,
  fitsio, no fallback) ends in spectra, a classified problem, or ``Unsupported`` --
  any other exception type is a crash (the public reader would hide it behind the
  astropy fallback);
* wherever the raw scanner and astropy (and fitsio and astropy) both return spectra,
  the arrays (dtype and values) and the metadata are identical; for frames, the
  pixels equal astropy's reading of the same HDU;
* every read finishes within ``time_limit_s``; in the worker process (``run_fuzz``)
  the address space is capped with ``RLIMIT_AS`` and the peak RSS of every case is
  measured (``/proc/self/clear_refs``), a case that takes longer than the hang bound
  kills the worker and counts as a hang.

The same functions drive the hypothesis suite (tests/io/test_fuzz_readers.py).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from skysift.synth.broken_files import MUTATION_KINDS, fits_layout, mutate

SPECTRUM_BACKENDS = ("raw", "astropy", "fitsio")
"""Back ends ``strict_spectra`` runs on every spectrum case."""

TIME_LIMIT_S = 10.0
"""Per-file, per-back-end bound (the real files take 0.2-40 ms; 10 s leaves room for a 2-core machine shared by six jobs)."""

MEMORY_LIMIT_BYTES = 1 << 30
"""Address space a worker may add to what it holds after importing the readers (RLIMIT_AS = that + this)."""

RSS_LIMIT_BYTES = 512 << 20
"""Peak RSS growth one case may cost over the worker's idle RSS (the largest seed, an SDSS frame, is 12.4 MB)."""

@dataclasses.dataclass
class Seed:
    """One real file as the fuzzer's starting point."""

    name: str
    """File name (kept for the damaged copies: the frame reader parses SDSS frame names)."""
    reader: str
    """'spectra' or 'frame'."""
    data: bytes
    """The FITS bytes (decompressed when the file is compressed)."""
    stored: bytes
    """The file as stored (the bzip2 stream for SDSS frames)."""
    layout: list = dataclasses.field(default_factory=list)
    _compressed: dict = dataclasses.field(default_factory=dict)

    @property
    def plain_name(self) -> str:
        """The name without .bz2 / .gz."""
        for ext in (".bz2", ".gz"):
            if self.name.endswith(ext):
                return self.name[: -len(ext)]
        return self.name

    def compressed(self) -> dict[str, bytes]:
        """gzip (level 1) and bzip2 streams of ``data``; a stored bzip2 file is used as is."""
        if not self._compressed:
            import bz2
            import gzip

            self._compressed["gzip"] = gzip.compress(self.data, compresslevel=1, mtime=0)
            self._compressed["bzip2"] = self.stored if self.stored[:3] == b"BZh" else bz2.compress(self.data, 1)
        return self._compressed


def seed_files(root: str | os.PathLike, readers: tuple[str, ...] = ("spectra", "frame"), full_frames: bool = True,
               names: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
    """(path, reader) of the seed files under ``root`` (../shared/data), spectra first, in name order."""
    root = Path(root)
    out = []
    for folder, pattern in (("sdss-spectra", "*.fits"), ("lamost-spectra", "*.fits"), ("sdss-imaging", "stamp-*.fits"),
                            ("sdss-imaging", "frame-*.fits.bz2")):
        reader = "spectra" if folder.endswith("spectra") else "frame"
        if reader not in readers or (pattern.startswith("frame") and not full_frames):
            continue
        out.extend((p, reader) for p in sorted((root / folder).glob(pattern)) if not names or p.name in names)
    return out


def load_seeds(root: str | os.PathLike, readers: tuple[str, ...] = ("spectra", "frame"), full_frames: bool = True,
               names: tuple[str, ...] = ()) -> list[Seed]:
    """The seed files under ``root`` (../shared/data) read and laid out (bzip2 frames decompressed), as ``seed_files``."""
    import bz2

    seeds = []
    for path, reader in seed_files(root, readers, full_frames, names):
        stored = path.read_bytes()
        data = bz2.decompress(stored) if stored[:3] == b"BZh" else stored
        seeds.append(Seed(path.name, reader, data, stored, fits_layout(data)))
    return seeds


def make_case(seed: Seed, kind: str, case_seed: int) -> tuple[bytes, str]:
    """(damaged bytes, description) for one case; the same arguments give the same bytes."""
    rng = np.random.default_rng(case_seed)
    compressed = seed.compressed() if kind == "compressed_cut" else None
    return mutate(seed.data, seed.layout, kind, rng, compressed)


def case_name(seed: Seed, data: bytes) -> str:
    """File name of a damaged copy: the seed's, with .gz / .bz2 when the bytes are compressed."""
    ext = {b"\x1f\x8b": ".gz", b"BZ": ".bz2"}.get(data[:2], "")
    return seed.plain_name + ext


# --------------------------------------------------------------------------- properties


_UNCLASSIFIED = re.compile(r"\bunexpected [A-Z][A-Za-z]*")


def is_unclassified(reason: str) -> bool:
    """True for a reason from a reader's last-resort catch ('unexpected KeyError in the astropy reader: ...'):
    an exception type nobody anticipated, which the fuzz suite counts as a bug."""
    return bool(_UNCLASSIFIED.search(reason))


class Hang(Exception):
    """A read ran past its time bound (raised by the in-process alarm)."""


def _alarm(seconds: float):
    def handler(signum, frame):
        raise Hang(f"no result after {seconds:.0f} s")

    if seconds <= 0 or not hasattr(signal, "setitimer"):
        return None
    try:
        old = signal.signal(signal.SIGALRM, handler)
    except ValueError:  # not the main thread: the worker's parent watches the time instead
        return None
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return old


def _disarm(old) -> None:
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def strict_spectra(path: str, backend: str, max_bytes: int | None = None) -> tuple[str, Any]:
    """One spectrum back end with no fallback: ('spectra', items) | ('problem', reason) | ('unsupported', reason) | ('crash', text).

    'spectra' items may include validation Rejects. 'problem' = a classified failure
    (SpectrumProblem, FitsError: not FITS, truncated, too large). 'crash' = any other exception.
    """
    from skysift.io.decompression import DEFAULT_MAX_SPECTRUM_BYTES
    from skysift.io.readers import BACKENDS, FitsError, SpectrumProblem, Unsupported, read_source
    from skysift.io.spectra_fits import _read_with

    try:
        data, compression = read_source(path, max_bytes or DEFAULT_MAX_SPECTRUM_BYTES)
    except (FitsError, OSError) as exc:
        return "problem", str(exc)
    view = None
    try:
        view = BACKENDS[backend](path, data, compression)
        return "spectra", _read_with(view, path)
    except Unsupported as exc:
        return "unsupported", str(exc)
    except (SpectrumProblem, FitsError) as exc:
        return "problem", str(exc)
    except Hang:
        raise
    except Exception as exc:  # noqa: BLE001 - what we are looking for
        return "crash", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    finally:
        if view is not None:
            try:
                view.close()
            except Exception:  # noqa: BLE001
                pass


_IGNORED_EXTRA = {"backend", "compression", "fallback_from"}


def _same_value(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (np.generic,)):
        a = a.item()
    if isinstance(b, (np.generic,)):
        b = b.item()
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                              and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def spectra_difference(a: list, b: list) -> str | None:
    """None when two back ends' results hold the same spectra (arrays and metadata), else the first difference."""
    from skysift.spectra.native import NativeSpectrum

    sa = [x for x in a if isinstance(x, NativeSpectrum)]
    sb = [x for x in b if isinstance(x, NativeSpectrum)]
    if len(sa) != len(sb):
        return f"{len(sa)} vs {len(sb)} spectra"
    for x, y in zip(sa, sb):
        for f in ("spec_id", "survey", "ra_deg", "dec_deg", "z", "z_err", "class_", "subclass", "row_index", "loglam", "flux",
                  "ivar", "and_mask"):
            if not _same_value(getattr(x, f), getattr(y, f)):
                return f"{f}: {str(getattr(x, f))[:60]} vs {str(getattr(y, f))[:60]}"
        keys = (set(x.extra) | set(y.extra)) - _IGNORED_EXTRA
        for k in sorted(keys):
            if not _same_value(x.extra.get(k), y.extra.get(k)):
                return f"extra[{k}]: {str(x.extra.get(k))[:60]} vs {str(y.extra.get(k))[:60]}"
    return None


def _check_rejects(items, path: str, violations: list[str], who: str) -> None:
    from skysift.runtime.rejects import Reject

    for r in items:
        if isinstance(r, Reject):
            if "\n" in r.reason or path not in r.reason or len(r.reason) > 500:
                violations.append(f"{who}: reject reason not one line naming the file: {r.reason[:120]!r}")
            if r.stage not in ("read", "validate"):
                violations.append(f"{who}: reject stage {r.stage!r}")
            if "MemoryError" in r.reason:
                violations.append(f"{who}: MemoryError: {r.reason[:160]}")


def check_spectra(path: str, time_limit_s: float = TIME_LIMIT_S, backends: tuple[str, ...] = SPECTRUM_BACKENDS) -> dict:
    """Run the public reader and every back end on one file; return outcomes, timings and property violations."""
    from skysift.io.spectra_fits import read_spectra_file
    from skysift.runtime.rejects import Reject
    from skysift.spectra.native import NativeSpectrum

    violations: list[str] = []
    notes: list[str] = []
    seconds: dict[str, float] = {}
    outcome: dict[str, str] = {}
    strict: dict[str, tuple[str, Any]] = {}
    for name in ("auto", *backends):
        old = _alarm(time_limit_s * 3)
        t0 = time.perf_counter()
        try:
            if name == "auto":
                items = read_spectra_file(path)
                if not isinstance(items, list) or not items or not all(isinstance(x, (NativeSpectrum, Reject)) for x in items):
                    violations.append(f"auto: returned {type(items).__name__} {str(items)[:80]}")
                    items = []
                _check_rejects(items, path, violations, "auto")
                n_spec = sum(isinstance(x, NativeSpectrum) for x in items)
                outcome[name] = f"spectra" if n_spec else f"reject:{items[0].stage}" if items else "none"
                if any(is_unclassified(x.reason) for x in items if isinstance(x, Reject)):
                    violations.append(f"auto: unclassified failure: {[x.reason for x in items if isinstance(x, Reject)][0][:200]}")
                for x in items:
                    if isinstance(x, NativeSpectrum) and is_unclassified(str(x.extra.get("fallback_from", ""))):
                        violations.append(f"auto: crash hidden by the fallback: {x.extra['fallback_from'][:200]}")
            else:
                status, value = strict_spectra(path, name)
                strict[name] = (status, value)
                if status == "spectra":
                    _check_rejects(value, path, violations, name)
                    has = any(isinstance(x, NativeSpectrum) for x in value)
                    outcome[name] = "spectra" if has else "reject:validate"
                else:
                    outcome[name] = status
                    if status == "crash":
                        violations.append(f"{name}: crash {value}")
                    elif "MemoryError" in str(value):
                        violations.append(f"{name}: MemoryError {value}")
        except Hang as exc:
            violations.append(f"{name}: hang ({exc})")
            outcome[name] = "hang"
        except Exception as exc:  # noqa: BLE001
            violations.append(f"{name}: exception out of the reader: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            outcome[name] = "exception"
        finally:
            _disarm(old)
        seconds[name] = time.perf_counter() - t0
        if seconds[name] > time_limit_s:
            violations.append(f"{name}: {seconds[name]:.1f} s > {time_limit_s} s")
    agreement = {}
    for a, b in (("raw", "astropy"), ("fitsio", "astropy")):
        if a in strict and b in strict and outcome.get(a) == "spectra" and outcome.get(b) == "spectra":
            diff = spectra_difference(strict[a][1], strict[b][1])
            agreement[f"{a}-{b}"] = diff is None
            if diff is not None and a == "raw":  # the property of issue 18; fitsio's differences are counted only
                violations.append(f"{a} and {b} both accept it but differ: {diff}")
            elif diff is not None:
                notes.append(f"{a} and {b} differ: {diff}")
    return {"outcome": outcome, "seconds": seconds, "agreement": agreement, "violations": violations, "notes": notes}


def _astropy_pixels(data: bytes, hdu_index: int):
    """The image of HDU ``hdu_index`` as astropy reads it (float32), or None when astropy cannot."""
    import io
    import warnings

    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with fits.open(io.BytesIO(data), memmap=False) as hl:
                pixels = hl[hdu_index].data
                if pixels is None:
                    return None
                pixels = np.asarray(pixels)
                while pixels.ndim > 2 and pixels.shape[0] == 1:
                    pixels = pixels[0]
                return pixels.astype(np.float32)
        except Exception:  # noqa: BLE001 - astropy refusing is an answer too
            return None


def _calibration_difference(data: bytes, cal) -> str | None:
    """None when HDU1-2 of an SDSS frame read by astropy equal ``cal`` (or astropy cannot read them), else the difference."""
    import io
    import warnings

    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with fits.open(io.BytesIO(data), memmap=False) as hl:
                calib = np.asarray(hl[1].data, dtype=np.float32).reshape(-1)
                sky = hl[2].data
                ref = {"calib_nmgy_per_dn": calib, "sky_dn": np.asarray(sky["ALLSKY"][0], np.float32),
                       "sky_x": np.asarray(sky["XINTERP"][0], np.float32).reshape(-1),
                       "sky_y": np.asarray(sky["YINTERP"][0], np.float32).reshape(-1)}
        except Exception:  # noqa: BLE001
            return None
    for key, want in ref.items():
        got = getattr(cal, key)
        if got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
            return f"{key}: {got.shape} vs {want.shape}"
    return None


def check_frame(name: str, data: bytes, time_limit_s: float = TIME_LIMIT_S, oracle: bool = True) -> dict:
    """``read_frame(name, data=...)`` on one damaged file; outcomes, timings and property violations."""
    from skysift.io.decompression import DEFAULT_MAX_FRAME_BYTES, decompress_bounded
    from skysift.io.frames import Frame, read_frame
    from skysift.runtime.rejects import Reject

    violations: list[str] = []
    old = _alarm(time_limit_s * 3)
    t0 = time.perf_counter()
    result = None
    try:
        result = read_frame(name, data=data, with_calibration=True)
    except Hang as exc:
        violations.append(f"frame: hang ({exc})")
    except Exception as exc:  # noqa: BLE001
        violations.append(f"frame: exception out of the reader: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    finally:
        _disarm(old)
    seconds = time.perf_counter() - t0
    if seconds > time_limit_s:
        violations.append(f"frame: {seconds:.1f} s > {time_limit_s} s")
    agreement: dict[str, bool] = {}
    if isinstance(result, Reject):
        outcome = f"reject:{result.stage}"
        _check_rejects([result], name, violations, "frame")
        if is_unclassified(result.reason):
            violations.append(f"frame: unclassified failure: {result.reason[:200]}")
    elif isinstance(result, Frame):
        outcome = "frame"
        img = result.image
        if img.ndim != 2 or img.dtype != np.float32 or not np.isfinite(img).any():
            violations.append(f"frame: bad image {img.dtype} {img.shape}")
        if oracle:
            try:
                plain, _ = decompress_bounded(data, DEFAULT_MAX_FRAME_BYTES)
            except Exception:  # noqa: BLE001
                plain = None
            ref = None if plain is None else _astropy_pixels(plain, int(result.extra.get("hdu", 0)))
            if ref is not None and ref.shape == img.shape:
                # Equal within float32 rounding where both are finite; NaN where astropy has NaN. Ours may
                # also be NaN where astropy is not: integer BLANK pixels (astropy keeps the raw integer).
                both = np.isfinite(ref) & np.isfinite(img)
                close = np.isclose(ref[both], img[both], rtol=1e-6, atol=0)
                lost = np.isnan(ref) & ~np.isnan(img)
                same = bool(close.all()) and not lost.any()
                agreement["frame-astropy"] = same
                if not same:
                    violations.append(f"frame and astropy both read the image but {int((~close).sum()) + int(lost.sum())} pixels differ")
            elif ref is not None:
                agreement["frame-astropy"] = False
                violations.append(f"frame shape {img.shape} but astropy reads {ref.shape}")
            if result.calibration is not None and plain is not None:
                diff = _calibration_difference(plain, result.calibration)
                agreement["calibration-astropy"] = diff is None
                if diff:
                    violations.append(f"calibration and astropy differ: {diff}")
    else:
        outcome = "exception" if violations else "none"
        if result is not None:
            violations.append(f"frame: returned {type(result).__name__}")
    return {"outcome": {"frame": outcome}, "seconds": {"frame": seconds}, "agreement": agreement, "violations": violations}


def run_case(seed: Seed, kind: str, case_seed: int, folder: str, time_limit_s: float = TIME_LIMIT_S) -> dict:
    """Build one case and check it; spectra cases go through a file in ``folder`` (the readers take paths)."""
    data, what = make_case(seed, kind, case_seed)
    name = case_name(seed, data)
    if seed.reader == "spectra":
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            result = check_spectra(path, time_limit_s)
        finally:
            os.unlink(path)
    else:
        result = check_frame(name, data, time_limit_s)
    return {"seed": seed.name, "reader": seed.reader, "kind": kind, "case_seed": case_seed, "what": what, **result}


# --------------------------------------------------------------------------- the worker process


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def worker_main(shared_data: str, memory_limit_bytes: int, time_limit_s: float, full_frames: bool) -> None:
    """Read case specs (JSON lines: seed index, kind, case seed) on stdin, write one JSON result line per case.

    After loading the seeds the address space is capped at (current size + ``memory_limit_bytes``) with
    RLIMIT_AS, so a reader that tries to allocate beyond it gets MemoryError (recorded as a violation).
    """
    import skysift.io.frames  # noqa: F401 - load everything before measuring the baseline
    import skysift.io.spectra_fits  # noqa: F401
    from astropy.io import fits  # noqa: F401
    import astropy.wcs  # noqa: F401
    import fitsio  # noqa: F401

    seeds = load_seeds(shared_data, full_frames=full_frames)
    for s in seeds:
        s.compressed()
    folder = tempfile.mkdtemp(prefix="skysift-fuzz-")
    base_vm = _status_kib("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (base_vm + memory_limit_bytes, resource.getrlimit(resource.RLIMIT_AS)[1]))
    can_reset = _reset_peak_rss()
    print(json.dumps({"ready": len(seeds), "vm_bytes": base_vm, "peak_reset": can_reset}), flush=True)
    for line in sys.stdin:
        spec = json.loads(line)
        idle_rss = _status_kib("VmRSS")
        _reset_peak_rss()
        try:
            result = run_case(seeds[spec["seed"]], spec["kind"], spec["case_seed"], folder, time_limit_s)
        except MemoryError as exc:
            result = {"seed": seeds[spec["seed"]].name, "reader": seeds[spec["seed"]].reader, "kind": spec["kind"],
                      "case_seed": spec["case_seed"], "outcome": {}, "seconds": {}, "agreement": {},
                      "violations": [f"MemoryError in the harness: {exc}"]}
        result["peak_rss_growth"] = max(0, _status_kib("VmHWM") - idle_rss) if can_reset else None
        print(json.dumps(result, default=str), flush=True)


class _Worker:
    def __init__(self, shared_data: str, memory_limit_bytes: int, time_limit_s: float, full_frames: bool):
        code = ("import sys; from skysift.bench.fuzz_bench import worker_main; "
                f"worker_main({str(shared_data)!r}, {memory_limit_bytes}, {time_limit_s}, {full_frames})")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        self.hello = self._line(600.0)
        if self.hello is None:
            raise RuntimeError("fuzz worker did not start")

    def _line(self, timeout_s: float) -> dict | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def run(self, spec: dict, timeout_s: float) -> dict | None:
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        return self._line(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.kill()


def schedule(seeds: list[tuple[Path, str]], n_cases: int, seed: int, kinds: tuple[str, ...] = MUTATION_KINDS,
             frame_share: float = 0.3) -> list[dict]:
    """``n_cases`` case specs over ``seed_files``: a ``frame_share`` of them on frame seeds, kinds in turn, seeds drawn
    at random."""
    rng = np.random.default_rng(seed)
    by_reader = defaultdict(list)
    for i, (_path, reader) in enumerate(seeds):
        by_reader[reader].append(i)
    specs = []
    for k in range(n_cases):
        reader = "frame" if by_reader["frame"] and (not by_reader["spectra"] or rng.random() < frame_share) else "spectra"
        pool = by_reader[reader]
        specs.append({"seed": int(pool[int(rng.integers(len(pool)))]), "kind": kinds[k % len(kinds)],
                      "case_seed": int(rng.integers(0, 2**63))})
    return specs


def run_fuzz(shared_data: str | os.PathLike, n_cases: int, seed: int = 18, *, memory_limit_bytes: int = MEMORY_LIMIT_BYTES,
             time_limit_s: float = TIME_LIMIT_S, full_frames: bool = True, frame_share: float = 0.3,
             kinds: tuple[str, ...] = MUTATION_KINDS, progress: bool = False) -> dict:
    """Run ``n_cases`` cases in a worker process (RLIMIT_AS, hang watchdog); return the summary and the failing cases."""
    seeds = seed_files(shared_data, full_frames=full_frames)
    specs = schedule(seeds, n_cases, seed, kinds, frame_share)
    # The watchdog: a spectra case runs four reads (auto, raw, astropy, fitsio), each bounded by time_limit_s.
    hang_s = time_limit_s * 6
    worker = _Worker(str(shared_data), memory_limit_bytes, time_limit_s, full_frames)
    results = []
    t0 = time.perf_counter()
    try:
        for k, spec in enumerate(specs):
            res = worker.run(spec, hang_s)
            if res is None:
                dead = worker.proc.poll()
                worker.kill()
                res = {"seed": seeds[spec["seed"]][0].name, "reader": seeds[spec["seed"]][1], "kind": spec["kind"],
                       "case_seed": spec["case_seed"], "outcome": {}, "seconds": {}, "agreement": {}, "peak_rss_growth": None,
                       "violations": [f"worker died (exit {dead})" if dead is not None else f"hang: no result after {hang_s:.0f} s"]}
                worker = _Worker(str(shared_data), memory_limit_bytes, time_limit_s, full_frames)
            results.append(res)
            if progress and (k + 1) % 200 == 0:
                print(f"fuzz: {k + 1}/{len(specs)} cases, {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        worker.close()
    summary = summarise(results)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["worker_vm_bytes"] = worker.hello.get("vm_bytes")
    summary["memory_limit_bytes"] = memory_limit_bytes
    summary["time_limit_s"] = time_limit_s
    summary["seed"] = seed
    return summary


def summarise(results: list[dict]) -> dict:
    """Counts per reader and mutation kind: cases, outcomes, agreement checks, violations, worst time and RSS."""
    table: dict[str, dict] = {}
    failures = []
    for r in results:
        key = f"{r['reader']}/{r['kind']}"
        row = table.setdefault(key, {"cases": 0, "violations": 0, "outcomes": Counter(), "agree": 0, "agree_checked": 0,
                                     "max_seconds": 0.0, "max_rss_mb": 0.0})
        row["cases"] += 1
        for who, what in r["outcome"].items():
            row["outcomes"][f"{who}:{what}"] += 1
        for ok in r["agreement"].values():
            row["agree_checked"] += 1
            row["agree"] += bool(ok)
        if r["seconds"]:
            row["max_seconds"] = round(max(row["max_seconds"], max(r["seconds"].values())), 3)
        if r.get("peak_rss_growth") is not None:
            row["max_rss_mb"] = round(max(row["max_rss_mb"], r["peak_rss_growth"] / 1e6), 1)
            if r["peak_rss_growth"] > RSS_LIMIT_BYTES:
                r["violations"].append(f"peak RSS grew {r['peak_rss_growth'] / 1e6:.0f} MB > {RSS_LIMIT_BYTES / 1e6:.0f} MB")
        if r["violations"]:
            row["violations"] += 1
            failures.append(r)
    for row in table.values():
        row["outcomes"] = dict(sorted(row["outcomes"].items()))
    return {"cases": len(results), "failing_cases": len(failures), "by_kind": dict(sorted(table.items())), "failures": failures}


def bench_fuzz(spark, cfg, workdir: Path, line) -> dict:
    """The benchmark case: ``cfg.cases`` fuzz cases (default 20,000), figures printed and returned."""
    from skysift.paths import shared_data_dir

    root = shared_data_dir()
    if root is None:
        raise FileNotFoundError("benchmark fuzz needs the real sample (../shared/data or SKYSIFT_SHARED_DATA)")
    n = getattr(cfg, "cases", 0) or 20_000
    summary = run_fuzz(root, n, seed=cfg.seed, progress=True)
    for key, row in summary["by_kind"].items():
        print(f"fuzz {key}: cases={row['cases']} violations={row['violations']} agree={row['agree']}/{row['agree_checked']} "
              f"max_s={row['max_seconds']} max_rss_mb={row['max_rss_mb']} {row['outcomes']}", flush=True)
    for f in summary["failures"][:50]:
        print(f"FAIL {f['seed']} {f['kind']} case_seed={f['case_seed']} {f.get('what', '')}: {f['violations'][:3]}", flush=True)
    (workdir / "fuzz_failures.json").write_text(json.dumps(summary["failures"], default=str, indent=1))
    per_case = summary["seconds"] / max(1, summary["cases"])
    out = line("fuzz", per_case, per_case, unit="s/case", cases=summary["cases"], failing=summary["failing_cases"],
               seconds=summary["seconds"])
    return {**out, "summary": {k: v for k, v in summary.items() if k != "failures"},
            "failures": [{k: f[k] for k in ("seed", "kind", "case_seed", "violations")} for f in summary["failures"][:200]]}
