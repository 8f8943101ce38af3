"""Kill and rerun every job that writes an output (issue 18 part 3; RELIABILITY.md).

For each job of ``JOBS``: an uninterrupted run in this process makes the previous output and the reference
rows; the same command in a separate process is SIGKILLed (with every process below it) as soon as its
first data file is staged, after which the previous output must be byte-identical and read back whole;
a rerun in this process must then give exactly the reference rows, and leave no staging folder or lock.
The killed process waits before its commit (``SKYSIFT_TEST_HOLD_COMMIT_S``), so that even a job that
stages everything in a few milliseconds is killed before it commits; the commit's own kill points are
tests/runtime/test_output.py's. Jobs with a sequential twin run it (no Spark: seconds); the others run
the real CLI on local Spark in the killed process and the shared session for the two in-process runs.

A new job joins by adding one line to ``JOBS`` (and, when it needs a new kind of input, a builder to
``Inputs``, in conftest.py: tests/reliability/test_resume_task_jobs.py uses them too).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from skysift.testing.faults import (
    HOLD_COMMIT,
    job_command,
    kill_when,
    run_here,
    snapshot,
    staged_data_files,
    staging_path,
    subprocess_env,
    table_rows,
)


GRID = "lin:3850:9000:200"
"""A short grid for the toy spectra tables (200 points): the encoder and the KB stay tiny (conftest.GRID)."""


@dataclass(frozen=True)
class Case:
    """One job of the harness: its name, its argv (inputs, output folder) and how it runs."""

    job: str
    argv: Callable[[Inputs, Path], list]
    spark: bool = False
    """No sequential twin: the killed run uses the real CLI on local Spark, the others the shared session."""
    ignore: tuple[str, ...] = ()
    """Columns that differ between two runs by design (wall times)."""
    name: str = ""
    """Test id when a job appears twice."""
    json_files: tuple[str, ...] = ()
    """Result files that are not tables, compared as JSON without the keys of ``json_ignore``."""
    json_ignore: tuple[str, ...] = ()
    """Keys of ``json_files``, at any depth, that differ between two runs by design (timings, registry)."""
    same_names: bool | None = None
    """The output's file names are the same every run; None: unless ``spark`` (Spark's own writer names its
    files part-NNNNN-<uuid>)."""


def _without(doc, keys: set[str]):
    if isinstance(doc, dict):
        return {k: _without(v, keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [_without(v, keys) for v in doc]
    return doc


def results(case: Case, out: Path) -> dict:
    """What two runs of ``case`` must agree on: every table's rows, the JSON results, the file names."""
    import json

    found = {"tables": table_rows(out, case.ignore)}
    for name in case.json_files:
        doc = json.loads((out / name).read_text())
        found[name] = _without(doc, set(case.json_ignore))
    if case.same_names or (case.same_names is None and not case.spark):
        found["names"] = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    return found


ELG_PQ = ["--set", "pq.configurations=[2/25/100]"]
IMAGING = ["n_spectra=0", "imaging.enabled=true", "imaging.n_fields=2", "imaging.shape_px=[200,256]",
           "imaging.compress=false", "imaging.survey.population.spec_density_per_deg2=4000", "imaging.n_stamps=2",
           "imaging.stamps_per_task=1", "imaging.stamps.size_px=48", "imaging.stamps.galaxy_re_range_px=[3,10]"]

JOBS = [
    Case("synth-survey", lambda i, o: ["--output", o, "--set", "n_spectra=24", "--set", "rows_per_partition=6"]),
    Case("synth-survey", lambda i, o: ["--output", o, "--set", "n_spectra=24", "--set", "rows_per_partition=6",
                                       "--set", "format=parquet"], name="synth-survey-parquet"),
    # the imaging survey alone (n_spectra=0: the first staged file is a frame, so the kill lands in the imaging
    # writer): 2 small fields, the linked spectra of their 3 spectroscopic objects, 2 stamps (~4 s)
    Case("synth-survey", lambda i, o: ["--output", o, *[a for s in IMAGING for a in ("--set", s)]],
         name="synth-survey-imaging"),
    Case("ingest-spectra", lambda i, o: ["--input", i.survey / "spectra", "--output", o, "--set", "files_per_task=6"]),
    Case("load-catalog", lambda i, o: ["--input", i.survey / "truth", "--output", o, "--set", "format=parquet",
                                       "--set", "spec_id_column=file_spec_id", "--set", "label_column=target_class"],
         spark=True),
    Case("embed-spectra", lambda i, o: ["--input", i.spectra, "--output", o, "--set", f"model_uri={i.spectrum_encoder}",
                                        "--set", "precision=fp32", "--set", "device=cpu"]),
    Case("build-kb", lambda i, o: ["--embeddings", i.vectors / "emb", "--labels", i.vectors / "labels", "--output", o,
                                   "--set", "index.kind=flat", "--set", "n_shards=2"], spark=True),
    Case("search-kb", lambda i, o: ["--kb", i.kb, "--input", i.vectors / "queries", "--output", o], spark=True),
    Case("dedupe", lambda i, o: ["--input", i.detections, "--output", o, "--set", "score_column=score",
                                 "--set", "id_column=det", "--set", "target_rows_per_group=300"], spark=True),
    Case("crossmatch", lambda i, o: ["--left", i.catalogs / "left", "--right", i.catalogs / "right", "--output", o,
                                     "--set", "mode=all", "--set", "left_id_column=lid", "--set", "right_id_column=rid",
                                     "--set", "target_rows_per_group=200"], spark=True),
    Case("evaluate-pq", lambda i, o: ["--output", o, "--set", "n_stars=60", "--set", "n_galaxies=8",
                                      "--set", "k_values=[2,4]"]),
    Case("evaluate-kb", lambda i, o: ["--embeddings", i.vectors / "emb", "--labels", i.vectors / "labels", "--output", o,
                                      "--set", "rf_trees=10", "--set", "cnn_epochs=1", "--set", "timing_sizes=[100,200]",
                                      "--set", "timing_queries=10", "--set", "index.kind=flat"],
         json_files=("metrics.json",), json_ignore=("retrieval_timing",)),
    Case("ingest-frames", lambda i, o: ["--input", i.frames, "--output", o, "--set", "tiles.size_px=128"],
         ignore=("seconds",)),
    Case("make-cutouts", lambda i, o: ["--catalog", i.positions, "--input", i.fields, "--output", o,
                                       "--set", "bands=gri"]),
    Case("embed-images", lambda i, o: ["--input", i.stamps, "--output", o, "--set", f"model_uri={i.image_encoder}",
                                       "--set", "torch_threads=1", "--set", "rows_per_task=16"]),
    Case("build-image-index", lambda i, o: ["--input", i.image_vectors, "--output", o]),
    Case("search-images", lambda i, o: ["--index", i.image_index, "--output", o, "--set", f"query={i.stamps}",
                                        "--set", f"model_uri={i.image_encoder}"]),
    Case("build-multimodal", lambda i, o: ["--cutouts", i.multimodal / "cutouts", "--spectra", i.multimodal / "spectra",
                                           "--labels", i.multimodal / "labels", "--output", o], spark=True),
    Case("train-sfr", lambda i, o: ["--input", i.sfr_table, "--output", o, *i.sfr_train_sets],
         json_files=("report.json",), json_ignore=("registry", "seconds", "train_seconds_mean")),
    Case("find-emission-lines", lambda i, o: [
        "--input", i.pool / "spectra", "--output", o, "--set", f"templates={i.pool / 'templates'}", *ELG_PQ]),
    Case("predict-sfr", lambda i, o: ["--input", i.sfr_rows, "--output", o, "--set", f"model_uri={i.sfr_model}",
                                      "--set", "rows_per_task=10", "--set", "device=cpu", "--set", "torch_threads=1"]),
    Case("evaluate-sfr", lambda i, o: ["--input", i.sfr_trained, "--output", o],
         json_files=("metrics.json",), json_ignore=("seconds", "train_seconds_mean")),
    Case("detect-sources", lambda i, o: [
        "--input", i.detection.root, "--output", o, "--set", f"catalog={i.detection.photoobj}",
        "--set", f"detector_uri={i.detection_models.detector}", "--set", f"classifier_uri={i.detection_models.classifier}",
        "--set", "detector.conf=0.001", "--set", "detector.max_det=100", "--set", "tiles_per_task=4", "--set", "hats=false"]),
]


@pytest.fixture(scope="session", autouse=True)
def private_registry(tmp_path_factory):
    """A temporary MLflow store and runs folder for the jobs that register models (here and in subprocesses)."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("reliability-mlflow")
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    mp.setenv("SKYSIFT_RUNS_DIR", str(root / "runs"))
    yield
    mp.undo()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name or c.job, marks=[pytest.mark.slow] if c.spark else [])
                                  for c in JOBS])
def test_kill_keeps_previous_output_and_rerun_gives_the_same_rows(case: Case, inputs: Inputs, tmp_path, request):
    spark = request.getfixturevalue("spark") if case.spark else None
    out = tmp_path / "out"
    argv = case.argv(inputs, out)
    run_here(case.job, argv, spark)
    before = snapshot(out)
    expected = results(case, out)
    assert before and (sum(map(len, expected["tables"].values())) > 0 or case.json_files)

    killed = kill_when(job_command(case.job, argv, spark=case.spark), lambda: bool(staged_data_files(out)),
                       env=subprocess_env(**HOLD_COMMIT))
    assert killed.killed and killed.returncode == -9, killed.log
    assert staged_data_files(out), "killed before it staged anything"
    assert snapshot(out) == before  # the previous output, byte for byte
    assert results(case, out) == expected

    run_here(case.job, argv, spark)
    assert results(case, out) == expected
    assert not staging_path(out).exists() and not (out.parent / f".{out.name}.lock").exists()


def test_synth_survey_imaging_killed_in_its_last_phase_resumes_every_phase(tmp_path):
    """The harness kills synth-survey-imaging at its first frame; here the kill lands once a stamp task has
    its marker (fields, linked spectra, a stamp task done): the rerun resumes exactly the tasks with a marker
    (``resumed_tasks`` counts the fields and stamps too) and gives the rows, file names and frame bytes of an
    uninterrupted run."""
    from skysift.testing.faults import resume_markers

    argv = lambda out: ["--output", out, *[a for s in IMAGING for a in ("--set", s)]]  # noqa: E731
    ref, out = tmp_path / "ref", tmp_path / "out"
    alone = run_here("synth-survey", argv(ref))
    killed = kill_when(job_command("synth-survey", argv(out)),
                       lambda: any(m.startswith("stamps/") for m in resume_markers(out)), env=subprocess_env(**HOLD_COMMIT))
    assert killed.killed and killed.returncode == -9, killed.log
    kept = resume_markers(out)
    assert {m.split("/")[0] for m in kept} == {"fields", "linked", "stamps"}, kept
    resumed = run_here("synth-survey", argv(out))
    assert alone["resumed_tasks"] == 0 and resumed["resumed_tasks"] == len(kept)
    case = next(c for c in JOBS if c.name == "synth-survey-imaging")
    assert results(case, out) == results(case, ref)  # rows and file names
    assert snapshot(out / "imaging" / "frames") == snapshot(ref / "imaging" / "frames")


def pretrain_argv(inputs: Inputs, out: Path, *extra: str) -> list:
    """A 12-step tiny pre-training on the toy spectra, checkpointed every 3 steps, without MLflow."""
    sets = [f"model.n_points=200", f"model.grid_id={GRID}", "model.profile=tiny", "model.dropout=0.0",
            "batch_size=8", "warmup_steps=3", "total_steps=12", "val_every=4", "val_batches=2", "val_fraction=0.2",
            "checkpoint_every=3", "log_every=1", "shuffle_buffer=32", "progress=false", "mlflow.enabled=false", *extra]
    return ["--input", inputs.spectra, "--output", out, *[a for s in sets for a in ("--set", s)]]


def test_pretrain_killed_after_a_checkpoint_resumes_the_same_curve(inputs: Inputs, tmp_path):
    """pretrain writes its run folder in place (last.pt, best.pt): a kill leaves the last checkpoint, and
    --set resume=true continues from it with the same steps, losses and final weights as an uninterrupted run."""
    import json

    import numpy as np
    import torch

    from skysift.stages.pretrain.tasks import LAST, SUMMARY

    full = tmp_path / "full"
    run_here("pretrain", pretrain_argv(inputs, full))
    reference = json.loads((full / SUMMARY).read_text())["history"]
    part = tmp_path / "part"
    killed = kill_when(job_command("pretrain", pretrain_argv(inputs, part)), lambda: (part / LAST).exists(),
                       env=subprocess_env())
    assert killed.killed and killed.returncode == -9, killed.log
    rest = run_here("pretrain", pretrain_argv(inputs, part, "resume=true"))
    assert 3 <= rest["start_step"] < 12 and rest["steps"] == 12
    history = json.loads((part / SUMMARY).read_text())["history"]
    assert [s for s, _ in history] == [s for s, _ in reference][rest["start_step"]:]
    np.testing.assert_allclose([l for _, l in history], [l for _, l in reference][rest["start_step"]:], rtol=1e-5)
    a, b = (torch.load(p / LAST, weights_only=False)["model_state"] for p in (full, part))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


# ---- training jobs: a kill while the model is logged and registered ---------------------------------------

def _load_detector(uri: str) -> None:
    from skysift.detection.inference import load_yolo, resolve_detector

    load_yolo(resolve_detector(uri).path)


def _load_classifier(uri: str) -> None:
    from skysift.detection.inference import load_classifier, resolve_classifier

    load_classifier(resolve_classifier(uri).path)


def _load_image_encoder(uri: str) -> None:
    from skysift.runtime import tracking

    tracking.load_image_encoder(tracking.resolve_model(uri, tracking.tracking_uri()))


def _load_sfr(uri: str) -> None:
    from skysift.models.sfr_bundle import SfrBundle, resolve_sfr_model
    from skysift.runtime import tracking

    SfrBundle(resolve_sfr_model(uri, tracking.tracking_uri())["dir"])


@dataclass(frozen=True)
class TrainCase:
    """A training job of the harness: its tiny profile's argv, its registered model and how a consumer loads it."""

    job: str
    argv: Callable[[Inputs, Path], list]
    model: str
    load: Callable[[str], None]


def _conf(name: str) -> list:
    from skysift.paths import conf_dir

    return ["--config", conf_dir() / name]


TRAINING = [
    TrainCase("train-detector", lambda i, o: [*_conf("train_detector_tiny.yaml"), "--output", o, "--set",
                                              "source.n_fields=2"], "skysift-detector", _load_detector),
    TrainCase("train-classifier", lambda i, o: [*_conf("train_classifier_tiny.yaml"), "--output", o,
                                                "--set", "train.epochs=1"], "skysift-classifier", _load_classifier),
    TrainCase("train-image-encoder", lambda i, o: [*_conf("train_image_encoder_tiny.yaml"), "--input", i.stamps,
                                                   "--output", o, "--set", "epochs=2", "--set", "mini_search_batch=4"],
              "skysift-image-encoder", _load_image_encoder),
    TrainCase("train-sfr", lambda i, o: ["--input", i.sfr_table, "--output", o, *i.sfr_train_sets], "skysift-sfr", _load_sfr),
]


def registry_state(name: str, load: Callable[[str], None]) -> dict:
    """{version: status} of registered model ``name`` and its champion's version, after loading every version
    and the champion the way their consumers do (an exception here is a broken registration)."""
    from mlflow import MlflowClient

    from skysift.runtime import tracking

    tracking.mlflow_module(tracking.tracking_uri())
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except Exception:  # noqa: BLE001 - not registered yet
        return {"versions": {}, "champion": None}
    versions = {int(v.version): v.status for v in client.search_model_versions(f"name='{name}'")}
    for version in versions:
        load(f"models:/{name}/{version}")
    try:
        champion = int(client.get_model_version_by_alias(name, "champion").version)
    except Exception:  # noqa: BLE001 - no alias
        champion = None
    if champion is not None:
        load(f"models:/{name}@champion")
    return {"versions": versions, "champion": champion}


def _artifact_files() -> set[str]:
    from skysift.runtime import tracking

    root = Path(tracking.artifact_root(tracking.tracking_uri()) or "/nonexistent")
    return {p.as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


@pytest.mark.slow
@pytest.mark.parametrize("case", TRAINING, ids=[c.job for c in TRAINING])
def test_training_killed_while_it_registers_leaves_loadable_versions_and_champion(case: TrainCase, inputs: Inputs,
                                                                                  tmp_path):
    """Killed once its model's files start to reach the artifact store (log_model, then register and move
    the alias): every registered version and the champion alias still load the way their consumers load
    them, none is left half-registered (status READY), and a rerun registers one more loadable version."""
    run_here(case.job, case.argv(inputs, tmp_path / "first"))
    before = registry_state(case.model, case.load)
    assert before["versions"] and before["champion"] in before["versions"]

    seen = _artifact_files()
    argv = case.argv(inputs, tmp_path / "killed")
    killed = kill_when(job_command(case.job, argv), lambda: bool(_artifact_files() - seen), env=subprocess_env(),
                       poll_s=0.01)
    assert killed.killed and killed.returncode == -9, killed.log
    after = registry_state(case.model, case.load)
    assert set(after["versions"]) - set(before["versions"]) <= {max(before["versions"]) + 1}
    assert all(status == "READY" for status in after["versions"].values()), after
    assert after["champion"] in after["versions"]

    rerun = run_here(case.job, argv)
    final = registry_state(case.model, case.load)
    assert len(final["versions"]) == len(after["versions"]) + 1 and all(s == "READY" for s in final["versions"].values())
    new = max(final["versions"])
    assert rerun.get("model_version", new) == new and final["champion"] in final["versions"]
