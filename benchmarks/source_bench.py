"""Big partitions from Parquet: the profile and the ranking evaluation of one day, read where the data is,
against today's path (the day's files read into pandas, then computed) in the same run.

Each measurement runs in its own process under ``/usr/bin/time -v``, so its peak RSS is the
process's own. The data is generated once, in bounded memory (2M-row files), under
``benchmarks/output/`` (git-ignored).

Workloads:

- ``profile``: N rows x (3 float columns with 5% nulls, 1 categorical of 50 levels, 1 array of 0-10
  tags out of 200), grouped by a 10-level column, the stats of ``stats_bench.py`` (count,
  null_rate, mean, std, min, max, p05, p50, p95, distinct_count on the floats; count, null_rate,
  distinct_count, topk:5 on the categorical; count, null_rate, topk:5 on the tags).
  New path: ``DaySources`` (a lazy DuckDB relation over the day's files) + ``compute_profile``.
- ``ranking``: U users x top-20 recommendations and 5 judged items each (``eval_bench.py``'s data),
  ndcg/map/mrr/recall/precision/hit_rate at k = 5, 10, 20 and coverage/entropy/novelty.
  New path: ``DaySources`` relations + ``evaluate_ranking`` (chunks of whole users).

Today's path is ``pd.concat(pd.read_parquet(f) for f in files)`` (what ``load_source`` did) and
the same call on the frames; run it with a checkout of the baseline (``--baseline-python``, e.g.
``/work/main/.venv/bin/python``, whose editable install imports that checkout's code). The profile
workload also runs the new path with the baseline's code on all the rows, alternating with this
code, and prints the CPU seconds of the computation per 10M rows (what decides 10M rows/s on 2 cores).

    .venv/bin/python benchmarks/source_bench.py profile --rows 100000000 --baseline-rows 10000000 \\
        --baseline-python /work/main/.venv/bin/python
    .venv/bin/python benchmarks/source_bench.py ranking --users 1000000 --baseline-python /work/main/.venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "output"
DAY = date(2026, 1, 1)
CHUNK_ROWS = 2_000_000
NUMERIC = ["x1", "x2", "x3"]
NUMERIC_STATS = ["count", "null_rate", "mean", "std", "min", "max", "p05", "p50", "p95", "distinct_count"]
SPEC = {
    "group_by": ["segment"],
    "columns": {
        **{c: NUMERIC_STATS for c in NUMERIC},
        "category": ["count", "null_rate", "distinct_count", "topk:5"],
        "tags": ["count", "null_rate", "topk:5"],
    },
}
KS = [5, 10, 20]


# ---- data ------------------------------------------------------------------------------------------


def profile_folder(rows: int) -> Path:
    return OUTPUT / f"source_profile_{rows}" / f"date={DAY}"


def generate_profile(rows: int) -> Path:
    """``rows`` rows in files of 2M (written one at a time, so generation stays in bounded memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = profile_folder(rows)
    done = folder / "_done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    segments = np.array([f"s{i}" for i in range(10)])
    categories = np.array([f"cat{i:02d}" for i in range(50)])
    vocabulary = pa.array([f"tag{i:03d}" for i in range(200)])
    for part, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng(part)
        columns = {"segment": pa.array(segments[rng.integers(0, 10, n)])}
        for name in NUMERIC:
            columns[name] = pa.array(np.round(rng.normal(100, 15, n), 2), mask=rng.random(n) < 0.05)
        columns["category"] = pa.array(categories[rng.zipf(1.5, n) % 50])
        lengths = rng.integers(0, 11, n)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("int32")
        columns["tags"] = pa.ListArray.from_arrays(
            pa.array(offsets), vocabulary.take(pa.array(rng.zipf(1.3, int(offsets[-1])) % 200))
        )
        pq.write_table(pa.table(columns), folder / f"part-{part:04d}.parquet", row_group_size=500_000)
        print(f"  generated {start + n:,} / {rows:,} rows", flush=True)
    done.touch()
    return folder


def ranking_folder(users: int) -> Path:
    return OUTPUT / f"source_ranking_{users}"


def generate_ranking(users: int) -> Path:
    """``eval_bench.py``'s ranking data, written as Parquet per table and day, in chunks of users."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from eval_bench import ranking_data

    folder = ranking_folder(users)
    if (folder / "_done").exists():
        return folder
    per_chunk = 250_000
    writers: dict[str, pq.ParquetWriter] = {}
    for start in range(0, users, per_chunk):
        recs, rels = ranking_data(min(per_chunk, users - start), seed=start)
        for name, frame in (("recommendations", recs), ("clicks", rels)):
            frame = frame.assign(user=frame["user"] + start)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in writers:
                (folder / name / f"date={DAY}").mkdir(parents=True, exist_ok=True)
                writers[name] = pq.ParquetWriter(folder / name / f"date={DAY}" / "part.parquet", table.schema)
            writers[name].write_table(table)
    for writer in writers.values():
        writer.close()
    (folder / "_done").touch()
    return folder


# ---- the measured runs (each in its own process) -------------------------------------------------


def child(mode: str, path: str, limit: int) -> dict:
    """One measured computation; prints a JSON line with its seconds and a checksum of the result.

    Imports happen before the clock starts: both paths pay them, but they are not the computation.
    """
    import resource

    import pandas as pd

    from lupus_metrics.evaluation import evaluate_ranking
    from lupus_metrics.stats import compute_profile

    if mode.endswith("-new"):
        from lupus_dagster.assets.product_points import select_columns
        from lupus_dagster.assets.sources import DaySources
        from lupus_dagster.product_spec import SourceSpec

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_started = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    if mode == "profile-new":
        source = SourceSpec(parquet=str(Path(path) / "*.parquet").replace(str(DAY), "{date}"))
        with DaySources() as sources:
            relation = sources.read(source, DAY)
            points = compute_profile(relation, SPEC, ts=str(DAY), **_files_argument(sources, relation))
    elif mode == "profile-today":
        files = sorted(Path(path).glob("*.parquet"))[: max(1, limit // CHUNK_ROWS)]
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        points = compute_profile(frame, SPEC, ts=str(DAY))
    elif mode == "ranking-new":
        with DaySources() as sources:
            recs = sources.read(SourceSpec(parquet=f"{path}/recommendations/date={{date}}/*.parquet"), DAY)
            rels = sources.read(SourceSpec(parquet=f"{path}/clicks/date={{date}}/*.parquet"), DAY)
            recs = select_columns(recs, {"user": "user", "item": "item", "score": "score"})
            rels = select_columns(rels, {"user": "user", "item": "item", "relevance": "relevance"})
            points = evaluate_ranking(recs, rels, k=KS, ts=str(DAY))
    elif mode == "ranking-today":

        def load(table: str) -> pd.DataFrame:
            files = sorted((Path(path) / table / f"date={DAY}").glob("*.parquet"))
            return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

        recs, rels = load("recommendations"), load("clicks")
        points = evaluate_ranking(
            recs[["user", "item", "score"]], rels[["user", "item", "relevance"]], k=KS, ts=str(DAY)
        )
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    compute_cpu = usage.ru_utime + usage.ru_stime - cpu_started
    overall = points[points["labels"].map(lambda labels: not labels or set(labels) == {"k"})]
    rows = points.loc[(points["metric"].isin(["rows.count", "ranking.users"])) & (points["labels"] == {}), "value"]
    summary = {
        m: float(v) for m, v in zip(overall["metric"] + overall["labels"].map(str), overall["value"], strict=True)
    }
    return {
        "seconds": seconds,
        "compute_cpu": compute_cpu,
        "points": len(points),
        "rows": float(rows.iloc[0]),
        "overall": summary,
    }


def _files_argument(sources: object, relation: object) -> dict:
    """``files=`` for the profile, as the assets pass it; nothing with a baseline's code that predates it."""
    files_of = getattr(sources, "files_of", None)
    return {"files": files_of(relation)} if files_of is not None else {}


def measure(python: str, mode: str, path: Path, *, limit: int = 0, env: dict[str, str] | None = None) -> dict:
    """Run one measured computation in a fresh process under /usr/bin/time -v: seconds, peak RSS, CPU."""
    command = ["/usr/bin/time", "-v", python, str(Path(__file__).resolve()), "_child", mode, str(path), str(limit)]
    # The baseline interpreter must import its own checkout: run from a neutral directory.
    result = subprocess.run(command, capture_output=True, text=True, cwd="/tmp", env={**os.environ, **(env or {})})
    if result.returncode != 0:
        return {"failed": result.stderr[-2000:]}
    out = json.loads(result.stdout.strip().splitlines()[-1])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", result.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", result.stderr)
    out["peak_rss_mb"] = int(rss.group(1)) / 1024 if rss else float("nan")
    out["cpu_seconds"] = float(user.group(1)) + float(system.group(1)) if user and system else float("nan")
    return out


def report(label: str, runs: list[dict], rows: float) -> dict:
    ok = [r for r in runs if "failed" not in r]
    if not ok:
        print(f"{label}: failed: {runs[0]['failed'][-600:]}")
        return {}
    seconds = statistics.median(r["seconds"] for r in ok)
    rss = max(r["peak_rss_mb"] for r in ok)
    cpu = statistics.median(r["cpu_seconds"] for r in ok)
    # CPU of the computation alone (no interpreter start, no imports): on a shared machine this, not the
    # wall clock, says what the code costs; 10M rows/s on 2 cores allows at most 2 CPU-s per 10M rows.
    compute = statistics.median(r["compute_cpu"] for r in ok)
    each = ", ".join(f"{r['seconds']:.2f}" for r in ok)
    print(f"{label}: median {seconds:.2f} s ({each}) -> {rows / seconds:,.0f} rows/s; "
          f"peak RSS {rss:,.0f} MB; CPU {cpu:.1f} s (process, incl. imports), {compute:.1f} s computing "
          f"= {compute / rows * 1e7:.2f} CPU-s per 10M rows", flush=True)  # fmt: skip
    return {"seconds": seconds, "rss": rss, "cpu": cpu, "compute": compute, "overall": ok[0]["overall"]}


def load_average() -> str:
    return open("/proc/loadavg").read().split(" ", 3)[:3].__str__()


def profile(args: argparse.Namespace) -> None:
    folder = generate_profile(args.rows)
    env = {"LUPUS_DUCKDB_MEMORY_LIMIT": args.memory_limit, "LUPUS_DUCKDB_THREADS": str(args.threads)}
    print(f"profile: {args.rows:,} rows in {len(list(folder.glob('*.parquet')))} Parquet files under {folder}; "
          f"DuckDB memory_limit {args.memory_limit}, {args.threads} threads; load average {load_average()}", flush=True)  # fmt: skip
    baseline_rows = min(args.baseline_rows, args.rows)
    results = {}
    if args.baseline_python and args.baseline_rows > 0:
        # Today's path first, on the largest size it completes, then the new path on the same size, alternating.
        runs_today, runs_new_small = [], []
        for _ in range(args.repeats):
            runs_today.append(measure(args.baseline_python, "profile-today", folder, limit=baseline_rows))
            runs_new_small.append(
                measure(sys.executable, "profile-new", profile_folder_limited(folder, baseline_rows), env=env)
            )
        results["today"] = report(
            f"today's path ({args.baseline_python}), {baseline_rows:,} rows", runs_today, baseline_rows
        )
        results["new_small"] = report(f"new path, {baseline_rows:,} rows", runs_new_small, baseline_rows)
        if results["today"] and results["new_small"]:
            print(f"  speed-up at {baseline_rows:,} rows: {results['today']['seconds'] / results['new_small']['seconds']:.2f}x; "
                  f"peak RSS {results['today']['rss']:,.0f} MB -> {results['new_small']['rss']:,.0f} MB", flush=True)  # fmt: skip
            _agree(results["today"]["overall"], results["new_small"]["overall"])
    runs, runs_baseline = [], []
    for _ in range(args.repeats):  # alternating with the baseline code on the same path, so load hits both alike
        runs.append(measure(sys.executable, "profile-new", folder, env=env))
        if args.baseline_python:
            runs_baseline.append(measure(args.baseline_python, "profile-new", folder, env=env))
    results["new"] = report(f"new path, {args.rows:,} rows", runs, args.rows)
    if args.baseline_python:
        results["baseline"] = report(
            f"new path run by the baseline's code ({args.baseline_python}), {args.rows:,} rows",
            runs_baseline,
            args.rows,
        )
        if results["new"] and results["baseline"]:
            print(f"  this code / baseline code at {args.rows:,} rows: wall {results['baseline']['seconds'] / results['new']['seconds']:.2f}x, "
                  f"computing CPU {results['baseline']['compute'] / results['new']['compute']:.2f}x", flush=True)  # fmt: skip
            _agree(results["baseline"]["overall"], results["new"]["overall"])
    print(f"load average at the end {load_average()}")


def profile_folder_limited(folder: Path, rows: int) -> Path:
    """A folder holding the first ``rows`` rows' files (symlinks), so both paths read the same data."""
    limited = OUTPUT / f"source_profile_first_{rows}" / f"date={DAY}"
    limited.mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.glob("*.parquet"))[: max(1, rows // CHUNK_ROWS)]:
        link = limited / f.name
        if not link.exists():
            link.symlink_to(f)
    return limited


def ranking(args: argparse.Namespace) -> None:
    folder = generate_ranking(args.users)
    env = {"LUPUS_DUCKDB_MEMORY_LIMIT": args.memory_limit, "LUPUS_DUCKDB_THREADS": str(args.threads)}
    print(f"ranking: {args.users:,} users x top-20, 5 judged each, under {folder}; DuckDB memory_limit "
          f"{args.memory_limit}, {args.threads} threads; load average {load_average()}", flush=True)  # fmt: skip
    runs_today, runs_new = [], []
    for _ in range(args.repeats):  # alternating, so load from other jobs hits both alike
        if args.baseline_python:
            runs_today.append(measure(args.baseline_python, "ranking-today", folder))
        runs_new.append(measure(sys.executable, "ranking-new", folder, env=env))
    new = report("new path (DaySources relations, chunks of users)", runs_new, args.users)
    if args.baseline_python:
        today = report(f"today's in-memory path ({args.baseline_python})", runs_today, args.users)
        if today and new:
            print(
                f"  today / new: {today['seconds'] / new['seconds']:.2f}x; peak RSS {today['rss']:,.0f} MB -> {new['rss']:,.0f} MB"
            )
            _agree(today["overall"], new["overall"])
    print(f"load average at the end {load_average()}")


def _agree(expected: dict, got: dict) -> None:
    shared = [k for k in expected if k in got]
    gap = max((abs(expected[k] - got[k]) / max(1.0, abs(expected[k])) for k in shared), default=float("nan"))
    print(f"  the two paths' overall points agree to {gap:.1e} (relative, {len(shared)} points)", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="workload", required=True)
    for name in ("profile", "ranking"):
        p = sub.add_parser(name)
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument(
            "--baseline-python", help="interpreter of a checkout of today's code (e.g. /work/main/.venv/bin/python)"
        )
        p.add_argument("--memory-limit", default="1200MB", help="DuckDB memory_limit of the new path")
        p.add_argument("--threads", type=int, default=2)
        if name == "profile":
            p.add_argument("--rows", type=int, default=100_000_000)
            p.add_argument(
                "--baseline-rows",
                type=int,
                default=10_000_000,
                help="rows today's path is measured on (0: skip today's path)",
            )
        else:
            p.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    profile(args) if args.workload == "profile" else ranking(args)


if __name__ == "__main__":
    main()
