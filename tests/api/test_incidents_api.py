"""Incidents, feedback and silences through the REST API and LupusClient, against a live server (SQLite, PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from lupus_metrics.client import LupusApiError, LupusClient
from lupus_store.incidents import Alert, Candidate, IncidentStore
from lupus_store.metadata import MetadataDB

PRODUCTS = itertools.count()


@pytest.fixture
def incidents(live, module_metadata_url):
    store = IncidentStore(MetadataDB(module_metadata_url))
    yield store
    store.db.dispose()


def open_incident(store: IncidentStore, datasource: str, metric: str = "ranking.recall") -> tuple[str, int]:
    """A fresh product with one incident in ``datasource``; returns (product, incident id)."""
    product = f"api_{next(PRODUCTS)}_{datasource.replace('-', '_')}"
    alert = Alert("anomaly", metric, {"region": "JP"}, value=0.18, expected=0.63, score=-9.0)
    store.record([Candidate(product, datasource, f"{product}-s", date(2026, 10, 30), "anomaly", metric, 9.0, alert,
                            rule="detect[0]")])  # fmt: skip
    [incident] = store.incidents(product=product)
    return product, incident.id


def test_a_datasource_lists_its_incidents_with_headline_and_change(live, incidents):
    product, incident_id = open_incident(incidents, "ds-a")
    with LupusClient(live.url, live.tokens["read_a"]) as client:
        listed = [i for i in client.incidents("ds-a", status="active") if i["product"] == product]
        assert [i["id"] for i in listed] == [incident_id]
        assert (
            listed[0]["headline"]
            == f"{product}: ranking.recall for region=JP 0.18 vs 0.63 expected (−71 %) on 2026-10-30"
        )
        assert round(listed[0]["change"], 2) == -0.71 and listed[0]["members"] is None
        detail = client.incident("ds-a", incident_id)
        assert [m["metric"] for m in detail["members"]] == ["ranking.recall"]


def test_the_cross_datasource_list_shows_only_what_the_token_may_read(live, incidents):
    _, mine = open_incident(incidents, "ds-a")
    _, theirs = open_incident(incidents, "ds-b")
    with LupusClient(live.url, live.tokens["read_a"]) as client:
        ids = {i["id"] for i in client.incidents()}
    assert mine in ids and theirs not in ids
    with LupusClient(live.url, live.tokens["admin"]) as client:
        assert {mine, theirs} <= {i["id"] for i in client.incidents()}


def test_an_incident_of_another_datasource_is_not_found(live, incidents):
    _, theirs = open_incident(incidents, "ds-b")
    with LupusClient(live.url, live.tokens["team_rw"]) as client, pytest.raises(LupusApiError) as err:
        client.incident("ds-a", theirs)
    assert err.value.status == 404 and err.value.problem["where"]["field"] == "incident_id"


def test_acknowledging_records_the_verdict_and_feeds_the_rule_precision(live, incidents):
    product, incident_id = open_incident(incidents, "ds-a")
    with LupusClient(live.url, live.tokens["read_a"]) as reader, pytest.raises(LupusApiError) as err:
        reader.acknowledge("ds-a", incident_id, verdict="real")
    assert err.value.status == 403
    with LupusClient(live.url, live.tokens["write_a"]) as client:
        with pytest.raises(LupusApiError) as bad:
            client.acknowledge("ds-a", incident_id, verdict="maybe")
        assert bad.value.status == 422 and bad.value.problem["where"]["field"] == "verdict"
        done = client.acknowledge("ds-a", incident_id, verdict="false_alarm", note="holiday traffic")
        assert (done["status"], done["verdict"], done["acknowledged_by"]) == (
            "acknowledged",
            "false_alarm",
            "token:push job",
        )
        assert client.resolve("ds-a", incident_id, note="fixed")["status"] == "resolved"
    with LupusClient(live.url, live.tokens["team_rw"]) as client:
        [rule] = client.rules("ds-a", product=product)
    assert (rule["rule"], rule["judged"], rule["false_alarm"], rule["precision"]) == ("detect[0]", 1, 1, 0.0)


def test_a_silence_is_created_listed_and_ended(live):
    with LupusClient(live.url, live.tokens["write_a"]) as client:
        made = client.silence(
            "ds-a", reason="JP rollout", duration_hours=2, metric="ranking.*", labels={"region": "JP"}
        )
        assert made["active"] and made["author"] == "token:push job" and made["labels"] == {"region": "JP"}
        assert not client.expire_silence("ds-a", made["id"])["active"]
        with pytest.raises(LupusApiError) as err:
            client.silence("ds-a", reason="x", ends_at="2020-01-01T00:00:00+00:00")
        assert err.value.status == 422 and err.value.problem["where"]["field"] == "ends_at"
    with LupusClient(live.url, live.tokens["team_rw"]) as reader:
        listed = {s["id"]: s for s in reader.silences("ds-a")}
        assert made["id"] in listed and not listed[made["id"]]["active"]
        assert made["id"] not in {s["id"] for s in reader.silences("ds-a", active=True)}


def test_a_silence_needs_write_access_to_its_datasource(live):
    with LupusClient(live.url, live.tokens["read_a"]) as client, pytest.raises(LupusApiError) as err:
        client.silence("ds-a", reason="x", duration_hours=1)
    assert err.value.status == 403
    with LupusClient(live.url, live.tokens["other"]) as client, pytest.raises(LupusApiError) as err:
        client.silence("ds-a", reason="x", duration_hours=1)
    assert err.value.status == 403
