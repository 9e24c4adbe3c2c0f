"""Dagster's SQLite event log, tuned for ranged runs: the event log of the demo's and `dagster dev`'s instance.

A ranged backfill of a year writes a few events per partition (planned, materialized, check
evaluated), and Dagster's :class:`~dagster._core.storage.event_log.SqliteEventLogStorage` pays for
every one of them in the run's shard and again in the index shard, each time with a new
SQLAlchemy engine, a new connection, an fsync'd commit and, on close, a WAL checkpoint: 30-50 ms
per event on this machine, more than the day's metrics cost. This subclass changes how it
connects and commits, not what it writes:

- ``PRAGMA synchronous = NORMAL``. Dagster already puts its SQLite shards in WAL mode, where
  NORMAL is SQLite's recommended setting: a commit survives a crash of the process and the
  database is never corrupted; only a power loss or an OS crash may roll back the last commits
  (https://www.sqlite.org/pragma.html#pragma_synchronous). Production instances use PostgreSQL
  (``deploy/dagster.yaml``), where none of this applies.
- The index shard and the latest run shards keep one open connection each, so their writes are
  not checkpointed one by one (closing the last connection checkpoints the WAL into the
  database file and fsyncs it: about 10 ms per event, and a ranged run writes every partition's
  check evaluation as an event of its own). The webserver streams a running run's logs by
  watching ``<run_id>.db`` for changes, which only a checkpoint makes: a write to a run shard
  schedules one, at most ``CHECKPOINT_DELAY`` seconds later, so the logs still stream, in
  batches of that delay at most, and closing the storage checkpoints the rest.
- Batches of events (Dagster hands a ranged run's per-partition materializations and planned
  events over as one batch when ``DAGSTER_EVENT_BATCH_SIZE`` is set, see
  :func:`lupus_dagster.event_batches.enable_event_batches`) go to the run shard in one
  transaction; each event is still written exactly as :meth:`store_event` writes it.

Use it in ``$DAGSTER_HOME/dagster.yaml`` (``lupus demo`` writes this):

.. code-block:: yaml

    event_log_storage:
      module: lupus_dagster.sqlite_event_log
      class: SqliteEventLogStorage
      config:
        base_dir: /path/to/dagster_home/history/runs/

Example:
    >>> import tempfile
    >>> storage = SqliteEventLogStorage(tempfile.mkdtemp())
    >>> with storage.index_connection() as conn:
    ...     conn.exec_driver_sql("PRAGMA synchronous").scalar()  # 1 = NORMAL
    1
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage as DagsterSqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

#: Run shards whose engines are kept (the latest runs; older ones get a new engine on use).
KEPT_ENGINES = 32
#: Longest a run shard's committed events stay in its WAL before a checkpoint writes them to ``<run_id>.db``.
CHECKPOINT_DELAY = 0.2


class SqliteEventLogStorage(DagsterSqliteEventLogStorage):
    """Dagster's SQLite event log with cheaper connections and batched run-shard writes (see the module docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._batch: dict[str, db.engine.Connection] = {}  # shard -> the open transaction of store_event_batch
        self._tables: set[str] = set()
        self._checkpoints: dict[str, threading.Timer] = {}  # run shard -> its scheduled checkpoint
        super().__init__(base_dir, inst_data=inst_data)
        # Re-entrant: a batch holds its run shard's transaction while each event also writes the index shard.
        self._db_lock = threading.RLock()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> SqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        # As Dagster's own _connect (same lock, same lazy schema creation), with kept engines.
        with self._db_lock:
            if shard in self._batch:
                yield self._batch[shard]  # inside store_event_batch: the batch's open transaction
                return
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn
            if shard != INDEX_SHARD_NAME:
                self._schedule_checkpoint(shard)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store ``events`` as :meth:`store_event` does, in one transaction of the run's shard and one of the index."""
        run_ids = {event.run_id for event in events}
        if len(run_ids) != 1:
            super().store_event_batch(events)
            return
        (run_id,) = run_ids
        with self._db_lock, self._connect(run_id) as run, self._connect(INDEX_SHARD_NAME) as index:
            self._batch = {run_id: run, INDEX_SHARD_NAME: index}
            try:
                for event in events:
                    self.store_event(event)
            finally:
                self._batch = {}

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before every asset event, each time through a new engine; tables are never dropped.
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def _schedule_checkpoint(self, shard: str) -> None:
        if shard not in self._checkpoints:
            timer = threading.Timer(CHECKPOINT_DELAY, self._checkpoint, args=(shard,))
            timer.daemon = True
            self._checkpoints[shard] = timer
            timer.start()

    def _checkpoint(self, shard: str) -> None:
        """Copy the shard's committed WAL into ``<run_id>.db`` (what watchers of the run's logs see)."""
        with self._db_lock:
            self._checkpoints.pop(shard, None)
            engine = self._engines.get(shard)
            if engine is not None:
                with engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for timer in self._checkpoints.values():
                timer.cancel()
            self._checkpoints.clear()
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def _engine_for(self, shard: str) -> db.engine.Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        url = self.conn_string_for_shard(shard)
        # Every kept shard keeps a connection open; a disposed engine closes it, which checkpoints the WAL.
        engine = db.create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, pool_size=1, max_overflow=4
        )
        db.event.listen(engine, "connect", _synchronous_normal)
        self._engines[shard] = engine
        while len(self._engines) > KEPT_ENGINES + 1:
            oldest = next(name for name in self._engines if name != INDEX_SHARD_NAME)
            self._engines.pop(oldest).dispose()
        return engine


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Dagster switches a new shard to WAL inside its schema transaction, where SQLite may ignore it
    # when the schema was created through another pooled connection; outside any transaction it holds.
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
