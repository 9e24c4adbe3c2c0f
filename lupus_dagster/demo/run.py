"""`lupus demo`: generate the demo products' data, backfill every partition, detect, alert, serve.

The backfill makes ranged runs (:mod:`lupus_dagster.demo.backfill`): one Dagster run per product
covers all its days, with one materialization and one check result per partition.

Everything lives under ``LUPUS_HOME`` (default ``./.lupus``): source data in ``data/``, the
metric store in ``store/``, the metadata database, the Dagster instance in ``dagster/`` (so
the Dagster UI shows the backfill's runs) and alert files in ``alerts/``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from lupus_dagster.assets.product_assets import anomalies_key, metrics_key
from lupus_dagster.demo.backfill import PartitionOutcome, backfill_product
from lupus_dagster.demo.generate import DemoCalendar, generate_demo_data
from lupus_dagster.product_spec import ProductSpec

DEMO_PRODUCTS = Path(__file__).resolve().parents[1] / "defs" / "products"
DEMO_SEED = 11


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
        config.write_text(demo_instance_yaml(dagster_home))


def demo_instance_yaml(dagster_home: Path) -> str:
    """The demo's Dagster instance: SQLite under ``dagster_home``, Lupus's event log (ranged runs write fast).

    >>> print(demo_instance_yaml(Path("/h")).splitlines()[1])
      module: lupus_dagster.sqlite_event_log
    """
    # Same files as Dagster's default SQLite storage (history/runs/), written by the subclass of
    # lupus_dagster/sqlite_event_log.py. No telemetry: this machine has no route out.
    return (
        "event_log_storage:\n"
        "  module: lupus_dagster.sqlite_event_log\n"
        "  class: SqliteEventLogStorage\n"
        f"  config: {{base_dir: {json.dumps(str(dagster_home / 'history' / 'runs'))}}}\n"
        "telemetry:\n  enabled: false\n"
    )


def generate_once(root: Path, calendar: DemoCalendar, say: Callable[[str], None] = print) -> bool:
    """Generate the calendar's source data unless this very calendar was generated before; True if generated."""
    marker = root / "demo" / ".generated.json"
    wanted = json.dumps({"first": calendar.first.isoformat(), "days": calendar.days, "seed": DEMO_SEED})
    if marker.exists() and marker.read_text() == wanted:
        say(f"==> [generate] {calendar.days} days of source data ({calendar.first} .. {calendar.last}): already there")
        return False
    say(f"==> [generate] {calendar.days} days of source data ({calendar.first} .. {calendar.last}) under {root}")
    began = time.monotonic()
    marker.unlink(missing_ok=True)  # an interrupted generation must not look complete
    generate_demo_data(root, calendar, seed=DEMO_SEED)
    marker.write_text(wanted)
    say(f"    done in {time.monotonic() - began:.1f} s")
    return True


def materialized_days(instance: dg.DagsterInstance, spec: ProductSpec) -> set[date]:
    """Days whose metrics and anomalies are both materialized in ``instance``."""
    keys = [metrics_key(spec), anomalies_key(spec)]
    sets = [instance.get_materialized_partitions(key) for key in keys]
    return {date.fromisoformat(key) for key in set.intersection(*map(set, sets))}


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
    data_root = Path(os.environ["LUPUS_DATA_ROOT"])
    generated = generate_once(data_root, calendar, say)
    specs, broken = load_products(DEMO_PRODUCTS)
    if broken:
        raise RuntimeError("demo products do not load: " + "; ".join(str(b) for b in broken))
    instance = dg.DagsterInstance.get()
    # Only what the demo products use: a Spark resource would start a JVM for nothing.
    resources = {"store": MetricStoreResource(), "metadata": MetadataResource()}
    summary = DemoSummary(home=home, calendar=calendar)
    for number, spec in enumerate(specs, start=1):
        # Freshly generated data replaces every day; otherwise days materialized before are done.
        done = set() if generated else materialized_days(instance, spec)
        todo = [day for day in calendar.each_day() if day not in done]
        say(f"==> [backfill {number}/{len(specs)}] {spec.product}: {len(todo)} of {days} daily partitions "
            f"as ranged runs (metrics, Great Expectations check, anomalies)"
            + (f"; {len(done & set(calendar.each_day()))} done before" if done else ""))  # fmt: skip
        outcomes = backfill_product(
            spec,
            todo,
            instance=instance,
            resources=resources,
            on_run=lambda first, last, seconds: say(f"    run {first} .. {last}: {seconds:.1f} s"),
        )
        summary.outcomes.extend(outcomes)
        failed = [o for o in outcomes if not o.success or o.check_passed is False]
        flagged = [o for o in outcomes if o.anomalies]
        say(f"    {len(outcomes) - len(failed)} partitions ok, {len(failed)} failed or blocked, "
            f"anomalies on {len(flagged)} days: {', '.join(o.day.isoformat() for o in flagged) or 'none'}")  # fmt: skip
    say("==> [alerts] evaluating each product's alert sensor")
    for sensor in defs.sensors:
        if sensor.name.endswith("_alerts"):
            context = dg.build_sensor_context(
                instance=instance, resources=resources, repository_def=defs.get_repository_def()
            )
            result = sensor(context)
            reason = getattr(result, "skip_reason", None)
            say(f"    {sensor.name}: {getattr(reason, 'skip_message', reason) or 'evaluated'}")
    summary.alert_files = sorted((home / "alerts").glob("*.jsonl"))
    summary.seconds = time.monotonic() - began
    return summary
