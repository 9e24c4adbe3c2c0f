"""What happened since the alert sensor's last tick: new anomaly materializations, finished checks.

Three positions are kept in the sensor cursor, all storage ids of the Dagster instance:

- ``materialization``: the last materialization event seen of ``[product, "anomalies"]``
  (``fetch_materializations`` with ``after_storage_id``, which works on every event log
  storage, the run-sharded SQLite one of ``dagster dev`` included);
- ``metrics``: the same for ``[product, "metrics"]`` (each new day is checked for missing segments);
- ``checks``: a watermark over the ``asset_check_executions`` table: every execution with a
  smaller or equal id has finished. Executions are recorded when planned and completed later,
  so the watermark stops below the oldest execution still running; executions above it that
  were already seen come back next tick and de-duplication drops them.

Without a cursor (a new sensor, or a reset one) only the last :data:`FIRST_TICK_LOOKBACK` of
events is read: turning alerts on for a product with a year of history must not post a year of
messages.

Example:
    >>> AlertCursor.parse(None)
    AlertCursor(materialization=None, checks=None, metrics=None)
    >>> AlertCursor.parse(AlertCursor(materialization=42, checks=7, metrics=3).serialize())
    AlertCursor(materialization=42, checks=7, metrics=3)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

PAGE = 100
FIRST_TICK_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class AlertCursor:
    materialization: int | None = None
    checks: int | None = None
    metrics: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            # A bare storage id (older or hand-set cursor) is the materialization position.
            return cls(materialization=int(text))
        return cls(materialization=data.get("materialization"), checks=data.get("checks"), metrics=data.get("metrics"))

    def serialize(self) -> str:
        return json.dumps(
            {"materialization": self.materialization, "checks": self.checks, "metrics": self.metrics}, sort_keys=True
        )


@dataclass(frozen=True)
class AnomalyMaterialization:
    storage_id: int
    run_id: str
    partition: str | None
    datasource: str | None
    timestamp: float


@dataclass(frozen=True)
class FailedCheck:
    execution_id: int
    check_name: str
    partition: str | None
    timestamp: float
    severity: str  # "ERROR" or "WARN"
    description: str | None
    metadata: dict[str, object]


def new_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, after: int | None, *, limit: int = PAGE
) -> tuple[list[AnomalyMaterialization], int | None, bool]:
    """Materializations of ``asset_key`` after storage id ``after``, oldest first; the new position; more left?"""
    since = None if after is not None else _first_tick_cutoff()
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=after, after_timestamp=since),
        limit=limit,
        ascending=True,
    )
    found = []
    for record in result.records:
        materialization = record.asset_materialization
        metadata = materialization.metadata if materialization else {}
        datasource = metadata.get("datasource")
        found.append(
            AnomalyMaterialization(
                storage_id=record.storage_id,
                run_id=record.run_id,
                partition=record.partition_key,
                datasource=str(datasource.value) if datasource is not None else None,
                timestamp=record.timestamp,
            )
        )
    position = max([after or 0, *(item.storage_id for item in found)]) or after
    return found, position, result.has_more


def finished_checks(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey], watermark: int | None
) -> tuple[list[FailedCheck], int | None]:
    """Failed evaluations among executions above ``watermark``, and the new watermark."""
    storage = instance.event_log_storage
    failed: list[FailedCheck] = []
    highest = watermark or 0
    running: list[int] = []
    since = None if watermark is not None else _first_tick_cutoff()
    for key in check_keys:
        for record in _executions_above(storage, key, watermark or 0, since):
            highest = max(highest, record.id)
            if record.status == AssetCheckExecutionRecordStatus.FAILED:
                failed.append(_failed_check(record))
            elif record.status == AssetCheckExecutionRecordStatus.PLANNED and _run_in_progress(instance, record.run_id):
                running.append(record.id)
    new_watermark = min(running) - 1 if running else highest
    return failed, (new_watermark if new_watermark > 0 else watermark)


def _executions_above(
    storage, key: dg.AssetCheckKey, watermark: int, since: float | None
) -> list[AssetCheckExecutionRecord]:
    # The history is newest first and pages downwards (``cursor`` = "ids below").
    records: list[AssetCheckExecutionRecord] = []
    cursor = None
    while True:
        page = storage.get_asset_check_execution_history(key, limit=PAGE, cursor=cursor)
        records += [
            record for record in page if record.id > watermark and (since is None or record.create_timestamp >= since)
        ]
        if len(page) < PAGE or page[-1].id <= watermark or (since is not None and page[-1].create_timestamp < since):
            return records
        cursor = page[-1].id


def _run_in_progress(instance: dg.DagsterInstance, run_id: str) -> bool:
    record = instance.get_run_record_by_id(run_id)
    # A deleted run or one that finished without evaluating the check will never complete it.
    return record is not None and not record.dagster_run.is_finished


def _failed_check(record: AssetCheckExecutionRecord) -> FailedCheck:
    evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
    metadata = {key: value.value for key, value in (getattr(evaluation, "metadata", None) or {}).items()}
    severity = getattr(evaluation, "severity", None)
    return FailedCheck(
        execution_id=record.id,
        check_name=record.key.name,
        partition=record.partition,
        timestamp=record.event.timestamp if record.event else record.create_timestamp,
        severity=severity.value if severity is not None else "ERROR",
        description=getattr(evaluation, "description", None),
        metadata=metadata,
    )


def _first_tick_cutoff() -> float:
    return time.time() - FIRST_TICK_LOOKBACK.total_seconds()


def utc_day(timestamp: float) -> str:
    """The UTC date of a POSIX timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()
