"""Last write wins per (series, ts) across the writers of a datasource, as in InfluxDB and Prometheus:
a point written twice reads back once, the later write, before and after compaction, and
``list_series`` counts what ``read_points`` returns."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lupus_metrics.frames import NormalizedPoints
from lupus_store import MetricStore

DAY = date(2026, 1, 1)


def frame(values, *, metric="m", region="JP", start="2026-01-01T00:00:00Z") -> pd.DataFrame:
    return pd.DataFrame({"metric": metric, "labels": [{"region": region}] * len(values),
                         "ts": pd.date_range(start, periods=len(values), freq="h"), "value": values})  # fmt: skip


def values_by_hour(store: MetricStore, **query) -> dict[int, tuple[float, str]]:
    got = store.read_points("demo", provenance=True, **query)
    return {ts.hour: (value, writer) for ts, value, writer in zip(got["ts"], got["value"], got["writer"], strict=True)}


def test_a_point_pushed_twice_by_two_writers_reads_back_once_the_later_value(store):
    store.write_points("demo", frame([1.0, 2.0, 3.0]), day=DAY, writer="push-a")
    store.write_points("demo", frame([10.0, 20.0]), day=DAY, writer="push-b")
    assert values_by_hour(store) == {0: (10.0, "push-b"), 1: (20.0, "push-b"), 2: (3.0, "push-a")}
    assert store.list_series("demo")["points"].tolist() == [3]  # list_series counts what read_points returns


def test_later_means_the_write_order_given_not_the_arrival(store):
    # The API passes each batch's acceptance time: a batch accepted first but ingested last still loses.
    store.write_points("demo", frame([10.0, 20.0]), day=DAY, writer="push-accepted-second", seq=2_000)
    store.write_points("demo", frame([1.0, 2.0]), day=DAY, writer="push-accepted-first", seq=1_000)
    assert {v for v, _ in values_by_hour(store).values()} == {10.0, 20.0}


def test_the_write_order_may_differ_per_row(store):
    points = NormalizedPoints.from_frame(frame([1.0, 2.0]), "demo")
    store.write_points("demo", points, day=DAY, writer="group", seq=np.array([100, 300]))
    store.write_points("demo", frame([7.0, 8.0]), day=DAY, writer="other", seq=200)
    assert values_by_hour(store) == {0: (7.0, "other"), 1: (2.0, "group")}


def test_equal_write_orders_are_broken_the_same_way_every_time(store):
    store.write_points("demo", frame([1.0]), day=DAY, writer="a", seq=5)
    store.write_points("demo", frame([2.0]), day=DAY, writer="b", seq=5)
    assert values_by_hour(store) == {0: (2.0, "b")}  # the greater writer name


def test_filters_choose_among_the_same_rows(store):
    store.write_points("demo", frame([1.0, 2.0]), day=DAY, writer="a")
    store.write_points("demo", frame([10.0, 20.0]), day=DAY, writer="b")
    assert values_by_hour(store, start="2026-01-01T01:00:00Z") == {1: (20.0, "b")}
    assert values_by_hour(store, labels={"region": "JP"}, metrics="m") == {0: (10.0, "b"), 1: (20.0, "b")}


def test_when_the_later_writer_removes_its_row_the_earlier_write_is_read_again(store):
    # Each writer's file is its current statement; the read merges them by write order.
    store.write_points("demo", frame([1.0, 2.0]), day=DAY, writer="asset")
    store.write_points("demo", frame([10.0, 20.0]), day=DAY, writer="push")
    store.write_points("demo", frame([10.0]), day=DAY, writer="push")  # rewritten without 01:00
    assert values_by_hour(store) == {0: (10.0, "push"), 1: (2.0, "asset")}
    store.delete_points("demo", day=DAY, writer="push")
    assert values_by_hour(store) == {0: (1.0, "asset"), 1: (2.0, "asset")}


def test_compaction_keeps_every_answer_and_a_rewrite_after_it_is_the_latest(store):
    store.write_points("demo", frame([1.0, 2.0, 3.0]), day=DAY, writer="asset")
    store.write_points("demo", frame([10.0, 20.0]), day=DAY, writer="push")
    store.write_points("demo", frame([5.0], start="2026-01-02T00:00:00Z"), day=date(2026, 1, 2), writer="push")
    before = store.read_points("demo", provenance=True)
    series_before = store.list_series("demo")
    store.compact("demo")
    pd.testing.assert_frame_equal(store.read_points("demo", provenance=True), before)
    pd.testing.assert_frame_equal(store.list_series("demo"), series_before)
    store.write_points("demo", frame([30.0], start="2026-01-01T05:00:00Z"), day=DAY, writer="push")
    # push's new day file replaces its compacted rows: asset's rows, superseded until now, are read again.
    assert values_by_hour(store, end="2026-01-01") == {0: (1.0, "asset"), 1: (2.0, "asset"), 2: (3.0, "asset"),
                                                       5: (30.0, "push")}  # fmt: skip
    store.write_points("demo", frame([100.0]), day=DAY, writer="asset")  # the asset re-materialized: latest
    assert values_by_hour(store, end="2026-01-01") == {0: (100.0, "asset"), 5: (30.0, "push")}


def test_files_written_before_the_write_order_existed_are_the_oldest(tmp_path):
    store = MetricStore(tmp_path / "store")
    old = store.write_points("demo", frame([1.0, 2.0]), day=DAY, writer="old-asset", seq=10**18)
    pq.write_table(pq.read_table(old.path).drop_columns(["seq"]), old.path)  # a file of an earlier release
    assert values_by_hour(store) == {0: (1.0, "old-asset"), 1: (2.0, "old-asset")}  # read alone
    store.write_points("demo", frame([10.0]), day=DAY, writer="new-push", seq=1)
    mixed = store.read_points("demo", provenance=True)
    assert values_by_hour(store) == {0: (10.0, "new-push"), 1: (2.0, "old-asset")}  # even with a tiny seq
    store.compact("demo")
    pd.testing.assert_frame_equal(store.read_points("demo", provenance=True), mixed)


def test_a_write_order_per_row_must_match_the_rows(store):
    with pytest.raises(ValueError, match="seq"):
        store.write_points("demo", frame([1.0, 2.0]), day=DAY, writer="a", seq=np.array([1, 2, 3]))
    assert store.read_points("demo").empty
