"""Evaluation and drift benchmark: Lupus against ranx (ranking) and Evidently (drift) on the same data.

Ranking: N users x top-20 recommendations, 5 relevant items per user (graded 1-3, about
half of them recommended), ndcg/map/mrr/recall/precision/hit_rate at k = 5, 10, 20.
Lupus runs end to end (DataFrames in, metric points out, list metrics included);
ranx is timed twice: building its Qrels/Run from the same DataFrames, and ``evaluate``
alone on the built structures (numba compiled beforehand, so compilation is not timed).

Drift: M rows x 20 columns (10 numeric, 10 categorical), reference vs current, every
Lupus method (psi, js, ks, wasserstein, wasserstein_norm, chi2) against Evidently's
``DataDriftPreset``, which runs in its own virtualenv (benchmarks/requirements-peers.txt)
as a subprocess on the same data written to Parquet; it times itself after loading.

Run from the repository root:
    .venv/bin/python benchmarks/eval_bench.py [--users 1000000] [--rows 1000000] [--peer-python /tmp/peers-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lupus_metrics.drift import DRIFT_METHODS, drift_points
from lupus_metrics.evaluation import evaluate_ranking

KS = (5, 10, 20)
USER_METRICS = ("ndcg", "map", "mrr", "recall", "precision", "hit_rate")
TOP, RELEVANT, CATALOG = 20, 5, 100_000

EVIDENTLY_SCRIPT = """
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
seconds = time.perf_counter() - start
values = {m["config"].get("column"): float(m["value"]) for m in snapshot.dict()["metrics"]
          if m["config"].get("type", "").endswith("ValueDrift")}
print(json.dumps({"seconds": seconds, "values": values}))
"""


def ranking_data(n_users: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, CATALOG, n_users)
    # Offsets spaced 4999 apart keep each user's 20 items distinct within the catalog.
    items = (base[:, None] + np.arange(TOP) * 4999) % CATALOG
    recs = pd.DataFrame(
        {"user": np.repeat(np.arange(n_users), TOP), "item": items.ravel(), "score": rng.random(n_users * TOP)}
    )
    hit_slots = rng.integers(0, TOP, (n_users, 3))
    relevant = np.hstack([np.take_along_axis(items, hit_slots, axis=1), (base[:, None] + 100 + np.arange(2)) % CATALOG])
    relevant[:, 1] = np.where(hit_slots[:, 1] == hit_slots[:, 0], (base + 200) % CATALOG, relevant[:, 1])
    relevant[:, 2] = np.where(
        (hit_slots[:, 2] == hit_slots[:, 0]) | (hit_slots[:, 2] == hit_slots[:, 1]),
        (base + 300) % CATALOG,
        relevant[:, 2],
    )
    rels = pd.DataFrame(
        {
            "user": np.repeat(np.arange(n_users), RELEVANT),
            "item": relevant.ravel(),
            "relevance": rng.integers(1, 4, n_users * RELEVANT),
        }
    )
    return recs, rels


def bench_ranking(n_users: int, repeats: int) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    recs, rels = ranking_data(n_users)
    print(f"ranking: {n_users:,} users x top-{TOP}, {len(rels):,} judgments, k={list(KS)}")
    lupus_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        points = evaluate_ranking(recs, rels, k=list(KS), ts="2026-01-01")
        lupus_times.append(time.perf_counter() - start)
    print(f"  lupus evaluate_ranking (all 6 user metrics + 3 list metrics): {_fmt(lupus_times)}")

    names = [f"{m}@{k}" for k in KS for m in USER_METRICS]
    tiny_q = Qrels.from_dict({"q": {"d": 1}})
    evaluate(tiny_q, Run.from_dict({"q": {"d": 1.0}}), names)  # compile numba outside the timings
    start = time.perf_counter()
    q_frame = rels.assign(user=rels["user"].astype(str), item=rels["item"].astype(str))
    r_frame = recs.assign(user=recs["user"].astype(str), item=recs["item"].astype(str))
    qrels = Qrels.from_df(q_frame, q_id_col="user", doc_id_col="item", score_col="relevance")
    run = Run.from_df(r_frame, q_id_col="user", doc_id_col="item", score_col="score")
    build = time.perf_counter() - start
    print(f"  ranx Qrels/Run from the DataFrames: {build:.2f} s")
    ranx_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        theirs = evaluate(qrels, run, names)
        ranx_times.append(time.perf_counter() - start)
    print(f"  ranx evaluate (18 metrics, built structures): {_fmt(ranx_times)}")

    ours = points.set_index([points["metric"], points["labels"].map(lambda d: d.get("k"))])["value"]
    gap = max(
        abs(ours[f"ranking.{m}", k_label] - theirs[f"{m}@{k_label}"]) for m in USER_METRICS for k_label in map(str, KS)
    )
    print(f"  largest difference of the means, Lupus vs ranx: {gap:.2e}")
    lupus, ranx_eval = statistics.median(lupus_times), statistics.median(ranx_times)
    print(
        f"  ratio ranx evaluate / lupus: {ranx_eval / lupus:.2f}x; (ranx build + evaluate) / lupus: {(build + ranx_eval) / lupus:.2f}x"
    )
    return {"lupus": lupus, "ranx_evaluate": ranx_eval, "ranx_build": build}


def drift_data(n_rows: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cats = np.array([f"v{j}" for j in range(30)])

    def frame(shift: float, n_categories: int) -> pd.DataFrame:
        data = {f"num{i}": rng.normal(shift * (i % 3), 1.0 + 0.1 * i, n_rows) for i in range(10)}
        data |= {f"cat{i}": cats[rng.integers(0, n_categories, n_rows)] for i in range(10)}
        return pd.DataFrame(data)

    return frame(0.0, 25), frame(0.05, 27)


def bench_drift(n_rows: int, repeats: int, peer_python: str | None) -> dict[str, float]:
    ref, cur = drift_data(n_rows)
    print(
        f"drift: {n_rows:,} rows x {ref.shape[1]} columns (10 numeric, 10 categorical), methods={list(DRIFT_METHODS)}"
    )
    timings: dict[bool, list[float]] = {True: [], False: []}
    for pvalues in (True, False):
        for _ in range(repeats):
            start = time.perf_counter()
            points = drift_points(ref, cur, methods=list(DRIFT_METHODS), pvalues=pvalues, ts="2026-01-01")
            timings[pvalues].append(time.perf_counter() - start)
        print(f"  lupus drift_points, pvalues={pvalues} ({len(points)} points): {_fmt(timings[pvalues])}")
    lupus, lupus_no_p = statistics.median(timings[True]), statistics.median(timings[False])
    result = {"lupus": lupus, "lupus_no_pvalues": lupus_no_p}
    if peer_python is None or not Path(peer_python).exists():
        print("  evidently: skipped (no peer interpreter; see benchmarks/requirements-peers.txt)")
        return result
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path = os.path.join(tmp, "ref.parquet"), os.path.join(tmp, "cur.parquet")
        ref.to_parquet(ref_path)
        cur.to_parquet(cur_path)
        out = subprocess.run(
            [peer_python, "-c", EVIDENTLY_SCRIPT, ref_path, cur_path], capture_output=True, text=True, check=True
        )
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    chosen = points[points["metric"] == "drift.wasserstein_norm"]
    ours = pd.Series(chosen["value"].to_numpy(), index=chosen["labels"].map(lambda d: d["column"]).to_numpy())
    shared = [c for c in ours.index if c in peer["values"]]
    gap = max(abs(ours[c] - peer["values"][c]) for c in shared) if shared else float("nan")
    print(f"  evidently DataDriftPreset (one run): {peer['seconds']:.2f} s")
    print(f"  largest difference of wasserstein_norm, Lupus vs Evidently ({len(shared)} numeric columns): {gap:.2e}")
    print(
        f"  ratio evidently / lupus: {peer['seconds'] / lupus:.1f}x with p-values, {peer['seconds'] / lupus_no_p:.1f}x without"
    )
    result["evidently"] = peer["seconds"]
    return result


def _fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s over {len(times)} runs ({', '.join(f'{t:.2f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-python", default=os.environ.get("LUPUS_PEER_PYTHON", "/tmp/peers-venv/bin/python"))
    parser.add_argument("--only", choices=["ranking", "drift"])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores (shared; figures are noisy)")
    if args.only in (None, "ranking"):
        bench_ranking(args.users, args.repeats)
    if args.only in (None, "drift"):
        bench_drift(args.rows, args.repeats, args.peer_python)


if __name__ == "__main__":
    main()
