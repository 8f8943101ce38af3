"""Product quantisation with ANY number of centroids per segment (Lu et al. 2022 section 3.1, Table 1).

faiss ``IndexPQ`` needs K = 2^nbits centroids per sub-quantiser; the paper's K are 100 ... 3200 (none a power
of two; ../shared/papers/001-lu2022-emission-lines.md section 4), so the quantiser is written here on
top of ``faiss.Kmeans``:

* training: the D-dimensional vectors are cut into M segments of D/M consecutive points (note A5: equal
  point counts); each segment gets its own K-means (``faiss.Kmeans``, seeded ``seed + m``);
* codes: per vector and segment the index of the nearest centroid, ``uint16`` (K <= 65,536);
* search: asymmetric distances (ADC): per query an M x K table of query-segment-to-centroid distances,
  then per template the sum over segments of the table entries its codes select; top-1 (the paper keeps
  only the minimum) or top-k.

Two segment metrics (note A2): ``squared`` sums squared per-segment L2 distances, the standard ADC (Jegou et
al. 2011, faiss): with K a power of two and the same centroids it gives faiss ``IndexPQ``'s results (tested
by loading our centroids into an IndexPQ); ``l2_sum`` sums the unsquared per-segment norms, as the paper's
worked example adds "1.111 + 1.259 + ... + 0.198" (a different metric, not an approximation of L2).

Query scoring works per block of queries so the (block, M, K) float32 tables stay within
``table_budget_bytes``. The gather-sum over codes is a compiled loop (one query's table stays in cache while
the codes stream past); numpy fancy indexing (one (block, N) gather per segment) is kept as
``gather="numpy"``. Measured on this machine (2 cores shared with other jobs), 20,000 templates x 250
segments, K = 800 (Table 1 run 4), D = 2500, tables included: 100 queries: numba 0.61 s, numpy 1.13 s;
1000 queries (machine under load, load average 6.7): numba 23.9 s, numpy 61.6 s. So numba is the default
(2-2.6x). Exact search of the same vectors with faiss IndexFlatL2 took 0.074 s / 2.2 s: at this size plain
ADC with 250 segments is ~10x SLOWER than BLAS-backed exact search (it gathers N x M table entries per
query against N x D multiply-adds that run at tens of GFlop/s), so the speed goal of the issue's PQ
benchmark needs fewer segments, an IVF coarse quantiser (the IVF-PQ option of ``kb.pq_index``: 12x faster than
exact search at 0.96 z agreement on 20,000 templates, BENCHMARKS.md) or a SIMD (fast-scan) kernel.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit

from skysift.config import require

Metric = Literal["squared", "l2_sum"]

PAPER_GRID_START_ANGSTROM = 3900.0
"""First point of the paper's grid (Lu et al. 2022: 3900 <= lambda < 8900 A)."""
PAPER_GRID_STOP_ANGSTROM = 8900.0
"""End of the paper's half-open grid (Lu et al. 2022)."""
MAX_K = 65536
"""Largest K that uint16 codes can hold."""


@dataclass(frozen=True)
class PQConfig:
    """One product-quantisation run of the paper's Table 1."""

    step_angstrom: float = 2.0
    """Grid step of the spectra, Angstrom (Lu et al. 2022 Table 1: 2 or 1)."""
    n_segments: int = 25
    """Number of segments M (Lu et al. 2022 Table 1)."""
    k: int = 100
    """Centroids per segment, any integer >= 1 (Lu et al. 2022 Table 1: 100 ... 3200)."""

    def __post_init__(self):
        require(self.step_angstrom > 0, f"PQ step_angstrom must be > 0, got {self.step_angstrom}")
        require(self.n_segments >= 1, f"PQ n_segments must be >= 1, got {self.n_segments}")
        require(1 <= self.k <= MAX_K, f"PQ k must be in 1..{MAX_K} (uint16 codes), got {self.k}")
        n = self.n_points
        require(n % self.n_segments == 0,
                f"PQ n_segments ({self.n_segments}) must divide the {n} grid points of step {self.step_angstrom:g} A")

    @property
    def n_points(self) -> int:
        """Points of the paper's half-open grid at this step (2 A: 2500, 1 A: 5000)."""
        return int(round((PAPER_GRID_STOP_ANGSTROM - PAPER_GRID_START_ANGSTROM) / self.step_angstrom))

    @property
    def name(self) -> str:
        """'step/M/K', e.g. '2/25/100' (the paper's notation)."""
        return f"{self.step_angstrom:g}/{self.n_segments}/{self.k}"


TABLE1: tuple[PQConfig, ...] = (
    PQConfig(2, 25, 100), PQConfig(2, 50, 200), PQConfig(2, 100, 400), PQConfig(2, 250, 800),
    PQConfig(2, 500, 1600), PQConfig(2, 1250, 3200),
    PQConfig(1, 50, 200), PQConfig(1, 100, 400), PQConfig(1, 200, 800), PQConfig(1, 500, 800),
    PQConfig(1, 500, 1600), PQConfig(1, 1000, 3200),
)
"""The 12 runs of Lu et al. 2022 Table 1 (step A / segments / K)."""


@dataclass(frozen=True)
class PQCodebook:
    """Trained centroids: (n_segments, k, dim / n_segments) float32."""

    centroids: np.ndarray

    @property
    def n_segments(self) -> int:
        """M."""
        return self.centroids.shape[0]

    @property
    def k(self) -> int:
        """Centroids per segment."""
        return self.centroids.shape[1]

    @property
    def dsub(self) -> int:
        """Points per segment."""
        return self.centroids.shape[2]

    @property
    def dim(self) -> int:
        """Vector dimension D = M * dsub."""
        return self.n_segments * self.dsub

    def to_bytes(self) -> bytes:
        """npz bytes (centroids + a small JSON header), for a broadcast or a cache keyed by URI."""
        buf = io.BytesIO()
        meta = {"format": "skysift-pq", "version": 1, "n_segments": self.n_segments, "k": self.k, "dim": self.dim}
        np.savez(buf, centroids=self.centroids, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
        return buf.getvalue()

    @staticmethod
    def from_bytes(data: bytes, source: str = "<bytes>") -> "PQCodebook":
        """Inverse of ``to_bytes``; ValueError naming ``source`` when the bytes are not a codebook."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                centroids = np.asarray(z["centroids"], dtype=np.float32)
                meta = json.loads(bytes(z["meta"]).decode())
        except Exception as exc:  # noqa: BLE001 - any unreadable payload is the same user error
            raise ValueError(f"{source}: not a skysift PQ codebook ({type(exc).__name__}: {exc})") from None
        if meta.get("format") != "skysift-pq" or centroids.ndim != 3 or \
                (meta.get("n_segments"), meta.get("k"), meta.get("dim")) != \
                (centroids.shape[0], centroids.shape[1], centroids.shape[0] * centroids.shape[2]):
            raise ValueError(f"{source}: not a skysift PQ codebook (header {meta}, centroids {centroids.shape})")
        return PQCodebook(np.ascontiguousarray(centroids))

    def save(self, path: str) -> None:
        """Write ``to_bytes()`` to ``path`` (an .npz file)."""
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())

    @staticmethod
    def load(path: str) -> "PQCodebook":
        """Read a codebook written by ``save``."""
        with open(path, "rb") as fh:
            return PQCodebook.from_bytes(fh.read(), source=str(path))


def check_pq_shape(dim: int, n_segments: int, k: int, n_train: int) -> None:
    """ValueError naming the values when M does not divide D, K is out of range or K > training vectors."""
    if n_segments < 1 or dim % n_segments != 0:
        raise ValueError(f"PQ: the segment count M={n_segments} must divide the vector dimension D={dim}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"PQ: K={k} centroids per segment must be in 1..{MAX_K} (uint16 codes)")
    if k > n_train:
        raise ValueError(f"PQ: K={k} centroids per segment exceeds the {n_train} training vectors")


def train_codebook(
    vectors: np.ndarray, n_segments: int, k: int, seed: int = 1234, n_iter: int = 20,
    max_points_per_centroid: int = 256,
) -> PQCodebook:
    """Per-segment K-means (``faiss.Kmeans``) of (n, D) ``vectors``; segment m is seeded ``seed + m``.

    ``max_points_per_centroid`` is faiss's subsampling cap (K * cap vectors are used per segment).
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"PQ training vectors must be 2-D (n, D), got shape {x.shape}")
    n, dim = x.shape
    check_pq_shape(dim, n_segments, k, n)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"PQ training vectors must be finite; row {bad} is not")
    dsub = dim // n_segments
    centroids = np.empty((n_segments, k, dsub), np.float32)
    for m in range(n_segments):  # M independent K-means; faiss parallelises inside each
        km = faiss.Kmeans(dsub, k, niter=n_iter, seed=seed + m, verbose=False, min_points_per_centroid=1,
                          max_points_per_centroid=max_points_per_centroid)
        km.train(np.ascontiguousarray(x[:, m * dsub:(m + 1) * dsub]))
        centroids[m] = km.centroids
    return PQCodebook(centroids)


def _check_vectors(codebook: PQCodebook, vectors: np.ndarray, what: str) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != codebook.dim:
        raise ValueError(f"PQ {what} must be (n, {codebook.dim}) to match the codebook, got shape {x.shape}")
    return x


def encode(codebook: PQCodebook, vectors: np.ndarray, block_rows: int = 8192,
           budget_bytes: int = 256 << 20) -> np.ndarray:
    """(n, M) uint16 codes: nearest centroid per segment (squared L2, BLAS expansion).

    Rows are encoded in blocks whose (M, block, K) float32 distance array stays within ``budget_bytes``
    (Table 1 run 6, M = 1250 and K = 3200, needs 16 MB per row: 8192 rows at once asked for 49 GB).
    """
    x = _check_vectors(codebook, vectors, "vectors")
    n = x.shape[0]
    M, dsub = codebook.n_segments, codebook.dsub
    block_rows = max(1, min(block_rows, budget_bytes // (4 * M * codebook.k)))
    codes = np.empty((n, M), np.uint16)
    c = codebook.centroids
    c_norm = np.einsum("mkd,mkd->mk", c, c)
    for start in range(0, n, block_rows):
        xb = x[start:start + block_rows].reshape(-1, M, dsub).transpose(1, 0, 2)  # (M, b, dsub)
        dist = c_norm[:, None, :] - 2.0 * np.matmul(xb, c.transpose(0, 2, 1))  # ||x||^2 does not change the argmin
        codes[start:start + block_rows] = np.argmin(dist, axis=2).T
    return codes


def reconstruct(codebook: PQCodebook, codes: np.ndarray) -> np.ndarray:
    """(n, D) float32 vectors made of the centroids the codes select."""
    codes = np.asarray(codes)
    M = codebook.n_segments
    return codebook.centroids[np.arange(M)[None, :], codes.astype(np.int64)].reshape(len(codes), -1)


def distance_tables(codebook: PQCodebook, queries: np.ndarray, metric: Metric = "squared") -> np.ndarray:
    """(n_queries, M, K) float32 per-segment distances: squared L2 (``squared``) or L2 (``l2_sum``)."""
    if metric not in ("squared", "l2_sum"):
        raise ValueError(f"PQ metric must be squared or l2_sum, got {metric!r}")
    q = _check_vectors(codebook, queries, "queries")
    M, dsub = codebook.n_segments, codebook.dsub
    c = codebook.centroids
    qs = q.reshape(-1, M, dsub).transpose(1, 0, 2)  # (M, b, dsub)
    sq = (np.einsum("mbd,mbd->mb", qs, qs)[:, :, None] - 2.0 * np.matmul(qs, c.transpose(0, 2, 1))
          + np.einsum("mkd,mkd->mk", c, c)[:, None, :])
    np.maximum(sq, 0.0, out=sq)  # the expansion can round a zero distance below 0
    if metric == "l2_sum":
        np.sqrt(sq, out=sq)
    return np.ascontiguousarray(sq.transpose(1, 0, 2), dtype=np.float32)


def search(
    codebook: PQCodebook, codes: np.ndarray, queries: np.ndarray, k: int = 1, metric: Metric = "squared",
    gather: Literal["numba", "numpy"] = "numba", table_budget_bytes: int = 128 << 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` templates per query by asymmetric distance: (distances (q, k) float32, indices (q, k) int64).

    Sorted by increasing distance. For ``squared`` the distance is the sum of squared segment distances (as
    faiss reports it); for ``l2_sum`` the sum of segment L2 norms.
    """
    codes = np.ascontiguousarray(codes)
    if codes.ndim != 2 or codes.shape[1] != codebook.n_segments:
        raise ValueError(f"PQ codes must be (n, {codebook.n_segments}), got shape {codes.shape}")
    if codes.dtype != np.uint16:
        codes = codes.astype(np.uint16)
    n = codes.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"PQ search k={k} must be in 1..{n} (the number of encoded templates)")
    q = _check_vectors(codebook, queries, "queries")
    per_query = codebook.n_segments * codebook.k * 4
    block = max(1, min(len(q), table_budget_bytes // per_query))
    out_d = np.empty((len(q), k), np.float32)
    out_i = np.empty((len(q), k), np.int64)
    for start in range(0, len(q), block):
        tables = distance_tables(codebook, q[start:start + block], metric)
        scores = gather_sum(tables, codes, gather)
        if k == 1:
            idx = np.argmin(scores, axis=1)[:, None]
        else:
            part = np.argpartition(scores, k - 1, axis=1)[:, :k]
            order = np.argsort(np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
            idx = np.take_along_axis(part, order, axis=1)
        out_i[start:start + block] = idx
        out_d[start:start + block] = np.take_along_axis(scores, idx, axis=1)
    return out_d, out_i


def gather_sum(tables: np.ndarray, codes: np.ndarray, how: Literal["numba", "numpy"] = "numba") -> np.ndarray:
    """(b, N) float32: scores[q, n] = sum_m tables[q, m, codes[n, m]]."""
    b, M, _ = tables.shape
    if how == "numba":
        out = np.empty((b, codes.shape[0]), np.float32)
        _gather_sum(tables, codes, out)
        return out
    if how != "numpy":
        raise ValueError(f"gather must be numba or numpy, got {how!r}")
    out = np.zeros((b, codes.shape[0]), np.float32)
    for m in range(M):
        out += tables[:, m, :][:, codes[:, m]]
    return out


@njit(cache=True, nogil=True)
def _gather_sum(tables, codes, out):
    b, M, _ = tables.shape
    n = codes.shape[0]
    for q in range(b):
        t = tables[q]
        for i in range(n):
            s = np.float32(0.0)
            for m in range(M):
                s += t[m, codes[i, m]]
            out[q, i] = s
