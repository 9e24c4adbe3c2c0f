"""Fuzzing with schemathesis against the served OpenAPI schema: no 5xx, every error a problem body, and a
refused request inserts nothing.

Valid and invalid requests for every operation (schemathesis' positive and negative modes), plus hostile
variants of valid requests from our own generators: JSON nested thousands of levels deep, bytes that are
not UTF-8, names and values with control and format characters (a trailing newline, NUL, C1, bidi
overrides, zero-width spaces, line separators), booleans where numbers go, and repeated keys. Half of
the requests aim at a real datasource (``ds-a``) so they reach the handlers rather than stopping at 404.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.conftest import LiveApi
from api.live_server import ApiServer, seed
from lupus_api.payloads import MEDIA_TYPES

EXAMPLES_PER_OPERATION_AND_MODE = 125  # 17 operations (today) x 2 modes x 125 = 4,250 at most (some have no negatives)
HOSTILE_EXAMPLES_PER_OPERATION = 140  # + 2,380 at most
MIN_REQUESTS = 5_000

# The upload endpoint takes raw Arrow/Parquet bytes: send whatever binary the fuzzer generated.
schemathesis.serializer.alias(list(MEDIA_TYPES), "application/octet-stream")

# Characters no name may hold (Unicode Cc, Cf, Zl, Zp), and forms of them a sloppy check lets through.
NASTY_CHARACTERS = ["\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u202e", "\u200b", "\ufeff", "\u2028", "\u2029", "\t"]
INVALID_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{home / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(home, url, env={"LUPUS_API_RATE": "100000", "LUPUS_API_BURST": "100000"}).start()
    yield LiveApi(server, tokens)
    server.stop()


class Inserts:
    """Row counts of the metadata tables (and revoked tokens, and staged files): what a request may insert."""

    def __init__(self, home: Path):
        self.home = home
        self.connection = sqlite3.connect(f"file:{home / 'metadata.db'}?mode=ro", uri=True, timeout=30)
        tables = [row[0] for row in self.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = [f"(SELECT count(*) FROM {name})" for name in sorted(tables) if name != "alembic_version"]
        self.sql = f"SELECT {', '.join(counts)}, (SELECT count(revoked_at) FROM api_tokens)"

    def __call__(self) -> tuple:
        staged = sum(1 for p in (self.home / "staging").rglob("*.staged"))
        return (*self.connection.execute(self.sql).fetchone(), staged)


# ---- hostile variants of a valid body ---------------------------------------------------------------


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every position in a JSON value (keys of objects and items of lists)."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(value)]


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def hostile_body(draw, body: Any) -> bytes:
    """``body`` (a valid JSON document) made hostile in one of several ways, as raw bytes."""
    kind = draw(st.sampled_from(["deep", "invalid bytes", "control characters", "control in a key", "boolean",
                                 "repeated key", "trailing newline"]))  # fmt: skip
    places = _paths(body)
    place = draw(st.sampled_from(places))
    if kind == "deep":
        depth = draw(st.integers(33, 5_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        text = json.dumps(_replace(body, place, "\x00HOLE\x00"))
        return text.replace(json.dumps("\x00HOLE\x00"), opener * depth + "1" + closer * depth, 1).encode()
    if kind == "invalid bytes":
        raw = json.dumps(body).encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from(INVALID_UTF8)) + raw[at:]
    if kind in ("control characters", "trailing newline"):
        strings = [p for p in places if isinstance(_get(body, p), str)] or [place]
        place = draw(st.sampled_from(strings))
        text = _get(body, place) if isinstance(_get(body, place), str) else "x"
        char = "\n" if kind == "trailing newline" else draw(st.sampled_from(NASTY_CHARACTERS))
        at = len(text) if kind == "trailing newline" else draw(st.integers(0, len(text)))
        return json.dumps(_replace(body, place, text[:at] + char + text[at:])).encode()
    if kind == "control in a key":
        char = draw(st.sampled_from(NASTY_CHARACTERS))
        objects = [p for p in places if isinstance(_get(body, p), dict) and _get(body, p)] or [()]
        place = draw(st.sampled_from(objects))
        target = _get(body, place)
        if not isinstance(target, dict) or not target:
            return json.dumps(body).encode()
        key = draw(st.sampled_from(sorted(target)))
        renamed = {(k + char if k == key else k): v for k, v in target.items()}
        return json.dumps(_replace(body, place, renamed)).encode()
    if kind == "boolean":
        return json.dumps(_replace(body, place, draw(st.booleans()))).encode()
    # repeated key: the first key of some object once more, with another value
    objects = [p for p in places if isinstance(_get(body, p), dict) and _get(body, p)]
    if not objects:
        return json.dumps(body).encode()
    place = draw(st.sampled_from(objects))
    target = _get(body, place)
    key = next(iter(target))
    text = json.dumps(_replace(body, place, {"\x00DUP\x00": 0, **target}))
    return text.replace(
        json.dumps("\x00DUP\x00") + ": 0", f"{json.dumps(key)}: {json.dumps(draw(st.booleans()))}", 1
    ).encode()


@st.composite
def hostile_path_value(draw) -> str:
    return draw(st.sampled_from(["ds-a", "x"])) + draw(st.sampled_from(NASTY_CHARACTERS))


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error_and_no_refused_request_inserts_anything(fuzzed):
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.tokens['admin']}"}
    session = requests.Session()
    inserts = Inserts(fuzzed.server.home)
    calls: list[tuple[str, str, int]] = []
    failures: list[str] = []

    def check(label: str, kind: str, response, before: tuple) -> None:
        calls.append((label, kind, response.status_code))
        if response.status_code >= 500:
            failures.append(f"{label} [{kind}] -> {response.status_code}: {response.text[:300]}")
        elif response.status_code >= 400:
            media = response.headers["content-type"]  # schemathesis keeps every value of a header, requests one
            assert media in (["application/problem+json"], "application/problem+json"), (
                label,
                kind,
                response.text[:300],
            )
            after = inserts()
            if any(a > b for a, b in zip(after, before, strict=True)):  # (staged files go as the worker ingests)
                failures.append(f"{label} [{kind}] -> {response.status_code} inserted rows or staged a batch: "
                                f"{before} -> {after}")  # fmt: skip

    def aim(case, real_datasource: bool) -> None:
        if real_datasource and "ds" in (case.path_parameters or {}):
            case.path_parameters["ds"] = "ds-a"
        if (case.path_parameters or {}).get("token_id") == 1:
            case.path_parameters["token_id"] = 2  # keep the fuzzer's own admin token alive

    def fuzz(operation, mode) -> None:
        @settings(
            max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), real_datasource=st.booleans())
        def run(case, real_datasource):
            aim(case, real_datasource)
            before = inserts()
            response = case.call(base_url=fuzzed.url, session=session, headers=headers, timeout=60)
            check(operation.label, mode.value, response, before)

        try:
            run()
        except Unsatisfiable:
            # An operation with nothing to make invalid (e.g. /health) has no negative cases.
            assert mode == GenerationMode.NEGATIVE, operation.label

    def fuzz_hostile(operation) -> None:
        @settings(
            max_examples=HOSTILE_EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE), real_datasource=st.booleans(),
               data=st.data())  # fmt: skip
        def run(case, real_datasource, data):
            aim(case, real_datasource)
            kwargs = case.as_transport_kwargs(base_url=fuzzed.url, headers=headers)
            kind = "hostile path"
            if isinstance(case.body, (dict, list)):
                kwargs.pop("json", None)
                kwargs["data"] = data.draw(hostile_body(case.body))
                kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
                kind = "hostile body"
            elif case.path_parameters:
                name = data.draw(st.sampled_from(sorted(case.path_parameters)))
                values = {**case.path_parameters, name: data.draw(hostile_path_value())}
                kwargs["url"] = fuzzed.url + case.path.format(**{k: requests.utils.quote(str(v), safe="")
                                                                 for k, v in values.items()})  # fmt: skip
            elif case.query:
                name = data.draw(st.sampled_from(sorted(case.query)))
                kwargs["params"] = {**kwargs.get("params", {}), name: data.draw(hostile_path_value())}
                kind = "hostile query"
            before = inserts()
            response = session.request(**kwargs, timeout=60)
            check(operation.label, kind, response, before)

        run()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)
        fuzz_hostile(operation)

    assert not failures, "\n".join(sorted(set(failures))[:20]) + "\n" + fuzzed.server.log()[-3000:]
    kinds = {kind for _, kind, _ in calls}
    print(f"{len(calls)} requests: " + ", ".join(f"{k} {sum(1 for _, c, _ in calls if c == k)}" for k in sorted(kinds)))
    assert len(calls) >= MIN_REQUESTS, len(calls)
    assert len({label for label, _, _ in calls}) == len(operations) >= 17
    assert {"hostile body", "positive", "negative"} <= kinds
    assert any(code < 300 for _, _, code in calls) and any(code == 400 for _, _, code in calls)
