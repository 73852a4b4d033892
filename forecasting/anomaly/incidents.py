"""Fold anomalous points into incidents: one incident per ongoing anomaly, not one per point.

A pure state machine for the daemon's anomaly loop. ``observe(point)`` returns an
``IncidentEvent`` when something a human should hear about happened:

- ``open``: a point reached ``open_confidence`` while no incident was open;
- ``update``: the open incident got worse (a new peak confidence);
- ``close``: ``close_after`` consecutive real points were below ``keep_confidence``.

Missing points (no data) neither extend nor close an incident: silence is not recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from forecasting.anomaly._state import StateError, require
from forecasting.anomaly.off_scale import as_json, from_json
from forecasting.anomaly.point import AnomalyPoint, Reason

__all__ = ["Incident", "IncidentEvent", "IncidentTracker", "Transition"]

# An incident's values that may be infinite or NaN (an ``off_scale`` one's peak is +Inf
# or -Inf, and its band NaN on a series with nothing learnt yet): saved as "+Inf", "-Inf"
# or "NaN", since the ledger's JSON holds no such number.
_VALUES = ("peak_observed", "peak_expected", "peak_lower", "peak_upper")


class Transition(StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"


@dataclass(frozen=True)
class Incident:
    """An ongoing or finished anomaly on one series, summarised by its worst point."""

    number: int  # 1, 2, ... per tracker
    opened_at: float
    last_anomalous_at: float
    closed_at: float | None
    points: int  # anomalous points so far
    peak_confidence: float
    peak_at: float
    peak_observed: float
    peak_expected: float
    peak_lower: float
    peak_upper: float
    reason: Reason

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class IncidentEvent:
    transition: Transition
    incident: Incident


class IncidentTracker:
    def __init__(
        self,
        *,
        open_confidence: float = 0.9999,
        keep_confidence: float = 0.99,
        close_after: int = 10,
    ) -> None:
        if not 0.0 <= keep_confidence <= open_confidence <= 1.0:
            raise ValueError(
                "need 0 <= keep_confidence <= open_confidence <= 1, got "
                f"keep={keep_confidence}, open={open_confidence}"
            )
        if close_after < 1:
            raise ValueError(f"close_after must be at least 1 point, got {close_after}")
        self.open_confidence = open_confidence
        self.keep_confidence = keep_confidence
        self.close_after = close_after
        self._current: Incident | None = None
        self._quiet = 0
        self._count = 0

    @property
    def current(self) -> Incident | None:
        return self._current

    def observe(self, point: AnomalyPoint) -> IncidentEvent | None:
        if point.reason in (Reason.MISSING, Reason.WARMING_UP):
            return None
        current = self._current
        anomalous = point.confidence >= (
            self.keep_confidence if current is not None else self.open_confidence
        )
        if current is None:
            if not anomalous:
                return None
            self._count += 1
            self._quiet = 0
            self._current = Incident(
                self._count,
                point.timestamp,
                point.timestamp,
                None,
                1,
                point.confidence,
                point.timestamp,
                point.observed,
                point.expected,
                point.lower,
                point.upper,
                point.reason,
            )
            return IncidentEvent(Transition.OPEN, self._current)
        if anomalous:
            self._quiet = 0
            worse = point.confidence > current.peak_confidence
            current = replace(current, last_anomalous_at=point.timestamp, points=current.points + 1)
            if worse:
                current = replace(
                    current,
                    peak_confidence=point.confidence,
                    peak_at=point.timestamp,
                    peak_observed=point.observed,
                    peak_expected=point.expected,
                    peak_lower=point.lower,
                    peak_upper=point.upper,
                    reason=point.reason if point.reason != Reason.NONE else current.reason,
                )
            self._current = current
            return IncidentEvent(Transition.UPDATE, current) if worse else None
        self._quiet += 1
        if self._quiet < self.close_after:
            return None
        closed = replace(current, closed_at=point.timestamp)
        self._current = None
        self._quiet = 0
        return IncidentEvent(Transition.CLOSE, closed)

    def state(self) -> dict[str, Any]:
        current = self._current
        return {
            "count": self._count,
            "quiet": self._quiet,
            "current": None
            if current is None
            else {
                **current.__dict__,
                **{name: as_json(getattr(current, name)) for name in _VALUES},
                "reason": current.reason.value,
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        try:
            self._count = int(require(state, "count"))
            self._quiet = int(require(state, "quiet"))
            raw = require(state, "current")
            if raw is None:
                self._current = None
            else:
                fields = dict(raw)
                fields["reason"] = Reason(fields["reason"])
                for name in _VALUES:
                    fields[name] = from_json(fields[name])
                self._current = Incident(**fields)
        except (TypeError, ValueError, KeyError) as exc:
            if isinstance(exc, StateError):
                raise
            raise StateError(f"saved incident state is inconsistent: {exc}") from exc
