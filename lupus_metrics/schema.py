"""The records Lupus stores: metric points and anomalies, and the identity of a series.

A *metric point* is ``datasource, metric, labels, ts, value``, optionally ``n`` (the
support behind the value: rows, users, pairs) and ``stderr`` (the standard error of the
value as an estimate, e.g. sd/√n for a mean over users), plus provenance (``source``,
``run_id``). Detectors floor their spread by ``stderr``, and root-cause analysis weighs
slices by ``n``; both are NaN (null) where undefined. ``labels`` is a string map: group-by keys such as
``region=JP``, or things like ``k=10``. A *series* is datasource + metric + labels;
:func:`series_id` gives it a stable id.

An *anomaly record* is the detector's verdict on one evaluated point of a series:
``value, expected, lower, upper, score, is_anomaly`` plus the detector's name and
parameters. Detectors record every evaluated point (not only the anomalous ones)
so that charts can draw the expected line and band.

Example:
    >>> series_id("service1-recommend", "ranking.ndcg", {"k": "10", "region": "JP"})
    'c710ca1ffb66db2b'
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.names import (  # re-exported: callers import the name rules from here too
    DATASOURCE_PATTERN,  # noqa: F401
    LABEL_KEY_PATTERN,  # noqa: F401
    MAX_LABEL_VALUE_LENGTH,  # noqa: F401
    MAX_LABELS,  # noqa: F401
    MAX_METRIC_LENGTH,  # noqa: F401
    validate_datasource,  # noqa: F401
    validate_labels,
    validate_metric_name,
)

# The name rules live in lupus_metrics.names (one rule for every front door); re-exported here.

LABELS_TYPE = pa.map_(pa.string(), pa.string())
TS_TYPE = pa.timestamp("us", tz="UTC")

#: Columns of a points file (the Hive path adds the datasource and the day or month).
POINT_SCHEMA = pa.schema(
    [
        pa.field("metric", pa.string(), nullable=False),
        pa.field("labels", LABELS_TYPE, nullable=False),
        pa.field("series_id", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("value", pa.float64()),
        pa.field("n", pa.float64()),  # support behind the value; null when unknown
        pa.field("stderr", pa.float64()),  # standard error of the value; null when unknown
        pa.field("source", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("writer", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),  # the partition day the writer wrote
        # Write order (nanoseconds since the epoch: when the row was written, or when its pushed batch
        # was accepted): of two rows of one series and ts, the later write is the point. Null in files
        # written before it existed, which sort as oldest.
        pa.field("seq", pa.int64()),
    ]
)

#: Columns of an anomalies file.
ANOMALY_SCHEMA = pa.schema(
    [
        pa.field("metric", pa.string(), nullable=False),
        pa.field("labels", LABELS_TYPE, nullable=False),
        pa.field("series_id", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("value", pa.float64()),
        pa.field("expected", pa.float64()),
        pa.field("lower", pa.float64()),
        pa.field("upper", pa.float64()),
        pa.field("score", pa.float64()),
        pa.field("is_anomaly", pa.bool_(), nullable=False),
        pa.field("detector", pa.string(), nullable=False),
        pa.field("params", pa.string()),  # detector parameters as canonical JSON
        pa.field("run_id", pa.string()),
        pa.field("writer", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
    ]
)

#: Columns that callers pass in (``write_points``) and get back (``read_points``).
POINT_INPUT_COLUMNS = ("metric", "labels", "ts", "value")
#: Optional input columns of points (NaN or absent when unknown).
POINT_NOISE_COLUMNS = ("n", "stderr")
POINT_COLUMNS = ("metric", "labels", "series_id", "ts", "value", "n", "stderr")
ANOMALY_INPUT_COLUMNS = (
    "metric",
    "labels",
    "ts",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "is_anomaly",
    "detector",
)
ANOMALY_COLUMNS = (
    "metric", "labels", "series_id", "ts", "value", "expected", "lower", "upper",
    "score", "is_anomaly", "detector", "params", "run_id",
)  # fmt: skip


def canonical_labels(labels: Mapping[str, str]) -> str:
    """Labels as compact JSON with sorted keys: the form hashed by :func:`series_id`.

    >>> canonical_labels({"region": "JP", "k": "10"})
    '{"k":"10","region":"JP"}'
    """
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def series_id(datasource: str, metric: str, labels: Mapping[str, str] | None = None) -> str:
    """Stable id of a series: the first 16 hex digits of SHA-256 over datasource, metric and sorted labels.

    The id does not depend on label order and never changes between releases, so it
    can be stored and used in links.

    >>> series_id("ds", "rows.count") == series_id("ds", "rows.count", {})
    True
    """
    payload = json.dumps(
        [datasource, metric, canonical_labels(labels or {})], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def not_a_boolean(value: Any) -> Any:
    """A pydantic before-validator: ``true``/``false`` are refused where a number or a time is expected.

    pydantic's lax mode reads ``true`` as ``1.0``; a boolean pushed as a value is a bug in the
    sender, not a measurement.

    >>> not_a_boolean(1.5)
    1.5
    """
    if isinstance(value, bool):
        raise ValueError("must not be a boolean (true/false are not numbers or times)")
    return value


class MetricPoint(BaseModel):
    """One metric point as the API accepts it.

    >>> MetricPoint(metric="rows.count", labels={"region": "JP"}, ts="2026-01-01T00:00:00Z", value=1200).value
    1200.0
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="Dotted metric name, e.g. `age.null_rate` or `ranking.ndcg`.")
    labels: dict[str, str] = Field(default_factory=dict, description="Series labels, e.g. {'region': 'JP', 'k': '10'}.")
    ts: datetime = Field(description="Timestamp of the point; naive timestamps are read as UTC.")
    value: float | None = Field(description="The value; null means missing. Infinity is rejected.")
    n: float | None = Field(
        default=None,
        description="Optional support behind the value (rows, users, pairs): finite and >= 0; null means unknown.",
    )
    stderr: float | None = Field(
        default=None,
        description="Optional standard error of the value as an estimate (e.g. sd/sqrt(n) for a mean over users): "
        "finite and >= 0; null means unknown. Detectors never treat a change smaller than this as anomalous.",
    )

    @field_validator("ts", "value", "n", "stderr", mode="before")
    @classmethod
    def _not_boolean(cls, v: Any) -> Any:
        return not_a_boolean(v)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        return _as_value_error(validate_metric_name, v)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        return _as_value_error(validate_labels, v)

    @field_validator("value")
    @classmethod
    def _value(cls, v: float | None) -> float | None:
        if v is not None and math.isinf(v):
            raise ValueError("value must be finite (null means missing)")
        return v

    @field_validator("n", "stderr")
    @classmethod
    def _noise(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError("must be finite and >= 0 (null means unknown)")
        return v


class AnomalyRecord(BaseModel):
    """A detector's verdict on one point of a series (the anomaly data model).

    >>> AnomalyRecord(series_id="c3b5e1f0a9d2d6b4", metric="rows.count", ts="2026-01-05", value=10.0,
    ...               expected=1000.0, lower=900.0, upper=1100.0, score=9.9, is_anomaly=True, detector="window").is_anomaly
    True
    """

    model_config = ConfigDict(extra="forbid")

    series_id: str
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    ts: datetime
    value: float | None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    score: float | None = None
    is_anomaly: bool
    detector: str
    params: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None


def _as_value_error(check: Any, value: Any) -> Any:
    # pydantic reports ValueError with the field path; LupusValidationError is one, but keep the message short.
    try:
        return check(value)
    except LupusValidationError as err:
        raise ValueError(err.rule) from None
