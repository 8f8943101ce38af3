"""The knowledge base on disk and the executor-side cache that loads it.

Layout of a KB folder (written by ``skysift build-kb``)::

    KB/_kb.json                  KbMeta: index spec, factory string, dim, model, shards, kb_version
    KB/trained.faiss             the trained, empty index every shard started from
    KB/shards/shard-NNNNN.faiss  one faiss index per shard (faiss ids = local_id)
    KB/shards/shard-NNNNN.ids.parquet   its ID map: spec_id, label, ... in local_id order
    KB/entries/part-NNNNN.parquet  each shard's entries with (shard, local_id): the provenance table (KB_ENTRIES)
    KB/diagnostics/              kb_diagnostics.json + PNGs
    KB/_rejects                  rows that could not enter the KB

The entries are keyed by a generic id column (``KbMeta.id_column``): ``spec_id`` for the spectra KBs of
build-kb (the default, also for KBs written before the field existed), ``image_id`` for the image indexes
of build-image-index; a ``label`` column is optional (image indexes have none).

Every file is read and written through ``runtime.filesystem``, so a KB may sit wherever it reaches (local
paths, ``file://``, ``s3://``, ``hdfs://``); driver and executors must both reach it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skysift.runtime.errors import SkysiftError
from skysift.kb.faiss_index import IndexSpec, apply_search_params, deserialize
from skysift.runtime import filesystem as fsx
from skysift.runtime.output import write_parquet_atomic

KB_JSON = "_kb.json"
SHARDS_DIR = "shards"
ENTRIES_DIR = "entries"
TRAINED_FILE = "trained.faiss"


class KbError(SkysiftError, RuntimeError):
    """A KB that cannot answer the request: missing, empty, wrong dimension or model version."""


@dataclass(frozen=True)
class KbMeta:
    """What a KB holds; stored as KB/_kb.json."""

    index: IndexSpec
    """The index spec the shards were built with."""
    factory: str
    """faiss factory string of each shard."""
    dim: int
    """Embedding dimension."""
    n_entries: int
    """Entries over all shards."""
    shards: tuple[int, ...]
    """Shard numbers present (files shards/shard-NNNNN.faiss)."""
    shard_sizes: tuple[int, ...]
    """Entries per shard, same order as ``shards``."""
    task: str | None = None
    """Labelling task of the entries (None when the labels had no task column)."""
    labels: tuple[str, ...] = ()
    """Distinct labels in the KB."""
    model_uri: str | None = None
    """Encoder URI of the embeddings (None when the table had no model_uri)."""
    model_version: str | None = None
    """Encoder version of the embeddings (None when the table had no model_version)."""
    kb_version: str = ""
    """Content hash of the shard files and ID maps."""
    build: dict = field(default_factory=dict)
    """Build provenance: config, input paths, timings."""
    id_column: str = "spec_id"
    """Id column of the entries and ID maps (spec_id: spectra KBs; image_id: image indexes)."""

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        return json.dumps(d, indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "KbMeta":
        d = json.loads(text)
        d["index"] = IndexSpec(**d["index"])
        for key in ("shards", "shard_sizes", "labels"):
            d[key] = tuple(d.get(key) or ())
        return cls(**d)


def shard_file(kb: str, shard: int) -> str:
    """Path of shard ``shard``'s faiss index inside KB folder ``kb``."""
    return f"{str(kb).rstrip('/')}/{SHARDS_DIR}/shard-{shard:05d}.faiss"


def shard_ids_file(kb: str, shard: int) -> str:
    """Path of shard ``shard``'s ID map (Parquet, local_id order)."""
    return f"{str(kb).rstrip('/')}/{SHARDS_DIR}/shard-{shard:05d}.ids.parquet"


def entries_file(kb: str, shard: int) -> str:
    """Path of shard ``shard``'s part of the entries table."""
    return f"{str(kb).rstrip('/')}/{ENTRIES_DIR}/part-{shard:05d}.parquet"


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole (``runtime.filesystem.write_bytes``: any URI it reaches)."""
    fsx.write_bytes(path, data)


def read_bytes(path: str) -> bytes:
    """Read a whole file (``runtime.filesystem.read_bytes``: any URI it reaches)."""
    return fsx.read_bytes(path)


def write_id_map(path: str, table: pa.Table) -> None:
    """Write a shard's ID map table (or its entries part) as one Parquet file that appears whole."""
    write_parquet_atomic(path, table, schema=table.schema)


def read_id_map(path: str, columns: list[str] | None = None) -> pa.Table:
    """Read a shard's ID map table."""
    fs, p = fsx.resolve(path)
    return pq.read_table(p, filesystem=fs, columns=columns)


def read_meta(kb: str) -> KbMeta:
    """The KB's metadata; KbError with the path when it is not a KB."""
    try:
        text = read_bytes(f"{str(kb).rstrip('/')}/{KB_JSON}").decode()
    except (FileNotFoundError, OSError):
        raise KbError(f"{kb}: not a knowledge base (no {KB_JSON}); build one with `skysift build-kb`") from None
    return KbMeta.from_json(text)


def write_meta(kb: str, meta: KbMeta) -> None:
    """Write KB/_kb.json."""
    write_bytes(f"{str(kb).rstrip('/')}/{KB_JSON}", meta.to_json().encode())


def content_version(kb: str, shards: tuple[int, ...]) -> str:
    """kb_version: sha256 over every shard file and ID map, in shard order (16 hex digits)."""
    h = hashlib.sha256()
    for s in shards:
        for path in (shard_file(kb, s), shard_ids_file(kb, s)):
            fs, p = fsx.resolve(path)
            with fs.open_input_stream(p) as src:
                while chunk := src.read(1 << 24):
                    h.update(chunk)
    return h.hexdigest()[:16]


@dataclass
class LoadedShard:
    """A shard's index (search parameters set) and its ID map columns."""

    index: Any
    ids: np.ndarray
    """The id column's values in local_id order (object array)."""
    labels: np.ndarray
    """The label column's values (None everywhere when the ID map has no label column)."""

    @property
    def spec_ids(self) -> np.ndarray:
        """``ids`` under the name of the spectra KBs' id column."""
        return self.ids


def clear_shard_cache() -> None:
    """Drop every cached object of this process (the driver after a sequential ``search_local``)."""
    from skysift.runtime.cache import CACHE

    CACHE.clear()


def load_shard(kb: str, shard: int, spec: IndexSpec, kb_version: str, k: int,
               id_column: str = "spec_id") -> LoadedShard:
    """Shard ``shard`` of ``kb``, loaded once per Python worker (``runtime.cache``: the shards of one KB stay
    together, another KB evicts them); ``id_column`` names the ID map's id column (``KbMeta.id_column``)."""
    from skysift.runtime.cache import cached

    def load() -> LoadedShard:
        index = apply_search_params(deserialize(read_bytes(shard_file(kb, shard))), spec, k)
        fs, p = fsx.resolve(shard_ids_file(kb, shard))
        names = pq.read_schema(p, filesystem=fs).names
        ids = read_id_map(shard_ids_file(kb, shard), columns=[id_column] + (["label"] if "label" in names else []))
        labels = (ids.column("label").to_numpy(zero_copy_only=False).astype(object) if "label" in names
                  else np.full(ids.num_rows, None, dtype=object))
        return LoadedShard(index=index, ids=ids.column(id_column).to_numpy(zero_copy_only=False).astype(object),
                           labels=labels)

    return cached(("kb", str(kb), kb_version), (shard, spec, k, id_column), load)


def write_shard(kb: str, shard: int, trained: bytes, vectors: np.ndarray, id_map: pa.Table,
                threads: int = 1, entries: bool = True) -> int:
    """Add ``vectors`` (n, d) to a copy of the trained empty index ``trained`` and write shard ``shard`` of
    ``kb``: its index file, its ID map ``id_map`` (n rows, local_id order) and, with ``entries``, the same
    rows as its part of the entries table. Returns the index file's size in bytes. ``threads``: faiss OpenMP
    threads (0 = faiss's default)."""
    import faiss

    from skysift.kb.faiss_index import serialize

    if len(vectors) != id_map.num_rows:
        raise ValueError(f"shard {shard}: {len(vectors)} vectors but {id_map.num_rows} ID map rows")
    if threads > 0:
        faiss.omp_set_num_threads(threads)
    index = deserialize(trained)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    index_bytes = serialize(index)
    write_bytes(shard_file(kb, shard), index_bytes)
    write_id_map(shard_ids_file(kb, shard), id_map)
    if entries:
        write_id_map(entries_file(kb, shard), id_map)
    return len(index_bytes)
