"""Alert channels and the notifier that posts an alert message to one of them.

A channel is declared in the product's YAML; a webhook URL is a secret, so the YAML names
only the environment variable that holds it (``url_env``), never the URL.

- ``slack``: a Slack-compatible incoming webhook, posted ``{"text": ..., "blocks": [...]}``.
- ``webhook``: a generic webhook, posted the JSON document of :meth:`IncidentMessage.webhook_payload`.
- ``console``: the message text on standard output (local development).
- ``file``: one JSON document per line appended to ``path`` (local development, audits).

HTTP posts retry with exponential backoff on connection errors, timeouts, HTTP 429 and
5xx, at most ``max_attempts`` times; other answers fail at once (a 4xx will not heal by
retrying). A failure raises :class:`DeliveryError`, whose text never contains the URL.

Example:
    >>> import json, tempfile
    >>> from datetime import date
    >>> from lupus_dagster.resources.alert_message import Alert, IncidentMessage
    >>> path = f"{tempfile.mkdtemp()}/alerts.jsonl"
    >>> message = IncidentMessage("opened", 1, "shop", "ds", date(2026, 1, 10), "open", "critical",
    ...                           "shop: check ge_validation failed on 2026-01-10",
    ...                           [Alert(kind="check", metric=None, check="ge_validation")])
    >>> Notifier(AlertChannel(kind="file", path=path)).send(message)
    >>> json.loads(open(path).read())["alerts"][0]["check"]
    'ge_validation'
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
from functools import cache
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lupus_dagster.resources.alert_message import IncidentMessage

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class DeliveryError(RuntimeError):
    """A message could not be delivered (after the retries); the text is safe to store and log.

    ``channel_down`` says the channel itself failed (unreachable, 5xx, no URL), so other
    messages would fail too; otherwise the receiver refused this one message (a 4xx).
    """

    def __init__(self, message: str, *, channel_down: bool = True):
        super().__init__(message)
        self.channel_down = channel_down


class AlertChannel(BaseModel):
    """Where a product's alerts go.

    >>> AlertChannel(kind="slack", url_env="LUPUS_SLACK_RECSYS").kind
    'slack'
    >>> AlertChannel(kind="slack")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for AlertChannel
      Value error, a slack channel needs url_env: the name of the environment variable holding the webhook URL ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["slack", "webhook", "console", "file"] = "console"
    url_env: str | None = Field(default=None, description="Environment variable holding the webhook URL (a secret).")
    path: str | None = Field(default=None, description="File that `file` channels append JSON lines to.")
    # The defaults keep one failing message under ~20 s (3 x 5 s timeouts + 0.5 + 1 s of
    # backoff), well inside Dagster's 60 s limit for a sensor evaluation.
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10, description="HTTP attempts per message within one sensor tick.")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First retry delay; doubles on each retry.")
    max_backoff_seconds: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _needs_target(self) -> AlertChannel:
        if self.kind in ("slack", "webhook") and not self.url_env:
            raise ValueError(
                f"a {self.kind} channel needs url_env: the name of the environment variable holding the webhook URL"
                " (never the URL itself)"
            )
        if self.kind == "file" and not self.path:
            raise ValueError("a file channel needs path")
        return self


class Notifier:
    """Formats an :class:`IncidentMessage` for its channel and delivers it."""

    def __init__(self, channel: AlertChannel, *, client: httpx.Client | None = None):
        self.channel = channel
        self._client = client

    def send(self, message: IncidentMessage) -> None:
        """Deliver ``message``; raise :class:`DeliveryError` when it could not be delivered."""
        kind = self.channel.kind
        if kind == "console":
            sys.stdout.write(message.text() + "\n")
            sys.stdout.flush()
        elif kind == "file":
            self._append(message)
        else:
            payload = message.slack_payload() if kind == "slack" else message.webhook_payload()
            self._post(payload)

    def _append(self, message: IncidentMessage) -> None:
        path = Path(self.channel.path or "")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(message.webhook_payload(), ensure_ascii=False) + "\n")
        except OSError as err:
            raise DeliveryError(f"cannot append to {path}: {err.strerror or err}") from err

    def _url(self) -> str:
        name = self.channel.url_env or ""
        url = os.environ.get(name, "").strip()
        if not url:
            raise DeliveryError(f"environment variable {name} is not set: no {self.channel.kind} webhook URL")
        return url

    def _post(self, payload: dict) -> None:
        url = self._url()
        client = self._client or httpx.Client(timeout=self.channel.timeout_seconds, verify=_ssl_context())
        try:
            self._post_with_retries(client, url, payload)
        finally:
            if self._client is None:
                client.close()

    def _post_with_retries(self, client: httpx.Client, url: str, payload: dict) -> None:
        attempts = self.channel.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = client.post(url, json=payload)
            except httpx.TransportError as err:  # connection refused, reset, timeout: worth retrying
                error = f"{type(err).__name__}: {err}"
            else:
                if response.is_success:
                    return
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRYABLE_STATUS:
                    raise DeliveryError(
                        f"{self.channel.kind} webhook refused the message ({error})", channel_down=False
                    )
            if attempt < attempts:
                time.sleep(min(self.channel.backoff_seconds * 2 ** (attempt - 1), self.channel.max_backoff_seconds))
        raise DeliveryError(f"{self.channel.kind} webhook failed after {attempts} attempts (last: {error})")


@cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.2 s; a sensor posts every few seconds, so load it once.
    return ssl.create_default_context()
