"""The Spark backend of :func:`lupus_metrics.detectors.runner.detect_many`: a thin adapter.

Points travel to the executors with labels as JSON and timestamps as epoch
microseconds (plain Arrow types, independent of the session time zone); each
``series_id`` group goes through the same :func:`~lupus_metrics.detectors.runner.evaluate_series`
as the process backend, and the results are decoded back on the driver.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.detectors.registry import DetectorRule
from lupus_metrics.detectors.runner import _prepare_points, evaluate_series
from lupus_metrics.errors import LupusValidationError

_INPUT_SCHEMA = "series_id string, metric string, labels string, ts long, value double"
_OUTPUT_SCHEMA = (
    "series_id string, metric string, labels string, ts long, value double, expected double, lower double, "
    "upper double, score double, is_anomaly boolean, detector string, params string, error string"
)


def evaluate_on_spark(
    points: Any, rules: Sequence[DetectorRule], *, spark: Any, datasource: str | None
) -> pd.DataFrame:
    """Run :func:`evaluate_series` per ``series_id`` with ``applyInPandas``; return the collected core frame."""
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession, functions

    session = spark or SparkSession.getActiveSession()
    if session is None:
        raise LupusValidationError("spark", "no active SparkSession: pass spark=<session>")
    if isinstance(points, SparkDataFrame):
        if "series_id" not in points.columns:
            raise LupusValidationError("points", "a Spark DataFrame must carry series_id (as read from the store)")
        encoded = points.select(
            "series_id", "metric", functions.to_json("labels").alias("labels"),
            functions.unix_micros(functions.col("ts").cast("timestamp")).alias("ts"), functions.col("value").cast("double").alias("value"),
        )  # fmt: skip
    else:
        frame = _prepare_points(points, datasource)
        frame["labels"] = [json.dumps(labels, sort_keys=True) for labels in frame["labels"]]
        frame["ts"] = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype("int64")
        encoded = session.createDataFrame(frame.loc[:, ["series_id", "metric", "labels", "ts", "value"]], _INPUT_SCHEMA)

    def evaluate_group(group: pd.DataFrame) -> pd.DataFrame:
        group = group.assign(ts=pd.to_datetime(group["ts"], unit="us", utc=True))
        out = evaluate_series(group, rules)
        ts = pd.to_datetime(out["ts"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
        # Arrow needs one concrete type per column: error rows leave object-typed NaNs behind.
        return pd.DataFrame(
            {
                **{
                    c: out[c].astype("object").where(out[c].notna(), None)
                    for c in ("series_id", "metric", "detector", "error")
                },
                "labels": [json.dumps(labels, sort_keys=True) for labels in out["labels"]],
                "params": [json.dumps(params, sort_keys=True) for params in out["params"]],
                "ts": pd.array(np.where(ts.isna(), None, ts.astype("int64")), dtype="Int64"),
                **{c: out[c].astype("float64") for c in ("value", "expected", "lower", "upper", "score")},
                "is_anomaly": out["is_anomaly"].astype(bool),
            }
        )

    collected = encoded.groupBy("series_id").applyInPandas(evaluate_group, schema=_OUTPUT_SCHEMA).toPandas()
    return collected.assign(
        labels=[json.loads(text) for text in collected["labels"]],
        params=[json.loads(text) for text in collected["params"]],
        ts=pd.to_datetime(collected["ts"], unit="us", utc=True),
    )
