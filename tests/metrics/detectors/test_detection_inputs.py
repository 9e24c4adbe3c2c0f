"""detect_many with the optional point columns (stderr, n, excluded), rule ranges and calibrated params."""

import numpy as np
import pandas as pd
import pytest

from lupus_metrics.detectors import detect_many
from lupus_metrics.detectors.noise import valid_range
from lupus_metrics.detectors.registry import DetectorRule
from lupus_metrics.errors import LupusValidationError

DAYS = pd.date_range("2025-01-06", periods=140, tz="UTC")


def frame(metric: str, values: np.ndarray, **columns: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"metric": metric, "labels": [{}] * len(values), "ts": DAYS[: len(values)], "value": values,
                         **columns})  # fmt: skip


def weekly_rate(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.2 + 0.02 * (DAYS.dayofweek >= 5) + rng.normal(0, 0.002, len(DAYS))


def test_a_rule_without_a_detector_runs_auto():
    result = detect_many(frame("clicks.rate", weekly_rate()), [{"metrics": ["*"]}], datasource="ds", workers=1)
    assert set(result.anomalies["detector"]) == {"auto"}
    assert result.errors.empty


def test_auto_records_carry_the_calibrated_thresholds_and_budget():
    result = detect_many(frame("clicks.rate", weekly_rate()), [{"metrics": ["*"]}], datasource="ds", workers=1)
    params = result.anomalies["params"].iloc[-1]
    assert params["budget"] == "0.5/year"
    assert params["threshold"] > 2 and params["shift_threshold"] > 0 and params["sum_threshold"] > 2
    assert params["period"] == 7 and params["step"] == "1d"
    last = result.anomalies.iloc[-1]
    assert last["upper"] - last["expected"] == pytest.approx(params["threshold"] * (last["upper"] - last["expected"])
                                                             / params["threshold"])  # fmt: skip


def test_a_large_stderr_widens_the_band():
    values = weekly_rate()
    narrow = detect_many(frame("clicks.rate", values), [{"metrics": ["*"]}], datasource="ds", workers=1)
    wide = detect_many(frame("clicks.rate", values, stderr=np.full(len(values), 0.02)), [{"metrics": ["*"]}],
                       datasource="ds", workers=1)  # fmt: skip
    half = lambda r: (r.anomalies["upper"] - r.anomalies["lower"]).iloc[-1]  # noqa: E731
    assert half(wide) > 5 * half(narrow)


def test_an_excluded_day_leaves_the_baseline_and_a_stderr_column_may_hold_nan():
    values = weekly_rate()
    values[100:] += 0.05  # a lasting shift from day 100
    excluded = np.zeros(len(values), bool)
    stderr = np.full(len(values), np.nan)
    out = detect_many(frame("clicks.rate", values, excluded=excluded, stderr=stderr), [{"metrics": ["*"]}],
                      datasource="ds", workers=1).anomalies  # fmt: skip
    assert out.loc[out["ts"] == DAYS[100], "is_anomaly"].item()


def test_bands_are_clipped_to_the_metric_range():
    values = np.abs(np.random.default_rng(1).normal(0.0, 0.01, len(DAYS)))  # a rate near zero
    out = detect_many(frame("age.null_rate", values), [{"metrics": ["*"]}], datasource="ds", workers=1).anomalies
    judged = out.dropna(subset=["lower"])
    assert len(judged) > 50
    assert (judged["lower"] >= 0).all() and (judged["lower"] == 0).any() and (judged["upper"] <= 1).all()


def test_a_rule_range_overrides_the_inferred_one():
    values = 5 + np.random.default_rng(1).normal(0.0, 2.0, len(DAYS))
    rules = [{"metrics": ["*"], "range": [4.0, 6.0]}]
    out = detect_many(frame("basket.mean", values), rules, datasource="ds", workers=1).anomalies
    assert out["lower"].min() == 4.0 and out["upper"].max() == 6.0


def test_a_range_must_be_ordered():
    with pytest.raises(Exception, match="low < high"):
        DetectorRule.model_validate({"metrics": ["*"], "range": [1, 0]})


def test_a_non_numeric_stderr_is_rejected_by_name():
    values = weekly_rate()
    with pytest.raises(LupusValidationError, match=r"points\.stderr"):
        detect_many(frame("clicks.rate", values, stderr=np.array(["x"] * len(values))), [{"metrics": ["*"]}],
                    datasource="ds", workers=1)  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "bounds"),
    [("churn.rate", (0, 1)), ("ranking.ndcg", (0, 1)), ("classification.accuracy", (0, 1)), ("drift.js", (0, 1)),
     ("price.null_rate", (0, 1)), ("rows.count", (0, np.inf)), ("item_id.distinct_count", (0, np.inf)),
     ("classification.log_loss", (0, np.inf)), ("ranking.entropy", (0, np.inf)), ("age.mean", (-np.inf, np.inf))],
)  # fmt: skip
def test_valid_ranges_follow_the_metric_family(metric, bounds):
    assert valid_range(metric) == bounds


def test_a_rate_with_n_but_no_stderr_gets_the_binomial_standard_error():
    rng = np.random.default_rng(2)
    users = np.where(DAYS.dayofweek >= 5, 100, 10_000).astype(float)
    rate = rng.binomial(users.astype(int), 0.3) / users
    with_n = detect_many(frame("clicks.rate", rate, n=users), [{"metrics": ["*"]}], datasource="ds", workers=1)
    without = detect_many(frame("clicks.rate", rate), [{"metrics": ["*"]}], datasource="ds", workers=1)

    def width(result, weekend):
        judged = result.anomalies.dropna(subset=["upper"])
        days = judged[(judged["ts"].dt.dayofweek >= 5) == weekend]
        return (days["upper"] - days["lower"]).median()

    # Knowing n, the few-user weekends get wide bands and the weekdays narrow ones.
    assert width(with_n, weekend=True) >= 2 * 3.0 * np.sqrt(0.3 * 0.7 / 100)
    assert width(with_n, weekend=True) > 5 * width(with_n, weekend=False)
    assert width(with_n, weekend=False) < width(without, weekend=False)
    assert not with_n.anomalies["is_anomaly"].any()
