"""Dagster writes a ranged run's per-partition events in batches when ``DAGSTER_EVENT_BATCH_SIZE`` is set.

A ranged run of a year materializes two assets for 365 partitions each: 730 materializations
and as many planned events. Dagster hands those of one step output (and the planned events of
one run) to the event log storage as one batch when ``DAGSTER_EVENT_BATCH_SIZE`` is above zero
(it is 0, off, by default). PostgreSQL then inserts a batch of materializations with one
statement, and Lupus's SQLite event log (:mod:`lupus_dagster.sqlite_event_log`) in one
transaction of the run's shard. Each event is still stored, with its partition and metadata.

Example:
    >>> import os
    >>> enable_event_batches()
    >>> int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) > 0
    True
"""

import os

#: Events per batch: a year of a ranged run's materializations of one asset in one write.
EVENT_BATCH_SIZE = 1000


def enable_event_batches() -> None:
    """Turn Dagster's event batching on for this process and its children, unless the environment already sets it."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
