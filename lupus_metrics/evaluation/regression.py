"""Regression metrics as metric points: MAE, RMSE, MAPE, R², mean bias, residual quantiles.

Definitions follow scikit-learn where it has the metric (agreeing to 1e-12); formulas
and the zero-target rule of MAPE are in ``docs/evaluation.md``. The rows are reduced where they
live (:mod:`lupus_metrics.sql.tables`) to moments per group and the counts of the
distinct residuals; the points follow from those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.inputs import as_float_vector, groups_frame, same_length
from lupus_metrics.evaluation.points import PointRow, point, points_frame, with_labels
from lupus_metrics.sql.ecdf import cumulative_sql, quantile_picks, quantile_value
from lupus_metrics.sql.grouping import GroupedQuery, GroupKeys
from lupus_metrics.sql.tables import open_tables
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
    groups = groups_frame(group_by, len(truth))
    frame = pd.concat([pd.DataFrame({"__y_true": truth, "__y_pred": pred}), groups], axis=1)
    return regression_points(
        frame, y_true="__y_true", y_pred="__y_pred", quantiles=quantiles, group_by=list(groups.columns), ts=ts
    )


def regression_points(
    data: Any,
    *,
    y_true: str,
    y_pred: str,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    group_by: Sequence[str] = (),
    ts: object,
) -> pd.DataFrame:
    """:func:`evaluate_regression` over two columns of a table, computed where the table is.

    ``data`` is a pandas DataFrame, a pyarrow Table, a DuckDB relation (e.g. Parquet files read
    lazily) or a PySpark DataFrame; ``group_by`` names group columns. Everything is computed in
    one pass of aggregates plus one for the residual quantiles (exact, from the counts of the
    distinct residuals: :mod:`lupus_metrics.sql.ecdf`).

    Example:
        >>> data = pd.DataFrame({"sold": [1.0, 2.0, 4.0], "forecast": [1.5, 2.0, 3.0]})
        >>> pts = regression_points(data, y_true="sold", y_pred="forecast", quantiles=[0.5], ts="2026-01-01")
        >>> pts.set_index("metric").loc[["regression.mae", "regression.residual_quantile"], "value"].tolist()
        [0.5, 0.0]
    """
    qs = np.asarray(list(quantiles), dtype=np.float64)
    if qs.ndim != 1 or np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
        raise LupusValidationError("quantiles", "must be a list of numbers in [0, 1]", value=list(quantiles))
    group_columns = list(group_by)
    with open_tables(data=data) as tables:
        types = tables.require("data", "data", [y_true, y_pred, *group_columns])
        for column, name in ((y_true, "y_true"), (y_pred, "y_pred")):
            if types[column].kind != "numeric":
                raise LupusValidationError(name, "must be numeric", value=types[column].kind)
        ident = tables.dialect.ident
        query = GroupedQuery(tables.dialect, group_columns)
        bad = " OR ".join(tables.dialect.not_finite(f"CAST({ident(c)} AS DOUBLE)") for c in (y_true, y_pred))
        source = query.source(
            f"CAST({ident(y_pred)} AS DOUBLE) - CAST({ident(y_true)} AS DOUBLE) AS e",
            f"CAST({ident(y_true)} AS DOUBLE) AS y", f"CASE WHEN {bad} THEN 1 ELSE 0 END AS bad",
        )  # fmt: skip
        moments = tables.query(query.aggregate(_MOMENTS, source))
        if moments.empty or moments["n"].max() == 0:
            raise LupusValidationError("y_true", "must not be empty")
        if moments["bad"].sum() > 0:
            raise LupusValidationError(
                "y_true", "y_true and y_pred must be finite numbers (no missing, NaN or infinity)"
            )
        groups = GroupKeys(moments, group_columns)
        rows: dict[tuple, list[PointRow]] = {key: [] for key in groups.keys}
        for row in moments.itertuples(index=False):
            key = groups.key(row)
            rows[key].extend(_moment_rows(row, groups.labels(key)))
        if len(qs):
            residuals = query.source(f"CAST({ident(y_pred)} AS DOUBLE) - CAST({ident(y_true)} AS DOUBLE) AS v")
            picked = tables.query(
                f"SELECT {query.key_list}, max(n) AS n, {', '.join(quantile_picks(qs))} "
                f"FROM ({cumulative_sql(query, residuals)}) AS cumulated GROUP BY {query.key_list}"
            )
            for row in picked.itertuples(index=False):
                key = groups.key(row)
                values = [
                    quantile_value(getattr(row, f"lo{i}"), getattr(row, f"hi{i}"), row.n, q) for i, q in enumerate(qs)
                ]
                rows[key].extend(
                    point("regression.residual_quantile", with_labels(groups.labels(key), q=_q_label(q)), v, n=row.n)
                    for q, v in zip(qs, values, strict=True)
                )
    return points_frame([r for key in groups.keys for r in rows[key]], ts=ts)


# One pass of moments per group. R²'s delta-method variance is written with the engines' stable
# one-pass (co)variances of e², y² and y; its cancellation only matters when |mean(y)| exceeds
# sd(y) by many orders of magnitude.
_MOMENTS = ", ".join([
    "count(*) AS n", "sum(bad) AS bad",
    "avg(abs(e)) AS mae", "stddev_samp(abs(e)) AS mae_sd", "avg(e) AS bias", "stddev_samp(e) AS bias_sd",
    "avg(e * e) AS mse", "stddev_samp(e * e) AS mse_sd", "sum(e * e) AS sse", "var_pop(y) AS var_y", "avg(y) AS mean_y",
    "var_samp(y) AS vs_y", "var_samp(y * y) AS vs_yy", "covar_samp(y * y, y) AS cs_yy_y",
    "covar_samp(e * e, y * y) AS cs_ee_yy", "covar_samp(e * e, y) AS cs_ee_y",
    "sum(CASE WHEN y <> 0 THEN 1 ELSE 0 END) AS n_nonzero",
    "avg(CASE WHEN y <> 0 THEN abs(e) / abs(y) END) AS mape", "stddev_samp(CASE WHEN y <> 0 THEN abs(e) / abs(y) END) AS mape_sd",
])  # fmt: skip


def _moment_rows(row: Any, base: dict[str, str]) -> list[PointRow]:
    n = float(row.n)
    rmse = float(np.sqrt(row.mse))
    # Delta method: d√m/dm = 1/(2√m), m the mean squared error.
    rmse_stderr = float(mean_stderr(_nan(row.mse_sd), n)) / (2 * rmse) if rmse > 0 else np.nan
    r2, r2_stderr = _r2(row)
    rows: list[PointRow] = [
        point("regression.rows", dict(base), n, n=n),
        point("regression.mae", dict(base), row.mae, n=n, stderr=float(mean_stderr(_nan(row.mae_sd), n))),
        point("regression.rmse", dict(base), rmse, n=n, stderr=rmse_stderr),
        point("regression.bias", dict(base), row.bias, n=n, stderr=float(mean_stderr(_nan(row.bias_sd), n))),
        point("regression.r2", dict(base), r2, n=n, stderr=r2_stderr),
        point("regression.mape_excluded", dict(base), n - row.n_nonzero, n=n),
    ]
    if row.n_nonzero > 0:
        m = float(row.n_nonzero)
        rows.append(
            point("regression.mape", dict(base), row.mape, n=m, stderr=float(mean_stderr(_nan(row.mape_sd), m)))
        )
    return rows


def _r2(row: Any) -> tuple[float, float]:
    """R² and its delta-method standard error, from the group's moments.

    R² = 1 − A/B with A = mean(e²), B = mean((y − ȳ)²). Its influence per row is
    ψ = −(e² − A)/B + A/B² · ((y − ȳ)² − B) (ȳ's own influence vanishes to first order), and the
    standard error is sd(ψ)/√n, where Var(ψ) = Var(e²)/B² + A²/B⁴ · Var((y − ȳ)²) − 2A/B³ ·
    Cov(e², (y − ȳ)²), Var((y − ȳ)²) = Var(y²) − 4ȳ Cov(y², y) + 4ȳ² Var(y) and Cov(e², (y − ȳ)²)
    = Cov(e², y²) − 2ȳ Cov(e², y) (sample (co)variances). A constant target has none.
    """
    n = float(row.n)
    total_ss = float(row.var_y) * n
    if total_ss == 0.0:
        return (1.0 if row.sse == 0.0 else 0.0), np.nan
    a, b, mean_y = float(row.mse), float(row.var_y), float(row.mean_y)
    var_centred = _nan(row.vs_yy) - 4 * mean_y * _nan(row.cs_yy_y) + 4 * mean_y**2 * _nan(row.vs_y)
    cov_centred = _nan(row.cs_ee_yy) - 2 * mean_y * _nan(row.cs_ee_y)
    variance = _nan(row.mse_sd) ** 2 / b**2 + a**2 / b**4 * var_centred - 2 * a / b**3 * cov_centred
    stderr = float(np.sqrt(max(variance, 0.0) / n)) if n >= 2 else np.nan
    return 1.0 - float(row.sse) / total_ss, stderr


def _nan(value: object) -> float:
    return np.nan if value is None or value is pd.NA else float(value)


def _q_label(q: float) -> str:
    # Shortest text that reads back as the same float: 0.5 -> "0.5", 0.95 -> "0.95".
    return repr(float(q))
