"""The index answers every read exactly like the Parquet store, for the same data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import series_id
from lupus_store import MetricStore
from lupus_store.search import IndexedMetricStore, RetryQueue

from .conftest import new_index
from .frames import assert_same_frame
from .sample_data import DATASOURCE, OTHER, SIBLING, days, points_of_day, write_sample

JP_SERIES = series_id(DATASOURCE, "rows.count", {"region": "JP"})

POINT_QUERIES = {
    "everything": {},
    "one metric": {"metrics": "rows.count"},
    "several metrics": {"metrics": ["score.p95", "rows.count"]},
    "no metric": {"metrics": []},
    "unknown metric": {"metrics": "nope"},
    "label filter": {"labels": {"region": "JP"}},
    "two labels": {"labels": {"region": "JP", "k": "10"}},
    "dotted label key": {"labels": {"model.version": "v2"}},
    "unicode label": {"labels": {"segment": "東京 / ü"}},
    "series ids": {"series_ids": [JP_SERIES]},
    "date range": {"start": "2025-12-30", "end": "2026-01-02"},
    "date-only end covers the day": {"end": date(2025, 12, 29)},
    "microsecond bounds": {"start": "2025-12-29T06:00:00.000002Z", "end": datetime(2026, 1, 1, 6, 0, 0, 3, tzinfo=UTC)},
    "naive start is UTC": {"start": datetime(2026, 1, 3, 6, 0, 0, 4)},
    "metric, labels and range": {"metrics": "rows.count", "labels": {"region": "JP"}, "start": "2026-01-01"},
    "provenance": {"provenance": True},
}

ANOMALY_QUERIES = {
    "flagged only": {},
    "every evaluated point": {"only_anomalies": False},
    "flagged, one metric and label": {"metrics": "score.p95", "labels": {"region": "JP"}},
    "all, in a range": {"only_anomalies": False, "start": "2026-01-01", "end": "2026-01-01"},
}


@pytest.fixture(scope="module")
def written(search_url, backend_kind, tmp_path_factory):
    """The sample written once through the tee store; the tests of this module only read it."""
    root = tmp_path_factory.mktemp("parity")
    index = new_index(search_url, backend_kind, page_size=50)  # most reads cross pages
    store = IndexedMetricStore(MetricStore(root / "store"), index, RetryQueue(root / "queue"))
    write_sample(store)
    index.refresh()
    yield store
    index.drop()


def two_days(store) -> None:
    for day in days()[:2]:
        store.write_points(DATASOURCE, points_of_day(day), day=day, writer="metrics")
    store.index.refresh()


@pytest.mark.parametrize("query", POINT_QUERIES.values(), ids=POINT_QUERIES.keys())
def test_read_points_matches_the_parquet_store(written, query):
    assert_same_frame(written.store.read_points(DATASOURCE, **query), written.read_points(DATASOURCE, **query))


@pytest.mark.parametrize("query", ANOMALY_QUERIES.values(), ids=ANOMALY_QUERIES.keys())
def test_read_anomalies_matches_the_parquet_store(written, query):
    assert_same_frame(written.store.read_anomalies(DATASOURCE, **query), written.read_anomalies(DATASOURCE, **query))


@pytest.mark.parametrize("datasource", [DATASOURCE, SIBLING, OTHER])
def test_list_series_matches_the_parquet_store(written, datasource):
    assert_same_frame(written.store.list_series(datasource), written.index.list_series(datasource))


def test_a_datasource_that_does_not_exist_reads_as_the_same_empty_frames(written):
    assert_same_frame(written.store.read_points("missing"), written.read_points("missing"))
    assert_same_frame(written.store.read_anomalies("missing"), written.read_anomalies("missing"))
    assert_same_frame(written.store.list_series("missing"), written.index.list_series("missing"))


def test_the_index_lists_the_same_datasources(written):
    assert written.index.list_datasources() == written.store.list_datasources() == sorted([DATASOURCE, SIBLING, OTHER])


def test_a_rewrite_replaces_exactly_the_writers_rows_of_that_day(written):
    frame = written.read_points(DATASOURCE, start="2025-12-31", end="2025-12-31", provenance=True)
    assert set(frame["metric"]) == {"rows.count"}  # the rewrite dropped score.p95 of that day
    # Two writers of the same points that day: both stores read each point once, the later write (push-1's).
    first_day = written.read_points(DATASOURCE, start="2025-12-28", end="2025-12-28", provenance=True)
    assert len(first_day) == 12 and set(first_day["writer"]) == {"push-1"}


def test_when_the_later_writer_removes_its_rows_both_stores_read_the_earlier_write_again(indexed_store):
    two_days(indexed_store)
    day = days()[0]
    indexed_store.write_points(DATASOURCE, points_of_day(day, scale=3.0), day=day, writer="push-2")
    indexed_store.index.refresh()
    assert set(indexed_store.read_points(DATASOURCE, start=day, end=day, provenance=True)["writer"]) == {"push-2"}
    assert_same_frame(indexed_store.store.list_series(DATASOURCE), indexed_store.index.list_series(DATASOURCE))
    indexed_store.write_points(DATASOURCE, points_of_day(day).iloc[0:0], day=day, writer="push-2")
    indexed_store.index.refresh()
    both = [store.read_points(DATASOURCE, start=day, end=day, provenance=True)
            for store in (indexed_store.store, indexed_store)]  # fmt: skip
    assert_same_frame(*both)
    assert set(both[1]["writer"]) == {"metrics"}
    assert_same_frame(indexed_store.store.list_series(DATASOURCE), indexed_store.index.list_series(DATASOURCE))


def test_an_older_write_replayed_after_a_newer_one_does_not_win_in_the_index(indexed_store):
    # What the retry queue does when the index was down: the older write lands last.
    day = days()[0]
    index = indexed_store.index
    from lupus_metrics.frames import normalize_points
    from lupus_store.search.documents import documents

    newer = normalize_points(points_of_day(day, scale=5.0), DATASOURCE).assign(source=None, run_id=None, seq=2_000)
    older = normalize_points(points_of_day(day), DATASOURCE).assign(source=None, run_id=None, seq=1_000)
    indexed_store.store.write_points(DATASOURCE, points_of_day(day, scale=5.0), day=day, writer="new", seq=2_000)
    indexed_store.store.write_points(DATASOURCE, points_of_day(day), day=day, writer="old", seq=1_000)
    for writer, frame in (("new", newer), ("old", older)):
        docs = documents("points", DATASOURCE, frame, day=day.isoformat(), writer=writer, generation=writer)
        index.replace("points", DATASOURCE, docs, day=day.isoformat(), writer=writer, generation=writer)
    index.refresh()
    assert set(indexed_store.read_points(DATASOURCE, provenance=True)["writer"]) == {"new"}
    assert_same_frame(indexed_store.store.read_points(DATASOURCE, provenance=True),
                      indexed_store.read_points(DATASOURCE, provenance=True))  # fmt: skip


def test_an_empty_write_removes_the_writers_day_from_both(indexed_store):
    two_days(indexed_store)
    day = days()[1]
    indexed_store.write_points(DATASOURCE, points_of_day(day).iloc[0:0], day=day, writer="metrics")
    indexed_store.index.refresh()
    assert indexed_store.read_points(DATASOURCE, start=day, end=day).empty
    assert_same_frame(indexed_store.store.read_points(DATASOURCE), indexed_store.read_points(DATASOURCE))


def test_compacting_the_parquet_store_keeps_the_stores_equal(indexed_store):
    two_days(indexed_store)
    indexed_store.compact(DATASOURCE)
    assert_same_frame(
        indexed_store.store.read_points(DATASOURCE, provenance=True),
        indexed_store.read_points(DATASOURCE, provenance=True),
    )


def test_bad_reads_raise_the_stores_errors(written):
    with pytest.raises(LupusValidationError, match="end"):
        written.read_points(DATASOURCE, start="2026-01-02", end="2026-01-01")
    with pytest.raises(LupusValidationError, match="datasource"):
        written.read_points("Bad Name")
    with pytest.raises(LupusValidationError, match="labels"):
        written.read_points(DATASOURCE, labels={"bad key": "x"})


def test_an_index_created_before_points_had_support_accepts_them_after_the_upgrade(indexed_store):
    from lupus_store.search.mappings import index_template
    from lupus_store.search.naming import index_name

    index = indexed_store.index
    old = index_template(index.prefix, "points", labels_type=index.backend.labels_type, replicas=0)["template"]
    for field in ("n", "stderr"):
        del old["mappings"]["properties"][field]  # the strict mapping of an earlier release
    old["mappings"]["properties"]["labels"] = {"type": index.backend.labels_type}
    index.backend.request("PUT", f"/{index_name(index.prefix, 'points', DATASOURCE, 2025)}", body=old)
    indexed_store.write_points(DATASOURCE, points_of_day(days()[0]), day=days()[0], writer="metrics")
    index.refresh()
    assert len(indexed_store.queue) == 0  # nothing refused by the old strict mapping
    assert_same_frame(index.read_points(DATASOURCE), indexed_store.store.read_points(DATASOURCE))


def test_verdicts_of_a_range_written_at_once_read_back_the_same_from_both(indexed_store):
    import pandas as pd

    ts = pd.to_datetime([f"{day.isoformat()}T06:00:00" for day in days()[:3]], utc=True)
    verdicts = pd.DataFrame({"metric": "rows.count", "labels": [{"region": "JP"}] * 3, "ts": ts,
                             "value": [10.0, 11.0, 90.0], "expected": 10.0, "lower": 8.0, "upper": 12.0,
                             "score": [0.0, 0.5, 40.0], "is_anomaly": [False, False, True], "detector": "window"})  # fmt: skip
    written = indexed_store.write_anomaly_days(DATASOURCE, verdicts, writer="anomalies", run_id="run-1")
    indexed_store.index.refresh()
    assert sorted(written) == days()[:3]
    everything = {"only_anomalies": False}
    assert len(indexed_store.read_anomalies(DATASOURCE, **everything)) == 3
    assert_same_frame(
        indexed_store.store.read_anomalies(DATASOURCE, **everything),
        indexed_store.read_anomalies(DATASOURCE, **everything),
    )
