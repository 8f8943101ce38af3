"""skysift.io.decompression: gzip / bzip2 streamed with a cap; bombs cost bounded memory and time (issue 18, part 2)."""
from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from skysift.io.decompression import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_SPECTRUM_BYTES,
    Corrupt,
    TooLarge,
    decompress_bounded,
    read_bounded,
    sniff_compression,
)
from skysift.io.frames import read_frame
from skysift.io.spectra_fits import read_spectra_file
from skysift.runtime.rejects import Reject
from skysift.synth.broken_files import bzip2_bomb

MiB = 1 << 20


def _payload(n: int = 300_000) -> bytes:
    rng = np.random.default_rng(5)
    # Compressible but not trivial: small integers as text, like a FITS header or a mask column.
    return rng.integers(0, 40, n, dtype=np.uint8).tobytes()


def _streams(data: bytes) -> dict[str, bytes]:
    return {"gzip": gzip.compress(data, mtime=0), "bzip2": bz2.compress(data)}


@pytest.mark.parametrize("kind", ["gzip", "bzip2"])
def test_round_trip_equals_the_standard_library(kind):
    data = _payload()
    stream = _streams(data)[kind]
    assert sniff_compression(stream[:3]) == kind
    out, got_kind = decompress_bounded(stream, 10 * MiB)
    ref = gzip.decompress(stream) if kind == "gzip" else bz2.decompress(stream)
    assert got_kind == kind and out == ref == data
    # Concatenated members are read in order (cat a.gz b.gz; pbzip2 writes one stream per block).
    assert decompress_bounded(stream + stream, 10 * MiB)[0] == data + data
    # Zero padding after the last member is ignored, as gunzip / bzip2 -d do.
    assert decompress_bounded(stream + bytes(100), 10 * MiB)[0] == data


@pytest.mark.parametrize("kind", ["gzip", "bzip2"])
def test_the_cap_is_exact(kind):
    data = _payload(50_000)
    stream = _streams(data)[kind]
    assert decompress_bounded(stream, len(data))[0] == data
    with pytest.raises(TooLarge, match=f"{kind} stream decompresses to more than the cap .*max_bytes={len(data) - 1}"):
        decompress_bounded(stream, len(data) - 1)
    assert decompress_bounded(data, len(data))[1] == "none"
    with pytest.raises(TooLarge, match="file is 48.8 kiB, over the cap"):
        decompress_bounded(data, len(data) - 1)


@pytest.mark.parametrize("kind", ["gzip", "bzip2"])
def test_cut_or_damaged_streams_are_corrupt_never_short(kind):
    data = _payload(120_000)
    stream = _streams(data)[kind]
    for cut in np.linspace(3, len(stream) - 1, 40).astype(int):  # from the magic bytes on
        with pytest.raises(Corrupt, match="truncated|corrupt"):
            decompress_bounded(stream[:cut], 10 * MiB)
    rng = np.random.default_rng(9)
    n_corrupt = 0
    for pos in rng.integers(20, len(stream) - 10, 30):  # past the headers: the CRC must catch a flipped bit
        damaged = bytearray(stream)
        damaged[pos] ^= 0x10
        try:
            out, _ = decompress_bounded(bytes(damaged), 10 * MiB)
        except Corrupt:
            n_corrupt += 1
            continue
        assert out == data, "a damaged stream decompressed to other bytes without an error"
    assert n_corrupt >= 25


def test_read_bounded_streams_from_disk(tmp_path):
    data = _payload()
    for name, payload in (("a.gz", gzip.compress(data)), ("a.bz2", bz2.compress(data)), ("a.fits", data)):
        (tmp_path / name).write_bytes(payload)
        assert read_bounded(tmp_path / name, 10 * MiB)[0] == data
    assert read_bounded(tmp_path / "a.fits", 10 * MiB, keep_plain_on_disk=True) == (None, "none")
    with pytest.raises(TooLarge):
        read_bounded(tmp_path / "a.fits", len(data) - 1, keep_plain_on_disk=True)
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        read_bounded(tmp_path / "a.gz", 0)


def test_defaults_fit_the_largest_real_files_with_margin(shared_data):
    """The caps against the real sample: every spectrum and frame reads, with >= 4x room to spare."""
    spectra = sorted((shared_data / "sdss-spectra").glob("*.fits")) + sorted((shared_data / "lamost-spectra").glob("*.fits"))
    largest_spectrum = max(p.stat().st_size for p in spectra)
    assert largest_spectrum == 1_759_680  # spec-0390-51900-0282.fits, 26 HDUs (MANIFEST: 1.76 MB)
    assert DEFAULT_MAX_SPECTRUM_BYTES / largest_spectrum > 18
    # The four real frames all decompress to 1489 x 2048 float32 + HDU1-3 = 12,447,360 B (``bzcat | wc -c``);
    # one is decoded here (the largest stream, i band) to keep the test short.
    frame = shared_data / "sdss-imaging" / "frame-i-002583-2-0136.fits.bz2"
    out, kind = read_bounded(frame, DEFAULT_MAX_FRAME_BYTES)
    assert kind == "bzip2" and len(out) == 12_447_360 and out == bz2.decompress(frame.read_bytes())
    assert DEFAULT_MAX_FRAME_BYTES / len(out) > 5


def test_readers_take_the_cap_as_a_parameter(shared_data, tmp_path):
    spec = shared_data / "sdss-spectra" / "spec-0266-51602-0107.fits"
    gz = tmp_path / "spec-0266-51602-0107.fits.gz"
    gz.write_bytes(gzip.compress(spec.read_bytes(), mtime=0))
    (ok,) = read_spectra_file(gz)
    assert ok.spec_id == "sdss-0266-51602-0107"
    for path in (gz, spec):  # compressed or plain: the cap bounds what a reader holds for one file
        (r,) = read_spectra_file(path, max_bytes=100_000)
        assert isinstance(r, Reject) and r.stage == "read" and "over the cap" in r.reason.replace("more than the cap", "over the cap")
        assert str(path) in r.reason and "max_bytes=100000" in r.reason
    stamp = shared_data / "sdss-imaging" / "stamp-r-164.4311-39.0359.fits"
    bz = tmp_path / "stamp-r.fits.bz2"
    bz.write_bytes(bz2.compress(stamp.read_bytes()))
    assert not isinstance(read_frame(bz), Reject)
    for kwargs in ({"path": bz}, {"path": "stamp-r.fits.bz2", "data": bz.read_bytes()}, {"path": stamp}):
        r = read_frame(kwargs.pop("path"), max_bytes=20_000, **kwargs)
        assert isinstance(r, Reject) and r.stage == "read" and "cap of 19.5 kiB" in r.reason, r


_BOMB_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from skysift.io.frames import read_frame
    from skysift.io.spectra_fits import read_spectra_file
    from skysift.io.decompression import read_bounded, TooLarge

    def status(key):
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key + ":"))

    path, cap, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    read_spectra_file(path, max_bytes=1)  # import and warm everything before the baseline
    resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + limit, resource.RLIM_INFINITY))
    open("/proc/self/clear_refs", "w").write("5")
    base = status("VmRSS")
    out = {}
    for name, call in (("spectra", lambda: read_spectra_file(path, max_bytes=cap)[0]),
                       ("frame", lambda: read_frame(path, max_bytes=cap))):
        t0 = time.perf_counter()
        r = call()
        out[name] = {"reason": getattr(r, "reason", repr(r)), "seconds": time.perf_counter() - t0}
    out["rss_growth"] = status("VmHWM") - base
    print(json.dumps(out))
    """
)


def _run_bomb(path: Path, cap: int, limit: int = 512 * MiB) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(path), str(cap), str(limit)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak RSS")
def test_bzip2_bomb_costs_bounded_memory_and_time(tmp_path):
    """100 kB of bzip2 that expands to 2.2 GiB: both readers reject it after at most the cap of output.

    Run in a child process whose address space may grow by 512 MiB only (RLIMIT_AS): the old
    whole-file ``bz2.decompress`` would need 2.2 GiB and die there.
    """
    bomb = tmp_path / "bomb.fits.bz2"
    bomb.write_bytes(bzip2_bomb(2222 * MiB))
    assert len(bomb.read_bytes()) <= 100_000
    out = _run_bomb(bomb, 32 * MiB)
    print(f"\nbzip2 bomb {len(bomb.read_bytes())} B -> 2222 MiB, cap 32 MiB: spectra {out['spectra']['seconds']:.2f} s, "
          f"frame {out['frame']['seconds']:.2f} s, peak RSS growth {out['rss_growth'] / MiB:.1f} MiB")
    for reader in ("spectra", "frame"):
        assert "bzip2 stream decompresses to more than the cap of 32 MiB" in out[reader]["reason"], out
        assert out[reader]["seconds"] < 30, out
    assert out["rss_growth"] < 2 * 32 * MiB + 64 * MiB, out


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak RSS")
def test_single_stream_bomb_is_cut_inside_the_stream(tmp_path):
    """One bzip2 stream of 32 MiB of zeros (79 bytes), made by compressing zeros piece by piece: the output
    limit applies within a stream, so a 4 MiB cap costs about 4 MiB."""
    comp = bz2.BZ2Compressor(9)
    zeros = bytes(MiB)
    stream = b"".join(comp.compress(zeros) for _ in range(32)) + comp.flush()
    assert len(stream) < 200
    bomb = tmp_path / "one.fits.bz2"
    bomb.write_bytes(stream)
    out = _run_bomb(bomb, 4 * MiB, limit=256 * MiB)
    print(f"\nsingle-stream bzip2 bomb {len(stream)} B -> 32 MiB, cap 4 MiB: spectra {out['spectra']['seconds']:.2f} s, "
          f"frame {out['frame']['seconds']:.2f} s, peak RSS growth {out['rss_growth'] / MiB:.1f} MiB")
    assert "cap of 4 MiB" in out["spectra"]["reason"] and "cap of 4 MiB" in out["frame"]["reason"], out
    assert out["rss_growth"] < 2 * 4 * MiB + 32 * MiB, out
    # gzip: deflate stops at ~1000:1, so a gzip bomb is larger for the same output; same bound.
    gz = tmp_path / "one.fits.gz"
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    gz.write_bytes(b"".join(c.compress(zeros) for _ in range(32)) + c.flush())
    with pytest.raises(TooLarge):
        read_bounded(gz, 4 * MiB)
