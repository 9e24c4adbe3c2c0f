"""Opening the metadata database and bringing its schema up to date with Alembic.

``MetadataDB()`` with no URL uses :func:`lupus_store.config.metadata_url`: a SQLite file
under ``LUPUS_HOME`` unless ``LUPUS_METADATA_URL`` is set; PostgreSQL by URL
(``postgresql+psycopg2://user:pass@host/db``). The same models and migrations serve both.

Example:
    >>> import tempfile
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db")
    >>> db.upgrade(); db.current_revision() == db.head_revision()
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from lupus_store.config import metadata_url

MIGRATIONS = Path(__file__).with_name("migrations")


class MetadataDB:
    """A connection to the metadata database; ``session()`` gives a transaction."""

    def __init__(self, url: str | None = None):
        self.url = url or metadata_url()
        sqlite = self.url.startswith("sqlite")
        # Pre-ping guards against server-side disconnects; a SQLite file has no server to drop us.
        self.engine: Engine = create_engine(self.url, pool_pre_ping=not sqlite)
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"MetadataDB({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions.begin() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (idempotent)."""
        command.upgrade(self._alembic_config(), revision)

    def downgrade(self, revision: str) -> None:
        command.downgrade(self._alembic_config(), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest migration shipped with this code."""
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def dispose(self) -> None:
        self.engine.dispose()

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        return config


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores foreign keys unless asked
    cursor.execute("PRAGMA busy_timeout=5000")
    # Write-ahead log: readers no longer block the writer nor the writer the readers (the API
    # stages batches while the app and Dagster read), and a commit costs one fsync instead of the
    # rollback journal's several. synchronous=FULL keeps every commit durable across power loss,
    # as a 202 promises. (A SQLite file on a network filesystem cannot use WAL: use PostgreSQL.)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
