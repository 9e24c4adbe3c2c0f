"""Alerts the sensor found, as incident-store candidates: anomalies (with root-cause slices) and failed checks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd

from lupus_dagster.sensors.alert_events import AnomalyMaterialization, FailedCheck, utc_day
from lupus_dagster.sensors.policy import AlertPolicy
from lupus_metrics.schema import series_id
from lupus_store import MetricStore
from lupus_store.incidents import Alert, Candidate, chart_link
from lupus_store.incidents.slices import explain_series, has_children

# A failed check has no score: an error outranks a warning, so a check that turns from WARN
# to ERROR on the same day updates its alert.
CHECK_SEVERITY = {"WARN": 1.0, "ERROR": 2.0}
MAX_DETAIL_CHARS = 1000
# Root-cause analysis reads the metric's points; past this many anomalous aggregates of one run,
# only the strongest are explained (a sensor tick must stay well inside Dagster's 60 s).
MAX_EXPLAINED = 10


def anomaly_candidates(
    store: MetricStore, materialization: AnomalyMaterialization, policy: AlertPolicy
) -> list[Candidate]:
    """The anomalies one ``anomalies`` run wrote, as candidates of the partition day."""
    day = partition_day(materialization.partition, materialization.timestamp)
    # The run's records lie within a day of its partition (the store's rule); its run id picks them out.
    frame = store.read_anomalies(
        policy.datasource, start=day - timedelta(days=1), end=day + timedelta(days=1), only_anomalies=False
    )
    frame = frame[frame["run_id"] == materialization.run_id]
    if materialization.partition is not None:
        # A ranged run materializes every day of its range and wrote the neighbours' records too.
        frame = frame[frame["ts"].dt.date == day]
    return candidates_from_verdicts(store, frame, policy, day)


def candidates_from_verdicts(
    store: MetricStore, verdicts: pd.DataFrame, policy: AlertPolicy, day: date
) -> list[Candidate]:
    """Flagged rows of ``verdicts`` (detector records of one day) as candidates; aggregates get root-cause slices."""
    flagged = verdicts[verdicts["is_anomaly"].astype(bool)]
    if flagged.empty:
        return []
    labels_by_metric: dict[str, list[dict]] = {}
    for metric, labels in zip(verdicts["metric"], verdicts["labels"], strict=True):
        labels_by_metric.setdefault(metric, []).append(dict(labels or {}))
    strength = flagged["score"].abs().fillna(0.0)
    explained = 0
    candidates = []
    for row in flagged.assign(strength=strength).sort_values("strength", ascending=False).itertuples(index=False):
        labels = dict(row.labels or {})
        alert = Alert(
            kind="anomaly", metric=row.metric, labels=labels, value=_float(row.value), expected=_float(row.expected),
            lower=_float(row.lower), upper=_float(row.upper), score=_float(row.score),
            link=chart_link(policy.datasource, row.metric, labels, day),
        )  # fmt: skip
        if explained < MAX_EXPLAINED and has_children(labels_by_metric.get(row.metric, []), labels):
            explained += 1
            cause = explain_series(store, policy.datasource, metric=row.metric, labels=labels, day=day,
                                   verdicts=verdicts, additive=policy.additive)  # fmt: skip
            if cause is not None and cause.slices:
                alert.root_cause = cause.to_json()
        candidate = Candidate(
            product=policy.product, datasource=policy.datasource, series_id=row.series_id, day=day,
            kind="anomaly", metric=row.metric, severity=float(row.strength), alert=alert,
            rule=policy.rule_name(row.metric, labels, getattr(row, "detector", None)),
            level=policy.level("anomaly", row.metric), team=policy.team,
        )  # fmt: skip
        candidates.append(candidate)
    return candidates


def check_candidate(check: FailedCheck, policy: AlertPolicy) -> Candidate:
    """A failed check as a candidate: kind ``freshness`` for freshness checks, else ``check``."""
    day = partition_day(check.partition, check.timestamp)
    freshness = _is_freshness(check)
    metric = check.metadata.get("metric")
    alert = Alert(
        kind="freshness" if freshness else "check",
        metric=str(metric) if metric else None,
        check=check.check_name,
        detail=_check_detail(check),
        link=chart_link(policy.datasource, str(metric), None, day) if metric else None,
        concerns=_concerns(check.metadata),
    )
    return Candidate(
        product=policy.product, datasource=policy.datasource,
        # Freshness from Dagster's check and from the sensor's own deadline are one alert per day.
        series_id=series_id(policy.datasource, "freshness" if freshness else f"check.{check.check_name}"),
        day=day, kind=alert.kind, metric=check.check_name, severity=CHECK_SEVERITY.get(check.severity, 2.0),
        alert=alert, rule="freshness" if freshness else f"check:{check.check_name}",
        level=policy.level(alert.kind, None, check.severity), team=policy.team,
    )  # fmt: skip


def partition_day(partition: str | None, timestamp: float) -> date:
    """The partition's day, or the UTC day of ``timestamp`` for an unpartitioned event."""
    try:
        return date.fromisoformat(partition or "")
    except ValueError:
        return date.fromisoformat(utc_day(timestamp))


def _concerns(metadata: dict) -> list[str]:
    named: Iterable = metadata.get("metrics") or []
    if isinstance(named, str):
        named = [m for m in named.replace(",", "\n").splitlines() if m.strip()]
    metrics = [str(m).strip() for m in named]
    if metadata.get("metric"):
        metrics.insert(0, str(metadata["metric"]))
    return list(dict.fromkeys(metrics))


def _is_freshness(check: FailedCheck) -> bool:
    return "freshness" in check.check_name.lower() or any(key.startswith("dagster/freshness") for key in check.metadata)


def _check_detail(check: FailedCheck) -> str | None:
    parts = [check.description] if check.description else []
    if check.metadata.get("failed_expectations"):
        parts.append(str(check.metadata["failed_expectations"]))
    else:
        parts += [
            f"{key}={value}"
            for key, value in check.metadata.items()
            if isinstance(value, str | int | float) and key not in ("metric", "metrics")
        ][:5]
    # One line: it goes into headlines and one-line alert summaries.
    text = "; ".join(line.strip() for part in parts for line in str(part).splitlines() if line.strip())
    return text[:MAX_DETAIL_CHARS] or None


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
