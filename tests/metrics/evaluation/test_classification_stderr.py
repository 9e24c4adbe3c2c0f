"""n and stderr of the classification points, against independent computations: scikit-learn's
metrics differentiated numerically (the multinomial delta method), DeLong's pairwise definition
for ROC-AUC, and a simulation for calibration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from lupus_metrics.evaluation import evaluate_classification

TS = "2026-01-01"
SKLEARN = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}


def row(points: pd.DataFrame, metric: str, **labels: str) -> pd.Series:
    hit = points[(points["metric"] == metric) & (points["labels"] == labels)]
    assert len(hit) == 1, (metric, labels)
    return hit.iloc[0]


def delta_method_stderr(metric, classes: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """√((Σ g²π − (Σ gπ)²) / n): the multinomial delta method, g the numerical gradient of the metric
    with respect to the share π of each (true, predicted) cell, the metric being scikit-learn's
    with the cell shares as sample weights."""
    cells = [(a, b) for a in classes for b in classes]
    counts = np.array([np.sum((y_true == a) & (y_pred == b)) for a, b in cells], dtype=float)
    n = counts.sum()
    shares = counts / n
    truth = np.array([a for a, _ in cells])
    pred = np.array([b for _, b in cells])
    gradient = np.zeros(len(cells))
    for j in np.flatnonzero(shares > 0):  # cells without rows weigh nothing in the variance
        h = 1e-6
        up, down = shares.copy(), shares.copy()
        up[j] += h
        down[j] -= h
        gradient[j] = (metric(truth, pred, up) - metric(truth, pred, down)) / (2 * h)
    variance = (np.sum(gradient**2 * shares) - np.sum(gradient * shares) ** 2) / n
    return math.sqrt(max(variance, 0.0))


def sample(seed: int, n: int, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.choice(classes, n)
    # Mostly right, so that the metrics are not all near chance.
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(classes, n))
    return y_true, y_pred


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(30, 200), classes=st.sampled_from([["a", "b"], ["a", "b", "c", "d"]])
)
def test_single_rates_have_the_wald_stderr_over_their_own_denominator(seed: int, n: int, classes: list[str]) -> None:
    y_true, y_pred = sample(seed, n, classes)
    points = evaluate_classification(y_true, y_pred, ts=TS)
    accuracy = row(points, "classification.accuracy")
    assert accuracy["n"] == n
    assert accuracy["stderr"] == pytest.approx(math.sqrt(accuracy["value"] * (1 - accuracy["value"]) / n), rel=1e-12)
    for c in np.unique(np.concatenate([y_true, y_pred])):
        for metric, denominator in (("precision", np.sum(y_pred == c)), ("recall", np.sum(y_true == c))):
            got = row(points, f"classification.{metric}", **{"class": str(c)})
            assert got["n"] == denominator
            p = got["value"]
            assert got["stderr"] == pytest.approx(math.sqrt(p * (1 - p) / denominator), rel=1e-12, abs=1e-15)
        share = row(points, "classification.true_share", **{"class": str(c)})
        assert share["n"] == n
        assert share["stderr"] == pytest.approx(
            math.sqrt(share["value"] * (1 - share["value"]) / n), rel=1e-12, abs=1e-15
        )


@pytest.mark.parametrize(
    ("seed", "n", "classes"),
    [(1, 40, ["a", "b"]), (2, 200, ["a", "b"]), (3, 90, ["a", "b", "c"]), (4, 150, ["a", "b", "c"])],
)
def test_f1_and_averages_follow_the_multinomial_delta_method(seed: int, n: int, classes: list[str]) -> None:
    y_true, y_pred = sample(seed, n, classes)
    present = np.unique(np.concatenate([y_true, y_pred]))
    points = evaluate_classification(y_true, y_pred, ts=TS)
    for name, fn in SKLEARN.items():
        for average in ("macro", "micro", "weighted"):
            metric = lambda t, p, w, fn=fn, average=average: fn(
                t, p, sample_weight=w, average=average, labels=present, zero_division=0
            )  # noqa: E731
            got = row(points, f"classification.{name}", average=average)
            assert got["n"] == n
            assert got["stderr"] == pytest.approx(
                delta_method_stderr(metric, present, y_true, y_pred), rel=1e-5, abs=1e-9
            )
    for c in present:
        metric = lambda t, p, w, c=c: skm.f1_score(t, p, sample_weight=w, labels=[c], average="macro", zero_division=0)  # noqa: E731
        got = row(points, "classification.f1", **{"class": str(c)})
        assert got["n"] == np.sum((y_true == c) | (y_pred == c))
        assert got["stderr"] == pytest.approx(delta_method_stderr(metric, present, y_true, y_pred), rel=1e-5, abs=1e-9)


def delong_pairwise(positive_scores: np.ndarray, negative_scores: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) from its definition: the kernel over every (positive, negative) pair."""
    kernel = (positive_scores[:, None] > negative_scores[None, :]) + 0.5 * (
        positive_scores[:, None] == negative_scores[None, :]
    )
    v10, v01 = kernel.mean(axis=1), kernel.mean(axis=0)
    variance = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
    return float(kernel.mean()), math.sqrt(variance)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 120), seed=st.integers(0, 2**32 - 1), decimals=st.sampled_from([1, 3]))
def test_binary_roc_auc_has_the_delong_stderr(n: int, seed: int, decimals: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.choice(["neg", "pos"], n)
    y_true[:4] = ["neg", "pos", "neg", "pos"]
    score = np.round(np.clip(rng.normal(0.5 + 0.2 * (y_true == "pos"), 0.2), 0, 1), decimals)  # rounding makes ties
    points = evaluate_classification(y_true, np.where(score > 0.5, "pos", "neg"), score, ts=TS)
    auc, stderr = delong_pairwise(score[y_true == "pos"], score[y_true == "neg"])
    got = row(points, "classification.roc_auc")
    assert got["value"] == pytest.approx(auc, abs=1e-12)
    assert got["stderr"] == pytest.approx(stderr, rel=1e-9)
    assert got["n"] == n


def test_multiclass_roc_auc_per_class_has_the_delong_stderr_and_the_macro_mean_none() -> None:
    rng = np.random.default_rng(5)
    classes = np.array(["a", "b", "c"])
    y_true = rng.choice(classes, 150)
    scores = rng.dirichlet([1, 1, 1], 150)
    scores[np.arange(150), np.searchsorted(classes, y_true)] += 0.3
    scores = scores / scores.sum(axis=1, keepdims=True)
    points = evaluate_classification(y_true, classes[scores.argmax(axis=1)], scores, ts=TS)
    for j, c in enumerate(classes):
        _, stderr = delong_pairwise(scores[y_true == c, j], scores[y_true != c, j])
        assert row(points, "classification.roc_auc", **{"class": c})["stderr"] == pytest.approx(stderr, rel=1e-9)
    assert math.isnan(row(points, "classification.roc_auc", average="macro")["stderr"])


def test_log_loss_stderr_is_the_sd_of_the_row_losses_over_root_n() -> None:
    rng = np.random.default_rng(2)
    y_true = rng.choice(["neg", "pos"], 80)
    score = rng.random(80)
    points = evaluate_classification(y_true, np.where(score > 0.5, "pos", "neg"), score, ts=TS)
    losses = -np.log(np.where(y_true == "pos", score, 1 - score))
    got = row(points, "classification.log_loss")
    assert got["n"] == 80
    assert got["stderr"] == pytest.approx(np.std(losses, ddof=1) / math.sqrt(80), rel=1e-12)


def test_counts_have_n_and_no_stderr() -> None:
    points = evaluate_classification(["a", "b", "b"], ["a", "b", "a"], ts=TS)
    counts = points[points["metric"].isin(["classification.rows", "classification.confusion"])]
    assert (counts["n"] == 3).all() and counts["stderr"].isna().all()


def test_a_class_never_predicted_has_precision_zero_with_no_support_and_no_stderr() -> None:
    points = evaluate_classification(["a", "b", "b"], ["a", "a", "a"], ts=TS)
    got = row(points, "classification.precision", **{"class": "b"})
    assert (got["value"], got["n"]) == (0.0, 0.0) and math.isnan(got["stderr"])


def test_stderrs_match_the_spread_of_the_metrics_over_repeated_samples() -> None:
    """Calibration: over 400 simulated days the sd of each metric is close to its mean stderr."""
    rng = np.random.default_rng(11)
    classes = np.array(["a", "b", "c"])
    draws: dict[tuple[str, str], list[tuple[float, float]]] = {}
    wanted = [
        ("classification.f1", "macro"),
        ("classification.precision", "weighted"),
        ("classification.roc_auc", "class"),
    ]
    for _ in range(400):
        y_true = rng.choice(classes, 300, p=[0.5, 0.3, 0.2])
        y_pred = np.where(rng.random(300) < 0.7, y_true, rng.choice(classes, 300))
        scores = rng.dirichlet([2, 2, 2], 300)
        scores[:, 0] += 0.4 * (y_true == "a")
        scores = scores / scores.sum(axis=1, keepdims=True)
        points = evaluate_classification(y_true, y_pred, scores, ts=TS)
        for metric, label in wanted:
            labels = {"class": "a"} if label == "class" else {"average": label}
            got = row(points, metric, **labels)
            draws.setdefault((metric, label), []).append((got["value"], got["stderr"]))
    for key, values in draws.items():
        spread = np.std([v for v, _ in values], ddof=1)
        typical = np.mean([e for _, e in values])
        assert typical == pytest.approx(spread, rel=0.15), key
