"""HTTP client of the Lupus REST API: push points from any job, query, request detection.

Uses only httpx and pandas (no store, no Dagster), so any job can install ``lupus`` and push.
Names are checked here by the server's own rules (:mod:`lupus_metrics.names`) before anything
is sent: a datasource name is a URL path segment, and a bad metric name or label fails the job
at once with the row named instead of after a round trip.
Every pushed batch gets an idempotency key, kept across retries, so a retry after a timeout or a
server restart never stores a batch twice. 5xx answers, 429 and connection errors are retried
with exponential backoff; other errors raise :class:`LupusApiError` with the server's problem body.

Example:
    >>> client = LupusClient("http://127.0.0.1:8000/", "lps_...")
    >>> client.base_url
    'http://127.0.0.1:8000/api/v1'
    >>> body = points_payload([{"metric": "rows.count", "labels": {"region": "JP"}, "ts": "2026-01-01", "value": 1200}])
    >>> body["points"][0]["ts"], body["points"][0]["value"]
    ('2026-01-01T00:00:00+00:00', 1200.0)
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import httpx
import pandas as pd

from lupus_metrics.names import validate_datasource, validate_labels, validate_metric_name

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOISE_COLUMNS = ("n", "stderr")


class LupusApiError(Exception):
    """The API refused a request; ``status`` and ``problem`` (type, title, detail, where) say why."""

    def __init__(self, status: int, problem: Mapping[str, Any]):
        self.status = status
        self.problem = dict(problem)
        where = (problem.get("where") or {}).get("field")
        detail = problem.get("detail") or problem.get("title") or "error"
        super().__init__(f"HTTP {status}: {detail}" + (f" (at {where})" if where else ""))


def points_payload(points: pd.DataFrame | Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The JSON body of a push: ts as ISO 8601 (naive means UTC), NaN as null (missing).

    Optional ``n`` and ``stderr`` columns are sent where known (a point without them omits them).

    >>> points_payload([{"metric": "ranking.ndcg", "ts": "2026-01-01", "value": 0.41, "n": 5000, "stderr": 0.004}])
    {'points': [{'metric': 'ranking.ndcg', 'labels': {}, 'ts': '2026-01-01T00:00:00+00:00', 'value': 0.41, 'n': 5000.0, 'stderr': 0.004}]}
    """
    frame = points if isinstance(points, pd.DataFrame) else pd.DataFrame(list(points))
    missing = [c for c in ("metric", "ts", "value") if c not in frame.columns]
    if missing:
        raise ValueError(f"points need columns metric, ts, value (labels, n, stderr optional); missing {missing}")
    ts = _timestamps(frame["ts"])
    absent = [None] * len(frame)
    labels = frame["labels"] if "labels" in frame.columns else absent
    noise = [frame[c] if c in frame.columns else absent for c in NOISE_COLUMNS]
    out = []
    rows = zip(frame["metric"], labels, ts, frame["value"], *noise, strict=True)
    for row, (metric, label, stamp, value, n, stderr) in enumerate(rows):
        point = {"metric": validate_metric_name(metric, row=row),
                 "labels": validate_labels(label if isinstance(label, Mapping) or not _missing(label) else None, row=row),
                 "ts": stamp.isoformat(), "value": _number(value)}  # fmt: skip
        for name, given in (("n", n), ("stderr", stderr)):
            if _number(given) is not None:
                point[name] = _number(given)
        out.append(point)
    return {"points": out}


def _timestamps(column: pd.Series) -> pd.Series:
    """``ts`` as UTC timestamps; numbers are epoch seconds, as the server reads them (not pandas' nanoseconds)."""
    if pd.api.types.is_bool_dtype(column) or any(isinstance(v, bool) for v in column):
        raise ValueError("ts: true/false are not timestamps")
    if pd.api.types.is_numeric_dtype(column):
        return pd.to_datetime(column, unit="s", utc=True)
    return pd.to_datetime(column, utc=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):  # the server refuses booleans as numbers: refuse them here, before sending
        raise ValueError(f"{value!r} is not a number")
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class LupusClient:
    """A Lupus API client bound to one server and one token.

    ``retries`` attempts after the first, waiting ``backoff * 2**attempt`` seconds (with jitter,
    at most ``max_backoff``, or the server's ``Retry-After``).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 60.0,
        retries: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        batch_size: int = 10_000,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = url.rstrip("/") + "/api/v1"
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "lupus-client/1"},
        )

    def __enter__(self) -> LupusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- pushing --------------------------------------------------------------------------------

    def push(
        self, datasource: str, points: pd.DataFrame | Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> list[str]:
        """Push points (frame or records with ``metric, labels, ts, value``, optionally ``n, stderr``); returns the batch ids.

        Larger inputs are split into batches of ``batch_size``, each with its own idempotency key
        (``<idempotency_key>-<n>`` when one is given, so re-running a job re-sends the same keys).
        """
        frame = points if isinstance(points, pd.DataFrame) else pd.DataFrame(list(points))
        if frame.empty:
            return []
        batch_ids = []
        for number, start in enumerate(range(0, len(frame), self.batch_size)):
            chunk = frame.iloc[start : start + self.batch_size]
            key = f"{idempotency_key}-{number}" if idempotency_key else uuid.uuid4().hex
            body = json.dumps(points_payload(chunk), separators=(",", ":")).encode()
            response = self._request(
                "POST",
                f"/datasources/{validate_datasource(datasource)}/points",
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": key},
            )
            batch_ids.append(response["batch_id"])
        return batch_ids

    def batch_status(self, datasource: str, batch_id: str) -> dict[str, Any]:
        """``{"status": "staged" | "ingested" | "failed", ...}`` of a pushed batch."""
        return self._request("GET", f"/datasources/{validate_datasource(datasource)}/batches/{batch_id}")

    def wait_for_batches(self, datasource: str, batch_ids: Iterable[str], *, timeout: float = 60.0) -> None:
        """Block until every batch is in the store (queryable); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        for batch_id in batch_ids:
            while self.batch_status(datasource, batch_id)["status"] != "ingested":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"batch {batch_id} not ingested within {timeout} s")
                time.sleep(0.05)

    # ---- reading --------------------------------------------------------------------------------

    def query(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        start: str | date | datetime | None = None,
        end: str | date | datetime | None = None,
        page_size: int = 10_000,
    ) -> pd.DataFrame:
        """Points (``metric, labels, series_id, ts, value, n, stderr``) matching the filters, every page."""
        rows = self._pages(
            f"/datasources/{validate_datasource(datasource)}/points",
            "points",
            self._filters(metrics, labels, start, end, page_size),
        )
        frame = _frame(rows, ["metric", "labels", "series_id", "ts", "value", *NOISE_COLUMNS], ["ts"])
        for column in ("value", *NOISE_COLUMNS):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")  # JSON null -> NaN
        return frame

    def series(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        page_size: int = 10_000,
    ) -> pd.DataFrame:
        """Series of a datasource with point counts and first/last ts."""
        rows = self._pages(
            f"/datasources/{validate_datasource(datasource)}/series",
            "series",
            self._filters(metrics, labels, None, None, page_size),
        )
        return _frame(rows, ["series_id", "metric", "labels", "points", "first_ts", "last_ts"], ["first_ts", "last_ts"])

    def anomalies(
        self,
        datasource: str,
        *,
        metrics: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        start: str | date | datetime | None = None,
        end: str | date | datetime | None = None,
        only_anomalies: bool = True,
        page_size: int = 10_000,
    ) -> pd.DataFrame:
        """Anomaly records (only flagged points unless ``only_anomalies=False``)."""
        params = self._filters(metrics, labels, start, end, page_size)
        params.append(("only_anomalies", str(only_anomalies).lower()))
        rows = self._pages(f"/datasources/{validate_datasource(datasource)}/anomalies", "anomalies", params)
        columns = [
            "series_id",
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
            "params",
            "run_id",
        ]
        return _frame(rows, columns, ["ts"])

    # ---- detection ------------------------------------------------------------------------------

    def request_detection(
        self,
        datasource: str,
        *,
        start: str | date,
        end: str | date,
        rules: Sequence[Mapping[str, Any]],
        lookback_days: int = 120,
    ) -> str:
        """Launch detection over ``start..end``; returns the request id (a Dagster run id when Dagster runs it)."""
        body = {"start": str(start), "end": str(end), "rules": list(rules), "lookback_days": lookback_days}
        return self._request("POST", f"/datasources/{validate_datasource(datasource)}/detections", json=body)["id"]

    def detection_status(self, datasource: str, request_id: str) -> dict[str, Any]:
        """``{"status": "queued" | "running" | "succeeded" | "failed", "result": ..., ...}``."""
        return self._request("GET", f"/datasources/{validate_datasource(datasource)}/detections/{request_id}")

    def wait_for_detection(self, datasource: str, request_id: str, *, timeout: float = 300.0) -> dict[str, Any]:
        """Block until the request finished; returns its final status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.detection_status(datasource, request_id)
            if status["status"] in ("succeeded", "failed"):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"detection {request_id} still {status['status']} after {timeout} s")
            time.sleep(0.25)

    # ---- incidents, silences, feedback ----------------------------------------------------------

    def incidents(
        self,
        datasource: str | None = None,
        *,
        status: str | None = None,
        since: str | date | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Incidents (of one datasource, or of every one the token may read), active first.

        ``status``: ``active`` (open and acknowledged), ``open``, ``acknowledged`` or ``resolved``.
        """
        params = [(k, str(v)) for k, v in (("status", status), ("since", since), ("limit", limit)) if v is not None]
        path = f"/datasources/{datasource}/incidents" if datasource else "/incidents"
        return self._request("GET", path, params=params)["incidents"]

    def incident(self, datasource: str, incident_id: int) -> dict[str, Any]:
        """One incident with its alerts (``members``) and root-cause slices (``top_slices``)."""
        return self._request("GET", f"/datasources/{datasource}/incidents/{incident_id}")

    def acknowledge(
        self, datasource: str, incident_id: int, *, verdict: str, note: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Acknowledge with a verdict: ``real``, ``false_alarm`` or ``expected``."""
        body = {"verdict": verdict, "note": note, "by": by}
        return self._request("POST", f"/datasources/{datasource}/incidents/{incident_id}/acknowledge", json=body)

    def resolve(self, datasource: str, incident_id: int, *, note: str | None = None) -> dict[str, Any]:
        return self._request("POST", f"/datasources/{datasource}/incidents/{incident_id}/resolve", json={"note": note})

    def silence(
        self,
        datasource: str,
        *,
        reason: str,
        duration_hours: float | None = None,
        ends_at: str | datetime | None = None,
        product: str | None = None,
        metric: str = "*",
        labels: Mapping[str, str] | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Silence matching alerts (metric glob, label globs) for ``duration_hours`` or until ``ends_at``."""
        body = {
            "reason": reason,
            "duration_hours": duration_hours,
            "product": product,
            "metric": metric,
            "labels": dict(labels or {}),
            "author": author,
            "ends_at": ends_at.isoformat() if isinstance(ends_at, datetime) else ends_at,
        }
        return self._request(
            "POST", f"/datasources/{datasource}/silences", json={k: v for k, v in body.items() if v is not None}
        )

    def silences(self, datasource: str, *, active: bool = False) -> list[dict[str, Any]]:
        return self._request("GET", f"/datasources/{datasource}/silences", params={"active": str(active).lower()})[
            "silences"
        ]

    def expire_silence(self, datasource: str, silence_id: int) -> dict[str, Any]:
        """End a silence now."""
        return self._request("DELETE", f"/datasources/{datasource}/silences/{silence_id}")

    def mark(
        self,
        datasource: str,
        label: str,
        *,
        ts: str | datetime | None = None,
        kind: str = "release",
        note: str | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Mark an event (``kind``: release, deploy, data, other) at ``ts`` (default now) on the datasource's charts."""
        body = {"label": label, "kind": kind, "note": note, "author": author,
                "ts": ts.isoformat() if isinstance(ts, datetime) else ts}  # fmt: skip
        return self._request(
            "POST", f"/datasources/{datasource}/markers", json={k: v for k, v in body.items() if v is not None}
        )

    def markers(self, datasource: str, *, start: str | None = None, end: str | None = None) -> list[dict[str, Any]]:
        """Markers of the datasource on the days ``start..end`` (YYYY-MM-DD, inclusive), oldest first."""
        params = {k: v for k, v in (("start", start), ("end", end)) if v}
        return self._request("GET", f"/datasources/{datasource}/markers", params=params)["markers"]

    def rules(self, datasource: str, *, product: str | None = None) -> list[dict[str, Any]]:
        """Each alerting rule's measured precision (``real / judged``)."""
        params = {"product": product} if product else {}
        return self._request("GET", f"/datasources/{datasource}/rules", params=params)["rules"]

    # ---- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _filters(metrics, labels, start, end, page_size: int) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("limit", str(page_size))]
        if metrics is not None:
            params += [("metric", m) for m in ([metrics] if isinstance(metrics, str) else metrics)]
        params += [("label", f"{k}:{v}") for k, v in (labels or {}).items()]
        params += [(name, str(value)) for name, value in (("start", start), ("end", end)) if value is not None]
        return params

    def _pages(self, path: str, key: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self._request("GET", path, params=params + ([("cursor", cursor)] if cursor else []))
            rows.extend(page[key])
            cursor = page.get("next_cursor")
            if not cursor:
                return rows

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            wait = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                time.sleep(wait)
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                retry_after = response.headers.get("Retry-After", "")
                time.sleep(min(self.max_backoff, float(retry_after)) if retry_after.isdigit() else wait)
                continue
            if response.is_error:
                try:
                    problem = response.json()
                except ValueError:
                    problem = {"detail": response.text[:500]}
                raise LupusApiError(response.status_code, problem if isinstance(problem, dict) else {"detail": problem})
            return response.json()
        raise AssertionError("unreachable")


def _frame(rows: list[dict[str, Any]], columns: list[str], times: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
