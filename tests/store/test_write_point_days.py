"""write_point_days writes the files write_points writes day by day, validated as a whole first."""

from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_store import MetricStore

DAYS = [date(2026, 3, 1) + timedelta(days=n) for n in range(4)]


def _points(day: date, rows: int) -> pd.DataFrame:
    return pd.DataFrame({
        "metric": [f"m{n % 3}" for n in range(rows)],
        "labels": [{"region": f"r{n}"} for n in range(rows)],
        "ts": pd.Timestamp(day, tz="UTC"),
        "value": [float(n) * 1.5 for n in range(rows)],
        "n": [10.0] * rows,
    })  # fmt: skip


def _content(store: MetricStore, day: date) -> pd.DataFrame:
    path = store.location.path(f"points/datasource=demo/date={day.isoformat()}/w.parquet")
    return pq.read_table(path).drop_columns(["seq"]).to_pandas()


def test_each_day_gets_the_file_write_points_gives_it(tmp_path):
    frames = {day: _points(day, 5 + n) for n, day in enumerate(DAYS)}
    one_by_one, at_once = MetricStore(tmp_path / "a"), MetricStore(tmp_path / "b")
    for day, frame in frames.items():
        one_by_one.write_points("demo", frame, day=day, writer="w", source="asset", run_id="r")
    written = at_once.write_point_days("demo", frames, writer="w", source="asset", run_id="r")
    assert {day: result.rows for day, result in written.items()} == {day: len(f) for day, f in frames.items()}
    for day in DAYS:
        pd.testing.assert_frame_equal(_content(at_once, day), _content(one_by_one, day))


def test_an_invalid_day_writes_nothing(tmp_path):
    frames = {day: _points(day, 3) for day in DAYS}
    frames[DAYS[2]] = _points(DAYS[3] + timedelta(days=3), 3)  # ts far from its day
    store = MetricStore(tmp_path)
    with pytest.raises(LupusValidationError, match="partition day 2026-03-03"):
        store.write_point_days("demo", frames, writer="w")
    assert store.read_points("demo").empty


def test_a_day_without_points_loses_its_file(tmp_path):
    store = MetricStore(tmp_path)
    store.write_point_days("demo", {DAYS[0]: _points(DAYS[0], 3)}, writer="w")
    store.write_point_days("demo", {DAYS[0]: _points(DAYS[0], 0), DAYS[1]: _points(DAYS[1], 2)}, writer="w")
    assert store.read_points("demo")["ts"].dt.date.unique().tolist() == [DAYS[1]]
