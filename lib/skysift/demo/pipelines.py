"""The demo's pipelines, in the order they run, and what each needs run before it.

A pipeline is a module of this package with ``run(demo: DemoRun) -> None``: it chains its jobs through
``demo.stage(...)`` and leaves what later pipelines read in ``demo.products``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

PIPELINES: dict[str, str] = {
    "spectral": "the spectral target search of Tang et al. 2025: ingest, pretrain, embed, KB, search, evaluate, HATS",
    "imaging": "the imaging foundation (issue 14): synthetic frames + the real fields, tiles, cutouts, figures",
    "emission": "emission-line galaxies and H II regions of Lu et al. 2022: a synthetic Unknown pool + the real "
                "sample, find-emission-lines (catalogs, report, BPT), PQ validity",
    "detection": "source detection + classification (Zhao et al. 2025): train YOLOv8n + Conv4Net, detect-sources on the "
                 "synthetic and real tiles, catalog (Parquet + HATS), quality report, annotated tile",
    "sfr": "star-formation rate from ugriz cutouts + spectra (issue 16, Rustamov 2025): build-multimodal, train-sfr, "
           "predict-sfr, evaluate-sfr",
    "similarity": "galaxy image similarity search (issue 17, Friberg): stamps, contrastive ViT, faiss index, "
                  "contact sheets, quality report",
}
"""Name -> one line; the order is the order they run in."""

REQUIRES: dict[str, tuple[str, ...]] = {"detection": ("imaging",), "sfr": ("imaging",), "similarity": ("imaging",)}
"""Pipelines that read another pipeline's products (imaging-based ones need ``imaging``)."""


def resolve(names: tuple[str, ...]) -> list[str]:
    """The pipelines to run for ``names``: unknown names refused, prerequisites added, in PIPELINES order."""
    from skysift.config import ConfigError

    unknown = [n for n in names if n not in PIPELINES]
    if unknown:
        raise ConfigError(f"pipelines: unknown {unknown}; known: {', '.join(PIPELINES)}")
    wanted = set(names)
    for name in list(wanted):
        wanted.update(REQUIRES.get(name, ()))
    return [n for n in PIPELINES if n in wanted]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"skysift.demo.{name}")
