"""What one API process holds: settings, metadata DB, metric store, the ingest and detection workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from lupus_api.limits import TokenBuckets
from lupus_api.settings import Settings
from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB

if TYPE_CHECKING:
    from lupus_api.cardinality import SeriesRegistry
    from lupus_api.detections import DetectionService
    from lupus_api.ingest import Ingestor


@dataclass
class ApiState:
    """Shared by every request of one process (each part is thread-safe)."""

    settings: Settings
    db: MetadataDB
    store: MetricStore
    rate_limiter: TokenBuckets
    ingestor: Ingestor
    series: SeriesRegistry
    detections: DetectionService


async def api_state(request: Request) -> ApiState:
    """A dependency: the process's :class:`ApiState`.

    ``async`` although it does not wait: FastAPI runs a plain ``def`` dependency in a worker
    thread, and that hop cost more than the look-up, on every request.
    """
    return request.app.state.lupus
