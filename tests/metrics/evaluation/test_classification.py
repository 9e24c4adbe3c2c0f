"""evaluate_classification: agrees with scikit-learn; degenerate inputs are defined or rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation import evaluate_classification
from lupus_metrics.frames import normalize_points

TS = "2026-01-01"


def value(points: pd.DataFrame, metric: str, **labels: str) -> float:
    hit = points[(points["metric"] == metric) & (points["labels"] == labels)]
    assert len(hit) == 1, (metric, labels)
    return float(hit["value"].iloc[0])


labels_strategy = st.sampled_from([["a", "b"], ["a", "b", "c"], [0, 1, 2, 3], ["x"]])


@settings(max_examples=60, deadline=None)
@given(classes=labels_strategy, n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_counts_and_scores_agree_with_sklearn(classes: list, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.choice(classes, n)
    y_pred = rng.choice(classes, n)
    points = evaluate_classification(y_true, y_pred, ts=TS)
    seen = np.unique(np.concatenate([y_true, y_pred]))
    assert value(points, "classification.accuracy") == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        for average in ("macro", "micro", "weighted"):
            expected = fn(y_true, y_pred, average=average, zero_division=0)
            assert value(points, f"classification.{name}", average=average) == pytest.approx(expected, abs=1e-12)
        per_class = fn(y_true, y_pred, average=None, labels=seen, zero_division=0)
        for c, expected in zip(seen, per_class, strict=True):
            assert value(points, f"classification.{name}", **{"class": str(c)}) == pytest.approx(expected, abs=1e-12)
    confusion = skm.confusion_matrix(y_true, y_pred, labels=seen)
    for i, a in enumerate(seen):
        for j, b in enumerate(seen):
            assert value(points, "classification.confusion", true=str(a), pred=str(b)) == confusion[i, j]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 80), seed=st.integers(0, 2**32 - 1))
def test_binary_log_loss_and_roc_auc_agree_with_sklearn(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.choice(["neg", "pos"], n)
    y_true[:2] = ["neg", "pos"]
    score = np.round(rng.random(n), 1)  # rounding makes ties, which both sides must treat alike
    y_pred = np.where(score > 0.5, "pos", "neg")
    points = evaluate_classification(y_true, y_pred, score, ts=TS)
    assert value(points, "classification.log_loss") == pytest.approx(skm.log_loss(y_true, score), abs=1e-12)
    assert value(points, "classification.roc_auc") == pytest.approx(
        skm.roc_auc_score(y_true == "pos", score), abs=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 80), seed=st.integers(0, 2**32 - 1))
def test_multiclass_one_vs_rest_roc_auc_agrees_with_sklearn(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = np.array([0, 1, 2])
    y_true = np.concatenate([classes, rng.choice(classes, n - 3)])
    proba = rng.dirichlet(np.ones(3), n)
    y_pred = proba.argmax(axis=1)
    points = evaluate_classification(y_true, y_pred, proba, classes=[0, 1, 2], ts=TS)
    expected = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    assert value(points, "classification.roc_auc", average="macro") == pytest.approx(expected, abs=1e-12)
    assert value(points, "classification.log_loss") == pytest.approx(
        skm.log_loss(y_true, proba, labels=classes), abs=1e-12
    )


def test_scores_given_as_a_frame_follow_its_column_names() -> None:
    y_true = ["b", "a", "b", "a"]
    scores = pd.DataFrame({"b": [0.9, 0.2, 0.6, 0.3], "a": [0.1, 0.8, 0.4, 0.7]})
    points = evaluate_classification(y_true, ["b", "a", "b", "a"], scores, ts=TS)
    assert value(points, "classification.log_loss") == pytest.approx(
        skm.log_loss(y_true, scores[["a", "b"]].to_numpy())
    )


def test_label_distributions_are_shares_of_rows() -> None:
    points = evaluate_classification(["a", "a", "b", "b"], ["a", "b", "b", "b"], ts=TS)
    assert value(points, "classification.true_share", **{"class": "a"}) == 0.5
    assert value(points, "classification.pred_share", **{"class": "b"}) == 0.75


def test_single_class_gives_defined_values_and_no_roc_auc() -> None:
    points = evaluate_classification([1, 1, 1], [1, 1, 1], [0.9, 0.8, 0.7], classes=[0, 1], ts=TS)
    assert value(points, "classification.accuracy") == 1.0
    assert "classification.roc_auc" not in set(points["metric"])
    assert not points["value"].isna().any()


def test_scores_outside_zero_one_give_roc_auc_but_no_log_loss() -> None:
    points = evaluate_classification([0, 1, 1], [0, 1, 0], [-2.0, 3.0, 0.5], ts=TS)
    assert "classification.log_loss" not in set(points["metric"])
    assert value(points, "classification.roc_auc") == 1.0


def test_group_by_repeats_the_points_per_group() -> None:
    y_true, y_pred = ["a", "b", "a", "b"], ["a", "a", "a", "b"]
    region = pd.Series(["JP", "JP", "US", "US"], name="region")
    points = evaluate_classification(y_true, y_pred, group_by=region, ts=TS)
    assert value(points, "classification.accuracy", region="JP") == 0.5
    assert value(points, "classification.accuracy", region="US") == 1.0
    assert value(points, "classification.accuracy") == 0.75


def test_points_are_storable() -> None:
    points = evaluate_classification(["a", "b"], ["a", "a"], [0.2, 0.6], ts=TS)
    assert len(normalize_points(points, "ds")) == len(points)


def test_empty_input_is_rejected() -> None:
    with pytest.raises(LupusValidationError, match="y_true"):
        evaluate_classification([], [], ts=TS)


def test_length_mismatch_names_y_pred() -> None:
    with pytest.raises(LupusValidationError) as err:
        evaluate_classification([1, 2], [1], ts=TS)
    assert err.value.where == "y_pred"


def test_mixed_string_and_integer_labels_are_rejected() -> None:
    with pytest.raises(LupusValidationError, match="not a mix"):
        evaluate_classification(np.array(["a", 1], dtype=object), np.array(["a", 1], dtype=object), ts=TS)


def test_one_dimensional_scores_need_two_classes() -> None:
    with pytest.raises(LupusValidationError) as err:
        evaluate_classification(["a", "b", "c"], ["a", "b", "c"], [0.1, 0.2, 0.3], ts=TS)
    assert err.value.where == "y_score"


def test_missing_ts_is_rejected() -> None:
    with pytest.raises(LupusValidationError) as err:
        evaluate_classification([1], [1], ts=None)
    assert err.value.where == "ts"
