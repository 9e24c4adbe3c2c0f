"""Drift's reduction of two tables to what every method needs, per column and slice, where the data is.

For a numeric column the reference and current values are counted per distinct value
(a spillable aggregate) and cumulated over the sorted values (a window). From that one
table come, per slice (the overall group and each group present on both sides): the KS
statistic and the Wasserstein distance (the gaps between the two empirical CDFs), the
reference's quantile bin edges (exact order statistics, :mod:`lupus_metrics.sql.ecdf`),
the counts of both sides in those bins, and the reference's standard deviation. For a
categorical column, the counts per category of both sides. No sample is held in memory,
except both samples of a slice of at most 10,000 values a side, for KS's exact p-value.

Example:
    >>> import pandas as pd
    >>> from lupus_metrics.sql.tables import open_tables
    >>> ref, cur = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), pd.DataFrame({"x": [3.0, 4.0, 5.0, 6.0]})
    >>> with open_tables(reference=ref, current=cur) as tables:
    ...     compared, _ = compare_columns(tables, {"x": "numeric"}, [], bins=2, small=False)
    >>> c = compared[((1,), "x")]
    >>> (c.ks, c.wasserstein, c.ref_counts.tolist(), c.cur_counts.tolist())
    (0.5, 2.0, [2.0, 2.0], [0.0, 4.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.sql.ecdf import quantile_picks
from lupus_metrics.sql.grouping import GroupedQuery, GroupKeys, key_of
from lupus_metrics.sql.tables import Tables, float_literal

#: Up to this many values a side, the KS p-value is exact (scipy's ``ks_2samp(method="auto")``).
EXACT_KS_MAX = 10_000


@dataclass(frozen=True)
class Compared:
    """One column in one slice, reduced to what the drift methods need."""

    kind: str  # "numeric" or "categorical"
    n_reference: int  # non-missing values
    n_current: int
    ref_counts: np.ndarray  # per bin (numeric) or per reference category
    cur_counts: np.ndarray
    new_share: float = 0.0  # categorical: share of current values in categories new to the reference
    ks: float = float("nan")
    wasserstein: float = float("nan")
    ref_std: float = float("nan")  # ddof 0
    samples: tuple[np.ndarray, np.ndarray] | None = None  # both samples, when small enough for the exact KS p-value


def compare_columns(
    tables: Tables, kinds: Mapping[str, str], group_by: Sequence[str], *, bins: int, small: bool
) -> tuple[dict[tuple[tuple, str], Compared | str], GroupKeys]:
    """Per (group key, column): the :class:`Compared` reduction, or why the slice cannot be compared.

    Slices are the overall group and each group with values on both sides; the :class:`GroupKeys`
    orders them. ``small`` asks for the samples of slices small enough for an exact KS p-value.
    """
    out: dict[tuple[tuple, str], Compared | str] = {}
    for column, kind in kinds.items():
        query = GroupedQuery(tables.dialect, group_by, table="both_")
        both = _both_sides(tables, group_by, column, kind)
        if kind == "numeric":
            found = tables.query(both + _numeric_sql(query, bins))
            if found["infinite"].sum() > 0:
                side = "reference" if found.loc[found["infinite"] > 0, "infinite_ref"].sum() > 0 else "current"
                raise LupusValidationError(side, "must be finite (missing values are dropped, infinity is not)")
            samples = _samples(tables, both, query, found) if small else {}
        else:
            found = tables.query(both + _categorical_sql(query))
            samples = {}
        for key, part in found.groupby(["gid", *query.aliases], dropna=False, sort=False):
            key = key_of(key)
            reduced = _numeric_slice(part, bins) if kind == "numeric" else _categorical_slice(part)
            if isinstance(reduced, Compared) and key in samples:
                reduced = Compared(**{**reduced.__dict__, "samples": samples[key]})
            out[key, column] = reduced
        overall = key_of((1,) + (None,) * len(group_by))
        if (overall, column) not in out:
            out[overall, column] = "reference: must have at least one non-missing value"
    found_keys = pd.DataFrame(
        sorted({k for k, _ in out}, key=str), columns=["gid", *[f"g{i}" for i in range(len(group_by))]]
    )
    return out, GroupKeys(found_keys, group_by)


def _both_sides(tables: Tables, group_by: Sequence[str], column: str, kind: str) -> str:
    ident = tables.dialect.ident
    groups = [f"{ident(g)} AS {ident(f'g{i}')}" for i, g in enumerate(group_by)]
    # Categories are compared as text, so the two sides need not share a type.
    value = (
        f"CAST({ident(column)} AS DOUBLE)"
        if kind == "numeric"
        else f"CAST({ident(column)} AS {tables.dialect.string_type})"
    )
    select = ", ".join([*groups, f"{value} AS v"])
    missing = "v IS NOT NULL" + (f" AND NOT {tables.dialect.is_nan('v')}" if kind == "numeric" else "")
    return (
        f"WITH sides AS (SELECT {select}, 1 AS side FROM reference UNION ALL SELECT {select}, 2 AS side FROM current), "
        f"both_ AS (SELECT * FROM sides WHERE {missing}) "
    )


_COUNTS = "sum(CASE WHEN side = 1 THEN 1 ELSE 0 END) AS r, sum(CASE WHEN side = 2 THEN 1 ELSE 0 END) AS q"


def _numeric_sql(query: GroupedQuery, bins: int) -> str:
    over = query.partition
    cumulative = f"{over} ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    counted = query.aggregate(_COUNTS, "both_", by=["v"])
    cum = (
        f"SELECT *, sum(r) OVER ({cumulative}) AS cr, sum(q) OVER ({cumulative}) AS cq, "
        f"sum(r) OVER ({over}) AS nr, sum(q) OVER ({over}) AS nq, lead(v) OVER ({over} ORDER BY v) AS next_v "
        f"FROM counted"
    )
    qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]  # the inner edges, numpy's own fractions
    keys = query.key_list
    # One row of edges per slice, joined back to its distinct values (the overall slice has null keys).
    on = " AND ".join(["c.gid = e.gid", *[f"c.{a} IS NOT DISTINCT FROM e.{a}" for a in query.aliases_sql]])
    edges = ", ".join(_edge_sql(i, q) for i, q in enumerate(qs)) or "0 AS e_none"
    bin_of = "CASE " + " ".join(f"WHEN c.v <= e.e{i} THEN {i}" for i in range(len(qs))) + f" ELSE {len(qs)} END"
    c_keys = ", ".join(f"c.{k.strip()}" for k in keys.split(","))
    return (
        f", counted AS ({counted}), cum AS ({cum}), "
        f"picked AS (SELECT {keys}, max(nr) AS nr, sum(r * v) / nullif(max(nr), 0) AS mean_ref, "
        f"{', '.join(quantile_picks(qs, cum='cr', n='nr'))} FROM cum GROUP BY {keys}), "
        f"edged AS (SELECT {keys}, mean_ref, {edges} FROM picked), "
        f"binned AS (SELECT {c_keys}, c.v, c.r, c.q, c.nr, c.nq, c.next_v, e.mean_ref, {bin_of} AS b, "
        f"abs(c.cr / nullif(c.nr, 0) - c.cq / nullif(c.nq, 0)) AS gap FROM cum AS c JOIN edged AS e ON {on}) "
        f"SELECT {keys}, b, sum(r) AS r, sum(q) AS q, max(nr) AS nr, max(nq) AS nq, "
        f"sum(r * (v - mean_ref) * (v - mean_ref)) AS ss, max(gap) AS ks, sum(gap * (next_v - v)) AS w, "
        f"sum(CASE WHEN {query.dialect.is_infinite('v')} THEN r + q ELSE 0 END) AS infinite, "
        f"sum(CASE WHEN {query.dialect.is_infinite('v')} THEN r ELSE 0 END) AS infinite_ref "
        f"FROM binned GROUP BY {keys}, b"
    )


def _edge_sql(i: int, q: float) -> str:
    """The reference's quantile q, interpolated as numpy does (from the nearer end)."""
    h = f"(CAST(nr - 1 AS DOUBLE) * {float_literal(q)})"
    t = f"({h} - floor({h}))"
    lo, hi = f"lo{i}", f"hi{i}"
    return (
        f"CASE WHEN {hi} IS NULL OR {t} = 0 THEN {lo} WHEN {t} >= 0.5 THEN {hi} - ({hi} - {lo}) * (1 - {t}) "
        f"ELSE {lo} + ({hi} - {lo}) * {t} END AS e{i}"
    )


def _categorical_sql(query: GroupedQuery) -> str:
    return query.aggregate(_COUNTS, "both_", by=["v"])


def _numeric_slice(part: pd.DataFrame, bins: int) -> Compared | str:
    n_ref, n_cur = int(part["nr"].max()), int(part["nq"].max())
    if not n_ref or not n_cur:
        return empty_side(n_ref)
    ref_counts, cur_counts = np.zeros(bins), np.zeros(bins)
    positions = part["b"].to_numpy(dtype=np.int64)
    ref_counts[positions] = part["r"].to_numpy(dtype=np.float64)
    cur_counts[positions] = part["q"].to_numpy(dtype=np.float64)
    return Compared(
        "numeric", n_ref, n_cur, ref_counts, cur_counts,
        ks=float(part["ks"].max()), wasserstein=float(np.nansum(part["w"].to_numpy(dtype=np.float64))),
        ref_std=float(np.sqrt(part["ss"].sum() / n_ref)),
    )  # fmt: skip


def _categorical_slice(part: pd.DataFrame) -> Compared | str:
    r, q = part["r"].to_numpy(dtype=np.float64), part["q"].to_numpy(dtype=np.float64)
    n_ref, n_cur = int(r.sum()), int(q.sum())
    if not n_ref or not n_cur:
        return empty_side(n_ref)
    known = r > 0
    return Compared("categorical", n_ref, n_cur, r[known], q[known], new_share=float(q[~known].sum() / n_cur))


def empty_side(n_reference: int) -> str:
    side = "current" if n_reference else "reference"
    return f"{side}: must have at least one non-missing value"


def _samples(
    tables: Tables, both: str, query: GroupedQuery, found: pd.DataFrame
) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """Both samples of every slice with at most :data:`EXACT_KS_MAX` values a side."""
    if not ((found["nr"] <= EXACT_KS_MAX) & (found["nq"] <= EXACT_KS_MAX)).any():
        return {}
    over = query.partition
    counted = query.aggregate(_COUNTS, "both_", by=["v"])
    rows = tables.query(
        f"{both}, counted AS ({counted}) SELECT * FROM (SELECT *, sum(r) OVER ({over}) AS nr, sum(q) OVER ({over}) AS nq "
        f"FROM counted) AS totals WHERE nr <= {EXACT_KS_MAX} AND nq <= {EXACT_KS_MAX}"
    )
    out = {}
    for key, part in rows.groupby(["gid", *query.aliases], dropna=False, sort=False):
        values = part["v"].to_numpy(dtype=np.float64)
        out[key_of(key)] = (
            np.repeat(values, part["r"].to_numpy(dtype=np.int64)),
            np.repeat(values, part["q"].to_numpy(dtype=np.int64)),
        )
    return out
