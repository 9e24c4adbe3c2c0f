"""A durable queue of index writes that did not land, retried when the index is back.

One file per (table, datasource, day, writer): the documents of that writer's latest write of
the day. A newer write of the same key replaces the file (only the latest state matters, since
each write replaces the previous one), and a write that lands removes it. Files are written to a
temporary name and renamed, so a crash leaves the previous entry or the new one, never half.

Example:
    >>> import tempfile
    >>> queue = RetryQueue(tempfile.mkdtemp())
    >>> queue.put(QueueKey("points", "demo", "2026-01-01", "metrics"), "g1", [{"_id": "a", "value": 1.0}], reason="down")
    >>> [(e.key.writer, e.generation, e.reason) for e in queue.entries()], queue.load(queue.entries()[0])
    ([('metrics', 'g1', 'down')], [{'_id': 'a', 'value': 1.0}])
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUFFIX = ".ndjson"
_SEPARATOR = "@"  # never in table, datasource, day or writer names


@dataclass(frozen=True)
class QueueKey:
    """What one queued write replaces: ``writer``'s rows of ``table`` for ``datasource`` on ``day``."""

    table: str
    datasource: str
    day: str
    writer: str

    @property
    def file_name(self) -> str:
        return _SEPARATOR.join((self.table, self.datasource, self.day, self.writer)) + _SUFFIX


@dataclass(frozen=True)
class QueueEntry:
    key: QueueKey
    generation: str
    reason: str
    path: Path


class RetryQueue:
    """Pending index writes under ``directory`` (created on demand)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)

    def __len__(self) -> int:
        return len(self._files())

    def put(self, key: QueueKey, generation: str, docs: Sequence[dict[str, Any]], *, reason: str) -> None:
        """Queue ``docs`` as the latest write of ``key``, replacing any older entry of the same key."""
        self.directory.mkdir(parents=True, exist_ok=True)
        header = {**key.__dict__, "generation": generation, "reason": reason}
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(header) + "\n")
            for doc in docs:
                out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.directory / key.file_name)

    def remove(self, key: QueueKey) -> None:
        """Forget ``key`` (its latest write landed)."""
        (self.directory / key.file_name).unlink(missing_ok=True)

    def entries(self, datasource: str | None = None) -> list[QueueEntry]:
        """Queued writes (of ``datasource`` only, if given), oldest file first."""
        found = []
        for path in self._files():
            with path.open(encoding="utf-8") as lines:
                header = json.loads(lines.readline())
            key = QueueKey(header["table"], header["datasource"], header["day"], header["writer"])
            if datasource is None or key.datasource == datasource:
                found.append(QueueEntry(key, header["generation"], header["reason"], path))
        return found

    def load(self, entry: QueueEntry) -> list[dict[str, Any]]:
        """The documents of a queued write."""
        with entry.path.open(encoding="utf-8") as lines:
            next(lines)
            return [json.loads(line) for line in lines if line.strip()]

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            (p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX)), key=lambda p: p.stat().st_mtime_ns
        )
