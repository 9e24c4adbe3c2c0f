"""Where a Lupus installation keeps its state, from the environment.

- ``LUPUS_HOME``: local state directory (default ``./.lupus`` in the working directory).
- ``LUPUS_STORE``: metric store root, a path or ``s3://bucket/prefix`` (default ``$LUPUS_HOME/store``).
- ``LUPUS_METADATA_URL``: SQLAlchemy URL of the metadata database (default SQLite ``$LUPUS_HOME/metadata.db``).
"""

from __future__ import annotations

import os
from pathlib import Path


def lupus_home() -> Path:
    """``LUPUS_HOME`` or ``./.lupus``, resolved to an absolute path."""
    return Path(os.environ.get("LUPUS_HOME", ".lupus")).expanduser().resolve()


def store_root() -> str:
    """``LUPUS_STORE`` or ``$LUPUS_HOME/store``."""
    return os.environ.get("LUPUS_STORE") or str(lupus_home() / "store")


def metadata_url() -> str:
    """``LUPUS_METADATA_URL`` or a SQLite file in ``LUPUS_HOME`` (created on demand)."""
    url = os.environ.get("LUPUS_METADATA_URL")
    if url:
        return url
    home = lupus_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'metadata.db'}"
