"""Demo replay: the three demo products over many calendars and seeds, alerts counted against the incidents.

Each calendar ends on a different day (every 17 days from 2026-01-15, so the 90-day ranges start
on every weekday and in every season) and draws its own incident days and data with its seed
(``DemoCalendar.ending(..., seed=k)``, ``generate_demo_data(..., seed=k)``). Every product is
replayed as its assets compute it (``lupus_dagster.demo.replay``: the metrics asset's function per
day, the Great Expectations check, ``detect_and_store`` with the products' ``detect:`` rules on the
days whose check passed). Replaying through Dagster would take minutes per calendar.

An alert is a flagged point of a series or a failed check. A **false alert** is one on any day
other than the product's incident day; the days after a lasting change (the model release) are
not exempt. Goal: every incident alerted on its day, 0 false alerts, in every calendar.

Run from the repository root:
    .venv/bin/python benchmarks/demo_replay.py                # 20 calendars, 2 processes
    .venv/bin/python benchmarks/demo_replay.py --calendars 5 --workers 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from lupus_dagster.demo.generate import DemoCalendar
from lupus_dagster.demo.replay import ReplayOutcome, replay_demo

FIRST_END = date(2026, 1, 15)
DAYS = 90


def calendar_of(k: int) -> DemoCalendar:
    """Calendar ``k``: ending 17 x k days after FIRST_END, incident days drawn with seed ``k``."""
    return DemoCalendar.ending(FIRST_END + timedelta(days=17 * k), DAYS, seed=k)


def replay_one(k: int) -> tuple[int, list[ReplayOutcome], float]:
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lupus-demo-replay-") as home:
        outcomes = replay_demo(Path(home), calendar_of(k), seed=k)
    return k, outcomes, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calendars", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"{args.calendars} calendars of {DAYS} days; load average at start: " + "{:.1f} {:.1f} {:.1f}".format(
        *os.getloadavg()))  # fmt: skip
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = sorted(pool.map(replay_one, range(args.calendars)))
    print("| calendar | end | recommend | attribute_classifier | demand_forecaster | false alerts | seconds |")
    print("|---|---|---|---|---|---|---|")
    missed = false = 0
    for k, outcomes, seconds in results:
        cells = []
        for outcome in sorted(outcomes, key=lambda o: ["recommend", "attribute_classifier", "demand_forecaster"].index(
                o.product)):  # fmt: skip
            cells.append(f"{outcome.incident} {'alerted' if outcome.incident_alerted else '**missed**'}")
            missed += not outcome.incident_alerted
        wrong = [(o.product, day, what) for o in outcomes for day, what in o.false_alerts]
        false += len(wrong)
        print(f"| {k} | {calendar_of(k).last} | " + " | ".join(cells) + f" | {len(wrong)} | {seconds:.0f} |")
        for product, day, what in wrong:
            print(f"|   | false: {product} {day} {what} | | | | | |")
    print(f"\nincidents missed: {missed} of {3 * len(results)}; false alerts: {false} "
          f"(goal: 0 and 0); {time.perf_counter() - started:.0f} s wall")  # fmt: skip
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
