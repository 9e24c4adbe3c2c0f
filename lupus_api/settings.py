"""API settings from the environment (one place, read once at start-up).

| variable | default | meaning |
|---|---|---|
| ``LUPUS_METADATA_URL`` / ``LUPUS_STORE`` / ``LUPUS_HOME`` | see :mod:`lupus_store.config` | metadata DB, metric store |
| ``LUPUS_STAGING`` | ``$LUPUS_HOME/staging`` | durable staging directory of pushed batches |
| ``LUPUS_DAGSTER_URL`` | unset | e.g. ``http://127.0.0.1:3000``: detection requests become Dagster runs |
| ``LUPUS_API_MAX_BODY_BYTES`` | 64 MiB | larger requests get 413 |
| ``LUPUS_API_MAX_POINTS`` | 100000 | points per batch (413 beyond) |
| ``LUPUS_API_MAX_SERIES`` | 10000 | series per datasource (new series beyond it get 422) |
| ``LUPUS_API_RATE`` / ``LUPUS_API_BURST`` | 200 / 400 | requests per second per token (429 beyond) |
| ``LUPUS_API_INGEST_THREADS`` | 1 | threads moving staged batches into the store (per process; one writes the queued batches as groups, and more only contend for the GIL) |

Example:
    >>> Settings.from_env({"LUPUS_HOME": "/tmp/lupus", "LUPUS_API_MAX_POINTS": "10"}).max_points
    10
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything the API process needs to know about its installation and limits."""

    metadata_url: str
    store_root: str
    staging_dir: Path
    dagster_url: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_points: int = 100_000
    max_series: int = 10_000
    rate: float = 200.0
    burst: int = 400
    ingest_threads: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        home = Path(env.get("LUPUS_HOME", ".lupus")).expanduser().resolve()
        metadata_url = env.get("LUPUS_METADATA_URL") or f"sqlite:///{home / 'metadata.db'}"
        return cls(
            metadata_url=metadata_url,
            store_root=env.get("LUPUS_STORE") or str(home / "store"),
            staging_dir=Path(env.get("LUPUS_STAGING") or home / "staging").expanduser().resolve(),
            dagster_url=env.get("LUPUS_DAGSTER_URL") or None,
            max_body_bytes=int(env.get("LUPUS_API_MAX_BODY_BYTES", 64 * 1024 * 1024)),
            max_points=int(env.get("LUPUS_API_MAX_POINTS", 100_000)),
            max_series=int(env.get("LUPUS_API_MAX_SERIES", 10_000)),
            rate=float(env.get("LUPUS_API_RATE", 200)),
            burst=int(env.get("LUPUS_API_BURST", 400)),
            ingest_threads=int(env.get("LUPUS_API_INGEST_THREADS", 1)),
        )
