"""ingest-spectra --set processing.grid.from_model=MODEL_URI: the grid of a registered encoder, resolved on the
driver; conflicts with explicit grid fields; embed-spectra's refusal names the option."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from astropy.io import fits

from skysift.config import ConfigError, load_config
from skysift.io.tables import read_table_json
from skysift.paths import conf_dir
from skysift.runtime.output import read_table
from skysift.spectra.grid import GridConfig, grid_of_model
from skysift.stages.ingest_spectra import job as ingest_job

MODEL_GRID = "lin:3600:7000:974:rest"  # what `make demo` registers as champion
CHAMPION = "models:/skysift-spec-encoder@champion"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A temporary MLflow store holding a tiny rest-frame encoder (974 points) as version 1, alias champion.

    The version's files are the two that tracking.log_encoder adds to the logged model (encoder_config.json,
    encoder_state.pt), registered with the client API: the pytorch flavour's signature inference would add
    ~20 s, and tests/stages/embed_spectra covers that path."""
    import json

    from mlflow import MlflowClient

    from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder
    from skysift.runtime import tracking

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder}/mlflow.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    torch.manual_seed(0)
    model = SpectrumEncoder(EncoderConfig(profile="tiny", n_points=974, grid_id=MODEL_GRID, dropout=0.0)).eval()
    files = tmp_path_factory.mktemp("model")
    torch.save(model.state_dict(), files / tracking.ENCODER_STATE)
    (files / tracking.ENCODER_CONFIG).write_text(json.dumps({"model": model.cfg.to_dict(), "pooling": "mean"}))
    mlf = tracking.mlflow_module(uri)
    with mlf.start_run(experiment_id=tracking.experiment_id(mlf, "grid-test", uri)) as run:
        mlf.log_artifacts(str(files), "model")
    client = MlflowClient()
    client.create_registered_model("skysift-spec-encoder")
    version = client.create_model_version("skysift-spec-encoder", source=f"{run.info.artifact_uri}/model",
                                          run_id=run.info.run_id)
    client.set_registered_model_alias("skysift-spec-encoder", "champion", version.version)
    yield uri
    mp.undo()


def _cfg(inputs, output, *sets, conf="ingest_spectra.yaml"):
    return load_config(ingest_job.CONFIG, conf_dir() / conf, [f"input={inputs}", f"output={output}", *sets])


def test_model_grid_replaces_default_fields_and_conflicts_are_named():
    model = parse = grid_of_model(GridConfig(), MODEL_GRID, CHAMPION)  # every field at its default
    assert (parse.start_angstrom, parse.stop_angstrom, parse.n_points, parse.spacing, parse.frame) == (
        3600.0, 7000.0, 974, "linear", "rest")
    assert model.grid_id == MODEL_GRID and model.from_model == ""
    # a field set to the model's own value is no conflict
    assert grid_of_model(GridConfig(3600.0, 7000.0, 974, frame="rest"), MODEL_GRID, CHAMPION) == model
    with pytest.raises(ConfigError) as err:
        grid_of_model(GridConfig(3600.0, 7000.0, 2435, frame="rest"), MODEL_GRID, CHAMPION)
    msg = str(err.value)
    assert "processing.grid.n_points=2435 (the model's: 974)" in msg and MODEL_GRID in msg and CHAMPION in msg
    assert "start_angstrom" not in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"spacing='log' \(the model's: 'linear'\)"):
        grid_of_model(GridConfig(spacing="log"), MODEL_GRID, CHAMPION)
    with pytest.raises(ConfigError, match="grid_id 'lin:3600' is unusable"):
        grid_of_model(GridConfig(), "lin:3600", CHAMPION)


def test_ingest_takes_the_champions_grid(registry, shared_data, tmp_path):
    out = tmp_path / "spectra"
    cfg = _cfg(shared_data / "sdss-spectra", out, f"processing.grid.from_model={CHAMPION}")
    summary = ingest_job.run(None, cfg)
    assert summary["grid_id"] == MODEL_GRID
    assert summary["grid_from_model"] == {"model_uri": CHAMPION, "model_version": "1", "grid_id": MODEL_GRID}
    props = read_table_json(out)
    assert props["grid_id"] == MODEL_GRID and props["grid_from_model"]["model_version"] == "1"
    table = read_table(out, ["source_file", "flux", "ivar", "norm_factor", "grid_id"]).to_pandas()
    assert summary["written"] == len(table) == 16  # the z = 1.19 quasar lies off the rest grid
    assert (table.grid_id == MODEL_GRID).all() and all(len(f) == 974 for f in table.flux)
    # a row is the file's pixels at lambda / (1 + Z), interpolated onto 3600-7000 A at 974 points
    row = table.set_index("source_file").loc[str(shared_data / "sdss-spectra" / "spec-0266-51602-0001.fits")]
    with fits.open(shared_data / "sdss-spectra" / "spec-0266-51602-0001.fits") as hdul:
        coadd, z = hdul[1].data, float(hdul[2].data[0]["Z"])
        fatal = (1 << 0) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 24)  # NOPLUG FULLREJECT NOSKY BRIGHTSKY NODATA
        good = (coadd["ivar"] > 0) & ((coadd["and_mask"].astype(np.int64) & fatal) == 0)
        rest = 10.0 ** coadd["loglam"][good].astype(float) / (1.0 + z)
        expected = np.interp(np.linspace(3600.0, 7000.0, 974), rest, coadd["flux"][good].astype(float))
    np.testing.assert_allclose(np.asarray(row.flux) * row.norm_factor, expected, rtol=2e-6,
                               atol=2e-6 * np.abs(expected).max())
    # and embed-spectra accepts the table for that model
    from skysift.stages.embed_spectra.config import EmbedConfig
    from skysift.stages.embed_spectra.job import prepare

    fn = prepare(EmbedConfig(input=str(out), output=str(tmp_path / "emb")), list(table.grid_id.unique()))
    assert fn.n_points == 974 and fn.model_version == "1"


def test_conflicting_grid_fields_fail_before_any_work(registry, shared_data, tmp_path):
    out = tmp_path / "spectra"
    cfg = _cfg(shared_data / "sdss-spectra", out, f"processing.grid.from_model={CHAMPION}", conf="ingest_spectra_rest.yaml")
    with pytest.raises(ConfigError, match=r"conflicts with processing\.grid\.n_points=2435 \(the model's: 974\)"):
        ingest_job.run(None, cfg)
    assert not out.exists()
    with pytest.raises(ConfigError, match=r"has no alias 'prod'"):
        ingest_job.run(None, _cfg(shared_data / "sdss-spectra", out,
                                  "processing.grid.from_model=models:/skysift-spec-encoder@prod"))
    assert not out.exists()


def test_unresolved_from_model_is_refused_by_the_kernel():
    from skysift.spectra.processing import ProcessingConfig, process_spectra_arrow

    with pytest.raises(ConfigError, match="resolve it on the driver first"):
        process_spectra_arrow([], ProcessingConfig(grid=GridConfig(from_model=CHAMPION)))


def test_embed_refusal_says_how_to_ingest_on_the_models_grid(registry, tmp_path):
    from skysift.stages.embed_spectra.config import EmbedConfig
    from skysift.stages.embed_spectra.job import prepare

    with pytest.raises(ConfigError) as err:
        prepare(EmbedConfig(input="spectra", output=str(tmp_path / "emb")), ["lin:3850:9000:3688"])
    assert str(err.value).endswith(f"run ingest-spectra with --set processing.grid.from_model={CHAMPION}")
    assert f"expects grid '{MODEL_GRID}'" in str(err.value)


def test_synth_survey_takes_the_champions_grid(registry, tmp_path):
    """synth-survey format=parquet writes spectra on a grid too: the same option, resolved the same way."""
    from skysift.stages.synth_survey import job as synth_job

    out = tmp_path / "synth"
    cfg = load_config(synth_job.CONFIG, None, [f"output={out}", "n_spectra=40", "format=parquet",
                                               f"processing.grid.from_model={CHAMPION}"])
    summary = synth_job.run(None, cfg)
    assert summary["grid_from_model"]["grid_id"] == MODEL_GRID
    assert read_table_json(out / "spectra")["grid_id"] == MODEL_GRID
    table = read_table(out / "spectra", ["flux", "grid_id"]).to_pandas()
    assert len(table) == summary["written"] > 0 and (table.grid_id == MODEL_GRID).all()
    assert all(len(f) == 974 for f in table.flux)
