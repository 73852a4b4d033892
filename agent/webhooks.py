"""The Alertmanager webhook (payload version 4) as an HTTP route of the daemon.

Protected by a bearer token (compared in constant time), bounded in size, strict
about the payload (a 4xx names what is wrong), and idempotent: Alertmanager re-sends
groups and HA peers send duplicates, so each alert is one signal per
(fingerprint, startsAt), remembered across requests.

Only the leader takes alerts in. The Service sends Alertmanager to either replica, and a
standby runs no remediation cycle: an alert it accepted would be answered 200 and never
looked at (a resolution as well, so a verification waiting for it would fail). A standby
answers 503, which Alertmanager retries, on a new connection that the Service may send
to the leader.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from pydantic import SecretStr

from agent.server import Request, Response, json_response
from remediation.alerts import PayloadError, parse_payload, to_signals, update_firing
from remediation.signals import Signal
from remediation.snapshot import FiringAlert

__all__ = ["AlertIntake"]


class AlertIntake:
    def __init__(
        self,
        *,
        token: SecretStr | None,
        clock: Callable[[], float],
        submit: Callable[[Sequence[Signal]], None],
        max_body_bytes: int = 1_048_576,
        remember: int = 50_000,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self._token = token
        self._is_leader = is_leader
        self._clock = clock
        self._submit = submit
        self.max_body_bytes = max_body_bytes
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._firing: tuple[FiringAlert, ...] = ()
        self._lock = threading.Lock()
        self.accepted = 0
        self.duplicates = 0

    def firing(self) -> tuple[FiringAlert, ...]:
        with self._lock:
            return self._firing

    def handle(self, request: Request) -> Response:
        if self._token is None:
            return json_response(404, {"error": "the Alertmanager webhook is not enabled"})
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        expected = self._token.get_secret_value()
        # The scheme is case-insensitive (RFC 9110); the token is compared exactly.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()
        ):
            return Response(
                401,
                b'{"error": "missing or wrong bearer token"}\n',
                headers={"WWW-Authenticate": 'Bearer realm="autonomic"'},
            )
        if len(request.body) > self.max_body_bytes:
            return json_response(413, {"error": f"body larger than {self.max_body_bytes} bytes"})
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.partition(";")[0].strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            return json_response(415, {"error": f"expected application/json, got {content_type}"})
        try:
            payload = parse_payload(request.body)
        except PayloadError as exc:
            return json_response(exc.status, {"error": str(exc)})
        if not self._is_leader():
            # Checked after the payload: a malformed one is refused (4xx, not retried)
            # by any replica. Nothing of it is remembered here, so that this replica,
            # once it leads, takes the retry in rather than calling it a duplicate.
            return Response(
                503,
                b'{"error": "this replica is a standby: only the leader takes alerts in; '
                b'retry (the next connection may reach the leader)"}\n',
                headers={"Retry-After": "1"},
                close=True,
            )
        signals = to_signals(payload, self._clock())
        fresh: list[Signal] = []
        with self._lock:
            self._firing = update_firing(self._firing, payload)
            for signal in signals:
                key = f"{signal.dedup_key}|{signal.status}"
                if key in self._seen:
                    self.duplicates += 1
                    continue
                self._seen[key] = None
                while len(self._seen) > self._remember:
                    self._seen.popitem(last=False)
                fresh.append(signal)
            self.accepted += len(fresh)
        if fresh:
            self._submit(fresh)
        return json_response(200, {"accepted": len(fresh), "duplicates": len(signals) - len(fresh)})
