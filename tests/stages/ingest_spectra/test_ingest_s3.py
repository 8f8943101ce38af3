"""ingest-spectra with --output s3:// (moto's S3 server on 127.0.0.1): the executors write the table and its
rejects straight to the store, and the result equals a local run's, row for row."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from skysift.config import ConfigError, load_config
from skysift.io.tables import read_table_json
from skysift.paths import conf_dir
from skysift.runtime import filesystem as fsx
from skysift.runtime.output import MANIFEST, SUCCESS, read_table
from skysift.runtime.rejects import read_rejects
from skysift.stages.ingest_spectra import job as ingest_job
from skysift.synth.broken_files import write_broken_corpus


def _cfg(inputs, output):
    return load_config(ingest_job.CONFIG, conf_dir() / "ingest_spectra.yaml",
                       [f"input={inputs}", f"output={output}", "files_per_task=8"])


@pytest.fixture(scope="module")
def runs(spark, shared_data, s3_env_module, s3_bucket, tmp_path_factory):
    """The real SDSS + LAMOST sample and a corpus of broken files, ingested once locally and once to S3."""
    broken = tmp_path_factory.mktemp("broken")
    write_broken_corpus(broken)
    inputs = ",".join([str(shared_data / "sdss-spectra"), str(shared_data / "lamost-spectra"), str(broken)])
    local = str(tmp_path_factory.mktemp("ingest") / "spectra")
    area = f"s3://{s3_bucket}/ingest-{uuid.uuid4().hex[:8]}"
    remote = fsx.join(area, "spectra")
    return {"local": local, "remote": remote, "area": area, "endpoint": s3_env_module, "inputs": inputs,
            "s_local": ingest_job.run(spark, _cfg(inputs, local)),
            "s_remote": ingest_job.run(spark, _cfg(inputs, remote))}


def test_python_workers_do_not_see_the_driver_s3_variables(spark, runs):
    # The workers were started with the JVM, before the variables were set on the driver: the S3 run
    # reached the server only through the settings shipped with each task (runtime.filesystem).
    seen = spark.sparkContext.parallelize([0], 1).map(lambda _: os.environ.get("AWS_ENDPOINT_URL")).collect()
    assert seen != [runs["endpoint"]]


def test_same_counts(runs):
    a, b = runs["s_local"], runs["s_remote"]
    assert b["output"] == runs["remote"]
    for key in ("read", "written", "rejected", "files", "files_with_rejects", "tasks"):
        assert a[key] == b[key], key
    assert b["read"] == b["written"] + b["rejected"] == b["files"] and b["rejected"] > 0 and b["written"] > 20


def test_same_table_row_for_row(runs):
    keys = [("spec_id", "ascending"), ("source_file", "ascending")]
    local = read_table(runs["local"]).sort_by(keys)
    remote = read_table(runs["remote"]).sort_by(keys)
    assert remote.num_rows == runs["s_local"]["written"]
    assert remote.schema == local.schema
    assert remote.equals(local)


def test_same_rejects(runs):
    keys = [(c, "ascending") for c in ("source_file", "stage", "reason")]
    local, remote = read_rejects(runs["local"]).sort_by(keys), read_rejects(runs["remote"]).sort_by(keys)
    assert remote.num_rows == runs["s_local"]["rejected"] and remote.equals(local)


def test_same_files_committed_by_manifest(runs):
    local = fsx.file_sizes(runs["local"], include_hidden=True)
    remote = fsx.file_sizes(runs["remote"], include_hidden=True)
    assert sorted(remote) == sorted(local) and MANIFEST in remote and SUCCESS in remote
    # the table files are the same bytes: same rows, same pyarrow writer
    assert {r: s for r, s in remote.items() if r.endswith(".parquet")} == {
        r: s for r, s in local.items() if r.endswith(".parquet")}
    listed = {e["path"] for e in json.loads(fsx.read_bytes(fsx.join(runs["remote"], MANIFEST)))["files"]}
    assert listed == set(remote) - {MANIFEST, SUCCESS}
    # no staging prefix, no lock left beside the output
    assert all(rel.startswith("spectra/") for rel in fsx.file_sizes(runs["area"], include_hidden=True))


def test_table_properties(runs):
    local, remote = read_table_json(runs["local"]), read_table_json(runs["remote"])
    assert remote["config"].pop("output") == runs["remote"]
    local["config"].pop("output")
    assert remote == local and remote["grid_id"] == "lin:3850:9000:3688"


def test_object_store_input_is_a_clear_error(spark, runs, s3_bucket):
    with pytest.raises(ConfigError, match=r"reads FITS files from plain local paths") as err:
        ingest_job.run(spark, _cfg(f"s3://{s3_bucket}/fits", runs["local"] + "-x"))
    assert "\n" not in str(err.value)
