"""Search index benchmark (issue 9): OpenSearch vs DuckDB over Parquet, in one run.

Same data shape as ``store_bench.py`` (datasources x 500 series x 1,000 days, series = 10 metrics x
5 regions x 10 segments) and the same query: one metric of one datasource, 365 days, ``region=JP``
(10 of its 50 series, 3,650 points).

1. Write the Parquet store (one file per datasource-day, as in ``store_bench.py``).
2. Indexing throughput: ``rebuild`` (bulk from Parquet, 5,000 documents per request), points/s,
   then ``IndexedMetricStore`` tee writes of ``--tee-days`` more days (one write per datasource-day:
   Parquet, bulk, refresh and delete-by-query of the writer's older rows), points/s.
3. Query latency p50/p95 over ``--repeats`` runs: the index vs DuckDB on day files and after
   ``compact``; every answer is checked equal to the store's.

The node is a single OpenSearch 2.19 started like the test suite's (``tests/services``), 2 GiB heap,
one shard, no replica, unless ``--url`` names a running cluster.

Defaults are scaled down to one datasource x 500 series x 400 days (200,000 points) so that a run
takes a few minutes on the shared 2-core machine; the query still reads 365 days of 10 series.

Usage: .venv/bin/python benchmarks/search_bench.py [--datasources 1 --series 500 --days 400 --tee-days 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]
from store_bench import day_frame  # noqa: E402

from lupus_store import MetricStore  # noqa: E402
from lupus_store.search import IndexedMetricStore, RetryQueue, SearchIndex, make_backend, rebuild  # noqa: E402

START = date(2024, 1, 1)


def write_store(store: MetricStore, datasources: int, series: int, days: int) -> int:
    rng = np.random.default_rng(0)
    templates = [day_frame(series, START, rng) for _ in range(3)]
    total = 0
    began = time.perf_counter()
    for d in range(datasources):
        for n in range(days):
            day = START + timedelta(days=n)
            frame = templates[n % 3].assign(ts=pd.Timestamp(day, tz="UTC"), value=rng.normal(size=series))
            total += store.write_points(f"ds{d:02d}", frame, day=day, writer="metrics").rows
    print(f"parquet write: {total:,} points in {time.perf_counter() - began:.1f} s", flush=True)
    return total


def bench_rebuild(store: MetricStore, index: SearchIndex) -> float:
    report = rebuild(store, index)
    assert not report.failures, report.failures[:3]
    rate = report.rows / report.seconds
    print(f"index rebuild: {report.rows:,} points in {report.seconds:.1f} s = {rate:,.0f} points/s", flush=True)
    return rate


def bench_tee(tee: IndexedMetricStore, datasources: int, series: int, days: int, tee_days: int) -> float:
    rng = np.random.default_rng(1)
    template = day_frame(series, START, rng)
    total = 0
    began = time.perf_counter()
    for d in range(datasources):
        for n in range(days, days + tee_days):
            day = START + timedelta(days=n)
            frame = template.assign(ts=pd.Timestamp(day, tz="UTC"), value=rng.normal(size=series))
            result = tee.write_points(f"ds{d:02d}", frame, day=day, writer="metrics")
            assert result.indexed, result
            total += result.rows
    elapsed = time.perf_counter() - began
    print(f"tee writes: {total:,} points in {datasources * tee_days} writes, {elapsed:.1f} s = {total / elapsed:,.0f} points/s "
          f"({elapsed / (datasources * tee_days) * 1000:.0f} ms per datasource-day, Parquet included)", flush=True)  # fmt: skip
    return total / elapsed


def bench_query(store: MetricStore, index: SearchIndex, days: int, repeats: int, label: str) -> dict[str, list[float]]:
    end = START + timedelta(days=days - 1)
    start = end - timedelta(days=364)
    query = {"metrics": "metric_3.mean", "start": start, "end": end, "labels": {"region": "JP"}}
    expected = store.read_points("ds00", **query)
    got = index.read_points("ds00", **query)
    assert len(expected) == 10 * min(365, days), len(expected)
    pd.testing.assert_frame_equal(expected, got)
    timings: dict[str, list[float]] = {f"DuckDB over Parquet ({label})": [], "OpenSearch index": []}
    for _ in range(repeats):
        for name, read in zip(timings, (store.read_points, index.read_points), strict=True):
            t = time.perf_counter()
            read("ds00", **query)
            timings[name].append(time.perf_counter() - t)
    for name, values in timings.items():
        q = np.quantile(values, [0.5, 0.95])
        print(f"query {name}: n={len(values)} p50 {q[0] * 1000:.1f} ms, p95 {q[1] * 1000:.1f} ms", flush=True)
    duck, search = (float(np.median(v)) for v in timings.values())
    print(f"query p50 ratio OpenSearch / DuckDB ({label}): {search / duck:.2f}", flush=True)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasources", type=int, default=1)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--tee-days", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--url", help="a running OpenSearch (default: start a node from the test suite's jars)")
    parser.add_argument("--root", type=Path, default=Path(__file__).parent / "output" / "search")
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    node = None
    if args.url is None:
        from services.opensearch_node import OpenSearchNode

        began = time.perf_counter()
        node = OpenSearchNode(heap="2g").start()
        print(f"OpenSearch 2.19 node started in {time.perf_counter() - began:.0f} s at {node.url}", flush=True)
    url = args.url or node.url
    index = SearchIndex(make_backend("opensearch", url), prefix=f"bench{uuid.uuid4().hex[:6]}", replicas=0)
    try:
        print(
            f"{args.datasources} datasources x {args.series} series x {args.days} days; load average {os.getloadavg()}"
        )
        store = MetricStore(args.root / "store")
        write_store(store, args.datasources, args.series, args.days)
        bench_rebuild(store, index)
        index.backend.request("POST", f"/{index.prefix}-*/_forcemerge", params={"max_num_segments": 1})
        index.refresh()
        sizes = index.backend.request("GET", f"/_cat/indices/{index.prefix}-*", params={"format": "json", "bytes": "b"})
        stored = sum(int(row["store.size"]) for row in sizes)
        docs = sum(int(row["docs.count"]) for row in sizes)
        print(
            f"index size after force-merge: {stored / 1e6:.1f} MB for {docs:,} documents = {stored / docs:.0f} bytes per point"
        )
        bench_query(store, index, args.days, args.repeats, "day files")
        store.compact("ds00")
        bench_query(store, index, args.days, args.repeats, "compacted")
        tee = IndexedMetricStore(store, index, RetryQueue(args.root / "queue"))
        bench_tee(tee, args.datasources, args.series, args.days, args.tee_days)
        print(f"load average at the end {os.getloadavg()}")
    finally:
        index.drop()
        if node is not None:
            node.stop()
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
