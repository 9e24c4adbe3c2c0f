"""kill -9 while clients push: after a restart every acknowledged batch is in the store exactly once,
and re-sending every batch with its idempotency key (what a client does after an error) duplicates nothing."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from api.live_server import ApiServer, seed
from lupus_store import MetricStore

CLIENTS = 4
POINTS_PER_BATCH = 200


def _batch(client: int, number: int) -> dict:
    base = number * POINTS_PER_BATCH
    return {"points": [
        {"metric": f"crash.client{client}", "labels": {"client": str(client)},
         "ts": f"2026-01-{1 + (base + i) // 1440:02d}T{(base + i) // 60 % 24:02d}:{(base + i) % 60:02d}:00Z",
         "value": float(base + i)}
        for i in range(POINTS_PER_BATCH)
    ]}  # fmt: skip


@pytest.mark.slow
def test_batches_acknowledged_before_kill_9_are_stored_exactly_once_after_restart(metadata_url, tmp_path):
    tokens = seed(metadata_url)
    server = ApiServer(tmp_path, metadata_url).start()
    acknowledged: dict[tuple[int, int], str] = {}
    sent: dict[int, int] = {}
    lock = threading.Lock()

    def push(client: int) -> None:
        headers = {"Authorization": f"Bearer {tokens['write_a']}"}
        with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as http:
            for number in range(10_000):
                sent[client] = number + 1
                try:
                    response = http.post(
                        "/datasources/ds-a/points",
                        json=_batch(client, number),
                        headers={"Idempotency-Key": f"c{client}-b{number}"},
                    )
                except httpx.TransportError:
                    return  # the server is gone
                assert response.status_code == 202, response.text
                with lock:
                    acknowledged[(client, number)] = response.json()["batch_id"]

    threads = [threading.Thread(target=push, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) >= 40

    server.start()
    with httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30
    ) as admin:
        deadline = time.monotonic() + 120
        pending = set(acknowledged.values())
        while pending and time.monotonic() < deadline:
            pending = {b for b in pending if admin.get(f"/datasources/ds-a/batches/{b}").json()["status"] != "ingested"}
            time.sleep(0.1)
        assert not pending, f"{len(pending)} acknowledged batches not ingested after restart"

        store = MetricStore(server.store_root)
        stored = store.read_points("ds-a")
        # A batch's points carry values number * POINTS_PER_BATCH + i: count them per (client, number).
        # (Batches that queued up are stored as groups, so writers do not name single batches.)
        per_batch = stored.groupby([stored["metric"], stored["value"] // POINTS_PER_BATCH]).size()
        for client, number in acknowledged:
            assert per_batch.get((f"crash.client{client}", number)) == POINTS_PER_BATCH, (client, number)
        assert not stored.duplicated(["series_id", "ts"]).any()

        # Clients re-send everything they sent, with the same keys: acknowledged ones map to their batch.
        for client, count in sent.items():
            for number in range(count):
                response = admin.post(
                    "/datasources/ds-a/points",
                    json=_batch(client, number),
                    headers={"Idempotency-Key": f"c{client}-b{number}"},
                )
                assert response.status_code == 202
                if (client, number) in acknowledged:
                    assert response.json() == {
                        **response.json(),
                        "batch_id": acknowledged[(client, number)],
                        "duplicate": True,
                    }
                acknowledged[(client, number)] = response.json()["batch_id"]
        for batch_id in set(acknowledged.values()):
            deadline = time.monotonic() + 60
            while admin.get(f"/datasources/ds-a/batches/{batch_id}").json()["status"] != "ingested":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    server.stop()
    stored = MetricStore(server.store_root).read_points("ds-a")
    assert len(stored) == sum(sent.values()) * POINTS_PER_BATCH
    assert not stored.duplicated(["series_id", "ts"]).any()
    # Staged files are removed once ingested; what is left are orphans of requests killed before their
    # batch row was committed (never acknowledged; removed after a grace time): at most one per client.
    leftover = {path.name.split(".")[0] for path in (tmp_path / "staging").glob("*/*") if path.parent.name != "_groups"}
    assert not leftover & set(acknowledged.values()) and len(leftover) <= CLIENTS


@pytest.mark.slow
def test_batches_only_staged_when_the_server_dies_are_ingested_by_the_next_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    tokens = seed(url)
    # First life without ingest threads: every acknowledged batch is still only staged at kill -9.
    server = ApiServer(tmp_path, url, env={"LUPUS_API_INGEST_THREADS": "0"}).start()
    headers = {"Authorization": f"Bearer {tokens['write_a']}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as http:
        batch_ids = [http.post("/datasources/ds-a/points", json=_batch(9, n)).json()["batch_id"] for n in range(5)]
        assert {http.get(f"/datasources/ds-a/batches/{b}").json()["status"] for b in batch_ids} == {"staged"}
    server.kill()
    assert MetricStore(server.store_root).read_points("ds-a").empty

    server.env = {}
    server.start()
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as http:
        deadline = time.monotonic() + 60
        while {http.get(f"/datasources/ds-a/batches/{b}").json()["status"] for b in batch_ids} != {"ingested"}:
            assert time.monotonic() < deadline, "staged batches were not ingested after restart"
            time.sleep(0.1)
    server.stop()
    stored = MetricStore(server.store_root).read_points("ds-a", provenance=True)
    assert len(stored) == 5 * POINTS_PER_BATCH and not stored.duplicated(["series_id", "ts"]).any()
    assert sorted(stored["value"]) == [float(v) for v in range(5 * POINTS_PER_BATCH)]
    # Queued together at start-up, they are written as one group rather than batch by batch.
    assert stored["writer"].str.startswith("push-").all() and stored["writer"].nunique() < len(batch_ids)
