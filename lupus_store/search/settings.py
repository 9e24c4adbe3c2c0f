"""Search-index configuration from the environment, and the store a front door should use.

- ``LUPUS_SEARCH_URL``: the cluster (``http://host:9200``); unset means no index.
- ``LUPUS_SEARCH_BACKEND``: ``opensearch`` (default) or ``elasticsearch``.
- ``LUPUS_SEARCH_PREFIX``: prefix of index and template names (default ``lupus``).
- ``LUPUS_SEARCH_REPLICAS`` / ``LUPUS_SEARCH_SHARDS``: per index (defaults 1 and 1).
- ``LUPUS_SEARCH_QUEUE``: directory of the retry queue (default ``$LUPUS_HOME/search-queue``).

Example:
    >>> SearchSettings.from_env({"LUPUS_SEARCH_URL": "http://127.0.0.1:9200"}).backend
    'opensearch'
    >>> SearchSettings.from_env({}) is None
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lupus_store.config import lupus_home, store_root
from lupus_store.metric_store import MetricStore
from lupus_store.search.backends import make_backend
from lupus_store.search.indexed_store import IndexedMetricStore
from lupus_store.search.retry_queue import RetryQueue
from lupus_store.search.search_index import SearchIndex


@dataclass(frozen=True)
class SearchSettings:
    url: str
    backend: str = "opensearch"
    prefix: str = "lupus"
    shards: int = 1
    replicas: int = 1
    queue_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SearchSettings | None:
        """Settings from ``env`` (default ``os.environ``), or None when ``LUPUS_SEARCH_URL`` is unset."""
        env = os.environ if env is None else env
        url = env.get("LUPUS_SEARCH_URL")
        if not url:
            return None
        return cls(
            url=url,
            backend=env.get("LUPUS_SEARCH_BACKEND", "opensearch"),
            prefix=env.get("LUPUS_SEARCH_PREFIX", "lupus"),
            shards=int(env.get("LUPUS_SEARCH_SHARDS", "1")),
            replicas=int(env.get("LUPUS_SEARCH_REPLICAS", "1")),
            queue_dir=env.get("LUPUS_SEARCH_QUEUE", ""),
        )

    def index(self) -> SearchIndex:
        """The configured :class:`SearchIndex`."""
        return SearchIndex(
            make_backend(self.backend, self.url), prefix=self.prefix, shards=self.shards, replicas=self.replicas
        )

    def queue(self) -> RetryQueue:
        """The retry queue (``LUPUS_SEARCH_QUEUE`` or ``$LUPUS_HOME/search-queue``)."""
        return RetryQueue(Path(self.queue_dir) if self.queue_dir else lupus_home() / "search-queue")


def open_store(root: str | None = None) -> MetricStore | IndexedMetricStore:
    """The store a front door (API, app, assets) should use: Parquet alone, or Parquet teed to the
    index and read from it when ``LUPUS_SEARCH_URL`` is set."""
    store = MetricStore(root or store_root())
    settings = SearchSettings.from_env()
    if settings is None:
        return store
    return IndexedMetricStore(store, settings.index(), settings.queue())
