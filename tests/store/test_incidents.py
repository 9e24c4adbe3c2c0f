"""The incident store on SQLite and a real PostgreSQL: grouping, continuation, silences, delivery, feedback, migration."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, select

from lupus_metrics.errors import LupusValidationError
from lupus_store.incidents import Alert, Candidate, IncidentNotFoundError, IncidentStore
from lupus_store.metadata import AlertState, MetadataDB
from lupus_store.metadata.models import Incident, IncidentNotification

DAY = date(2026, 10, 30)


@pytest.fixture
def store(metadata_url):
    incidents = IncidentStore(MetadataDB(metadata_url))
    yield incidents
    incidents.db.dispose()


def anomaly(
    metric: str,
    labels: dict | None = None,
    *,
    day: date = DAY,
    value: float = 0.18,
    expected: float = 0.63,
    score: float = -9.0,
    product: str = "recommend",
    rule: str = "detect[0]",
    root_cause=None,
) -> Candidate:
    labels = labels or {}
    alert = Alert("anomaly", metric, labels, value=value, expected=expected, score=score, root_cause=root_cause)
    series = f"{metric}{sorted(labels.items())}"[:32]
    return Candidate(product, product, series, day, "anomaly", metric, abs(score), alert, rule=rule)


def check(day: date = DAY, concerns=("rows.count",)) -> Candidate:
    alert = Alert("check", None, check="ge_validation", detail="rows.count: observed 700, min 1500",
                  concerns=list(concerns))  # fmt: skip
    return Candidate("shop", "shop", "check.ge_validation", day, "check", "ge_validation", 2.0, alert,
                     rule="check:ge_validation", level="critical")  # fmt: skip


def test_related_alerts_of_a_day_are_one_incident_with_a_headline_in_words(store):
    cause = {"kind": "ratio", "actual": 0.48, "expected": 0.63, "weights": "n", "leaves": 3, "slices": [
        {"labels": {"region": "JP"}, "share": 0.92, "effect": "rate", "actual": 0.18, "expected": 0.63,
         "score": 0.9, "surprise": 0.1}]}  # fmt: skip
    report = store.record([
        anomaly("ranking.recall", {"region": "JP"}),
        anomaly("ranking.recall", value=0.48, score=-12.0, root_cause=cause),
        anomaly("ranking.ndcg", {"region": "JP"}, value=0.2, expected=0.5, score=-8.0),
        anomaly("rows.count", value=500.0, expected=1000.0, score=-5.0),
    ])  # fmt: skip
    assert (report.new, report.opened) == (4, 2)
    ranking, rows = sorted(store.incidents(), key=lambda i: -len(i.members))
    assert ranking.headline == (
        "recommend: ranking.recall for region=JP 0.18 vs 0.63 expected (−71 %) on 2026-10-30; "
        "region=JP explains 92 % of the ranking.recall drop; 2 related series"
    )
    assert ranking.lead.labels == {"region": "JP"} and round(ranking.change, 2) == -0.71
    assert ranking.top_slices[0]["labels"] == {"region": "JP"}
    assert (ranking.status, ranking.severity, ranking.delivery) == ("open", "warning", "pending")
    assert [m.metric for m in rows.members] == ["rows.count"]


def test_a_change_spread_over_every_slice_names_no_cause(store):
    cause = {"kind": "ratio", "actual": 0.32, "expected": 0.015, "weights": "n", "leaves": 4, "slices": [
        {"labels": {"segment": "senior"}, "share": 0.26, "effect": "rate", "actual": 0.33, "expected": 0.015,
         "score": 0.2, "surprise": 0.0}]}  # fmt: skip
    store.record([
        anomaly("churn.rate", value=0.32, expected=0.015, score=40.0, root_cause=cause),
        anomaly("churn.rate", {"segment": "senior"}, value=0.33, expected=0.015, score=30.0),
    ])  # fmt: skip
    [incident] = store.incidents()
    assert incident.headline == "recommend: churn.rate 0.32 vs 0.015 expected (+2033 %) on 2026-10-30; 1 related series"


def test_a_failed_check_and_the_metrics_it_concerns_are_one_incident(store):
    store.record([check(), anomaly("rows.count", product="shop", value=700.0, expected=1500.0)])
    [incident] = store.incidents()
    assert incident.severity == "critical"
    assert incident.headline.startswith("shop: check ge_validation failed (rows.count: observed 700, min 1500)")


def test_a_continuing_problem_attaches_to_the_open_incident_and_posts_nothing_new(store):
    store.record([anomaly("ranking.recall", {"region": "JP"})])
    [message] = store.pending_notifications("recommend")
    store.mark_sent(message.notification_id)
    report = store.record([anomaly("ranking.recall", {"region": "JP"}, day=DAY + timedelta(days=1))])
    assert (report.attached, report.opened) == (1, 0)
    [incident] = store.incidents()
    assert (incident.start_day, incident.last_day, len(incident.members)) == (DAY, DAY + timedelta(days=1), 2)
    assert "continuing through 2026-10-31" in incident.headline
    assert store.pending_notifications("recommend") == []
    assert [m.status for m in incident.members] == ["sent", "sent"]


def test_the_same_alert_again_is_a_duplicate_and_a_higher_severity_only_updates_it(store):
    store.record([anomaly("rows.count", score=-6.0)])
    assert store.record([anomaly("rows.count", score=-6.0)]).duplicates == 1
    assert store.record([anomaly("rows.count", score=-9.0)]).updated == 1
    [incident] = store.incidents()
    assert incident.score == 9.0 and len(incident.members) == 1 and incident.members[0].alert.previous_severity == 6.0


def test_an_incident_resolves_after_its_clean_days_and_a_later_alert_opens_a_new_one(store):
    store.record([anomaly("rows.count")])
    [incident] = store.open_incidents("recommend")
    assert store.resolve_due({incident.id: 2}, after_days=3) == []
    assert store.incident(incident.id).clean_days == 2
    assert store.resolve_due({incident.id: 3}, after_days=3) == [incident.id]
    resolved = store.incident(incident.id)
    assert resolved.status == "resolved" and resolved.resolved_by.startswith("lupus: back in band")
    store.record([anomaly("rows.count", day=DAY + timedelta(days=10))])
    assert len(store.incidents()) == 2


def test_resolving_can_post_a_message_once_the_opening_one_was_delivered(store):
    store.record([anomaly("rows.count")])
    [opened] = store.pending_notifications("recommend")
    store.mark_sent(opened.notification_id)
    store.resolve_due({opened.incident.id: 3}, after_days=3, notify=True)
    [message] = store.pending_notifications("recommend")
    assert (message.event, message.incident.status) == ("resolved", "resolved")


def test_a_silenced_alert_is_recorded_but_not_owed_and_is_owed_once_the_silence_expires(store):
    silence = store.add_silence(datasource="recommend", metric="ranking.*", labels={"region": "J*"},
                                duration=timedelta(hours=1), author="alice", reason="JP rollout")  # fmt: skip
    report = store.record([anomaly("ranking.recall", {"region": "JP"})])
    assert report.silenced == 1
    [incident] = store.incidents()
    assert incident.members[0].status == "silenced" and incident.members[0].silence_id == silence.id
    assert incident.delivery == "silenced"
    assert store.pending_notifications("recommend") == []

    store.expire_silence(silence.id)
    [message] = store.pending_notifications("recommend")
    assert message.event == "opened" and [a.metric for a in message.alerts] == ["ranking.recall"]
    store.mark_sent(message.notification_id)
    assert store.pending_notifications("recommend") == []


def test_a_silence_made_after_an_alert_but_before_its_delivery_keeps_it_quiet(store):
    store.record([anomaly("ranking.recall", {"region": "JP"})])
    store.add_silence(datasource="recommend", product="recommend", metric="*", duration=timedelta(hours=1),
                      author="bob", reason="known")  # fmt: skip
    assert store.pending_notifications("recommend") == []
    assert store.incidents()[0].members[0].status == "silenced"


def test_an_alert_released_from_silence_in_an_incident_already_posted_gets_its_own_message(store):
    silence = store.add_silence(datasource="recommend", metric="ranking.ndcg", duration=timedelta(hours=1),
                                author="bob", reason="known")  # fmt: skip
    store.record([anomaly("ranking.recall"), anomaly("ranking.ndcg", value=0.2, expected=0.5)])
    [opened] = store.pending_notifications("recommend")
    assert [a.metric for a in opened.alerts] == ["ranking.recall"]
    store.mark_sent(opened.notification_id)
    store.expire_silence(silence.id)
    [again] = store.pending_notifications("recommend")
    assert again.event == "unsilenced" and [a.metric for a in again.alerts] == ["ranking.ndcg"]


def test_a_silenced_alert_of_a_resolved_incident_is_never_posted(store):
    silence = store.add_silence(datasource="recommend", metric="*", duration=timedelta(hours=1), author="a",
                                reason="b")  # fmt: skip
    store.record([anomaly("rows.count")])
    [incident] = store.open_incidents("recommend")
    store.resolve_due({incident.id: 5}, after_days=3)
    store.expire_silence(silence.id)
    assert store.pending_notifications("recommend") == []


def test_a_failed_delivery_stays_owed_with_its_error(store):
    store.record([anomaly("rows.count")])
    [message] = store.pending_notifications("recommend")
    store.mark_failed(message.notification_id, "HTTP 500: boom")
    [again] = store.pending_notifications("recommend")
    assert (again.notification_id, again.attempts) == (message.notification_id, 1)
    with store.db.session() as session:
        member = session.scalars(select(AlertState)).one()
        assert (member.status, member.attempts, member.last_error) == ("pending", 1, "HTTP 500: boom")
    store.mark_sent(message.notification_id)
    with store.db.session() as session:
        assert session.scalars(select(AlertState.status)).one() == "sent"


def test_verdicts_give_each_rule_its_precision(store):
    store.record([anomaly("rows.count", rule="detect[1]")])
    [first] = store.open_incidents("recommend")
    store.resolve_due({first.id: 3}, after_days=3)
    store.record([anomaly("rows.count", rule="detect[1]", day=DAY + timedelta(days=20))])
    store.record([anomaly("score.mean", rule="detect[0]")])
    second, third = (i.id for i in sorted(store.incidents(status="active"), key=lambda i: i.start_day, reverse=True))
    store.acknowledge(first.id, verdict="real", by="alice")
    store.acknowledge(second, verdict="false_alarm", by="alice", note="a holiday")
    precision = {p.rule: p for p in store.rule_precision(product="recommend")}
    assert (precision["detect[1]"].judged, precision["detect[1]"].real, precision["detect[1]"].precision) == (2, 1, 0.5)
    assert (precision["detect[0]"].incidents, precision["detect[0]"].judged, precision["detect[0]"].precision) == (
        1, 0, None)  # fmt: skip
    assert store.incident(third).status == "open" and store.incident(second).note == "a holiday"


def test_acknowledging_needs_a_known_verdict_and_incident(store):
    store.record([anomaly("rows.count")])
    with pytest.raises(LupusValidationError, match="verdict"):
        store.acknowledge(1, verdict="meh", by="alice")
    with pytest.raises(IncidentNotFoundError):
        store.acknowledge(99, verdict="real", by="alice")


def test_a_silence_needs_an_end_after_its_start_an_author_and_a_reason(store):
    with pytest.raises(LupusValidationError, match="ends_at"):
        store.add_silence(datasource="ds", author="a", reason="r", ends_at=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(LupusValidationError, match="reason"):
        store.add_silence(datasource="ds", author="a", reason=" ", duration=timedelta(hours=1))


def test_a_silence_given_in_another_time_zone_is_stored_and_matched_in_utc(store):
    # 10:00+05:00 is 05:00 UTC: before an end at 06:00 UTC, although its text sorts after it.
    start = datetime(2030, 1, 1, 10, tzinfo=timezone(timedelta(hours=5)))
    view = store.add_silence(datasource="ds", author="a", reason="r", starts_at=start,
                             ends_at=datetime(2030, 1, 1, 6, tzinfo=UTC))  # fmt: skip
    assert view.starts_at == datetime(2030, 1, 1, 5, tzinfo=UTC)
    assert [s.id for s in store.silences(active_at=datetime(2030, 1, 1, 5, 30, tzinfo=UTC))] == [view.id]
    assert store.silences(active_at=datetime(2030, 1, 1, 9, 30, tzinfo=UTC)) == []
    with pytest.raises(LupusValidationError, match="starts_at"):
        store.add_silence(datasource="ds", author="a", reason="r", starts_at=datetime(9999, 12, 31, tzinfo=UTC),
                          duration=timedelta(days=2))  # fmt: skip


def test_migration_moves_existing_alert_states_into_incidents_and_back(metadata_url):
    db = MetadataDB(metadata_url)
    db.upgrade("0003")
    legacy = sa.table(
        "alert_states", sa.column("datasource", sa.String), sa.column("series_id", sa.String),
        sa.column("day", sa.Date), sa.column("kind", sa.String), sa.column("metric", sa.String),
        sa.column("severity", sa.Float), sa.column("status", sa.String), sa.column("attempts", sa.Integer),
        sa.column("payload", sa.JSON), sa.column("created_at", sa.DateTime(timezone=True)),
    )  # fmt: skip
    now = datetime.now(UTC)
    rows = [
        ("shop", "a", DAY, "anomaly", "rows.count", 6.0, "sent", {"product": "shop", "alert": {"labels": {"r": "JP"}}}),
        ("shop", "b", DAY, "check", "ge_validation", 2.0, "pending", {"product": "shop", "alert": {}}),
        ("shop", "c", DAY + timedelta(days=1), "anomaly", "rows.count", 5.0, "sent", {"product": "shop"}),
    ]
    with db.engine.begin() as connection:
        connection.execute(legacy.insert(), [
            {"datasource": d, "series_id": s, "day": day, "kind": k, "metric": m, "severity": sev, "status": st,
             "attempts": 1, "payload": payload, "created_at": now}
            for d, s, day, k, m, sev, st, payload in rows
        ])  # fmt: skip
    db.upgrade()
    with db.session() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.start_day)).all()
        assert [(i.start_day, i.status, i.severity) for i in incidents] == [
            (DAY, "open", "critical"), (DAY + timedelta(days=1), "open", "warning")]  # fmt: skip
        notifications = session.scalars(select(IncidentNotification).order_by(IncidentNotification.id)).all()
        # The day with an undelivered alert is still owed; the delivered day is not.
        assert [n.status for n in notifications] == ["pending", "sent"]
        member = session.scalars(select(AlertState).where(AlertState.series_id == "a")).one()
        assert (member.product, member.labels, member.incident_id) == ("shop", {"r": "JP"}, incidents[0].id)
    db.downgrade("0003")
    tables = set(inspect(db.engine).get_table_names())
    assert "alert_states" in tables and not {"incidents", "silences", "incident_notifications"} & tables
    db.upgrade()
    db.dispose()
