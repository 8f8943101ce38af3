"""Template search with the 12 PQ runs of Lu et al. 2022 Table 1: vectors, codebooks, index files, top-1 search.

``kb.pq`` is the quantiser (any K per segment); this module is what a job around it needs:

* ``search_vectors``: a batch of spectra on the table's linear grid -> the vectors of one configuration:
  normalised (``l2``: f / sqrt(sum f^2), the default for search; ``lu2022``: the paper's f / sum f^2 as
  printed, note A1), non-finite values set to 0 (masked pixels keep the resampler's straight line over the
  gap, so a gap is not a deep absorption line), and moved to the configuration's step by linear interpolation when it differs from
  the table's (the 1 A runs from a 2 A table: no new information, the paper resampled its native spectra).
  The number of points at step s is the table's span n_in * step_in / s (2500 at 2 A <-> 5000 at 1 A).
* ``train_index`` (driver) / ``train_segments`` (one slice of segments, an executor task): per-segment
  K-means. Measured here (2 shared cores, 3,300 x 2,500 random vectors, K = 100, M = 25): faiss with its
  default 2 OpenMP threads took 12.9 s, with 1 thread 1.2 s (the cores were busy: OpenMP threads spin), so
  training pins faiss to ``threads`` (default 1) and parallelism comes from tasks over segments instead.
* ``write_index`` / ``load_index``: ``folder/<slug>/codebook.npz`` (``PQCodebook.to_bytes``) and
  ``codes.npy``, read back once per executor by ``runtime.cache.cached`` keyed by the folder URI.
* ``search_top1``: top-1 (the paper keeps "only the minimum distance") of every query.
* IVF-PQ, an option beyond the paper (``train_ivfpq`` / ``write_ivfpq`` / ``load_ivfpq`` / ``search_ivfpq_top1``):
  faiss ``IndexIVFPQ``: a coarse K-means quantiser of ``n_lists`` cells in front of a PQ of the run's M
  segments that encodes each template's RESIDUAL to its cell centre; a query scores only the templates of its
  ``n_probe`` nearest cells. faiss needs K = 2^nbits, so the run's K is rounded up to the next power of two
  (``ivf_nbits``: 100 -> 128, 800 -> 1024). ``refine`` > 0 re-ranks the ``refine`` best PQ candidates by
  the exact distance (``faiss.IndexRefineFlat``: the full vectors are kept, D x 4 bytes per template).
  Speed / recall / z agreement against exact search vs n_probe: ``skysift benchmark pq`` and BENCHMARKS.md.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np

from skysift.kb.pq import MAX_K, Metric, PQCodebook, check_pq_shape, encode, search, train_codebook
from skysift.runtime.filesystem import join, read_bytes, write_bytes

Normalisation = Literal["l2", "lu2022"]


@dataclass(frozen=True)
class PQRun:
    """One configuration: grid step (A), segments M, centroids K (``step/M/K`` as in the paper's Table 1)."""

    step_angstrom: float
    """Grid step of the search vectors, Angstrom."""
    n_segments: int
    """Segments M."""
    k: int
    """Centroids per segment."""

    @property
    def name(self) -> str:
        """'step/M/K'."""
        return f"{self.step_angstrom:g}/{self.n_segments}/{self.k}"

    @property
    def slug(self) -> str:
        """Folder name: 'step2_m25_k100'."""
        return f"step{self.step_angstrom:g}_m{self.n_segments}_k{self.k}".replace(".", "p")

    @staticmethod
    def parse(text: str) -> "PQRun":
        """'2/25/100' -> PQRun(2, 25, 100); ValueError naming the expected form otherwise."""
        try:
            step, m, k = text.split("/")
            run = PQRun(float(step), int(m), int(k))
        except ValueError:
            raise ValueError(f"PQ configuration {text!r}: expected STEP/SEGMENTS/K, e.g. 2/25/100") from None
        if run.step_angstrom <= 0 or run.n_segments < 1 or run.k < 1:
            raise ValueError(f"PQ configuration {text!r}: step, segments and K must be positive")
        return run


TABLE1_NAMES = ("2/25/100", "2/50/200", "2/100/400", "2/250/800", "2/500/1600", "2/1250/3200",
                "1/50/200", "1/100/400", "1/200/800", "1/500/800", "1/500/1600", "1/1000/3200")
"""The 12 runs of Lu et al. 2022 Table 1."""


def points_at_step(n_points: int, step_angstrom: float, run_step_angstrom: float) -> int:
    """Points of the search vectors at ``run_step_angstrom`` for a table of ``n_points`` at ``step_angstrom``;
    ValueError when the span is not a whole number of the run's steps."""
    n = n_points * step_angstrom / run_step_angstrom
    if abs(n - round(n)) > 1e-6:
        raise ValueError(f"a {n_points}-point grid at {step_angstrom:g} A spans {n_points * step_angstrom:g} A, "
                         f"not a whole number of {run_step_angstrom:g} A steps")
    return int(round(n))


def check_run(run: PQRun, n_points: int, step_angstrom: float, n_templates: int) -> None:
    """ValueError naming the values when M does not divide the run's points or K exceeds the templates."""
    n = points_at_step(n_points, step_angstrom, run.step_angstrom)
    if n % run.n_segments:
        raise ValueError(f"PQ configuration {run.name}: {run.n_segments} segments do not divide the {n} points of "
                         f"the {run.step_angstrom:g} A grid (from the table's {n_points} points at "
                         f"{step_angstrom:g} A; the paper's grid 3900 <= lambda < 8900 A has 2500 / 5000)")
    check_pq_shape(n, run.n_segments, run.k, n_templates)


SEARCH_VECTOR_BLOCK_ROWS = 8192
"""Rows per float64 block of ``search_vectors`` (8,192 x 2,500 points: 160 MB a temporary)."""


def search_vectors(flux: np.ndarray, wave_angstrom: np.ndarray, run_step_angstrom: float,
                   normalisation: Normalisation = "l2", block_rows: int = SEARCH_VECTOR_BLOCK_ROWS) -> np.ndarray:
    """(n, D) float32 search vectors of one configuration (module docstring); rows without data are 0.

    Computed ``block_rows`` rows at a time (each row's vector depends on that row only), so the float64
    temporaries stay a few hundred MB at 200,000 templates instead of several GB."""
    if normalisation not in ("l2", "lu2022"):
        raise ValueError(f"normalisation must be l2 or lu2022, got {normalisation!r}")
    wave = np.asarray(wave_angstrom, dtype=np.float64)
    step = float(wave[1] - wave[0])
    resample = abs(step - run_step_angstrom) > 1e-9 * step
    n_out = points_at_step(len(wave), step, run_step_angstrom) if resample else len(wave)
    if resample:
        target = wave[0] + run_step_angstrom * np.arange(n_out)
        # batched linear interpolation (np.interp per row would loop): positions are shared by every row
        pos = np.clip((target - wave[0]) / step, 0, len(wave) - 1)
        lo = np.minimum(np.floor(pos).astype(np.int64), len(wave) - 2)
        frac = pos - lo
    flux = np.asarray(flux)
    out = np.empty((len(flux), n_out), np.float32)
    for a in range(0, len(flux), max(1, int(block_rows))):
        block = np.asarray(flux[a:a + block_rows], dtype=np.float64)
        block = np.where(np.isfinite(block), block, 0.0)
        if resample:
            block = block[:, lo] * (1.0 - frac) + block[:, lo + 1] * frac
        total = np.einsum("ij,ij->i", block, block)
        scale = np.sqrt(total) if normalisation == "l2" else total
        scale = np.where(scale > 0, scale, 1.0)
        out[a:a + len(block)] = block / scale[:, None]
    return out


def train_segments(vectors: np.ndarray, n_segments: int, k: int, segments: range, seed: int = 1234,
                   n_iter: int = 20, threads: int = 1) -> np.ndarray:
    """(len(segments), K, dsub) centroids of ``segments`` only (segment m seeded ``seed + m``, as
    ``kb.pq.train_codebook``), so a job can train the segments of one run in several tasks."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    dsub = x.shape[1] // n_segments
    out = np.empty((len(segments), k, dsub), np.float32)
    for j, m in enumerate(segments):
        km = faiss.Kmeans(dsub, k, niter=n_iter, seed=seed + m, verbose=False, min_points_per_centroid=1,
                          max_points_per_centroid=256)
        km.train(np.ascontiguousarray(x[:, m * dsub:(m + 1) * dsub]))
        out[j] = km.centroids
    return out


def train_index(vectors: np.ndarray, run: PQRun, seed: int = 1234, n_iter: int = 20,
                threads: int = 1) -> tuple[PQCodebook, np.ndarray]:
    """Codebook and (n, M) uint16 codes of the template vectors for one run, trained in this process."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))
    codebook = train_codebook(vectors, run.n_segments, run.k, seed=seed, n_iter=n_iter)
    return codebook, encode(codebook, vectors)


def write_index(folder: str, run: PQRun, codebook: PQCodebook, codes: np.ndarray) -> str:
    """Write one run's codebook and codes under ``folder/<slug>/``; returns that URI."""
    uri = join(folder, run.slug)
    write_bytes(join(uri, "codebook.npz"), codebook.to_bytes())
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(codes, dtype=np.uint16), allow_pickle=False)
    write_bytes(join(uri, "codes.npy"), buf.getvalue())
    return uri


def load_index(uri: str) -> tuple[PQCodebook, np.ndarray]:
    """(codebook, codes) written by ``write_index`` at ``uri``."""
    codebook = PQCodebook.from_bytes(read_bytes(join(uri, "codebook.npz")), source=join(uri, "codebook.npz"))
    codes = np.load(io.BytesIO(read_bytes(join(uri, "codes.npy"))), allow_pickle=False)
    return codebook, codes


def search_top1(codebook: PQCodebook, codes: np.ndarray, queries: np.ndarray, metric: Metric = "squared"
                ) -> tuple[np.ndarray, np.ndarray]:
    """(distance (q,) float32, template row (q,) int64) of the nearest template of every query."""
    if len(queries) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    d, i = search(codebook, codes, queries, k=1, metric=metric)
    return d[:, 0], i[:, 0]


# ----------------------------------------------------------------------------------------------- IVF-PQ option


def ivf_nbits(k: int) -> int:
    """Bits per sub-quantiser code of the IVF-PQ stand-in for a run's K: ceil(log2 K), at least 1."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"PQ: K={k} must be in 1..{MAX_K}")
    return max(1, int(np.ceil(np.log2(k))))


def default_ivf_lists(n_templates: int) -> int:
    """Cells of the coarse quantiser when none is given: about 4 sqrt(N) (faiss's guideline), at most N / 39 so
    that every cell gets faiss's minimum of 39 training points, at least 1."""
    return int(max(1, min(round(4 * np.sqrt(n_templates)), n_templates // 39)))


def check_ivfpq(run: PQRun, n_points: int, n_templates: int, n_lists: int) -> None:
    """ValueError naming the values when the run cannot be trained as IVF-PQ on ``n_templates`` vectors."""
    if n_points % run.n_segments:
        raise ValueError(f"IVF-PQ {run.name}: {run.n_segments} segments do not divide {n_points} points")
    if n_lists < 1 or n_lists > n_templates:
        raise ValueError(f"IVF-PQ {run.name}: {n_lists} coarse cells need at least as many templates "
                         f"({n_templates} given)")
    k = 1 << ivf_nbits(run.k)
    if k > n_templates:
        raise ValueError(f"IVF-PQ {run.name}: K={run.k} rounds up to {k} centroids per segment, more than the "
                         f"{n_templates} training vectors")


def train_ivfpq(vectors: np.ndarray, run: PQRun, n_lists: int = 0, refine: bool = False, seed: int = 1234,
                n_iter: int = 20, threads: int = 1):
    """A trained and filled faiss ``IndexIVFPQ`` (wrapped in ``IndexRefineFlat`` when ``refine``) of the
    template vectors for one run: ``n_lists`` cells (0: ``default_ivf_lists``), M = the run's segments,
    ceil(log2 K) bits per code, residuals to the cell centre encoded (faiss's by_residual default)."""
    return fill_ivfpq(train_ivfpq_empty(vectors, run, n_lists, seed, n_iter, threads), vectors, refine)


def train_ivfpq_empty(vectors: np.ndarray, run: PQRun, n_lists: int = 0, seed: int = 1234, n_iter: int = 20,
                      threads: int = 1):
    """The trained, still empty ``IndexIVFPQ`` of ``train_ivfpq`` (coarse cells and residual codebooks)."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    n_lists = n_lists or default_ivf_lists(n)
    check_ivfpq(run, dim, n, n_lists)
    quantizer = faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, n_lists, run.n_segments, ivf_nbits(run.k))
    index.cp.seed = seed
    index.cp.niter = n_iter
    index.pq.cp.seed = seed + 1
    index.pq.cp.niter = n_iter
    index.cp.min_points_per_centroid = 1
    index.pq.cp.min_points_per_centroid = 1
    index.train(x)
    return index


def fill_ivfpq(trained, vectors: np.ndarray, refine: bool = False):
    """A copy of the trained empty index ``trained`` (``train_ivfpq_empty``) filled with ``vectors``, wrapped in
    ``IndexRefineFlat`` when ``refine``: one training serves both variants (the benchmark)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.clone_index(trained)
    if not refine:
        index.add(x)
        return index
    refined = faiss.IndexRefineFlat(index)  # built empty: add() fills the codes and the flat copy re-ranking reads
    refined.add(x)
    return refined


def write_ivfpq(folder: str, run: PQRun, index) -> str:
    """Write one run's IVF-PQ index as ``folder/<slug>/ivfpq.faiss`` (``faiss.serialize_index``); returns the URI."""
    import faiss

    uri = join(folder, run.slug)
    write_bytes(join(uri, "ivfpq.faiss"), faiss.serialize_index(index).tobytes())
    return uri


def load_ivfpq(uri: str):
    """The index ``write_ivfpq`` wrote at ``uri`` (set n_probe again with ``search_ivfpq_top1``)."""
    import faiss

    data = read_bytes(join(uri, "ivfpq.faiss"))
    try:
        return faiss.deserialize_index(np.frombuffer(data, np.uint8))
    except RuntimeError as exc:
        raise ValueError(f"{join(uri, 'ivfpq.faiss')}: not a faiss index ({exc})") from None


def search_ivfpq_top1(index, queries: np.ndarray, n_probe: int, refine: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(squared distance (q,) float32, template row (q,) int64) of every query's nearest template: the
    ``n_probe`` nearest cells are scored (ADC on the residual codes); with a refine index, the ``refine`` best
    PQ candidates are re-ranked by the exact squared L2 distance. Row -1 / distance inf where the probed cells
    hold no template."""
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    if len(q) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = max(1, int(n_probe))
    if isinstance(index, faiss.IndexRefine):
        index.k_factor = float(max(1, int(refine)))
    d, i = index.search(q, 1)
    d = np.where(i[:, 0] >= 0, d[:, 0], np.inf).astype(np.float32)
    return d, i[:, 0].astype(np.int64)
