"""Distribution drift between a reference and a current sample: PSI, Jensen-Shannon, KS, Wasserstein, chi-square.

:func:`drift_score` compares two series with one method; :func:`drift_points` compares two
DataFrames column by column (optionally per group) and returns metric points named
``drift.<method>`` with label ``column``. Formulas and the epsilon rule are in
``docs/evaluation.md``.

Example:
    >>> drift_score([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0], "wasserstein").value
    2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import PointRow, group_codes, point, points_frame, require_columns, with_labels
from lupus_metrics.stats.standard_error import rate_stderr

DRIFT_METHODS = ("psi", "js", "ks", "wasserstein", "wasserstein_norm", "chi2")
NUMERIC_ONLY = frozenset({"ks", "wasserstein", "wasserstein_norm"})
KINDS = ("numeric", "categorical")
DEFAULT_BINS = 10
DEFAULT_EPSILON = 1e-4


@dataclass(frozen=True)
class DriftScore:
    """One comparison: the score, its p-value (``ks``, ``chi2``) and, for categorical
    data, the share of current rows whose category the reference never had."""

    method: str
    value: float
    pvalue: float | None = None
    new_category_share: float | None = None


def drift_score(
    reference: object,
    current: object,
    method: str,
    *,
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
    kind: str | None = None,
) -> DriftScore:
    """Drift of ``current`` from ``reference`` by ``method``.

    Methods (``p``, ``q``: reference and current shares over the same bins or categories):

    - ``psi`` = sum (q' - p') ln(q'/p'), where shares below ``epsilon`` are raised to ``epsilon``
      (no renormalization), so an empty bin adds a bounded term instead of infinity.
    - ``js``: Jensen-Shannon distance, base 2 (in [0, 1]); ``scipy.spatial.distance.jensenshannon``.
    - ``chi2``: Pearson chi-square statistic of the 2 x bins table of counts (no continuity
      correction; bins empty on both sides dropped) and its p-value; ``scipy.stats.chi2_contingency``.
    - ``ks``: two-sample Kolmogorov-Smirnov statistic and p-value (``scipy.stats.ks_2samp``); numeric only.
    - ``wasserstein``: 1-D earth mover's distance in the data's units (``scipy.stats.wasserstein_distance``);
      ``wasserstein_norm`` divides it by the reference standard deviation (ddof=0); numeric only.

    Numeric bins are the ``bins``-quantiles of the reference (duplicate edges merged, outer bins
    open-ended so current values outside the reference range still count). Categorical shares
    are over the reference's categories; current rows with a category the reference never had
    are left out of ``q`` and reported as ``new_category_share``. Missing values are dropped.
    ``kind`` defaults to numeric for numeric dtypes (not bool) and categorical otherwise.

    Raises :class:`~lupus_metrics.errors.LupusValidationError` for an unknown method, a numeric-only
    method on categorical data, an empty side, or an undefined score (``wasserstein_norm`` with a
    constant reference; every current category new).

    Example:
        >>> round(drift_score(["a", "a", "b"], ["a", "b", "b", "c"], "psi").value, 4)
        0.4621
        >>> drift_score(["a", "a", "b"], ["a", "b", "b", "c"], "psi").new_category_share
        0.25
    """
    _check_options([method], bins, epsilon)
    prepared = _prepare(reference, current, kind)
    if isinstance(prepared, str):
        raise LupusValidationError(prepared.split(":")[0], prepared.split(": ", 1)[1])
    ref, cur, resolved = prepared
    result = _column_scores(ref, cur, resolved, [method], bins=bins, epsilon=epsilon)[method]
    if isinstance(result, str):
        raise LupusValidationError(result.split(":")[0], result.split(": ", 1)[1])
    return result


def drift_points(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    methods: Sequence[str] = ("psi", "js", "ks", "wasserstein_norm", "chi2"),
    group_by: str | Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
    pvalues: bool = True,
    ts: object,
) -> pd.DataFrame:
    """Compare two DataFrames column by column as metric points at ``ts``.

    For each column and method: ``drift.<method>`` with label ``column=<name>`` (see
    :func:`drift_score`), with n = the current values compared and no stderr; ``drift.ks_pvalue`` and ``drift.chi2_pvalue`` alongside those methods;
    ``drift.new_category_share`` for categorical columns. ``pvalues=False`` leaves the p-values out
    (for a million rows the exact KS p-value scipy computes costs about a second per column).
    Numeric-only methods are skipped for
    categorical columns. A score that is undefined for the data (see :func:`drift_score`) is
    left out rather than stored as NaN. With ``group_by`` (columns of both frames) the points
    follow for each group present on both sides, labelled with the group values.
    ``columns`` defaults to the columns the frames share, less the group columns.

    Example:
        >>> ref = pd.DataFrame({"score": [0.1, 0.2, 0.3, 0.4]})
        >>> cur = pd.DataFrame({"score": [0.3, 0.4, 0.5, 0.6]})
        >>> drift_points(ref, cur, methods=["ks"], ts="2026-01-01")[["metric", "labels", "value"]].to_dict("records")
        [{'metric': 'drift.ks', 'labels': {'column': 'score'}, 'value': 0.5}, {'metric': 'drift.ks_pvalue', 'labels': {'column': 'score'}, 'value': 0.7714...}]
    """
    methods = list(methods)
    _check_options(methods, bins, epsilon)
    group_cols = [group_by] if isinstance(group_by, str) else list(group_by or [])
    require_columns(reference, "reference", group_cols)
    require_columns(current, "current", group_cols)
    if columns is None:
        columns = [c for c in reference.columns if c in current.columns and c not in group_cols]
    columns = list(columns)
    require_columns(reference, "reference", columns)
    require_columns(current, "current", columns)
    kinds = {c: _kind(reference[c], None) for c in columns}

    slices: list[tuple[dict[str, str], np.ndarray | slice, np.ndarray | slice]] = [({}, slice(None), slice(None))]
    if group_cols:
        both = pd.concat([reference[group_cols], current[group_cols]], ignore_index=True)
        codes, labels = group_codes(both, group_cols)
        ref_codes, cur_codes = codes[: len(reference)], codes[len(reference) :]
        for g, base in enumerate(labels):
            ref_rows, cur_rows = np.flatnonzero(ref_codes == g), np.flatnonzero(cur_codes == g)
            if len(ref_rows) and len(cur_rows):
                slices.append((base, ref_rows, cur_rows))

    rows: list[PointRow] = []
    for base, ref_rows, cur_rows in slices:
        for column in columns:
            prepared = _prepare(reference[column].iloc[ref_rows], current[column].iloc[cur_rows], kinds[column])
            if isinstance(prepared, str):
                continue  # nothing to compare in this slice; an all-missing column is the null rate's business
            ref, cur, kind = prepared
            wanted = [m for m in methods if kind == "numeric" or m not in NUMERIC_ONLY]
            labels = with_labels(base, column=column)
            scores = _column_scores(ref, cur, kind, wanted, bins=bins, epsilon=epsilon, pvalues=pvalues)
            # n: the current values compared. Drift scores are distances, not estimates with a
            # standard error; only the new-category share is a rate over those values.
            n = float(cur.n)
            if kind == "categorical":
                rows.append(point("drift.new_category_share", labels, cur.new_share, n=n,
                                  stderr=float(rate_stderr(cur.new_share, n))))  # fmt: skip
            for method in wanted:
                score = scores[method]
                if isinstance(score, str):
                    continue
                rows.append(point(f"drift.{method}", labels, score.value, n=n))
                if pvalues and score.pvalue is not None:
                    rows.append(point(f"drift.{method}_pvalue", labels, score.pvalue, n=n))
    return points_frame(rows, ts=ts)


@dataclass(frozen=True)
class _Side:
    """One side of a comparison, prepared once for every method."""

    values: np.ndarray  # numeric: sorted values without NaN; categorical: category codes
    counts: np.ndarray | None = None  # categorical: rows per reference category
    new_share: float = 0.0  # categorical current side: share of rows in categories new to the reference
    n: int = 0  # non-missing values


def _prepare(reference: object, current: object, kind: str | None) -> tuple[_Side, _Side, str] | str:
    """Both sides ready for every method, or the reason they cannot be compared (an empty side)."""
    ref_series = _as_series(reference, "reference")
    cur_series = _as_series(current, "current")
    resolved = _kind(ref_series, kind)
    if resolved == "numeric":
        ref_values = _numeric(ref_series, "reference")
        cur_values = _numeric(cur_series, "current")
        ref_values, cur_values = ref_values[~np.isnan(ref_values)], cur_values[~np.isnan(cur_values)]
        if not len(ref_values) or not len(cur_values):
            return _empty_side(len(ref_values))
        return _Side(np.sort(ref_values), n=len(ref_values)), _Side(np.sort(cur_values), n=len(cur_values)), resolved
    # Each side is factorized alone (hashing is the cost); only the small lists of categories are aligned.
    ref_codes, ref_categories = pd.factorize(ref_series)
    cur_codes, cur_categories = pd.factorize(cur_series)
    ref_counts = np.bincount(ref_codes[ref_codes >= 0], minlength=len(ref_categories)).astype(np.float64)
    cur_by_own = np.bincount(cur_codes[cur_codes >= 0], minlength=len(cur_categories)).astype(np.float64)
    if not ref_counts.sum() or not cur_by_own.sum():
        return _empty_side(int(ref_counts.sum()))
    position = pd.Index(ref_categories).get_indexer(cur_categories)
    known = position >= 0
    cur_counts = np.zeros(len(ref_categories))
    np.add.at(cur_counts, position[known], cur_by_own[known])
    new_share = float(cur_by_own[~known].sum() / cur_by_own.sum())
    return (
        _Side(ref_codes, ref_counts, n=int(ref_counts.sum())),
        _Side(cur_codes, cur_counts, new_share, n=int(cur_by_own.sum())),
        resolved,
    )


def _empty_side(n_reference: int) -> str:
    side = "current" if n_reference else "reference"
    return f"{side}: must have at least one non-missing value"


def _column_scores(
    ref: _Side, cur: _Side, kind: str, methods: Sequence[str], *, bins: int, epsilon: float, pvalues: bool = True
) -> dict[str, DriftScore | str]:
    """Scores by method; an undefined score is given as the reason (a string) instead."""
    out: dict[str, DriftScore | str] = {}
    gaps: list[tuple[float, float]] = []

    def ecdf_gaps() -> tuple[float, float]:
        if not gaps:
            gaps.append(_ecdf_gaps(ref.values, cur.values))
        return gaps[0]

    new_share = cur.new_share if kind == "categorical" else None
    if kind == "numeric":
        ref_counts, cur_counts = _quantile_bin_counts(ref.values, cur.values, bins)
    else:
        ref_counts, cur_counts = ref.counts, cur.counts
    for method in methods:
        if method in NUMERIC_ONLY and kind != "numeric":
            raise LupusValidationError("method", f"{method} needs numeric data; use psi, js or chi2 for categories")
        if method in ("psi", "js", "chi2") and cur_counts.sum() == 0:
            out[method] = "current: no value of current is a category of reference (see new_category_share)"
            continue
        if method == "psi":
            p = np.maximum(ref_counts / ref_counts.sum(), epsilon)
            q = np.maximum(cur_counts / cur_counts.sum(), epsilon)
            out[method] = DriftScore(method, float(np.sum((q - p) * np.log(q / p))), None, new_share)
        elif method == "js":
            value = float(jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum(), base=2))
            out[method] = DriftScore(method, value, None, new_share)
        elif method == "chi2":
            table = np.vstack([ref_counts, cur_counts])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] < 2:
                # One bin in all: both samples are identical in distribution; scipy would report dof 0.
                out[method] = DriftScore(method, 0.0, 1.0, new_share)
            else:
                result = chi2_contingency(table, correction=False)
                out[method] = DriftScore(method, float(result.statistic), float(result.pvalue), new_share)
        elif method == "ks":
            statistic, _ = ecdf_gaps()
            pvalue = _ks_pvalue(ref.values, cur.values, statistic) if pvalues else None
            out[method] = DriftScore(method, statistic, pvalue)
        elif method in ("wasserstein", "wasserstein_norm"):
            _, distance = ecdf_gaps()
            if method == "wasserstein":
                out[method] = DriftScore(method, distance)
            else:
                std = float(np.std(ref.values))
                if std == 0.0:
                    out[method] = (
                        "reference: wasserstein_norm is undefined for a constant reference (standard deviation 0)"
                    )
                else:
                    out[method] = DriftScore(method, distance / std)
    return {m: out[m] for m in methods}


def _ecdf_gaps(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
    """KS statistic (largest gap between the two empirical CDFs) and Wasserstein-1 distance (area between them).

    scipy computes each from unsorted data with its own sorts and searches; here both come
    from one merge of the already sorted samples, which is what makes many columns of a
    million rows cheap.
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


def _ks_pvalue(ref_sorted: np.ndarray, cur_sorted: np.ndarray, statistic: float) -> float:
    """Two-sided p-value exactly as ``scipy.stats.ks_2samp(method="auto")`` gives it."""
    n1, n2 = len(ref_sorted), len(cur_sorted)
    if max(n1, n2) <= 10_000:  # scipy's MAX_AUTO_N: the exact distribution is affordable
        return float(ks_2samp(ref_sorted, cur_sorted).pvalue)
    # Smirnov's asymptotic distribution, as scipy uses above that size.
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(kstwo.sf(statistic, np.round(m * n / (m + n))), 0.0, 1.0))


def _quantile_bin_counts(ref_sorted: np.ndarray, cur_sorted: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts per reference-quantile bin ``(-inf, e1], (e1, e2], ..., (e_last, inf)`` of two sorted samples."""
    edges = np.unique(np.quantile(ref_sorted, np.linspace(0.0, 1.0, bins + 1))[1:-1])

    def counts(sorted_values: np.ndarray) -> np.ndarray:
        # Counting on sorted data costs one binary search per edge, not one per value.
        at_or_below = np.searchsorted(sorted_values, edges, side="right")
        return np.diff(np.concatenate([[0], at_or_below, [len(sorted_values)]])).astype(np.float64)

    return counts(ref_sorted), counts(cur_sorted)


def _kind(series: pd.Series, kind: str | None) -> str:
    if kind is not None:
        if kind not in KINDS:
            raise LupusValidationError("kind", "must be 'numeric' or 'categorical'", value=kind)
        return kind
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return "numeric" if numeric else "categorical"


def _as_series(values: object, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise LupusValidationError(name, "must be one-dimensional (a list, array or Series)")
    array = np.asarray(values)
    if array.ndim != 1:
        raise LupusValidationError(name, "must be one-dimensional", value=array.shape)
    return pd.Series(array)


def _numeric(series: pd.Series, name: str) -> np.ndarray:
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise LupusValidationError(name, "must be numeric for kind='numeric'") from None
    if np.isinf(values).any():
        raise LupusValidationError(name, "must be finite (missing values are dropped, infinity is not)")
    return values


def _check_options(methods: Sequence[str], bins: int, epsilon: float) -> None:
    unknown = [m for m in methods if m not in DRIFT_METHODS]
    if unknown or not methods:
        raise LupusValidationError("method", f"must be among {', '.join(DRIFT_METHODS)}", value=unknown or methods)
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 2:
        raise LupusValidationError("bins", "must be an integer >= 2", value=bins)
    if not (0.0 < epsilon < 1.0):
        raise LupusValidationError("epsilon", "must lie strictly between 0 and 1", value=epsilon)
