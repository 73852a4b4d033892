"""The daemon's small HTTP server: probes, metrics, approvals and webhooks.

Routes are plain functions ``(Request) -> Response`` registered by the composition
root, so each can be tested without a socket. The server enforces what every route
needs: a body size limit (413), a Content-Length on bodies (411), unknown paths (404),
wrong methods (405), and a 500 that never leaks a traceback to the caller.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["HttpServer", "Request", "Response", "json_response"]

log = logging.getLogger("autonomic.server")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, default=str).encode() + b"\n")


Handler = Callable[[Request], Response]


class HttpServer:
    def __init__(self, host: str, port: int, *, max_body_bytes: int = 1_048_576) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.max_body_bytes = max_body_bytes
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer._dispatch(self, "GET")

            def do_POST(self) -> None:
                outer._dispatch(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http " + format, *args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="autonomic-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: Request) -> Response:
        """Dispatch one request (also used directly by tests)."""
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            if any(path == request.path for _, path in self.routes):
                return json_response(405, {"error": f"{request.method} not allowed here"})
            return json_response(404, {"error": f"no route for {request.path}"})
        try:
            return handler(request)
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            return json_response(500, {"error": "internal error; see the daemon's log"})

    def _dispatch(self, raw: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(raw.path)
        headers = {k.lower(): v for k, v in raw.headers.items()}
        body = b""
        response: Response | None = None
        if method == "POST":
            length_text = headers.get("content-length")
            if length_text is None:
                response = json_response(411, {"error": "Content-Length is required"})
            else:
                try:
                    length = int(length_text)
                except ValueError:
                    length = -1
                if length < 0:
                    response = json_response(400, {"error": "bad Content-Length"})
                elif length > self.max_body_bytes:
                    response = json_response(
                        413, {"error": f"body larger than {self.max_body_bytes} bytes"}
                    )
                else:
                    body = raw.rfile.read(length)
        if response is None:
            request = Request(method, parts.path, parse_qs(parts.query), headers, body)
            response = self.handle(request)
        raw.send_response(response.status)
        raw.send_header("Content-Type", response.content_type)
        raw.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            raw.send_header(name, value)
        if response.status in (411, 413, 400) and method == "POST" and not body:
            raw.send_header("Connection", "close")
            raw.close_connection = True
        raw.end_headers()
        raw.wfile.write(response.body)
