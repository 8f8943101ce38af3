"""Demo pipeline ``imaging``: the imaging foundation (issue 14).

synth-survey with imaging (fields + their spectroscopic objects' spectra)
  -> ingest-frames on the synthetic frames, on the real g/r/i field 2583-2-136 and on the real u frame
  -> make-cutouts for the synthetic photoObj and the real u frame's photoObj
  -> figures: a field in colour with its tile grid, cutouts per class (shown on the index page)
Products for later pipelines: ``imaging_survey``, ``ingest_synthetic``, ``cutouts_synthetic``.
"""
from __future__ import annotations

from pathlib import Path

from skysift.demo.context import DemoRun

REAL_GRI_FIELD = "frame-[gri]-002583-2-0136.fits.bz2"
"""The real g/r/i frames of field 2583-2-136 in ../shared/data/sdss-imaging."""
REAL_U_FRAME = "frame-u-003900-6-0269.fits.bz2"
"""The real u frame of 3900-6-269 (one band) and its photoObj catalog."""
REAL_U_PHOTOOBJ = "photoObj-003900-6-0269.fits"

SECTION = "Imaging"


def run(demo: DemoRun) -> None:
    from skysift.report import imaging as fig

    cfg, out, real, stage = demo.cfg, demo.out, demo.real, demo.stage
    survey, report = out / "imaging_survey", out / "imaging_report"
    stage("synthetic imaging survey linked to its spectra", "synth-survey", [
        "--output", survey, "--set", "n_spectra=0", "--set", f"seed={cfg.seed}", "--set", "imaging.enabled=true",
        "--set", f"imaging.n_fields={cfg.imaging_fields}",
        # full 1489 x 2048 frames (ingest-frames rejects SDSS-named frames of another shape); uncompressed:
        # bz2 is ~60 % of writing a field and most of reading one, and the real frames test bz2 anyway
        "--set", "imaging.compress=false",
        "--set", f"imaging.survey.population.spec_density_per_deg2={cfg.imaging_spec_density_per_deg2}"],
        note="u g r i z frames in the SDSS corrected-frame format, photoObj / SpecPhoto / truth / MPA-JHU tables, "
             "and the spectra of the spectroscopic objects (spec_id synth-<object_id>)")
    ingest_synth, cut_synth = out / "imaging_ingest_synthetic", out / "imaging_cutouts_synthetic"
    stage("ingest synthetic frames (register g r i onto r, 640 px tiles)", "ingest-frames", [
        "--input", survey / "imaging" / "frames", "--output", ingest_synth])
    # gri: the bands ingest-frames stacked into tiles; ugriz re-reads and registers the u and z frames of every
    # field (measured 118 s for 951 rows on the shared 2-core machine, load ~16)
    stage("cutouts of the synthetic photoObj catalog (gri, 64 px)", "make-cutouts", [
        "--catalog", survey / "imaging" / "photoobj", "--input", ingest_synth, "--output", cut_synth,
        "--set", "bands=gri"])
    demo.outputs.update({"imaging survey": survey, "synthetic fields + tiles": ingest_synth,
                         "synthetic cutouts": cut_synth})
    demo.products.update({"imaging_survey": survey, "ingest_synthetic": ingest_synth, "cutouts_synthetic": cut_synth})
    report.mkdir(parents=True, exist_ok=True)
    synth_field = fig.field_stack(ingest_synth)
    demo.figure(SECTION, "synthetic field in colour, tile grid", fig.field_rgb_png(
        report / "field_synthetic.png", synth_field, f"synthetic field {synth_field.field_id} (gri, Lupton asinh) and its tiles"))
    labels = fig.synthetic_labels(survey / "imaging")
    demo.figure(SECTION, "synthetic cutouts per true class", fig.cutout_grid_png(
        report / "cutouts_synthetic_by_class.png", cut_synth, labels, title="synthetic cutouts by true class (gri)")[0])
    if real is None or not (real / "sdss-imaging").is_dir():
        return
    src = real / "sdss-imaging"
    ingest_real, ingest_u, cut_u = out / "imaging_ingest_real", out / "imaging_ingest_real_u", out / "imaging_cutouts_real_u"
    stage("ingest the real g/r/i field 2583-2-136", "ingest-frames", ["--input", src / REAL_GRI_FIELD, "--output", ingest_real])
    stage("ingest the real u frame 3900-6-269 (bands=u)", "ingest-frames", [
        "--input", src / REAL_U_FRAME, "--output", ingest_u, "--set", "bands=u", "--set", "reference_band=u"])
    stage("cutouts of the real u frame's photoObj", "make-cutouts", [
        "--catalog", src / REAL_U_PHOTOOBJ, "--input", ingest_u, "--output", cut_u, "--set", "bands=u"],
        note="photoObj rows whose position is off the frame go to _rejects")
    demo.outputs.update({"real fields + tiles": ingest_real, "real u cutouts": cut_u})
    demo.products.update({"ingest_real_gri": ingest_real})
    real_field = fig.field_stack(ingest_real)
    demo.figure(SECTION, "real field 2583-2-136 in colour, tile grid", fig.field_rgb_png(
        report / "field_real_2583-2-136.png", real_field, "SDSS field 2583-2-136 (gri registered onto r) and its 4 x 3 tiles"))
    demo.figure(SECTION, "real u cutouts per photoObj type", fig.cutout_grid_png(
        report / "cutouts_real_u_by_type.png", cut_u, photoobj_types(src / REAL_U_PHOTOOBJ),
        title="real u cutouts of 3900-6-269 by photoObj TYPE")[0])


def photoobj_types(path: Path) -> dict[str, str]:
    """OBJID (text) -> 'galaxy (type 3)' / 'star (type 6)' / 'other' of an SDSS photoObj file."""
    from astropy.table import Table

    t = Table.read(path)
    names = {3: "galaxy (type 3)", 6: "star (type 6)"}
    return {str(o).strip(): names.get(int(k), "other") for o, k in zip(t["OBJID"], t["OBJC_TYPE"])}
