"""The two client adapters: each sends a method, path and body and returns the decoded JSON.

Everything else (mappings, bulk lines, query bodies, retries, frames) is shared; the adapters
only differ in their client, their flattened-object type and their error classes.
``elasticsearch-py`` refuses to talk to OpenSearch (product check), hence two clients.

Example:
    >>> OpenSearchBackend("http://127.0.0.1:9200").labels_type
    'flat_object'
    >>> ElasticsearchBackend("http://127.0.0.1:9200").labels_type
    'flattened'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

BACKENDS = ("opensearch", "elasticsearch")


class IndexUnavailableError(Exception):
    """The index cluster could not be reached (connection refused, timeout): retry later."""


class SearchRequestError(Exception):
    """The cluster answered a request with an error status."""

    def __init__(self, status: int, info: Any):
        super().__init__(f"search index answered {status}: {str(info)[:500]}")
        self.status = status
        self.info = info


class SearchBackend(Protocol):
    """What the shared core needs from a client."""

    name: str
    labels_type: str
    url: str

    def request(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None, ndjson: bool = False
    ) -> Any:
        """Send one request; ``ndjson`` bodies are a string of newline-terminated lines."""
        ...


class OpenSearchBackend:
    """OpenSearch through ``opensearch-py``."""

    name = "opensearch"
    labels_type = "flat_object"

    def __init__(self, url: str, *, timeout: float = 30.0, **client_options: Any):
        from opensearchpy import OpenSearch

        self.url = url
        # Retries are the core's job (bulk item retries, the durable queue), not the client's.
        self.client = OpenSearch(hosts=[url], timeout=timeout, max_retries=0, retry_on_timeout=False, **client_options)

    def request(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None, ndjson: bool = False
    ) -> Any:
        from opensearchpy import exceptions

        headers = {"content-type": "application/x-ndjson"} if ndjson else None
        try:
            return self.client.transport.perform_request(
                method, path, params=dict(params or {}), body=body, headers=headers
            )
        except (exceptions.ConnectionError, exceptions.ConnectionTimeout) as err:
            raise IndexUnavailableError(f"OpenSearch unreachable: {err}") from err
        except exceptions.TransportError as err:
            raise SearchRequestError(int(err.status_code), err.info) from err


class ElasticsearchBackend:
    """Elasticsearch 8/9 through the official ``elasticsearch`` client."""

    name = "elasticsearch"
    labels_type = "flattened"
    _JSON = "application/vnd.elasticsearch+json; compatible-with=9"
    _NDJSON = "application/vnd.elasticsearch+x-ndjson; compatible-with=9"

    def __init__(self, url: str, *, timeout: float = 30.0, **client_options: Any):
        from elasticsearch import Elasticsearch

        self.url = url
        self.client = Elasticsearch(
            url, request_timeout=timeout, max_retries=0, retry_on_timeout=False, **client_options
        )

    def request(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None, ndjson: bool = False
    ) -> Any:
        import elasticsearch

        headers = {"accept": self._JSON}
        if body is not None:
            headers["content-type"] = self._NDJSON if ndjson else self._JSON
        try:
            response = self.client.perform_request(method, path, params=dict(params or {}), headers=headers, body=body)
        except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as err:
            raise IndexUnavailableError(f"Elasticsearch unreachable: {err}") from err
        except elasticsearch.ApiError as err:
            raise SearchRequestError(int(err.meta.status), err.body) from err
        return response.body


def make_backend(kind: str, url: str, **client_options: Any) -> SearchBackend:
    """``opensearch`` or ``elasticsearch`` backend for ``url``."""
    if kind == "opensearch":
        return OpenSearchBackend(url, **client_options)
    if kind == "elasticsearch":
        return ElasticsearchBackend(url, **client_options)
    from lupus_metrics.errors import LupusValidationError

    raise LupusValidationError("backend", f"must be one of {', '.join(BACKENDS)}", value=kind)
