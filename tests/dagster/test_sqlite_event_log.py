"""Lupus's SQLite event log (the demo's instance) stores what Dagster's own SQLite event log stores.

A ranged run of partitioned assets and a per-partition check runs once on each storage, with
Dagster's event batching on; every query the UI and the sensors make must answer the same.
"""

import dagster as dg
import pytest

from lupus_dagster.event_batches import EVENT_BATCH_SIZE
from lupus_dagster.sqlite_event_log import SqliteEventLogStorage

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-13")
KEYS = DAYS.get_partition_keys()


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def table(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata({"rows": int(key[-2:]) * 10}, partition_key=key)
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[table])
def summary(context: dg.AssetExecutionContext) -> None:
    for key in context.partition_keys:
        context.add_asset_metadata({"ok": True}, partition_key=key)


@dg.asset_check(asset=table, partitions_def=DAYS)
def enough_rows(context: dg.AssetCheckExecutionContext):
    for key in context.partition_keys:
        yield dg.AssetCheckEvaluation(
            asset_key=table.key, check_name="enough_rows", passed=not key.endswith("07"), partition=key
        )
    yield dg.Output(None)


def _instance(tmp_path, lupus: bool):
    tmp_path.mkdir(parents=True, exist_ok=True)
    overrides = None
    if lupus:
        config = {"base_dir": str(tmp_path / "history" / "runs")}
        storage = {"module": "lupus_dagster.sqlite_event_log", "class": "SqliteEventLogStorage", "config": config}
        overrides = {"event_log_storage": storage}
    return dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides)


def _ranged_run(instance) -> str:
    tags = {"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]}
    result = dg.materialize([table, summary, enough_rows], instance=instance, tags=tags)
    assert result.success
    return result.run_id


def _what_the_instance_knows(instance, run_id: str) -> dict:
    records = instance.get_records_for_run(run_id, limit=10_000).records
    check_key = dg.AssetCheckKey(table.key, "enough_rows")
    checks = instance.event_log_storage.get_asset_check_partition_info([check_key], partition_keys=KEYS)
    return {
        "run events": sorted(r.event_log_entry.dagster_event_type.value for r in records if r.event_log_entry.is_dagster_event),
        "materialized": {k.to_user_string(): sorted(instance.get_materialized_partitions(k)) for k in (table.key, summary.key)},
        "rows per day": {
            r.partition_key: r.asset_materialization.metadata["rows"].value
            for r in instance.fetch_materializations(table.key, limit=100).records
        },
        "planned": len(instance.fetch_planned_materializations(dg.AssetRecordsFilter(asset_key=summary.key), limit=100).records),
        "check per day": sorted((i.partition_key, i.latest_execution_status.value) for i in checks),
        "latest": instance.get_latest_materialization_event(summary.key).dagster_event.partition,
    }  # fmt: skip


@pytest.fixture
def batching(monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


def test_a_ranged_run_leaves_the_same_records_as_in_dagsters_sqlite_event_log(tmp_path, batching):
    with _instance(tmp_path / "dagster", lupus=False) as instance:
        expected = _what_the_instance_knows(instance, _ranged_run(instance))
    with _instance(tmp_path / "lupus", lupus=True) as instance:
        assert isinstance(instance.event_log_storage, SqliteEventLogStorage)
        got = _what_the_instance_knows(instance, _ranged_run(instance))
    assert got == expected
    assert len(got["rows per day"]) == len(KEYS) and ("2026-01-07", "FAILED") in got["check per day"]


def test_another_process_reads_what_was_written(tmp_path, batching):
    # A second storage object on the same files stands for the webserver reading a run worker's events.
    with _instance(tmp_path, lupus=True) as instance:
        run_id = _ranged_run(instance)
        written = _what_the_instance_knows(instance, run_id)
    with _instance(tmp_path, lupus=True) as reader:
        assert _what_the_instance_knows(reader, run_id) == written


def test_connections_commit_with_synchronous_normal(tmp_path):
    storage = SqliteEventLogStorage(str(tmp_path))
    with storage.index_connection() as index, storage.run_connection("some-run") as run:
        modes = [conn.exec_driver_sql("PRAGMA synchronous").scalar() for conn in (index, run)]
        journals = [conn.exec_driver_sql("PRAGMA journal_mode").scalar() for conn in (index, run)]
    assert modes == [1, 1] and journals == ["wal", "wal"]  # 1 = NORMAL, safe in WAL mode


def test_a_watcher_in_another_storage_sees_a_running_runs_events(tmp_path):
    """The webserver streams a running run's logs by watching ``<run_id>.db``; kept connections must not hide them."""
    import logging
    import time

    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log import SqliteEventLogStorage as DagsterStorage
    from dagster._core.utils import make_new_run_id

    def entry(run_id: str, message: str) -> EventLogEntry:
        return EventLogEntry(error_info=None, level=logging.INFO, user_message=message, run_id=run_id,
                             timestamp=time.time())  # fmt: skip

    base = str(tmp_path / "runs")
    writer, webserver = SqliteEventLogStorage(base), DagsterStorage(base)
    run_id = make_new_run_id()
    writer.store_event(entry(run_id, "started"))
    seen: list[str] = []

    def callback(event: EventLogEntry, _cursor: str) -> None:
        seen.append(event.user_message)

    webserver.watch(run_id, None, callback)
    try:
        time.sleep(0.5)  # the watcher is scheduled; the writer's connection stays open
        for n in range(3):
            writer.store_event(entry(run_id, f"step {n}"))
        deadline = time.monotonic() + 10
        while "step 2" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "step 2" in seen
    finally:
        webserver.end_watch(run_id, callback)
        webserver.dispose()
        writer.dispose()
