"""embed-spectra with --output s3:// (moto's S3 server on 127.0.0.1): the tasks write the embeddings and the
rejects straight to the store with the settings shipped from the driver; the result equals a local run's."""
from __future__ import annotations

import uuid

import numpy as np
import torch

from skysift.models.spectrum_encoder import EncoderConfig, SpectrumEncoder
from skysift.runtime import filesystem as fsx
from skysift.runtime.output import SUCCESS, read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.embed_spectra.config import EmbedConfig
from skysift.stages.embed_spectra.job import run
from skysift.synth.toy_spectra import write_toy_spectra

GRID = "lin:3850:9000:200"


def test_embeddings_and_rejects_on_s3_equal_a_local_run(spark, s3_env_module, s3_bucket, tmp_path):
    cfg = EncoderConfig(profile="tiny", n_points=200, grid_id=GRID, dropout=0.0)
    torch.manual_seed(0)
    ckpt = tmp_path / "best.pt"
    torch.save({"model_state": SpectrumEncoder(cfg).state_dict(), "model_config": cfg.to_dict(), "step": 0}, ckpt)
    table = write_toy_spectra(tmp_path / "spectra", 60, GRID, seed=4, n_nonfinite=3)
    remote = fsx.join(f"s3://{s3_bucket}/embed-{uuid.uuid4().hex[:8]}", "embeddings")
    outs = {}
    for name, output in (("local", str(tmp_path / "emb")), ("remote", remote)):
        outs[name] = run(spark, EmbedConfig(input=str(table), output=output, model_uri=str(ckpt), precision="fp32"))
    assert outs["remote"]["output"] == remote and fsx.exists(fsx.join(remote, SUCCESS))
    for key in ("read", "written", "rejected"):
        assert outs["local"][key] == outs["remote"][key], key
    assert (outs["remote"]["written"], outs["remote"]["rejected"]) == (57, 3)
    local = read_table(str(tmp_path / "emb")).sort_by("spec_id")
    got = read_table(remote).sort_by("spec_id")
    assert got.schema == local.schema and got.column("spec_id").equals(local.column("spec_id"))
    np.testing.assert_array_equal(np.stack(got.column("embedding").to_numpy(zero_copy_only=False)),
                                  np.stack(local.column("embedding").to_numpy(zero_copy_only=False)))
    rej = read_rejects(remote).to_pandas()
    assert sorted(rej.spec_id) == ["toy-0", "toy-1", "toy-2"] and (rej.stage == "embed").all()
