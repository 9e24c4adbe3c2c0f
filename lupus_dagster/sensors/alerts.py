"""The alert sensor of one product: new anomalies and failed checks to one chat message per day.

(No ``from __future__ import annotations`` here: Dagster reads the sensor's resource
annotations at runtime.)

Each tick:

1. reads the ``[product, "anomalies"]`` materializations after the cursor and, for each, the
   anomaly records that run wrote to the store (its partition day ± 1, filtered by run id);
2. reads the failed evaluations of the checks on ``[product, "metrics"]`` (Great Expectations
   ``ge_validation``, freshness checks, any other) that finished since the last tick;
3. records them in ``alert_states`` (de-duplication: one alert per series, day and kind,
   again only when the severity rises), then moves the cursor;
4. posts every pending alert of the product, one message per day; a failed post leaves
   the alerts pending for the next tick and never fails the tick.

The sensor starts RUNNING and requests no runs; its tick text (a skip reason) says what it did.

Example:
    >>> from lupus_dagster.resources.notifier import AlertChannel
    >>> sensor = build_alert_sensor(product="shop", datasource="shop-ds", channel=AlertChannel(kind="console"))
    >>> sensor.name, sensor.default_status.value, sorted(sensor.required_resource_keys)
    ('shop_alerts', 'RUNNING', ['metadata', 'store'])
"""

import math
from datetime import date, timedelta

import dagster as dg

from lupus_dagster.resources.alert_message import Alert, AlertMessage, chart_link
from lupus_dagster.resources.metadata import MetadataResource
from lupus_dagster.resources.notifier import AlertChannel, DeliveryError, Notifier
from lupus_dagster.resources.store import MetricStoreResource
from lupus_dagster.sensors.alert_events import (
    AlertCursor,
    AnomalyMaterialization,
    FailedCheck,
    finished_checks,
    new_materializations,
    utc_day,
)
from lupus_dagster.sensors.alert_state import Candidate, mark_failed, mark_sent, pending_by_day, record_candidates
from lupus_metrics.schema import series_id
from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB

# A failed check has no score: an error outranks a warning, so a check that turns from WARN
# to ERROR on the same day re-alerts.
CHECK_SEVERITY = {"WARN": 1.0, "ERROR": 2.0}
MAX_DETAIL_CHARS = 1000


def build_alert_sensor(
    *,
    product: str,
    datasource: str,
    channel: AlertChannel,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """The ``<product>_alerts`` sensor; it needs the resources ``store`` and ``metadata``."""
    anomalies_key = dg.AssetKey([product, "anomalies"])
    metrics_key = dg.AssetKey([product, "metrics"])
    notifier = Notifier(channel)

    @dg.sensor(
        name=f"{product}_alerts",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Posts new anomalies and failed checks of {product} ({datasource}) to its {channel.kind} channel.",
    )
    def _alerts(
        context: dg.SensorEvaluationContext, store: MetricStoreResource, metadata: MetadataResource
    ) -> dg.SensorResult:
        cursor = AlertCursor.parse(context.cursor)
        db = metadata.get_db()

        materializations, materialization_position, more = new_materializations(
            context.instance, anomalies_key, cursor.materialization
        )
        candidates: list[Candidate] = []
        for materialization in materializations:
            if materialization.datasource not in (None, datasource):
                context.log.warning(
                    f"{anomalies_key.to_user_string()} run {materialization.run_id} wrote datasource "
                    f"{materialization.datasource!r}, this sensor watches {datasource!r}: skipped"
                )
                continue
            candidates += anomaly_candidates(store.get_store(), materialization, product=product, datasource=datasource)

        failed, check_position = finished_checks(context.instance, _check_keys(context, metrics_key), cursor.checks)
        candidates += [check_candidate(check, product=product, datasource=datasource) for check in failed]

        recorded = record_candidates(db, candidates)
        delivery = deliver_pending(db, notifier, product=product, datasource=datasource, log=context.log)

        summary = (
            f"{len(materializations)} new anomaly materialization(s), {len(failed)} failed check(s): "
            f"{recorded.new} new alert(s), {recorded.realerts} re-alert(s), {recorded.duplicates} duplicate(s); "
            f"{delivery}"
        )
        if more:
            summary += "; more materializations left for the next tick"
        return dg.SensorResult(
            skip_reason=summary,
            cursor=AlertCursor(materialization=materialization_position, checks=check_position).serialize(),
        )

    return _alerts


def anomaly_candidates(
    store: MetricStore, materialization: AnomalyMaterialization, *, product: str, datasource: str
) -> list[Candidate]:
    """The anomalies one ``anomalies`` run wrote, as alert candidates of the partition day."""
    day = _day(materialization.partition, materialization.timestamp)
    # The run's records lie within a day of its partition (the store's rule); its run id picks them out.
    frame = store.read_anomalies(datasource, start=day - timedelta(days=1), end=day + timedelta(days=1))
    frame = frame[frame["run_id"] == materialization.run_id]
    if materialization.partition is not None:
        # A ranged run materializes every day of its range and wrote the neighbours' records too.
        frame = frame[frame["ts"].dt.date == day]
    candidates = []
    for row in frame.itertuples(index=False):
        labels = dict(row.labels or {})
        alert = Alert(
            kind="anomaly",
            metric=row.metric,
            labels=labels,
            value=_float(row.value),
            expected=_float(row.expected),
            lower=_float(row.lower),
            upper=_float(row.upper),
            score=_float(row.score),
            link=chart_link(datasource, row.metric, labels, day),
        )
        severity = abs(alert.score) if alert.score is not None else 0.0
        candidates.append(Candidate(product, datasource, row.series_id, day, "anomaly", row.metric, severity, alert))
    return candidates


def check_candidate(check: FailedCheck, *, product: str, datasource: str) -> Candidate:
    """A failed check as an alert candidate: kind ``freshness`` for freshness checks, else ``check``."""
    day = _day(check.partition, check.timestamp)
    kind = "freshness" if _is_freshness(check) else "check"
    metric = check.metadata.get("metric")
    alert = Alert(
        kind=kind,
        metric=str(metric) if metric else None,
        check=check.check_name,
        detail=_check_detail(check),
        link=chart_link(datasource, str(metric), None, day) if metric else None,
    )
    return Candidate(
        product=product,
        datasource=datasource,
        series_id=series_id(datasource, f"check.{check.check_name}"),
        day=day,
        kind=kind,
        metric=check.check_name,
        severity=CHECK_SEVERITY.get(check.severity, 2.0),
        alert=alert,
    )


def deliver_pending(db: MetadataDB, notifier: Notifier, *, product: str, datasource: str, log=None) -> str:
    """Post every pending alert of ``product``, one message per day, oldest day first; what happened, as text.

    When the channel is down (unreachable, 5xx after the retries, no URL) the remaining days
    wait for the next tick instead of each spending the retries again: a tick must stay short.
    """
    sent_messages = sent_alerts = failed_alerts = waiting_alerts = 0
    errors: list[str] = []
    channel_down = False
    for day, pending in pending_by_day(db, datasource=datasource, product=product).items():
        ids = [item.state_id for item in pending]
        if channel_down:
            waiting_alerts += len(ids)
            continue
        message = AlertMessage(product=product, datasource=datasource, day=day, alerts=[item.alert for item in pending])
        try:
            notifier.send(message)
        except Exception as err:  # a delivery problem must never fail the tick: the alerts stay pending
            error = str(err) if isinstance(err, DeliveryError) else f"{type(err).__name__}: {err}"
            channel_down = getattr(err, "channel_down", True)
            mark_failed(db, ids, error)
            failed_alerts += len(ids)
            errors.append(f"{day}: {error}")
            if log is not None:
                log.warning(f"alerts of {product} on {day} not delivered, kept pending: {error}")
            continue
        mark_sent(db, ids)
        sent_messages += 1
        sent_alerts += len(ids)
    text = f"posted {sent_messages} message(s) with {sent_alerts} alert(s)"
    if failed_alerts:
        text += f"; {failed_alerts} alert(s) stay pending after a failed delivery ({'; '.join(errors)})"
    if waiting_alerts:
        text += f"; {waiting_alerts} alert(s) of later days wait for the next tick"
    return text


def _check_keys(context: dg.SensorEvaluationContext, asset_key: dg.AssetKey) -> list[dg.AssetCheckKey]:
    repository = context.repository_def
    if repository is None:  # only when a test builds the context without definitions
        context.log.warning("no repository in the sensor context: failed checks are not watched")
        return []
    return sorted(repository.asset_graph.get_check_keys_for_assets({asset_key}), key=lambda key: key.name)


def _is_freshness(check: FailedCheck) -> bool:
    return "freshness" in check.check_name.lower() or any(key.startswith("dagster/freshness") for key in check.metadata)


def _check_detail(check: FailedCheck) -> str | None:
    parts = [check.description] if check.description else []
    if check.metadata.get("failed_expectations"):
        parts.append(f"failed expectations: {check.metadata['failed_expectations']}")
    else:
        parts += [
            f"{key}={value}"
            for key, value in check.metadata.items()
            if isinstance(value, str | int | float) and key != "metric"
        ][:5]
    text = "; ".join(str(part) for part in parts)
    return text[:MAX_DETAIL_CHARS] or None


def _day(partition: str | None, timestamp: float) -> date:
    try:
        return date.fromisoformat(partition or "")
    except ValueError:  # unpartitioned (or not a daily key): the day it happened, UTC
        return date.fromisoformat(utc_day(timestamp))


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
