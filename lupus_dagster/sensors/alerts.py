"""The alert sensor of one product: what broke, grouped into incidents, one chat message per incident.

(No ``from __future__ import annotations`` here: Dagster reads the sensor's resource
annotations at runtime.)

Each tick:

1. reads what happened since the cursor: the ``[product, "anomalies"]`` materializations (and,
   for each, the anomaly records that run wrote, its partition day ± 1, by run id), the failed
   evaluations of the checks on ``[product, "metrics"]``, and the ``[product, "metrics"]``
   materializations (each new day is checked for segments that vanished: no-data alerts);
2. checks the latest partition that is due (cron plus ``freshness.max_lag_hours``): not
   materialized means a freshness alert, whatever runs or does not;
3. day by day, oldest first: resolves open incidents whose members have been back in band for
   ``alerts.resolve_after_days``, then records the day's alerts in the incident store
   (:mod:`lupus_store.incidents`: de-duplication, continuation of open incidents, new incidents
   with headlines and root-cause slices, silences), then moves the cursor;
4. posts every owed message of the product, one per incident, to the channel its severity routes
   to; a failed post stays owed for the next tick and never fails the tick.

The sensor starts RUNNING and requests no runs; its tick text (a skip reason) says what it did.

Example:
    >>> from lupus_dagster.resources.notifier import AlertChannel
    >>> sensor = build_alert_sensor(product="shop", datasource="shop-ds", channel=AlertChannel(kind="console"))
    >>> sensor.name, sensor.default_status.value, sorted(sensor.required_resource_keys)
    ('shop_alerts', 'RUNNING', ['metadata', 'store'])
"""

from datetime import timedelta

import dagster as dg

from lupus_dagster.resources.alert_message import IncidentMessage
from lupus_dagster.resources.metadata import MetadataResource
from lupus_dagster.resources.notifier import AlertChannel, DeliveryError, Notifier
from lupus_dagster.resources.store import MetricStoreResource
from lupus_dagster.sensors.alert_events import AlertCursor, finished_checks, new_materializations
from lupus_dagster.sensors.candidates import anomaly_candidates, check_candidate, partition_day
from lupus_dagster.sensors.freshness import freshness_candidates, now
from lupus_dagster.sensors.no_data import no_data_candidates
from lupus_dagster.sensors.policy import AlertPolicy
from lupus_store import MetricStore
from lupus_store.incidents import Candidate, IncidentStore, RecordReport
from lupus_store.incidents.evidence import Evidence


def build_alert_sensor(
    *,
    product: str,
    datasource: str,
    channel: AlertChannel | None = None,
    policy: AlertPolicy | None = None,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """The ``<product>_alerts`` sensor; it needs the resources ``store`` and ``metadata``.

    ``policy`` carries routing, grading, resolution, no-data and freshness settings
    (:meth:`AlertPolicy.from_spec`); without one, every incident goes to ``channel``.
    """
    policy = policy or AlertPolicy.with_channel(product, datasource, channel)
    anomalies_key = dg.AssetKey([product, "anomalies"])
    metrics_key = dg.AssetKey([product, "metrics"])
    where = policy.routes.channel_for("warning").kind

    @dg.sensor(
        name=f"{product}_alerts",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Groups new anomalies, failed checks, missing segments and late partitions of {product} "
        f"({datasource}) into incidents and posts one message per incident ({where} channel by default).",
    )
    def _alerts(
        context: dg.SensorEvaluationContext, store: MetricStoreResource, metadata: MetadataResource
    ) -> dg.SensorResult:
        cursor = AlertCursor.parse(context.cursor)
        incidents = IncidentStore(metadata.get_db(), upgrade=False)
        metric_store = store.get_store()

        anomaly_runs, anomaly_position, more = new_materializations(
            context.instance, anomalies_key, cursor.materialization
        )
        candidates: list[Candidate] = []
        for materialization in anomaly_runs:
            if materialization.datasource not in (None, datasource):
                context.log.warning(
                    f"{anomalies_key.to_user_string()} run {materialization.run_id} wrote datasource "
                    f"{materialization.datasource!r}, this sensor watches {datasource!r}: skipped"
                )
                continue
            candidates += anomaly_candidates(metric_store, materialization, policy)
        failed, check_position = finished_checks(context.instance, _check_keys(context, metrics_key), cursor.checks)
        candidates += [check_candidate(check, policy) for check in failed]
        metric_runs, metrics_position, more_metrics = new_materializations(
            context.instance, metrics_key, cursor.metrics
        )
        for day in sorted({partition_day(m.partition, m.timestamp) for m in metric_runs}):
            candidates += no_data_candidates(metric_store, policy, day)
        candidates += freshness_candidates(context.instance, policy, now())

        evidence = None
        if anomaly_runs or metric_runs or candidates:  # nothing else changes an incident's days back in band
            evidence = load_evidence(incidents, metric_store, policy, candidates)
        recorded, resolved = record_and_resolve(incidents, policy, candidates, evidence)
        delivery = deliver_pending(incidents, policy, log=context.log)

        summary = (
            f"{len(anomaly_runs)} new anomaly materialization(s), {len(metric_runs)} metrics materialization(s), "
            f"{len(failed)} failed check(s): {recorded.new} new alert(s) ({recorded.opened} new incident(s), "
            f"{recorded.attached} attached to open ones), {recorded.duplicates} duplicate(s), "
            f"{recorded.silenced} silenced; {len(resolved)} incident(s) resolved; {delivery}"
        )
        if more or more_metrics:
            summary += "; more materializations left for the next tick"
        return dg.SensorResult(
            skip_reason=summary,
            cursor=AlertCursor(
                materialization=anomaly_position, checks=check_position, metrics=metrics_position
            ).serialize(),
        )

    return _alerts


def load_evidence(
    incidents: IncidentStore, store: MetricStore, policy: AlertPolicy, candidates: list[Candidate]
) -> Evidence | None:
    """The store's verdicts from the oldest open incident's last day (or the oldest new alert) on."""
    days = [incident.last_day for incident in incidents.open_incidents(policy.product)]
    days += [candidate.day for candidate in candidates]
    return Evidence.load(store, policy.datasource, start=min(days)) if days else None


def record_and_resolve(
    incidents: IncidentStore, policy: AlertPolicy, candidates: list[Candidate], evidence: Evidence | None
) -> tuple[RecordReport, list[int]]:
    """Record ``candidates`` day by day (oldest first), resolving incidents back in band before each day.

    Without ``evidence`` (nothing new arrived) nothing is resolved.
    """
    days = sorted({candidate.day for candidate in candidates})
    totals: dict[str, int] = dict.fromkeys(RecordReport.__dataclass_fields__, 0)
    resolved: list[int] = []
    for day in days:
        if evidence is not None:
            resolved += _resolve(incidents, evidence, policy, as_of=day - timedelta(days=1))
        report = incidents.record([candidate for candidate in candidates if candidate.day == day])
        for name in totals:
            totals[name] += getattr(report, name)
    if evidence is not None:
        resolved += _resolve(incidents, evidence, policy, as_of=None)
    return RecordReport(**totals), resolved


def _resolve(incidents: IncidentStore, evidence: Evidence, policy: AlertPolicy, *, as_of) -> list[int]:
    clean = {
        incident.id: evidence.clean_days(incident, as_of=as_of) for incident in incidents.open_incidents(policy.product)
    }
    if not clean:
        return []
    return incidents.resolve_due(clean, after_days=policy.resolve_after_days, notify=policy.notify_on_resolve)


def deliver_pending(incidents: IncidentStore, policy: AlertPolicy, *, log=None) -> str:
    """Post every owed message of the product, oldest incident first; what happened, as text.

    When a channel is down (unreachable, 5xx after the retries, no URL), the other messages for
    it wait for the next tick instead of each spending the retries again: a tick must stay short.
    """
    sent = failed = waiting = 0
    errors: list[str] = []
    down: set[str] = set()
    for outgoing in incidents.pending_notifications(policy.product):
        channel = policy.routes.channel_for(outgoing.incident.severity)
        name = channel_name(channel)
        if name in down:
            waiting += 1
            continue
        message = IncidentMessage.from_outgoing(outgoing)
        try:
            Notifier(channel).send(message)
        except Exception as err:  # a delivery problem must never fail the tick: the message stays owed
            error = str(err) if isinstance(err, DeliveryError) else f"{type(err).__name__}: {err}"
            if getattr(err, "channel_down", True):
                down.add(name)
            incidents.mark_failed(outgoing.notification_id, error)
            failed += 1
            errors.append(f"incident #{outgoing.incident.id}: {error}")
            if log is not None:
                log.warning(f"incident #{outgoing.incident.id} of {policy.product} not delivered, kept owed: {error}")
            continue
        incidents.mark_sent(outgoing.notification_id, channel=name)
        sent += 1
    text = f"posted {sent} message(s)"
    if failed:
        text += f"; {failed} message(s) stay owed after a failed delivery ({'; '.join(errors)})"
    if waiting:
        text += f"; {waiting} message(s) wait for the next tick"
    return text


def channel_name(channel: AlertChannel) -> str:
    """``kind:target`` (the env var's name, never the URL)."""
    return f"{channel.kind}:{channel.url_env or channel.path or ''}"


def _check_keys(context: dg.SensorEvaluationContext, asset_key: dg.AssetKey) -> list[dg.AssetCheckKey]:
    repository = context.repository_def
    if repository is None:  # only when a test builds the context without definitions
        context.log.warning("no repository in the sensor context: failed checks are not watched")
        return []
    return sorted(repository.asset_graph.get_check_keys_for_assets({asset_key}), key=lambda key: key.name)
