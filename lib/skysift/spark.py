"""SparkSession from a profile in conf/spark/, plus executor-side helpers."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import yaml

from skysift.paths import conf_dir


class JavaMissingError(RuntimeError):
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
        raise ValueError(f"unknown Spark profile {profile!r}; available: {', '.join(available)}")
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
