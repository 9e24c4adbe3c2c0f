"""The sensor that turns new materializations of a selection into metric points and detection runs.

Each tick (cursor = the highest event storage id seen):

1. resolves the selection against the asset catalog (:mod:`lupus_dagster.monitoring.catalog`);
2. finds the selected assets materialized since the cursor (one query for the assets' latest
   materializations, then one per changed asset for its new events);
3. writes their numeric metadata as points (:mod:`lupus_dagster.monitoring.metadata_points`),
   merged into the monitor's file of each day they fall on (a repeated tick rewrites the same
   points: writes are idempotent);
4. requests a run of ``[<monitor>, "anomalies"]`` per span of consecutive days that got points (a
   ranged run: detection once per span), whose materializations feed the alert sensor like a
   product's.

The cursor moves only after the points are written, so a failing tick is retried whole.
(No ``from __future__ import annotations``: Dagster reads the resource annotation at runtime.)
"""

from collections.abc import Sequence
from datetime import date

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lupus_dagster.assets.partition_range import contiguous_runs
from lupus_dagster.monitoring.catalog import catalog_nodes, dagster_url, resolve_selection
from lupus_dagster.monitoring.metadata_points import Materialization, materialization_points
from lupus_dagster.resources.store import MetricStoreResource
from lupus_metrics.schema import series_id
from lupus_store import MetricStore

PAGE = 1000


def build_monitor_sensor(
    *,
    name: str,
    datasource: str,
    selection: str,
    metadata_keys: Sequence[str],
    anomalies: dg.AssetsDefinition,
    partitions: dg.DailyPartitionsDefinition,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    """``<name>_asset_monitor``: needs the ``store`` resource; targets the ``anomalies`` asset."""
    writer = f"{name}-monitor"
    own = set(anomalies.keys)

    @dg.sensor(
        name=f"{name}_asset_monitor",
        target=[anomalies],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Numeric materialization metadata of `{selection}` -> datasource {datasource}, then detection.",
    )
    def monitor(context: dg.SensorEvaluationContext, store: MetricStoreResource) -> dg.SensorResult:
        after = int(context.cursor) if context.cursor else None
        url = dagster_url()
        local = context.repository_def.asset_graph if context.repository_def is not None else None
        nodes = catalog_nodes(
            dagster_url=url, local=local, instance_keys=[] if url else context.instance.get_asset_keys()
        )
        keys = sorted(resolve_selection(selection, nodes) - own, key=lambda k: k.to_user_string())
        records, position = new_materializations(context.instance, keys, after)
        points = materialization_points(records, metadata_keys)
        days = write_points(store.get_store(), datasource, writer, points)
        first = pd.Timestamp(partitions.start).date()
        requests = [_run_request(a, b) for a, b in contiguous_runs(d for d in days if d >= first)]
        return dg.SensorResult(
            run_requests=requests,
            cursor=str(position) if position is not None else context.cursor,
            skip_reason=None if requests else f"{len(keys)} selected asset(s), no new numeric metadata",
        )

    return monitor


def new_materializations(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey], after: int | None
) -> tuple[list[Materialization], int | None]:
    """Materializations of ``keys`` with a storage id above ``after``, oldest first; the highest id seen."""
    found: list[Materialization] = []
    position = after
    changed = [
        record.asset_entry.asset_key
        for record in instance.get_asset_records(list(keys))
        if record.asset_entry.last_materialization_record is not None
        and record.asset_entry.last_materialization_record.storage_id > (after or 0)
    ]
    for key in changed:
        cursor = None
        while True:
            page = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=PAGE, cursor=cursor, ascending=True
            )
            for record in page.records:
                event = record.asset_materialization
                found.append(Materialization(tuple(key.path), record.partition_key, record.timestamp, event.metadata))
                position = max(position or 0, record.storage_id)
            if not page.has_more:
                break
            cursor = page.cursor
    return found, position


def write_points(store: MetricStore, datasource: str, writer: str, points: pd.DataFrame) -> list[date]:
    """Merge ``points`` into ``writer``'s file of each day they fall on (same series and ts: replaced)."""
    if points.empty:
        return []
    points = points.assign(
        series_id=[
            series_id(datasource, metric, labels)
            for metric, labels in zip(points["metric"], points["labels"], strict=True)
        ]
    )
    days = sorted(set(points["ts"].dt.date))
    for day in days:
        new = points[points["ts"].dt.date == day]
        old = store.read_points(datasource, start=day, end=day, provenance=True)
        old = old[(old["writer"] == writer) & (old["ts"].dt.date == day)]
        merged = pd.concat([old[["metric", "labels", "ts", "value", "series_id"]], new], ignore_index=True)
        merged = merged.drop_duplicates(["series_id", "ts"], keep="last").drop(columns=["series_id"])
        store.write_points(datasource, merged, day=day, writer=writer, source="asset-metadata")
    return days


def _run_request(first: date, last: date) -> dg.RunRequest:
    if first == last:
        return dg.RunRequest(partition_key=first.isoformat())
    return dg.RunRequest(
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()}
    )
