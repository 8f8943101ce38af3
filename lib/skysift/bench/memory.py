"""Peak-memory sampling of a Spark job: the Python driver, the JVM and the Python workers."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import psutil


@dataclass
class MemoryPeaks:
    """Peak resident set sizes in bytes, sampled every ``interval_s``."""

    python_driver: int = 0
    """This Python process (the job's driver program)."""
    jvm: int = 0
    """The Spark JVM (in local mode it hosts the driver and the executors)."""
    python_worker_max: int = 0
    """The largest single Python worker (executor-side pandas/Arrow batches)."""
    python_workers_total: int = 0
    """All Python workers together at their joint peak."""
    samples: int = 0
    """Number of samples taken."""
    history: list = field(default_factory=list)

    def as_dict(self) -> dict:
        gib = 1024**3
        return {
            "python_driver_peak_gib": round(self.python_driver / gib, 3),
            "jvm_peak_gib": round(self.jvm / gib, 3),
            "python_worker_peak_gib": round(self.python_worker_max / gib, 3),
            "python_workers_total_peak_gib": round(self.python_workers_total / gib, 3),
        }


class MemorySampler:
    """Context manager sampling RSS of this process and its descendants (JVM, pyspark workers)."""

    def __init__(self, interval_s: float = 0.25):
        self.interval_s = interval_s
        self.peaks = MemoryPeaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.is_set():
            self.sample(me)
            self._stop.wait(self.interval_s)

    def sample(self, me: psutil.Process) -> None:
        p = self.peaks
        try:
            p.python_driver = max(p.python_driver, me.memory_info().rss)
            jvm = 0
            workers = []
            for child in me.children(recursive=True):
                try:
                    name = child.name().lower()
                    rss = child.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if "java" in name:
                    jvm += rss
                elif "python" in name:
                    workers.append(rss)
            p.jvm = max(p.jvm, jvm)
            if workers:
                p.python_worker_max = max(p.python_worker_max, max(workers))
                p.python_workers_total = max(p.python_workers_total, sum(workers))
            p.samples += 1
        except psutil.NoSuchProcess:
            pass

