"""Request bodies of every search, delete and bulk request, shared by both backends.

Example:
    >>> body = search_body(Filters(datasource="demo", labels={"region": "JP"}), table="points", size=2)
    >>> body["query"]["bool"]["filter"]
    [{'term': {'datasource': 'demo'}}, {'term': {'label_pairs': 'region=JP'}}]
    >>> [next(iter(s)) for s in body["sort"]]
    ['metric', 'series_id', 'ts_us', 'writer', 'day']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Rows come back in MetricStore's order (metric, series, ts, writer); day and detector make the
# sort key unique, which search_after paging needs to never skip or repeat a row.
_SORT = {
    "points": ["metric", "series_id", "ts_us", "writer", "day"],
    "anomalies": ["metric", "series_id", "ts_us", "writer", "day", "detector"],
}


@dataclass
class Filters:
    """Row filters of a read; ``start_us``/``end_us`` are inclusive epoch microseconds."""

    datasource: str
    metrics: list[str] | None = None
    series_ids: list[str] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    start_us: int | None = None
    end_us: int | None = None
    only_anomalies: bool = False

    def query(self) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = [{"term": {"datasource": self.datasource}}]
        for name, values in (("metric", self.metrics), ("series_id", self.series_ids)):
            if values is not None:
                clauses.append({"terms": {name: list(values)}})
        clauses.extend({"term": {"label_pairs": f"{k}={v}"}} for k, v in self.labels.items())
        if self.start_us is not None or self.end_us is not None:
            bounds = {"gte": self.start_us, "lte": self.end_us}
            clauses.append({"range": {"ts_us": {k: v for k, v in bounds.items() if v is not None}}})
        if self.only_anomalies:
            clauses.append({"term": {"is_anomaly": True}})
        return {"bool": {"filter": clauses}}


#: Points rows of a (series, ts) that a later write replaced: kept (the later row may be removed again)
#: but not read, as the store's reads keep the last write.
SUPERSEDED = {"term": {"superseded": True}}


def search_body(
    filters: Filters,
    *,
    table: str,
    size: int,
    fields: Iterable[str] | None = None,
    after: list[Any] | None = None,
    current_only: bool = True,
) -> dict[str, Any]:
    """One page of a read, sorted like ``MetricStore`` and paged with ``search_after``.

    Points read only current rows (not ``superseded``) unless ``current_only=False``.
    """
    query = filters.query()
    if table == "points" and current_only:
        query["bool"]["must_not"] = [SUPERSEDED]
    body: dict[str, Any] = {
        "size": size,
        "query": query,
        "sort": [{name: "asc"} for name in _SORT[table]],
        "track_total_hits": False,
    }
    if fields is not None:
        body["_source"] = list(fields)
    if after is not None:
        body["search_after"] = after
    return body


def series_body(datasource: str, *, size: int, after: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One page of ``list_series``: a composite aggregation over (metric, series_id)."""
    composite: dict[str, Any] = {
        "size": size,
        "sources": [{"metric": {"terms": {"field": "metric"}}}, {"series_id": {"terms": {"field": "series_id"}}}],
    }
    if after is not None:
        composite["after"] = dict(after)
    return {
        "size": 0,
        "query": {"bool": {"filter": [{"term": {"datasource": datasource}}], "must_not": [SUPERSEDED]}},
        "aggs": {
            "series": {
                "composite": composite,
                "aggs": {
                    "first_ts": {"min": {"field": "ts_us"}},
                    "last_ts": {"max": {"field": "ts_us"}},
                    "labels": {"top_hits": {"size": 1, "_source": ["labels"]}},
                },
            }
        },
    }


def datasources_body(*, size: int, after: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One page of the distinct datasources of an index pattern."""
    composite: dict[str, Any] = {"size": size, "sources": [{"datasource": {"terms": {"field": "datasource"}}}]}
    if after is not None:
        composite["after"] = dict(after)
    return {"size": 0, "aggs": {"datasources": {"composite": composite}}}


def replace_delete_body(datasource: str, *, writer: str, day: str, keep_generation: str | None) -> dict[str, Any]:
    """Delete-by-query body removing ``writer``'s rows of ``day`` that the write ``keep_generation`` did not send.

    >>> replace_delete_body("demo", writer="w", day="2026-01-01", keep_generation="g2")["query"]["bool"]["must_not"]
    [{'term': {'generation': 'g2'}}]
    """
    query: dict[str, Any] = {
        "bool": {"filter": [{"term": {"datasource": datasource}}, {"term": {"writer": writer}}, {"term": {"day": day}}]}
    }
    if keep_generation is not None:
        query["bool"]["must_not"] = [{"term": {"generation": keep_generation}}]
    return {"query": query}


def datasource_delete_body(datasource: str, *, keep_generation: str) -> dict[str, Any]:
    """Delete-by-query body removing a datasource's rows that a rebuild (``keep_generation``) did not send."""
    return {
        "query": {
            "bool": {
                "filter": [{"term": {"datasource": datasource}}],
                "must_not": [{"term": {"generation": keep_generation}}],
            }
        }
    }


def bulk_lines(docs: Iterable[Mapping[str, Any]], index_of: Any) -> list[str]:
    """NDJSON lines of a bulk request: an ``index`` action (overwrite by ``_id``) and the document.

    >>> bulk_lines([{"_id": "a1", "value": 1.0}], lambda doc: "lupus-points-demo-2026")
    ['{"index":{"_index":"lupus-points-demo-2026","_id":"a1"}}', '{"value":1.0}']
    """
    lines = []
    for doc in docs:
        source = {k: v for k, v in doc.items() if k != "_id"}
        lines.append(json.dumps({"index": {"_index": index_of(doc), "_id": doc["_id"]}}, separators=(",", ":")))
        lines.append(json.dumps(source, separators=(",", ":"), ensure_ascii=False))
    return lines
