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
from lupus_metrics.detectors.runner import OPTIONAL_COLUMNS, SeriesPoints, _prepare_points, evaluate_series
from lupus_metrics.errors import LupusValidationError

_INPUT_SCHEMA = (
    "series_id string, metric string, labels string, ts long, value double, n double, stderr double, excluded boolean"
)
_OUTPUT_SCHEMA = (
    "series_id string, rule int, ts long, value double, expected double, lower double, "
    "upper double, score double, is_anomaly boolean, threshold double, shift_threshold double, sum_threshold double, "
    "details string, error string"
)


def evaluate_on_spark(
    points: Any, rules: Sequence[DetectorRule], *, spark: Any, datasource: str | None
) -> tuple[pd.DataFrame, dict[str, tuple[str, dict[str, str]]]]:
    """Run :func:`evaluate_series` per ``series_id`` with ``applyInPandas``.

    Returns the collected core frame and each series' ``(metric, labels)``.
    """
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession, functions

    session = spark or SparkSession.getActiveSession()
    if session is None:
        raise LupusValidationError("spark", "no active SparkSession: pass spark=<session>")
    # The optional columns travel always (NaN / False when absent); `present` tells the executors which
    # were given, so they see exactly what the process backend sees.
    if isinstance(points, SparkDataFrame):
        if "series_id" not in points.columns:
            raise LupusValidationError("points", "a Spark DataFrame must carry series_id (as read from the store)")
        present = frozenset(c for c in OPTIONAL_COLUMNS if c in points.columns)
        optional = [
            (functions.col(c).cast("boolean" if c == "excluded" else "double") if c in present
             else functions.lit(False if c == "excluded" else float("nan"))).alias(c)
            for c in OPTIONAL_COLUMNS
        ]  # fmt: skip
        encoded = points.select(
            "series_id", "metric", functions.to_json("labels").alias("labels"),
            functions.unix_micros(functions.col("ts").cast("timestamp")).alias("ts"), functions.col("value").cast("double").alias("value"),
            *optional,
        )  # fmt: skip
    else:
        frame = _prepare_points(points, datasource)
        present = frozenset(c for c in OPTIONAL_COLUMNS if c in frame.columns)
        frame["labels"] = [json.dumps(labels, sort_keys=True) for labels in frame["labels"]]
        frame["ts"] = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype("int64")
        for column in OPTIONAL_COLUMNS:
            if column not in present:
                frame[column] = False if column == "excluded" else np.nan
        columns = ["series_id", "metric", "labels", "ts", "value", *OPTIONAL_COLUMNS]
        encoded = session.createDataFrame(frame.loc[:, columns], _INPUT_SCHEMA)

    def evaluate_group(group: pd.DataFrame) -> pd.DataFrame:
        first = group.iloc[0]
        side = {
            c: (group[c].fillna(False).to_numpy(dtype=bool) if c == "excluded" else group[c].to_numpy(dtype="float64"))
            if c in present else None
            for c in OPTIONAL_COLUMNS
        }  # fmt: skip
        points = SeriesPoints(
            first["series_id"], first["metric"], json.loads(first["labels"]),
            pd.DatetimeIndex(pd.to_datetime(group["ts"].to_numpy(), unit="us", utc=True)),
            group["value"].to_numpy(dtype="float64"), side["stderr"], side["n"], side["excluded"],
        )  # fmt: skip
        out = evaluate_series(points, rules)
        ts = out["ts"].astype("datetime64[us]")
        # Arrow needs one concrete type per column: error rows leave NaT and NaN behind.
        return out.assign(
            ts=pd.array(np.where(ts.isna(), None, ts.astype("int64")), dtype="Int64"),
            rule=out["rule"].astype("int32"),
            is_anomaly=out["is_anomaly"].astype(bool),
            details=out["details"].astype(object).where(out["details"].notna(), None),
            error=out["error"].astype(object).where(out["error"].notna(), None),
        )

    identities = {
        row.series_id: (row.metric, json.loads(row.labels))
        for row in encoded.select("series_id", "metric", "labels").dropDuplicates(["series_id"]).collect()
    }
    collected = encoded.groupBy("series_id").applyInPandas(evaluate_group, schema=_OUTPUT_SCHEMA).toPandas()
    core = collected.assign(ts=pd.to_datetime(collected["ts"], unit="us"), rule=collected["rule"].astype("int64"))
    return core, identities
