"""The nightly compaction job: fewer files, the same query results, a failing datasource named."""

import pandas as pd

from lupus_dagster.definitions import defs
from lupus_dagster.jobs.store_compaction import lupus_store_compaction
from lupus_dagster.resources.store import MetricStoreResource
from lupus_store import MetricStore


def _files(root, datasource: str) -> int:
    return len(list(root.glob(f"points/datasource={datasource}/**/*.parquet")))


def test_the_job_compacts_every_datasource_and_reads_stay_the_same(tmp_path):
    store = MetricStore(tmp_path)
    for datasource in ("ds-a", "ds-b"):
        for day in pd.date_range("2026-01-01", periods=10, tz="UTC"):
            frame = pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day], "value": [1.0]})
            for writer in ("metrics", "push-1"):  # two writers of the same series: compaction keeps both rows
                store.write_points(datasource, frame, day=day.date(), writer=writer)
    before = {ds: store.read_points(ds, provenance=True) for ds in ("ds-a", "ds-b")}
    files_before = _files(tmp_path, "ds-a")
    result = lupus_store_compaction.execute_in_process(resources={"store": MetricStoreResource(root=str(tmp_path))})
    assert result.success
    totals = result.output_for_node("store_compaction")
    assert totals["datasources"] == 2 and totals["months_compacted"] >= 2
    assert _files(tmp_path, "ds-a") < files_before == 20
    for datasource, frame in before.items():
        pd.testing.assert_frame_equal(MetricStore(tmp_path).read_points(datasource, provenance=True), frame)


def test_a_datasource_that_fails_is_named_and_the_others_are_compacted(tmp_path):
    store = MetricStore(tmp_path)
    for day in pd.date_range("2026-01-01", periods=3, tz="UTC"):
        frame = pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day], "value": [1.0]})
        store.write_points("ds-a", frame, day=day.date(), writer="metrics")
    result = lupus_store_compaction.execute_in_process(
        run_config={"ops": {"store_compaction": {"config": {"datasources": ["ds-a", "Not a name!"]}}}},
        resources={"store": MetricStoreResource(root=str(tmp_path))},
        raise_on_error=False,
    )
    assert not result.success
    assert "1 of 2 datasources: Not a name!" in result.failure_data_for_node("store_compaction").error.message
    assert _files(tmp_path, "ds-a") == 1


def test_the_nightly_schedule_is_in_the_code_location_and_running_by_default():
    schedule = defs.get_schedule_def("lupus_store_compaction_nightly")
    assert schedule.job_name == "lupus_store_compaction" and schedule.cron_schedule == "30 3 * * *"
    assert schedule.default_status.value == "RUNNING"
