"""The Alertmanager webhook (payload version 4) as an HTTP route of the daemon.

Protected by a bearer token (compared in constant time), bounded in size, strict
about the payload (a 4xx names what is wrong), and idempotent: Alertmanager re-sends
groups and HA peers send duplicates, so each alert is one signal per
(fingerprint, startsAt), and one stored row per (fingerprint, startsAt, status).

An alert accepted is durable: the leader stores the delivery's alerts in the ledger, in
one transaction, before it answers 200 (``AlertInbox``); the remediation cycle of
whichever replica leads next handles them, and reads the alerts firing from the same
rows. If the ledger cannot store them the answer is 503 with ``Retry-After`` and nothing
of the delivery is kept: Alertmanager retries.

A delivery of more than ``MAX_ALERTS`` alerts is taken in for its first ``MAX_ALERTS``,
and the rest are counted as ``dropped`` and logged with the group key: Alertmanager does
not retry a 4xx, and a 5xx retried would bring the same group, too big again, so either
would lose the whole group rather than its tail.

Only the leader takes alerts in. The Service sends Alertmanager to either replica, and a
standby runs no remediation cycle (and its ledger, if SQLite, is its own): a standby
answers 503, which Alertmanager retries, on a new connection that the Service may send
to the leader.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable

from pydantic import SecretStr

from agent.alert_inbox import AlertInbox
from agent.errors import TransientError
from agent.observability import Metrics
from agent.server import Request, Response, json_response
from remediation.alerts import MAX_ALERTS, PayloadError, parse_payload, to_signals
from remediation.snapshot import FiringAlert

__all__ = ["AlertIntake"]

log = logging.getLogger("autonomic.webhooks")


class AlertIntake:
    def __init__(
        self,
        *,
        token: SecretStr | None,
        clock: Callable[[], float],
        inbox: AlertInbox,
        max_body_bytes: int = 1_048_576,
        is_leader: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
    ) -> None:
        self._token = token
        self._metrics = metrics
        self._is_leader = is_leader
        self._clock = clock
        self.inbox = inbox
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self.accepted = 0
        self.duplicates = 0

    def firing(self) -> tuple[FiringAlert, ...]:
        """The alerts firing now, as the ledger has them (delivered to any replica)."""
        return self.inbox.firing()

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
            payload = parse_payload(request.body, max_bytes=self.max_body_bytes)
        except PayloadError as exc:
            return json_response(exc.status, {"error": str(exc)})
        if not self._is_leader():
            # Checked after the payload: a malformed one is refused (4xx, not retried)
            # by any replica. Nothing of it is stored: the leader stores the retry.
            self._count("standby", len(payload.alerts))
            return Response(
                503,
                b'{"error": "this replica is a standby: only the leader takes alerts in; '
                b'retry (the next connection may reach the leader)"}\n',
                headers={"Retry-After": "1"},
                close=True,
            )
        now = self._clock()
        signals = to_signals(payload, now)
        try:
            fresh = sum(self.inbox.store(payload, signals, now))
        except TransientError as exc:
            # One transaction: nothing of this delivery was stored. Alertmanager retries.
            self._count("unstored", len(signals))
            log.warning(
                "Alertmanager webhook: %d alert(s) not stored, answered 503 for a retry: %s",
                len(signals),
                exc,
            )
            return Response(
                503,
                b'{"error": "the ledger could not store the alerts; nothing of this delivery '
                b'was kept: retry"}\n',
                headers={"Retry-After": str(max(1, round(exc.delay)))},
            )
        with self._lock:
            self.accepted += fresh
            self.duplicates += len(signals) - fresh
        self._count("accepted", fresh)
        self._count("duplicate", len(signals) - fresh)
        self._count("dropped", payload.dropped)
        if payload.dropped:
            log.warning(
                "Alertmanager webhook: group %s sent %d alerts, more than the %d one delivery "
                "is taken in for: the first %d were taken, the last %d dropped (Alertmanager's "
                "max_alerts on the receiver chooses how many it sends)",
                payload.groupKey,
                len(payload.alerts) + payload.dropped,
                MAX_ALERTS,
                len(payload.alerts),
                payload.dropped,
            )
        if fresh:
            log.info(
                "Alertmanager webhook: %d new alert(s) stored for the next remediation cycle "
                "(%s), %d duplicate(s)",
                fresh,
                ", ".join(sorted({f"{s.name} {s.status}" for s in signals})),
                len(signals) - fresh,
            )
        answer = {"accepted": fresh, "duplicates": len(signals) - fresh}
        if payload.dropped:
            answer["dropped"] = payload.dropped
        return json_response(200, answer)

    def _count(self, result: str, alerts: int) -> None:
        if self._metrics is not None and alerts:
            self._metrics.alertmanager_alerts.labels(result).inc(alerts)
