"""faiss index construction from a typed spec: every index comes from ``faiss.index_factory``.

The four KB index types of issue 6 map onto factory strings:

==========  ======================================  =====================================
kind        factory string                          needs training
==========  ======================================  =====================================
flat        ``Flat``                                no (exact L2, Tang et al. 2025 default)
ivfpq       ``IVF{nlist},PQ{m}x{nbits}np[,RFlat]``  yes (coarse quantizer + PQ codebooks)
hnsw        ``HNSW{M}``                             no
pq          ``PQ{m}x{nbits}np[,RFlat]``             yes (PQ codebooks)
==========  ======================================  =====================================

``,RFlat`` (faiss ``IndexRefineFlat``) re-ranks the ANN candidates with exact
distances; it is what lets PQ-compressed indexes reach recall@3 >= 0.95.
Search-time parameters (nprobe, efSearch, the refine factor) are not part of a
serialised index and are set again after every load (``apply_search_params``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from skysift.config import require

IndexKind = Literal["flat", "ivfpq", "hnsw", "pq"]


@dataclass(frozen=True)
class IndexSpec:
    """Which faiss index a KB shard holds and how it is searched."""

    kind: IndexKind = "flat"
    """flat | ivfpq | hnsw | pq (Tang et al. 2025 use exact L2 search: flat)."""
    nlist: int = 0
    """IVF lists for ivfpq; 0 = 4*sqrt(N) rounded, clamped to [16, 65536] (faiss wiki guideline)."""
    nprobe: int = 6
    """IVF lists visited per query (search time). With the exact re-ranking below, recall is set by how
    many PQ candidates are re-ranked, not by nprobe: on the benchmark's 250k-entry shards (IVF2000,PQ96)
    nprobe 16 and 32 gave the same recall@3 (0.935 at k_factor 8) at half and a quarter of the speed, and
    nprobe 6 and 8 the same 0.969 at k_factor 32; 1M benchmark with 6: recall@3 0.975 at 11.4x flat.
    Tuned on the benchmark's clustered vectors: raise it for embeddings with less cluster structure and
    check recall with `skysift benchmark search` or a flat KB."""
    pq_m: int = 0
    """PQ sub-quantizers; 0 = dimension/8 (must divide the dimension)."""
    pq_nbits: int = 8
    """Bits per PQ code (faiss default 8)."""
    refine: bool = True
    """Re-rank PQ candidates with exact L2 (faiss IndexRefineFlat, factory suffix ',RFlat')."""
    refine_k_factor: float = 32.0
    """Candidates re-ranked per requested neighbour when refine is on (benchmark shards, nprobe 8,
    recall@3: 0.952 at 16, 0.969 at 32, 0.994 at 64; the exact re-ranking of 96-192 vectors is cheap)."""
    hnsw_m: int = 32
    """HNSW graph degree M (faiss default 32)."""
    ef_construction: int = 80
    """HNSW efConstruction at build time."""
    ef_search: int = 128
    """HNSW efSearch at query time."""

    def __post_init__(self):
        require(self.nlist >= 0, f"index.nlist must be >= 0, got {self.nlist}")
        require(self.nprobe >= 1, f"index.nprobe must be >= 1, got {self.nprobe}")
        require(self.pq_m >= 0, f"index.pq_m must be >= 0, got {self.pq_m}")
        require(1 <= self.pq_nbits <= 16, f"index.pq_nbits must be in 1..16, got {self.pq_nbits}")
        require(self.refine_k_factor >= 1, f"index.refine_k_factor must be >= 1, got {self.refine_k_factor}")
        require(self.hnsw_m >= 2, f"index.hnsw_m must be >= 2, got {self.hnsw_m}")
        require(self.ef_construction >= 1 and self.ef_search >= 1, "index.ef_construction/ef_search must be >= 1")


def resolved_nlist(spec: IndexSpec, n_entries: int) -> int:
    """The IVF list count used for ``n_entries`` vectors."""
    if spec.nlist:
        return spec.nlist
    return int(min(65536, max(16, round(4 * math.sqrt(max(n_entries, 1))))))


def resolved_pq_m(spec: IndexSpec, dim: int) -> int:
    """The PQ sub-quantizer count for dimension ``dim`` (checked to divide it)."""
    m = spec.pq_m or max(1, dim // 8)
    if dim % m:
        raise ValueError(f"index.pq_m={m} does not divide the embedding dimension {dim}")
    return m


def factory_string(spec: IndexSpec, dim: int, n_entries: int) -> str:
    """The ``faiss.index_factory`` description of a shard index for ``n_entries`` vectors of ``dim``."""
    if spec.kind == "flat":
        return "Flat"
    if spec.kind == "hnsw":
        return f"HNSW{spec.hnsw_m}"
    refine = ",RFlat" if spec.refine else ""
    # "np": no polysemous training. index_factory turns it on for PQ codes by default; it only serves
    # Hamming-filtered search (polysemous_ht), which we never use, and it cost 55 of the 70 s of training
    # an IVF,PQ96x8 index on 100k x 768 vectors on 2 cores.
    pq = f"PQ{resolved_pq_m(spec, dim)}x{spec.pq_nbits}np"
    if spec.kind == "pq":
        return pq + refine
    return f"IVF{resolved_nlist(spec, n_entries)},{pq}{refine}"


def new_index(spec: IndexSpec, dim: int, n_entries: int):
    """An empty (untrained) faiss index for the spec, with build-time parameters set."""
    import faiss

    index = faiss.index_factory(dim, factory_string(spec, dim, n_entries), faiss.METRIC_L2)
    if spec.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efConstruction = spec.ef_construction
    return index


def min_training_points(spec: IndexSpec, dim: int, n_entries: int) -> int:
    """Fewest training vectors faiss accepts for this spec (k-means needs >= one point per centroid)."""
    if spec.kind in ("flat", "hnsw"):
        return 0
    need = 2 ** spec.pq_nbits
    if spec.kind == "ivfpq":
        need = max(need, resolved_nlist(spec, n_entries))
    return need


def train_index(index, sample: np.ndarray):
    """Train ``index`` in place on ``sample`` (float32, C-contiguous) when it needs training."""
    if not index.is_trained:
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        index.train(sample)
    return index


def apply_search_params(index, spec: IndexSpec, k: int = 3):
    """Set the query-time parameters that serialisation does not keep (nprobe, efSearch, k_factor)."""
    import faiss

    top = faiss.downcast_index(index)
    if isinstance(top, faiss.IndexRefine):
        top.k_factor = float(spec.refine_k_factor)
        inner = faiss.downcast_index(top.base_index)
    else:
        inner = top
    if isinstance(inner, faiss.IndexIVF):
        inner.nprobe = int(spec.nprobe)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = int(max(spec.ef_search, k))
    return index


def serialize(index) -> bytes:
    """The index as bytes (faiss.serialize_index), for broadcasts and shard files."""
    import faiss

    return faiss.serialize_index(index).tobytes()


def deserialize(data: bytes):
    """Inverse of ``serialize``."""
    import faiss

    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


def index_memory_bytes(index) -> int:
    """Size of the index's serialised form: a close proxy for its resident memory."""
    import faiss

    return int(faiss.serialize_index(index).size)
