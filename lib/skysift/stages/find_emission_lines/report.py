"""The HTML summary of `skysift find-emission-lines`: ``OUTPUT/report/report.html`` with the stage counts as the
paper's flow chart, the [N II] BPT diagram of the galaxies, z_cl against the templates' z_rt (Lu et al. 2022
Fig. 6) and against every reference catalog's z (Fig. 10), the H II velocities (Fig. 7), the BPT and region
counts and the seconds per stage.

Figures are drawn in a local temporary folder and copied next to the report with ``runtime.filesystem``, so
the output may be on any file system the job writes to.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from skysift.report.emission import bpt_png, flow_chart_png, redshift_comparison_png, velocity_hist_png
from skysift.report.html import HtmlReport
from skysift.runtime.filesystem import join, write_bytes

STAGE_ROWS = (
    ("searched", "spectra searched (usable pixels on the grid)"),
    ("with_line_redshift", "with a CL line redshift (>= 3 lines within 0.001)"),
    ("pq_candidates", "PQ candidates: a run's z_rt within 0.001 of z_cl (12 runs merged)"),
    ("confirmed", "confirmed by the inspection rule (substitute for visual inspection)"),
    ("galaxies", "galaxies (z_cl or z_rt >= 500 km/s / c)"),
    ("known_galaxies", "  known: in at least one reference catalog"),
    ("new_galaxies", "  new: in none"),
    ("galaxy_sources", "  unique galaxy sources"),
    ("new_galaxy_sources", "  new unique sources"),
    ("low_velocity", "low-velocity (z_cl and z_rt < 500 km/s / c)"),
    ("hii", "  H II (in a region or passing the [S II]/[N II] diagnostic)"),
    ("unclassified", "  unclassified"),
    ("hii_regions_hit", "H II regions with spectra"),
    ("new_hii_regions", "  of them not of the known type (new)"),
)


def write_report(staging: str, summary: dict, galaxies: pd.DataFrame, hii: pd.DataFrame, confirmed: pd.DataFrame,
                 catalogs: list[str]) -> str:
    """Write ``staging/report/`` (report.html + PNGs); returns the report's URI under ``staging``."""
    folder = join(staging, "report")
    stages = summary["stages"]
    with tempfile.TemporaryDirectory(prefix="skysift-elg-report-") as tmp:
        t = Path(tmp)
        rep = HtmlReport("skysift find-emission-lines")
        rep.paragraph("Lu et al. 2022's Process I: line finding and CL redshift, PQ template search with redshift "
                      "transfer, an automatic inspection rule, the low-velocity / galaxy split, H II and BPT "
                      "classification and the anti-join against the reference catalogs.")
        rep.heading("Spectra after every stage")
        rep.image(flow_chart_png(t / "flow.png", stages), "the paper's flow chart with this run's counts")
        rep.table([{"stage": label, "spectra": int(stages.get(key, 0))} for key, label in STAGE_ROWS])
        other = summary.get("other_outcomes", {})
        rep.paragraph(f"read {summary.get('read')} = written {summary.get('written')} (galaxies + H II spectra) + "
                      f"rejected {summary.get('rejected')} + " + " + ".join(f"{k} {v}" for k, v in other.items()))
        rep.heading("Galaxies")
        if len(galaxies):
            rep.image(bpt_png(t / "bpt.png", galaxies["log_nii_ha"], galaxies["log_oiii_hb"],
                              galaxies["bpt_class"].fillna("none")), "BPT diagram (the paper's Fig. 8)")
            pairs = {name: (galaxies["z_cl"], galaxies[f"{name}_z"]) for name in catalogs if f"{name}_z" in galaxies}
            if pairs:
                rep.image(redshift_comparison_png(t / "z_catalogs.png", pairs, "z_cl (this run)", "catalog z",
                                                  "z_cl vs reference catalogs (the paper's Fig. 10)"), "")
            rep.table([{"BPT class": k, "galaxies": int(v)} for k, v in summary.get("bpt", {}).items()])
        else:
            rep.paragraph("No galaxy passed every stage.")
        if len(confirmed):
            kept = confirmed[confirmed["inspection_pass"].astype(bool)]
            rep.image(redshift_comparison_png(t / "z_templates.png", {"confirmed": (kept["z_cl"], kept["z_rt"])},
                                              "z_cl (lines)", "z_rt (nearest template)",
                                              "line z vs transferred z (the paper's Fig. 6)"), "")
        rep.heading("Low-velocity set")
        if len(hii):
            h = hii[hii["hii"].astype(bool)]
            rep.image(velocity_hist_png(t / "hii_velocity.png", h["z_cl"]), "H II velocities (the paper's Fig. 7)")
            counts = hii.groupby("hii_class").size().to_dict() if "hii_class" in hii else {}
            rep.table([{"class": k, "spectra": int(v)} for k, v in counts.items()])
        else:
            rep.paragraph("No low-velocity spectrum passed every stage.")
        rep.heading("Seconds")
        rep.table([{"stage": k, "seconds": v} for k, v in summary.get("stage_seconds", {}).items()])
        pq = summary.get("pq", {})
        rep.table([{"PQ run": k, "training seconds": v} for k, v in pq.get("train_seconds", {}).items()])
        rep.write(t / "report.html")
        for f in sorted(t.iterdir()):
            write_bytes(join(folder, f.name), f.read_bytes())
    return join(folder, "report.html")
