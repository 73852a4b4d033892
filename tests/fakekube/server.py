"""The HTTP front of the fake Kubernetes API server.

A ``ThreadingHTTPServer`` on 127.0.0.1 speaking the REST paths the official client
uses (``/api/v1/...``, ``/apis/<group>/<version>/...``), with ``Status`` error bodies,
chunked watch streams, subresources (``status``, ``scale``, ``eviction``), ``dryRun``,
an RBAC-style deny list, a request log (verb, group, resource) and fault injection.
See README.md for what is and is not faithful.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakekube.selectors import SelectorError, parse_field_selector, parse_label_selector
from tests.fakekube.store import (
    ApiError,
    Change,
    ResourceType,
    Store,
    bad_request,
    find_resource,
)

__all__ = ["SERVICE_ACCOUNT", "FakeApiServer", "Fault", "RequestRecord"]

SERVICE_ACCOUNT = "system:serviceaccount:autonomic:autonomic"
VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-autonomic-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-22T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass
class Fault:
    """Make the next ``times`` requests matching ``method`` and ``path`` misbehave.

    ``status``: answer with that code and a Status body (429 adds ``Retry-After``);
    ``delay``: wait that long first (then answer normally unless ``status``/``drop``);
    ``drop``: close the connection without an answer (a network failure);
    ``user_agent``: only requests from that client (to partition one replica).
    """

    path: re.Pattern[str]
    method: str | None = None
    times: int = 1
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    user_agent: str | None = None
    hits: int = 0
    lost_answer: bool = False
    verb: str | None = None  # only requests of this RBAC verb ("watch", "list", ...)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    verb: str
    group: str
    resource: str  # "pods", or "pods/eviction" for a subresource
    namespace: str
    name: str
    dry_run: bool
    status: int = 0
    seq: int = field(default=0, compare=False)  # arrival order at the server
    # The request's ``fieldSelector`` query parameter, None when it had none.
    field_selector: str | None = field(default=None, compare=False)


@dataclass
class _Route:
    rt: ResourceType
    namespace: str
    name: str
    subresource: str


@dataclass
class _Controls:
    faults: list[Fault] = field(default_factory=list)
    denied: set[tuple[str, str, str, str]] = field(default_factory=set)
    # SubjectAccessReviews: (subject, verb, group, resource, namespace, name) granted,
    # "*" for any; the error every review reports instead (None: none); each spec asked.
    grants: set[tuple[str, str, str, str, str, str]] = field(default_factory=set)
    review_error: str | None = None
    reviews: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)  # in arrival order
    arrivals: int = 0
    watch_generation: int = 0
    open_watches: int = 0
    stopping: bool = False
    connections: set[socket.socket] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class _DropConnectionError(Exception):
    """Abort the exchange by closing the socket, as a network failure would."""


class _QuietHTTPServer(ThreadingHTTPServer):
    """A listener that does not print the traceback of a request that failed."""

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        pass


class FakeApiServer:
    """A fake API server on 127.0.0.1 with a random port; ``url`` is its base URL.
    ``quiet_errors``: no traceback on stderr for a request that failed (a client killed
    mid-request leaves half-read connections, and their tracebacks are noise)."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        bookmark_interval: float = 1.0,
        default_watch_timeout: float = 1800.0,
        argo_rollouts: bool = True,
        quiet_errors: bool = False,
    ) -> None:
        self.store = store or Store()
        self._quiet_errors = quiet_errors
        # API groups of custom resources whose CRD is not installed: 404 for every path.
        self._unserved: set[str] = set() if argo_rollouts else {"argoproj.io"}
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self._controls = _Controls()
        self._handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = self._bind(0)
        self._thread: threading.Thread | None = None
        self._down = False
        host, port = self._httpd.server_address[:2]
        self._port = int(port)
        self.url = f"http://{host!s}:{port}"

    def _bind(self, port: int) -> ThreadingHTTPServer:
        listener = _QuietHTTPServer if self._quiet_errors else ThreadingHTTPServer
        httpd = listener(("127.0.0.1", port), self._handler)
        httpd.daemon_threads = True
        return httpd

    def _serve_in_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _close_listener(self) -> None:
        if self._thread is not None:  # shutdown() waits for a running serve_forever
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def start(self) -> FakeApiServer:
        self._serve_in_thread()
        return self

    def stop(self) -> None:
        with self._controls.lock:
            self._controls.stopping = True
        with self.store.cond:
            self.store.cond.notify_all()
        if not self._down:
            self._close_listener()
        self._cut_connections()

    def __enter__(self) -> FakeApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ test controls

    def inject(
        self,
        path: str,
        *,
        method: str | None = None,
        times: int = 1,
        status: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        user_agent: str | None = None,
        lost_answer: bool = False,
        verb: str | None = None,
    ) -> Fault:
        """Add a fault for requests whose path matches the regex ``path``.
        ``lost_answer``: the request is served (a write is applied), then the connection
        is closed before the answer leaves, so the client cannot tell what happened.
        ``verb``: only requests of that RBAC verb (``watch``: a watch, not the list on the
        same path)."""
        fault = Fault(
            re.compile(path),
            method,
            times,
            status,
            delay,
            drop,
            user_agent,
            lost_answer=lost_answer,
            verb=verb,
        )
        with self._controls.lock:
            self._controls.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._controls.lock:
            self._controls.faults.clear()

    def forbid(self, verb: str, resource: str, group: str = "", namespace: str = "*") -> None:
        """Deny ``verb`` on ``group``/``resource`` (e.g. ``pods/eviction``) like RBAC would."""
        with self._controls.lock:
            self._controls.denied.add((verb, group, resource, namespace))

    def grant(
        self,
        subject: str,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str = "*",
        name: str = "*",
    ) -> None:
        """Allow ``subject`` (a user name, or a group name its reviews list) ``verb`` on
        ``group``/``resource`` (``deployments/scale`` for a subresource), as a
        SubjectAccessReview answers; nothing granted is denied. Not this server's own
        RBAC (``forbid``): the answers of reviews about other people."""
        with self._controls.lock:
            self._controls.grants.add((subject, verb, group, resource, namespace, name))

    def fail_reviews(self, error: str | None) -> None:
        """Every SubjectAccessReview answers not allowed with ``evaluationError: error``
        (an authorizer webhook down); None: answered from the grants again."""
        with self._controls.lock:
            self._controls.review_error = error

    @property
    def reviews(self) -> list[dict[str, Any]]:
        """The ``spec`` of each SubjectAccessReview created, in order."""
        with self._controls.lock:
            return list(self._controls.reviews)

    def _review(self, body: Any) -> dict[str, Any]:
        spec = body.get("spec") if isinstance(body, dict) else None
        attributes = (spec or {}).get("resourceAttributes")
        if not isinstance(spec, dict) or not isinstance(attributes, dict) or not spec.get("user"):
            raise bad_request("spec.user and spec.resourceAttributes are required")
        subjects = {spec["user"], *(spec.get("groups") or ())}
        resource = attributes.get("resource", "") + (
            f"/{attributes['subresource']}" if attributes.get("subresource") else ""
        )
        asked = (
            attributes.get("verb", ""),
            attributes.get("group", ""),
            resource,
            attributes.get("namespace", ""),
            attributes.get("name", ""),
        )
        with self._controls.lock:
            self._controls.reviews.append(spec)
            error = self._controls.review_error
            allowed = error is None and any(
                who in subjects
                and (verb, group, res) == asked[:3]
                and namespace in ("*", asked[3])
                and name in ("*", asked[4])
                for who, verb, group, res, namespace, name in self._controls.grants
            )
        status: dict[str, Any] = {"allowed": allowed}
        if error is not None:
            status["evaluationError"] = error
        elif allowed:
            status["reason"] = "granted by the fake API server"
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": spec,
            "status": status,
        }

    def allow_all(self) -> None:
        with self._controls.lock:
            self._controls.denied.clear()

    def uninstall(self, group: str) -> None:
        """As if the CRDs of ``group`` (``argoproj.io``) were deleted: every path of the
        group answers 404 "the server could not find the requested resource", as an API
        server answers for a group it does not serve. The store keeps its objects."""
        with self._controls.lock:
            self._unserved.add(group)

    def install(self, group: str) -> None:
        """Serve ``group`` again (its CRDs installed)."""
        with self._controls.lock:
            self._unserved.discard(group)

    def _serves(self, group: str) -> bool:
        with self._controls.lock:
            return group not in self._unserved

    @property
    def requests(self) -> list[RequestRecord]:
        with self._controls.lock:
            return list(self._controls.requests)

    def clear_requests(self) -> None:
        with self._controls.lock:
            self._controls.requests.clear()

    @property
    def open_watches(self) -> int:
        """How many watch streams are being served right now."""
        with self._controls.lock:
            return self._controls.open_watches

    def disconnect_watches(self) -> None:
        """Cut every open watch stream mid-flight, without a clean end of stream."""
        with self._controls.lock:
            self._controls.watch_generation += 1
        with self.store.cond:
            self.store.cond.notify_all()

    @property
    def down(self) -> bool:
        return self._down

    def go_down(self) -> None:
        """An outage: stop listening (new connections are refused) and cut every open
        connection, watch streams included, without an answer. The store and its watch
        history live on (like etcd while an API server is unreachable), so a watch
        resumed after ``come_back()`` from a version still in history gets the changes
        it missed. (A restarted real API server also rebuilds its watch cache, so a
        resume from before the restart is 410 Gone: call ``store.compact()`` to model
        that.)"""
        if self._down:
            return
        self._down = True
        self._close_listener()
        self.disconnect_watches()
        self._cut_connections()

    def come_back(self) -> None:
        """End an outage: listen again on the same address (``url`` is unchanged)."""
        if not self._down:
            return
        self._httpd = self._bind(self._port)
        self._down = False
        self._serve_in_thread()

    def _cut_connections(self) -> None:
        with self._controls.lock:
            connections = list(self._controls.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------- used by the handler

    def _take_fault(self, method: str, path: str, user_agent: str, verb: str) -> Fault | None:
        with self._controls.lock:
            for fault in self._controls.faults:
                if fault.hits >= fault.times:
                    continue
                if fault.method not in (None, method) or not fault.path.search(path):
                    continue
                if fault.verb not in (None, verb):
                    continue
                if fault.user_agent not in (None, user_agent):
                    continue
                fault.hits += 1
                return fault
        return None

    def _is_denied(self, record: RequestRecord) -> bool:
        with self._controls.lock:
            for verb, group, resource, namespace in self._controls.denied:
                if (verb, group, resource) == (record.verb, record.group, record.resource) and (
                    namespace in ("*", record.namespace)
                ):
                    return True
        return False

    def _arrival(self) -> int:
        with self._controls.lock:
            self._controls.arrivals += 1
            return self._controls.arrivals

    def _log(self, record: RequestRecord) -> None:
        """Keep the log in arrival order: a request is logged as its answer starts, and
        requests from several clients can get there in another order than they came."""
        with self._controls.lock:
            bisect.insort(self._controls.requests, record, key=lambda r: r.seq)


def _parse_path(path: str) -> _Route | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    rt = find_resource(group, version, rest[0])
    if rt is None or (rt.namespaced is False and namespace):
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in rt.subresources:
        return None
    return _Route(rt, namespace, name, subresource)


def _verb(method: str, route: _Route, query: dict[str, str]) -> str:
    if method == "GET":
        if route.name:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if route.name else "deletecollection",
    }.get(method, method.lower())


class _Handler(BaseHTTPRequestHandler):
    api: FakeApiServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK, ~40 ms a request. A real API server has no
    # such delay, and benchmarks against this one must not measure it.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def setup(self) -> None:
        super().setup()
        with self.api._controls.lock:
            self.api._controls.connections.add(self.connection)

    def finish(self) -> None:
        with self.api._controls.lock:
            self.api._controls.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    # ----------------------------------------------------------------- plumbing

    def _send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if self._lose_answer:
            raise _DropConnectionError
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "fake")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, error: ApiError) -> None:
        headers = {"Retry-After": "1"} if error.code == 429 and not error.details else None
        self._send_json(error.code, error.status(), headers)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise bad_request(f"the request body is not valid JSON: {exc}") from exc

    _pending: RequestRecord | None = None  # this request, until it is logged
    _lose_answer = False  # a ``lost_answer`` fault: served, then the connection is cut

    def send_response(self, code: int, message: str | None = None) -> None:
        # Log before the answer leaves: a client that has its answer must find its
        # request in the log (with the Nagle delay gone, it often asked before this
        # thread got round to logging it afterwards).
        self._log_pending(code)
        super().send_response(code, message)

    def _log_pending(self, status: int) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.api._log(replace(pending, status=status))

    def _drop(self) -> None:
        self._log_pending(-1)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ routing

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = self._read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else None
        except ApiError as error:
            self._send_error(error)
            return
        if url.path.rstrip("/") == "/version":
            self._send_json(200, VERSION_INFO)
            return
        route = _parse_path(url.path)
        if route is None:
            self._send_error(
                ApiError(404, "NotFound", "the server could not find the requested resource")
            )
            return
        dry_run = query.get("dryRun") == "All" or (
            isinstance(body, dict)
            and "All"
            in ((body.get("deleteOptions") or {}).get("dryRun") or body.get("dryRun") or [])
        )
        resource = route.rt.plural + (f"/{route.subresource}" if route.subresource else "")
        record = RequestRecord(
            method,
            url.path,
            _verb(method, route, query),
            route.rt.group,
            resource,
            route.namespace,
            route.name,
            dry_run,
            seq=self.api._arrival(),
            field_selector=query.get("fieldSelector"),
        )
        self._pending = record
        status = 0
        try:
            status = self._serve(method, url.path, route, record, query, body)
        except _DropConnectionError:
            self._drop()
            status = -1
        except ApiError as error:
            status = error.code
            try:
                self._send_error(error)
            except _DropConnectionError:
                self._drop()
                status = -1
        except (BrokenPipeError, ConnectionResetError):
            status = -1
        finally:
            self._log_pending(status)  # not answered (a broken pipe): logged now

    def _serve(
        self,
        method: str,
        path: str,
        route: _Route,
        record: RequestRecord,
        query: dict[str, str],
        body: Any,
    ) -> int:
        if not self.api._serves(route.rt.group):
            # As for any path the server does not know; logged, so tests see the asking.
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        fault = self.api._take_fault(method, path, self.headers.get("User-Agent", ""), record.verb)
        self._lose_answer = fault is not None and fault.lost_answer
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                raise _DropConnectionError
            if fault.status is not None:
                raise _injected(fault.status, record)
        if self.api._is_denied(record):
            raise _forbidden(record)
        if route.rt.plural == "subjectaccessreviews":
            if method != "POST" or route.name:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")
            self._send_json(201, self.api._review(body))
            return 201
        if query.get("dryRun") not in (None, "All"):
            raise bad_request(f"Invalid dryRun value: {query['dryRun']!r}; the only one is All")
        store, rt, ns, name, sub = (
            self.api.store,
            route.rt,
            route.namespace,
            route.name,
            route.subresource,
        )
        dry_run = record.dry_run
        if record.verb == "watch":
            return self._watch(route, query)
        if record.verb == "list":
            try:
                items, rv = store.list(
                    rt, ns, query.get("labelSelector"), query.get("fieldSelector")
                )
            except SelectorError as exc:
                raise bad_request(str(exc)) from exc
            for item in items:  # a real list omits kind/apiVersion on built-in items
                if not rt.custom:
                    item.pop("kind", None)
                    item.pop("apiVersion", None)
            self._send_json(
                200,
                {
                    "kind": f"{rt.kind}List",
                    "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(rv)},
                    "items": items,
                },
            )
            return 200
        if method == "POST" and sub == "eviction":
            options = (body.get("deleteOptions") if isinstance(body, dict) else None) or {}
            result = store.evict(
                ns, name, dry_run=dry_run, preconditions=options.get("preconditions")
            )
            self._send_json(201, result)
            return 201
        if not isinstance(body, (dict, list)) and method in ("POST", "PUT", "PATCH"):
            raise bad_request("a request body is required")
        code = 200
        writer = (self._field_manager(query), sub)
        if method == "POST" and not name:
            result, code = store.create(rt, ns, body, dry_run=dry_run, writer=writer), 201
        elif method == "GET":
            result = store.get_scale(rt, ns, name) if sub == "scale" else store.get(rt, ns, name)
        elif method == "PUT" and sub == "scale":
            result = store.update_scale(rt, ns, name, body, dry_run=dry_run, writer=writer)
        elif method == "PUT":
            result = store.update(
                rt, ns, name, body, subresource=sub or None, dry_run=dry_run, writer=writer
            )
        elif method == "PATCH":
            content_type = self.headers.get("Content-Type", "")
            if sub == "scale":
                result = store.patch_scale(
                    rt, ns, name, content_type, body, dry_run=dry_run, writer=writer
                )
            else:
                result = store.patch(
                    rt,
                    ns,
                    name,
                    content_type,
                    body,
                    subresource=sub or None,
                    dry_run=dry_run,
                    writer=writer,
                )
        elif method == "DELETE" and name:
            options = body if isinstance(body, dict) else {}
            result = store.delete(
                rt,
                ns,
                name,
                dry_run=dry_run,
                preconditions=options.get("preconditions"),
                graceful=options.get("gracePeriodSeconds") != 0,
            )
        else:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")
        self._send_json(code, result)
        return code

    def _field_manager(self, query: dict[str, str]) -> str:
        """The ``fieldManager`` query parameter, as the real server takes it (at most 128
        characters); without one, the User-Agent up to its first "/" (the real server's
        default: ``kubectl/v1.30.0 (linux/amd64) ...`` writes as ``kubectl``)."""
        manager = query.get("fieldManager")
        if manager is not None:
            if not manager or len(manager) > 128 or not manager.isprintable():
                raise bad_request(
                    f"fieldManager: Invalid value: {manager!r}: must be 1 to 128 printable "
                    "characters"
                )
            return manager
        agent = self.headers.get("User-Agent", "") or "unknown"
        return agent.split("/", 1)[0][:128]

    # -------------------------------------------------------------------- watch

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_event(self, kind: str, obj: dict[str, Any]) -> None:
        self._write_chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    def _watch(self, route: _Route, query: dict[str, str]) -> int:
        rt = route.rt
        try:
            labels_match = parse_label_selector(query.get("labelSelector"))
            fields_match = parse_field_selector(query.get("fieldSelector"), rt.kind)
        except SelectorError as exc:
            raise bad_request(str(exc)) from exc
        requested = query.get("resourceVersion") or "0"
        if not requested.isdigit():
            # Before the stream starts, so the client gets a plain 400, as from a real
            # server (whose storage layer refuses a version it cannot parse).
            raise bad_request(f"invalid resource version: {requested!r}")
        with self.api._controls.lock:
            generation = self.api._controls.watch_generation
            self.api._controls.open_watches += 1
        try:
            return self._stream_watch(route, query, labels_match, fields_match, generation)
        finally:
            with self.api._controls.lock:
                self.api._controls.open_watches -= 1

    def _stream_watch(
        self,
        route: _Route,
        query: dict[str, str],
        labels_match: Any,
        fields_match: Any,
        generation: int,
    ) -> int:
        store, rt = self.api.store, route.rt
        timeout = float(query.get("timeoutSeconds") or self.api.default_watch_timeout)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")

        def visible(obj: dict[str, Any] | None) -> bool:
            return obj is not None and labels_match(obj) and fields_match(obj)

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        requested = query.get("resourceVersion") or "0"
        if requested == "0":
            # "Start at most recent / any": synthetic ADDED for the current state.
            items, last = store.list(rt, route.namespace)
            for item in items:
                if visible(item):
                    self._send_event("ADDED", item)
        else:
            last = int(requested)
        deadline = time.monotonic() + timeout
        last_sent = time.monotonic()
        while True:
            with self.api._controls.lock:
                stopping = self.api._controls.stopping
                cut = self.api._controls.watch_generation != generation
            if cut or stopping:
                raise _DropConnectionError
            try:
                changes = store.changes_after(last)
            except ApiError as expired:
                self._send_event("ERROR", expired.status())
                break
            if not changes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with store.cond:
                    if store.resource_version <= last:
                        store.cond.wait(min(remaining, 0.25))
                if bookmarks and time.monotonic() - last_sent >= self.api.bookmark_interval:
                    self._send_bookmark(rt, last)
                    last_sent = time.monotonic()
                continue
            for change in changes:
                event = _event_for(change, route, visible)
                if event is not None:
                    self._send_event(*event)
                    last_sent = time.monotonic()
            last = changes[-1].resource_version
        if bookmarks:
            self._send_bookmark(rt, last)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return 200

    def _send_bookmark(self, rt: ResourceType, resource_version: int) -> None:
        self._send_event(
            "BOOKMARK",
            {
                "kind": rt.kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(resource_version)},
            },
        )


def _event_for(change: Change, route: _Route, visible: Any) -> tuple[str, dict[str, Any]] | None:
    """Translate a stored change into what this watch sees, honouring its selectors:
    an object leaving the selection is DELETED for it, one entering is ADDED."""
    if change.key != route.rt.key or (route.namespace and change.namespace != route.namespace):
        return None
    if change.type == "DELETED":
        return ("DELETED", change.new) if visible(change.old) else None
    was, now = visible(change.old), visible(change.new)
    if was and now:
        return ("MODIFIED", change.new)
    if now:
        return ("ADDED", change.new)
    if was:
        return ("DELETED", change.new)
    return None


def _forbidden(record: RequestRecord) -> ApiError:
    scope = f'in the namespace "{record.namespace}"' if record.namespace else "at the cluster scope"
    subject = (
        f'{record.resource.split("/")[0]} "{record.name}"'
        if record.name
        else (record.resource.split("/")[0])
    )
    details: dict[str, Any] = {"kind": record.resource.split("/")[0]}
    if record.name:
        details = {
            "name": record.name,
            **({"group": record.group} if record.group else {}),
            **details,
        }
    return ApiError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{SERVICE_ACCOUNT}" cannot {record.verb} resource '
        f'"{record.resource}" in API group "{record.group}" {scope}',
        details,
    )


def _injected(code: int, record: RequestRecord) -> ApiError:
    if code == 403:
        return _forbidden(record)
    if code == 429:
        return ApiError(429, "TooManyRequests", "Too many requests, please try again later.")
    if code == 404:
        return ApiError(404, "NotFound", f'{record.resource} "{record.name}" not found')
    reason = _REASONS.get(code, "InternalError")
    return ApiError(code, reason, f"Internal error occurred: injected fault ({code} {reason})")
