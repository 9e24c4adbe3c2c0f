"""Store and metadata reads for the pages, cached with a time-to-live.

Store reads go through ``st.cache_data`` keyed by the store root and the query, so a
rerun (every widget click) does not hit Parquet again, and new data shows up after at
most ``LUPUS_UI_CACHE_TTL`` seconds (default 60). The store and the metadata database are
opened once per process (``st.cache_resource``).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from lupus_store import MetricStore
from lupus_store.config import metadata_url, store_root
from lupus_store.metadata import MetadataDB
from lupus_store.search import IndexedMetricStore, open_store

TTL = float(os.environ.get("LUPUS_UI_CACHE_TTL", "60"))


@st.cache_resource(show_spinner=False)
def _store(root: str) -> MetricStore | IndexedMetricStore:
    return open_store(root)  # reads from the search index when LUPUS_SEARCH_URL is set


@st.cache_resource(show_spinner=False)
def _db(url: str) -> MetadataDB:
    db = MetadataDB(url)
    db.upgrade()  # a fresh installation works without a separate `lupus db upgrade`
    return db


def store() -> MetricStore | IndexedMetricStore:
    """The metric store of ``LUPUS_STORE`` / ``LUPUS_HOME``."""
    return _store(store_root())


def db() -> MetadataDB:
    """The metadata database of ``LUPUS_METADATA_URL`` / ``LUPUS_HOME``, migrated."""
    return _db(metadata_url())


@st.cache_data(ttl=TTL, show_spinner=False)
def datasources_in_store(root: str) -> list[str]:
    return _store(root).list_datasources()


@st.cache_data(ttl=TTL, show_spinner=False)
def series(root: str, datasource: str) -> pd.DataFrame:
    """``list_series`` plus a ``label_text`` column (``region=JP,k=10``) used as the series name in charts."""
    frame = _store(root).list_series(datasource)
    return with_label_text(frame)


@st.cache_data(ttl=TTL, show_spinner=False)
def points(root: str, datasource: str, metric: str | list[str], start: date | None, end: date | None) -> pd.DataFrame:
    """Points of one or more metrics in ``start..end``, with ``label_text``."""
    frame = _store(root).read_points(datasource, metrics=metric, start=start, end=end)
    return with_label_text(frame)


@st.cache_data(ttl=TTL, show_spinner=False)
def evaluated(root: str, datasource: str, metric: str, start: date | None, end: date | None) -> pd.DataFrame:
    """Every evaluated point (expected value, band, verdict) of one metric in ``start..end``, with ``label_text``."""
    frame = _store(root).read_anomalies(datasource, metrics=metric, start=start, end=end, only_anomalies=False)
    return with_label_text(frame)


@st.cache_data(ttl=TTL, show_spinner=False)
def flagged(root: str, datasource: str, metric: str, start: date | None, end: date | None) -> pd.DataFrame:
    """Only the flagged points (``is_anomaly``) of one metric in ``start..end``, same columns as :func:`evaluated`.

    The chart page reads this instead of :func:`evaluated` when it does not draw the expected line and
    band: at 50 x 365 reading and caching every verdict cost 100-165 ms of the page script.
    """
    frame = _store(root).read_anomalies(datasource, metrics=metric, start=start, end=end, only_anomalies=True)
    return with_label_text(frame)


@st.cache_data(ttl=TTL, show_spinner=False)
def anomalies(root: str, datasource: str, start: date | None, end: date | None = None) -> pd.DataFrame:
    """Flagged points of every metric of ``datasource`` in ``start..end``, with ``label_text``."""
    frame = _store(root).read_anomalies(datasource, start=start, end=end)
    return with_label_text(frame)


def with_label_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``label_text`` column, formatted once per series and mapped by ``series_id``.

    Formatting each row's label dict cost 40-80 ms per 18,000 rows on the chart page's critical path.

    >>> frame = pd.DataFrame({"series_id": ["a", "b", "a"], "labels": [{"r": "JP"}, None, {"r": "JP"}]})
    >>> with_label_text(frame)["label_text"].tolist()
    ['r=JP', '(all)', 'r=JP']
    """
    if "series_id" not in frame.columns:
        frame["label_text"] = frame["labels"].map(label_text).astype(object)
        return frame
    first = frame.drop_duplicates("series_id")
    texts = dict(zip(first["series_id"], first["labels"].map(label_text), strict=True))
    frame["label_text"] = frame["series_id"].map(texts).astype(object)
    return frame


def label_text(labels: dict[str, str] | None) -> str:
    """``k=v,k2=v2`` sorted by key; ``(all)`` for a series without labels."""
    if not labels:
        return "(all)"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def today() -> date:
    """Today in UTC (the store's time zone); ``LUPUS_UI_TODAY`` pins it for tests and screenshots."""
    pinned = os.environ.get("LUPUS_UI_TODAY")
    return date.fromisoformat(pinned) if pinned else datetime.now(UTC).date()


def recent_anomaly_counts(root: str, datasource: str, days: int = 7) -> pd.Series:
    """Anomalies per metric over the last ``days`` days (a Series indexed by metric)."""
    frame = anomalies(root, datasource, today() - timedelta(days=days - 1), None)
    return frame.groupby("metric").size() if len(frame) else pd.Series(dtype="int64")
