"""Request limits: body size (413) as ASGI middleware, and a token bucket per API token (429).

Example:
    >>> bucket = TokenBuckets(rate=1.0, burst=2)
    >>> [bucket.take(7, now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lupus_api.problems import Problem, problem_response

#: Bodies of every other operation (datasources, tokens, detection requests...) are small documents.
SMALL_BODY_BYTES = 1024 * 1024
#: The operations that take batches of points, up to ``max_bytes``.
BATCH_PATHS = re.compile(r"/api/v1/datasources/[^/]+/points(/upload)?")


class BodySizeLimit:
    """Reject request bodies larger than the limit with 413, whether announced or streamed.

    The limit is ``max_bytes`` for the push operations (:data:`BATCH_PATHS`) and at most
    :data:`SMALL_BODY_BYTES` for every other one: FastAPI reads a body before the token is
    checked, so an anonymous caller can make the server hold no more than that. A
    ``Content-Length`` over the limit is refused before reading; a chunked body is counted
    as it arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, small_max_bytes: int = SMALL_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes
        self.small_max_bytes = min(small_max_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes if BATCH_PATHS.fullmatch(scope.get("path", "")) else self.small_max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, receive, send, limit)
            return
        received = 0
        exceeded = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            # FastAPI turns an error while reading the body into its own 400; answer 413 instead.
            nonlocal replaced
            if exceeded:
                if not replaced:
                    replaced = True
                    await self._reject(scope, receive, send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLargeError:
            if not replaced:
                await self._reject(scope, receive, send, limit)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"request body larger than {limit} bytes" + ("; split the batch" if limit == self.max_bytes else "")
        response = problem_response(Problem(status=413, title="Content Too Large", detail=detail))
        await response(scope, receive, send)


class _TooLargeError(Exception):
    pass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per API token: ``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: int, *, now: float | None = None) -> float:
        """Take one request from ``key``'s bucket: 0.0 if allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate
