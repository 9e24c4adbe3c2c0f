"""Index templates for points and anomalies, shared by both backends.

Fields mirror the Parquet files (``lupus_metrics.schema``) plus what the index needs:

- ``labels`` as one ``flat_object`` (OpenSearch) / ``flattened`` (Elasticsearch) field: every label
  key is searchable without adding a mapping per key, so user-defined keys cannot explode the mapping.
- ``label_pairs``: ``"key=value"`` keywords, the exact label filter of ``read_points`` (keys
  cannot contain ``=``, so a pair is unambiguous, and the same query works on both backends).
- ``ts`` as a ``date`` for dashboards and ``ts_us`` (epoch microseconds, ``long``) for exact
  range filters and sorting: Parquet keeps microseconds, a ``date`` only milliseconds.
- ``writer``, ``day`` and ``generation`` let a writer's rewrite of a day replace exactly its rows.
- Points: ``seq`` (the write order of the Parquet row) and ``superseded`` (another writer's later
  row of the same series and ts exists): reads skip superseded rows, as the store's reads keep the
  last write of each (series, ts).

Example:
    >>> body = index_template("lupus", "points", labels_type="flat_object")
    >>> body["index_patterns"], body["template"]["mappings"]["properties"]["labels"]
    (['lupus-points-*'], {'type': 'flat_object'})
"""

from __future__ import annotations

from typing import Any

from lupus_store.search.naming import table_pattern

_KEYWORD = {"type": "keyword"}
_DOUBLE = {"type": "double"}

_COMMON: dict[str, dict[str, Any]] = {
    "datasource": _KEYWORD,
    "metric": _KEYWORD,
    "series_id": _KEYWORD,
    "label_pairs": _KEYWORD,
    "ts": {"type": "date", "format": "strict_date_optional_time"},
    "ts_us": {"type": "long"},
    "value": _DOUBLE,
    "run_id": _KEYWORD,
    "writer": _KEYWORD,
    "day": {"type": "date", "format": "strict_date"},
    "generation": _KEYWORD,
}

_PROPERTIES: dict[str, dict[str, dict[str, Any]]] = {
    "points": {
        **_COMMON,
        "n": _DOUBLE,
        "stderr": _DOUBLE,
        "source": _KEYWORD,
        "seq": {"type": "long"},
        "superseded": {"type": "boolean"},
    },
    "anomalies": {
        **_COMMON,
        "expected": _DOUBLE,
        "lower": _DOUBLE,
        "upper": _DOUBLE,
        "score": _DOUBLE,
        "is_anomaly": {"type": "boolean"},
        "detector": _KEYWORD,
        # Returned as stored, never searched.
        "params": {"type": "keyword", "index": False, "doc_values": False},
    },
}


def table_properties(table: str) -> dict[str, dict[str, Any]]:
    """The mapped fields of ``table``'s documents except ``labels`` (whose type depends on the backend)."""
    return dict(_PROPERTIES[table])


def index_template(
    prefix: str,
    table: str,
    *,
    labels_type: str,
    shards: int = 1,
    replicas: int = 1,
    refresh_interval: str = "1s",
) -> dict[str, Any]:
    """The composable index template body for ``table`` (``PUT _index_template/<prefix>-<table>``).

    ``labels_type`` is the backend's flattened-object type: ``flat_object`` or ``flattened``.
    """
    properties = {**_PROPERTIES[table], "labels": {"type": labels_type}}
    return {
        "index_patterns": [table_pattern(prefix, table)],
        "priority": 100,
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": shards,
                    "number_of_replicas": replicas,
                    "refresh_interval": refresh_interval,
                }
            },
            # strict: a document with an unknown field is a bug in Lupus, not data to guess a type for.
            "mappings": {"dynamic": "strict", "properties": properties},
        },
    }
