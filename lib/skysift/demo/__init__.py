"""`skysift demo`: every pipeline end to end in local Spark on the synthetic survey plus the real sample.

Each pipeline is a module here (``pipelines.PIPELINES`` lists them in order); every stage is the same job
a user runs by hand (`skysift <job> ...`). The demo only chains them in one Spark session and writes an
index page of the outputs. ``skysift demo --set pipelines=spectral,imaging`` runs a subset.
"""
from skysift.demo.config import CONFIG, DemoConfig
from skysift.demo.job import run

__all__ = ["CONFIG", "DemoConfig", "run"]
