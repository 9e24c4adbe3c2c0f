"""Where a store lives: a local directory or ``s3://bucket/prefix``, behind one small file API.

Local files are replaced atomically by writing a temporary sibling, fsyncing it and
renaming it over the target (``os.replace``), so readers see the old file or the new
one, never half of one. On S3 a PUT is atomic by itself: an object becomes visible only
once it is complete, so writes go straight to the final key.

S3 settings come from the arguments or the environment: ``LUPUS_S3_ENDPOINT_URL``
(for an S3-compatible server), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec

# Temporary files end in this suffix, never in ".parquet", so no reader's glob picks them up.
TMP_SUFFIX = ".tmp"


@dataclass
class StoreLocation:
    """A store root with the few file operations the metric store needs.

    >>> import tempfile
    >>> loc = StoreLocation.parse(tempfile.mkdtemp())
    >>> loc.write_atomic("points/a.txt", b"hello"); loc.read_bytes("points/a.txt")
    b'hello'
    """

    root: str
    is_s3: bool
    storage_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, root: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> StoreLocation:
        text = os.fspath(root)
        if text.startswith("s3://"):
            options = _s3_options_from_env() | (storage_options or {})
            return cls(root=text[len("s3://") :].rstrip("/"), is_s3=True, storage_options=options)
        if "://" in text:
            raise ValueError(f"store root must be a local path or s3://bucket/prefix, got {text!r}")
        return cls(root=str(Path(text).expanduser().resolve()), is_s3=False)

    @property
    def url(self) -> str:
        return f"s3://{self.root}" if self.is_s3 else self.root

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if "_fs" not in self.__dict__:
            self.__dict__["_fs"] = (
                fsspec.filesystem("s3", **self.storage_options) if self.is_s3 else fsspec.filesystem("file")
            )
        return self.__dict__["_fs"]

    def path(self, relative: str) -> str:
        """Absolute path (local) or ``bucket/key`` (S3) of a store-relative path."""
        return f"{self.root}/{relative}" if relative else self.root

    def reader_path(self, relative: str) -> str:
        """The path as DuckDB reads it (``s3://`` through the registered fsspec filesystem)."""
        return f"s3://{self.path(relative)}" if self.is_s3 else self.path(relative)

    def write_atomic(self, relative: str, data: bytes) -> None:
        """Replace the file at ``relative`` with ``data`` so that readers never see a partial file."""
        target = self.path(relative)
        if self.is_s3:
            self.fs.pipe_file(target, data)
            return
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        tmp = f"{target}.{uuid.uuid4().hex}{TMP_SUFFIX}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(directory)

    def read_bytes(self, relative: str) -> bytes:
        return self.fs.cat_file(self.path(relative))

    def remove(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(relative))

    def remove_empty_dir(self, relative: str) -> None:
        """Remove a local directory left empty (S3 has no directories)."""
        if not self.is_s3:
            with contextlib.suppress(OSError):
                os.rmdir(self.path(relative))

    def list_dir(self, relative: str) -> list[str]:
        """Names (not paths) of the entries directly under ``relative``; empty if it does not exist."""
        if not self.is_s3:
            try:
                return [entry.name for entry in os.scandir(self.path(relative))]
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            entries = self.fs.ls(self.path(relative), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def find(self, relative: str) -> list[str]:
        """Store-relative paths of every file under ``relative`` (one listing call on S3)."""
        base = self.path(relative)
        if not self.is_s3:
            found = []
            for dirpath, _dirs, files in os.walk(base):
                rel_dir = os.path.relpath(dirpath, self.root)
                found.extend(f"{rel_dir}/{name}" for name in files)
            return found
        try:
            keys = self.fs.find(base, refresh=True)
        except FileNotFoundError:
            return []
        prefix = self.root + "/"
        return [k[len(prefix) :] for k in keys if k.startswith(prefix)]

    def stat_token(self, relative: str) -> tuple[Any, ...] | None:
        """A cheap fingerprint (size, mtime or ETag) to tell whether a file changed; None if it is gone."""
        try:
            info = self.fs.info(self.path(relative))
        except FileNotFoundError:
            return None
        return (info.get("size"), info.get("mtime"), info.get("ETag"), info.get("LastModified"))

    @contextlib.contextmanager
    def lock(self, relative_dir: str, *, exclusive: bool) -> Iterator[None]:
        """Advisory lock on a directory, so compaction never deletes a file a writer is replacing.

        Local only: S3 has no locks, so on S3 compaction must run when no writer of that
        day is active (the maintenance job's schedule guarantees it; see docs/store.md).
        """
        if self.is_s3:
            yield
            return
        directory = self.path(relative_dir)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, ".lock"), "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _s3_options_from_env() -> dict[str, Any]:
    options: dict[str, Any] = {}
    endpoint = os.environ.get("LUPUS_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        options["key"] = os.environ["AWS_ACCESS_KEY_ID"]
        options["secret"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    region = os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options


def _fsync_directory(directory: str) -> None:
    # The rename itself must survive a crash, not only the file's bytes.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
