"""Per-batch cross-match functions (Arrow record batches in and out) shared by Spark and the sequential runner.

Roles: the *left* catalog is the build side (each left row sits in exactly one
group, so `nearest` and `how=left` are decided inside that group); the *right*
catalog is the probe side (each right row is copied to every bucket its cone can
reach, and carries the radius: fixed, or per row from ``radius_column``).

Both sides travel through one shuffle as one table, the *union* layout::

    _g | left columns ... | _lid | right columns + suffix ... | _rid

a left row has nulls in the right half and a right row in the left half (``_lid``
null marks a right row). Spark sends it with ``repartitionById(_g)``, so a task
receives whole groups and needs no sort or cogroup; ``match_table`` splits them again
in numpy (the file-exchange path of ``xmatch.engine.write_matches`` hands it the same table).

* ``scan_batch``: one batch of coordinates -> its valid/invalid counts, largest
  radius and a quantile summary of its order-29 cells (the bucket planner's input).
* ``tag_batch``: one input batch -> union rows with their group id (mapInArrow).
* ``match_table``: the union rows of whole groups -> output rows: the compiled grid kernel for
  ``nearest`` (``sky._nearest_kernel``), KD-tree pairs for ``all`` (``pairs.tree_pairs``), the join types
  of ``HOWS``, output columns gathered with one Arrow ``take`` per side.
* ``unmatched_right_batch``: right rows no left row reached, in the output layout (``how=outer``).
* ``crossmatch_frames``: the same steps in a loop, no Spark (tests, notebooks,
  dedupe's twin).

These work on Arrow, not pandas: a pandas round trip of every column cost more
than the match itself (measured on the 1M x 1M benchmark).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skysift.sky._nearest_kernel import MAX_CHORD, grid_nearest
from skysift.xmatch.buckets import BucketPlan, assign_build, assign_probe, plan_buckets
from skysift.sky.healpix import healpix29, valid_position
from skysift.sky.pairs import nearest_per_build, tree_pairs
from skysift.sky.separation import chord_for_radius, unit_vectors

LEFT_ID = "_lid"
RIGHT_ID = "_rid"
GROUP = "_g"
HEALPIX = "healpix29"
SEPARATION = "separation_arcsec"
N_MATCHES = "n_matches"

HOWS = ("inner", "left", "anti", "outer")
"""Join types (a left row is *matched* when a right row lies within the radius, the right row's own
radius for ``radius_column``):

* ``inner``: the pairs (mode ``nearest``: each matched left row with its nearest right row);
* ``left``:  the pairs, plus every unmatched left row once with null right columns;
* ``anti``:  only the unmatched left rows, left columns only ("not in the reference catalog");
* ``outer``: ``left``, plus every right row that has no left row within the radius, once, with null left
  columns. With mode ``nearest`` a right row within the radius of a left row whose nearest is another
  right row is matched, so it appears in no output row (only the left side gets one row each).

A right row is copied to every group its cone reaches, so whether it is unmatched is only known over all
groups: ``match_table`` reports the right rows it saw matched (``tally["right_hit_ids"]``) and the engine
takes the complement (``xmatch.engine.write_matches``; ``crossmatch_frames`` in the sequential twin).
"""


@dataclass(frozen=True)
class MatchSpec:
    """Everything a worker needs to tag and match rows (small; travels in the closure)."""

    order: int
    radius_arcsec: float
    mode: str = "nearest"
    how: str = "inner"
    left_ra: str = "ra_deg"
    left_dec: str = "dec_deg"
    right_ra: str = "ra_deg"
    right_dec: str = "dec_deg"
    radius_column: str | None = None
    right_suffix: str = "_right"
    left_columns: tuple[str, ...] = ()
    right_columns: tuple[str, ...] = ()
    add_left_healpix: bool = False
    add_right_healpix: bool = False
    keep_ids: bool = False
    pairs_only_upper: bool = False
    """Self-match (dedupe): keep only pairs with left id < right id."""
    count_matches: bool = True
    """nearest: add ``n_matches`` (right rows within the radius of each left row)."""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.how not in HOWS:
            raise ValueError(f"how must be one of {', '.join(HOWS)}, got {self.how!r}")

    @property
    def has_right_columns(self) -> bool:
        """Whether output rows carry right columns and the separation (every join type but ``anti``)."""
        return self.how != "anti"

    def output_columns(self) -> list[str]:
        """Output column names, in order."""
        cols = list(self.left_columns)
        if self.has_right_columns:
            cols += [c + self.right_suffix for c in self.right_columns] + [SEPARATION]
            if self.mode == "nearest" and self.count_matches:
                cols.append(N_MATCHES)
        if self.keep_ids:
            cols += [LEFT_ID, RIGHT_ID] if self.has_right_columns else [LEFT_ID]
        return cols


def _float64(column) -> np.ndarray:
    """A numeric Arrow column as float64 numpy (nulls become NaN, hence invalid)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_float64(column.type):
        column = pc.cast(column, pa.float64())
    return column.to_numpy(zero_copy_only=False)


def valid_rows(ra: np.ndarray, dec: np.ndarray, radius: np.ndarray | None = None,
               max_radius_arcsec: float = np.inf) -> np.ndarray:
    """The rows a match can use: the same rule as the job's Spark filter (``crossmatch._valid_condition``)."""
    ok = valid_position(ra, dec)
    if radius is not None:
        with np.errstate(invalid="ignore"):
            ok &= (radius > 0) & (radius <= max_radius_arcsec)
    return ok


SCAN_SCHEMA = pa.schema([
    ("side", pa.int8()), ("n_valid", pa.int64()), ("n_invalid", pa.int64()), ("radius_max", pa.float64()),
    ("weight", pa.float64()), ("h29", pa.list_(pa.int64())),
])


def quantile_points(h29: np.ndarray, points: int) -> tuple[np.ndarray, float]:
    """``points`` evenly spaced order statistics of ``h29`` and the rows each stands for.

    Merging such summaries of every batch gives every global rank to within
    ``rows / points`` per batch, for any input order (a sky-sorted file included),
    which a random sample of whole row groups would not.
    """
    n = h29.size
    if n <= points:
        return np.sort(h29), 1.0
    srt = np.sort(h29)
    pos = ((np.arange(points) + 0.5) * (n / points)).astype(np.int64)
    return srt[pos], n / points


def scan_batch(batch: pa.RecordBatch, side: int, ra: str, dec: str, radius: str | None, points: int,
               max_radius_arcsec: float) -> pa.RecordBatch:
    """One row per input batch: counts, largest valid radius, and the planning summary of valid rows."""
    r = _float64(batch.column(radius)) if radius else None
    ra_v, dec_v = _float64(batch.column(ra)), _float64(batch.column(dec))
    ok = valid_rows(ra_v, dec_v, r, max_radius_arcsec)
    n_valid = int(ok.sum())
    pts, weight = quantile_points(healpix29(ra_v[ok], dec_v[ok]), points)
    r_max = float(r[ok].max()) if r is not None and n_valid else np.nan
    return pa.RecordBatch.from_arrays(
        [pa.array([side], pa.int8()), pa.array([n_valid], pa.int64()), pa.array([batch.num_rows - n_valid], pa.int64()),
         pa.array([r_max], pa.float64()), pa.array([weight], pa.float64()), pa.array([pts], pa.list_(pa.int64()))],
        schema=SCAN_SCHEMA,
    )


@dataclass(frozen=True)
class UnionLayout:
    """Where each side's columns sit in the shuffled table.

    Both sides share *slots* ``_c0, _c1, ...``: a right column reuses a slot of a left
    column of the same type (its namesake first), so matching schemas (the usual
    case) shuffle ``n + 3`` columns, not ``2 n + 3``; shuffle volume and the Arrow
    conversions on both sides of it were the largest costs measured.
    """

    slot_types: tuple
    """Type of each slot (Spark DataType on the Spark path, Arrow type in the sequential runner)."""
    left_slot: dict
    """Left column name -> slot index (``healpix29`` included when added)."""
    right_slot: dict
    """Right column name, unsuffixed -> slot index."""

    def slot(self, k: int) -> str:
        return f"_c{k}"

    @property
    def names(self) -> list[str]:
        return [GROUP, LEFT_ID, RIGHT_ID] + [self.slot(k) for k in range(len(self.slot_types))]


def union_layout(spec: MatchSpec, left: list[tuple[str, object]], right: list[tuple[str, object]], id_type) -> UnionLayout:
    """Slots for (name, type) lists of both inputs (their id columns are left out)."""
    left = [(n, t) for n, t in left if n != LEFT_ID] + ([(HEALPIX, id_type)] if spec.add_left_healpix else [])
    right = [(n, t) for n, t in right if n != RIGHT_ID] + ([(HEALPIX, id_type)] if spec.add_right_healpix else [])
    types = [t for _, t in left]
    left_slot = {n: k for k, (n, _) in enumerate(left)}
    right_slot: dict = {}
    free = set(range(len(types)))
    for name, dtype in right:
        k = left_slot.get(name)
        if k is None or k not in free or types[k] != dtype:
            k = next((j for j in sorted(free) if types[j] == dtype), None)
        if k is None:
            types.append(dtype)
            k = len(types) - 1
        else:
            free.discard(k)
        right_slot[name] = k
    return UnionLayout(slot_types=tuple(types), left_slot=left_slot, right_slot=right_slot)


def union_arrow_schema(layout: UnionLayout) -> pa.Schema:
    """Arrow schema of the union table when slot types are Arrow types (the sequential runner)."""
    return pa.schema([pa.field(GROUP, pa.int64(), nullable=False), pa.field(LEFT_ID, pa.int64()),
                      pa.field(RIGHT_ID, pa.int64())]
                     + [pa.field(layout.slot(k), t) for k, t in enumerate(layout.slot_types)])


def tag_batch(batch: pa.RecordBatch, side: str, plan: BucketPlan, spec: MatchSpec, layout: UnionLayout,
              schema: pa.Schema) -> pa.RecordBatch:
    """Union rows of one input batch with their groups: a left row once, a right row once per group it can reach.

    The batch must hold only valid rows and an id column (``_lid`` / ``_rid``).
    """
    n = batch.num_rows
    if side == "left":
        ra, dec, id_col, add_h, where = spec.left_ra, spec.left_dec, LEFT_ID, spec.add_left_healpix, layout.left_slot
    else:
        ra, dec, id_col, add_h, where = spec.right_ra, spec.right_dec, RIGHT_ID, spec.add_right_healpix, layout.right_slot
    h = healpix29(_float64(batch.column(ra)), _float64(batch.column(dec)))
    ids = batch.column(id_col).to_numpy(zero_copy_only=False)
    if side == "left":
        rows, group, _ = assign_build(h, ids, plan)
    else:
        rows, group, _ = assign_probe(h, ids, plan)
    same = rows.size == n and np.array_equal(rows, np.arange(n))
    taken = batch if same else batch.take(pa.array(rows, pa.int64()))
    m = int(rows.size)
    by_slot = {layout.slot(where[c]): taken.column(c) for c in batch.schema.names if c in where}
    if add_h:
        by_slot[layout.slot(where[HEALPIX])] = pa.array(h[rows], pa.int64())
    by_slot[id_col] = taken.column(id_col)
    by_slot[GROUP] = pa.array(group, pa.int64())
    arrays = []
    for field in schema:
        col = by_slot.get(field.name)
        if col is None:
            arrays.append(pa.nulls(m, field.type))
        else:
            arrays.append(col if col.type == field.type else pc.cast(col, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _group_pairs(spec: MatchSpec, xyz: np.ndarray, radius: np.ndarray | float, ids_l: np.ndarray,
                 ids_r: np.ndarray, lpos: np.ndarray, rpos: np.ndarray):
    """Pairs of one group as (left position, right position, sep, n_within or None), positions into the task table."""
    fixed = not isinstance(radius, np.ndarray)
    if spec.mode == "nearest" and fixed and not spec.pairs_only_upper and chord_for_radius(radius) <= MAX_CHORD:
        # nearest (and the count within the radius) in one compiled pass over a cell grid: no pair list,
        # so a dense clump costs candidates, not sorts (11.6 s -> ~1 s on the benchmark's clump group)
        b, p, sep, n_within = grid_nearest(xyz[rpos], float(radius), xyz[lpos], ids_r[rpos])
        if not spec.count_matches:
            return lpos[b], rpos[p], sep, None, b, None
        return lpos[b], rpos[p], sep, n_within[b], b, n_within
    if spec.mode == "nearest":
        return _nearest_in_chunks(spec, xyz, radius, ids_r, lpos, rpos)
    # mode "all": every pair, no counts
    rr = radius[rpos] if isinstance(radius, np.ndarray) else radius
    p, b, sep = tree_pairs(xyz[rpos], rr, xyz[lpos])
    if spec.pairs_only_upper:
        keep = ids_l[lpos[b]] < ids_r[rpos[p]]
        p, b, sep = p[keep], b[keep], sep[keep]
    return lpos[b], rpos[p], sep, None, b, None


NEAREST_CHUNK_ROWS = 250_000


def _nearest_in_chunks(spec: MatchSpec, xyz, radius, ids_r, lpos, rpos, chunk: int = NEAREST_CHUNK_ROWS):
    """nearest with a per-row radius (``radius_column``): all pairs of ``chunk`` left rows at a time,
    reduced at once (a fixed radius takes ``grid_nearest`` instead). A dense clump holds ~60 pairs per
    row at 10M x 10M; chunking the left rows keeps the pair arrays to ~0.5 GB whatever the density.
    """
    from scipy.spatial import cKDTree

    rr = radius[rpos] if isinstance(radius, np.ndarray) else radius
    probe = xyz[rpos]
    tree = cKDTree(probe, leafsize=16, balanced_tree=False, compact_nodes=False) if rpos.size else None
    n_within = np.zeros(lpos.size, np.int64)
    out_b, out_p, out_s = [], [], []
    for a in range(0, lpos.size, chunk):
        z = min(lpos.size, a + chunk)
        p, b, sep = tree_pairs(probe, rr, xyz[lpos[a:z]], probe_tree=tree)
        n_within[a:z] = np.bincount(b, minlength=z - a)
        if p.size:
            best = nearest_per_build(p, b, sep, ids_r[rpos])
            out_b.append(b[best] + a)
            out_p.append(p[best])
            out_s.append(sep[best])
    b = np.concatenate(out_b) if out_b else np.empty(0, np.int64)
    p = np.concatenate(out_p) if out_p else np.empty(0, np.int64)
    sep = np.concatenate(out_s) if out_s else np.empty(0, np.float64)
    return lpos[b], rpos[p], sep, n_within[b], b, n_within


def match_table(table: pa.Table, spec: MatchSpec, layout: UnionLayout, out_schema: pa.Schema,
                tally: dict | None = None, max_batch_rows: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """Output rows of every group in a union table (any number of groups, any row order).

    ``tally`` (optional) receives ``left_matched``, ``left_unmatched``, ``pairs``.
    """
    if table.num_rows == 0:
        return
    table = table.combine_chunks()
    g = table.column(GROUP).to_numpy()
    is_left = table.column(LEFT_ID).is_valid().to_numpy(zero_copy_only=False)
    lcol = lambda name: table.column(layout.slot(layout.left_slot[name]))  # noqa: E731
    rcol = lambda name: table.column(layout.slot(layout.right_slot[name]))  # noqa: E731

    def coord(left_name, right_name):
        lv, rv = lcol(left_name), rcol(right_name)
        if lv is rv or layout.left_slot[left_name] == layout.right_slot[right_name]:
            return _float64(lv)  # one slot holds both sides' values
        return np.where(is_left, _float64(lv), _float64(rv))

    xyz = unit_vectors(coord(spec.left_ra, spec.right_ra), coord(spec.left_dec, spec.right_dec))
    radius = _float64(rcol(spec.radius_column)) if spec.radius_column else spec.radius_arcsec
    ids_l = table.column(LEFT_ID).to_numpy(zero_copy_only=False)
    ids_r = table.column(RIGHT_ID).to_numpy(zero_copy_only=False)
    # Rows sorted by (group, side): each group is [left rows | right rows].
    key = g * 2 + (~is_left)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    cuts = np.flatnonzero(np.diff(sk // 2)) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [sk.size]])
    mids = np.searchsorted(sk, (sk[starts] // 2) * 2 + 1, side="left")
    out_l, out_r, out_s, out_n, matched_left, unmatched, right_hits = [], [], [], [], 0, [], []
    for a, mid, z in zip(starts.tolist(), mids.tolist(), stops.tolist()):
        lpos, rpos = order[a:mid], order[mid:z]
        if lpos.size == 0:
            continue
        lp, rp, sep, n_w, b, n_within = _group_pairs(spec, xyz, radius, ids_l, ids_r, lpos, rpos)
        if spec.how == "outer":
            right_hits.append(rp if spec.mode == "all" else _right_hits(xyz, radius, lpos, rpos))
        if spec.how != "anti":
            out_l.append(lp)
            out_r.append(rp)
            out_s.append(sep)
            if spec.mode == "nearest" and spec.count_matches:
                out_n.append(n_w)
        hit = np.zeros(lpos.size, dtype=bool)
        hit[b] = True
        matched_left += int(hit.sum())
        unmatched.append(lpos[~hit])
    if not unmatched:
        return
    empty_i = np.empty(0, np.int64)
    lp = np.concatenate(out_l) if out_l else empty_i
    rp = np.concatenate(out_r) if out_r else empty_i
    sep = np.concatenate(out_s) if out_s else np.empty(0, np.float64)
    n_pairs = lp.size
    n_w = np.concatenate(out_n) if out_n else None
    lonely = np.concatenate(unmatched)
    if tally is not None:
        tally["left_matched"] = tally.get("left_matched", 0) + matched_left
        tally["left_unmatched"] = tally.get("left_unmatched", 0) + int(lonely.size)
        tally["pairs"] = tally.get("pairs", 0) + n_pairs
        if spec.how == "outer":
            hits = np.unique(ids_r[np.concatenate(right_hits)]) if right_hits else empty_i
            tally["right_hit_ids"] = np.union1d(tally.get("right_hit_ids", empty_i), hits).astype(np.int64)
    r_valid = np.ones(n_pairs, dtype=bool)
    if spec.how in ("left", "outer", "anti") and lonely.size:
        lp = np.concatenate([lp, lonely])
        rp = np.concatenate([rp, np.zeros(lonely.size, np.int64)])
        sep = np.concatenate([sep, np.full(lonely.size, np.nan)])
        r_valid = np.concatenate([r_valid, np.zeros(lonely.size, dtype=bool)])
        if n_w is not None:
            n_w = np.concatenate([n_w, np.zeros(lonely.size, np.int64)])
    if lp.size == 0:
        return
    for a in range(0, lp.size, max_batch_rows):
        z = min(lp.size, a + max_batch_rows)
        yield _output_batch(table, spec, layout, out_schema, lp[a:z], rp[a:z], sep[a:z], r_valid[a:z],
                            None if n_w is None else n_w[a:z])


def _right_hits(xyz: np.ndarray, radius: np.ndarray | float, lpos: np.ndarray, rpos: np.ndarray) -> np.ndarray:
    """Positions (into the task table) of the right rows of one group with a left row within their radius."""
    rr = radius[rpos] if isinstance(radius, np.ndarray) else radius
    p, _, _ = tree_pairs(xyz[rpos], rr, xyz[lpos])
    return rpos[np.unique(p)]


def _output_batch(table: pa.Table, spec: MatchSpec, layout: UnionLayout, out_schema: pa.Schema, lp, rp, sep,
                  r_valid, n_w) -> pa.RecordBatch:
    left_idx = pa.array(lp, pa.int64())
    right_idx = pa.array(rp, pa.int64()) if r_valid.all() else pa.array(rp, pa.int64(), mask=~r_valid)
    cols = {}
    for name in spec.left_columns:
        cols[name] = table.column(layout.slot(layout.left_slot[name])).take(left_idx)
    if spec.keep_ids:
        cols[LEFT_ID] = table.column(LEFT_ID).take(left_idx)
    if spec.has_right_columns:
        for name in spec.right_columns:
            cols[name + spec.right_suffix] = table.column(layout.slot(layout.right_slot[name])).take(right_idx)
        cols[SEPARATION] = pa.array(sep, pa.float64(), mask=None if r_valid.all() else ~r_valid)
        if n_w is not None:
            cols[N_MATCHES] = pa.array(n_w.astype(np.int32), pa.int32())
        if spec.keep_ids:
            cols[RIGHT_ID] = table.column(RIGHT_ID).take(right_idx)
    arrays = []
    for field in out_schema:
        col = cols[field.name]
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        arrays.append(col if col.type == field.type else pc.cast(col, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=out_schema)


def output_fields(spec: MatchSpec, layout: UnionLayout, field, float64, int32, int64) -> list:
    """Output fields in ``spec.output_columns()`` order, built by ``field(name, type)`` (Arrow or Spark)."""
    by_name = {c: layout.slot_types[layout.left_slot[c]] for c in spec.left_columns}
    by_name.update({c + spec.right_suffix: layout.slot_types[layout.right_slot[c]] for c in spec.right_columns})
    by_name.update({SEPARATION: float64, N_MATCHES: int32, LEFT_ID: int64, RIGHT_ID: int64})
    return [field(c, by_name[c]) for c in spec.output_columns()]


def output_arrow_schema(spec: MatchSpec, layout: UnionLayout) -> pa.Schema:
    """Arrow schema of the output rows when slot types are Arrow types (the sequential runner)."""
    return pa.schema(output_fields(spec, layout, pa.field, pa.float64(), pa.int32(), pa.int64()))


def unmatched_right_batch(right: pa.RecordBatch | pa.Table, spec: MatchSpec, out_schema: pa.Schema) -> pa.RecordBatch:
    """Right rows (their own column names, ``_rid`` included) as output rows of ``how=outer``: null left
    columns and separation, ``n_matches`` 0, ``healpix29`` computed when the spec adds it."""
    if isinstance(right, pa.Table):
        right = right.combine_chunks().to_batches()[0] if right.num_rows else pa.RecordBatch.from_pylist([], right.schema)
    n = right.num_rows
    cols: dict = {}
    for name in spec.right_columns:
        if name == HEALPIX and spec.add_right_healpix:
            cols[name + spec.right_suffix] = pa.array(
                healpix29(_float64(right.column(spec.right_ra)), _float64(right.column(spec.right_dec))), pa.int64())
        else:
            cols[name + spec.right_suffix] = right.column(name)
    if N_MATCHES in out_schema.names:
        cols[N_MATCHES] = pa.array(np.zeros(n, np.int32), pa.int32())
    if RIGHT_ID in out_schema.names:
        cols[RIGHT_ID] = right.column(RIGHT_ID)
    arrays = []
    for field in out_schema:
        col = cols.get(field.name)
        if col is None:
            arrays.append(pa.nulls(n, field.type))
        else:
            arrays.append(col if col.type == field.type else pc.cast(col, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=out_schema)


def sample_plan(left: pd.DataFrame, right: pd.DataFrame, spec: MatchSpec, target_rows: int) -> BucketPlan:
    """The bucket plan from all rows (the sequential runner needs no sampling)."""
    return plan_buckets(
        healpix29(right[spec.right_ra].to_numpy(), right[spec.right_dec].to_numpy()),
        healpix29(left[spec.left_ra].to_numpy(), left[spec.left_dec].to_numpy()),
        spec.order,
        target_rows,
    )


def _one_batch(frame: pd.DataFrame) -> pa.RecordBatch:
    """A DataFrame as one record batch (pandas' Arrow-backed strings arrive chunked: combined first)."""
    table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
    batches = table.to_batches()
    return batches[0] if len(batches) == 1 else pa.RecordBatch.from_pylist([], schema=table.schema)


def crossmatch_frames(
    left: pd.DataFrame, right: pd.DataFrame, spec: MatchSpec, target_rows: int = 200_000, plan: BucketPlan | None = None,
    types_mapper=None,
) -> pd.DataFrame:
    """Sequential twin of the Spark job on valid rows: tag both sides, then match every group (every join
    type of ``HOWS``; for ``outer`` the right rows no group matched are appended). ``types_mapper`` goes to
    ``pyarrow.Table.to_pandas`` (e.g. nullable int64 ids that float64 would round)."""
    left = left.reset_index(drop=True)
    right = right.reset_index(drop=True)
    if LEFT_ID not in left:
        left = left.assign(**{LEFT_ID: np.arange(len(left), dtype=np.int64)})
    if RIGHT_ID not in right:
        right = right.assign(**{RIGHT_ID: np.arange(len(right), dtype=np.int64)})
    plan = plan or sample_plan(left, right, spec, target_rows)
    lt = _one_batch(left)
    rt = _one_batch(right)
    layout = union_layout(spec, list(zip(lt.schema.names, lt.schema.types)),
                          list(zip(rt.schema.names, rt.schema.types)), pa.int64())
    schema = union_arrow_schema(layout)
    union = pa.Table.from_batches([tag_batch(lt, "left", plan, spec, layout, schema),
                                   tag_batch(rt, "right", plan, spec, layout, schema)])
    out_schema = output_arrow_schema(spec, layout)
    tally: dict = {}
    batches = list(match_table(union, spec, layout, out_schema, tally))
    if spec.how == "outer":
        hit = np.isin(right[RIGHT_ID].to_numpy(np.int64), tally.get("right_hit_ids", np.empty(0, np.int64)))
        lonely = rt.filter(pa.array(~hit))
        if lonely.num_rows:
            batches.append(unmatched_right_batch(lonely, spec, out_schema))
    return pa.Table.from_batches(batches, schema=out_schema).to_pandas(types_mapper=types_mapper)
