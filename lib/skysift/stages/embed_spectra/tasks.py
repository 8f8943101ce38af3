"""The per-batch function of `skysift embed-spectra` (pandas in, pandas out; no Spark here): stack each
batch's flux lists into one tensor, run the encoder on the task's device, flag unusable rows with a reason."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from skysift.models.precision import forward_autocast
from skysift.runtime.spark import task_cpus
from skysift.schema import EMBEDDINGS

REASON_COL = "reject_reason"
SOURCE_COL = "source_file"


@dataclass(frozen=True)
class EmbedBatch:
    """The per-batch function `pandas.DataFrame -> pandas.DataFrame` (spec_id, flux[, source_file] in).

    Output columns: EMBEDDINGS plus ``source_file`` and ``reject_reason`` (null for embedded rows).
    """

    model_uri: str
    model_version: str | None
    model_dir: str
    tracking_uri: str | None
    n_points: int
    pooling: str
    batch_size: int = 256
    device: str = "auto"
    torch_threads: int = 0
    cpu_batch_size: int = 4
    precision: str = "fp32"

    def model(self):
        """The encoder for this worker, loaded on first use and cached by (URI, version) and device."""
        import torch

        from skysift.runtime.cache import cached

        device = _pick_device(self.device)

        def load():
            from skysift.runtime import tracking

            threads = self.torch_threads or task_cpus()
            if device == "cpu" and threads:
                torch.set_num_threads(threads)
            if Path(self.model_dir).exists():
                info = {"dir": self.model_dir, "meta": tracking._describe_local(Path(self.model_dir), "")["meta"]}
            else:  # executor on another machine: fetch the same version the driver resolved
                uri = self.model_uri
                if self.model_version is not None and uri.startswith("models:/"):
                    uri = f"models:/{uri[len('models:/'):].split('@')[0].split('/')[0]}/{self.model_version}"
                info = tracking.resolve_model(uri, self.tracking_uri)
            return tracking.load_encoder(info, device)

        return cached(("model", self.model_uri, self.model_version), device, load), device

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        import torch

        n = len(pdf)
        reason = np.full(n, None, dtype=object)
        flux_col = pdf["flux"]
        lengths = flux_col.map(lambda a: -1 if a is None else len(a)).to_numpy()
        bad_len = lengths != self.n_points
        reason[bad_len] = [f"flux has {k} points, expected {self.n_points}" if k >= 0 else "flux is null"
                           for k in lengths[bad_len]]
        good = np.flatnonzero(~bad_len)
        flux = (np.stack(flux_col.to_numpy()[good]).astype(np.float32, copy=False)
                if len(good) else np.zeros((0, self.n_points), np.float32))
        n_bad = (~np.isfinite(flux)).sum(axis=1)
        if n_bad.any():
            reason[good[n_bad > 0]] = [f"flux has {k} non-finite values" for k in n_bad[n_bad > 0]]
            keep = n_bad == 0
            good, flux = good[keep], flux[keep]
        emb = np.zeros((len(good), 0), np.float32)
        if len(good):
            model, device = self.model()
            out = []
            step = self.cpu_batch_size if device == "cpu" else self.batch_size
            tensor = torch.from_numpy(np.ascontiguousarray(flux)).to(device)
            with torch.inference_mode(), forward_autocast(device, self.precision):
                for i in range(0, len(good), step):
                    x = tensor[i : i + step]
                    out.append(model.embed(x, self.pooling).float().cpu().numpy())
            emb = np.concatenate(out)
        embedding = np.full(n, None, dtype=object)
        embedding[good] = list(emb)
        return pd.DataFrame(
            {
                "spec_id": pdf["spec_id"].to_numpy(),
                "embedding": embedding,
                "model_uri": self.model_uri,
                "model_version": self.model_version,
                SOURCE_COL: pdf[SOURCE_COL].to_numpy() if SOURCE_COL in pdf else None,
                REASON_COL: reason,
            }
        )

    def map_partitions(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The mapInPandas form."""
        for pdf in frames:
            yield self(pdf)


def _pick_device(want: str) -> str:
    if want == "cpu":
        return "cpu"
    from skysift.runtime.spark import task_device

    return task_device()


def output_arrow_schema() -> pa.Schema:
    """mapInPandas output: EMBEDDINGS + source_file + reject_reason."""
    return pa.schema(list(EMBEDDINGS) + [pa.field(SOURCE_COL, pa.string()), pa.field(REASON_COL, pa.string())])


def embed_sequential(frames, fn: EmbedBatch) -> pd.DataFrame:
    """The same per-batch function over an iterable of pandas frames, without Spark (tests, debugging)."""
    parts = [fn(pdf) for pdf in frames]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=output_arrow_schema().names)
