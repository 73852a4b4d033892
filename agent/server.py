"""The daemon's small HTTP server: probes, metrics, approvals and webhooks.

Routes are plain functions ``(Request) -> Response`` registered by the composition
root, so each can be tested without a socket. The server enforces what every route
needs: one well-formed Content-Length on bodies (411, 400), a body size limit of the
route's own, refused on the Content-Length before a byte of the body is read (413), a
route's check of the request's headers (a webhook's token) also before the body is read,
a body that arrives whole and in time (400, 408: no pause longer than the read timeout,
and the whole request within ``request_timeout``, so a client that trickles bytes cannot
hold a server thread), no body on other methods (400), unknown
paths (404), wrong methods (405, any verb that is a token), request lines that are not
HTTP/1 and headers not read alike by every hop (400 at once: HTTP/0.9, a header line
without a colon, obs-fold; a target that is not a URL), a 503 with ``Retry-After`` while something
a route needs is out for a while (a ``TransientError``: the ledger's database away), and
a 500 that never leaks a traceback to the caller. A client that hangs up mid-answer is
logged at debug level, not printed. Every error the server sends itself, the standard
library's own refusals included (414, 431, 505), is a JSON ``{"error": ...}`` like a
route's, not the standard library's HTML page.

Connections are capped (``max_connections``, ``server.maxConnections``): each one served
holds a thread, and the request deadline bounds how long, not how many. A connection
beyond the cap gets no thread of its own: one thread watches all of them (at most
``OVERFLOW_MAX``; more are closed at once), reads each request's head (``OVERFLOW_HEAD_TIMEOUT``
to arrive, else closed), answers a liveness or readiness probe (a route registered with
``probe=True``) on one of ``PROBE_THREADS`` threads kept for them, so that the kubelet does
not restart or unready a pod for being busy, and anything else with a 503 and
``Retry-After``, closing the connection. Each is counted (``refused_connection``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent.errors import TransientError

__all__ = ["HttpServer", "Request", "Response", "json_response"]

log = logging.getLogger("autonomic.server")

# How long a connection may sit between two reads before it is dropped (a stalled body
# would otherwise hold a server thread for ever).
READ_TIMEOUT = 10.0
# How long one request may take to arrive whole, its request line, headers and body,
# counted from when the server begins to wait for it (after the previous answer on the
# connection). The read timeout alone bounds each wait, not their sum: a client sending
# a byte every few seconds (slowloris) held a server thread for as long as it liked.
REQUEST_TIMEOUT = 30.0
# How often the serving loop looks whether ``stop`` was asked: ``stop`` waits up to this
# long (the standard library's 0.5 s was a tenth of the shutdown's last step).
POLL_INTERVAL = 0.1
_DIGITS = re.compile(r"[0-9]{1,19}")
# A method or a header's name (RFC 9110's token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The body limit of a POST route registered without one of its own: a route that takes
# a small JSON object (Flagger's webhook) needs far less.
DEFAULT_MAX_BODY_BYTES = 65_536
_OTHER_METHODS = ("PUT", "DELETE", "PATCH", "OPTIONS")
# The most connections served at once, each on a thread of its own (``server.maxConnections``).
DEFAULT_MAX_CONNECTIONS = 64
# Beyond the cap: how long a connection has to send its request's head (request line and
# headers) before it is closed unanswered, the most such connections held at once (more
# are closed at once), the longest head read, and how many probes are answered at once.
OVERFLOW_HEAD_TIMEOUT = 2.0
OVERFLOW_MAX = 256
OVERFLOW_MAX_HEAD = 8192
PROBE_THREADS = 4
# What a connection beyond the cap is told to wait before trying again (seconds).
BUSY_RETRY_AFTER = 1
# A refusal for being busy is logged at most this often (seconds); all are counted.
BUSY_LOG_EVERY = 60.0


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
    # Close the connection after this answer, so that the client's next request (a
    # retry) opens a new one, which a Service may send to another replica.
    close: bool = False


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, default=str).encode() + b"\n")


Handler = Callable[[Request], Response]
# A route's look at the request line's path and headers before its body is read: the
# answer that refuses it (401 for a missing token), or None to go on.
HeaderCheck = Callable[[Mapping[str, str]], Response | None]


@dataclass(frozen=True)
class _Route:
    handler: Handler
    max_body_bytes: int
    limit_name: str
    refused: Callable[[int, str], None] | None
    check_headers: HeaderCheck | None
    probe: bool = False


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        read_timeout: float = READ_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        refused_connection: Callable[[str], None] | None = None,
    ) -> None:
        """``refused_connection`` is told of each connection refused beyond
        ``max_connections``: ``busy`` (answered 503) or ``dropped`` (closed unanswered:
        too many waiting, or its request's head did not arrive in time)."""
        self.routes: dict[tuple[str, str], _Route] = {}
        # The limit of a route registered without one of its own.
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        self.request_timeout = request_timeout
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # What a request whose version is unreadable ("HTTP/one") is answered as: with
            # a status line (the standard library's HTTP/0.9 answered with a bare body).
            default_request_version = "HTTP/1.1"
            timeout = read_timeout

            def setup(self) -> None:
                super().setup()
                # Every read of the request goes through the deadline-keeping reader.
                self.rfile.close()
                self.reader = _DeadlineReader(self.connection, read_timeout)
                self.rfile = io.BufferedReader(self.reader)

            def handle_one_request(self) -> None:
                self.reader.deadline = time.monotonic() + request_timeout
                try:
                    super().handle_one_request()
                finally:
                    self.reader.done()

            def parse_request(self) -> bool:
                self._expects_continue = False  # one connection serves many requests
                line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
                refused = _bad_request_line(line)
                if refused is not None:
                    # Answered before any header is read, with a status line: the
                    # standard library took two words for HTTP/0.9, waited for headers
                    # (the read timeout) before answering a GET, and answered every
                    # HTTP/0.9 or versionless line with a bare body, no status line.
                    self.command, self.requestline = "", line
                    self.request_version = self.protocol_version
                    self.close_connection = True
                    self.send_error(400, refused)
                    return False
                if not super().parse_request():
                    return False
                refused = _bad_headers(self.headers)
                if refused is not None:
                    self.close_connection = True
                    self.send_error(400, refused)
                    return False
                return True

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                # The refusals of the standard library's own checks (a request line too
                # long, 414; a header too long or too many, 431; HTTP/2, 505; a version
                # that is not one, 400) and of ``parse_request`` above: a JSON body like
                # every route's error, not the standard library's HTML page. The status
                # line keeps the standard phrase; what went wrong is in the body.
                self.log_error("code %d, message %s", code, message)
                self.send_response(code)
                self.send_header("Connection", "close")  # also sets close_connection
                if code < 200 or code in (204, 205, 304):  # answers that carry no body
                    self.end_headers()
                    return
                body = _error_body(code, message, explain)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_expect_100(self) -> bool:
                # "Expect: 100-continue": the client waits to be told to send the body.
                # Told only once the route's checks of the headers and the length have
                # passed (``_read_body``), so a body refused is never sent at all.
                self._expects_continue = True
                return True

            def do_GET(self) -> None:
                outer._dispatch(self, "GET")

            def do_HEAD(self) -> None:
                outer._dispatch(self, "HEAD")

            def do_POST(self) -> None:
                outer._dispatch(self, "POST")

            def do_PUT(self) -> None:
                outer._dispatch(self, "PUT")

            def do_DELETE(self) -> None:
                outer._dispatch(self, "DELETE")

            def do_PATCH(self) -> None:
                outer._dispatch(self, "PATCH")

            def do_OPTIONS(self) -> None:
                outer._dispatch(self, "OPTIONS")

            def __getattr__(self, name: str) -> Any:
                # Any other verb (TRACE, CONNECT, a made-up one, a lower-case one: methods
                # are case-sensitive tokens) gets the JSON 405 or 404 the listed ones
                # get, not the standard library's HTML 501 (a 5xx for the client's
                # mistake). A method that is not a token is refused on its request line.
                if name.startswith("do_") and _TOKEN.fullmatch(name[3:]):
                    return lambda: outer._dispatch(self, name[3:])
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http " + format, *args)

        self.max_connections = max_connections
        self._overflow = _Overflow(self, refused_connection)
        self._server = _CappedServer((host, port), _Handler, max_connections, self._overflow)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        max_body_bytes: int | None = None,
        limit_name: str = "the limit",
        check_headers: HeaderCheck | None = None,
        refused: Callable[[int, str], None] | None = None,
        probe: bool = False,
    ) -> None:
        """Serve ``handler`` at ``path``.

        ``max_body_bytes`` is this route's body limit (the server's default if None),
        named ``limit_name`` in the 413 (the setting that raises it). ``check_headers``
        is asked before the body is read and may refuse the request (a webhook's token):
        a caller without it cannot make the server read its body. ``refused`` is told
        (status, error) of each request whose body the server refused (too large, cut
        short, too slow) before the route saw it. A ``probe`` route (a GET taking no
        body: liveness, readiness) is answered also when the connections are at their cap."""
        self.routes[(method, path)] = _Route(
            handler,
            self.max_body_bytes if max_body_bytes is None else max_body_bytes,
            limit_name,
            refused,
            check_headers,
            probe,
        )

    @property
    def connections(self) -> int:
        """Connections being served now, each on its own thread (not those beyond the cap)."""
        return self._server.active

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="autonomic-http",
            daemon=True,
        )
        self._thread.start()
        self._overflow.start()

    def stop(self) -> None:
        if self._thread is not None:  # ``shutdown`` waits for a serving loop to end
            self._server.shutdown()
        self._server.server_close()
        self._overflow.stop()

    def handle(self, request: Request) -> Response:
        """Dispatch one request (also used directly by tests)."""
        route = self._route(request.method, request.path)
        if isinstance(route, Response):
            return route
        try:
            return route.handler(request)
        except TransientError as exc:  # the caller may try again; the log says why
            log.warning("%s %s: unavailable for now: %s", request.method, request.path, exc)
            return Response(
                503,
                json.dumps({"error": "temporarily unavailable; see the daemon's log"}).encode()
                + b"\n",
                headers={"Retry-After": str(max(1, round(exc.delay)))},
            )
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            return json_response(500, {"error": "internal error; see the daemon's log"})

    def _route(self, method: str, path: str) -> _Route | Response:
        """The route for ``method`` and ``path``, or the 404 or 405 that says there is none."""
        route = self.routes.get(("GET" if method == "HEAD" else method, path))
        if route is not None:
            return route
        allowed = sorted({m for m, known in self.routes if known == path})
        if allowed:
            return Response(
                405,
                json.dumps({"error": f"{method} not allowed here"}).encode() + b"\n",
                headers={"Allow": ", ".join(allowed)},
            )
        return json_response(404, {"error": f"no route for {path}"})

    def _read_body(
        self, raw: BaseHTTPRequestHandler, method: str, route: _Route
    ) -> bytes | Response:
        """The request's body, or the answer that refuses it. Nothing of the body is
        read until its length is known to be within ``route``'s limit."""
        lengths = raw.headers.get_all("Content-Length") or []
        if raw.headers.get("Transfer-Encoding") is not None:
            if method != "POST" or not lengths:
                return json_response(
                    411, {"error": "Content-Length is required (no chunked bodies)"}
                )
            return json_response(400, {"error": "both Transfer-Encoding and Content-Length"})
        if method != "POST":
            if any(text.strip() not in ("", "0") for text in lengths):
                return json_response(400, {"error": f"{method} takes no body"})
            return b""
        if not lengths:
            return json_response(411, {"error": "Content-Length is required"})
        if len(lengths) > 1 or not _DIGITS.fullmatch(lengths[0].strip()):
            return json_response(400, {"error": "bad Content-Length"})
        length = int(lengths[0])
        limit = route.max_body_bytes
        if length > limit:
            return json_response(
                413,
                {
                    "error": f"body of {length} bytes is larger than {route.limit_name}, "
                    f"{limit} bytes"
                },
            )
        if length and getattr(raw, "_expects_continue", False):
            raw.send_response_only(100)
            raw.end_headers()
        try:
            body = raw.rfile.read(length)
        except TimeoutError:
            return json_response(
                408,
                {
                    "error": f"body not received in time (a pause of {self.read_timeout:g} s, "
                    f"or {self.request_timeout:g} s for the whole request)"
                },
            )
        if len(body) != length:
            return json_response(400, {"error": f"body ended after {len(body)} of {length} bytes"})
        return body

    def _serve(
        self, raw: BaseHTTPRequestHandler, method: str, route: _Route, path: str, query: str
    ) -> tuple[Response, bool]:
        """The answer of ``route``, and whether to close the connection after it."""
        headers = {k.lower(): v for k, v in raw.headers.items()}
        early: Response | None = None
        if route.check_headers is not None:
            try:
                early = route.check_headers(headers)
            except Exception:
                log.exception("checking the headers of %s %s failed", method, path)
                early = json_response(500, {"error": "internal error; see the daemon's log"})
        if early is not None:  # refused on its headers: the body (if any) is left unread
            return early, early.close or _declares_body(raw)
        read = self._read_body(raw, method, route)
        if isinstance(read, Response):
            # The body is unread or cut: the rest of the stream cannot be trusted to
            # start a new request.
            if route.refused is not None:
                try:
                    route.refused(read.status, json.loads(read.body)["error"])
                except Exception:
                    log.exception("telling %s %s of a refused body failed", method, path)
            return read, True
        response = self.handle(Request(method, path, parse_qs(query), headers, read))
        return response, response.close

    def _dispatch(self, raw: BaseHTTPRequestHandler, method: str) -> None:
        try:
            parts = urlsplit(raw.path)
        except ValueError:  # "http://[::1/": urlsplit raised, the connection dropped
            parts = urlsplit("")
            found: _Route | Response = json_response(
                400, {"error": "the request's target is not a valid URL"}
            )
        else:
            found = self._route(method, parts.path)
        if isinstance(found, Response):
            # No route: the 404 or 405, and a body declared is left unread (the
            # connection closed, as the rest of the stream cannot start a new request).
            response, close = found, _declares_body(raw)
        else:
            response, close = self._serve(raw, method, found, parts.path, parts.query)
        reader = getattr(raw, "reader", None)
        if isinstance(reader, _DeadlineReader):  # the answer is written with the read timeout
            reader.done()
        try:
            raw.send_response(response.status)
            raw.send_header("Content-Type", response.content_type)
            raw.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                raw.send_header(name, value)
            if close:
                raw.send_header("Connection", "close")
                raw.close_connection = True
            raw.end_headers()
            if method != "HEAD":
                raw.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            raw.close_connection = True
            log.debug("http: %s %s: the client hung up before the answer", method, parts.path)


class _DeadlineReader(io.RawIOBase):
    """A connection's socket as a raw stream whose every read waits at most
    ``read_timeout`` and, while ``deadline`` is set (a request on its way in), not past
    it: a wait past the deadline raises ``TimeoutError``, as a read timeout does."""

    def __init__(self, sock: socket.socket, read_timeout: float) -> None:
        self.sock = sock
        self.read_timeout = read_timeout
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self.read_timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive whole in time")
            wait = min(wait, left)
        self.sock.settimeout(wait)
        return self.sock.recv_into(buffer)

    def done(self) -> None:
        """The request is read: no deadline, and the answer is written with the read
        timeout (not what was left of the deadline)."""
        self.deadline = None
        with contextlib.suppress(OSError):  # closed already: nothing more to write
            self.sock.settimeout(self.read_timeout)


def _error_body(code: int, message: str | None, explain: str | None) -> bytes:
    """The JSON body of an error the server sends itself: ``message`` (else the status's
    description) and, when given, ``explain`` after it ("Line too long: got more than
    65536 bytes when reading header line")."""
    try:
        status = HTTPStatus(code)
        default = status.description or status.phrase
    except ValueError:
        default = f"HTTP {code}"
    error = message or default
    if explain:
        error = f"{error}: {explain}"
    return json_response(code, {"error": error}).body


def _bad_request_line(line: str) -> str | None:
    """Why ``line`` is not an HTTP/1 request line, or None (an empty line is left to the
    standard library, which closes the connection)."""
    words = line.split()
    if not words:
        return None
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        return "not an HTTP/1 request line (HTTP/0.9 is not served)"
    if not _TOKEN.fullmatch(words[0]):
        return "the method is not a token"
    return None


def _bad_headers(headers: Message) -> str | None:
    """Why the parsed ``headers`` cannot be trusted, or None. A line without a colon (or
    with a space before it) ended the headers for the standard library's parser, which
    dropped the rest without a word (a Content-Length among them: the body would be read
    as the next request); a folded line (obs-fold) is refused as RFC 9112 allows."""
    if headers.defects or headers.get_payload():
        return "a header line without a colon, or with a space before it"
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            return "a header's name is not a token"
        if "\r" in value or "\n" in value:
            return "a folded header line (obs-fold)"
    return None


def _declares_body(raw: BaseHTTPRequestHandler) -> bool:
    """Whether the request says a body follows (any Transfer-Encoding, or a length
    other than 0)."""
    if raw.headers.get("Transfer-Encoding") is not None:
        return True
    lengths = raw.headers.get_all("Content-Length") or []
    return any(text.strip() not in ("", "0") for text in lengths)


class _CappedServer(ThreadingHTTPServer):
    """A thread per connection, up to ``cap`` at once; each connection beyond it is
    handed to ``overflow``, which holds no thread for it."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        cap: int,
        overflow: _Overflow,
    ) -> None:
        self.cap = cap
        self.active = 0
        self._count_lock = threading.Lock()
        self._overflow = overflow
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            admitted = self.active < self.cap
            if admitted:
                self.active += 1
        if not admitted:
            self._overflow.take(request, self.active)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the place is free again
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._count_lock:
            self.active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection's serving failed: logged (the standard library printed the
        traceback on stderr, outside the daemon's log); a client that hung up at debug."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("http: %s hung up", client_address, exc_info=True)
        else:
            log.exception("http: serving a connection from %s failed", client_address)


class _Overflow:
    """The connections beyond the cap, all watched by one thread: each request's head is
    read without blocking; a probe is answered on one of ``PROBE_THREADS`` threads, and
    anything else gets a 503 with ``Retry-After``; the connection is then closed."""

    def __init__(self, server: HttpServer, refused: Callable[[str], None] | None) -> None:
        self._server = server
        self._refused = refused
        self._lock = threading.Lock()
        self._new: list[socket.socket] = []
        self._waiting = 0  # connections taken and not yet answered or closed
        self._held: dict[socket.socket, tuple[float, bytearray]] = {}
        self._probes = threading.BoundedSemaphore(PROBE_THREADS)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._said_at = -float("inf")
        self._since = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="autonomic-http-busy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            left, self._new = self._new, []
        for sock in left:
            _close(sock)
        if self._thread is None or not self._thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()

    def take(self, sock: socket.socket, active: int) -> None:
        """A connection beyond the cap, ``active`` being served."""
        with self._lock:
            full = self._waiting >= OVERFLOW_MAX or self._stopping.is_set()
            if not full:
                self._waiting += 1
                self._new.append(sock)
        if full:  # answering would need its head read: closed at once
            self._count("dropped", active)
            _close(sock)
            return
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                with self._lock:
                    new, self._new = self._new, []
                for sock in new:
                    try:
                        sock.setblocking(False)
                        selector.register(sock, selectors.EVENT_READ)
                    except (OSError, ValueError):
                        self._finish(sock, None)
                        continue
                    self._held[sock] = (time.monotonic() + OVERFLOW_HEAD_TIMEOUT, bytearray())
                now = time.monotonic()
                wait = min((d for d, _ in self._held.values()), default=now + POLL_INTERVAL)
                for key, _events in selector.select(max(0.0, min(wait - now, POLL_INTERVAL))):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        continue
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    self._read(selector, conn)
                now = time.monotonic()
                for sock, (deadline, _) in list(self._held.items()):
                    if now >= deadline:  # its head never came whole: no answer
                        self._count("dropped", self._server.connections)
                        self._finish(sock, selector)
        finally:
            for sock in list(self._held):
                self._finish(sock, selector)
            selector.close()

    def _read(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        _deadline, head = self._held[sock]
        try:
            chunk = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client hung up
            self._finish(sock, selector)
            return
        head.extend(chunk)
        if b"\r\n\r\n" not in head and len(head) < OVERFLOW_MAX_HEAD:
            return
        del self._held[sock]
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(sock)
        request = self._probe(bytes(head))
        if request is not None and self._probes.acquire(blocking=False):
            threading.Thread(
                target=self._answer_probe,
                args=(sock, request),
                name="autonomic-http-probe",
                daemon=True,
            ).start()
            return
        self._count("busy", self._server.connections)  # counted before the client knows
        _send_now(sock, _busy_answer())
        self._finish(sock, None)

    def _probe(self, head: bytes) -> Request | None:
        """The request in ``head`` if it is a probe's (a GET or HEAD of a probe route)."""
        lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
            return None
        try:
            where = urlsplit(parts[1])
        except ValueError:  # not a URL (this thread would die of it): a 503, as for others
            return None
        route = self._server.routes.get(("GET", where.path))
        if route is None or not route.probe:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return Request(parts[0], where.path, parse_qs(where.query), headers, b"")

    def _answer_probe(self, sock: socket.socket, request: Request) -> None:
        try:
            response = self._server.handle(request)
            sock.setblocking(True)
            sock.settimeout(self._server.read_timeout)
            sock.sendall(_encode(response, head_only=request.method == "HEAD"))
        except OSError:
            log.debug("http: %s: the client hung up before the answer", request.path)
        finally:
            self._probes.release()
            self._finish(sock, None)

    def _finish(self, sock: socket.socket, selector: selectors.BaseSelector | None) -> None:
        self._held.pop(sock, None)
        if selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(sock)
        _close(sock)
        with self._lock:
            self._waiting -= 1

    def _count(self, reason: str, active: int) -> None:
        if self._refused is not None:
            try:
                self._refused(reason)
            except Exception:
                log.exception("counting a connection refused failed")
        now = time.monotonic()
        with self._lock:
            if now - self._said_at < BUSY_LOG_EVERY:
                self._since += 1
                return
            since, self._since, self._said_at = self._since, 0, now
        more = f" ({since} more since the last warning)" if since else ""
        log.warning(
            "http: a connection refused (%s): %d are being served, the cap "
            "(server.maxConnections, %d); only /healthz and /readyz are answered beyond it, "
            "anything else gets 503 with Retry-After or is closed%s",
            reason,
            active,
            self._server.max_connections,
            more,
        )


def _busy_answer() -> bytes:
    body = b'{"error": "too many connections: retry later"}\n'
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nRetry-After: {BUSY_RETRY_AFTER}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + body
    )


def _encode(response: Response, *, head_only: bool) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        *(f"{name}: {value}" for name, value in response.headers.items()),
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
        b"" if head_only else response.body
    )


def _send_now(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` without waiting (a short answer fits the socket's buffer), then stop
    writing; whatever does not fit is not sent."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(data)
        sock.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
