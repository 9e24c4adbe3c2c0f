"""The search index of points and anomalies: writes by (datasource, writer, day), reads like MetricStore.

Example (request bodies only; a live cluster is needed to run a read):
    >>> from lupus_store.search.backends import OpenSearchBackend
    >>> index = SearchIndex(OpenSearchBackend("http://127.0.0.1:9200"), prefix="lupus")
    >>> index.index_of("points", "service1-recommend")({"ts": "2026-03-01T00:00:00.000000Z"})
    'lupus-points-service1-2026'
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from lupus_metrics.schema import ANOMALY_COLUMNS, POINT_COLUMNS, validate_datasource, validate_labels
from lupus_store.metric_store import _time_range  # the store's exact range rules, so both stores filter alike
from lupus_store.search.backends import SearchBackend, SearchRequestError
from lupus_store.search.bodies import (
    Filters,
    datasource_delete_body,
    datasources_body,
    replace_delete_body,
    search_body,
    series_body,
)
from lupus_store.search.bulk import BulkReport, BulkSender
from lupus_store.search.documents import empty_frame, frame_from_sources, source_fields
from lupus_store.search.mappings import index_template, table_properties
from lupus_store.search.naming import TABLES, family_pattern, index_name, table_pattern, template_name, validate_prefix

SERIES_COLUMNS = ("series_id", "metric", "labels", "points", "first_ts", "last_ts")


class SearchIndex:
    """Points and anomalies of every datasource in an OpenSearch or Elasticsearch cluster.

    ``prefix`` starts every index and template name (several installations, or test runs, can
    share a cluster). ``shards``/``replicas``/``refresh_interval`` go into the index templates.
    """

    def __init__(
        self,
        backend: SearchBackend,
        *,
        prefix: str = "lupus",
        shards: int = 1,
        replicas: int = 1,
        refresh_interval: str = "1s",
        page_size: int = 10_000,
        sender: BulkSender | None = None,
    ):
        self.backend = backend
        self.prefix = validate_prefix(prefix)
        self.shards, self.replicas, self.refresh_interval = shards, replicas, refresh_interval
        self.page_size = page_size
        self.sender = sender or BulkSender(backend)
        self.sender.backend = backend
        self._templates_ready = False

    def __repr__(self) -> str:
        return f"SearchIndex({self.backend.name}, prefix={self.prefix!r})"

    # ---- administration ----------------------------------------------------------------------

    def ensure_templates(self) -> None:
        """Install (or update) the index templates; indices are then created on first write."""
        for table in TABLES:
            body = index_template(
                self.prefix, table, labels_type=self.backend.labels_type,
                shards=self.shards, replicas=self.replicas, refresh_interval=self.refresh_interval,
            )  # fmt: skip
            self.backend.request("PUT", f"/_index_template/{template_name(self.prefix, table)}", body=body)
            # Indices created by an older template lack fields added since (n, stderr); their mappings
            # are strict, so documents carrying such a field would be refused until it is added.
            self.backend.request(
                "PUT", f"/{table_pattern(self.prefix, table)}/_mapping",
                body={"properties": table_properties(table)}, params={"allow_no_indices": "true"},
            )  # fmt: skip
        self._templates_ready = True

    def refresh(self) -> None:
        """Make every write so far visible to reads (writes become visible within ``refresh_interval`` anyway)."""
        self.backend.request("POST", f"/{self.prefix}-*/_refresh", params={"allow_no_indices": "true"})

    def indices(self) -> list[str]:
        """Names of this prefix's indices, sorted."""
        rows = self.backend.request("GET", f"/_cat/indices/{self.prefix}-*", params={"format": "json", "h": "index"})
        return sorted(row["index"] for row in rows)

    def drop(self) -> None:
        """Delete this prefix's indices and templates (by name: clusters may forbid wildcard deletes)."""
        for name in self.indices():
            self.backend.request("DELETE", f"/{name}")
        for table in TABLES:
            self._delete_template(table)
        self._templates_ready = False

    def _delete_template(self, table: str) -> None:
        try:
            self.backend.request("DELETE", f"/_index_template/{template_name(self.prefix, table)}")
        except SearchRequestError as err:
            if err.status != 404:
                raise

    # ---- writing -----------------------------------------------------------------------------

    def index_of(self, table: str, datasource: str):
        """The function that names the yearly index of a document of ``datasource``."""

        def name(doc: Mapping[str, Any]) -> str:
            return index_name(self.prefix, table, datasource, int(doc["ts"].split("-", 1)[0]))

        return name

    def replace(
        self, table: str, datasource: str, docs: Sequence[Mapping[str, Any]], *, day: str, writer: str, generation: str
    ) -> BulkReport:
        """Make ``docs`` (one write, tagged ``generation``) the index's rows of ``writer`` on ``day``.

        Documents are indexed first, then the writer's older rows of that day are deleted, so a
        reader never sees the day empty. If any document is rejected the old rows stay until a
        retry succeeds. Raises :class:`IndexUnavailableError` when the cluster cannot be reached.
        """
        if not self._templates_ready:
            self.ensure_templates()
        report = self.sender.send(docs, self.index_of(table, datasource)) if docs else BulkReport()
        if report.ok:
            body = replace_delete_body(datasource, writer=writer, day=day, keep_generation=generation)
            self._refresh(table, datasource)
            # Points: the (series, ts) of the rows going away and of the new ones may change which
            # writer's row is current (last write wins), for them and for other writers' rows.
            touched = self._keys(datasource, body["query"]) if table == "points" else set()
            self._delete(table, datasource, body, refresh=False)
            if table == "points":
                self.reconcile(datasource, touched | {(doc["series_id"], doc["ts_us"]) for doc in docs})
        return report

    def reconcile(self, datasource: str, keys: set[tuple[str, int]]) -> int:
        """Mark, for each (series id, ts in µs) of ``keys``, every row but the last write as ``superseded``.

        The last write is the store's: the highest ``seq`` (rows indexed without one are the oldest),
        then the greater writer name, then the greater partition day. Computed from the rows in the
        index, so replaying queued writes in any order ends in the same state. Returns how many
        rows changed.
        """
        if not keys:
            return 0
        by_series: dict[str, list[int]] = {}
        for sid, ts in keys:
            by_series.setdefault(sid, []).append(ts)
        series = sorted(by_series)
        rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for start in range(0, len(series), 500):
            chunk = series[start : start + 500]
            times = [ts for sid in chunk for ts in by_series[sid]]
            filters = Filters(datasource=datasource, series_ids=chunk, start_us=min(times), end_us=max(times))
            for hit in self._hits("points", filters, ["series_id", "ts_us", "seq", "writer", "day", "superseded"]):
                key = (hit["_source"]["series_id"], hit["_source"]["ts_us"])
                if key in keys:
                    rows.setdefault(key, []).append(hit)
        lines = []
        for hits in rows.values():
            latest = max(hits, key=_write_order)
            for hit in hits:
                superseded = hit is not latest
                if bool(hit["_source"].get("superseded")) != superseded:
                    lines.append(json.dumps({"update": {"_index": hit["_index"], "_id": hit["_id"]}}))
                    lines.append(json.dumps({"doc": {"superseded": superseded}}))
        if lines:
            response = self.backend.request("POST", "/_bulk", body="\n".join(lines) + "\n", ndjson=True,
                                            params={"refresh": "true"})  # fmt: skip
            if response.get("errors"):
                failed = next(i for i in response["items"] if next(iter(i.values())).get("error"))
                raise SearchRequestError(500, {"reason": f"marking superseded rows failed: {failed}"[:500]})
        return len(lines) // 2

    def _keys(self, datasource: str, query: dict[str, Any]) -> set[tuple[str, int]]:
        """(series id, ts) of the points rows ``query`` matches (the rows a replace removes)."""
        pattern = family_pattern(self.prefix, "points", datasource)
        keys: set[tuple[str, int]] = set()
        after = None
        while True:
            body = {"size": self.page_size, "query": query, "_source": ["series_id", "ts_us"],
                    "sort": [{"series_id": "asc"}, {"ts_us": "asc"}, {"writer": "asc"}, {"day": "asc"}],
                    "track_total_hits": False, **({"search_after": after} if after else {})}  # fmt: skip
            hits = (
                self._search(pattern, body, filter_path="hits.hits._source,hits.hits.sort")
                .get("hits", {})
                .get("hits", [])
            )
            keys.update((h["_source"]["series_id"], h["_source"]["ts_us"]) for h in hits)
            if len(hits) < self.page_size:
                return keys
            after = hits[-1]["sort"]

    def _hits(self, table: str, filters: Filters, fields: list[str]) -> list[dict[str, Any]]:
        """Every row ``filters`` match, superseded or not, with its index and id."""
        pattern = family_pattern(self.prefix, table, filters.datasource)
        found: list[dict[str, Any]] = []
        after = None
        while True:
            body = search_body(
                filters, table=table, size=self.page_size, fields=fields, after=after, current_only=False
            )
            response = self._search(
                pattern, body, filter_path="hits.hits._index,hits.hits._id,hits.hits._source,hits.hits.sort"
            )
            hits = response.get("hits", {}).get("hits", [])
            found.extend(hits)
            if len(hits) < self.page_size:
                return found
            after = hits[-1]["sort"]

    def delete_rows(self, table: str, datasource: str, *, day: str, writer: str) -> None:
        """Remove ``writer``'s rows of ``datasource`` on ``day`` (points: other writers' rows are reconciled)."""
        self.replace(table, datasource, [], day=day, writer=writer, generation=f"delete-{uuid.uuid4().hex}")

    def delete_other_generations(self, table: str, datasource: str, *, keep_generation: str) -> None:
        """Remove every row of ``datasource`` not written by ``keep_generation`` (the end of a rebuild)."""
        self._delete(table, datasource, datasource_delete_body(datasource, keep_generation=keep_generation))

    def _refresh(self, table: str, datasource: str) -> None:
        pattern = family_pattern(self.prefix, table, datasource)
        self.backend.request("POST", f"/{pattern}/_refresh", params={"allow_no_indices": "true"})

    def _delete(self, table: str, datasource: str, body: dict[str, Any], *, refresh: bool = True) -> None:
        pattern = family_pattern(self.prefix, table, datasource)
        # Delete-by-query only sees refreshed documents: without this, rows indexed by the previous
        # write a moment ago would survive their replacement.
        if refresh:
            self._refresh(table, datasource)
        self.backend.request(
            "POST",
            f"/{pattern}/_delete_by_query",
            body=body,
            params={"conflicts": "proceed", "refresh": "true", "allow_no_indices": "true"},
        )

    # ---- reading -----------------------------------------------------------------------------

    def read_points(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        labels: Mapping[str, str] | None = None,
        series_ids: Sequence[str] | None = None,
        provenance: bool = False,
    ) -> pd.DataFrame:
        """Same arguments and frame as :meth:`MetricStore.read_points`, served from the index."""
        columns = (*POINT_COLUMNS, *(("source", "run_id", "writer") if provenance else ()))
        filters = self._filters(datasource, metrics, start, end, labels, series_ids, only_anomalies=False)
        sources = self._search_all("points", filters, source_fields("points", provenance))
        return frame_from_sources(sources, columns)

    def read_anomalies(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        labels: Mapping[str, str] | None = None,
        series_ids: Sequence[str] | None = None,
        only_anomalies: bool = True,
    ) -> pd.DataFrame:
        """Same arguments and frame as :meth:`MetricStore.read_anomalies`, served from the index."""
        filters = self._filters(datasource, metrics, start, end, labels, series_ids, only_anomalies=only_anomalies)
        sources = self._search_all("anomalies", filters, source_fields("anomalies"))
        return frame_from_sources(sources, ANOMALY_COLUMNS)

    def list_series(self, datasource: str) -> pd.DataFrame:
        """Same frame as :meth:`MetricStore.list_series`: one row per series with its point count and ts range."""
        validate_datasource(datasource)
        rows: list[dict[str, Any]] = []
        after = None
        while True:
            body = series_body(datasource, size=self.page_size, after=after)
            response = self._search(family_pattern(self.prefix, "points", datasource), body)
            agg = response.get("aggregations", {}).get("series", {"buckets": []})
            for bucket in agg["buckets"]:
                hit = bucket["labels"]["hits"]["hits"][0]["_source"]
                rows.append({
                    "series_id": bucket["key"]["series_id"], "metric": bucket["key"]["metric"],
                    "labels": dict(hit.get("labels") or {}), "points": bucket["doc_count"],
                    "first_ts": int(bucket["first_ts"]["value"]), "last_ts": int(bucket["last_ts"]["value"]),
                })  # fmt: skip
            after = agg.get("after_key")
            if not agg["buckets"] or after is None:
                break
        if not rows:
            return empty_frame(SERIES_COLUMNS)
        frame = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
        frame["points"] = frame["points"].astype("int64")
        for column in ("first_ts", "last_ts"):
            frame[column] = pd.to_datetime(frame[column].to_numpy(dtype="int64"), unit="us", utc=True).as_unit("us")
        # The store orders by metric, then series id; the composite order is the same (both ascending).
        return frame.reset_index(drop=True)

    def list_datasources(self) -> list[str]:
        """Every datasource that has points or anomalies in the index, sorted."""
        names: set[str] = set()
        for table in TABLES:
            after = None
            while True:
                response = self._search(table_pattern(self.prefix, table), datasources_body(size=1000, after=after))
                agg = response.get("aggregations", {}).get("datasources", {"buckets": []})
                names.update(b["key"]["datasource"] for b in agg["buckets"])
                after = agg.get("after_key")
                if not agg["buckets"] or after is None:
                    break
        return sorted(names)

    def _filters(
        self, datasource: str, metrics: Any, start: Any, end: Any, labels: Any, series_ids: Any, *, only_anomalies: bool
    ) -> Filters:
        validate_datasource(datasource)
        start_ts, end_ts = _time_range(start, end)
        return Filters(
            datasource=datasource,
            metrics=None if metrics is None else ([metrics] if isinstance(metrics, str) else list(metrics)),
            series_ids=None if series_ids is None else list(series_ids),
            labels=validate_labels(labels),
            start_us=None if start_ts is None else _epoch_us(start_ts),
            end_us=None if end_ts is None else _epoch_us(end_ts),
            only_anomalies=only_anomalies,
        )

    def _search_all(self, table: str, filters: Filters, fields: list[str]) -> list[dict[str, Any]]:
        pattern = family_pattern(self.prefix, table, filters.datasource)
        sources: list[dict[str, Any]] = []
        after = None
        while True:
            body = search_body(filters, table=table, size=self.page_size, fields=fields, after=after)
            # filter_path trims ids, scores and index names from every hit: less JSON to send and decode.
            response = self._search(pattern, body, filter_path="hits.hits._source,hits.hits.sort")
            hits = response.get("hits", {}).get("hits", [])
            sources.extend(hit["_source"] for hit in hits)
            if len(hits) < self.page_size:
                return sources
            after = hits[-1]["sort"]

    def _search(self, pattern: str, body: dict[str, Any], filter_path: str | None = None) -> dict[str, Any]:
        params = {"allow_no_indices": "true", "ignore_unavailable": "true"}
        if filter_path is not None:
            params["filter_path"] = filter_path
        return self.backend.request("POST", f"/{pattern}/_search", body=body, params=params)


def _write_order(hit: dict[str, Any]) -> tuple[int, str, str]:
    """The store's order of rows of one (series, ts): seq (none: oldest), then writer, then partition day."""
    source = hit["_source"]
    return (
        -1 if source.get("seq") is None else int(source["seq"]),
        source.get("writer") or "",
        str(source.get("day") or ""),
    )


def _epoch_us(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)  # Timestamp.value is nanoseconds whatever the unit
