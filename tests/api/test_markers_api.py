"""Markers (a model release, a deploy) pushed through the REST API and LupusClient, against a live server; the app
draws them on the datasource's charts (tests/app/test_incident_board.py)."""

from __future__ import annotations

import pytest

from lupus_metrics.client import LupusApiError, LupusClient


def test_a_release_marker_is_stored_and_listed_by_day(live):
    with LupusClient(live.url, live.tokens["write_a"]) as client:
        made = client.mark("ds-a", "ranker v2", ts="2026-03-09T08:30:00Z", note="canary to 100 %")
    assert (made["kind"], made["label"], made["author"], made["note"]) == (
        "release",
        "ranker v2",
        "token:push job",
        "canary to 100 %",
    )
    with LupusClient(live.url, live.tokens["read_a"]) as client:
        listed = client.markers("ds-a", start="2026-03-09", end="2026-03-09")
        assert [(m["label"], m["ts"][:16]) for m in listed] == [("ranker v2", "2026-03-09T08:30")]
        assert client.markers("ds-a", start="2026-03-10") == []


def test_markers_need_write_access_to_their_datasource_and_a_known_kind(live):
    for token in ("read_a", "other"):
        with LupusClient(live.url, live.tokens[token]) as client, pytest.raises(LupusApiError) as err:
            client.mark("ds-a", "v3")
        assert err.value.status == 403
    with LupusClient(live.url, live.tokens["write_a"]) as client, pytest.raises(LupusApiError) as err:
        client.mark("ds-a", "v3", kind="party")
    assert err.value.status == 422 and "kind" in str(err.value)
