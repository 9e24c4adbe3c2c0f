"""prediction_churn: per-entity change of labels and scores between two sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lupus_metrics.churn import prediction_churn
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import normalize_points

TS = "2026-01-01"


def value(points: pd.DataFrame, metric: str, **labels: str) -> float:
    hit = points[(points["metric"] == metric) & (points["labels"] == labels)]
    assert len(hit) == 1, (metric, labels)
    return float(hit["value"].iloc[0])


def random_sides(seed: int, n: int, labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    prev = pd.DataFrame({"user": rng.choice(3 * n, n, replace=False), "prediction": rng.choice(labels, n)})
    cur = pd.DataFrame({"user": rng.choice(3 * n, n, replace=False), "prediction": rng.choice(labels, n)})
    return prev, cur


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 80))
def test_label_churn_matches_an_independent_join(seed: int, n: int) -> None:
    prev, cur = random_sides(seed, n, ["a", "b", "c"])
    points = prediction_churn(prev, cur, key="user", ts=TS)
    joined = prev.merge(cur, on="user", suffixes=("_p", "_c"))
    assert value(points, "churn.entities_common") == len(joined)
    assert value(points, "churn.entities_only_previous") == len(set(prev["user"]) - set(cur["user"]))
    assert value(points, "churn.entities_only_current") == len(set(cur["user"]) - set(prev["user"]))
    if len(joined) == 0:
        assert "churn.rate" not in set(points["metric"])
        return
    assert value(points, "churn.rate") == pytest.approx(
        (joined["prediction_p"] != joined["prediction_c"]).mean(), abs=1e-12
    )
    crosstab = pd.crosstab(joined["prediction_p"], joined["prediction_c"])
    for a in crosstab.index:
        row = crosstab.loc[a]
        assert value(points, "churn.rate", previous=a) == pytest.approx(1 - row.get(a, 0) / row.sum(), abs=1e-12)
        for b in crosstab.columns:
            assert value(points, "churn.transitions", **{"from": a, "to": b}) == row[b]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 80))
def test_score_churn_agrees_with_scipy_spearman(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    users = np.arange(n)
    prev = pd.DataFrame({"user": users, "prediction": np.round(rng.random(n), 1)})
    cur = pd.DataFrame({"user": users[::-1], "prediction": np.round(rng.random(n), 1)})
    points = prediction_churn(prev, cur, key="user", ts=TS)
    joined = prev.merge(cur, on="user")
    assert value(points, "churn.mean_abs_change") == pytest.approx(
        np.mean(np.abs(joined["prediction_y"] - joined["prediction_x"])), abs=1e-12
    )
    if joined["prediction_x"].nunique() > 1 and joined["prediction_y"].nunique() > 1:
        expected = stats.spearmanr(joined["prediction_x"], joined["prediction_y"]).statistic
        assert value(points, "churn.spearman") == pytest.approx(expected, abs=1e-12)


def test_constant_scores_give_no_spearman_point() -> None:
    prev = pd.DataFrame({"user": [1, 2, 3], "prediction": [0.5, 0.5, 0.5]})
    cur = pd.DataFrame({"user": [1, 2, 3], "prediction": [0.1, 0.2, 0.3]})
    points = prediction_churn(prev, cur, key="user", ts=TS)
    assert "churn.spearman" not in set(points["metric"])
    assert not points["value"].isna().any()


def test_integer_predictions_are_labels_unless_told_otherwise() -> None:
    prev = pd.DataFrame({"user": [1, 2], "prediction": [0, 1]})
    cur = pd.DataFrame({"user": [1, 2], "prediction": [0, 2]})
    assert value(prediction_churn(prev, cur, key="user", ts=TS), "churn.rate") == 0.5
    assert value(prediction_churn(prev, cur, key="user", kind="score", ts=TS), "churn.mean_abs_change") == 0.5


def test_composite_keys_and_groups() -> None:
    prev = pd.DataFrame(
        {"user": [1, 1, 2], "slot": ["a", "b", "a"], "region": ["JP", "JP", "US"], "prediction": ["x", "y", "x"]}
    )
    cur = pd.DataFrame(
        {"user": [1, 1, 2], "slot": ["a", "b", "a"], "region": ["JP", "JP", "US"], "prediction": ["x", "x", "x"]}
    )
    points = prediction_churn(prev, cur, key=["user", "slot"], group_by="region", ts=TS)
    assert value(points, "churn.rate") == pytest.approx(1 / 3)
    assert value(points, "churn.rate", region="JP") == 0.5
    assert value(points, "churn.rate", region="US") == 0.0


def test_points_are_storable() -> None:
    prev, cur = random_sides(1, 30, ["a", "b"])
    points = prediction_churn(prev, cur, key="user", ts=TS)
    assert len(normalize_points(points, "ds")) == len(points)


def test_duplicate_keys_are_rejected() -> None:
    prev = pd.DataFrame({"user": [1, 1], "prediction": ["a", "b"]})
    with pytest.raises(LupusValidationError) as err:
        prediction_churn(prev, prev.iloc[:1], key="user", ts=TS)
    assert err.value.where == "previous"


def test_missing_predictions_are_rejected() -> None:
    cur = pd.DataFrame({"user": [1], "prediction": [None]})
    with pytest.raises(LupusValidationError, match=r"current\.prediction"):
        prediction_churn(pd.DataFrame({"user": [1], "prediction": ["a"]}), cur, key="user", ts=TS)


def test_missing_key_column_is_named() -> None:
    with pytest.raises(LupusValidationError, match="user_id"):
        prediction_churn(pd.DataFrame({"prediction": ["a"]}), pd.DataFrame({"prediction": ["a"]}), key="user_id", ts=TS)


def point_row(points: pd.DataFrame, metric: str, **labels: str) -> pd.Series:
    hit = points[(points["metric"] == metric) & (points["labels"] == labels)]
    assert len(hit) == 1, (metric, labels)
    return hit.iloc[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_churn_rates_are_rates_over_the_common_entities_with_the_wald_stderr(seed: int) -> None:
    prev, cur = random_sides(seed, 120, ["a", "b", "c"])
    points = prediction_churn(prev, cur, key="user", ts=TS)
    joined = prev.merge(cur, on="user", suffixes=("_p", "_c"))
    changed = (joined["prediction_p"] != joined["prediction_c"]).to_numpy()
    overall = point_row(points, "churn.rate")
    assert overall["n"] == len(joined)
    assert overall["stderr"] == pytest.approx(np.sqrt(changed.mean() * (1 - changed.mean()) / len(joined)), rel=1e-12)
    for a, group in joined.groupby("prediction_p"):
        flips = (group["prediction_c"] != a).to_numpy()
        got = point_row(points, "churn.rate", previous=a)
        assert got["n"] == len(group)
        assert got["stderr"] == pytest.approx(
            np.sqrt(flips.mean() * (1 - flips.mean()) / len(group)), rel=1e-12, abs=1e-15
        )
    entities = len(set(prev["user"]) | set(cur["user"]))
    assert (points[points["metric"].str.startswith("churn.entities")]["n"] == entities).all()
    assert points[points["metric"] == "churn.transitions"]["stderr"].isna().all()


def test_score_churn_has_the_sd_over_root_n_and_the_fieller_stderr_for_spearman() -> None:
    rng = np.random.default_rng(4)
    prev = pd.DataFrame({"user": np.arange(200), "prediction": rng.random(200)})
    cur = pd.DataFrame({"user": np.arange(200), "prediction": prev["prediction"] + rng.normal(0, 0.2, 200)})
    points = prediction_churn(prev, cur, key="user", ts=TS)
    change = np.abs(cur["prediction"] - prev["prediction"])
    mean_abs = point_row(points, "churn.mean_abs_change")
    assert (mean_abs["n"], mean_abs["stderr"]) == (200, pytest.approx(np.std(change, ddof=1) / np.sqrt(200), rel=1e-12))
    rho = stats.spearmanr(prev["prediction"], cur["prediction"]).statistic
    spearman = point_row(points, "churn.spearman")
    assert (spearman["n"], spearman["stderr"]) == (200, pytest.approx((1 - rho**2) * np.sqrt(1.06 / 197), rel=1e-12))


def test_spearman_stderr_matches_its_spread_over_repeated_samples() -> None:
    rng = np.random.default_rng(5)
    draws = []
    for _ in range(400):
        before = rng.normal(size=150)
        after = 0.6 * before + 0.8 * rng.normal(size=150)
        points = prediction_churn(pd.DataFrame({"user": range(150), "prediction": before}),
                                  pd.DataFrame({"user": range(150), "prediction": after}), key="user", ts=TS)  # fmt: skip
        got = point_row(points, "churn.spearman")
        draws.append((got["value"], got["stderr"]))
    assert np.mean([e for _, e in draws]) == pytest.approx(np.std([v for v, _ in draws], ddof=1), rel=0.15)
