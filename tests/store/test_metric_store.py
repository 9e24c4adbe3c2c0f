"""MetricStore: round trips, filters, idempotent writers, validation, compaction (local disk and S3)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import NormalizedPoints
from lupus_metrics.schema import POINT_COLUMNS, series_id
from lupus_store import layout

REGIONS = ["JP", "US", "東京"]


def points_for(day: date, *, metrics=("rows.count", "score.mean"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + day.toordinal())
    rows = [
        {"metric": m, "labels": {"region": r, "k": "10"}, "ts": pd.Timestamp(day, tz="UTC"), "value": rng.normal()}
        for m in metrics
        for r in REGIONS
    ]
    rows.append({"metric": "rows.count", "labels": {}, "ts": pd.Timestamp(day, tz="UTC"), "value": np.nan})
    return pd.DataFrame(rows)


def sort_points(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(_labels=frame["labels"].map(lambda d: sorted(d.items())).astype(str))
    return frame.sort_values(["metric", "_labels", "ts"]).drop(columns="_labels").reset_index(drop=True)


def test_points_round_trip_exactly(store):
    written = pd.concat([points_for(date(2026, 1, d)) for d in (1, 2)], ignore_index=True)
    for d in (1, 2):
        store.write_points("demo", points_for(date(2026, 1, d)), day=date(2026, 1, d), writer="metrics")
    read = store.read_points("demo")
    assert list(read.columns) == list(POINT_COLUMNS)
    expected = sort_points(written)
    got = sort_points(read)
    assert got["metric"].tolist() == expected["metric"].tolist()
    assert got["labels"].tolist() == expected["labels"].tolist()
    assert (got["ts"] == expected["ts"]).all()
    np.testing.assert_array_equal(got["value"].to_numpy(), expected["value"].to_numpy())  # NaN kept as NaN
    assert got["series_id"].tolist() == [
        series_id("demo", m, lab) for m, lab in zip(got["metric"], got["labels"], strict=False)
    ]


def test_label_filter_matches_exactly_on_the_given_keys(store):
    store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")
    tokyo = store.read_points("demo", labels={"region": "東京"})
    assert len(tokyo) == 2 and all(lab["region"] == "東京" for lab in tokyo["labels"])
    assert store.read_points("demo", labels={"region": "JP", "k": "20"}).empty
    assert store.read_points("demo", labels={"region": "J"}).empty


def test_metric_filter_and_time_range(store):
    for d in range(1, 6):
        store.write_points("demo", points_for(date(2026, 1, d)), day=date(2026, 1, d), writer="metrics")
    got = store.read_points("demo", metrics=["score.mean"], start="2026-01-02", end="2026-01-04")
    assert set(got["metric"]) == {"score.mean"}
    assert sorted(set(got["ts"].dt.date)) == [date(2026, 1, d) for d in (2, 3, 4)]  # date-only end is inclusive


def test_reads_open_only_the_partitions_of_the_range(tmp_path):
    from lupus_store import MetricStore

    store = MetricStore(tmp_path)
    for d in (1, 10):
        store.write_points("demo", points_for(date(2026, 1, d)), day=date(2026, 1, d), writer="metrics")
    # A corrupt file far outside the range proves that the reader never opens it.
    (tmp_path / "points/datasource=demo/date=2026-01-01/metrics.parquet").write_bytes(b"not parquet")
    assert len(store.read_points("demo", start="2026-01-09", end="2026-01-11")) == len(points_for(date(2026, 1, 10)))


def test_rewriting_a_writer_replaces_its_file(store):
    store.write_points("demo", points_for(date(2026, 1, 1), seed=1), day="2026-01-01", writer="metrics")
    second = points_for(date(2026, 1, 1), seed=2)
    store.write_points("demo", second, day="2026-01-01", writer="metrics")
    got = sort_points(store.read_points("demo"))
    np.testing.assert_array_equal(got["value"].to_numpy(), sort_points(second)["value"].to_numpy())


def test_two_writers_of_the_same_points_read_back_once_the_later_write(store):
    store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer="asset")
    store.write_points("demo", points_for(date(2026, 1, 1), seed=5), day="2026-01-01", writer="push-1")
    got = store.read_points("demo", provenance=True)
    assert got.groupby("writer").size().to_dict() == {
        "push-1": 7
    }  # last write wins (tests/store/test_last_write_wins.py)


def test_empty_frame_removes_the_writers_file(store):
    store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")
    store.write_points("demo", points_for(date(2026, 1, 1)).iloc[:0], day="2026-01-01", writer="metrics")
    assert store.read_points("demo").empty


def test_missing_datasource_reads_as_an_empty_frame_with_the_right_columns(store):
    got = store.read_points("never-written")
    assert got.empty and list(got.columns) == list(POINT_COLUMNS)
    assert str(got["ts"].dtype) == "datetime64[us, UTC]"
    assert store.read_anomalies("never-written").empty
    assert store.list_series("never-written").empty


def test_list_datasources_and_series(store):
    store.write_points("b-ds", points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")
    store.write_points("a-ds", points_for(date(2026, 1, 2)), day="2026-01-02", writer="metrics")
    store.write_points("a-ds", points_for(date(2026, 1, 3)), day="2026-01-03", writer="metrics")
    assert store.list_datasources() == ["a-ds", "b-ds"]
    series = store.list_series("a-ds")
    assert len(series) == 7 and (series["points"] == 2).all()
    assert (series["last_ts"] - series["first_ts"] == pd.Timedelta(days=1)).all()
    assert store.days("a-ds") == [date(2026, 1, 2), date(2026, 1, 3)]


def test_compaction_does_not_change_query_results(store):
    for d in range(1, 40):
        day = date(2026, 1, 1) + timedelta(days=d)
        store.write_points("demo", points_for(day), day=day, writer="metrics")
        if d % 3 == 0:
            store.write_points("demo", points_for(day, metrics=("pushed.value",)), day=day, writer=f"push-{d}")
    queries = [{}, {"metrics": "score.mean", "labels": {"region": "JP"}}, {"start": "2026-01-20", "end": "2026-02-03"}]
    before = [sort_points(store.read_points("demo", **q)) for q in queries]
    report = store.compact("demo")
    assert report.months_compacted == 2 and report.files_after == 2
    after = [sort_points(store.read_points("demo", **q)) for q in queries]
    for b, a in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(b, a)


def test_a_writer_rewriting_a_compacted_day_supersedes_only_its_own_rows(store):
    for d in (1, 2):
        store.write_points("demo", points_for(date(2026, 1, d)), day=date(2026, 1, d), writer="metrics")
    store.write_points("demo", points_for(date(2026, 1, 1), metrics=("other",)), day="2026-01-01", writer="push")
    store.compact("demo")
    fresh = points_for(date(2026, 1, 1), seed=99)
    store.write_points("demo", fresh, day="2026-01-01", writer="metrics")
    got = store.read_points("demo", start="2026-01-01", end="2026-01-01", provenance=True)
    # push's 4th row (rows.count without labels) is also a row of metrics, rewritten later: metrics' row wins.
    assert got.groupby("writer").size().to_dict() == {"metrics": 7, "push": 3}
    ours = sort_points(got[got["writer"] == "metrics"].drop(columns=["source", "run_id", "writer"]))
    np.testing.assert_array_equal(ours["value"].to_numpy(), sort_points(fresh)["value"].to_numpy())
    store.compact("demo")  # compacting again keeps the new version
    again = store.read_points("demo", start="2026-01-01", end="2026-01-01", provenance=True)
    assert again.groupby("writer").size().to_dict() == {"metrics": 7, "push": 3}


def test_anomalies_round_trip_and_filter_flagged_points(store):
    frame = pd.DataFrame(
        {
            "metric": ["rows.count"] * 3,
            "labels": [{"region": "JP"}] * 3,
            "ts": pd.date_range("2026-01-01", periods=3, freq="8h", tz="UTC"),
            "value": [10.0, 11.0, 90.0],
            "expected": [10.0, 10.5, 10.7],
            "lower": [8.0, 8.5, 8.7],
            "upper": [12.0, 12.5, 12.7],
            "score": [0.0, 0.3, 40.0],
            "is_anomaly": [False, False, True],
            "detector": ["window"] * 3,
            "params": [{"window": 14}] * 3,
        }
    )
    store.write_anomalies("demo", frame, day="2026-01-01", writer="anomalies", run_id="run-1")
    flagged = store.read_anomalies("demo")
    assert flagged["value"].tolist() == [90.0] and flagged["run_id"].tolist() == ["run-1"]
    assert flagged["params"].tolist() == ['{"window":14}']
    everything = store.read_anomalies("demo", only_anomalies=False)
    assert everything["expected"].tolist() == [10.0, 10.5, 10.7]


def verdicts_over(days: int) -> pd.DataFrame:
    rng = np.random.default_rng(days)
    ts = pd.date_range("2026-01-01", periods=days, freq="D", tz="UTC")
    frames = [
        pd.DataFrame({"metric": metric, "labels": [labels] * days, "ts": ts, "value": rng.normal(size=days),
                      "expected": 0.0, "lower": -1.0, "upper": 1.0, "score": rng.normal(size=days),
                      "is_anomaly": rng.random(days) < 0.2, "detector": "window"})
        for metric in ("rows.count", "price.mean")
        for labels in ({}, {"region": "JP"})
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=1)  # in no particular order


def test_writing_a_range_of_days_stores_the_files_of_one_write_per_day(store, tmp_path):
    from lupus_store import MetricStore

    records = verdicts_over(9)
    written = store.write_anomaly_days("demo", records, writer="anomalies", run_id="run-1")
    per_day = MetricStore(tmp_path / "per-day")
    for day, frame in records.groupby(records["ts"].dt.date):
        per_day.write_anomalies("demo", frame, day=day, writer="anomalies", run_id="run-1")
    assert sorted(written) == [date(2026, 1, d) for d in range(1, 10)] and {r.rows for r in written.values()} == {4}
    got, expected = (s.read_anomalies("demo", only_anomalies=False) for s in (store, per_day))
    pd.testing.assert_frame_equal(got, expected)
    assert [store.location.read_bytes(layout.file_path("anomalies", "demo", day, "anomalies")) for day in written] == [
        per_day.location.read_bytes(layout.file_path("anomalies", "demo", day, "anomalies")) for day in written
    ]  # byte for byte the same files


def test_a_range_with_one_bad_record_writes_no_day(store):
    records = verdicts_over(5).reset_index(drop=True)
    records.loc[7, "detector"] = ""
    with pytest.raises(LupusValidationError, match="detector"):
        store.write_anomaly_days("demo", records, writer="anomalies")
    assert store.read_anomalies("demo", only_anomalies=False).empty


# ---- bad input: a clear error naming column, row and rule; nothing written ----------------------


def bad_frame(**changes) -> pd.DataFrame:
    frame = points_for(date(2026, 1, 1))
    for column, (row, value) in changes.items():
        frame[column] = frame[column].astype(object)
        frame.at[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "where", "row"),
    [
        (points_for(date(2026, 1, 1)).drop(columns="value"), "value", None),
        (bad_frame(value=(3, "high")), "value", 3),
        (bad_frame(value=(4, float("inf"))), "value", 4),
        (bad_frame(metric=(2, "")), "metric", 2),
        (bad_frame(labels=(5, {"bad key": "x"})), "labels", 5),
        (bad_frame(labels=(1, {"region": 7})), "labels", 1),
        (bad_frame(ts=(2, "not a time")), "ts", 2),
        (bad_frame(ts=(0, "2026-03-01")), "ts", 0),  # outside the partition day
        (pd.concat([points_for(date(2026, 1, 1)), points_for(date(2026, 1, 1)).iloc[[2]]], ignore_index=True), "ts", 7),
    ],
    ids=["missing column", "text value", "infinite value", "empty metric", "label key", "label value",
         "unparsable ts", "ts outside day", "duplicate series and ts"],
)  # fmt: skip
def test_bad_points_are_rejected_naming_column_and_row_and_nothing_is_written(store, frame, where, row):
    store.write_points("demo", points_for(date(2026, 1, 1), seed=5), day="2026-01-01", writer="metrics")
    before = store.read_points("demo")
    with pytest.raises(LupusValidationError) as error:
        store.write_points("demo", frame, day="2026-01-01", writer="metrics")
    assert error.value.where == where and error.value.row == row
    if row is not None:
        assert f"(row {row})" in str(error.value)
    pd.testing.assert_frame_equal(store.read_points("demo"), before)


@pytest.mark.parametrize("datasource", ["", "Bad Name", "../escape"])
def test_bad_datasource_is_rejected(store, datasource):
    with pytest.raises(LupusValidationError, match="datasource"):
        store.write_points(datasource, points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")


@pytest.mark.parametrize("writer", ["", "_compacted", "a/b", "x.tmp"])
def test_bad_writer_is_rejected(store, writer):
    with pytest.raises(LupusValidationError, match="writer"):
        store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer=writer)
    assert store.list_datasources() == []


def test_a_read_that_matches_nothing_has_the_same_dtypes_as_a_missing_datasource(store):
    store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")
    nothing = store.read_points("demo", metrics="no.such.metric")
    missing = store.read_points("never-written")
    assert nothing.empty
    pd.testing.assert_frame_equal(nothing, missing)


def test_normalized_points_are_written_like_the_frame_and_read_back_the_same(store):
    day = date(2026, 1, 3)
    frame = points_for(day).sample(frac=1.0, random_state=3)  # rows out of order: both writers sort them
    store.write_points("demo", frame, day=day, writer="checked")
    checked = store.read_points("demo", provenance=True)
    store.write_points("demo", NormalizedPoints.from_frame(frame, "demo"), day=day, writer="trusted", source="push")
    trusted = store.read_points("demo", provenance=True)  # the same points, written later: these rows now
    assert set(checked["writer"]) == {"checked"} and set(trusted["writer"]) == {"trusted"}
    pd.testing.assert_frame_equal(
        checked.drop(columns=["writer", "source"]), trusted.drop(columns=["writer", "source"])
    )
    files = {w: pq.read_table(io.BytesIO(store.location.read_bytes(layout.file_path("points", "demo", day, w))))
             for w in ("checked", "trusted")}  # fmt: skip
    assert files["checked"].schema.remove_metadata() == files["trusted"].schema.remove_metadata()
    for column in ("metric", "labels", "series_id", "ts", "value", "day"):
        assert files["checked"].column(column).equals(files["trusted"].column(column)), column
    assert set(files["trusted"].column("source").to_pylist()) == {"push"}


def test_normalized_points_still_need_the_day_range(store):
    day = date(2026, 1, 3)
    with pytest.raises(LupusValidationError, match="within one day"):
        store.write_points(
            "demo", NormalizedPoints.from_frame(points_for(day), "demo"), day=date(2026, 2, 1), writer="t"
        )
    assert store.read_points("demo").empty


def _with_noise(frame: pd.DataFrame) -> pd.DataFrame:
    """Points with ``n`` and ``stderr`` on every other row (unknown on the rest)."""
    count = np.arange(len(frame), dtype=float)
    return frame.assign(n=np.where(count % 2 == 0, 1000.0 + count, np.nan),
                        stderr=np.where(count % 2 == 0, 0.01 * (count + 1), np.nan))  # fmt: skip


@pytest.mark.parametrize("form", ["frame", "normalized"])
def test_support_and_standard_error_round_trip_with_unknowns_as_nan(store, form):
    written = _with_noise(points_for(date(2026, 1, 1)))
    given = written if form == "frame" else NormalizedPoints.from_frame(written, "demo")
    store.write_points("demo", given, day="2026-01-01", writer="metrics")
    got, expected = sort_points(store.read_points("demo")), sort_points(written)
    for column in ("n", "stderr"):
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy())


def test_points_without_support_read_it_as_nan(store):
    store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")
    read = store.read_points("demo")
    assert read["n"].isna().all() and read["stderr"].isna().all() and read["n"].dtype == "float64"


def _drop_noise_columns(path: str) -> None:
    # A file as the store wrote it before points had `n` and `stderr`.
    pq.write_table(pq.read_table(path).drop_columns(["n", "stderr"]), path)


def test_files_written_before_support_existed_still_read_alone_mixed_and_after_compaction(tmp_path):
    from lupus_store import MetricStore

    store = MetricStore(tmp_path / "store")
    old = store.write_points("demo", points_for(date(2026, 1, 1)), day="2026-01-01", writer="metrics")
    _drop_noise_columns(old.path)
    only_old = store.read_points("demo")
    assert len(only_old) == len(points_for(date(2026, 1, 1))) and only_old["n"].isna().all()
    store.write_points("demo", _with_noise(points_for(date(2026, 1, 2))), day="2026-01-02", writer="metrics")
    mixed = store.read_points("demo")
    assert mixed["n"].notna().sum() == _with_noise(points_for(date(2026, 1, 2)))["n"].notna().sum()
    store.compact("demo")
    compacted = store.read_points("demo")
    pd.testing.assert_frame_equal(compacted, mixed)


@pytest.mark.parametrize(("column", "bad"), [("n", -1.0), ("stderr", -0.5), ("stderr", np.inf)])
def test_negative_or_infinite_support_is_refused_naming_column_and_row(store, column, bad):
    frame = points_for(date(2026, 1, 1)).assign(**{column: 1.0})
    frame.loc[3, column] = bad
    with pytest.raises(LupusValidationError) as caught:
        store.write_points("demo", frame, day="2026-01-01", writer="metrics")
    assert caught.value.where == column and caught.value.row == 3
    assert store.read_points("demo").empty


def test_numbers_as_ts_are_epoch_seconds_as_in_the_api_and_booleans_are_refused(store):
    frame = pd.DataFrame(
        {"metric": ["m", "m"], "labels": [{}, {}], "ts": [1767225600, 1767225660], "value": [1.0, 2.0]}
    )
    store.write_points("demo", frame, day="2026-01-01", writer="epoch")
    assert store.read_points("demo")["ts"].tolist() == [
        pd.Timestamp("2026-01-01T00:00:00Z"),
        pd.Timestamp("2026-01-01T00:01:00Z"),
    ]
    with pytest.raises(LupusValidationError, match="ts"):
        store.write_points("demo", frame.assign(ts=[True, False]), day="2026-01-01", writer="bools")
    with pytest.raises(LupusValidationError, match="value"):
        store.write_points("demo", frame.assign(value=[True, 1.0]), day="2026-01-01", writer="bools")
