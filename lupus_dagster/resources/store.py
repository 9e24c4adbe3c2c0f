"""The metric store as a Dagster resource, shared by every product's assets."""

from __future__ import annotations

import dagster as dg

from lupus_store import MetricStore
from lupus_store.config import store_root
from lupus_store.search import IndexedMetricStore, open_store


class MetricStoreResource(dg.ConfigurableResource):
    """Points at the metric store: ``root`` is a path or ``s3://bucket/prefix`` (default ``LUPUS_STORE``).

    Example:
        >>> MetricStoreResource(root="/tmp/lupus-store").get_store()
        MetricStore('/tmp/lupus-store')
    """

    root: str | None = None

    def get_store(self) -> MetricStore | IndexedMetricStore:
        return open_store(self.root or store_root())  # teed to the search index when LUPUS_SEARCH_URL is set
