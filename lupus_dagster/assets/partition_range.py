"""The partition days of a run, and what the Dagster instance knows about them.

A run covers one partition (the daily cron path) or a range of them (a ranged backfill: the
assets' ``BackfillPolicy`` lets Dagster put many days in one run). Dagster 1.13 gives a ranged
run's materializations one event per partition (per-day metadata goes through
``context.add_asset_metadata(..., partition_key=...)``), but an ``AssetCheckResult`` has no
partition of its own: a ranged check yields one ``AssetCheckEvaluation`` per day instead, which
is what this module helps to build.

Example:
    >>> contiguous_runs([date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 4)])
    [(datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)), (datetime.date(2026, 1, 4), datetime.date(2026, 1, 4))]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus


def run_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[date]:
    """The partition days this run covers, oldest first (one day on the cron path)."""
    return [date.fromisoformat(key) for key in context.partition_keys]


def contiguous_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted ``days`` as (first, last) spans of consecutive days."""
    spans: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if spans and spans[-1][1] + timedelta(days=1) == day:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def failed_check_days(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, days: Sequence[date]) -> set[date]:
    """The days among ``days`` whose latest evaluation of ``check_key`` failed (one storage query)."""
    if not days:
        return set()
    infos = instance.event_log_storage.get_asset_check_partition_info(
        [check_key], partition_keys=[day.isoformat() for day in days]
    )
    return {
        date.fromisoformat(info.partition_key)
        for info in infos
        if info.partition_key and info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
    }


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, days: Sequence[date]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """Partition key -> its latest materialization, for the check evaluations that target it (one query)."""
    keys = [day.isoformat() for day in days]
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    cursor = None
    while len(latest) < len(keys):
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys), limit=max(len(keys), 100), cursor=cursor
        )
        for record in page.records:  # newest first: the first one seen of a partition is its latest
            if record.partition_key and record.partition_key not in latest:
                latest[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                    run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
                )
        if not page.has_more:
            break
        cursor = page.cursor
    return latest
