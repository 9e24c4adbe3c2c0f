"""The FastAPI application: ``create_app()`` (uvicorn factory; ``lupus serve api`` starts it).

Routes live under ``/api/v1``; the OpenAPI document is ``/api/v1/openapi.json``, the docs ``/api/v1/docs``.

Example:
    >>> import tempfile
    >>> from lupus_api.settings import Settings
    >>> home = tempfile.mkdtemp()
    >>> app = create_app(Settings.from_env({"LUPUS_HOME": home}))
    >>> "/api/v1/datasources/{ds}/points" in app.openapi()["paths"]
    True
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lupus_api import problems
from lupus_api.cardinality import SeriesRegistry
from lupus_api.detections import DetectionService
from lupus_api.ingest import Ingestor
from lupus_api.limits import BodySizeLimit, TokenBuckets
from lupus_api.media import JsonMediaType
from lupus_api.routers import (
    admin,
    datasources,
    detections,
    feedback,
    health,
    incidents,
    markers,
    points,
    queries,
    silences,
)
from lupus_api.settings import Settings
from lupus_api.state import ApiState
from lupus_store.metadata import MetadataDB
from lupus_store.search import open_store

PREFIX = "/api/v1"
log = logging.getLogger("lupus_api")


def build_state(settings: Settings) -> ApiState:
    """Open the metadata DB and the store and build (not start) the workers."""
    db = MetadataDB(settings.metadata_url)
    store = open_store(settings.store_root)  # Parquet, teed to the search index when LUPUS_SEARCH_URL is set
    return ApiState(
        settings=settings,
        db=db,
        store=store,
        rate_limiter=TokenBuckets(settings.rate, settings.burst),
        ingestor=Ingestor(db, store, settings.staging_dir, threads=settings.ingest_threads),
        series=SeriesRegistry(db, store, settings.max_series),
        detections=DetectionService(db, store, settings.dagster_url),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API application; workers start with the server and stop with it."""
    settings = settings or Settings.from_env()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.ingestor.start()  # first thing: batches acknowledged before a crash go into the store
        state.detections.start()
        log.info(
            "Lupus API: store %s, staging %s, detection via %s",
            state.store.root,
            settings.staging_dir,
            state.detections.backend,
        )
        yield
        state.ingestor.stop()
        state.detections.stop()
        state.db.dispose()

    app = FastAPI(
        title="Lupus API",
        version="1.0",
        summary="Push metric points from any job, query points, series and anomalies, request detection.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.lupus = state
    problems.install(app)
    for module in (health, datasources, points, queries, detections, admin, incidents, feedback, silences, markers):
        app.include_router(module.router, prefix=PREFIX)
    app.add_middleware(JsonMediaType, openapi=app.openapi)  # 415 before a body is read
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
