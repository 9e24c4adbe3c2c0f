"""Faults in real processes: a writer killed mid-write, and two processes writing one day at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from lupus_store import MetricStore

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import os, sys, time
    import pandas as pd
    sys.path.insert(0, {repo!r})
    from lupus_store import MetricStore

    root, writer, value, n, repeats, stall = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "stall"
    if stall:
        # Fault injection: announce, then hang inside the write (after the bytes, before the rename)
        # so the parent's kill -9 lands mid-write every time.
        real_fsync = os.fsync
        def stalled_fsync(fd):
            print("in-write", flush=True)
            time.sleep(60)
            real_fsync(fd)
        os.fsync = stalled_fsync
    store = MetricStore(root)
    frame = pd.DataFrame({{"metric": ["m"] * n, "labels": [{{"i": str(i)}} for i in range(n)],
                          "ts": pd.Timestamp("2026-01-01", tz="UTC"), "value": value}})
    for _ in range(repeats):
        store.write_points("demo", frame, day="2026-01-01", writer=writer)
    print("done", flush=True)
    """
).format(repo=str(REPO))


def run_writer(root: Path, writer: str, value: float, n: int, repeats: int = 1, *, stall: bool = False):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), writer, str(value), str(n), str(repeats), "stall" if stall else "go"],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_writer_killed_mid_write_leaves_the_previous_version_readable(tmp_path):
    first = run_writer(tmp_path, "metrics", 1.0, 1000)
    assert first.wait(timeout=120) == 0
    before = MetricStore(tmp_path).read_points("demo")

    victim = run_writer(tmp_path, "metrics", 2.0, 50_000, stall=True)
    assert victim.stdout.readline().strip() == "in-write"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)

    day_dir = tmp_path / "points/datasource=demo/date=2026-01-01"
    leftovers = [p.name for p in day_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the kill should have interrupted a write in progress"
    after = MetricStore(tmp_path).read_points("demo")
    pd.testing.assert_frame_equal(after, before)
    assert (after["value"] == 1.0).all()


def test_compaction_removes_stale_temporary_files_of_killed_writers(tmp_path, monkeypatch):
    import lupus_store.metric_store as metric_store

    assert run_writer(tmp_path, "metrics", 1.0, 100).wait(timeout=120) == 0
    victim = run_writer(tmp_path, "metrics", 2.0, 100, stall=True)
    assert victim.stdout.readline().strip() == "in-write"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    monkeypatch.setattr(metric_store, "STALE_TMP_SECONDS", 0)
    report = MetricStore(tmp_path).compact("demo")
    assert report.stale_tmp_removed == 1
    assert not list(tmp_path.rglob("*.tmp"))
    assert (MetricStore(tmp_path).read_points("demo")["value"] == 1.0).all()


def test_two_processes_writing_different_writers_into_one_day_both_land(tmp_path):
    a = run_writer(tmp_path, "asset", 1.0, 2000, repeats=15)
    b = run_writer(tmp_path, "push-7", 2.0, 2000, repeats=15)
    assert a.wait(timeout=300) == 0 and b.wait(timeout=300) == 0
    got = MetricStore(tmp_path).read_points("demo", provenance=True)
    # Both writers' files are whole; the points (the same series and ts) read back once, each from the
    # writer that wrote it last, with that writer's value.
    assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == ["asset.parquet", "push-7.parquet"]
    assert len(got) == 2000 and got[["series_id", "ts"]].drop_duplicates().shape[0] == 2000
    assert (got["value"] == got["writer"].map({"asset": 1.0, "push-7": 2.0})).all()
