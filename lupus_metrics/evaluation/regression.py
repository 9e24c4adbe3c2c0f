"""Regression metrics as metric points: MAE, RMSE, MAPE, R², mean bias, residual quantiles.

Definitions follow scikit-learn where it has the metric (agreeing to 1e-12); formulas
and the zero-target rule of MAPE are in ``docs/evaluation.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.inputs import as_float_vector, groups_frame, same_length
from lupus_metrics.evaluation.points import PointRow, iter_groups, point, points_frame, with_labels
from lupus_metrics.stats.standard_error import mean_stderr

DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def evaluate_regression(
    y_true: object,
    y_pred: object,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    group_by: pd.Series | pd.DataFrame | None = None,
    ts: object,
) -> pd.DataFrame:
    """Regression metrics of ``y_pred`` against ``y_true`` as metric points at ``ts``.

    With residual ``e = y_pred - y_true`` (positive means over-prediction) over ``n`` rows:

    - ``regression.rows`` = n; ``regression.mae`` = mean(|e|); ``regression.rmse`` = sqrt(mean(e²));
      ``regression.bias`` = mean(e).
    - ``regression.mape`` = mean(|e| / |y_true|) over the rows with ``y_true != 0`` (a fraction,
      not a percentage). Rows with a zero target are left out of it and counted in
      ``regression.mape_excluded``; if every target is zero the MAPE point is left out.
    - ``regression.r2`` = 1 - sum(e²) / sum((y_true - mean(y_true))²); for a constant ``y_true``
      it is 1.0 when every prediction is exact and 0.0 otherwise (scikit-learn's ``force_finite``).
    - ``regression.residual_quantile`` with ``q=<q>``: quantiles of ``e`` (linear interpolation,
      numpy's default).

    ``group_by`` (a named Series or a DataFrame aligned with the rows) adds the same points
    per group. Empty, non-finite or mismatched input raises
    :class:`~lupus_metrics.errors.LupusValidationError`.

    Example:
        >>> pts = evaluate_regression([1.0, 2.0, 4.0], [1.5, 2.0, 3.0], ts="2026-01-01")
        >>> pts.set_index("metric").loc[["regression.mae", "regression.bias"], "value"].round(4).tolist()
        [0.5, -0.1667]
    """
    truth = as_float_vector(y_true, "y_true")
    pred = as_float_vector(y_pred, "y_pred")
    same_length(truth, pred, ("y_true", "y_pred"))
    qs = np.asarray(list(quantiles), dtype=np.float64)
    if qs.ndim != 1 or np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
        raise LupusValidationError("quantiles", "must be a list of numbers in [0, 1]", value=list(quantiles))
    groups = groups_frame(group_by, len(truth))
    rows: list[PointRow] = []
    for labels, where in iter_groups(groups, list(groups.columns)):
        rows.extend(_regression_rows(truth[where], pred[where], qs, labels))
    return points_frame(rows, ts=ts)


def _regression_rows(truth: np.ndarray, pred: np.ndarray, qs: np.ndarray, base: dict[str, str]) -> list[PointRow]:
    error = pred - truth
    nonzero = truth != 0
    n = float(len(truth))
    squared = error**2
    rmse = float(np.sqrt(np.mean(squared)))
    r2, r2_stderr = _r2(truth, error)
    rows: list[PointRow] = [
        point("regression.rows", dict(base), n, n=n),
        _mean_point("regression.mae", np.abs(error), base),
        # Delta method: d√m/dm = 1/(2√m), m the mean squared error.
        point(
            "regression.rmse",
            dict(base),
            rmse,
            n=n,
            stderr=float(mean_stderr(_sd(squared), n)) / (2 * rmse) if rmse > 0 else np.nan,
        ),
        _mean_point("regression.bias", error, base),
        point("regression.r2", dict(base), r2, n=n, stderr=r2_stderr),
        point("regression.mape_excluded", dict(base), n - nonzero.sum(), n=n),
    ]
    if nonzero.any():
        rows.append(_mean_point("regression.mape", np.abs(error[nonzero]) / np.abs(truth[nonzero]), base))
    rows.extend(
        point("regression.residual_quantile", with_labels(base, q=_q_label(q)), v, n=n)
        for q, v in zip(qs, np.quantile(error, qs), strict=True)
    )
    return rows


def _mean_point(metric: str, values: np.ndarray, base: dict[str, str]) -> PointRow:
    n = float(len(values))
    return point(metric, dict(base), np.mean(values), n=n, stderr=float(mean_stderr(_sd(values), n)))


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else np.nan


def _r2(truth: np.ndarray, error: np.ndarray) -> tuple[float, float]:
    """R² and its delta-method standard error.

    R² = 1 − A/B with A = mean(e²), B = mean((y − ȳ)²). Its influence per row is
    −(e² − A)/B + A/B² · ((y − ȳ)² − B) (ȳ's own influence vanishes to first order), and the
    standard error is the sample sd of the influence values over √n. A constant target has none.
    """
    residual_ss = float(np.sum(error**2))
    centred = (truth - truth.mean()) ** 2
    total_ss = float(np.sum(centred))
    if total_ss == 0.0:
        return (1.0 if residual_ss == 0.0 else 0.0), np.nan
    n = len(truth)
    a, b = residual_ss / n, total_ss / n
    influence = -(error**2 - a) / b + a / b**2 * (centred - b)
    return 1.0 - residual_ss / total_ss, float(mean_stderr(_sd(influence), n))


def _q_label(q: float) -> str:
    # Shortest text that reads back as the same float: 0.5 -> "0.5", 0.95 -> "0.95".
    return repr(float(q))
