"""Metric store benchmark (issue 2).

1. Write 10 million points: 20 datasources x 500 series x 1,000 days, one file per
   datasource-day (the shape an asset partition writes). Reports points per second.
2. Query one metric of one datasource (50 series x 365 days) with a label filter
   (``region=JP``: 10 of the 50 series) 50 times: p50 and p95 latency, against the
   naive baseline in the same run: pandas reading every Parquet file of the datasource
   and filtering in memory. Measured on the day files as the writers left them, then
   again after ``compact`` (the maintenance job) merged each month into one file.

3. With ``--baseline-src DIR`` (a checkout of an earlier commit), every query measurement is repeated
   in the same run, on the same files, by that commit's code in a subprocess: the named baseline for
   changes of the read path (e.g. last write wins, issue 17). Then a second writer writes the queried
   metric again for the last year (every point twice: a blind retry of everything) and the query is
   timed once more, on day files and compacted.

Usage: .venv/bin/python benchmarks/store_bench.py [--datasources 20 --series 500 --days 1000] [--root DIR]
       [--baseline-src DIR]
The store is written under benchmarks/output/ (git-ignored) unless --root is given.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

# LUPUS_BENCH_SRC: import lupus_store from another checkout (the baseline subprocess of --baseline-src).
sys.path.insert(0, os.environ.get("LUPUS_BENCH_SRC") or str(Path(__file__).resolve().parents[1]))
from lupus_store import MetricStore

REGIONS = ["JP", "US", "DE", "BR", "IN"]
SEGMENTS = [f"s{i}" for i in range(10)]


def day_frame(series: int, day: date, rng: np.random.Generator) -> pd.DataFrame:
    """`series` points of one day: metrics m0..m{series/50} x 50 label combinations."""
    metrics, labels = [], []
    for i in range(series):
        metric_no, combo = divmod(i, 50)
        metrics.append(f"metric_{metric_no}.mean")
        labels.append({"region": REGIONS[combo // 10], "segment": SEGMENTS[combo % 10]})
    return pd.DataFrame(
        {"metric": metrics, "labels": labels, "ts": pd.Timestamp(day, tz="UTC"), "value": rng.normal(size=series)}
    )


def bench_write(store: MetricStore, datasources: int, series: int, days: int) -> float:
    rng = np.random.default_rng(0)
    start = date(2024, 1, 1)
    templates = [day_frame(series, start, rng) for _ in range(3)]
    total = 0
    began = time.perf_counter()
    for d in range(datasources):
        for n in range(days):
            day = start + timedelta(days=n)
            frame = templates[n % 3].assign(ts=pd.Timestamp(day, tz="UTC"), value=rng.normal(size=series))
            total += store.write_points(f"ds{d:02d}", frame, day=day, writer="metrics").rows
        print(f"  wrote ds{d:02d}: {total:,} points, {time.perf_counter() - began:.1f} s", flush=True)
    elapsed = time.perf_counter() - began
    print(f"write: {total:,} points in {elapsed:.1f} s = {total / elapsed:,.0f} points/s")
    return total / elapsed


def bench_query(
    store: MetricStore,
    root: Path,
    days: int,
    label: str,
    repeats: int = 50,
    baseline_src: Path | None = None,
    naive_too: bool = True,
    expect: int = 10 * 365,
) -> float:
    end = date(2024, 1, 1) + timedelta(days=days - 1)
    start = end - timedelta(days=364)

    def lupus() -> pd.DataFrame:
        return store.read_points("ds00", metrics="metric_3.mean", start=start, end=end, labels={"region": "JP"})

    def naive() -> pd.DataFrame:
        files = glob.glob(str(root / "points" / "datasource=ds00" / "*" / "*.parquet"))
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        region = frame["labels"].map(lambda labels: dict(labels).get("region"))
        keep = (
            (frame["metric"] == "metric_3.mean")
            & (region == "JP")
            & (frame["ts"] >= pd.Timestamp(start, tz="UTC"))
            & (frame["ts"] < pd.Timestamp(end + timedelta(days=1), tz="UTC"))
        )
        return frame[keep]

    got = lupus()
    assert len(got) == expect, (len(got), expect)
    lupus()  # warm the connection once, as a long-running app would be
    timings: dict[str, list[float]] = {"lupus (DuckDB, pruned)": []}
    for _ in range(repeats):
        t = time.perf_counter()
        lupus()
        timings["lupus (DuckDB, pruned)"].append(time.perf_counter() - t)
    if baseline_src is not None:
        timings[f"baseline code ({baseline_src.name})"] = _baseline_timings(baseline_src, root, days, repeats)
    if naive_too:
        assert len(naive()) == expect
        timings["baseline (pandas, every file)"] = []
        for _ in range(max(5, repeats // 10)):  # the baseline is slow; fewer repeats are enough for its median
            t = time.perf_counter()
            naive()
            timings["baseline (pandas, every file)"].append(time.perf_counter() - t)
    for name, values in timings.items():
        q = np.quantile(values, [0.5, 0.95])
        print(f"query [{label}] {name}: n={len(values)} p50 {q[0] * 1000:.1f} ms, p95 {q[1] * 1000:.1f} ms")
    ours = statistics.median(timings["lupus (DuckDB, pruned)"])
    for name, values in timings.items():
        if name != "lupus (DuckDB, pruned)":
            print(
                f"query [{label}] {name} p50 / lupus p50: {statistics.median(values) / ours:.2f}x  ({len(got):,} points)"
            )
    return ours


def _baseline_timings(src: Path, root: Path, days: int, repeats: int) -> list[float]:
    """The same query timed by another checkout's code, in a subprocess on the same files."""
    env = {**os.environ, "LUPUS_BENCH_SRC": str(src)}
    out = subprocess.run([sys.executable, __file__, "--root", str(root), "--days", str(days), "--time-query",
                          str(repeats)], env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def _time_query(root: Path, days: int, repeats: int) -> None:
    """``--time-query``: print the timings of ``repeats`` queries as JSON (used by ``_baseline_timings``)."""
    store = MetricStore(root)
    end = date(2024, 1, 1) + timedelta(days=days - 1)
    start = end - timedelta(days=364)
    query = {"metrics": "metric_3.mean", "start": start, "end": end, "labels": {"region": "JP"}}
    store.read_points("ds00", **query)
    store.read_points("ds00", **query)
    timings = []
    for _ in range(repeats):
        t = time.perf_counter()
        store.read_points("ds00", **query)
        timings.append(time.perf_counter() - t)
    print(json.dumps(timings))


def write_again(store: MetricStore, days: int) -> None:
    """A second writer writes every point of metric_3.mean of the last year again (other values)."""
    rng = np.random.default_rng(1)
    end = date(2024, 1, 1) + timedelta(days=days - 1)
    template = day_frame(500, end, rng)
    template = template[template["metric"] == "metric_3.mean"]
    for n in range(365):
        day = end - timedelta(days=n)
        frame = template.assign(ts=pd.Timestamp(day, tz="UTC"), value=rng.normal(size=len(template)))
        store.write_points("ds00", frame, day=day, writer="retried-push")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasources", type=int, default=20)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--root", type=Path, default=Path(__file__).parent / "output" / "store")
    parser.add_argument("--keep", action="store_true", help="reuse an existing store (skip the write benchmark)")
    parser.add_argument("--baseline-src", type=Path, help="a checkout of earlier code to time the same queries with")
    parser.add_argument("--time-query", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_query:
        _time_query(args.root, args.days, args.time_query)
        return
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)
    store = MetricStore(args.root)
    print(f"store at {args.root}: {args.datasources} datasources x {args.series} series x {args.days} days")
    if not args.keep:
        bench_write(store, args.datasources, args.series, args.days)
    bench_query(store, args.root, args.days, "day files", baseline_src=args.baseline_src)
    began = time.perf_counter()
    report = store.compact("ds00")
    print(f"compact ds00: {report.files_before} files -> {report.files_after} in {time.perf_counter() - began:.1f} s")
    bench_query(store, args.root, args.days, "compacted", baseline_src=args.baseline_src)
    if args.baseline_src is not None:  # every queried point written twice: what last write wins costs at worst
        write_again(store, args.days)
        bench_query(store, args.root, args.days, "every point twice, day files", naive_too=False)
        store.compact("ds00")
        bench_query(store, args.root, args.days, "every point twice, compacted", naive_too=False)


if __name__ == "__main__":
    main()
