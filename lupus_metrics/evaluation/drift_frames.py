"""Drift's reduction of two in-memory frames, with numpy: the same :class:`Compared` as the SQL reduction.

For data already in memory the fastest exact way is to sort each numeric column once and merge
the two sorted samples (the KS statistic and the Wasserstein distance from the gaps between the
two ECDFs, the bin counts by binary search on the reference's numpy quantiles), and to factorize
categories per side. Tables that are not in memory (lazily read files, Spark) go through the SQL
reduction of :mod:`lupus_metrics.evaluation.drift_tables` instead; the engine-parity tests hold
both to the same points.

Example:
    >>> ref, cur = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), pd.DataFrame({"x": [3.0, 4.0, 5.0, 6.0]})
    >>> compared, _ = compare_frames(ref, cur, {"x": "numeric"}, [], bins=2, small=False)
    >>> c = compared[((1,), "x")]
    >>> (c.ks, c.wasserstein, c.ref_counts.tolist(), c.cur_counts.tolist())
    (0.5, 2.0, [2.0, 2.0], [0.0, 4.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.drift_tables import EXACT_KS_MAX, Compared, empty_side
from lupus_metrics.evaluation.points import group_codes
from lupus_metrics.sql.grouping import GroupKeys, key_of


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    group_by: Sequence[str],
    *,
    bins: int,
    small: bool,
) -> tuple[dict[tuple[tuple, str], Compared | str], GroupKeys]:
    """As :func:`lupus_metrics.evaluation.drift_tables.compare_columns`, on pandas frames."""
    slices: list[tuple[tuple, np.ndarray | slice, np.ndarray | slice]] = [
        (key_of((1,) + (None,) * len(group_by)), slice(None), slice(None))
    ]
    if group_by:
        both = pd.concat([reference[list(group_by)], current[list(group_by)]], ignore_index=True)
        codes, labels = group_codes(both, list(group_by))
        ref_codes, cur_codes = codes[: len(reference)], codes[len(reference) :]
        first_rows = pd.Series(np.arange(len(codes))).groupby(codes).first()
        for g in range(len(labels)):
            ref_rows, cur_rows = np.flatnonzero(ref_codes == g), np.flatnonzero(cur_codes == g)
            if len(ref_rows) and len(cur_rows):
                values = tuple(both.iloc[int(first_rows[g])])
                slices.append((key_of((0, *values)), ref_rows, cur_rows))
    out: dict[tuple[tuple, str], Compared | str] = {}
    for key, ref_rows, cur_rows in slices:
        for column, kind in kinds.items():
            ref, cur = reference[column].iloc[ref_rows], current[column].iloc[cur_rows]
            out[key, column] = _numeric(ref, cur, bins, small) if kind == "numeric" else _categorical(ref, cur)
    keys = pd.DataFrame([k for k, _, _ in slices], columns=["gid", *[f"g{i}" for i in range(len(group_by))]])
    return out, GroupKeys(keys, group_by)


def _numeric(reference: pd.Series, current: pd.Series, bins: int, small: bool) -> Compared | str:
    ref = np.sort(_finite(reference, "reference"))
    cur = np.sort(_finite(current, "current"))
    if not len(ref) or not len(cur):
        return empty_side(len(ref))
    ks, wasserstein = ecdf_gaps(ref, cur)
    ref_counts, cur_counts = quantile_bin_counts(ref, cur, bins)
    samples = (ref, cur) if small and max(len(ref), len(cur)) <= EXACT_KS_MAX else None
    return Compared("numeric", len(ref), len(cur), ref_counts, cur_counts, ks=ks, wasserstein=wasserstein,
                    ref_std=float(np.std(ref)), samples=samples)  # fmt: skip


def _categorical(reference: pd.Series, current: pd.Series) -> Compared | str:
    # Each side is factorized alone (hashing is the cost); only the small lists of categories are aligned.
    ref_codes, ref_categories = pd.factorize(reference)
    cur_codes, cur_categories = pd.factorize(current)
    ref_counts = np.bincount(ref_codes[ref_codes >= 0], minlength=len(ref_categories)).astype(np.float64)
    cur_by_own = np.bincount(cur_codes[cur_codes >= 0], minlength=len(cur_categories)).astype(np.float64)
    if not ref_counts.sum() or not cur_by_own.sum():
        return empty_side(int(ref_counts.sum()))
    position = pd.Index(ref_categories).get_indexer(cur_categories)
    known = position >= 0
    cur_counts = np.zeros(len(ref_categories))
    np.add.at(cur_counts, position[known], cur_by_own[known])
    new_share = float(cur_by_own[~known].sum() / cur_by_own.sum())
    return Compared(
        "categorical", int(ref_counts.sum()), int(cur_by_own.sum()), ref_counts, cur_counts, new_share=new_share
    )


def ecdf_gaps(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
    """KS statistic (largest gap between the two empirical CDFs) and Wasserstein-1 distance (area between them).

    Both come from one merge of the already sorted samples, which is what makes many columns of
    a million rows cheap (scipy sorts and searches for each on its own).
    """
    n1, n2 = len(ref_sorted), len(cur_sorted)
    both = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    merged = both[order]
    last = np.empty(len(merged), dtype=bool)  # last position of each distinct value: where the CDFs are read
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    last[-1] = True
    ref_at_or_below = np.cumsum(order < n1)[last]
    gap = np.abs(ref_at_or_below / n1 - (np.flatnonzero(last) + 1 - ref_at_or_below) / n2)
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(merged[last])))


def quantile_bin_counts(ref_sorted: np.ndarray, cur_sorted: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts per reference-quantile bin ``(-inf, e1], (e1, e2], ..., (e_last, inf)`` of two sorted samples."""
    edges = np.unique(np.quantile(ref_sorted, np.linspace(0.0, 1.0, bins + 1))[1:-1])

    def counts(sorted_values: np.ndarray) -> np.ndarray:
        # Counting on sorted data costs one binary search per edge, not one per value.
        at_or_below = np.searchsorted(sorted_values, edges, side="right")
        return np.diff(np.concatenate([[0], at_or_below, [len(sorted_values)]])).astype(np.float64)

    return counts(ref_sorted), counts(cur_sorted)


def _finite(series: pd.Series, name: str) -> np.ndarray:
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise LupusValidationError(name, "must be numeric for kind='numeric'") from None
    if np.isinf(values).any():
        raise LupusValidationError(name, "must be finite (missing values are dropped, infinity is not)")
    return values[~np.isnan(values)]
