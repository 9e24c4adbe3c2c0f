"""The demo pipeline's computation without Dagster, to replay the demo over many calendars and seeds.

For each demo product and day this does what the product's assets do: the metrics asset's own
function computes and stores the day's points, the Great Expectations check validates each day,
and detection runs through :func:`lupus_store.detection.detect_and_store` on the days whose
check passed (a failed blocking check stops the day's detection in Dagster), with the failed days
left out of every baseline. Verdicts do not depend on how detection runs are cut
(:func:`~lupus_metrics.detectors.timing.history_start`), so one run over the checked days stores
what one run per day would. A full Dagster backfill of 90 days takes minutes per calendar; this
takes about half a minute.

What counts as an alert, as the alert sensor sees it: a flagged point of a series, or a day whose
check failed. ``ReplayOutcome.false_alerts`` are those on any day other than the product's
incident day.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lupus_dagster.assets.partition_range import contiguous_runs
from lupus_dagster.assets.product_assets import _metrics_day
from lupus_dagster.assets.sources import DaySources, s3_storage_options
from lupus_dagster.assets.validation import validate_days
from lupus_dagster.demo.generate import DemoCalendar, generate_demo_data
from lupus_dagster.product_spec import ProductSpec
from lupus_store import MetricStore
from lupus_store.detection import detect_and_store

DEMO_PRODUCTS = Path(__file__).resolve().parents[1] / "defs" / "products"


@dataclass
class ReplayOutcome:
    """One product's replay: its incident day and every alert, as (day, what) pairs."""

    product: str
    incident: date
    alerts: list[tuple[date, str]] = field(default_factory=list)

    @property
    def incident_alerted(self) -> bool:
        return any(day == self.incident for day, _ in self.alerts)

    @property
    def false_alerts(self) -> list[tuple[date, str]]:
        return [(day, what) for day, what in self.alerts if day != self.incident]


def incident_day(calendar: DemoCalendar, product: str) -> date:
    """The day the calendar breaks ``product``."""
    return {
        "recommend": calendar.recommend_incident,
        "attribute_classifier": calendar.classifier_release,
        "demand_forecaster": calendar.forecaster_incident,
    }[product]


def demo_specs() -> list[ProductSpec]:
    """The demo products as their YAML declares them."""
    from lupus_dagster.components.product_loader import load_products

    specs, broken = load_products(DEMO_PRODUCTS)
    if broken:
        raise RuntimeError("demo products do not load: " + "; ".join(str(b) for b in broken))
    return specs


def replay_demo(
    home: Path, calendar: DemoCalendar, *, seed: int, specs: Sequence[ProductSpec] | None = None
) -> list[ReplayOutcome]:
    """Generate the demo data for ``calendar`` and ``seed`` under ``home`` and replay every product's days."""
    data = home / "data"
    generate_demo_data(data, calendar, seed=seed)
    store = MetricStore(home / "store")
    outcomes = []
    with _data_root(data):
        for spec in specs or demo_specs():
            outcomes.append(_replay_product(spec, store, calendar))
    return outcomes


def _replay_product(spec: ProductSpec, store: MetricStore, calendar: DemoCalendar) -> ReplayOutcome:
    days = calendar.each_day()
    writer = f"{spec.product}-metrics"
    # S3 options from the environment, as the assets' default resource; one DuckDB database, a cursor per day.
    with DaySources(storage_options=s3_storage_options()) as sources:
        for day in days:
            with sources.cursor() as day_sources:
                _metrics_day(spec, day, day_sources, store, writer, "replay")
    points = store.read_points(spec.datasource, start=days[0], end=days[-1], provenance=True)
    points = points[points["writer"] == writer].drop(columns=["source", "run_id", "writer"])
    checks = validate_days(points, spec, days)
    failed = {day for day, outcome in checks.items() if not outcome.passed}
    for first, last in contiguous_runs(set(days) - failed):
        detect_and_store(
            store, spec.datasource, spec.detect, start=first, end=last, writer=f"{spec.product}-anomalies",
            lookback_days=spec.lookback_days, workers=1, excluded=failed,
        )  # fmt: skip
    outcome = ReplayOutcome(spec.product, incident_day(calendar, spec.product))
    outcome.alerts += [(day, "failed check: " + "; ".join(checks[day].failures)) for day in sorted(failed)]
    flagged = store.read_anomalies(spec.datasource, start=days[0], end=days[-1])
    for row in flagged.itertuples():
        labels = ",".join(f"{k}={v}" for k, v in sorted(row.labels.items()))
        outcome.alerts.append((row.ts.date(), f"{row.metric}{{{labels}}} {row.value:.4g} vs {row.expected:.4g}"))
    outcome.alerts.sort()
    return outcome


@contextmanager
def _data_root(path: Path) -> Iterator[None]:
    # Source paths in the demo YAML are relative to LUPUS_DATA_ROOT.
    before = os.environ.get("LUPUS_DATA_ROOT")
    os.environ["LUPUS_DATA_ROOT"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["LUPUS_DATA_ROOT"]
        else:
            os.environ["LUPUS_DATA_ROOT"] = before
