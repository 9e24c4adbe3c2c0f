"""Evaluation, drift and churn give the same points (values, n, stderr) wherever the data is:
pandas frames, DuckDB relations (lazily read Parquet files, evaluated in chunks) and Spark."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from lupus_metrics.churn import prediction_churn
from lupus_metrics.drift import drift_points
from lupus_metrics.evaluation import evaluate_ranking
from lupus_metrics.evaluation.classification import classification_points
from lupus_metrics.evaluation.regression import regression_points

TS = "2026-01-01"


def keyed(points: pd.DataFrame) -> dict[tuple, tuple[float, float, float]]:
    return {
        (m, tuple(sorted(labels.items()))): (v, n, e)
        for m, labels, v, n, e in zip(
            points["metric"], points["labels"], points["value"], points["n"], points["stderr"], strict=True
        )
    }


def assert_same_points(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    want, have = keyed(expected), keyed(got)
    assert set(want) == set(have), set(want) ^ set(have)
    for key, triple in want.items():
        for a, b, what in zip(triple, have[key], ("value", "n", "stderr"), strict=True):
            if math.isnan(a):
                assert math.isnan(b), (key, what)
            else:
                assert b == pytest.approx(a, rel=1e-9, abs=1e-12), (key, what, a, b)


def frames(seed: int = 1, n: int = 600) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    labels = np.array(["cat", "dog", "owl"])
    truth = rng.choice(labels, n)
    scores = rng.dirichlet([2, 2, 2], n)
    scores[np.arange(n), np.searchsorted(labels, truth)] += 0.5
    scores = scores / scores.sum(axis=1, keepdims=True)
    y_true = np.round(rng.gamma(3, 10, n), 1)
    day = pd.DataFrame({
        "user_id": np.arange(n), "region": rng.choice(["JP", "US"], n), "label": truth,
        "predicted": labels[scores.argmax(axis=1)], "cat": scores[:, 0], "dog": scores[:, 1], "owl": scores[:, 2],
        "sold": y_true, "forecast": np.round(y_true + rng.normal(0, 4, n), 1),
        "segment": rng.choice(["a", "b", "c"], n), "score": np.round(rng.normal(0, 1, n), 2),
    })  # fmt: skip
    previous = day.sample(frac=0.9, random_state=2).assign(
        segment=lambda d: np.where(rng.random(len(d)) < 0.2, "b", d["segment"]),
        score=lambda d: np.round(d["score"] + rng.normal(0.3, 0.5, len(d)), 2),
    )
    recs = pd.DataFrame(
        {"user": np.repeat(np.arange(150), 8), "item": rng.integers(0, 60, 1200), "score": rng.random(1200)}
    )
    recs = recs.drop_duplicates(["user", "item"]).reset_index(drop=True)
    recs["region"] = np.where(recs["user"] % 3 == 0, "JP", "US")
    rel = pd.DataFrame(
        {"user": rng.integers(0, 170, 700), "item": rng.integers(0, 60, 700), "relevance": rng.integers(0, 4, 700)}
    )
    rel = rel.drop_duplicates(["user", "item"]).reset_index(drop=True)
    return {"day": day, "previous": previous.reset_index(drop=True), "recs": recs, "rel": rel}


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return frames()


@pytest.fixture(scope="module")
def relations(data, tmp_path_factory):
    """The same frames written as Parquet and read back lazily on one connection."""
    folder: Path = tmp_path_factory.mktemp("parity")
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    out = {}
    for name, frame in data.items():
        frame.to_parquet(folder / f"{name}.parquet")
        out[name] = con.read_parquet(str(folder / f"{name}.parquet"))
    yield out
    con.close()


def run_all(tables: dict) -> dict[str, pd.DataFrame]:
    day, previous = tables["day"], tables["previous"]
    return {
        "classification": classification_points(day, y_true="label", y_pred="predicted", y_score=["cat", "dog", "owl"],
                                                group_by=["region"], ts=TS),
        "regression": regression_points(day, y_true="sold", y_pred="forecast", group_by=["region"], ts=TS),
        "ranking": evaluate_ranking(tables["recs"], tables["rel"], k=[3, 5], group_by="region", chunk_rows=250, ts=TS),
        "drift": drift_points(previous, day, columns=["score", "segment"], methods=["psi", "js", "ks", "wasserstein",
                              "wasserstein_norm", "chi2"], group_by="region", ts=TS),
        "churn labels": prediction_churn(previous, day, key="user_id", prediction="segment", group_by="region", ts=TS),
        "churn scores": prediction_churn(previous, day, key="user_id", prediction="score", group_by="region", ts=TS),
    }  # fmt: skip


@pytest.fixture(scope="module")
def from_frames(data) -> dict[str, pd.DataFrame]:
    return run_all(data)


@pytest.mark.parametrize("task", ["classification", "regression", "ranking", "drift", "churn labels", "churn scores"])
def test_duckdb_relations_give_the_points_of_frames(from_frames, relations, task):
    got = run_all(relations)[task]
    assert len(got) > 5
    assert_same_points(from_frames[task], got)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression", "ranking", "drift", "churn labels", "churn scores"])
def test_spark_dataframes_give_the_points_of_frames(from_frames, data, spark, task):
    spark_tables = {name: spark.createDataFrame(frame) for name, frame in data.items()}
    got = run_all(spark_tables)[task]
    assert_same_points(from_frames[task], got)
