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
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.drift_frames import compare_frames
from lupus_metrics.evaluation.drift_tables import Compared, compare_columns
from lupus_metrics.evaluation.points import PointRow, point, points_frame, with_labels
from lupus_metrics.sql.tables import open_tables
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
    ref_series, cur_series = _as_series(reference, "reference"), _as_series(current, "current")
    resolved = _kind(ref_series, kind)
    if method in NUMERIC_ONLY and resolved != "numeric":
        raise LupusValidationError("method", f"{method} needs numeric data; use psi, js or chi2 for categories")
    if resolved == "numeric":
        ref_series = pd.Series(_numeric(ref_series, "reference"))
        cur_series = pd.Series(_numeric(cur_series, "current"))
    frames = pd.DataFrame({"x": ref_series}), pd.DataFrame({"x": cur_series})
    compared, _ = compare_frames(*frames, {"x": resolved}, [], bins=bins, small=method == "ks")
    reduced = compared[(1,), "x"]
    result = reduced if isinstance(reduced, str) else _column_scores(reduced, [method], epsilon=epsilon)[method]
    if isinstance(result, str):
        raise LupusValidationError(result.split(":")[0], result.split(": ", 1)[1])
    return result


def drift_points(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    methods: Sequence[str] = ("psi", "js", "ks", "wasserstein_norm", "chi2"),
    group_by: str | Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
    pvalues: bool = True,
    ts: object,
) -> pd.DataFrame:
    """Compare two tables column by column as metric points at ``ts``.

    For each column and method: ``drift.<method>`` with label ``column=<name>`` (see
    :func:`drift_score`), with n = the current values compared and no stderr;
    ``drift.ks_pvalue`` and ``drift.chi2_pvalue`` alongside those methods;
    ``drift.new_category_share`` for categorical columns. ``pvalues=False`` leaves the p-values out
    (for a million rows the exact KS p-value scipy computes costs about a second per column).
    Numeric-only methods are skipped for
    categorical columns. A score that is undefined for the data (see :func:`drift_score`) is
    left out rather than stored as NaN. With ``group_by`` (columns of both frames) the points
    follow for each group present on both sides, labelled with the group values.
    ``columns`` defaults to the columns the frames share, less the group columns.

    ``reference`` and ``current`` are pandas DataFrames, pyarrow Tables, DuckDB relations (of one
    connection: e.g. two days of Parquet files read lazily) or PySpark DataFrames; each column is
    reduced where the data is (:mod:`lupus_metrics.evaluation.drift_tables`).

    Example:
        >>> ref = pd.DataFrame({"score": [0.1, 0.2, 0.3, 0.4]})
        >>> cur = pd.DataFrame({"score": [0.3, 0.4, 0.5, 0.6]})
        >>> drift_points(ref, cur, methods=["ks"], ts="2026-01-01")[["metric", "labels", "value"]].to_dict("records")
        [{'metric': 'drift.ks', 'labels': {'column': 'score'}, 'value': 0.5}, {'metric': 'drift.ks_pvalue', 'labels': {'column': 'score'}, 'value': 0.7714...}]
    """
    methods = list(methods)
    _check_options(methods, bins, epsilon)
    group_cols = [group_by] if isinstance(group_by, str) else list(group_by or [])
    with open_tables(reference=reference, current=current) as tables:
        ref_types = tables.require("reference", "reference", group_cols)
        cur_types = tables.require("current", "current", group_cols)
        if columns is None:
            columns = [c for c in ref_types if c in cur_types and c not in group_cols]
        columns = list(columns)
        tables.require("reference", "reference", columns)
        tables.require("current", "current", columns)
        kinds = {c: "numeric" if ref_types[c].kind == "numeric" else "categorical" for c in columns}
        small = pvalues and "ks" in methods
        if tables.in_memory:
            # Already in memory: sorting with numpy is the fastest exact way (same reduction, tested alike).
            frames = [f if isinstance(f, pd.DataFrame) else f.to_pandas() for f in (reference, current)]
            compared, keys = compare_frames(*frames, kinds, group_cols, bins=bins, small=small)
        else:
            compared, keys = compare_columns(tables, kinds, group_cols, bins=bins, small=small)

    rows: list[PointRow] = []
    for key in keys.keys:
        base = keys.labels(key)
        for column in columns:
            reduced = compared.get((key, column))
            if reduced is None or isinstance(reduced, str):
                continue  # nothing to compare in this slice; an all-missing column is the null rate's business
            wanted = [m for m in methods if reduced.kind == "numeric" or m not in NUMERIC_ONLY]
            labels = with_labels(base, column=column)
            scores = _column_scores(reduced, wanted, epsilon=epsilon, pvalues=pvalues)
            # n: the current values compared. Drift scores are distances, not estimates with a
            # standard error; only the new-category share is a rate over those values.
            n = float(reduced.n_current)
            if reduced.kind == "categorical":
                rows.append(point("drift.new_category_share", labels, reduced.new_share, n=n,
                                  stderr=float(rate_stderr(reduced.new_share, n))))  # fmt: skip
            for method in wanted:
                score = scores[method]
                if isinstance(score, str):
                    continue
                rows.append(point(f"drift.{method}", labels, score.value, n=n))
                if pvalues and score.pvalue is not None:
                    rows.append(point(f"drift.{method}_pvalue", labels, score.pvalue, n=n))
    return points_frame(rows, ts=ts)


def _column_scores(
    reduced: Compared, methods: Sequence[str], *, epsilon: float, pvalues: bool = True
) -> dict[str, DriftScore | str]:
    """Scores by method; an undefined score is given as the reason (a string) instead."""
    out: dict[str, DriftScore | str] = {}
    new_share = reduced.new_share if reduced.kind == "categorical" else None
    ref_counts, cur_counts = reduced.ref_counts, reduced.cur_counts
    for method in methods:
        if method in NUMERIC_ONLY and reduced.kind != "numeric":
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
            pvalue = _ks_pvalue(reduced) if pvalues else None
            out[method] = DriftScore(method, reduced.ks, pvalue)
        elif method == "wasserstein":
            out[method] = DriftScore(method, reduced.wasserstein)
        elif method == "wasserstein_norm":
            if reduced.ref_std == 0.0:
                out[method] = "reference: wasserstein_norm is undefined for a constant reference (standard deviation 0)"
            else:
                out[method] = DriftScore(method, reduced.wasserstein / reduced.ref_std)
    return {m: out[m] for m in methods}


def _ks_pvalue(reduced: Compared) -> float:
    """Two-sided p-value exactly as ``scipy.stats.ks_2samp(method="auto")`` gives it."""
    if reduced.samples is not None:  # at most 10,000 values a side: scipy's exact distribution
        return float(ks_2samp(*reduced.samples).pvalue)
    # Smirnov's asymptotic distribution, as scipy uses above that size.
    m, n = sorted([float(reduced.n_reference), float(reduced.n_current)], reverse=True)
    return float(np.clip(kstwo.sf(reduced.ks, np.round(m * n / (m + n))), 0.0, 1.0))


def _kind(series: pd.Series, kind: str | None) -> str:
    if kind is not None:
        if kind not in KINDS:
            raise LupusValidationError("kind", "must be 'numeric' or 'categorical'", value=kind)
        return kind
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return "numeric" if numeric else "categorical"


def _as_series(values: object, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
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
