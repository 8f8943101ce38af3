"""A cutouts table (make-cutouts' layout) of a synthetic multimodal set, for the build-multimodal tests."""
from __future__ import annotations

import pyarrow as pa


def cutouts_table(m) -> pa.Table:
    """The 64 px ugriz cutouts of ``m`` (``synth.imaging.multimodal.multimodal_set``) with their 32 / 16 / 8 levels,
    as make-cutouts writes them (one row per object, flags 0)."""
    from skysift.images.cutouts import downsample_levels
    from skysift.sky.healpix import healpix_index

    n = len(m.object_id)
    levels = downsample_levels(m.pixels, (32, 16, 8))
    ra, dec = m.truth["ra"].to_numpy(), m.truth["dec"].to_numpy()
    return pa.table({
        "object_id": [str(i) for i in m.object_id], "ra_deg": ra, "dec_deg": dec,
        "healpix29": healpix_index(ra, dec), "bands": [list("ugriz")] * n, "size_px": pa.array([64] * n, pa.int32()),
        "pixels": [p.ravel() for p in m.pixels], "levels_px": [[32, 16, 8]] * n,
        "level_pixels": [[levels[s][i].ravel() for s in (32, 16, 8)] for i in range(n)],
        "flags": pa.array([0] * n, pa.int32())})
