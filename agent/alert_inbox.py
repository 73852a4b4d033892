"""The alerts the Alertmanager webhook accepted, kept in the ledger until handled.

The webhook stores a delivery's alerts (``store``) before it answers Alertmanager 200:
an alert accepted is in the ledger, and is handled by the next remediation cycle of
whichever replica leads then (``pending``, then ``handled`` once the cycle has handled
it), even if the replica that took it in dies first; a replica that begins to lead runs
a cycle at once. A cycle that fails between the two handles the alerts again at the next
one: a decision is found by its incident key and not made twice. One alert that fails
when handled on its own is tried at a few cycles, then given up (the engine's
``ALERT_ATTEMPTS``): its failed attempts are counted on its row (``failed``), so a
restarted replica or a new leader goes on counting, and a given-up alert stays given up
(``autonomic alerts retry`` makes it pending again).

The set of alerts firing (``firing``: the ``noOtherAlertFiring`` precondition, the
``alertResolved`` verification) is read from the same rows, so a new leader, or a
restarted one, knows what was delivered to the one before it. It is bounded: an alert
whose ``endsAt`` has passed (the latest one delivered: a re-send that pushes it on keeps
the alert counted, ``Ledger.record_alerts``), or that was last delivered more than twice
Alertmanager's ``repeat_interval`` ago (``alertmanager.repeatInterval``), is no longer
counted. A firing
alert is delivered again at every repeat interval, so one not heard of for two has
resolved without its resolution reaching us (or Alertmanager no longer reaches us):
counting it for ever would hold ``noOtherAlertFiring`` back for ever. Which of the two it
is, ``unknown`` tells: one whose re-sends stopped together with every other delivery is
not known to have resolved, and ``noOtherAlertFiring`` does not hold over it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from agent.ledger import AlertDelivery, Ledger, StoredAlert
from remediation.alerts import AlertmanagerAlert, AlertmanagerPayload
from remediation.durations import format_duration
from remediation.ports import ObjectRef
from remediation.signals import Signal
from remediation.snapshot import FiringAlert
from remediation.windows import to_utc_text

__all__ = [
    "DEFAULT_REPEAT_INTERVAL",
    "AlertEnd",
    "AlertInbox",
    "PendingAlert",
    "signal_from_json",
    "signal_to_json",
]

log = logging.getLogger("autonomic.alerts")

DEFAULT_REPEAT_INTERVAL = 4 * 3600.0  # Alertmanager's default repeat_interval
# Stored alerts one cycle takes in at most; the rest wait for the next cycle.
PENDING_PER_CYCLE = 10_000


def signal_to_json(signal: Signal) -> dict[str, Any]:
    target = signal.target
    return {
        "kind": signal.kind,
        "name": signal.name,
        "target": None
        if target is None
        else {"kind": target.kind, "name": target.name, "namespace": target.namespace},
        "labels": dict(signal.labels),
        "confidence": signal.confidence,
        "observed_at": signal.observed_at,
        "dedup_key": signal.dedup_key,
        "evidence": dict(signal.evidence),
        "since": signal.since,
        "count": signal.count,
        "direction": signal.direction,
        "excess_ratio": signal.excess_ratio,
        "status": signal.status,
    }


def signal_from_json(data: Mapping[str, Any]) -> Signal:
    target = data.get("target")
    return Signal(
        kind=data["kind"],
        name=data["name"],
        target=None
        if target is None
        else ObjectRef(target["kind"], target["name"], target.get("namespace")),
        labels=dict(data.get("labels") or {}),
        confidence=float(data["confidence"]),
        observed_at=float(data["observed_at"]),
        dedup_key=data["dedup_key"],
        evidence=dict(data.get("evidence") or {}),
        since=data.get("since"),
        count=int(data.get("count", 1)),
        direction=data.get("direction"),
        excess_ratio=data.get("excess_ratio"),
        status=data.get("status", "firing"),
    )


class PendingAlert(NamedTuple):
    """A stored alert a cycle takes in: its row, its signal, and its failed attempts so
    far (by any replica) when it was read."""

    id: int
    signal: Signal
    attempts: int
    # When a cycle took it in and did not finish with it (None: none did): the process
    # handling it died, was killed, or (if it is this process's own mark) failed to say so.
    handling_since: float | None = None
    # The replica (lease identity) whose cycle set that mark; None: not known (a mark
    # set before migration 10, or by an engine given no identity).
    handling_by: str | None = None
    # The row's alert: which one (fingerprint, startsAt), when it ends if Alertmanager
    # said so, and its latest delivery (``over`` tells from these why it no longer fires).
    fingerprint: str = ""
    starts_at: float = 0.0
    ends_at: float | None = None
    delivered_at: float = 0.0


class AlertEnd(NamedTuple):
    """How a stored alert stopped firing (``AlertInbox.ended``): its name, when, and how
    that is known."""

    name: str
    at: float
    how: str


def _ends_at(starts_at: datetime, ends_at: datetime | None) -> float | None:
    """Alertmanager sends a firing alert's ``endsAt`` as the zero time (0001-01-01): not
    a time. Only one after ``startsAt`` is kept."""
    if ends_at is None or ends_at <= starts_at:
        return None
    value = ends_at.timestamp()
    return value if math.isfinite(value) else None


class AlertInbox:
    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], float],
        *,
        repeat_interval: float = DEFAULT_REPEAT_INTERVAL,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        # An alert last delivered longer ago than this is no longer counted as firing.
        self.stale_after = 2.0 * repeat_interval

    def store(
        self, payload: AlertmanagerPayload, signals: Sequence[Signal], now: float
    ) -> list[bool]:
        """Store ``signals`` (``to_signals(payload)``) in one transaction; per signal,
        whether it is new (False: stored before, by any replica). A ledger that fails
        raises ``TransientError`` and nothing of the delivery is stored."""
        alerts: dict[str, AlertmanagerAlert] = {}
        for alert in payload.alerts:
            alerts.setdefault(alert.dedup_key, alert)
        deliveries = []
        for signal in signals:
            alert = alerts[signal.dedup_key]
            deliveries.append(
                AlertDelivery(
                    fingerprint=alert.fingerprint,
                    starts_at=alert.startsAt.timestamp(),
                    status=alert.status,
                    name=alert.name,
                    labels=dict(alert.labels),
                    signal=signal_to_json(signal),
                    ends_at=_ends_at(alert.startsAt, alert.endsAt),
                )
            )
        return self.ledger.record_alerts(deliveries, now)

    def pending(self, limit: int = PENDING_PER_CYCLE) -> list[PendingAlert]:
        """The stored alerts not handled yet (nor given up), oldest first. A row
        that cannot be read as a signal (written by hand, or by a release that stored
        another shape) is logged and marked handled: it would otherwise stop every cycle."""
        out: list[PendingAlert] = []
        unreadable: list[int] = []
        for row in self.ledger.pending_alerts(limit):
            try:
                out.append(
                    PendingAlert(
                        row.id,
                        signal_from_json(row.signal),
                        row.attempts,
                        row.handling_since,
                        row.handling_by,
                        row.fingerprint,
                        row.starts_at,
                        row.ends_at,
                        row.delivered_at,
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.error(
                    "stored alert %s (fingerprint %s) cannot be read as a signal, so it is "
                    "not handled: %s: %s",
                    row.name,
                    row.fingerprint,
                    type(exc).__name__,
                    exc,
                )
                unreadable.append(row.id)
        if unreadable:
            self.handled(unreadable)
        return out

    def over(self, alerts: Sequence[PendingAlert]) -> dict[int, str]:
        """The firing alerts among ``alerts`` (read by ``pending``) that no longer fire
        now, by row id, each with why: its resolution was stored (Alertmanager's HA peers
        send firing copies after the resolution, and a retried delivery may come after
        a later one), its ``endsAt`` has passed, it fired again with a later ``startsAt``,
        or it has not been delivered again for twice the repeat interval. Read after the
        alerts, so one stored since is not among them and one resolved since is."""
        firing = [alert for alert in alerts if alert.signal.status == "firing"]
        if not firing:
            return {}
        now = self.clock()
        rows = self.firing_rows()
        still = {(row.fingerprint, row.starts_at) for row in rows}
        later = {row.fingerprint: row.starts_at for row in rows}
        out: dict[int, str] = {}
        for alert in firing:
            if (alert.fingerprint, alert.starts_at) in still:
                continue
            if alert.ends_at is not None and alert.ends_at <= now:
                why = f"its endsAt, {to_utc_text(alert.ends_at)}, has passed"
            elif alert.delivered_at < now - self.stale_after:
                why = (
                    f"it was last delivered at {to_utc_text(alert.delivered_at)}, more than "
                    f"{format_duration(self.stale_after)} (twice alertmanager.repeatInterval) ago"
                )
            elif alert.fingerprint in later:
                why = (
                    f"it fired again, from {to_utc_text(later[alert.fingerprint])}, and that "
                    "alert is handled instead"
                )
            else:
                why = "its resolution has been delivered"
            out[alert.id] = why
        return out

    def ended(self, fingerprint: str) -> AlertEnd | None:
        """When and how the alert with ``fingerprint`` stopped firing, as ``firing`` reads
        it: its latest ``startsAt`` resolved (a resolution stored), its ``endsAt`` passed,
        or not delivered again for twice the repeat interval. None while it fires, also
        when it resolved and fired again since (a flapping alert is still firing), and
        when no delivery of it is stored (nothing is known of it here)."""
        rows = self.ledger.alerts_of(fingerprint)
        if not rows:
            return None
        latest = max(row.starts_at for row in rows)
        current = [row for row in rows if row.starts_at == latest]
        resolved = next((row for row in current if row.status == "resolved"), None)
        if resolved is not None:
            return AlertEnd(
                resolved.name,
                resolved.ends_at if resolved.ends_at is not None else resolved.received_at,
                "its resolution was delivered",
            )
        firing = current[0]
        now = self.clock()
        if firing.ends_at is not None and firing.ends_at <= now:
            return AlertEnd(firing.name, firing.ends_at, "its endsAt passed")
        if firing.delivered_at < now - self.stale_after:
            return AlertEnd(
                firing.name,
                firing.delivered_at + self.stale_after,
                f"it was last delivered at {to_utc_text(firing.delivered_at)} and not again "
                f"for {format_duration(self.stale_after)} (twice alertmanager.repeatInterval)",
            )
        return None

    def handled(self, ids: Sequence[int]) -> None:
        if ids:
            self.ledger.mark_alerts_handled(ids, self.clock())

    def handling(self, ids: Sequence[int], *, by: str | None = None, done: bool = False) -> None:
        """Mark these alerts as being handled by a cycle of the replica ``by`` (``done``:
        clear the mark, the cycle ended without handling them, as when the ledger failed
        part-way)."""
        if ids:
            self.ledger.mark_alerts_handling(ids, None if done else self.clock(), by)

    def failed(self, alert: PendingAlert, error: str, *, give_up_at: int) -> int | None:
        """Count a failed attempt at handling ``alert`` on its row, giving it up at
        ``give_up_at``: the new count, or None if another replica counted this attempt
        (or handled the alert) since it was read (``Ledger.count_alert_attempt``)."""
        return self.ledger.count_alert_attempt(
            alert.id, alert.attempts, error, self.clock(), give_up_at=give_up_at
        )

    def waiting(self) -> tuple[int, float | None]:
        """How many stored alerts are not handled yet, and when the oldest of them was
        first delivered (None when none waits)."""
        return self.ledger.pending_alert_summary()

    def firing_rows(self) -> list[StoredAlert]:
        now = self.clock()
        return self.ledger.firing_alerts(now, delivered_since=now - self.stale_after)

    def unknown(self) -> tuple[FiringAlert, ...]:
        """The alerts last known firing that ``firing`` no longer counts only because
        their last delivery is older than twice the repeat interval, while Alertmanager
        has delivered nothing at all since they were due again (each with its
        ``delivered_at``): Alertmanager down or cut off from us, so whether they still fire
        is not known. One that Alertmanager left out of its deliveries for that long, while
        it kept delivering, has resolved without its resolution reaching us, and is not
        among them (or a lost resolution would hold ``noOtherAlertFiring`` for good)."""
        now = self.clock()
        rows = self.ledger.firing_alerts(
            now, delivered_since=0.0, delivered_before=now - self.stale_after
        )
        if not rows:
            return ()
        last = self.ledger.last_alert_delivery()
        return tuple(
            _firing(row)
            for row in rows
            if last is None or last < row.delivered_at + self.stale_after
        )

    def firing(self) -> tuple[FiringAlert, ...]:
        """The alerts firing now, by name and fingerprint (see the module's note)."""
        return tuple(_firing(row) for row in self.firing_rows())


def _firing(row: StoredAlert) -> FiringAlert:
    """A stored alert as the runbooks' snapshot holds it."""
    return FiringAlert(
        name=row.name,
        labels=dict(row.labels),
        fingerprint=row.fingerprint,
        starts_at=row.starts_at,
        delivered_at=row.delivered_at,
    )
