"""SparkSession from a profile in conf/spark/, job-scoped SQL settings, and what a task asks of its executor
(its torch device from the task's GPU resources, its CPU count)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import yaml

from skysift.paths import conf_dir
from skysift.runtime.errors import SkysiftError


class JavaMissingError(SkysiftError):
    """Spark needs a Java runtime (17) that cannot be found."""


def check_java() -> str:
    """Return the java executable or raise a clear error when Java is missing."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [os.path.join(java_home, "bin", "java")] if java_home else []
    found = shutil.which("java")
    if found:
        candidates.append(found)
    for exe in candidates:
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    raise JavaMissingError(
        "Java not found: Spark needs Java 17 (install e.g. `apt-get install openjdk-17-jre-headless` "
        "or set JAVA_HOME)"
    )


def load_profile(profile: str) -> dict[str, Any]:
    """Read conf/spark/<profile>.yaml: {master: ..., conf: {key: value}}."""
    path = conf_dir() / "spark" / f"{profile}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in (conf_dir() / "spark").glob("*.yaml"))
        raise SkysiftError(f"unknown Spark profile {profile!r}; available: {', '.join(available)}")
    data = yaml.safe_load(path.read_text()) or {}
    return {"master": data.get("master"), "conf": dict(data.get("conf") or {})}


def session(profile: str = "local", app_name: str = "skysift", extra_conf: dict[str, Any] | None = None):
    """Build (or reuse) the SparkSession for ``profile``.

    The local profile pins the Python workers to this interpreter: without it
    executors start the system python and fail to import pandas.
    """
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    prof = load_profile(profile)
    builder = SparkSession.builder.appName(app_name)
    if prof["master"]:
        builder = builder.master(str(prof["master"]))
    for key, value in {**prof["conf"], **(extra_conf or {})}.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SKYSIFT_SPARK_LOG_LEVEL", "WARN"))
    return spark


def java_version() -> str:
    """The `java -version` banner's first line (for run reports)."""
    out = subprocess.run([check_java(), "-version"], capture_output=True, text=True)
    return (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "unknown"


def task_device() -> str:
    """The torch device for this task: a GPU assigned by Spark resources, else CUDA if visible, else CPU."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None:
            gpus = ctx.resources().get("gpu")
            if gpus is not None and gpus.addresses:
                return f"cuda:{gpus.addresses[0]}"
    except Exception:  # noqa: BLE001 - resources are optional; CPU is always valid
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except ImportError:
        pass
    return "cpu"


def task_cpus() -> int:
    """CPUs Spark gave this task (spark.task.cpus); 0 outside a Spark task."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        return int(ctx.cpus()) if ctx is not None else 0
    except Exception:  # noqa: BLE001 - outside Spark: the caller keeps its default
        return 0


class sql_conf:
    """Job-scoped Spark SQL settings, restored on exit (``with sql_conf(spark, {key: value}): ...``).

    Catalog jobs need other Arrow batch and input split sizes than the profile's: its 512 rows per Arrow
    batch suit 30 kB spectra, not 40-byte catalog rows, and a 1M-row catalog file (~30 MB) at Spark's default
    128 MB split would be one task on one core.
    """

    def __init__(self, spark, settings: dict[str, Any]):
        self.spark = spark
        self.settings = {k: str(v) for k, v in settings.items()}
        self.old: dict[str, str | None] = {}

    def __enter__(self):
        for key, value in self.settings.items():
            self.old[key] = self.spark.conf.get(key, None)
            self.spark.conf.set(key, value)
        return self

    def __exit__(self, *exc):
        for key, value in self.old.items():
            if value is None:
                self.spark.conf.unset(key)
            else:
                self.spark.conf.set(key, value)


def catalog_sql_conf(spark, arrow_batch_rows: int, split_bytes: int = 8 << 20) -> sql_conf:
    """The settings of a catalog job: Arrow batch rows and the input split size in bytes."""
    return sql_conf(spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": arrow_batch_rows,
                            "spark.sql.files.maxPartitionBytes": split_bytes})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (DDP rendezvous, test clusters)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
