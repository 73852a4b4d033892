"""Interaction requests exactly as Slack sends them, and an HTTP front to post them to.

Slack posts a button click as ``application/x-www-form-urlencoded`` with one field,
``payload``, holding the ``block_actions`` JSON. It signs the raw body: ``v0=`` +
hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed by the app's signing secret, sent
in ``X-Slack-Signature`` with the timestamp in ``X-Slack-Request-Timestamp``. The
signature is computed here with ``hmac`` directly, not with slack-sdk, so the adapter's
verification is checked against an independent implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote_plus

__all__ = [
    "InteractionServer",
    "block_actions_payload",
    "post",
    "sign",
    "signed_interaction",
]

_ACTION_IDS = {
    "approve": "autonomic_approve",
    "reject": "autonomic_reject",
    "snooze": "autonomic_snooze",
    "was-fix": "autonomic_was_fix",
    "was-not-fix": "autonomic_was_not_fix",
    "undo": "autonomic_undo",
}


def block_actions_payload(
    question_id: str,
    action: str,
    *,
    user_id: str,
    user_name: str = "someone",
    channel_id: str = "C0OPS",
    message_ts: str = "1800000001.000001",
    action_ts: float,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on one of Autonomic's buttons."""
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": "T0TEST"},
        "api_app_id": "A0AUTONOMIC",
        "token": "verification-token-deprecated",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": "1800000000.1.abcdef",
        "team": {"id": "T0TEST", "domain": "autonomic-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "ops"},
        "message": {"type": "message", "ts": message_ts, "bot_id": "B0BOT", "text": "..."},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEST/1/xyz",
        "actions": [
            {
                "action_id": _ACTION_IDS.get(action, action),
                "block_id": "autonomic_question",
                "text": {"type": "plain_text", "text": action.capitalize(), "emoji": True},
                "value": question_id,
                "type": "button",
                "action_ts": f"{action_ts:.6f}",
            }
        ],
    }


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers Slack adds to a request with this body at this time."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


def signed_interaction(
    payload: Mapping[str, Any], secret: str, timestamp: int
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the request Slack would send for ``payload``."""
    body = ("payload=" + quote_plus(json.dumps(payload, separators=(",", ":")))).encode()
    return body, sign(body, secret, timestamp)


Handler = Callable[[bytes, Mapping[str, str], float], tuple[int, bytes]]


class InteractionServer:
    """Mounts a ``handle_interaction(body, headers, now)`` function on 127.0.0.1.

    This is how the daemon's HTTP server will call it; tests post to ``url`` over the
    wire. ``clock`` supplies ``now`` for each request.
    """

    def __init__(self, handler: Handler, clock: Callable[[], float]) -> None:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer = handler(body, dict(self.headers.items()), outer.clock())
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.clock = clock
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/slack/interactions"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """POST like Slack does; (status, body) whatever the status."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), bytes(error.read())
