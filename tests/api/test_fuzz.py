"""Fuzzing with schemathesis against the served OpenAPI schema: no 5xx, every error a problem body.

Valid and invalid requests for every operation, with an admin token; half of them aim at a real
datasource (``ds-a``) so they reach the handlers rather than stopping at 404.
"""

from __future__ import annotations

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

EXAMPLES_PER_OPERATION_AND_MODE = 40  # 17 operations x 2 modes x 40 = 1,360 at most (some have no negatives)


# The upload endpoint takes raw Arrow/Parquet bytes: send whatever binary the fuzzer generated.
schemathesis.serializer.alias(list(MEDIA_TYPES), "application/octet-stream")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{home / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(home, url, env={"LUPUS_API_RATE": "100000", "LUPUS_API_BURST": "100000"}).start()
    yield LiveApi(server, tokens)
    server.stop()


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(fuzzed):
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.tokens['admin']}"}
    session = requests.Session()
    calls: list[tuple[str, int]] = []
    failures: list[str] = []

    def fuzz(operation, mode) -> None:
        @settings(max_examples=EXAMPLES_PER_OPERATION_AND_MODE, deadline=None, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode), real_datasource=st.booleans())
        def run(case, real_datasource):
            if real_datasource and "ds" in (case.path_parameters or {}):
                case.path_parameters["ds"] = "ds-a"
            if (case.path_parameters or {}).get("token_id") == 1:
                case.path_parameters["token_id"] = 2  # keep the fuzzer's own admin token alive
            response = case.call(base_url=fuzzed.url, session=session, headers=headers, timeout=60)
            calls.append((operation.label, response.status_code))
            if response.status_code >= 500:
                failures.append(f"{operation.label} -> {response.status_code}: {response.text[:300]}")
            elif response.status_code >= 400:
                media = response.headers["content-type"]  # schemathesis keeps every value of a header
                assert media == ["application/problem+json"], response.text

        try:
            run()
        except Unsatisfiable:
            # An operation with nothing to make invalid (e.g. /health) has no negative cases.
            assert mode == GenerationMode.NEGATIVE, operation.label

    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(result.ok(), mode)

    assert not failures, "\n".join(sorted(set(failures))[:20])
    assert len(calls) >= 1_000, len(calls)
    assert len({label for label, _ in calls}) == 17
    assert any(code < 300 for _, code in calls)
