"""Health (is the process up) and readiness (can it serve: database, staging, workers). No auth: probes have no token."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from lupus_api.models import Health, Ready
from lupus_api.state import ApiState, api_state

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness")
def health() -> Health:
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}}, summary="Readiness")
def ready(state: Annotated[ApiState, Depends(api_state)]):
    checks: dict[str, str] = {}
    try:
        with state.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, head = state.db.current_revision(), state.db.head_revision()
        checks["metadata"] = (
            "ok" if current == head else f"schema at {current}, code needs {head}: run `lupus db upgrade`"
        )
    except Exception as err:
        checks["metadata"] = f"unreachable: {type(err).__name__}"
    staging = state.settings.staging_dir
    checks["staging"] = "ok" if staging.is_dir() and os.access(staging, os.W_OK) else f"{staging} is not writable"
    checks["ingest_worker"] = "ok" if state.ingestor.alive else "stopped"
    body = Ready(status="ready" if all(v == "ok" for v in checks.values()) else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)
