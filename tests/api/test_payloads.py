"""The JSON batch decoder: its plain-form path accepts exactly what the pydantic schema accepts, with the same result."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lupus_api.payloads import _plain_json_points, _typed_json_points, decode_json_points, validate_json_batch
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import NormalizedPoints


def _stamp(moment: datetime, form: int) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}"[: 1 + moment.microsecond % 6]
    return {
        0: f"{text}Z",
        1: f"{text}.{fraction}Z",
        2: f"{text}+05:30",
        3: f"{text}.{fraction}-08:00",
        4: text,  # naive: UTC (pydantic's path only)
        5: moment.date().isoformat(),  # date only (pydantic's path only)
        6: f"{text}.1234567Z",  # seven digits
        7: f"{text[:8]}30T00:00:00Z",  # the 30th, of February too
        8: f"{text}z",
    }[form]


timestamps = st.one_of(
    st.builds(
        _stamp, st.datetimes(min_value=datetime(1890, 1, 1), max_value=datetime(2210, 12, 31)), st.integers(0, 8)
    ),
    st.integers(0, 2_000_000_000),
    st.sampled_from(["", "yesterday", None, 1.5e9]),
)
values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70), st.none(),
                   st.booleans(), st.sampled_from(["3.5", "x", [1]]), st.just(10**400))  # fmt: skip
label_values = st.one_of(st.text(max_size=4), st.integers(0, 3), st.none())
labels = st.dictionaries(st.sampled_from(["region", "model", "k"]), label_values, max_size=2)


@st.composite
def points(draw) -> dict:
    point = {"metric": draw(st.one_of(st.sampled_from(["rows.count", "m"]), st.integers(0, 2))),
             "ts": draw(timestamps), "value": draw(values)}  # fmt: skip
    if draw(st.booleans()):
        point["labels"] = draw(st.one_of(labels, st.none(), st.just("region=JP")))
    for field in draw(st.lists(st.sampled_from(["metric", "ts", "value", "extra"]), max_size=1)):
        if field == "extra":
            point["extra"] = 1
        else:
            del point[field]
    return point


@st.composite
def plain_points(draw) -> dict:
    """Mostly points of the plain form, so that many whole batches take the fast path."""
    moment = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
    point = {"metric": draw(st.sampled_from(["rows.count", "m"])), "ts": _stamp(moment, draw(st.integers(0, 3))),
             "value": draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10, 10), st.none()))}  # fmt: skip
    if draw(st.booleans()):
        point["labels"] = draw(st.dictionaries(st.sampled_from(["region", "k"]), st.text(max_size=3), max_size=2))
    return point


PERTURBATIONS = {
    "extra field": lambda p: p | {"extra": 1},
    "no metric": lambda p: {k: v for k, v in p.items() if k != "metric"},
    "no ts": lambda p: {k: v for k, v in p.items() if k != "ts"},
    "no value": lambda p: {k: v for k, v in p.items() if k != "value"},
    "null labels": lambda p: p | {"labels": None},
    "labels as text": lambda p: p | {"labels": "region=JP"},
    "a number as a label": lambda p: p | {"labels": {"region": 3}},
    "a null label": lambda p: p | {"labels": {"region": None}},
    "a number as metric": lambda p: p | {"metric": 3},
    "a null metric": lambda p: p | {"metric": None},
    "true as value": lambda p: p | {"value": True},
    "text as value": lambda p: p | {"value": "2.5"},
    "a huge value": lambda p: p | {"value": 10**400},
    "a list as value": lambda p: p | {"value": [1]},
    "naive ts": lambda p: p | {"ts": "2026-01-01T00:00:00"},
    "date-only ts": lambda p: p | {"ts": "2026-01-01"},
    "epoch ts": lambda p: p | {"ts": 1767225600},
    "null ts": lambda p: p | {"ts": None},
    "seven-digit fraction": lambda p: p | {"ts": "2026-01-01T00:00:00.1234567Z"},
    "February 30th": lambda p: p | {"ts": "2026-02-30T00:00:00Z"},
    "hour 24": lambda p: p | {"ts": "2026-01-01T24:00:00Z"},
    "offset +24:00": lambda p: p | {"ts": "2026-01-01T00:00:00+24:00"},
    "a space for T": lambda p: p | {"ts": "2026-01-01 00:00:00Z"},
    "lower-case z": lambda p: p | {"ts": "2026-01-01T00:00:00z"},
    "year 1899": lambda p: p | {"ts": "1899-12-31T00:00:00Z"},
    "not an object": lambda p: [p],
}


@st.composite
def near_plain_points(draw) -> dict:
    """A plain point with one thing changed: what a fast path that checks too little would accept."""
    return PERTURBATIONS[draw(st.sampled_from(sorted(PERTURBATIONS)))](draw(plain_points()))


def _body(draw_points: list[dict], extra_top_level: bool) -> bytes:
    document: dict = {"points": draw_points}
    if extra_top_level:
        document["note"] = "x"
    return json.dumps(document).encode()


def _same(fast, typed) -> None:
    fast, typed = fast.to_frame(), typed.to_frame()
    assert fast["metric"].tolist() == typed["metric"].tolist()
    assert fast["labels"].tolist() == typed["labels"].tolist()
    assert fast["ts"].tolist() == typed["ts"].tolist()
    assert np.array_equal(fast["value"], typed["value"], equal_nan=True)


@st.composite
def batches(draw) -> list[dict]:
    """Plain points and at most one odd one: a batch whose fate hangs on that one point."""
    batch = draw(st.lists(plain_points(), max_size=5))
    odd = draw(st.one_of(st.none(), near_plain_points(), points()))
    if odd is not None:
        batch.insert(draw(st.integers(0, len(batch))), odd)
    return batch


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.booleans())
def test_the_plain_path_accepts_only_what_pydantic_accepts_and_decodes_it_the_same(batch, extra_top_level):
    body = _body(batch, extra_top_level)
    fast = _plain_json_points(body)
    try:
        typed = _typed_json_points(validate_json_batch(body))
    except (ValidationError, OverflowError, ValueError):
        assert fast is None, f"the plain path accepted a batch pydantic rejects: {body!r}"
        return
    if fast is not None:
        _same(fast, typed)


@settings(max_examples=200, deadline=None)
@given(st.lists(plain_points(), min_size=1, max_size=6))
def test_batches_in_the_plain_form_take_the_plain_path(batch):
    body = _body(batch, False)
    fast = _plain_json_points(body)
    assert fast is not None
    _same(fast, _typed_json_points(validate_json_batch(body)))


@pytest.mark.parametrize("change", sorted(PERTURBATIONS))
def test_each_change_from_the_plain_form_is_left_to_pydantic_or_decoded_the_same(change):
    plain = {"metric": "m", "labels": {"region": "JP"}, "ts": "2026-01-01T00:00:00Z", "value": 1.5}
    body = _body([plain, PERTURBATIONS[change](dict(plain, ts="2026-01-02T00:00:00Z"))], False)
    fast = _plain_json_points(body)
    try:
        typed = _typed_json_points(validate_json_batch(body))
    except (ValidationError, OverflowError, ValueError):
        assert fast is None
        return
    if fast is not None:
        _same(fast, typed)


def test_other_forms_are_still_accepted_through_pydantic():
    body = json.dumps({"points": [
        {"metric": "m", "ts": "2026-01-01", "value": 1},  # date only
        {"metric": "m", "ts": "2026-01-02T00:00:00", "value": "2.5"},  # naive; a number as text
        {"metric": "m", "ts": 1767398400, "value": None},  # epoch seconds
    ]}).encode()  # fmt: skip
    assert _plain_json_points(body) is None
    points = decode_json_points(body)
    day = datetime(2026, 1, 1, tzinfo=UTC)
    expected = [
        int((day + timedelta(days=d) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) for d in range(3)
    ]
    assert points.ts.tolist() == expected
    assert np.array_equal(points.values, [1.0, 2.5, np.nan], equal_nan=True)


def test_an_offset_is_converted_to_utc():
    body = json.dumps({"points": [{"metric": "m", "ts": "2026-01-01T09:00:00+09:00", "value": 1}]}).encode()
    moment = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=9)))
    assert decode_json_points(body).ts.tolist() == [int(moment.timestamp() * 1_000_000)]


@pytest.mark.parametrize("stamp", ["1899-12-31T23:59:59Z", "2200-01-01T00:00:00"])
def test_a_timestamp_outside_the_years_is_rejected_naming_the_row(stamp):
    body = json.dumps({"points": [{"metric": "m", "ts": "2026-01-01T00:00:00Z", "value": 1},
                                  {"metric": "m", "ts": stamp, "value": 1}]}).encode()  # fmt: skip
    with pytest.raises(LupusValidationError, match="years") as caught:
        decode_json_points(body)
    assert caught.value.row == 1


def test_a_rule_broken_by_a_repeated_pair_names_its_first_row():
    body = json.dumps({"points": [
        {"metric": "m", "labels": {"region": "JP"}, "ts": "2026-01-01T00:00:00Z", "value": 1},
        {"metric": "m", "labels": {"region": "US"}, "ts": "2026-01-01T00:00:00Z", "value": 1},
        {"metric": "m", "labels": {"region": "JP"}, "ts": "2026-01-02T00:00:00Z", "value": 1},
        {"metric": "m", "labels": {"bad key!": "x"}, "ts": "2026-01-01T00:00:00Z", "value": 1},
        {"metric": "m", "labels": {"bad key!": "x"}, "ts": "2026-01-02T00:00:00Z", "value": 1},
    ]}).encode()  # fmt: skip
    points = decode_json_points(body)
    assert points.rows is not None and len(points.metrics) == 3  # the plain path grouped the rows
    with pytest.raises(LupusValidationError, match="labels") as caught:
        NormalizedPoints.from_columns("ds", points.metrics, points.labels, ts=points.ts, values=points.values,
                                      rows=points.rows)  # fmt: skip
    assert caught.value.row == 3


POINT = '"metric": "m", "ts": "2026-01-01T00:00:00Z", "value": 1'


@pytest.mark.parametrize("body", [
    '{"points": [{' + POINT + ', "value": 2}]}',
    '{"points": [{' + POINT + ', "value" : 2}]}',
    '{"points": [{' + POINT + ', "val\\u0075e": 2}]}',
    '{"points": [{' + POINT + ', "n": 1, "n": 2}]}',
    '{"points": [{' + POINT + ', "labels": {"k": "a", "k": "b"}}]}',
    '{"points": [{' + POINT + ', "labels": {"k": ":", "k": "b"}}]}',
    '{"points": [{' + POINT + ', "labels": {"k" :"a", "k": "b"}}]}',
    '{"points": [{' + POINT + ', "labels": {"\\u006b": "a", "k": "b"}}]}',
    '{"points": [{' + POINT + '}], "points": []}',
])  # fmt: skip
def test_a_repeated_key_never_takes_the_plain_path_and_is_refused(body):
    assert _plain_json_points(body.encode()) is None
    with pytest.raises(LupusValidationError, match="appears twice"):
        decode_json_points(body.encode())


@pytest.mark.parametrize("labels", ['{"k": ":"}', '{"k": ":a", "j": ","}', '{"k": "a\\"b"}', '{"k": "a :"}'])
def test_label_values_that_look_like_keys_are_decoded_alike_on_both_paths(labels):
    body = ('{"points": [{' + POINT + ', "labels": ' + labels + "}]}").encode()
    assert decode_json_points(body).labels == _typed_json_points(validate_json_batch(body)).labels
