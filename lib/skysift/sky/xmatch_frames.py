"""Per-batch cross-match functions (pandas in, pandas out) shared by Spark and the sequential runner.

Roles: the *left* catalog is the build side (each left row sits in exactly one
group, so `nearest` and `how=left` are decided inside that group); the *right*
catalog is the probe side (each right row is copied to every bucket its cone can
reach, and carries the radius: fixed, or per row from ``radius_column``).

* ``tag_left`` / ``tag_right``: one input batch -> rows with their group id ``_g``
  (mapInPandas).
* ``match_group``: one group's left and right rows -> output rows
  (cogroup applyInPandas).
* ``crossmatch_frames``: the same three steps in a loop, no Spark (tests, notebooks,
  the benchmark's in-process twin).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from .healpix_buckets import BucketPlan, assign_build, assign_probe, plan_buckets
from .healpix_cells import healpix29
from .pairs import find_pairs, nearest_per_build
from .separation import unit_vectors

LEFT_ID = "_lid"
RIGHT_ID = "_rid"
GROUP = "_g"
HEALPIX = "healpix29"
SEPARATION = "separation_arcsec"
N_MATCHES = "n_matches"


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
    extra: dict = field(default_factory=dict)

    def output_columns(self) -> list[str]:
        cols = list(self.left_columns) + [c + self.right_suffix for c in self.right_columns] + [SEPARATION]
        if self.mode == "nearest":
            cols.append(N_MATCHES)
        if self.keep_ids:
            cols += [LEFT_ID, RIGHT_ID]
        return cols


def _with_healpix(pdf: pd.DataFrame, ra: str, dec: str, add: bool) -> pd.DataFrame:
    if add:
        pdf = pdf.assign(**{HEALPIX: healpix29(pdf[ra].to_numpy(), pdf[dec].to_numpy())})
    return pdf


def tag_left(pdf: pd.DataFrame, plan: BucketPlan, spec: MatchSpec) -> pd.DataFrame:
    """Left (build) rows with their one group id (a left row is never copied, see ``_salts``)."""
    pdf = _with_healpix(pdf, spec.left_ra, spec.left_dec, spec.add_left_healpix)
    h = healpix29(pdf[spec.left_ra].to_numpy(), pdf[spec.left_dec].to_numpy())
    rows, group, _ = assign_build(h, pdf[LEFT_ID].to_numpy(), plan)
    out = pdf.iloc[rows].reset_index(drop=True) if rows.size != len(pdf) else pdf.reset_index(drop=True)
    return out.assign(**{GROUP: group})


def tag_right(pdf: pd.DataFrame, plan: BucketPlan, spec: MatchSpec) -> pd.DataFrame:
    """Right (probe) rows, one copy per group their cone can reach."""
    pdf = _with_healpix(pdf, spec.right_ra, spec.right_dec, spec.add_right_healpix)
    h = healpix29(pdf[spec.right_ra].to_numpy(), pdf[spec.right_dec].to_numpy())
    rows, group, _ = assign_probe(h, pdf[RIGHT_ID].to_numpy(), plan)
    return pdf.iloc[rows].reset_index(drop=True).assign(**{GROUP: group})


def _arrow(pdf: pd.DataFrame, columns: list[str]) -> pa.Table:
    return pa.Table.from_pandas(pdf[columns], preserve_index=False)


def match_group(left: pd.DataFrame, right: pd.DataFrame, spec: MatchSpec) -> pd.DataFrame:
    """All output rows of one group: pairs (mode=all) or the best pair per left row (nearest),
    plus unmatched left rows with null right columns when how=left."""
    n_left = len(left)
    if n_left and len(right):
        l_ra, l_dec = left[spec.left_ra].to_numpy(np.float64), left[spec.left_dec].to_numpy(np.float64)
        r_ra, r_dec = right[spec.right_ra].to_numpy(np.float64), right[spec.right_dec].to_numpy(np.float64)
        radius = right[spec.radius_column].to_numpy(np.float64) if spec.radius_column else spec.radius_arcsec
        p, b, sep = find_pairs(
            healpix29(r_ra, r_dec), unit_vectors(r_ra, r_dec), radius,
            healpix29(l_ra, l_dec), unit_vectors(l_ra, l_dec), spec.order,
        )
        if spec.pairs_only_upper:
            keep = left[LEFT_ID].to_numpy()[b] < right[RIGHT_ID].to_numpy()[p]
            p, b, sep = p[keep], b[keep], sep[keep]
    else:
        p = b = np.empty(0, np.int64)
        sep = np.empty(0, np.float64)
    n_within = None
    if spec.mode == "nearest" and p.size:
        n_within = np.bincount(b, minlength=n_left)
        best = nearest_per_build(p, b, sep, right[RIGHT_ID].to_numpy())
        p, b, sep = p[best], b[best], sep[best]
    l_idx, r_idx, s = b, p, sep
    r_valid = np.ones(l_idx.size, dtype=bool)
    if spec.how == "left":
        matched = np.zeros(n_left, dtype=bool)
        matched[l_idx] = True
        lonely = np.flatnonzero(~matched)
        l_idx = np.concatenate([l_idx, lonely])
        r_idx = np.concatenate([r_idx, np.zeros(lonely.size, np.int64)])
        s = np.concatenate([s, np.full(lonely.size, np.nan)])
        r_valid = np.concatenate([r_valid, np.zeros(lonely.size, dtype=bool)])
    left_cols = list(spec.left_columns) + ([LEFT_ID] if spec.keep_ids else [])
    right_cols = list(spec.right_columns) + ([RIGHT_ID] if spec.keep_ids else [])
    lt = _arrow(left, left_cols).take(pa.array(l_idx, type=pa.int64()))
    if len(right):
        rt = _arrow(right, right_cols).take(pa.array(r_idx, type=pa.int64(), mask=~r_valid))
    else:
        rt = pa.table({c: pa.nulls(l_idx.size) for c in right_cols})
    out = {}
    for name in spec.left_columns:
        out[name] = lt.column(name)
    for name in spec.right_columns:
        out[name + spec.right_suffix] = rt.column(name)
    out[SEPARATION] = pa.array(s, mask=~r_valid)
    if spec.mode == "nearest":
        counts = n_within[l_idx] if n_within is not None else np.zeros(l_idx.size, np.int64)
        out[N_MATCHES] = pa.array(counts.astype(np.int32))
    if spec.keep_ids:
        out[LEFT_ID] = lt.column(LEFT_ID)
        out[RIGHT_ID] = rt.column(RIGHT_ID)
    return pa.table(out).to_pandas(types_mapper=pd.ArrowDtype)


def sample_plan(left: pd.DataFrame, right: pd.DataFrame, spec: MatchSpec, target_rows: int) -> BucketPlan:
    """The bucket plan from all rows (the sequential runner needs no sampling)."""
    return plan_buckets(
        healpix29(right[spec.right_ra].to_numpy(), right[spec.right_dec].to_numpy()),
        healpix29(left[spec.left_ra].to_numpy(), left[spec.left_dec].to_numpy()),
        spec.order,
        target_rows,
    )


def crossmatch_frames(
    left: pd.DataFrame, right: pd.DataFrame, spec: MatchSpec, target_rows: int = 200_000, plan: BucketPlan | None = None
) -> pd.DataFrame:
    """Sequential twin of the Spark job on valid rows: tag, group, match, concatenate."""
    left = left.reset_index(drop=True)
    right = right.reset_index(drop=True)
    if LEFT_ID not in left:
        left = left.assign(**{LEFT_ID: np.arange(len(left), dtype=np.int64)})
    if RIGHT_ID not in right:
        right = right.assign(**{RIGHT_ID: np.arange(len(right), dtype=np.int64)})
    plan = plan or sample_plan(left, right, spec, target_rows)
    lt = tag_left(left, plan, spec)
    rt = tag_right(right, plan, spec)
    groups_l = dict(tuple(lt.groupby(GROUP, sort=True)))
    groups_r = dict(tuple(rt.groupby(GROUP, sort=True)))
    parts = []
    empty_l, empty_r = lt.iloc[:0], rt.iloc[:0]
    for g in sorted(set(groups_l) | set(groups_r)):
        parts.append(match_group(groups_l.get(g, empty_l), groups_r.get(g, empty_r), spec))
    if not parts:
        return match_group(empty_l, empty_r, spec)
    return pd.concat(parts, ignore_index=True)


def iter_batches(batches: Iterator[pd.DataFrame], fn, *args) -> Iterator[pd.DataFrame]:
    """Adapter for mapInPandas: apply a per-batch function to every batch of a partition."""
    for pdf in batches:
        if len(pdf):
            yield fn(pdf, *args)
