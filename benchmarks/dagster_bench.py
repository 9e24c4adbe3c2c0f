"""Dagster platform benchmark (issues 6 and 18).

1. Definitions load time with 100 generated products (copies of the three demo products under
   new names) plus, with ``--monitored-assets N``, a second code location's N assets watched by
   one monitored selection (issue 18's "monitor any Dagster asset"): a cold
   ``import lupus_dagster.definitions`` in a fresh interpreter, median of 3. Goal: < 5 s.
   The same import with the 3 demo products is printed alongside as the reference.
2. Backfill of ``--days`` (365) daily partitions of ``demand_forecaster``: ranged runs
   (``backfill_product``: one Dagster run per span of ``days_per_run`` days; metrics per day,
   GX check per day, detection once) against the per-partition path of before (one in-process
   run per partition: the daily cron path), measured in the same run on the same kind of
   Dagster instance. The baseline runs the first ``--baseline-days`` days and is scaled to
   ``--days``; the ranged backfill's points and anomalies on those days must equal the
   baseline's. Instances: ``lupus-sqlite`` (the instance ``lupus demo`` writes: SQLite with
   Lupus's event log, :mod:`lupus_dagster.sqlite_event_log`), ``sqlite`` (Dagster's default
   SQLite instance, what ``dagster dev`` uses without a ``dagster.yaml``) and ``postgres`` (the
   production instance, a local PostgreSQL 15 server with fsync on). Besides each instance's
   own ratio, the ranged backfill on each instance is compared with the per-partition path on
   Dagster's default SQLite instance (what a backfill was before issue 18).
   Goal: ranged >= 15x faster than the per-partition path, under 19 s for 365 days.

Usage: .venv/bin/python benchmarks/dagster_bench.py [--products 100] [--monitored-assets 1000]
       [--days 365] [--baseline-days 30] [--repeats 3] [--instances lupus-sqlite,sqlite,postgres] [--skip-load]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
DEMO = REPO / "lupus_dagster" / "defs" / "products"
POINT_COLUMNS = ["series_id", "ts", "value"]
VERDICT_COLUMNS = ["series_id", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly"]


def generate_products(target: Path, count: int) -> None:
    templates = sorted(p for p in DEMO.iterdir() if (p / "defs.yaml").exists())
    for n in range(count):
        template = templates[n % len(templates)]
        name = f"{template.name}_{n:03d}"
        text = (template / "defs.yaml").read_text()
        text = text.replace(f"product: {template.name}", f"product: {name}")
        text = text.replace("datasource: ", f"datasource: p{n:03d}-", 1)
        (target / name).mkdir(parents=True)
        (target / name / "defs.yaml").write_text(text)


def generate_monitored_location(target: Path, assets: int) -> dict[str, str]:
    """A second code location with ``assets`` assets in one group, and a monitor watching that group."""
    module = target / "bench_location.py"
    module.write_text(
        "import dagster as dg\n"
        f"specs = [dg.AssetSpec(f'table_{{n:04d}}', group_name='warehouse') for n in range({assets})]\n"
        "defs = dg.Definitions(assets=specs)\n"
    )
    monitors = target / "monitors" / "warehouse"
    monitors.mkdir(parents=True)
    (monitors / "defs.yaml").write_text(
        "type: lupus_dagster.components.MonitoredAssets\n"
        "attributes:\n  name: warehouse\n  team: data\n  datasource: warehouse-assets\n"
        "  selection: 'group:warehouse'\n"
    )
    return {"LUPUS_MONITORS_DIR": str(target / "monitors"), "PYTHONPATH": str(target)}


def load_seconds(env_extra: dict[str, str], repeats: int = 3) -> tuple[float, int]:
    code = (
        "import time; t = time.perf_counter(); from lupus_dagster.definitions import defs; "
        "g = defs.resolve_asset_graph(); "
        "print(time.perf_counter() - t, len(g.get_all_asset_keys()) + len(g.asset_check_keys))"
    )
    times, size = [], 0
    for _ in range(repeats):
        env = {**os.environ, **env_extra}
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seconds, size = out.stdout.split()
        times.append(float(seconds))
    return statistics.median(times), int(size)


def bench_load(count: int, monitored: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate_products(Path(tmp) / "products", count)
        env = {"LUPUS_PRODUCTS_DIR": str(Path(tmp) / "products")}
        seconds, size = load_seconds(env)
        print(f"definitions load, {count} products ({size} assets+checks): median {seconds:.2f} s")
        if monitored:
            env |= generate_monitored_location(Path(tmp), monitored)
            seconds, size = load_seconds(env)
            print(
                f"definitions load, {count} products + a {monitored}-asset monitored selection: median {seconds:.2f} s"
            )
        reference, reference_size = load_seconds({"LUPUS_PRODUCTS_DIR": str(DEMO)})
    print(f"definitions load, 3 demo products ({reference_size} assets+checks): median {reference:.2f} s")


def bench_monitor_tick(assets: int) -> None:
    """One tick of the monitor sensor over a selection of ``assets`` assets, each materialized once."""
    import dagster as dg

    from lupus_dagster.components.monitored_assets import MonitoredAssets, MonitorSpec
    from lupus_dagster.resources.store import MetricStoreResource

    specs = [dg.AssetSpec(f"table_{n:04d}", group_name="warehouse") for n in range(assets)]

    @dg.multi_asset(specs=specs, can_subset=True)
    def tables(context):  # no annotation: this module defers annotations, Dagster reads them at runtime
        for n, key in enumerate(sorted(context.selected_asset_keys)):
            yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": 1000 + n})

    monitor = MonitoredAssets(MonitorSpec.model_validate({"name": "wh", "team": "data", "datasource": "wh",
                                                          "selection": "group:warehouse"})).build_defs()  # fmt: skip
    with tempfile.TemporaryDirectory(dir=REPO / "benchmarks") as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        store = MetricStoreResource(root=str(Path(tmp) / "store"))
        defs = dg.Definitions.merge(monitor, dg.Definitions(assets=[tables], resources={"store": store}))
        dg.materialize([tables], instance=instance)
        sensor = defs.get_sensor_def("wh_asset_monitor")
        cursor = None
        for label in ("first tick (every asset new)", "next tick (nothing new)"):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def(),
                                              resources={"store": store})  # fmt: skip
            began = time.perf_counter()
            result = sensor(context)
            print(f"monitor sensor, {assets}-asset selection, {label}: {time.perf_counter() - began:.2f} s, "
                  f"{len(result.run_requests or [])} run request(s)")  # fmt: skip
            cursor = result.cursor


@contextmanager
def instance_of(kind: str, server) -> Iterator:
    import dagster as dg

    if kind == "sqlite":
        with (
            tempfile.TemporaryDirectory(dir=REPO / "benchmarks") as tmp,
            dg.instance_for_test(temp_dir=tmp) as instance,
        ):
            yield instance
        return
    if kind == "lupus-sqlite":  # the instance `lupus demo` writes: SQLite with Lupus's event log
        from lupus_dagster.demo.run import demo_instance_yaml

        with tempfile.TemporaryDirectory(dir=REPO / "benchmarks") as tmp:
            Path(tmp, "dagster.yaml").write_text(demo_instance_yaml(Path(tmp)))
            with dg.DagsterInstance.from_config(tmp) as instance:
                yield instance
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = server.create_database()
        Path(tmp, "dagster.yaml").write_text(
            f"storage:\n  postgres:\n    postgres_url: {url}\ntelemetry:\n  enabled: false\n"
        )
        with dg.DagsterInstance.from_config(tmp) as instance:
            yield instance


def per_partition(spec, days, *, instance, resources) -> None:
    """Today's path before issue 18: one in-process run per partition (the daily cron path)."""
    import dagster as dg

    from lupus_dagster.assets.product_assets import build_product_assets
    from lupus_dagster.demo.backfill import QUIET

    definitions = build_product_assets(spec)
    for day in days:
        dg.materialize(definitions, partition_key=day.isoformat(), instance=instance, resources=dict(resources),
                       raise_on_error=False, run_config=QUIET)  # fmt: skip


def bench_backfill(days: int, baseline_days: int, repeats: int, kinds: list[str]) -> None:
    from lupus_dagster.components.product_loader import read_product
    from lupus_dagster.demo.backfill import backfill_product
    from lupus_dagster.demo.generate import DemoCalendar, generate_demo_data
    from lupus_dagster.resources.store import MetricStoreResource
    from lupus_store import MetricStore

    home = Path(tempfile.mkdtemp(prefix="lupus-bench-", dir=REPO / "benchmarks"))
    os.environ["LUPUS_DATA_ROOT"] = str(home / "data")
    calendar = DemoCalendar.ending(date(2026, 11, 1), days)
    generate_demo_data(home / "data", calendar)
    spec = read_product(DEMO / "demand_forecaster" / "defs.yaml")
    # The demo product's partitions start in 2026; a year of history needs an earlier start.
    spec = spec.model_copy(update={"partitions": spec.partitions.model_copy(update={"start": calendar.first})})
    all_days = calendar.each_day()
    server = _postgres() if "postgres" in kinds else None
    per_partition_of: dict[str, float] = {}
    ranged_of: dict[str, float] = {}
    try:
        for kind in kinds:

            def store(name: str, kind: str = kind) -> MetricStoreResource:
                return MetricStoreResource(root=str(home / kind / name))

            with instance_of(kind, server) as instance:  # imports, GX and DuckDB warmed up outside the timings
                backfill_product(spec, all_days[:3], instance=instance, resources={"store": store("warm")})
            with instance_of(kind, server) as instance:
                began = time.perf_counter()
                per_partition(spec, all_days[:baseline_days], instance=instance, resources={"store": store("daily")})
                baseline = (time.perf_counter() - began) / baseline_days
            ranged = []
            for n in range(repeats):
                with instance_of(kind, server) as instance:
                    began = time.perf_counter()
                    outcomes = backfill_product(
                        spec, all_days, instance=instance, resources={"store": store(f"ranged{n}")}
                    )
                    ranged.append(time.perf_counter() - began)
            daily, year = MetricStore(home / kind / "daily"), MetricStore(home / kind / "ranged0")
            end = all_days[baseline_days - 1]
            same_points = _same(
                daily.read_points("demand-forecaster"), year.read_points("demand-forecaster", end=end), POINT_COLUMNS
            )
            same_verdicts = _same(
                daily.read_anomalies("demand-forecaster", only_anomalies=False),
                year.read_anomalies("demand-forecaster", end=end, only_anomalies=False),
                VERDICT_COLUMNS,
            )
            median = statistics.median(ranged)
            per_partition_of[kind], ranged_of[kind] = baseline * days, median
            ok = sum(o.success and o.check_passed is not False for o in outcomes)
            print(f"[{kind}] per-partition path: {baseline:.3f} s/partition over {baseline_days} days "
                  f"-> {baseline * days:.1f} s for {days}")  # fmt: skip
            print(f"[{kind}] ranged backfill of {days} partitions: median {median:.1f} s of {repeats} (load {os.getloadavg()[0]:.1f}) "
                  f"({', '.join(f'{s:.1f}' for s in ranged)}); {ok} days ok, {days - ok} blocked by design")  # fmt: skip
            print(f"[{kind}] speed-up {baseline * days / median:.1f}x; first {baseline_days} days identical: "
                  f"points {same_points}, anomalies {same_verdicts}")  # fmt: skip
        if "sqlite" in per_partition_of:
            before = per_partition_of["sqlite"]
            for kind, median in ranged_of.items():
                print(f"ranged on {kind} ({median:.1f} s) vs the per-partition path on Dagster's default SQLite "
                      f"({before:.1f} s): {before / median:.1f}x")  # fmt: skip
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)


def _same(expected, got, columns) -> str:
    """``yes (N rows)``, ``NO`` or ``nothing to compare`` (e.g. no verdicts yet in the first days: the
    detectors need about four weeks of history, so compare at least 35 baseline days for anomalies)."""
    import pandas as pd

    def ordered(frame):
        return frame[columns].sort_values(["series_id", "ts"]).reset_index(drop=True)

    if len(expected) == 0 and len(got) == 0:
        return "nothing to compare"
    try:
        pd.testing.assert_frame_equal(ordered(got), ordered(expected))
    except AssertionError:
        return "NO"
    return f"yes ({len(expected)} rows)"


def _postgres():
    import psycopg2
    from services.postgres_server import PostgresServer

    server = PostgresServer().start()
    # The test server runs with fsync off; a production server keeps it on, and so does this benchmark.
    connection = psycopg2.connect(host="127.0.0.1", port=server.port, user=server.user, dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("ALTER SYSTEM SET fsync = on")
        cursor.execute("SELECT pg_reload_conf()")
    connection.close()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--monitored-assets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--baseline-days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--instances", default="lupus-sqlite,sqlite,postgres")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    if not args.skip_load:
        bench_load(args.products, args.monitored_assets)
        if args.monitored_assets:
            bench_monitor_tick(args.monitored_assets)
    if not args.skip_backfill:
        bench_backfill(args.days, args.baseline_days, args.repeats, args.instances.split(","))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
