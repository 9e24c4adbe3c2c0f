"""Which specs a ranged run computes span by span, and how a range is cut into spans."""

from datetime import date, timedelta

import pandas as pd
import pytest

from lupus_dagster.assets.product_points import compute_day_points
from lupus_dagster.assets.range_points import _spans, computes_by_span, span_points
from lupus_dagster.assets.sources import DaySources, SourceMissingError
from lupus_dagster.product_spec import ProductSpec

DAYS = [date(2026, 5, 1) + timedelta(days=n) for n in range(5)]
BASE = {
    "product": "p", "team": "t", "datasource": "p", "partitions": {"start": "2026-05-01"},
    "source": {"parquet": "rows/date={date}/*.parquet"},
    "profile": {"group_by": ["region"], "columns": {"x": ["mean", "p50"]}},
    "evaluate": [{"regression": {"y_true": "y", "y_pred": "x", "group_by": ["region"]}}],
}  # fmt: skip


def _spec(**changes) -> ProductSpec:
    return ProductSpec.model_validate({**BASE, **changes})


def test_only_specs_whose_days_stand_alone_are_computed_by_span():
    assert computes_by_span(_spec())
    assert not computes_by_span(_spec(drift=[{"columns": ["x"], "against": "previous_day", "methods": ["psi"]}]))
    assert not computes_by_span(_spec(profile={**BASE["profile"], "sample": {"fraction": 0.5}}))
    assert not computes_by_span(_spec(source={"parquet": "s3://bucket/rows/date={date}/*.parquet"}))
    assert not computes_by_span(_spec(evaluate=[{"classification": {"y_true": "y", "y_pred": "x"}}]))


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path))
    for n, day in enumerate(DAYS):
        if n == 2:
            continue  # a missing day
        frame = pd.DataFrame({"region": ["JP", "US", "JP"], "x": [1.0 + n, 2.0, 3.5], "y": [1.5, 2.0, 3.0 + n]})
        if n >= 3:
            frame["extra"] = 1  # a column added from day 4 on: a new span
        target = tmp_path / "rows" / f"date={day.isoformat()}" / "part.parquet"
        target.parent.mkdir(parents=True)
        frame.to_parquet(target)
    return tmp_path


def test_a_range_is_cut_where_the_schema_changes_and_where_the_size_runs_out(files):
    with DaySources() as sources:
        found = {day: sources._files(_spec().source, day) for day in DAYS if day != DAYS[2]}
    assert [list(span) for span in _spans(found, limit=10**9)] == [DAYS[:2], DAYS[3:]]
    assert [list(span) for span in _spans(found, limit=1)] == [[day] for day in found]


def test_each_day_of_a_span_gets_the_points_of_the_day_alone(files):
    spec = _spec()
    with DaySources() as sources:
        computed = dict(span_points(spec, DAYS, sources))
        assert isinstance(computed[DAYS[2]], SourceMissingError)
        for day in (d for d in DAYS if d != DAYS[2]):
            alone = compute_day_points(spec, sources.read(spec.source, day), day=day, ts=pd.Timestamp(day, tz="UTC"),
                                       previous=None, reference=None, relevance=None)  # fmt: skip
            got = computed[day]
            assert got.rows == alone.rows == 3

            def ordered(points: pd.DataFrame) -> pd.DataFrame:
                keys = points["labels"].map(lambda labels: str(sorted(labels.items())))
                return points.assign(key=keys).sort_values(["metric", "key"]).reset_index(drop=True)

            pd.testing.assert_frame_equal(ordered(got.points), ordered(alone.points), rtol=1e-12, atol=0)
