"""Fixtures of the search-index suite: a fresh index prefix per test on every available backend.

OpenSearch always (the real node of the `opensearch_node` session fixture); Elasticsearch too
when LUPUS_TEST_ELASTICSEARCH_URL points at a real cluster. Backends that are not available are
not parametrized at all, so no test is ever reported skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lupus_store import MetricStore
from lupus_store.search import IndexedMetricStore, RetryQueue, SearchIndex, make_backend

ELASTICSEARCH_URL = os.environ.get("LUPUS_TEST_ELASTICSEARCH_URL")
BACKENDS = [pytest.param("opensearch", marks=[pytest.mark.slow, pytest.mark.opensearch])]
if ELASTICSEARCH_URL:
    BACKENDS.append(pytest.param("elasticsearch", marks=pytest.mark.slow))


def backend_url(request: pytest.FixtureRequest, kind: str) -> str:
    if kind == "opensearch":
        return request.getfixturevalue("opensearch_node").url
    assert ELASTICSEARCH_URL
    return ELASTICSEARCH_URL


def new_index(url: str, kind: str, **options) -> SearchIndex:
    # A prefix per test keeps tests independent on one shared node; one shard and no replica fit one node.
    return SearchIndex(make_backend(kind, url), prefix=f"t{uuid.uuid4().hex[:12]}", replicas=0, **options)


@pytest.fixture(scope="module", params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def search_url(request: pytest.FixtureRequest, backend_kind: str) -> str:
    return backend_url(request, backend_kind)


@pytest.fixture
def search_index(search_url: str, backend_kind: str) -> Iterator[SearchIndex]:
    """An empty index namespace; a small page size so that reads cross pages."""
    index = new_index(search_url, backend_kind, page_size=50)
    yield index
    index.drop()


@pytest.fixture
def parquet_store(tmp_path: Path) -> MetricStore:
    return MetricStore(tmp_path / "store")


@pytest.fixture
def retry_queue(tmp_path: Path) -> RetryQueue:
    return RetryQueue(tmp_path / "queue")


@pytest.fixture
def indexed_store(parquet_store: MetricStore, search_index: SearchIndex, retry_queue: RetryQueue) -> IndexedMetricStore:
    return IndexedMetricStore(parquet_store, search_index, retry_queue)
