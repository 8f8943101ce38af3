"""skysift.io.frame_files: listing, grouping frames into fields by name, raw bytes."""
import bz2
from pathlib import Path

from skysift.io.frame_files import band_token, group_fields, list_frame_files, read_file_bytes, split_bands


def test_split_bands():
    assert split_bands(("ugriz",)) == ("u", "g", "r", "i", "z")
    assert split_bands(("g", "r")) == ("g", "r")
    assert split_bands(("NUV", "gg")) == ("NUV", "gg")


def test_band_token_and_grouping(tmp_path):
    assert band_token("/x/stamp-u-164.4311-39.0359.fits", "ugriz") == ("u", "stamp-164.4311-39.0359")
    assert band_token("image.fits.bz2", "ugriz") == (None, "image")
    names = ["frame-g-002583-2-0136.fits.bz2", "frame-r-002583-2-0136.fits.bz2", "frame-u-002583-2-0136.fits.bz2",
             "frame-r-002583-2-0136.fits", "a-g.fits", "a-r.fits.gz", "a-y.fits", "lonely.fits", "notes.txt"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    files = list_frame_files(f"{tmp_path},{tmp_path}/*.fits")
    assert [Path(f).name for f in files] == sorted(n for n in names if n != "notes.txt")
    fields, rejects = group_fields(files, ("g", "r", "i"))
    by_id = {f.field_id: f for f in fields}
    assert sorted(by_id) == ["2583-2-136", "a", "lonely"]
    sdss = by_id["2583-2-136"]
    assert sdss.sdss and sorted(sdss.files) == ["g", "r"] and list(sdss.unused) == ["u"]
    assert sorted(by_id["a"].files) == ["g", "r"] and list(by_id["a"].unused) == ["y"]
    assert [Path(p).name for p in by_id["lonely"].unknown_band] == ["lonely.fits"]
    assert len(rejects) == 1 and "duplicate r frame" in rejects[0].reason


def test_read_file_bytes_keeps_the_compression(tmp_path):
    raw = b"SIMPLE  = " + bytes(100)
    (tmp_path / "f.fits.bz2").write_bytes(bz2.compress(raw))
    data = read_file_bytes(str(tmp_path / "f.fits.bz2"))
    assert data[:3] == b"BZh" and bz2.decompress(data) == raw
