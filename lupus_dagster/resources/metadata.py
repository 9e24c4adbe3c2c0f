"""The metadata database as a Dagster resource (alert state, datasources, tokens)."""

from __future__ import annotations

from functools import cache

import dagster as dg

from lupus_store.config import metadata_url
from lupus_store.metadata import MetadataDB


class MetadataResource(dg.ConfigurableResource):
    """Points at the metadata database: ``url`` is a SQLAlchemy URL (default ``LUPUS_METADATA_URL``).

    ``get_db()`` returns the database with its schema migrated to the latest revision; the
    engine (and its connection pool) is opened once per URL and process.

    Example:
        >>> import tempfile
        >>> MetadataResource(url=f"sqlite:///{tempfile.mkdtemp()}/meta.db").get_db().current_revision() is not None
        True
    """

    url: str | None = None

    def get_db(self) -> MetadataDB:
        return _upgraded(self.url or metadata_url())


@cache
def _upgraded(url: str) -> MetadataDB:
    # Sensors tick every few seconds: migrating and opening a pool once per process, not per tick.
    db = MetadataDB(url)
    db.upgrade()
    return db
