"""Bulk indexing with item retries, backpressure and partial-failure reporting.

Chunks go one at a time, so a writer never has more than one bulk request in flight: when the
cluster pushes back (HTTP 429 or a 429/503 item), the sender waits with exponential backoff and
resends only the rejected documents, slowing down to what the cluster accepts. Documents
rejected for good (a mapping error, an ingest failure) are reported, never silently dropped;
the others land.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lupus_store.search.backends import SearchBackend, SearchRequestError
from lupus_store.search.bodies import bulk_lines

# Statuses that mean "not now": queue full, shard not ready, gateway trouble.
RETRYABLE = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class BulkFailure:
    """A document the cluster rejected."""

    doc_id: str
    index: str
    status: int
    reason: str


@dataclass
class BulkReport:
    """What a bulk send did: documents indexed, rejected (after retries) and how many resends it took."""

    indexed: int = 0
    failures: list[BulkFailure] = field(default_factory=list)
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class BulkSender:
    """Sends documents in chunks of at most ``chunk_docs`` documents or ``chunk_bytes`` bytes.

    >>> BulkSender(backend=None, chunk_docs=2).chunks([{"_id": str(i)} for i in range(5)], lambda d: "i")
    [2, 2, 1]
    """

    backend: SearchBackend | None
    chunk_docs: int = 5000
    chunk_bytes: int = 8 * 1024 * 1024
    max_retries: int = 4
    initial_backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def chunks(self, docs: Sequence[Mapping[str, Any]], index_of: Callable[[Mapping[str, Any]], str]) -> list[int]:
        """Sizes of the chunks ``docs`` would be sent in (for tests and tuning)."""
        return [len(chunk) for chunk, _ in self._chunked(docs, index_of)]

    def send(self, docs: Sequence[Mapping[str, Any]], index_of: Callable[[Mapping[str, Any]], str]) -> BulkReport:
        """Index ``docs`` (each with its ``_id``); raises :class:`IndexUnavailableError` if the cluster is unreachable."""
        report = BulkReport()
        for chunk, lines in self._chunked(docs, index_of):
            self._send_chunk(chunk, lines, index_of, report)
        return report

    def _chunked(self, docs: Sequence[Mapping[str, Any]], index_of: Callable[[Mapping[str, Any]], str]):
        chunk: list[Mapping[str, Any]] = []
        lines: list[str] = []
        size = 0
        for doc in docs:
            pair = bulk_lines([doc], index_of)
            pair_size = len(pair[0]) + len(pair[1]) + 2
            if chunk and (len(chunk) >= self.chunk_docs or size + pair_size > self.chunk_bytes):
                yield chunk, lines
                chunk, lines, size = [], [], 0
            chunk.append(doc)
            lines.extend(pair)
            size += pair_size
        if chunk:
            yield chunk, lines

    def _send_chunk(self, chunk: list[Mapping[str, Any]], lines: list[str], index_of: Any, report: BulkReport) -> None:
        assert self.backend is not None
        pending, pending_lines = chunk, lines
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.backend.request("POST", "/_bulk", body="\n".join(pending_lines) + "\n", ndjson=True)
            except SearchRequestError as err:
                if err.status in RETRYABLE and not last:
                    report.retries += 1
                    self.sleep(self.initial_backoff * 2**attempt)
                    continue
                raise
            retry: list[Mapping[str, Any]] = []
            for doc, item in zip(pending, response["items"], strict=True):
                result = next(iter(item.values()))
                status = int(result.get("status", 500))
                if status < 300:
                    report.indexed += 1
                elif status in RETRYABLE and not last:
                    retry.append(doc)
                else:
                    error = result.get("error") or {}
                    reason = (
                        f"{error.get('type', 'error')}: {error.get('reason', '')}"
                        if isinstance(error, dict)
                        else str(error)
                    )
                    report.failures.append(BulkFailure(str(doc["_id"]), result.get("_index", ""), status, reason))
            if not retry:
                return
            report.retries += 1
            self.sleep(self.initial_backoff * 2**attempt)
            pending, pending_lines = retry, bulk_lines(retry, index_of)
