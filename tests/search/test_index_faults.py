"""Faults of the index never lose a Parquet write, and the index catches up afterwards."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_store.search import IndexedMetricStore, RetryQueue

from .conftest import new_index
from .frames import assert_same_frame
from .sample_data import DATASOURCE, days, points_of_day
from .tcp_proxy import TcpProxy

DAY = days()[0]


@pytest.fixture
def proxy(search_url):
    """The node behind a forwarder that the test can stop (index down) and start again."""
    proxy = TcpProxy(urlparse(search_url).port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def store_behind_proxy(proxy, backend_kind, parquet_store, retry_queue):
    index = new_index(proxy.url, backend_kind)
    index.ensure_templates()
    yield IndexedMetricStore(parquet_store, index, retry_queue)
    proxy.stop()
    proxy.start()
    index.drop()


def test_a_write_while_the_index_is_down_lands_in_parquet_and_is_queued(store_behind_proxy, proxy):
    proxy.stop()
    result = store_behind_proxy.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    assert (result.rows, result.indexed, result.queued) == (12, False, True)
    assert "unreachable" in result.error
    assert len(store_behind_proxy.store.read_points(DATASOURCE)) == 12
    assert len(store_behind_proxy.queue) == 1


def test_the_index_catches_up_when_it_returns(store_behind_proxy, proxy):
    proxy.stop()
    for day in days()[:3]:
        store_behind_proxy.write_points(DATASOURCE, points_of_day(day), day=day, writer="metrics")
    proxy.start()
    report = store_behind_proxy.catch_up()
    assert (report.landed, report.still_pending, report.error) == (3, 0, None)
    store_behind_proxy.index.refresh()
    assert_same_frame(store_behind_proxy.store.read_points(DATASOURCE), store_behind_proxy.read_points(DATASOURCE))


def test_the_next_write_after_the_outage_flushes_the_queue_first(store_behind_proxy, proxy):
    proxy.stop()
    store_behind_proxy.write_points(DATASOURCE, points_of_day(days()[0]), day=days()[0], writer="metrics")
    proxy.start()
    result = store_behind_proxy.write_points(DATASOURCE, points_of_day(days()[1]), day=days()[1], writer="metrics")
    assert result.indexed and len(store_behind_proxy.queue) == 0
    store_behind_proxy.index.refresh()
    assert_same_frame(store_behind_proxy.store.read_points(DATASOURCE), store_behind_proxy.read_points(DATASOURCE))


def test_only_the_latest_write_of_a_writers_day_is_replayed(store_behind_proxy, proxy):
    proxy.stop()
    store_behind_proxy.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    smaller = points_of_day(DAY).iloc[:3]
    store_behind_proxy.write_points(DATASOURCE, smaller, day=DAY, writer="metrics")
    assert len(store_behind_proxy.queue) == 1
    proxy.start()
    store_behind_proxy.catch_up()
    store_behind_proxy.index.refresh()
    assert len(store_behind_proxy.read_points(DATASOURCE)) == 3


def test_the_queue_survives_a_restart_of_the_writer(store_behind_proxy, proxy, retry_queue):
    proxy.stop()
    store_behind_proxy.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    proxy.start()
    restarted = IndexedMetricStore(
        store_behind_proxy.store, store_behind_proxy.index, RetryQueue(retry_queue.directory)
    )
    assert restarted.catch_up().landed == 1
    restarted.index.refresh()
    assert len(restarted.read_points(DATASOURCE)) == 12


# ---- documents rejected by the cluster ------------------------------------------------------------

REJECT_PIPELINE = {
    "description": "rejects one metric, as a mapping error or an ingest failure would",
    "processors": [
        {"fail": {"if": "ctx.metric == 'score.p95' && ctx.labels?.region == 'US'", "message": "rejected by the test"}}
    ],
}


@pytest.fixture
def rejecting_index(indexed_store):
    """The points indices of the sample's family run a pipeline that rejects one series' documents."""
    index = indexed_store.index
    backend = index.backend
    backend.request("PUT", f"/_ingest/pipeline/{index.prefix}-reject", body=REJECT_PIPELINE)
    index.ensure_templates()
    for year in (2025, 2026):
        name = f"{index.prefix}-points-shop-{year}"
        backend.request("PUT", f"/{name}")
        backend.request("PUT", f"/{name}/_settings", body={"index": {"default_pipeline": f"{index.prefix}-reject"}})
    yield indexed_store
    for year in (2025, 2026):
        backend.request(
            "PUT", f"/{index.prefix}-points-shop-{year}/_settings", body={"index": {"default_pipeline": "_none"}}
        )
    backend.request("DELETE", f"/_ingest/pipeline/{index.prefix}-reject")


def test_a_rejected_document_is_reported_and_the_others_land(rejecting_index):
    result = rejecting_index.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    assert result.rows == 12 and not result.indexed and result.queued
    assert len(result.failures) == 1
    assert "fail_processor_exception: rejected by the test" in result.failures[0].reason
    rejecting_index.index.refresh()
    landed = rejecting_index.read_points(DATASOURCE)
    assert len(landed) == 11
    assert not ((landed["metric"] == "score.p95") & (landed["labels"] == {"region": "US"})).any()


def test_a_rejected_document_is_retried_from_the_queue_once_the_cluster_accepts_it(rejecting_index):
    rejecting_index.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    index = rejecting_index.index
    assert rejecting_index.catch_up().still_pending == 1  # still rejected: stays queued
    for year in (2025, 2026):
        index.backend.request(
            "PUT", f"/{index.prefix}-points-shop-{year}/_settings", body={"index": {"default_pipeline": "_none"}}
        )
    assert rejecting_index.catch_up().landed == 1
    index.refresh()
    assert_same_frame(rejecting_index.store.read_points(DATASOURCE), rejecting_index.read_points(DATASOURCE))


def test_a_write_the_store_rejects_reaches_neither_store_nor_index(indexed_store):
    bad = points_of_day(DAY)
    bad.loc[3, "value"] = float("inf")
    with pytest.raises(LupusValidationError, match="value"):
        indexed_store.write_points(DATASOURCE, bad, day=DAY, writer="metrics")
    indexed_store.index.refresh()
    assert indexed_store.store.read_points(DATASOURCE).empty and indexed_store.read_points(DATASOURCE).empty
    assert len(indexed_store.queue) == 0
