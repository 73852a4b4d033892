"""The Alertmanager webhook (payload version 4) as an HTTP route of the daemon.

Protected by a bearer token (compared in constant time, before the body is read),
bounded in size (``alertmanager.maxBodyBytes``, on the Content-Length), strict
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

A delivery refused with a 4xx (a missing or wrong token, a body over
``alertmanager.maxBodyBytes``, another media type, a malformed payload) is lost: Alertmanager
does not retry it, and logs it only on its own side. Each is counted
(``autonomic_alertmanager_refused_total``, by reason) and said in a warning naming what
to change, at most once a minute per reason (with how many more came meanwhile).

Alerts Alertmanager itself left out of a delivery (``truncatedAlerts``: the receiver's
``max_alerts``) are counted as ``truncated`` and said in a warning naming the group.

Only the leader takes alerts in. The Service sends Alertmanager to either replica, and a
standby runs no remediation cycle (and its ledger, if SQLite, is its own): a standby
answers 503, which Alertmanager retries, on a new connection that the Service may send
to the leader.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping

from pydantic import SecretStr

from agent.alert_inbox import AlertInbox
from agent.errors import TransientError
from agent.observability import Metrics
from agent.server import Request, Response, json_response
from remediation.alerts import MAX_ALERTS, PayloadError, parse_payload, to_signals
from remediation.snapshot import FiringAlert

__all__ = ["AlertIntake"]

log = logging.getLogger("autonomic.webhooks")

# A refusal of each reason is logged at most this often (seconds); the others are counted.
REFUSAL_LOG_EVERY = 60.0
# What to change, by reason of refusal.
_REFUSAL_HINTS = {
    "unauthorized": (
        "give the webhook_configs receiver http_config.authorization with type Bearer and "
        "credentials_file holding the token alertmanager.token names"
    ),
    "too_large": (
        "raise alertmanager.maxBodyBytes, or set max_alerts on the webhook_configs receiver"
    ),
    "media_type": "Alertmanager sends application/json: is something else posting here?",
    "invalid": "the error names what is wrong; Alertmanager sends payload version 4",
}


# Authorization schemes a refusal may name (RFC 9110 and IANA's registry, and the
# "Token" some tools send); any other first word is not written to the log.
_KNOWN_SCHEMES = frozenset({"basic", "digest", "negotiate", "ntlm", "token", "hoba", "mutual"})


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
        # Per reason of refusal: when last logged, and how many since.
        self._refusals: dict[str, tuple[float, int]] = {}

    def firing(self) -> tuple[FiringAlert, ...]:
        """The alerts firing now, as the ledger has them (delivered to any replica)."""
        return self.inbox.firing()

    def check_headers(self, headers: Mapping[str, str]) -> Response | None:
        """The answer that refuses a delivery on its headers alone (404 while the webhook
        is off, 401 without the bearer token), or None. The HTTP server asks this before
        it reads the body, so a caller without the token cannot make it read one of up
        to ``alertmanager.maxBodyBytes``; ``handle`` asks it again."""
        if self._token is None:
            return json_response(404, {"error": "the Alertmanager webhook is not enabled"})
        authorization = headers.get("authorization", "").strip()
        scheme, _, given = authorization.partition(" ")
        expected = self._token.get_secret_value()
        # The scheme is case-insensitive (RFC 9110); the token is compared exactly.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()
        ):
            # Never the header's words themselves: a token sent without its scheme, or
            # one with a space in it, would be written to the log.
            if not authorization:
                sent = "no Authorization header"
            elif scheme.lower() == "bearer":
                sent = "a bearer token that is not alertmanager.token"
            elif not given.strip():
                sent = "an Authorization header without a scheme (a bare credential?)"
            elif scheme.lower() in _KNOWN_SCHEMES:
                sent = f"an Authorization header of scheme {scheme!r}, not Bearer"
            else:
                sent = "an Authorization header of a scheme other than Bearer"
            self.refused("unauthorized", f"401, missing or wrong bearer token: it sent {sent}")
            return Response(
                401,
                b'{"error": "missing or wrong bearer token"}\n',
                headers={"WWW-Authenticate": 'Bearer realm="autonomic"'},
            )
        return None

    def handle(self, request: Request) -> Response:
        refusal = self.check_headers(request.headers)
        if refusal is not None:
            return refusal
        if len(request.body) > self.max_body_bytes:
            return self._refuse(
                413,
                "too_large",
                f"body of {len(request.body)} bytes is larger than the limit, "
                f"alertmanager.maxBodyBytes: {self.max_body_bytes} bytes",
            )
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.partition(";")[0].strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            return self._refuse(
                415, "media_type", f"expected application/json, got {content_type[:100]}"
            )
        try:
            payload = parse_payload(request.body, max_bytes=self.max_body_bytes)
        except PayloadError as exc:
            reason = "too_large" if exc.status == 413 else "invalid"
            return self._refuse(exc.status, reason, str(exc))
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
        self._count("truncated", payload.truncatedAlerts)
        if payload.truncatedAlerts:
            log.warning(
                "Alertmanager webhook: group %s came without %d of its alerts, left out by "
                "Alertmanager (max_alerts on the webhook_configs receiver): no runbook runs "
                "for those until they are in a delivery; raise or remove max_alerts to send "
                "them",
                payload.groupKey,
                payload.truncatedAlerts,
            )
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
        if payload.truncatedAlerts:
            answer["truncated"] = payload.truncatedAlerts
        return json_response(200, answer)

    def refused_body(self, status: int, error: str) -> None:
        """The HTTP server refused a delivery's body before this route saw it: over
        its limit (413, ``alertmanager.maxBodyBytes``, on the Content-Length, unread),
        or cut short or too slow (400, 408, 411)."""
        if self._token is None:  # the webhook is off: nothing was expected here
            return
        self.refused("too_large" if status == 413 else "invalid", f"{status}, {error}")

    def _refuse(self, status: int, reason: str, error: str) -> Response:
        self.refused(reason, f"{status}, {error}")
        return Response(status, json.dumps({"error": error}).encode() + b"\n")

    def refused(self, reason: str, error: str) -> None:
        """Count a delivery refused with a 4xx, for ``reason`` (a key of
        ``_REFUSAL_HINTS``), and say it, at most once per ``REFUSAL_LOG_EVERY`` per
        reason: Alertmanager does not retry a 4xx, so the delivery's alerts are lost,
        and nothing else on this side would show it. Also called by the HTTP server for
        a body it refused before this route saw it (too large, cut short)."""
        if self._metrics is not None:
            self._metrics.alertmanager_refused.labels(reason).inc()
        now = self._clock()
        with self._lock:
            said_at, since = self._refusals.get(reason, (-math.inf, 0))
            if now - said_at < REFUSAL_LOG_EVERY:
                self._refusals[reason] = (said_at, since + 1)
                return
            self._refusals[reason] = (now, 0)
        more = f" ({since} more refused for this reason since the last warning)" if since else ""
        log.warning(
            "Alertmanager webhook: a delivery refused, %s. Alertmanager does not retry a "
            "4xx: the alerts in it are lost until it sends them again, refused again unless "
            "this is changed: %s%s",
            error,
            _REFUSAL_HINTS[reason],
            more,
        )

    def _count(self, result: str, alerts: int) -> None:
        if self._metrics is not None and alerts:
            self._metrics.alertmanager_alerts.labels(result).inc(alerts)
