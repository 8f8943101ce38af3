"""Sky positions and file names: spectra come in plates, like SDSS and LAMOST.

Row r belongs to plate r // fibers_per_plate and has fibre r % fibers_per_plate + 1.
A plate has a centre drawn uniformly on the sphere and a file layout (sdss, boss,
lamost_image, lamost_table); its fibres are spread uniformly over a disc of
``radius_deg`` (SDSS plates: 1.49 deg, a 3 deg field). So the spectra of one Spark
task fall in a handful of HEALPix pixels, as for real survey files. Every plate
quantity comes from ``default_rng([seed, PLATE_STREAM, plate_index])``, so a plate
looks the same whichever task draws it.
"""
from __future__ import annotations

import numpy as np

PLATE_STREAM = 1
"""Second entropy word of plate generators; row generators use [seed, row] (a different length)."""
LAYOUTS = ("sdss", "boss", "lamost_image", "lamost_table")
FIRST_PLATE_NUMBER = 300
LAMOST_FIBERS_PER_SPECTROGRAPH = 250
# Observing-date ranges per layout (MJD): SDSS-I/II 2000-2008, BOSS 2009-2014, LAMOST 2011-2019.
MJD_RANGES = {"sdss": (51600, 54600), "boss": (55000, 56800), "lamost_image": (55800, 58600), "lamost_table": (55800, 58600)}


def plate_table(plate_index: np.ndarray, seed: int, layout_fractions: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Centre (ra0, dec0 deg), layout code, plate number and MJD for each plate index."""
    plate_index = np.asarray(plate_index, dtype=np.int64)
    u = np.array([np.random.default_rng([seed, PLATE_STREAM, int(p)]).random(4) for p in plate_index]).reshape(-1, 4)
    cum = np.cumsum(np.asarray(layout_fractions, dtype=np.float64))
    cum = cum / cum[-1]
    layout = np.minimum(np.searchsorted(cum, u[:, 2], side="right"), len(LAYOUTS) - 1)
    lo = np.array([MJD_RANGES[LAYOUTS[c]][0] for c in layout], dtype=np.int64)
    hi = np.array([MJD_RANGES[LAYOUTS[c]][1] for c in layout], dtype=np.int64)
    return {
        "ra0_deg": 360.0 * u[:, 0],
        "dec0_deg": np.degrees(np.arcsin(2.0 * u[:, 1] - 1.0)),
        "layout": layout.astype(np.int8),
        "plate": FIRST_PLATE_NUMBER + plate_index,
        "mjd": lo + np.floor(u[:, 3] * (hi - lo)).astype(np.int64),
    }


def offset_positions(
    ra0_deg: np.ndarray, dec0_deg: np.ndarray, radius_deg: float, u_r: np.ndarray, u_theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform over a spherical cap of ``radius_deg`` around (ra0, dec0), from two uniforms."""
    dist = np.radians(radius_deg) * np.sqrt(u_r)
    bearing = 2.0 * np.pi * u_theta
    d0 = np.radians(dec0_deg)
    sin_dec = np.sin(d0) * np.cos(dist) + np.cos(d0) * np.sin(dist) * np.cos(bearing)
    dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    dra = np.arctan2(np.sin(bearing) * np.sin(dist) * np.cos(d0), np.cos(dist) - np.sin(d0) * sin_dec)
    ra = np.mod(np.asarray(ra0_deg) + np.degrees(dra), 360.0)
    return ra, np.degrees(dec)


def lamost_ids(plate: np.ndarray, fiber: np.ndarray) -> dict[str, np.ndarray]:
    """LAMOST plan id, spectrograph, fibre-in-spectrograph and OBSID for synthetic plates."""
    plate = np.asarray(plate, dtype=np.int64)
    fiber = np.asarray(fiber, dtype=np.int64)
    spid = (fiber - 1) // LAMOST_FIBERS_PER_SPECTROGRAPH + 1
    fib = (fiber - 1) % LAMOST_FIBERS_PER_SPECTROGRAPH + 1
    planid = np.array([f"SYN{p:05d}" for p in plate], dtype=object)
    return {"planid": planid, "spid": spid, "lamost_fiber": fib, "obsid": plate * 10000 + fiber}


def file_names(layout: np.ndarray, plate: np.ndarray, mjd: np.ndarray, fiber: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relative path under the output folder, the spec_id a reader gives that file) per row.

    SDSS/BOSS: spectra/PPPP/spec-PPPP-MMMMM-FFFF.fits, id sdss-PPPP-MMMMM-FFFF;
    LAMOST:    spectra/PLANID/spec-LMJD-PLANID_spSS-FFF.fits, id lamost-OBSID.
    """
    lam = lamost_ids(plate, fiber)
    paths, ids = [], []
    for i, (lay, p, m, f) in enumerate(zip(layout, plate, mjd, fiber)):
        if LAYOUTS[lay].startswith("lamost"):
            plan = lam["planid"][i]
            paths.append(f"spectra/{plan}/spec-{m}-{plan}_sp{lam['spid'][i]:02d}-{lam['lamost_fiber'][i]:03d}.fits")
            ids.append(f"lamost-{lam['obsid'][i]}")
        else:
            paths.append(f"spectra/{p:04d}/spec-{p:04d}-{m:05d}-{f:04d}.fits")
            ids.append(f"sdss-{p:04d}-{m:05d}-{f:04d}")
    return np.array(paths, dtype=object), np.array(ids, dtype=object)
