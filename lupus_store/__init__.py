"""Persistence shared by every front door: the metric store and the metadata database."""

from lupus_store.metric_store import CompactionReport, MetricStore, WriteResult

__all__ = ["CompactionReport", "MetricStore", "WriteResult"]
