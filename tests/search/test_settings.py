"""Which store a front door gets, from the environment."""

from __future__ import annotations

import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_store import MetricStore
from lupus_store.search import ElasticsearchBackend, IndexedMetricStore, OpenSearchBackend, SearchSettings, open_store


def test_without_a_search_url_the_store_is_parquet_alone(monkeypatch, tmp_path):
    monkeypatch.delenv("LUPUS_SEARCH_URL", raising=False)
    assert type(open_store(str(tmp_path))) is MetricStore


def test_with_a_search_url_writes_are_teed_and_reads_served_by_the_index(monkeypatch, tmp_path):
    monkeypatch.setenv("LUPUS_SEARCH_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LUPUS_SEARCH_BACKEND", "elasticsearch")
    monkeypatch.setenv("LUPUS_SEARCH_PREFIX", "prod")
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path))
    monkeypatch.delenv("LUPUS_SEARCH_QUEUE", raising=False)
    store = open_store(str(tmp_path / "store"))
    assert isinstance(store, IndexedMetricStore)
    assert isinstance(store.index.backend, ElasticsearchBackend) and store.index.prefix == "prod"
    assert store.queue.directory == tmp_path / "search-queue"


def test_opensearch_is_the_default_backend():
    settings = SearchSettings.from_env({"LUPUS_SEARCH_URL": "http://127.0.0.1:9"})
    assert isinstance(settings.index().backend, OpenSearchBackend)


def test_an_unknown_backend_or_a_bad_prefix_is_a_clear_error():
    with pytest.raises(LupusValidationError, match="backend"):
        SearchSettings.from_env({"LUPUS_SEARCH_URL": "http://x", "LUPUS_SEARCH_BACKEND": "solr"}).index()
    with pytest.raises(LupusValidationError, match="prefix"):
        SearchSettings.from_env({"LUPUS_SEARCH_URL": "http://x", "LUPUS_SEARCH_PREFIX": "Bad-Prefix"}).index()
