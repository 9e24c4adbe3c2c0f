"""`lupus demo`: generate the demo products' data, backfill every partition, detect, alert, serve.

The backfill makes ranged runs (:mod:`lupus_dagster.demo.backfill`): one Dagster run per product
covers all its days, with one materialization and one check result per partition.

Everything lives under ``LUPUS_HOME`` (default ``./.lupus``): source data in ``data/``, the
metric store in ``store/``, the metadata database, the Dagster instance in ``dagster/`` (so
the Dagster UI shows the backfill's runs) and alert files in ``alerts/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from lupus_dagster.demo.backfill import PartitionOutcome, backfill_product
from lupus_dagster.demo.generate import DemoCalendar, generate_demo_data

DEMO_PRODUCTS = Path(__file__).resolve().parents[1] / "defs" / "products"


@dataclass
class DemoSummary:
    home: Path
    calendar: DemoCalendar
    outcomes: list[PartitionOutcome] = field(default_factory=list)
    alert_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def prepare_home(home: Path) -> None:
    """Point every Lupus and Dagster setting at ``home`` (before definitions are loaded)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["LUPUS_HOME"] = str(home)
    os.environ.setdefault("LUPUS_DATA_ROOT", str(home / "data"))
    os.environ.setdefault("DAGSTER_HOME", str(home / "dagster"))
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        # This machine has no route out; telemetry would only log failures.
        config.write_text("telemetry:\n  enabled: false\n")


def run_pipeline_demo(
    home: Path, *, days: int = 90, today: date | None = None, say: Callable[[str], None] = print
) -> DemoSummary:
    """Generate, backfill, detect and alert for the three demo products; returns what happened."""
    prepare_home(home)
    from lupus_dagster.components.product_loader import load_products  # after the environment is set
    from lupus_dagster.definitions import defs
    from lupus_dagster.resources.metadata import MetadataResource
    from lupus_dagster.resources.store import MetricStoreResource

    began = time.monotonic()
    calendar = DemoCalendar.ending((today or date.today()) - timedelta(days=1), days)
    say(f"Generating {days} days of source data ({calendar.first} .. {calendar.last}) under {home / 'data'}")
    generate_demo_data(Path(os.environ["LUPUS_DATA_ROOT"]), calendar)
    specs, broken = load_products(DEMO_PRODUCTS)
    if broken:
        raise RuntimeError("demo products do not load: " + "; ".join(str(b) for b in broken))
    instance = dg.DagsterInstance.get()
    # Only what the demo products use: a Spark resource would start a JVM for nothing.
    resources = {"store": MetricStoreResource(), "metadata": MetadataResource()}
    summary = DemoSummary(home=home, calendar=calendar)
    for spec in specs:
        say(f"Backfilling {spec.product}: {days} daily partitions as ranged runs (metrics, check, anomalies)")
        outcomes = backfill_product(
            spec,
            calendar.each_day(),
            instance=instance,
            resources=resources,
            on_run=lambda first, last, seconds: say(f"  run {first} .. {last}: {seconds:.1f} s"),
        )
        summary.outcomes.extend(outcomes)
        failed = [o for o in outcomes if not o.success or o.check_passed is False]
        flagged = [o for o in outcomes if o.anomalies]
        say(f"  {len(outcomes) - len(failed)} partitions ok, {len(failed)} failed or blocked, "
            f"anomalies on {len(flagged)} days: {', '.join(o.day.isoformat() for o in flagged) or 'none'}")  # fmt: skip
    for sensor in defs.sensors:
        if sensor.name.endswith("_alerts"):
            context = dg.build_sensor_context(
                instance=instance, resources=resources, repository_def=defs.get_repository_def()
            )
            result = sensor(context)
            say(f"{sensor.name}: {getattr(result, 'skip_reason', None) or 'evaluated'}")
    summary.alert_files = sorted((home / "alerts").glob("*.jsonl"))
    summary.seconds = time.monotonic() - began
    return summary
