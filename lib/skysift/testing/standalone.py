"""A throw-away Spark standalone cluster on 127.0.0.1: one master and one worker.

Started from the pyspark install of the running interpreter (``spark-class``),
so it needs nothing but Java. Used by tests/test_cluster_mode.py to run jobs
through ``spark-submit --master spark://...`` exactly as on a real cluster, and
by hand to try cluster mode::

    python -m skysift.testing.standalone      # prints the master URL, Ctrl-C stops it

Everything binds to 127.0.0.1 only (``SPARK_LOCAL_IP`` also covers the web UIs,
which otherwise listen on all interfaces); the master's REST submission server
is switched off because it listens on a fixed port (6066). Logs, the worker's
application folders and Spark's scratch space live under one temporary folder.
Both daemons run in their own process groups, and leaving the context manager
(normally or by an exception) stops them together with the executors the worker
launched.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from skysift.runtime.spark import free_port

LOOPBACK = "127.0.0.1"

# Spark may move a service to the next port when the chosen one was taken in the
# meantime, so the real ports are read back from the daemons' logs.
_MASTER_URL_RE = re.compile(r"Starting Spark master at (spark://\S+)")
_MASTER_UI_RE = re.compile(r"Successfully started service 'MasterUI' on port (\d+)")
_WORKER_REGISTERED_RE = re.compile(r"Successfully registered with master")

# Read by master and worker through --properties-file (never the user's spark-defaults.conf).
_DAEMON_PROPERTIES = {
    # The REST submission server listens on fixed port 6066: two clusters would collide.
    "spark.master.rest.enabled": "false",
    # Keep executor folders of finished applications: tests read their logs.
    "spark.worker.cleanup.enabled": "false",
}


def spark_home() -> Path:
    """The Spark distribution inside the pyspark package (holds bin/spark-class, jars/)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _get_json(url: str, timeout_s: float = 5.0) -> dict:
    # No proxies: an http_proxy in the environment must not intercept loopback calls.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout_s) as resp:
        return json.loads(resp.read().decode("utf-8"))


@dataclass(frozen=True)
class StandaloneCluster:
    """A running master + worker (valid inside ``standalone_cluster``)."""

    master_url: str
    """spark://127.0.0.1:PORT, for spark-submit --master."""
    webui_url: str
    """http://127.0.0.1:PORT of the master's web UI (its /json/ endpoint lists workers and applications)."""
    root: Path
    """Temporary folder holding conf/, logs/, work/ and local/."""
    python: str
    """Interpreter whose pyspark started the daemons; executors and the driver use it too."""

    @property
    def log_dir(self) -> Path:
        """master.log, worker.log (and whatever a caller writes there)."""
        return self.root / "logs"

    @property
    def work_dir(self) -> Path:
        """The worker's folder: work/<app id>/<executor id>/{stdout,stderr}."""
        return self.root / "work"

    @property
    def conf_dir(self) -> Path:
        """SPARK_CONF_DIR of the daemons and of submitted drivers (empty on purpose)."""
        return self.root / "conf"

    def state(self) -> dict:
        """The master's JSON status: workers, aliveworkers, activeapps, completedapps, ..."""
        return _get_json(self.webui_url.rstrip("/") + "/json/")

    def applications(self) -> list[dict]:
        """Applications the master has seen, active ones first (id, name, state, cores, ...)."""
        st = self.state()
        return list(st.get("activeapps", [])) + list(st.get("completedapps", []))

    def executor_logs(self, app_id: str) -> list[Path]:
        """stderr files of the executors the worker ran for ``app_id``."""
        return sorted((self.work_dir / app_id).glob("*/stderr"))

    def submit_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for spark-submit against this cluster (see ``submit_env``)."""
        env = submit_env(self.python, base)
        env["SPARK_CONF_DIR"] = str(self.conf_dir)
        env["SPARK_LOCAL_DIRS"] = str(self.root / "local")
        return env

    def submit_command(
        self,
        script: str | os.PathLike,
        args: Sequence[str] = (),
        conf: Mapping[str, str] | None = None,
        archives: Sequence[str] = (),
    ) -> list[str]:
        """argv of ``spark-submit --master <this> [--archives A#alias] [--conf k=v ...] SCRIPT ARGS``.

        The driver binds to 127.0.0.1 and runs without its web UI.
        """
        settings = {
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.ui.enabled": "false",
            # Below the worker's memory, so that one executor fits; it then takes all the worker's cores.
            "spark.executor.memory": "1g",
            **(conf or {}),
        }
        cmd = [_spark_submit(self.python), "--master", self.master_url]
        if archives:
            cmd += ["--archives", ",".join(archives)]
        for key, value in settings.items():
            cmd += ["--conf", f"{key}={value}"]
        return [*cmd, str(script), *map(str, args)]

    def submit(
        self,
        script: str | os.PathLike,
        args: Sequence[str] = (),
        conf: Mapping[str, str] | None = None,
        archives: Sequence[str] = (),
        timeout_s: float = 600.0,
        cwd: str | os.PathLike | None = None,
        log_name: str = "submit",
    ) -> subprocess.CompletedProcess:
        """Run spark-submit to completion; stdout/stderr are returned and also kept in logs/<log_name>.*."""
        proc = subprocess.run(
            self.submit_command(script, args, conf, archives),
            env=self.submit_env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        (self.log_dir / f"{log_name}.out").write_text(proc.stdout)
        (self.log_dir / f"{log_name}.err").write_text(proc.stderr)
        return proc


def submit_env(python: str = sys.executable, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for spark-submit from a virtual environment.

    The venv's bin first on PATH (its spark-submit and python), and
    PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON set to the venv's interpreter:
    without them executors start the system python and cannot import pandas.
    ``python`` is not resolved through symlinks (that would leave the venv).
    """
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(python).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["PYSPARK_PYTHON"] = python
    env["PYSPARK_DRIVER_PYTHON"] = python
    env["SPARK_LOCAL_IP"] = LOOPBACK
    env.pop("SPARK_HOME", None)  # let the venv's pyspark find its own distribution
    return env


def _spark_submit(python: str) -> str:
    beside = Path(python).parent / "spark-submit"
    return str(beside) if beside.exists() else str(spark_home() / "bin" / "spark-submit")


def _daemon_env(root: Path, python: str) -> dict[str, str]:
    env = submit_env(python)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_CONF_DIR=str(root / "conf"),
        SPARK_LOG_DIR=str(root / "logs"),
        SPARK_WORKER_DIR=str(root / "work"),
        SPARK_LOCAL_DIRS=str(root / "local"),
        SPARK_DAEMON_MEMORY="512m",
    )
    return env


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        # Own session = own process group: stop() signals the group, which also holds
        # the executor JVMs the worker forks and their Python workers.
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(proc: subprocess.Popen | None, grace_s: float = 20.0) -> None:
    if proc is None:
        return
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    if proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Children (executors) may outlive a leader that exited: finish the group off.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _wait_for(pattern: re.Pattern, log: Path, proc: subprocess.Popen, deadline: float, what: str) -> re.Match:
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = pattern.search(text)
        if match:
            return match
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready; "
                               f"log {log}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready in time; log {log}:\n{_tail(log)}")
        time.sleep(0.25)


@contextmanager
def standalone_cluster(
    cores: int = 2,
    memory: str = "2g",
    root: str | os.PathLike | None = None,
    python: str = sys.executable,
    start_timeout_s: float = 120.0,
    keep_root: bool = False,
) -> Iterator[StandaloneCluster]:
    """Start a master and one worker (``cores``, ``memory``) on 127.0.0.1; stop both on exit.

    ``root`` is the folder for logs and work files (a new temporary folder by
    default, removed on exit unless ``keep_root`` or a caller-given ``root``).
    Returns once the worker is registered and ALIVE in the master's JSON status.
    """
    from skysift.runtime.spark import check_java

    check_java()
    made_root = root is None
    base = Path(tempfile.mkdtemp(prefix="skysift-standalone-") if made_root else root)
    for sub in ("conf", "logs", "work", "local"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    props = base / "daemon.properties"
    props.write_text("".join(f"{k} {v}\n" for k, v in _DAEMON_PROPERTIES.items()))
    env = _daemon_env(base, python)
    spark_class = str(spark_home() / "bin" / "spark-class")
    master = worker = None
    deadline = time.monotonic() + start_timeout_s
    try:
        master_log = base / "logs" / "master.log"
        master = _start(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
             "--port", str(free_port()), "--webui-port", str(free_port()), "--properties-file", str(props)],
            env, master_log,
        )
        master_url = _wait_for(_MASTER_URL_RE, master_log, master, deadline, "Spark master").group(1)
        ui_port = int(_wait_for(_MASTER_UI_RE, master_log, master, deadline, "Spark master web UI").group(1))
        cluster = StandaloneCluster(master_url=master_url, webui_url=f"http://{LOOPBACK}:{ui_port}",
                                    root=base, python=python)

        worker_log = base / "logs" / "worker.log"
        worker = _start(
            [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", LOOPBACK,
             "--port", str(free_port()), "--webui-port", str(free_port()), "--cores", str(cores),
             "--memory", memory, "--work-dir", str(cluster.work_dir), "--properties-file", str(props)],
            env, worker_log,
        )
        _wait_for(_WORKER_REGISTERED_RE, worker_log, worker, deadline, "Spark worker")
        while True:
            try:
                alive = [w for w in cluster.state().get("workers", []) if w.get("state") == "ALIVE"]
            except OSError:
                alive = []
            if alive:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker registered but not ALIVE at {cluster.webui_url}/json/; "
                                   f"log {worker_log}:\n{_tail(worker_log)}")
            time.sleep(0.25)
        yield cluster
    finally:
        _stop(worker)
        _stop(master)
        if made_root and not keep_root:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Keep a cluster up until Ctrl-C and print how to submit to it."""
    import argparse

    parser = argparse.ArgumentParser(description="Run a Spark standalone master + worker on 127.0.0.1.")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory", default="2g")
    args = parser.parse_args(argv)
    with standalone_cluster(cores=args.cores, memory=args.memory, keep_root=True) as cluster:
        env = cluster.submit_env()
        print(f"master:  {cluster.master_url}\nweb UI:  {cluster.webui_url}\nlogs:    {cluster.log_dir}\n"
              f"submit:  PYSPARK_PYTHON={env['PYSPARK_PYTHON']} SPARK_LOCAL_IP={LOOPBACK} "
              f"{' '.join(cluster.submit_command('jobs/ingest_spectra.py', ['--profile', 'cluster', '...']))}\n"
              "Ctrl-C stops master and worker.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
