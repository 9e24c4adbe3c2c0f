"""Freshness alerts: a partition not materialized by its deadline, found by the sensor on every tick.

The partition of day ``D`` (in the product's time zone) is computed at the first ``cron`` tick
after ``D`` ends; it is **due** ``freshness.max_lag_hours`` after that tick. On each tick the
sensor takes the latest partition already due and, if ``[product, metrics]`` has no
materialization of it, raises a ``freshness`` alert for that day. So a partition that never
arrives alerts within one sensor interval of its deadline, whether or not anything runs.

``LUPUS_NOW`` (an ISO 8601 time) replaces the clock, for demos and replays of past calendars.

Example:
    >>> policy = FreshnessPolicy(start=date(2026, 1, 1), cron="0 6 * * *", timezone="Asia/Tokyo", max_lag_hours=2)
    >>> deadline(policy, date(2026, 3, 1)).isoformat()
    '2026-03-02T08:00:00+09:00'
    >>> latest_due(policy, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))  # 09:00 in Tokyo: the 1st is due since 08:00
    (datetime.date(2026, 3, 1), datetime.datetime(2026, 3, 2, 8, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Tokyo')))
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._utils.schedules import get_next_cron_tick

from lupus_dagster.sensors.policy import AlertPolicy, FreshnessPolicy
from lupus_metrics.schema import series_id
from lupus_store.incidents import Alert, Candidate

MAX_DAYS_BACK = 62  # a cron that runs monthly still finds its latest due partition


def now() -> datetime:
    """The current time, or ``LUPUS_NOW`` when set."""
    text = os.environ.get("LUPUS_NOW")
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def deadline(policy: FreshnessPolicy, day: date) -> datetime:
    """When the partition of ``day`` must be materialized: its cron run plus the allowed lag."""
    zone = ZoneInfo(policy.timezone)
    day_ends = datetime.combine(day + timedelta(days=1), time(0), zone)
    run = get_next_cron_tick(policy.cron, day_ends - timedelta(seconds=1), policy.timezone)
    return run + timedelta(hours=policy.max_lag_hours)


def latest_due(policy: FreshnessPolicy, moment: datetime) -> tuple[date, datetime] | None:
    """The latest partition day whose deadline has passed at ``moment``, with that deadline."""
    day = moment.astimezone(ZoneInfo(policy.timezone)).date()
    for _ in range(MAX_DAYS_BACK):
        due = deadline(policy, day)
        if due <= moment:
            return (day, due) if day >= policy.start else None
        day -= timedelta(days=1)
    return None


def freshness_candidates(instance: dg.DagsterInstance, policy: AlertPolicy, moment: datetime) -> list[Candidate]:
    """A freshness alert when the latest due partition of ``[product, metrics]`` is not materialized."""
    if policy.freshness is None:
        return []
    due = latest_due(policy.freshness, moment)
    if due is None:
        return []
    day, when = due
    key = dg.AssetKey([policy.product, "metrics"])
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
    )
    if found.records:
        return []
    rule = policy.freshness
    detail = (
        f"partition {day} of {key.to_user_string()} not materialized by its deadline "
        f"{when.strftime('%Y-%m-%d %H:%M %Z')} (cron '{rule.cron}' {rule.timezone} + {rule.max_lag_hours:g} h)"
    )
    alert = Alert(kind="freshness", metric=None, check="deadline", detail=detail)
    candidate = Candidate(
        product=policy.product, datasource=policy.datasource, series_id=series_id(policy.datasource, "freshness"),
        day=day, kind="freshness", metric="freshness", severity=2.0, alert=alert, rule="freshness",
        level=policy.level("freshness", None), team=policy.team,
    )  # fmt: skip
    return [candidate]
