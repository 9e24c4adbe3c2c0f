"""Grouped ingestion: batches that queue up are written as one group, exactly once, even across a crash."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from api.live_server import seed
from lupus_api.ingest import GROUPS_DIR, STALE_GROUP_SECONDS, Ingestor, payload_digest, writer_name
from lupus_api.payloads import parse_batch
from lupus_api.staged import STAGED_FORMAT, encode_staged
from lupus_metrics.frames import NormalizedPoints
from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import IngestBatch


def body(metric: str, hours: range, *, value: float = 1.0) -> bytes:
    points = [{"metric": metric, "labels": {"shard": str(h % 3)}, "ts": f"2026-01-0{1 + h // 24}T{h % 24:02d}:00:00Z",
               "value": value} for h in hours]  # fmt: skip
    return json.dumps({"points": points}).encode()


@pytest.fixture
def ingestor(tmp_path: Path) -> Ingestor:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    seed(url)
    return Ingestor(MetadataDB(url), MetricStore(tmp_path / "store"), tmp_path / "staging")


def stage(ingestor: Ingestor, payload: bytes, *, fmt: str = STAGED_FORMAT) -> str:
    """Stage ``payload`` as the request path does (validated points), or as received (``fmt="json"``)."""
    points = NormalizedPoints.from_frame(parse_batch(payload, "json"), "ds-a")
    data = encode_staged(points) if fmt == STAGED_FORMAT else payload
    return ingestor.stage("ds-a", data, fmt, points=len(points), idempotency_key=None,
                          payload_sha256=payload_digest(payload), token_id=None).batch_id  # fmt: skip


def statuses(ingestor: Ingestor, ids: list[str]) -> set[str]:
    with ingestor.db.session() as session:
        return {session.get(IngestBatch, batch_id).status for batch_id in ids}


def test_queued_batches_are_written_as_one_group_spanning_days(ingestor):
    ids = [stage(ingestor, body(f"group.m{k}", range(20, 30))) for k in range(5)]  # hours 20-29: two days
    ingestor.ingest_many(ids)
    stored = ingestor.store.read_points("ds-a", provenance=True)
    assert len(stored) == 50 and not stored.duplicated(["series_id", "ts"]).any()
    assert stored["writer"].nunique() == 1 and stored["writer"].iloc[0] not in {writer_name(i) for i in ids}
    assert statuses(ingestor, ids) == {"ingested"}
    assert not list((ingestor.staging_dir / "ds-a").iterdir())
    assert not list((ingestor.staging_dir / GROUPS_DIR).glob("*.manifest"))


def test_batches_repeating_a_series_and_timestamp_are_one_group_keeping_the_later_batchs_points(ingestor):
    # The first as an earlier version staged it (the JSON body): both forms are read.
    first = stage(ingestor, body("group.dup", range(22, 26), value=1.0), fmt="json")
    second = stage(ingestor, body("group.dup", range(22, 26), value=2.0))  # the same points again, both days
    ingestor.ingest_many([first, second])
    stored = ingestor.store.read_points("ds-a", provenance=True)
    assert stored["writer"].nunique() == 1 and stored["value"].tolist() == [2.0] * 4
    assert len(pq_rows(ingestor)) == 4  # the group's files hold each point once
    assert statuses(ingestor, [first, second]) == {"ingested"}


def test_the_batch_accepted_later_wins_even_when_it_is_written_first(ingestor):
    first = stage(ingestor, body("group.order", range(0, 3), value=1.0))
    second = stage(ingestor, body("group.order", range(0, 3), value=2.0))
    ingestor.ingest_many([second])  # e.g. another process wrote it first, or the first was retried
    ingestor.ingest_many([first])
    stored = ingestor.store.read_points("ds-a", provenance=True)
    assert stored["value"].tolist() == [2.0] * 3 and set(stored["writer"]) == {writer_name(second)}
    assert ingestor.store.list_series("ds-a")["points"].sum() == 3


def pq_rows(ingestor: Ingestor):
    import pyarrow.parquet as pq

    return [row for path in Path(ingestor.store.location.path("points")).rglob("*.parquet")
            for row in pq.read_table(path).to_pylist()]  # fmt: skip


def test_a_group_interrupted_by_a_crash_is_written_again_under_the_same_writer(ingestor):
    ids = [stage(ingestor, body(f"group.crash{k}", range(0, 6))) for k in range(3)]
    group_id = "f" * 32
    ingestor._write_manifest(group_id, "ds-a", ids)
    # The crash came while the group's file was being written (here: with one batch's points), before marking.
    partial = ingestor._read_staged(ingestor._staged_file("ds-a", ids[0]), "ds-a")
    ingestor.store.write_points("ds-a", partial, day="2026-01-01", writer=writer_name(group_id))
    ingestor.start()  # a new process: resumes the group, then queues what is still staged
    try:
        deadline_ok = _wait(lambda: statuses(ingestor, ids) == {"ingested"})
    finally:
        ingestor.stop()
    assert deadline_ok
    stored = ingestor.store.read_points("ds-a", provenance=True)
    assert len(stored) == 18 and not stored.duplicated(["series_id", "ts"]).any()
    assert set(stored["writer"]) == {writer_name(group_id)}
    assert not list((ingestor.staging_dir / GROUPS_DIR).glob("*.manifest"))


def test_the_sweep_of_a_running_process_finishes_a_group_whose_process_died(ingestor):
    ids = [stage(ingestor, body(f"group.dead{k}", range(0, 4))) for k in range(2)]
    claimed = ingestor._claim(ids)  # another process claimed the group, then died before writing it
    assert len(claimed) == 1
    manifest = ingestor._manifest_path(claimed[0][0])
    ingestor.sweep()  # a fresh manifest may belong to a live process: left alone
    assert statuses(ingestor, ids) == {"staged"} and manifest.exists()
    stale = time.time() - STALE_GROUP_SECONDS - 1
    os.utime(manifest, (stale, stale))
    ingestor.sweep()
    assert statuses(ingestor, ids) == {"ingested"} and not manifest.exists()
    stored = ingestor.store.read_points("ds-a", provenance=True)
    assert len(stored) == 8 and set(stored["writer"]) == {writer_name(claimed[0][0])}


def test_two_processes_handed_the_same_batches_store_each_point_once(ingestor):
    # Two API processes share staging and the metadata DB; at start-up or in the sweep both may be
    # handed the same staged batches. Each batch must be claimed by one group only.
    ids = [stage(ingestor, body(f"group.race{k}", range(0, 4))) for k in range(40)]
    other = Ingestor(MetadataDB(ingestor.db.url), MetricStore(ingestor.store.root), ingestor.staging_dir)
    errors: list[BaseException] = []

    def run(worker: Ingestor, order: list[str]) -> None:
        try:
            for start in range(0, len(order), 8):
                worker.ingest_many(order[start : start + 8])
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [
        threading.Thread(target=run, args=(ingestor, ids)),
        threading.Thread(target=run, args=(other, ids[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    stored = ingestor.store.read_points("ds-a")
    assert len(stored) == 160 and not stored.duplicated(["series_id", "ts"]).any()
    assert statuses(ingestor, ids) == {"ingested"}


def _wait(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_group_whose_write_fails_once_is_written_by_the_retry(ingestor, monkeypatch):
    ids = [stage(ingestor, body(f"group.retry{k}", range(0, 4))) for k in range(3)]
    write, failures = ingestor.store.write_points, []

    def flaky_write(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OSError("disk hiccup")
        return write(*args, **kwargs)

    monkeypatch.setattr(ingestor.store, "write_points", flaky_write)
    ingestor.start()
    try:
        done = _wait(lambda: statuses(ingestor, ids) == {"ingested"})
    finally:
        ingestor.stop()
    assert done and failures == [1]
    stored = ingestor.store.read_points("ds-a")
    assert len(stored) == 12 and not stored.duplicated(["series_id", "ts"]).any()
