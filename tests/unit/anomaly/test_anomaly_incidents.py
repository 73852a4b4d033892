from __future__ import annotations

import json
import math

import pytest

from forecasting.anomaly import AnomalyPoint, IncidentTracker, Reason, StateError, Transition


def point(
    t: float, confidence: float, reason: Reason = Reason.SPIKE, value: float = 1.0
) -> AnomalyPoint:
    return AnomalyPoint(t, value, confidence, confidence, 0.0, -1.0, 1.0, reason)


def test_one_incident_per_ongoing_anomaly() -> None:
    tracker = IncidentTracker(open_confidence=0.999, keep_confidence=0.99, close_after=3)
    events = [
        tracker.observe(p)
        for p in [
            point(0, 0.5, Reason.NONE),
            point(1, 0.9995),  # opens
            point(2, 0.995),  # still anomalous, not worse: no event
            point(3, 0.9999),  # worse: update
            point(4, 0.5, Reason.NONE),
            point(5, math.nan, Reason.MISSING),  # no data neither extends nor closes
            point(6, 0.5, Reason.NONE),
            point(7, 0.5, Reason.NONE),  # third quiet real point: closes
        ]
    ]
    kinds = [e.transition if e else None for e in events]
    assert kinds == [
        None,
        Transition.OPEN,
        None,
        Transition.UPDATE,
        None,
        None,
        None,
        Transition.CLOSE,
    ]
    closed = events[-1]
    assert closed is not None
    incident = closed.incident
    assert (incident.number, incident.opened_at, incident.closed_at) == (1, 1, 7)
    assert incident.points == 3 and incident.peak_at == 3 and incident.peak_confidence == 0.9999
    assert tracker.current is None


def test_the_next_anomaly_opens_a_new_incident() -> None:
    tracker = IncidentTracker(close_after=1)
    tracker.observe(point(0, 0.99999))
    tracker.observe(point(1, 0.1, Reason.NONE))
    event = tracker.observe(point(2, 0.99999, Reason.DIP))
    assert event is not None and event.transition == Transition.OPEN
    assert event.incident.number == 2 and event.incident.reason == Reason.DIP


def test_warm_up_points_never_open_incidents() -> None:
    tracker = IncidentTracker()
    assert tracker.observe(point(0, 1.0, Reason.WARMING_UP)) is None


def test_state_round_trip_keeps_the_open_incident() -> None:
    tracker = IncidentTracker(close_after=2)
    tracker.observe(point(0, 0.99999))
    tracker.observe(point(1, 0.1, Reason.NONE))
    restored = IncidentTracker(close_after=2)
    restored.restore(json.loads(json.dumps(tracker.state())))
    assert restored.current == tracker.current
    event = restored.observe(point(2, 0.1, Reason.NONE))
    assert event is not None and event.transition == Transition.CLOSE


def test_bad_settings_and_state_are_refused() -> None:
    with pytest.raises(ValueError, match="keep_confidence"):
        IncidentTracker(open_confidence=0.9, keep_confidence=0.99)
    with pytest.raises(StateError):
        IncidentTracker().restore({"count": 1, "quiet": 0, "current": {"number": 1}})
