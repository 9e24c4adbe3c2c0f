"""Optional OpenSearch / Elasticsearch serving index of points and anomalies (see docs/search.md).

Parquet (:class:`lupus_store.MetricStore`) stays the source of truth; the index is a replica
that reads can be served from. :class:`IndexedMetricStore` writes to both; :func:`rebuild`
re-indexes from Parquet; :func:`open_store` picks the right store from the environment.
"""

from lupus_store.search.backends import (
    ElasticsearchBackend,
    IndexUnavailableError,
    OpenSearchBackend,
    SearchRequestError,
    make_backend,
)
from lupus_store.search.bulk import BulkFailure, BulkReport, BulkSender
from lupus_store.search.indexed_store import CatchUpReport, IndexedMetricStore, IndexedWriteResult
from lupus_store.search.rebuild import RebuildReport, rebuild
from lupus_store.search.retry_queue import QueueKey, RetryQueue
from lupus_store.search.search_index import SearchIndex
from lupus_store.search.settings import SearchSettings, open_store

__all__ = [
    "BulkFailure", "BulkReport", "BulkSender", "CatchUpReport", "ElasticsearchBackend", "IndexUnavailableError",
    "IndexedMetricStore", "IndexedWriteResult", "OpenSearchBackend", "QueueKey", "RebuildReport", "RetryQueue",
    "SearchIndex", "SearchRequestError", "SearchSettings", "make_backend", "open_store", "rebuild",
]  # fmt: skip
