"""Real SDSS field 2583-2-136 (g, r, i) decoded once per session: bz2 decompression is ~0.4 s a frame."""
from __future__ import annotations

import pytest

from skysift.io.frames import Frame, read_frame

FIELD = "2583-2-136"


@pytest.fixture(scope="session")
def sdss_gri(shared_data) -> dict[str, Frame]:
    """{band: Frame} of the real g, r, i frames of field 2583-2-136 (skips when the sample is absent)."""
    frames = {}
    for band in "gri":
        path = shared_data / "sdss-imaging" / f"frame-{band}-002583-2-0136.fits.bz2"
        if not path.exists():
            pytest.skip(f"{path} not present")
        frame = read_frame(path, with_calibration=True)
        assert isinstance(frame, Frame), frame
        frames[band] = frame
    return frames


@pytest.fixture(scope="session")
def sdss_u(shared_data) -> Frame:
    """The real u frame of field 3900-6-269 (the field of the stamps and the photoObj)."""
    path = shared_data / "sdss-imaging" / "frame-u-003900-6-0269.fits.bz2"
    if not path.exists():
        pytest.skip(f"{path} not present")
    frame = read_frame(path, with_calibration=True)
    assert isinstance(frame, Frame), frame
    return frame


@pytest.fixture(scope="session")
def gri_stack(sdss_gri):
    """The g, r, i frames registered onto r (bilinear)."""
    from skysift.images.registration import register_frames

    return register_frames(sdss_gri, reference="r", bands=("g", "r", "i"))
