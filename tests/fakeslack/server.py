"""A local stand-in for the Slack Web API, for ``WebClient(base_url=fake.url + "/api/")``.

A ``ThreadingHTTPServer`` on 127.0.0.1 implementing the methods Autonomic calls —
``chat.postMessage``, ``chat.update``, ``chat.getPermalink``, ``chat.postEphemeral``,
``usergroups.users.list``,
``auth.test``, ``conversations.history`` (with message metadata, newest first, paged by
``cursor``), and ``apps.connections.open`` for Socket Mode start-up — the way Slack
answers them: HTTP 200 with ``{"ok": false, "error": ...}`` for API errors, a bearer
token checked on every call, JSON or form bodies, messages that can only be updated if
they exist, threads that need a parent. It records every call for assertions and can
be told to misbehave: answer 429 with ``Retry-After``, answer 500, stop listening
altogether (connection refused), take one ``chat.postMessage`` a second per channel
(``limit_posts``: faster ones get 429 with the ``Retry-After`` left), or refuse
``conversations.history`` with ``missing_scope`` (``history_scope = False``). A message
``text`` over Slack's 40,000 characters is refused with ``msg_too_long``, as Slack does.
``attach_socket_mode()`` adds the Socket Mode websocket stand-in
(``tests.fakeslack.socket_mode``), whose URLs ``apps.connections.open`` then hands out;
without it that URL leads nowhere a websocket client can connect to.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.fakeslack.socket_mode import SocketModeServer

__all__ = ["TEXT_LIMIT", "Call", "FakeSlack", "Message", "start_fake_slack"]

# Slack refuses a message whose ``text`` is longer than this (``msg_too_long``).
TEXT_LIMIT = 40_000


@dataclass(frozen=True)
class Call:
    """One request as the stand-in saw it (the token is checked, never kept)."""

    method: str
    params: dict[str, Any]
    authorized: bool
    status: int
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier versions
    metadata: dict[str, Any] | None = None  # chat.postMessage's ``metadata``, as sent


@dataclass
class _Fault:
    status: int
    retry_after: float | None
    body: bytes
    delay: float = 0.0  # > 0: the call is carried out, and answered this much later


class FakeSlack:
    """The stand-in. Use ``start_fake_slack()``; ``stop()`` when done."""

    def __init__(
        self,
        *,
        token: str = "xoxb-fake-token",
        app_token: str = "xapp-fake-token",
        groups: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._token = token
        self._app_token = app_token
        self.groups: dict[str, list[str]] = {k: list(v) for k, v in (groups or {}).items()}
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.reachable = True
        self.socket_mode: SocketModeServer | None = None
        # False: conversations.history answers missing_scope (no channels:history).
        self.history_scope = True
        # limit_posts(): seconds between two chat.postMessage to one channel; None: no limit.
        self._post_interval: float | None = None
        self._last_post: dict[str, float] = {}

    # ------------------------------------------------------------ control
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_http()
        if self.socket_mode is not None:
            self.socket_mode.stop()

    def go_unreachable(self) -> None:
        """Stop listening: every later Web API call gets 'connection refused'."""
        self._stop_http()

    def _stop_http(self) -> None:
        if self.reachable:
            self._server.shutdown()
            self._server.server_close()
            self.reachable = False

    def attach_socket_mode(self) -> SocketModeServer:
        """Start the Socket Mode websocket stand-in; ``apps.connections.open`` points at it."""
        if self.socket_mode is None:
            self.socket_mode = SocketModeServer().start()
        return self.socket_mode

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls to ``method`` with ``status`` (429 or 5xx), or,
        with ``status`` 200 and ``error``, with Slack's ``{"ok": false, "error": error}``
        (``not_in_channel``, ``token_revoked``, ``message_not_found``...)."""
        if status == 429:
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
        elif status == 200:
            if not error:
                raise ValueError("an HTTP 200 fault needs Slack's error code")
            body = json.dumps({"ok": False, "error": error}).encode()
        else:
            body = b"<html><body>Internal Server Error</body></html>"
        with self._lock:
            for _ in range(times):
                self._faults[method].append(_Fault(status, retry_after, body))

    def clear_faults(self, method: str) -> None:
        """Forget the faults ``fail_next`` queued for ``method`` that were not used yet:
        its next call is answered normally."""
        with self._lock:
            self._faults.pop(method, None)

    def limit_posts(self, interval: float = 1.0) -> None:
        """Take one ``chat.postMessage`` per ``interval`` seconds per channel, as Slack
        does (about one a second): a faster one is answered 429 ``ratelimited`` with
        ``Retry-After`` the whole seconds left, and not posted."""
        with self._lock:
            self._post_interval = interval

    def answer_late(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Carry out the next ``times`` calls to ``method``, then answer ``seconds`` late:
        past a client's timeout, the call took effect (a message was posted) although
        the client saw no answer."""
        with self._lock:
            for _ in range(times):
                self._faults[method].append(_Fault(200, None, b"", delay=seconds))

    # ------------------------------------------------------------ queries
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def top_level(self) -> list[Message]:
        with self._lock:
            return [m for m in self.messages.values() if m.thread_ts is None]

    def replies(self, channel: str, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages.values() if (m.channel, m.thread_ts) == (channel, ts)]

    def message(self, channel: str, ts: str) -> Message:
        with self._lock:
            return self.messages[(channel, ts)]

    # ------------------------------------------------------------ serving
    def _serve(
        self, method: str, params: dict[str, Any], auth: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        # apps.connections.open takes the app-level token; every other method the bot's.
        expected = self._app_token if method == "apps.connections.open" else self._token
        authorized = auth == f"Bearer {expected}"
        with self._lock:
            queue = self._faults.get(method)
            fault = queue.popleft() if queue else None
        if fault is None and method == "chat.postMessage" and authorized:
            left = self._post_turn(params)
            if left > 0:
                self._record(method, params, authorized, 429)
                headers = {"Content-Type": "application/json", "Retry-After": f"{left:g}"}
                return 429, headers, json.dumps({"ok": False, "error": "ratelimited"}).encode()
        if fault is not None and fault.delay > 0:
            status, headers, payload = self._carry_out(method, params, authorized)
            time.sleep(fault.delay)
            return status, headers, payload
        if fault is not None:
            json_body = fault.status in (200, 429)
            headers = {"Content-Type": "application/json" if json_body else "text/html"}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self._record(method, params, authorized, fault.status)
            return fault.status, headers, fault.body
        return self._carry_out(method, params, authorized)

    def _carry_out(
        self, method: str, params: dict[str, Any], authorized: bool
    ) -> tuple[int, dict[str, str], bytes]:
        if not authorized:
            result: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        else:
            handler = _METHODS.get(method)
            result = handler(self, params) if handler else {"ok": False, "error": "unknown_method"}
        self._record(method, params, authorized, 200)
        return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(result).encode()

    def _post_turn(self, params: dict[str, Any]) -> int:
        """0 when a post to this channel may go now (its time is taken); else the whole
        seconds until it may (``limit_posts``)."""
        channel = _channel_id(params.get("channel"))
        with self._lock:
            if self._post_interval is None or channel is None:
                return 0
            now = time.monotonic()
            last = self._last_post.get(channel)
            if last is not None and now - last < self._post_interval:
                return max(1, math.ceil(self._post_interval - (now - last)))
            self._last_post[channel] = now
            return 0

    def _record(self, method: str, params: dict[str, Any], authorized: bool, status: int) -> None:
        with self._lock:
            self.calls.append(Call(method, params, authorized, status, time.time()))

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_800_000_000 + n}.{n:06d}"

    def _post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = _channel_id(p.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("text") and not p.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if _too_long(p):
            return {"ok": False, "error": "msg_too_long"}
        blocks = _blocks(p.get("blocks"))
        if blocks is None:
            return {"ok": False, "error": "invalid_blocks"}
        metadata = _metadata(p.get("metadata"))
        if metadata is False:
            return {"ok": False, "error": "invalid_metadata_format"}
        thread_ts = p.get("thread_ts")
        with self._lock:
            if thread_ts is not None and (channel, thread_ts) not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            ts = self._next_ts()
            self.messages[(channel, ts)] = Message(
                channel, ts, str(p.get("text", "")), blocks, thread_ts, metadata=metadata
            )
        message = {"type": "message", "text": p.get("text", ""), "ts": ts, "bot_id": "B0BOT"}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (str(p.get("channel")), str(p.get("ts")))
        if _too_long(p):
            return {"ok": False, "error": "msg_too_long"}
        blocks = _blocks(p.get("blocks"))
        if blocks is None:
            return {"ok": False, "error": "invalid_blocks"}
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.history.append({"text": message.text, "blocks": message.blocks})
            message.text = str(p.get("text", message.text))
            message.blocks = blocks if p.get("blocks") is not None else message.blocks
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text}

    def _permalink(self, p: dict[str, Any]) -> dict[str, Any]:
        """The message's address in the workspace, for a message that exists."""
        channel = _channel_id(p.get("channel"))
        ts = str(p.get("message_ts", ""))
        with self._lock:
            if channel is None or (channel, ts) not in self.messages:
                return {"ok": False, "error": "message_not_found"}
        link = f"https://autonomic-test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = _channel_id(p.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if _too_long(p):
            return {"ok": False, "error": "msg_too_long"}
        with self._lock:
            self.ephemerals.append({"channel": channel, "user": p["user"], "text": p.get("text")})
            ts = self._next_ts()
        return {"ok": True, "message_ts": ts}

    def _group_users(self, p: dict[str, Any]) -> dict[str, Any]:
        group = str(p.get("usergroup", ""))
        if group not in self.groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.groups[group])}

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://autonomic-test.slack.com/",
            "team": "Autonomic Test",
            "user": "autonomic",
            "team_id": "T0TEST",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages newest first, ``oldest``/``latest`` exclusive unless
        ``inclusive``, ``limit`` a page (``cursor``: the offset, as a string), and each
        message's metadata only with ``include_all_metadata``."""
        if not self.history_scope:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": "channels:history,groups:history,mpim:history,im:history",
                "provided": "chat:write,usergroups:read",
            }
        channel = _channel_id(p.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(p.get("oldest") or 0)
        latest = float(p.get("latest") or 9e18)
        inclusive = _truthy(p.get("inclusive"))
        metadata = _truthy(p.get("include_all_metadata"))
        limit = int(p.get("limit") or 100)
        start = int(p.get("cursor") or 0)
        with self._lock:
            found = [
                m
                for m in self.messages.values()
                if m.channel == channel
                and m.thread_ts is None
                and (oldest <= float(m.ts) if inclusive else oldest < float(m.ts))
                and (float(m.ts) <= latest if inclusive else float(m.ts) < latest)
            ]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        page = found[start : start + limit]
        messages = []
        for m in page:
            item: dict[str, Any] = {
                "type": "message",
                "ts": m.ts,
                "text": m.text,
                "bot_id": "B0BOT",
            }
            if metadata and m.metadata is not None:
                item["metadata"] = m.metadata
            messages.append(item)
        more = start + limit < len(found)
        answer: dict[str, Any] = {"ok": True, "messages": messages, "has_more": more}
        answer["response_metadata"] = {"next_cursor": str(start + limit) if more else ""}
        return answer

    def _connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is not None:  # a new single-use URL on the websocket stand-in
            return {"ok": True, "url": self.socket_mode.new_url()}
        # Not a websocket server: a client that follows this URL fails its handshake.
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket"}


_METHODS = {
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.getPermalink": FakeSlack._permalink,
    "chat.postEphemeral": FakeSlack._ephemeral,
    "usergroups.users.list": FakeSlack._group_users,
    "auth.test": FakeSlack._auth_test,
    "conversations.history": FakeSlack._history,
    "apps.connections.open": FakeSlack._connections_open,
}


def _channel_id(value: Any) -> str | None:
    """``C0OPS`` stays; ``#ops`` or ``ops`` becomes a stable id, as Slack resolves names."""
    if not isinstance(value, str) or not value:
        return None
    if value[0] in "CGD" and value[1:].isalnum() and value.isupper():
        return value
    return "C" + format(zlib.crc32(value.lstrip("#").encode()), "010d")


def _too_long(params: Mapping[str, Any]) -> bool:
    return len(str(params.get("text") or "")) > TEXT_LIMIT


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _metadata(value: Any) -> dict[str, Any] | Literal[False] | None:
    """``{"event_type": ..., "event_payload": {...}}`` (a JSON string in a form body);
    None when absent, False when malformed."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return False
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload"), dict)
    ):
        return False
    return value


def _blocks(value: Any) -> list[dict[str, Any]] | None:
    """Blocks arrive as a JSON list (JSON bodies) or a JSON string (form bodies)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, list) or not all(isinstance(b, dict) and "type" in b for b in value):
        return None
    return value


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def handle(self) -> None:
            # A client hanging up mid-request (a websocket attempt, a timeout) is not news.
            with contextlib.suppress(ConnectionError):
                super().handle()

        def _answer(self) -> None:
            url = urlsplit(self.path)
            if not url.path.startswith("/api/"):
                self._send(404, {"Content-Type": "text/plain"}, b"not found")
                return
            method = url.path[len("/api/") :]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if kind == "application/json" and raw:
                body = json.loads(raw)
                if isinstance(body, dict):
                    params.update(body)
            elif raw:
                params.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
            status, headers, payload = fake._serve(
                method, params, self.headers.get("Authorization")
            )
            self._send(status, headers, payload)

        def _send(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def start_fake_slack(
    *,
    token: str = "xoxb-fake-token",
    app_token: str = "xapp-fake-token",
    groups: Mapping[str, Iterable[str]] | None = None,
) -> FakeSlack:
    return FakeSlack(token=token, app_token=app_token, groups=groups).start()
