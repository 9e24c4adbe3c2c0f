"""Rows <-> index documents: bulk actions from normalized frames, frames from search hits.

A document's ``_id`` hashes what makes a stored row unique (table, datasource, writer, partition
day, series, ts, and the detector for anomalies), so re-sending a write overwrites instead of
duplicating: retries and re-indexing are idempotent.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"metric": ["rows.count"], "labels": [{"region": "JP"}], "series_id": ["abc"],
    ...                       "ts": pd.to_datetime(["2026-01-01T00:00:00.000001Z"]), "value": [float("nan")],
    ...                       "source": [None], "run_id": [None]})
    >>> doc = documents("points", "demo", frame, day="2026-01-01", writer="metrics", generation="g1")[0]
    >>> doc["ts"], doc["ts_us"], doc["value"], doc["label_pairs"]
    ('2026-01-01T00:00:00.000001Z', 1767225600000001, None, ['region=JP'])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.schema import ANOMALY_COLUMNS, POINT_COLUMNS

_FLOATS = ("value", "n", "stderr", "expected", "lower", "upper", "score")
_PROVENANCE = {"points": ("source", "run_id"), "anomalies": ("run_id",)}
_EXTRA = {"points": ("seq",), "anomalies": ("is_anomaly", "detector", "params")}

#: dtypes of the frames the reads return, as ``MetricStore`` returns them.
DTYPES: dict[str, str] = {
    "metric": "object", "labels": "object", "series_id": "object", "ts": "datetime64[us, UTC]",
    "value": "float64", "n": "float64", "stderr": "float64", "expected": "float64", "lower": "float64",
    "upper": "float64", "score": "float64", "is_anomaly": "bool", "detector": "object", "params": "object", "run_id": "object", "source": "object",
    "writer": "object", "points": "int64", "first_ts": "datetime64[us, UTC]", "last_ts": "datetime64[us, UTC]",
}  # fmt: skip


def doc_id(table: str, datasource: str, writer: str, day: str, series_id: str, ts_us: int, detector: str = "") -> str:
    """Deterministic document id of one stored row."""
    key = json.dumps([table, datasource, writer, day, series_id, ts_us, detector], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def documents(
    table: str, datasource: str, frame: pd.DataFrame, *, day: str, writer: str, generation: str
) -> list[dict[str, Any]]:
    """One document per row of a normalized frame (``normalize_points`` / ``normalize_anomalies`` output
    plus provenance columns). Each document carries its ``_id`` under the key ``"_id"``."""
    n = len(frame)
    ts_us = frame["ts"].dt.tz_convert("UTC").dt.as_unit("us").astype("int64").to_numpy() if n else np.array([], "int64")
    iso = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").tolist() if n else []
    columns: dict[str, list[Any]] = {
        "metric": frame["metric"].tolist(),
        "series_id": frame["series_id"].tolist(),
        "labels": frame["labels"].tolist(),
    }
    for name in (*(c for c in _FLOATS if c in frame.columns), *_PROVENANCE[table], *_EXTRA[table]):
        columns[name] = frame[name].tolist() if name in frame.columns else [None] * n
    if table == "points" and "superseded" in frame.columns:
        columns["superseded"] = frame["superseded"].tolist()
    docs = []
    for i in range(n):
        labels = columns["labels"][i] or {}
        doc: dict[str, Any] = {
            "datasource": datasource,
            "metric": columns["metric"][i],
            "series_id": columns["series_id"][i],
            "labels": labels,
            "label_pairs": [f"{k}={v}" for k, v in labels.items()],
            "ts": iso[i],
            "ts_us": int(ts_us[i]),
            "writer": writer,
            "day": day,
            "generation": generation,
        }
        for name in (*_FLOATS, *_PROVENANCE[table], *_EXTRA[table]):
            if name in columns:
                doc[name] = _json_value(columns[name][i])
        if table == "anomalies":
            doc["is_anomaly"] = bool(doc["is_anomaly"])
        else:
            # A new row is current until SearchIndex.replace compares it with other writers' rows of its
            # (series, ts); a rebuild knows it from the store and passes the column.
            doc["superseded"] = bool(columns["superseded"][i]) if "superseded" in columns else False
        detector = doc.get("detector") or ""
        doc["_id"] = doc_id(table, datasource, writer, day, doc["series_id"], doc["ts_us"], detector)
        docs.append(doc)
    return docs


def _json_value(value: Any) -> Any:
    # JSON has no NaN: a missing value is null, and reads turn null back into NaN.
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def frame_from_sources(sources: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """The frame ``MetricStore`` would return for these documents' ``_source`` (already in order)."""
    columns = tuple(columns)
    rows = list(sources)
    data: dict[str, Any] = {}
    for column in columns:
        if column == "ts":
            data["ts"] = pd.to_datetime(
                np.array([r["ts_us"] for r in rows], dtype="int64"), unit="us", utc=True
            ).as_unit("us")
        elif column == "labels":
            data["labels"] = [dict(r.get("labels") or {}) for r in rows]
        elif DTYPES[column] == "float64":
            data[column] = np.array([r.get(column) for r in rows], dtype="float64")
        elif DTYPES[column] == "bool":
            data[column] = np.array([bool(r.get(column)) for r in rows], dtype="bool")
        else:
            data[column] = pd.Series([r.get(column) for r in rows], dtype="object")
    frame = pd.DataFrame(data, columns=list(columns))
    return frame.astype({c: DTYPES[c] for c in columns if c != "ts"}) if rows else empty_frame(columns)


def empty_frame(columns: Iterable[str]) -> pd.DataFrame:
    """An empty frame with ``MetricStore``'s columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=DTYPES[c]) for c in columns})


def source_fields(table: str, provenance: bool = False) -> list[str]:
    """The ``_source`` fields a read of ``table`` needs."""
    columns = POINT_COLUMNS if table == "points" else ANOMALY_COLUMNS
    fields = [c for c in columns if c != "ts"] + ["ts_us"]
    if provenance:
        fields += ["source", "run_id", "writer"]
    return fields
