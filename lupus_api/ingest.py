"""Durable ingestion of pushed batches: stage on disk, record in the metadata DB, move into the store.

The path of a batch, and why each step is where it is:

1. ``stage``: the validated points go to ``<staging>/<ds>/<batch_id>.staged`` (Arrow IPC, see
   :mod:`lupus_api.staged`; temporary name, fsync, rename, fsync of the directory) *before* the
   batch row is committed, so a committed row always has its bytes on disk. Only then does the API
   answer 202.
2. The row carries the idempotency key under a unique constraint per datasource: a re-send finds
   the row and gets the original batch id; two concurrent sends race on the constraint and the
   loser removes its staged file.
3. A worker thread writes the batch to the store, one file per UTC day owned by writer
   ``push-<batch_id>``, so writing it again after a crash replaces the same files (idempotent);
   then it marks the row ``ingested`` and removes the staged file.
4. Under load the queue holds many batches; a worker then takes up to ``MAX_GROUP_BATCHES`` of one
   datasource at once and writes them as one group, owned by writer ``push-<group_id>``: a store
   write has a fixed cost of several milliseconds, more than the points of a batch cost. Before
   writing, the group's members are recorded durably in ``<staging>/_groups/<group_id>.manifest``
   (under a lock shared by every API process, leaving out batches another manifest claims; a lone
   batch's group id is its batch id). So after a crash exactly the same group is written again
   under the same writer (idempotent), and no batch is ever written by two writers, which would
   store its points twice. Every row is written with its batch's acceptance time as its write
   order (``seq``), so that of two pushes of one point the later accepted is read back, whichever
   group, process or retry writes it; two batches of one group that hold the same point leave the
   group's file only the later one.
5. At start-up unfinished groups are written again, then every row still ``staged`` is queued
   again. A staged file without a row (the process died between staging and commit, the client got
   no 202) is removed after a grace time.

Example:
    >>> batch_file_name("0f" * 16, "json")
    '0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f.json'
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from lupus_api.cardinality import insert_series
from lupus_api.payloads import parse_batch
from lupus_api.staged import STAGED_FORMAT, decode_staged
from lupus_metrics.frames import NormalizedPoints
from lupus_store import MetricStore
from lupus_store.location import StoreLocation
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import IngestBatch, utcnow

log = logging.getLogger("lupus_api.ingest")
T = TypeVar("T")

# A staged file with no batch row older than this is the leftover of a request that never got its 202.
ORPHAN_GRACE_SECONDS = 300
# Batches written as one group, at most (bounded so a group stays a few MB in memory).
MAX_GROUP_BATCHES = 64
# How long a worker keeps collecting batches for a group: while the next arrives within the gap,
# up to the wait in all. Bounds the extra push-to-queryable delay (none is added beyond the gap
# for a lone push).
GROUP_GAP_SECONDS = 0.05
GROUP_WAIT_SECONDS = 0.25
_DAY_MICROS = 86_400_000_000
_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GROUPS_DIR = "_groups"  # datasource names start with a letter or digit, so this never clashes
RESWEEP_SECONDS = 30
# A group's manifest lives while its batches are written (well under a second unless the store fails);
# one older than this, of no batch this process is writing, belongs to a process that died.
STALE_GROUP_SECONDS = 120
MAX_RETRY_DELAY = 30.0


def batch_file_name(batch_id: str, fmt: str) -> str:
    """The staged file name of a batch."""
    return f"{batch_id}.{fmt}"


def writer_name(batch_id: str) -> str:
    """The store writer that owns a batch's (or a group's) files: ``push-<id>``."""
    return f"push-{batch_id}"


@dataclass(frozen=True)
class Staged:
    """The answer to a push: the batch id, its point count, and whether it was a re-send."""

    batch_id: str
    points: int
    duplicate: bool
    status: str


class IdempotencyConflictError(Exception):
    """The idempotency key was used before with a different payload."""

    def __init__(self, batch_id: str):
        super().__init__(batch_id)
        self.batch_id = batch_id


class Ingestor:
    """Stages pushed batches durably and moves them into the store with background threads."""

    def __init__(self, db: MetadataDB, store: MetricStore, staging_dir: Path, *, threads: int = 2):
        self.db = db
        self.store = store
        self.staging_dir = Path(staging_dir)
        self.threads = threads
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    # ---- request path ---------------------------------------------------------------------------

    def existing(self, datasource: str, idempotency_key: str, payload_sha256: str) -> Staged | None:
        """The batch already accepted under this key, if any (conflict if its payload differs)."""
        with self.db.session() as session:
            row = session.scalar(
                select(IngestBatch).where(
                    IngestBatch.datasource == datasource, IngestBatch.idempotency_key == idempotency_key
                )
            )
            if row is None:
                return None
            if row.payload_sha256 != payload_sha256:
                raise IdempotencyConflictError(row.id)
            return Staged(row.id, row.points, True, row.status)

    def stage(
        self,
        datasource: str,
        body: bytes,
        fmt: str,
        *,
        points: int,
        idempotency_key: str | None,
        payload_sha256: str,
        token_id: int | None,
        new_series: list[dict[str, str]] | None = None,
    ) -> Staged:
        """Write the batch durably and record it; returns once it is safe to answer 202.

        ``new_series`` (``ingest_series`` rows) are recorded in the same transaction as the batch,
        so a batch refused here (its idempotency key was used before) records none.
        """
        batch_id = uuid.uuid4().hex
        key = idempotency_key or batch_id
        path = self._write_durably(datasource, batch_file_name(batch_id, fmt), body)
        try:
            with self.db.session() as session:
                # A Core insert: the ORM's unit of work cost more CPU than the insert on every push.
                session.execute(insert(IngestBatch).values(
                    id=batch_id, datasource=datasource, idempotency_key=key, payload_sha256=payload_sha256,
                    points=points, token_id=token_id,
                ))  # fmt: skip
                insert_series(session, new_series or [])
        except IntegrityError:
            # Another request with the same key committed first: keep its batch, drop ours.
            path.unlink(missing_ok=True)
            found = self.existing(datasource, key, payload_sha256)
            if found is None:
                raise
            return found
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self._queue.put(batch_id)
        return Staged(batch_id, points, False, "staged")

    def status(self, datasource: str, batch_id: str) -> IngestBatch | None:
        """The batch row (None if there is no such batch of this datasource)."""
        with self.db.session() as session:
            row = session.get(IngestBatch, batch_id)
            return row if row is not None and row.datasource == datasource else None

    def _write_durably(self, datasource: str, name: str, body: bytes) -> Path:
        # The store's atomic replace: temp file, fsync, rename, directory fsync.
        StoreLocation.parse(self.staging_dir).write_atomic(f"{datasource}/{name}", body)
        return self.staging_dir / datasource / name

    # ---- worker ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Queue every batch not yet ingested, then start the worker threads."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        self._resume_groups()
        self._enqueue_pending(min_age_seconds=0)
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"lupus-ingest-{index}", daemon=True)
            thread.start()
            self._workers.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="lupus-ingest-sweep", daemon=True)
        sweeper.start()
        self._workers.append(sweeper)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads after the batch each one is writing (staged batches stay for next start)."""
        self._stop.set()
        for _ in range(self.threads):
            self._queue.put(None)
        for thread in self._workers:
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        return bool(self._workers) and all(t.is_alive() for t in self._workers)

    def pending(self) -> int:
        """Batches accepted but not yet in the store."""
        with self.db.session() as session:
            return len(session.scalars(select(IngestBatch.id).where(IngestBatch.status == "staged")).all())

    def _enqueue_pending(self, *, min_age_seconds: float) -> None:
        cutoff = utcnow() - pd.Timedelta(seconds=min_age_seconds)
        with self.db.session() as session:
            ids = session.scalars(
                select(IngestBatch.id)
                .where(IngestBatch.status == "staged", IngestBatch.created_at <= cutoff)
                .order_by(IngestBatch.created_at)
            ).all()
        with self._lock:
            queued = [batch_id for batch_id in ids if batch_id not in self._in_flight]
        for batch_id in queued:
            self._queue.put(batch_id)

    def _sweep(self) -> None:
        while not self._stop.wait(RESWEEP_SECONDS):
            try:
                self.sweep()
            except Exception:
                log.exception("staging sweep failed; retrying later")

    def sweep(self) -> None:
        """One pass of the periodic sweep: finish the groups of a process that died while this one
        runs, queue batches another process staged or that failed, remove orphaned staged files."""
        self._resume_groups(min_age_seconds=STALE_GROUP_SECONDS)
        self._enqueue_pending(min_age_seconds=RESWEEP_SECONDS)
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        now = time.time()
        candidates = [
            p
            for p in self.staging_dir.glob("*/*")
            if p.parent.name != GROUPS_DIR and now - p.stat().st_mtime > ORPHAN_GRACE_SECONDS
        ]
        if not candidates:
            return
        with self.db.session() as session:
            for path in candidates:
                batch_id = path.name.lstrip(".").split(".")[0]
                row = session.get(IngestBatch, batch_id)
                if row is None or row.status == "ingested":
                    path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                return
            ids = [first, *self._more_queued(MAX_GROUP_BATCHES - 1)]
            with self._lock:
                mine = [batch_id for batch_id in dict.fromkeys(ids) if batch_id not in self._in_flight]
                self._in_flight.update(mine)
            try:
                self._ingest_with_retries(mine)
            finally:
                with self._lock:
                    self._in_flight.difference_update(mine)

    def _more_queued(self, limit: int) -> list[str]:
        """Batch ids queued now or arriving soon after: while pushes keep coming (each within
        ``GROUP_GAP_SECONDS`` of the last, for at most ``GROUP_WAIT_SECONDS``) they join the group.

        A lone push waits ``GROUP_GAP_SECONDS`` more before it is written; under load, batches
        are written in groups instead of each paying a store write (a stop signal is put back).
        """
        more: list[str] = []
        deadline = time.monotonic() + GROUP_WAIT_SECONDS
        while len(more) < limit:
            timeout = min(GROUP_GAP_SECONDS, deadline - time.monotonic())
            try:
                batch_id = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if batch_id is None:
                self._queue.put(None)
                break
            more.append(batch_id)
        return more

    def _ingest_with_retries(self, batch_ids: list[str]) -> None:
        # The claim and each claimed group are retried on their own: once claimed, a batch is left out
        # of every later claim (its manifest says so), so retrying the claim would skip it.
        groups = self._retrying(lambda: self._claim(batch_ids), batch_ids) or []
        for group_id, datasource, ids in groups:
            self._retrying(lambda g=group_id, d=datasource, i=ids: self._ingest_group(g, d, i), ids)

    def _retrying(self, step: Callable[[], T], batch_ids: list[str]) -> T | None:
        """``step()`` until it succeeds (None if the ingestor stops first); failures are logged and recorded."""
        delay = 0.5
        while batch_ids and not self._stop.is_set():
            try:
                return step()
            except Exception as err:  # never drop an accepted batch: keep it staged, retry
                log.exception("ingesting batches %s failed; retrying in %.1f s", ", ".join(batch_ids), delay)
                with self.db.session() as session:
                    session.execute(
                        update(IngestBatch).where(IngestBatch.id.in_(batch_ids)).values(error=str(err)[:2000])
                    )
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, MAX_RETRY_DELAY)
        return None

    def ingest(self, batch_id: str) -> None:
        """Write one staged batch to the store (idempotent), mark it ingested, remove its staged file."""
        self.ingest_many([batch_id])

    def ingest_many(self, batch_ids: list[str]) -> None:
        """Write staged batches to the store, as one group per datasource when there are several."""
        for group_id, datasource, ids in self._claim(batch_ids):
            self._ingest_group(group_id, datasource, ids)

    def _claim(self, batch_ids: list[str]) -> list[tuple[str, str, list[str]]]:
        """Form groups of the still staged ``batch_ids`` and record each in a manifest, as one step.

        Every API process of an installation shares the staging directory and its ingest threads
        may be handed the same batch (at start-up, by the sweep). A batch must never be written by
        two different writers, so groups are formed under an exclusive lock, leaving out batches
        that an existing manifest already claims. A lone batch keeps the writer ``push-<batch_id>``.
        """
        with StoreLocation.parse(self.staging_dir).lock(GROUPS_DIR, exclusive=True):
            claimed = {batch_id for _, _, ids in self._manifests() for batch_id in ids}
            wanted = [batch_id for batch_id in batch_ids if batch_id not in claimed]
            with self.db.session() as session:
                rows = session.execute(
                    select(IngestBatch.id, IngestBatch.datasource)
                    .where(IngestBatch.id.in_(wanted), IngestBatch.status == "staged")
                    .order_by(IngestBatch.created_at)
                ).all()
            by_datasource: dict[str, list[str]] = {}
            for batch_id, datasource in rows:
                by_datasource.setdefault(datasource, []).append(batch_id)
            groups = []
            for datasource, ids in by_datasource.items():
                group_id = ids[0] if len(ids) == 1 else uuid.uuid4().hex
                self._write_manifest(group_id, datasource, ids)
                groups.append((group_id, datasource, ids))
        return groups

    def _ingest_group(self, group_id: str, datasource: str, batch_ids: list[str]) -> None:
        with self.db.session() as session:
            accepted = dict(session.execute(
                select(IngestBatch.id, IngestBatch.created_at).where(IngestBatch.id.in_(batch_ids))
            ).all())  # fmt: skip
            staged = set(
                session.scalars(
                    select(IngestBatch.id).where(IngestBatch.id.in_(batch_ids), IngestBatch.status == "staged")
                ).all()
            )
        if staged:  # after a crash between marking and clean-up there is nothing left to write
            parts = [self._read_staged(self._staged_file(datasource, batch_id), datasource) for batch_id in batch_ids]
            # Each row's write order is its batch's acceptance time: of two pushes of the same point, the
            # one accepted later is the point, whichever process, group or retry writes it to the store.
            seq = np.concatenate([np.full(len(part), acceptance_ns(accepted[batch_id]), dtype=np.int64)
                                  for batch_id, part in zip(batch_ids, parts, strict=True)])  # fmt: skip
            points = NormalizedPoints.concat(parts) if len(parts) > 1 else parts[0]
            points, seq = latest_of_each_point(points, seq)
            self._write_points(datasource, points, writer_name(group_id), run_id=group_id, seq=seq)
            self._mark_ingested(batch_ids)
        for batch_id in batch_ids:
            self._remove_staged(datasource, batch_id)
        self._manifest_path(group_id).unlink(missing_ok=True)

    def _write_points(self, datasource: str, points: NormalizedPoints, writer: str, *, run_id: str,
                      seq: np.ndarray) -> None:  # fmt: skip
        """Every day's points as ``writer``'s files."""
        days = points.ts // _DAY_MICROS  # the UTC day of each row, as days since the epoch
        for day in np.unique(days).tolist():
            rows = days == day
            self.store.write_points(datasource, points.take(rows), day=_EPOCH_DAY + timedelta(days=day),
                                    writer=writer, source="push", run_id=run_id, seq=seq[rows])  # fmt: skip

    def _mark_ingested(self, batch_ids: list[str]) -> None:
        with self.db.session() as session:
            session.execute(
                update(IngestBatch)
                .where(IngestBatch.id.in_(batch_ids))
                .values(status="ingested", ingested_at=utcnow(), error=None)
                .execution_options(synchronize_session=False)  # no ORM objects of these rows are loaded
            )

    def _staged_file(self, datasource: str, batch_id: str) -> Path:
        usual = self.staging_dir / datasource / batch_file_name(batch_id, STAGED_FORMAT)
        if usual.exists():  # a stat instead of listing the directory, which holds every staged batch
            return usual
        files = [p for p in (self.staging_dir / datasource).glob(f"{batch_id}.*") if not p.name.endswith(".tmp")]
        if not files:
            raise FileNotFoundError(f"staged file of batch {batch_id} is missing under {self.staging_dir}")
        return files[0]

    def _remove_staged(self, datasource: str, batch_id: str) -> None:
        usual = self.staging_dir / datasource / batch_file_name(batch_id, STAGED_FORMAT)
        if usual.exists():
            usual.unlink(missing_ok=True)
            return
        for path in (self.staging_dir / datasource).glob(f"{batch_id}.*"):  # staged by an earlier version
            path.unlink(missing_ok=True)

    @staticmethod
    def _read_staged(path: Path, datasource: str) -> NormalizedPoints:
        """The staged batch's validated points."""
        fmt = path.suffix.lstrip(".")
        if fmt == STAGED_FORMAT:
            return decode_staged(path.read_bytes())
        # A body staged as received (json, arrow, parquet) by an earlier version.
        return NormalizedPoints.from_frame(parse_batch(path.read_bytes(), fmt), datasource)

    # ---- groups -------------------------------------------------------------------------------------

    def _manifest_path(self, group_id: str) -> Path:
        return self.staging_dir / GROUPS_DIR / f"{group_id}.manifest"

    def _write_manifest(self, group_id: str, datasource: str, batch_ids: list[str]) -> None:
        manifest = json.dumps({"datasource": datasource, "batches": batch_ids}).encode()
        StoreLocation.parse(self.staging_dir).write_atomic(f"{GROUPS_DIR}/{group_id}.manifest", manifest)

    def _manifests(self) -> list[tuple[str, str, list[str]]]:
        """``(group_id, datasource, batch_ids)`` of every group being written (or cut short by a crash)."""
        groups = []
        for path in sorted((self.staging_dir / GROUPS_DIR).glob("*.manifest")):
            try:
                manifest = json.loads(path.read_bytes())
            except FileNotFoundError:  # finished meanwhile
                continue
            groups.append((path.stem, manifest["datasource"], manifest["batches"]))
        return groups

    def _resume_groups(self, *, min_age_seconds: float = 0) -> None:
        """Write again, under the same writer, every group a crash interrupted (at start-up: all of
        them; in the sweep: those whose manifest is older than ``min_age_seconds``).

        A group another running process is still writing (or retrying) may be written twice at the
        same time: under the same writer, that replaces the same files with the same points.
        """
        now = time.time()
        for group_id, datasource, batch_ids in self._manifests():
            try:
                age = now - self._manifest_path(group_id).stat().st_mtime
            except FileNotFoundError:  # finished meanwhile
                continue
            with self._lock:
                ours = any(batch_id in self._in_flight for batch_id in batch_ids)
            if ours or age < min_age_seconds:
                continue
            log.info("resuming group %s of %d batches", group_id, len(batch_ids))
            self._ingest_group(group_id, datasource, batch_ids)


def acceptance_ns(moment: datetime) -> int:
    """A batch's acceptance time (``created_at``; naive means UTC, as SQLite returns it) in ns since the epoch."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1) * 1000


def latest_of_each_point(points: NormalizedPoints, seq: np.ndarray) -> tuple[NormalizedPoints, np.ndarray]:
    """``points`` with each (series, ts) once: the row with the highest ``seq`` (the later row on a tie).

    Two batches of one group may hold the same point (a retried push); the store keeps one row per
    point and write, and reads would return the later one anyway.

    >>> p = NormalizedPoints.from_columns("ds", ["m", "m"], [{}, {}], ts=np.array([0, 60_000_000]), values=np.array([1.0, 2.0]))
    >>> both = NormalizedPoints.concat([p, p.take(np.array([0]))])
    >>> kept, order = latest_of_each_point(both, np.array([5, 5, 9]))
    >>> kept.ts.tolist(), order.tolist()
    ([60000000, 0], [5, 9])
    """
    if points.first_repeat() is None:
        return points, seq
    rows = np.arange(len(points))
    # Sorted by series, ts, then seq and position descending: the first row of each point is the one kept.
    order = np.lexsort((-rows, -seq, points.ts, points.codes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (points.codes[order][1:] != points.codes[order][:-1]) | (points.ts[order][1:] != points.ts[order][:-1])
    keep = np.sort(order[first])
    return points.take(keep), seq[keep]


def payload_digest(body: bytes) -> str:
    """SHA-256 of a request body: a re-send with the same key must carry the same bytes."""
    return hashlib.sha256(body).hexdigest()
