"""A local HTTP receiver that records the requests of the Elasticsearch backend.

Used only where no Elasticsearch cluster is reachable, to check the request bodies the backend
sends; it answers like Elasticsearch 9 (product header included, or the client refuses it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line]


Responder = Callable[[Request], tuple[int, Any]]


def default_responder(request: Request) -> tuple[int, Any]:
    if request.path == "/_bulk":
        items = request.ndjson()[::2]
        return 200, {
            "errors": False,
            "items": [
                {"index": {"_index": i["index"]["_index"], "_id": i["index"]["_id"], "status": 201}} for i in items
            ],
        }
    if request.path.endswith("/_search"):
        return 200, {"hits": {"hits": []}}
    return 200, {"acknowledged": True}


class HttpReceiver:
    def __init__(self, responder: Responder = default_responder):
        self.requests: list[Request] = []
        self.responder = responder
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    self.command,
                    split.path,
                    parse_qs(split.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                receiver.requests.append(request)
                status, payload = receiver.responder(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/vnd.elasticsearch+json;compatible-with=9")
                self.send_header("x-elastic-product", "Elasticsearch")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815 (http.server names)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def find(self, method: str, path_end: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_end)]
