"""evaluate_regression: agrees with scikit-learn and numpy; zero targets and constant series are defined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation import evaluate_regression
from lupus_metrics.frames import normalize_points

TS = "2026-01-01"


def value(points: pd.DataFrame, metric: str, **labels: str) -> float:
    hit = points[(points["metric"] == metric) & (points["labels"] == labels)]
    assert len(hit) == 1, (metric, labels)
    return float(hit["value"].iloc[0])


@settings(max_examples=80, deadline=None)
@given(n=st.integers(2, 100), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e4]))
def test_errors_agree_with_sklearn(n: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.normal(0, scale, n)
    y_pred = y_true + rng.normal(0, scale / 3, n)
    points = evaluate_regression(y_true, y_pred, ts=TS)
    assert value(points, "regression.mae") == pytest.approx(skm.mean_absolute_error(y_true, y_pred), rel=1e-12)
    assert value(points, "regression.rmse") == pytest.approx(skm.root_mean_squared_error(y_true, y_pred), rel=1e-12)
    assert value(points, "regression.mape") == pytest.approx(
        skm.mean_absolute_percentage_error(y_true, y_pred), rel=1e-12
    )
    assert value(points, "regression.r2") == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-12, abs=1e-12)
    assert value(points, "regression.bias") == pytest.approx(np.mean(y_pred - y_true), rel=1e-12, abs=1e-12 * scale)
    assert value(points, "regression.residual_quantile", q="0.95") == pytest.approx(
        np.quantile(y_pred - y_true, 0.95), rel=1e-12
    )


def test_mape_leaves_out_zero_targets_and_counts_them() -> None:
    points = evaluate_regression([0.0, 2.0, 4.0], [1.0, 3.0, 2.0], ts=TS)
    assert value(points, "regression.mape") == pytest.approx(skm.mean_absolute_percentage_error([2.0, 4.0], [3.0, 2.0]))
    assert value(points, "regression.mape_excluded") == 1


def test_all_zero_targets_give_no_mape_point() -> None:
    points = evaluate_regression([0.0, 0.0], [1.0, 0.0], ts=TS)
    assert "regression.mape" not in set(points["metric"])
    assert not points["value"].isna().any()


@pytest.mark.parametrize(("y_pred", "expected"), [([3.0, 3.0], 1.0), ([3.0, 4.0], 0.0)])
def test_r2_of_a_constant_target_follows_sklearn_force_finite(y_pred: list[float], expected: float) -> None:
    points = evaluate_regression([3.0, 3.0], y_pred, ts=TS)
    assert value(points, "regression.r2") == expected == skm.r2_score([3.0, 3.0], y_pred)


def test_r2_of_a_single_row_is_defined_by_the_constant_target_rule() -> None:
    # scikit-learn returns NaN here (with a warning); Lupus applies the constant-target rule.
    assert value(evaluate_regression([2.0], [2.0], ts=TS), "regression.r2") == 1.0
    assert value(evaluate_regression([2.0], [2.5], ts=TS), "regression.r2") == 0.0


def test_bias_is_positive_for_over_prediction() -> None:
    assert value(evaluate_regression([1.0, 2.0], [2.0, 3.0], ts=TS), "regression.bias") == 1.0


def test_group_by_repeats_the_points_per_group() -> None:
    frame = pd.DataFrame({"region": ["JP", "US", "JP"]})
    points = evaluate_regression([1.0, 2.0, 3.0], [1.0, 4.0, 5.0], group_by=frame, ts=TS)
    assert value(points, "regression.mae", region="JP") == 1.0
    assert value(points, "regression.mae", region="US") == 2.0


def test_points_are_storable() -> None:
    assert len(normalize_points(evaluate_regression([1.0, 2.0], [1.5, 2.5], ts=TS), "ds")) > 0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "where"),
    [([], [], "y_true"), ([1.0, np.nan], [1.0, 2.0], "y_true"), ([1.0], [np.inf], "y_pred"), (["a"], [1.0], "y_true")],
)
def test_bad_input_names_the_argument(y_true: list, y_pred: list, where: str) -> None:
    with pytest.raises(LupusValidationError) as err:
        evaluate_regression(y_true, y_pred, ts=TS)
    assert err.value.where == where


def test_quantiles_outside_zero_one_are_rejected() -> None:
    with pytest.raises(LupusValidationError, match="quantiles"):
        evaluate_regression([1.0], [1.0], quantiles=[1.5], ts=TS)


def test_group_by_several_columns_labels_each_combination() -> None:
    groups = pd.DataFrame({"region": ["JP", "JP", "US"], "device": ["ios", "web", "ios"]})
    points = evaluate_regression([1.0, 2.0, 3.0], [2.0, 2.0, 3.0], group_by=groups, ts=TS)
    assert value(points, "regression.mae", region="JP", device="ios") == 1.0
    assert value(points, "regression.mae", region="JP", device="web") == 0.0
    assert value(points, "regression.mae", region="US", device="ios") == 0.0
