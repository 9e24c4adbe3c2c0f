"""Dagster platform benchmark (issue 6).

1. Definitions load time with 100 generated products (copies of the three demo products under
   new names: 100 x (2 assets + 2 checks) = 400 assets and checks, plus 100 alert sensors):
   a cold `import lupus_dagster.definitions` in a fresh interpreter, median of 3. Goal: < 5 s.
   The same import with the 3 demo products is printed alongside as the reference.
2. Backfill of 365 daily partitions of one demo product (demand_forecaster) in one process
   (`backfill_product`: one in-process run per partition with metrics, GX check, anomalies):
   wall time and seconds per partition.

Usage: .venv/bin/python benchmarks/dagster_bench.py [--products 100] [--days 365]
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
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEMO = REPO / "lupus_dagster" / "defs" / "products"


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


def load_seconds(products_dir: Path, repeats: int = 3) -> tuple[float, int]:
    code = (
        "import time; t = time.perf_counter(); from lupus_dagster.definitions import defs; "
        "g = defs.resolve_asset_graph(); "
        "print(time.perf_counter() - t, len(g.get_all_asset_keys()) + len(g.asset_check_keys))"
    )
    times, size = [], 0
    for _ in range(repeats):
        env = {**os.environ, "LUPUS_PRODUCTS_DIR": str(products_dir)}
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True, check=True)
        seconds, size = out.stdout.split()
        times.append(float(seconds))
    return statistics.median(times), int(size)


def bench_load(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate_products(Path(tmp), count)
        seconds, size = load_seconds(Path(tmp))
        reference, reference_size = load_seconds(DEMO)
    print(f"definitions load, {count} products ({size} assets+checks): median {seconds:.2f} s")
    print(f"definitions load, 3 demo products ({reference_size} assets+checks): median {reference:.2f} s")
    print(f"per extra product: {(seconds - reference) / (count - 3) * 1000:.1f} ms")


def bench_backfill(days: int) -> None:
    import dagster as dg

    home = Path(tempfile.mkdtemp(prefix="lupus-bench-"))
    os.environ["LUPUS_DATA_ROOT"] = str(home / "data")
    from lupus_dagster.components.product_loader import read_product
    from lupus_dagster.demo.backfill import backfill_product
    from lupus_dagster.demo.generate import DemoCalendar, generate_demo_data
    from lupus_dagster.resources.store import MetricStoreResource

    calendar = DemoCalendar.ending(date(2026, 11, 1), days)
    generate_demo_data(home / "data", calendar)
    spec = read_product(DEMO / "demand_forecaster" / "defs.yaml")
    # The demo product's partitions start in 2026; a year of history needs an earlier start.
    spec = spec.model_copy(update={"partitions": spec.partitions.model_copy(update={"start": calendar.first})})
    resources = {"store": MetricStoreResource(root=str(home / "store"))}
    with dg.instance_for_test() as instance:
        began = time.perf_counter()
        outcomes = backfill_product(spec, calendar.each_day(), instance=instance, resources=resources)
        elapsed = time.perf_counter() - began
    ok = sum(o.success for o in outcomes)
    print(f"backfill {days} partitions of demand_forecaster: {elapsed:.1f} s, {elapsed / days:.2f} s/partition "
          f"({ok} succeeded, {days - ok} failed or blocked by design)")  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--skip-backfill", action="store_true")
    args = parser.parse_args()
    bench_load(args.products)
    if not args.skip_backfill:
        bench_backfill(args.days)


if __name__ == "__main__":
    main()
