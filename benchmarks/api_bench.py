"""REST API push benchmark (issue 7).

8 concurrent clients (separate processes, each with its own keep-alive connection) push
1,000-point JSON batches to ``POST /api/v1/datasources/{ds}/points`` for 30 s against a real
``lupus serve api`` (uvicorn, one process per core by default, SQLite metadata, local store,
fsync'd staging).
Reports accepted points per second and p50/p99 latency of the 202 answers (goal: >= 100,000
points/s and p99 < 300 ms), then the time until pushed points are queryable: the backlog drain
after the load stops, and, on an idle server, push-to-visible latency of single batches.

The clients run on the same machine as the server (2 cores here), so they take CPU from it.

Usage: .venv/bin/python benchmarks/api_bench.py [--clients 8 --seconds 30 --points 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from api.live_server import ApiServer, seed  # noqa: E402

from lupus_store.metadata import MetadataDB  # noqa: E402
from lupus_store.metadata.models import IngestBatch  # noqa: E402

OUTPUT = ROOT / "benchmarks" / "output" / "api_bench.json"


def _bodies(client: int, points: int, count: int = 64) -> list[bytes]:
    """Distinct batches per client, encoded once (the clients should measure the server).

    Each holds other timestamps, as a job pushing new data would: the batches that queue up on the
    server are then written as one group (re-sending the same points under new idempotency keys
    would make the server fall back to one store write per batch).
    """
    bodies = []
    for variant in range(count):
        day, hour = divmod(variant, 24)
        rows = [{"metric": f"bench.m{i % 10}", "labels": {"client": str(client), "shard": str(i % 20)},
                 "ts": f"2026-01-{1 + day:02d}T{hour:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", "value": float(i)}
                for i in range(points)]  # fmt: skip
        bodies.append(json.dumps({"points": rows}).encode())
    return bodies


def _client(url: str, token: str, client: int, points: int, start_at: float, stop_at: float, out: mp.Queue) -> None:
    bodies = _bodies(client, points)
    latencies, accepted, errors, last_batch = [], 0, 0, None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=60) as http:
        time.sleep(max(0.0, start_at - time.time()))
        n = 0
        while time.time() < stop_at:
            began = time.perf_counter()
            response = http.post(
                "/datasources/ds-a/points",
                content=bodies[n % len(bodies)],
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            latencies.append(time.perf_counter() - began)
            if response.status_code == 202:
                accepted += points
                last_batch = response.json()["batch_id"]
            else:
                errors += 1
            n += 1
    out.put({"latencies": latencies, "accepted": accepted, "errors": errors, "last_batch": last_batch})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument(
        "--server-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="uvicorn processes (lupus serve api --workers); default: one per core, as deployed",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lupus-api-bench-"))
    url = f"sqlite:///{home / 'metadata.db'}"
    tokens = seed(url)
    # The per-token rate limit is lifted: this measures throughput, not the limiter.
    server = ApiServer(
        home,
        url,
        env={"LUPUS_API_RATE": "1000000", "LUPUS_API_BURST": "1000000"},
        args=["--workers", str(args.server_workers)],
    ).start()
    try:
        with httpx.Client(
            base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {tokens['admin']}"}
        ) as warm:
            warm.post(
                "/datasources/ds-a/points",
                content=_bodies(0, args.points, 1)[0],
                headers={"Content-Type": "application/json"},
            ).raise_for_status()
        time.sleep(1)
        out: mp.Queue = mp.Queue()
        start_at = time.time() + 3.0  # every client has encoded its batches and connected
        stop_at = start_at + args.seconds
        procs = [
            mp.Process(target=_client, args=(server.url, tokens["write_a"], c, args.points, start_at, stop_at, out))
            for c in range(args.clients)
        ]
        for proc in procs:
            proc.start()
        results = [out.get() for _ in procs]
        for proc in procs:
            proc.join()
        load_end = time.time()

        db = MetadataDB(url)
        while True:  # backlog drain: every acknowledged batch in the store
            with db.session() as session:
                staged = session.query(IngestBatch).filter(IngestBatch.status == "staged").count()
            if staged == 0:
                break
            time.sleep(0.2)
        drain = time.time() - load_end

        visible = []
        with httpx.Client(
            base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {tokens['admin']}"}
        ) as http:
            for i in range(10):
                metric = f"bench.fresh{i}"
                body = {"points": [{"metric": metric, "ts": "2026-02-01T00:00:00Z", "value": 1.0}] * 1}
                began = time.perf_counter()
                http.post("/datasources/ds-a/points", json=body).raise_for_status()
                while not http.get("/datasources/ds-a/points", params={"metric": metric}).json()["points"]:
                    time.sleep(0.01)
                visible.append(time.perf_counter() - began)
    finally:
        server.stop()

    latencies = [x for r in results for x in r["latencies"]]
    accepted = sum(r["accepted"] for r in results)
    figures = {
        "clients": args.clients, "server_workers": args.server_workers, "seconds": args.seconds, "points_per_batch": args.points,
        "requests": len(latencies), "errors": sum(r["errors"] for r in results),
        "accepted_points_per_s": round(accepted / args.seconds),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "backlog_drain_s": round(drain, 2),
        "idle_push_to_queryable_p50_ms": round(statistics.median(visible) * 1000, 1),
        "idle_push_to_queryable_max_ms": round(max(visible) * 1000, 1),
        "goal_points_per_s": 100_000, "goal_p99_ms": 300,
    }  # fmt: skip
    figures["ratio_vs_goal"] = round(figures["accepted_points_per_s"] / 100_000, 3)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=2))
    for key, value in figures.items():
        print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()
