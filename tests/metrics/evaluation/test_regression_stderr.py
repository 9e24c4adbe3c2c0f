"""n and stderr of the regression points, against independent computations: numpy's sample sd for
means, the jackknife for the smooth functions (RMSE, R²), and a simulation for calibration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from lupus_metrics.evaluation import evaluate_regression

TS = "2026-01-01"


def row(points: pd.DataFrame, metric: str, **labels: str) -> pd.Series:
    hit = points[(points["metric"] == metric) & (points["labels"] == labels)]
    assert len(hit) == 1, (metric, labels)
    return hit.iloc[0]


def data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.gamma(3.0, 10.0, n)
    return y_true, y_true + rng.standard_t(5, n) * 4 + 1.0


def jackknife_stderr(statistic, *arrays: np.ndarray) -> float:
    """√((n−1)/n · Σ (θ₋ᵢ − θ̄)²): the leave-one-out estimate of a statistic's standard error."""
    n = len(arrays[0])
    keep = ~np.eye(n, dtype=bool)
    leave_one_out = np.array([statistic(*(a[keep[i]] for a in arrays)) for i in range(n)])
    return math.sqrt((n - 1) / n * np.sum((leave_one_out - leave_one_out.mean()) ** 2))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_means_of_row_errors_have_the_sd_over_root_n(seed: int) -> None:
    y_true, y_pred = data(seed, 300)
    y_true[:7] = 0.0  # left out of MAPE
    points = evaluate_regression(y_true, y_pred, ts=TS)
    error = y_pred - y_true
    nonzero = y_true != 0
    for metric, values in (
        ("regression.mae", np.abs(error)),
        ("regression.bias", error),
        ("regression.mape", np.abs(error[nonzero]) / y_true[nonzero]),
    ):
        got = row(points, metric)
        assert got["n"] == len(values)
        assert got["stderr"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(len(values)), rel=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_rmse_and_r2_stderrs_agree_with_the_jackknife(seed: int) -> None:
    y_true, y_pred = data(seed, 600)
    points = evaluate_regression(y_true, y_pred, ts=TS)
    rmse = row(points, "regression.rmse")
    r2 = row(points, "regression.r2")
    assert rmse["value"] == pytest.approx(math.sqrt(skm.mean_squared_error(y_true, y_pred)), rel=1e-12)
    assert (rmse["n"], r2["n"]) == (600, 600)
    # Delta method and jackknife agree to first order; at n = 600 within a few percent.
    assert rmse["stderr"] == pytest.approx(
        jackknife_stderr(lambda t, p: math.sqrt(np.mean((p - t) ** 2)), y_true, y_pred), rel=0.05
    )
    assert r2["stderr"] == pytest.approx(jackknife_stderr(skm.r2_score, y_true, y_pred), rel=0.05)


def test_counts_and_quantiles_have_n_and_no_stderr() -> None:
    points = evaluate_regression([1.0, 2.0, 0.0, 4.0], [1.5, 2.0, 1.0, 3.0], ts=TS)
    for metric in ("regression.rows", "regression.mape_excluded", "regression.residual_quantile"):
        got = points[points["metric"] == metric]
        assert (got["n"] == 4).all() and got["stderr"].isna().all(), metric


def test_a_constant_target_has_no_r2_stderr_and_exact_predictions_no_rmse_stderr() -> None:
    points = evaluate_regression([2.0, 2.0, 2.0], [2.0, 2.0, 2.0], ts=TS)
    assert math.isnan(row(points, "regression.r2")["stderr"])
    assert math.isnan(row(points, "regression.rmse")["stderr"])


def test_stderrs_match_the_spread_of_the_metrics_over_repeated_samples() -> None:
    """Calibration: over 400 simulated days the sd of each metric is close to its mean stderr."""
    draws: dict[str, list[tuple[float, float]]] = {}
    for seed in range(400):
        y_true, y_pred = data(1000 + seed, 400)
        points = evaluate_regression(y_true, y_pred, ts=TS)
        for metric in ("regression.mae", "regression.rmse", "regression.r2", "regression.mape"):
            got = row(points, metric)
            draws.setdefault(metric, []).append((got["value"], got["stderr"]))
    for metric, values in draws.items():
        spread = np.std([v for v, _ in values], ddof=1)
        typical = np.mean([e for _, e in values])
        assert typical == pytest.approx(spread, rel=0.15), metric
