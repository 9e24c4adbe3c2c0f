"""Local detection requests run once, in the API process that claims them, also with several processes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import ClassVar

from lupus_api.detections import CLAIM_LAPSE_SECONDS, DetectionService
from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import DetectionRequest, utcnow

REQUEST = {"start": "2026-01-01", "end": "2026-01-02", "rules": [], "lookback_days": 0}


class CountingService(DetectionService):
    """The real claim, heartbeat and bookkeeping; the detection itself only recorded."""

    ran: ClassVar[list[tuple[str, str]]] = []
    lock = threading.Lock()

    def _execute(self, request_id: str) -> None:
        with self.lock:
            self.ran.append((self.instance, request_id))
        time.sleep(0.2)  # long enough for the other process to try too
        self._finish(request_id, "succeeded", result={})


def services(metadata_url: str, tmp_path, count: int) -> list[CountingService]:
    db = MetadataDB(metadata_url)
    db.upgrade()
    CountingService.ran = []
    return [CountingService(db, MetricStore(tmp_path / "store"), None) for _ in range(count)]


def add(db: MetadataDB, request_id: str, **fields) -> None:
    with db.session() as session:
        session.add(DetectionRequest(id=request_id, datasource="ds-a", backend="local", request=REQUEST, **fields))


def status(db: MetadataDB, request_id: str) -> str:
    with db.session() as session:
        return session.get(DetectionRequest, request_id).status


def wait_finished(db: MetadataDB, ids: list[str]) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(status(db, i) == "succeeded" for i in ids):
            return True
        time.sleep(0.05)
    return False


def test_two_processes_starting_together_run_each_unfinished_request_once(metadata_url, tmp_path):
    first, second = services(metadata_url, tmp_path, 2)
    ids = [f"req{i}" for i in range(6)]
    for request_id in ids:
        add(first.db, request_id)
    first.start()
    second.start()
    try:
        assert wait_finished(first.db, ids)
    finally:
        first.stop()
        second.stop()
    assert sorted(request_id for _, request_id in CountingService.ran) == ids


def test_a_request_whose_process_died_is_taken_up_and_a_live_claim_is_respected(metadata_url, tmp_path):
    (service,) = services(metadata_url, tmp_path, 1)
    lapsed = utcnow() - timedelta(seconds=CLAIM_LAPSE_SECONDS + 5)
    add(service.db, "dead", status="running", claimed_by="f" * 32, heartbeat_at=lapsed)
    add(service.db, "alive", status="running", claimed_by="e" * 32, heartbeat_at=utcnow())
    assert not service.claim("alive")
    service.start()
    try:
        assert wait_finished(service.db, ["dead"])
    finally:
        service.stop()
    assert [request_id for _, request_id in CountingService.ran] == ["dead"]
    assert status(service.db, "alive") == "running"
