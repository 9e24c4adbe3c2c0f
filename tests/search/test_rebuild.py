"""`rebuild` (and `lupus index rebuild`) makes the index equal to Parquet, whatever it held before."""

from __future__ import annotations

import os
import subprocess
import sys

from lupus_store.search import rebuild

from .frames import assert_same_frame
from .sample_data import DATASOURCE, OTHER, SIBLING, days, points_of_day, write_sample


def assert_index_equals_parquet(store, index, datasource):
    index.refresh()
    assert_same_frame(store.read_points(datasource, provenance=True), index.read_points(datasource, provenance=True))
    assert_same_frame(
        store.read_anomalies(datasource, only_anomalies=False), index.read_anomalies(datasource, only_anomalies=False)
    )
    assert_same_frame(store.list_series(datasource), index.list_series(datasource))


def test_rebuild_indexes_what_was_written_to_parquet_alone(parquet_store, search_index):
    write_sample(parquet_store)
    report = rebuild(parquet_store, search_index)
    # Every stored row, also the 12 that a later write superseded (they are marked, not dropped, as in Parquet).
    superseded = 12
    assert report.failures == [] and report.rows == sum(
        len(parquet_store.read_points(ds)) for ds in (DATASOURCE, SIBLING, OTHER)
    ) + superseded + len(parquet_store.read_anomalies(DATASOURCE, only_anomalies=False))
    for datasource in (DATASOURCE, SIBLING, OTHER):
        assert_index_equals_parquet(parquet_store, search_index, datasource)


def test_rebuild_removes_rows_that_parquet_no_longer_has(indexed_store):
    for day in days()[:3]:
        indexed_store.write_points(DATASOURCE, points_of_day(day), day=day, writer="metrics")
    indexed_store.store.delete_points(DATASOURCE, day=days()[1], writer="metrics")  # behind the index's back
    rebuild(indexed_store.store, indexed_store.index, datasource=DATASOURCE)
    assert_index_equals_parquet(indexed_store.store, indexed_store.index, DATASOURCE)


def test_rebuild_of_one_datasource_leaves_its_family_alone(indexed_store):
    indexed_store.write_points(DATASOURCE, points_of_day(days()[0]), day=days()[0], writer="metrics")
    indexed_store.write_points(SIBLING, points_of_day(days()[0]), day=days()[0], writer="metrics")
    indexed_store.store.delete_points(SIBLING, day=days()[0], writer="metrics")
    rebuild(indexed_store.store, indexed_store.index, datasource=DATASOURCE)
    indexed_store.index.refresh()
    assert len(indexed_store.index.read_points(SIBLING)) == 12  # stale, but not this rebuild's business


def test_rebuild_reads_compacted_months_and_the_day_files_that_supersede_them(parquet_store, search_index):
    write_sample(parquet_store)
    parquet_store.compact(DATASOURCE)
    parquet_store.write_points(DATASOURCE, points_of_day(days()[0]).iloc[:2], day=days()[0], writer="metrics")
    rebuild(parquet_store, search_index, datasource=DATASOURCE)
    assert_index_equals_parquet(parquet_store, search_index, DATASOURCE)


def test_rebuild_empties_the_datasources_retry_queue(indexed_store, retry_queue):
    from lupus_store.search import QueueKey

    retry_queue.put(QueueKey("points", DATASOURCE, "2025-12-28", "metrics"), "g", [], reason="down")
    retry_queue.put(QueueKey("points", OTHER, "2025-12-28", "metrics"), "g", [], reason="down")
    rebuild(indexed_store.store, indexed_store.index, datasource=DATASOURCE, queue=retry_queue)
    assert [e.key.datasource for e in retry_queue.entries()] == [OTHER]


def test_lupus_index_rebuild_reindexes_one_datasource_from_the_configured_store(parquet_store, search_index, tmp_path):
    write_sample(parquet_store)
    env = {
        **os.environ, "LUPUS_HOME": str(tmp_path / "home"), "LUPUS_STORE": parquet_store.root,
        "LUPUS_SEARCH_URL": search_index.backend.url, "LUPUS_SEARCH_BACKEND": search_index.backend.name,
        "LUPUS_SEARCH_PREFIX": search_index.prefix, "LUPUS_SEARCH_REPLICAS": "0",
    }  # fmt: skip
    command = [sys.executable, "-c", "from lupus_cli.main import app; app()", "index", "rebuild", "--datasource", OTHER]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{OTHER}/points: 12 documents" in result.stdout
    search_index.refresh()
    assert_same_frame(parquet_store.read_points(OTHER), search_index.read_points(OTHER))
    assert search_index.read_points(DATASOURCE).empty


def test_lupus_index_rebuild_without_a_configured_index_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUPUS_SEARCH")}
    env["LUPUS_HOME"] = str(tmp_path)
    command = [sys.executable, "-c", "from lupus_cli.main import app; app()", "index", "rebuild"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "LUPUS_SEARCH_URL is not set" in result.stderr


def test_rebuild_reads_files_written_before_points_had_support_next_to_newer_ones(parquet_store, search_index):
    import pyarrow.parquet as pq

    for number, day in enumerate(days()[:3]):
        written = parquet_store.write_points(DATASOURCE, points_of_day(day), day=day, writer="metrics")
        if number != 1:  # the first and last day files as an earlier release wrote them
            pq.write_table(pq.read_table(written.path).drop_columns(["n", "stderr"]), written.path)
    report = rebuild(parquet_store, search_index, datasource=DATASOURCE)
    assert report.failures == [] and parquet_store.read_points(DATASOURCE)["n"].notna().any()
    assert_index_equals_parquet(parquet_store, search_index, DATASOURCE)
