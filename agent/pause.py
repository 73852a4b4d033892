"""The emergency stop: `autonomic pause` and `autonomic resume`, kept in the ledger.

An on-call who needs Autonomic to stop acting, now, writes a pause into the ledger
(``autonomic pause --reason ... [--for 1h]``); every replica reads it there, so it needs
no restart and no change to the configuration. While it holds:

- the remediation engine decides nothing new (every plan is denied ``Paused``, with the
  pause's own sentence: who, since when, until when, why), runs no approved decision (it
  waits, still approved, up to ``safety.approvedMaxWait``), runs no further drain round,
  starts no further step of a run under way (the step being written finishes; the run
  goes on after the pause: ``RemediationEngine.resume_stopped``) and goes on with no
  execution a restart or an unsettled write left in flight;
- the scaling loop holds every workload (``Paused``): no decision, no write;
- the canary endpoints hold every answer that would move a release (Argo Rollouts gets
  ``inconclusive``, Flagger's gates 425), each hold recorded ``Paused``, and a verdict
  for the runbooks waits, approved, until the pause ends (``agent.loops.canary``);
- observing, detecting, forecasting, verifying and recording go on. A verification that
  fails while paused is escalated and its steps are left as they are: an undo is a
  write too, and the person who pressed stop is the one to decide on it.

The pause is one row of the ledger's guard table (``PAUSE_KEY``): the current state
(paused or not, by whom, when, why, until when) and the last ``HISTORY_KEPT`` changes.
It is written with a compare-and-set, so two people pausing at once both succeed and
the later one is what holds. A pause with an end (``--for``) lapses by itself at that
time, whoever reads it; without one it holds until ``autonomic resume``. The daemon's
leader says each change once, in the log and in Slack (``PauseWatch``), and every
replica exports ``autonomic_paused``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from agent.errors import TransientError
from agent.ledger import Ledger
from remediation.durations import format_duration
from remediation.windows import to_utc_text

__all__ = [
    "PAUSE_KEY",
    "Pause",
    "PauseState",
    "PauseWatch",
    "active_pause",
    "pause",
    "read_pause",
    "resume",
]

log = logging.getLogger("autonomic.pause")

PAUSE_KEY = "operator/pause"
HISTORY_KEPT = 50  # past pauses, resumptions and lapses kept in the row


@dataclass(frozen=True)
class Pause:
    """One pause: who, when (epoch seconds), why, and until when (None: until resumed)."""

    by: str
    reason: str
    at: float
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def describe(self) -> str:
        """``paused by cli:alice at 2026-11-24 10:00:00 UTC until 11:00:00 UTC: why``."""
        until = "until resumed" if self.until is None else f"until {to_utc_text(self.until)}"
        return f"paused by {self.by} at {to_utc_text(self.at)}, {until}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "reason": self.reason, "at": self.at, "until": self.until}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Pause:
        until = data.get("until")
        return Pause(
            str(data.get("by", "?")),
            str(data.get("reason", "")),
            float(data.get("at", 0.0)),
            None if until is None else float(until),
        )


@dataclass(frozen=True)
class PauseState:
    """The row as stored: the pause in force (None after a resume), the last change
    (``paused``, ``resumed`` or ``lapsed``, with who and when), whether the daemon has
    said that change yet, and the changes before it, oldest first."""

    pause: Pause | None = None
    last: Mapping[str, Any] | None = None
    announced: bool = True
    history: tuple[Mapping[str, Any], ...] = ()

    def active(self, now: float) -> Pause | None:
        return self.pause if self.pause is not None and self.pause.active(now) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "pause": None if self.pause is None else self.pause.to_json(),
            "last": dict(self.last) if self.last is not None else None,
            "announced": self.announced,
            "history": [dict(h) for h in self.history[-HISTORY_KEPT:]],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PauseState:
        if not data:
            return PauseState()
        raw = data.get("pause")
        return PauseState(
            Pause.from_json(raw) if raw else None,
            data.get("last"),
            bool(data.get("announced", True)),
            tuple(data.get("history") or ()),
        )

    def changed(self, pause: Pause | None, last: Mapping[str, Any]) -> PauseState:
        history = self.history + ((self.last,) if self.last is not None else ())
        return PauseState(pause, dict(last), False, history[-HISTORY_KEPT:])


def read_pause(ledger: Ledger) -> tuple[PauseState, int]:
    value, version = ledger.guard(PAUSE_KEY)
    return PauseState.from_json(value), version


def active_pause(ledger: Ledger, now: float) -> Pause | None:
    """The pause in force at ``now``, or None (none, resumed, or lapsed)."""
    return read_pause(ledger)[0].active(now)


def _write(
    ledger: Ledger, now: float, change: Callable[[PauseState], PauseState | None]
) -> tuple[PauseState, PauseState | None]:
    """Compare-and-set the row: ``change`` returns the new state, or None to leave it.
    Returns the state before and the state written (None: nothing written)."""
    for _ in range(20):
        state, version = read_pause(ledger)
        new = change(state)
        if new is None:
            return state, None
        if ledger.put_guard(PAUSE_KEY, new.to_json(), version, now):
            return state, new
    raise TransientError("the pause kept changing under us; try again", reason="PauseContention")


def pause(
    ledger: Ledger, *, by: str, reason: str, now: float, until: float | None = None
) -> tuple[Pause | None, Pause]:
    """Pause (or replace the pause in force: the newest pause is the one that holds).
    Returns the pause it replaced, if one was in force, and the new one."""
    new = Pause(by, reason, now, until)
    event = {"event": "paused", **new.to_json()}
    before, _ = _write(ledger, now, lambda s: s.changed(new, event))
    return before.active(now), new


def resume(ledger: Ledger, *, by: str, now: float) -> Pause | None:
    """End the pause in force; returns it, or None when there was none (nothing written)."""

    def change(state: PauseState) -> PauseState | None:
        ended = state.active(now)
        if ended is None:
            return None
        return state.changed(
            None, {"event": "resumed", "by": by, "at": now, "ended": ended.to_json()}
        )

    before, written = _write(ledger, now, change)
    return before.active(now) if written is not None else None


class PauseWatch:
    """What the daemon does about the pause at each remediation cycle, on every replica:
    ``autonomic_paused`` set from the ledger, and what readiness says. The leader also
    says each change once, in the log and in the chat (``announce``): a change is marked
    said in the row first, so a new leader does not say it again. A pause whose end has
    passed is recorded as lapsed by the leader, and said."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], float],
        *,
        set_gauge: Callable[[float], None],
        announce: Callable[[str], None],
        is_leader: Callable[[], bool],
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.set_gauge = set_gauge
        self.announce = announce
        self.is_leader = is_leader
        self.current: Pause | None = None  # as last read

    def look(self) -> Pause | None:
        now = self.clock()
        try:
            state, _ = read_pause(self.ledger)
        except TransientError as exc:
            log.warning("could not read the pause from the ledger: %s", exc)
            return self.current
        self.current = state.active(now)
        self.set_gauge(1.0 if self.current is not None else 0.0)
        if self.is_leader():
            self._say(state, now)
        return self.current

    def _say(self, state: PauseState, now: float) -> None:
        lapsed = state.pause is not None and not state.pause.active(now)
        if not lapsed and state.announced:
            return

        def change(s: PauseState) -> PauseState | None:
            if s.pause is not None and not s.pause.active(now):
                ended = s.pause
                last = {"event": "lapsed", "by": "autonomic", "at": ended.until}
                return replace(s.changed(None, {**last, "ended": ended.to_json()}), announced=True)
            if s.announced:
                return None
            return PauseState(s.pause, s.last, True, s.history)

        try:
            _, written = _write(self.ledger, now, change)
        except TransientError as exc:
            log.warning("could not record that the pause was said: %s", exc)
            return
        if written is None or written.last is None:
            return
        text = describe_change(written.last)
        log.warning("%s", text)
        try:
            self.announce(text)
        except Exception:  # the chat is not where the pause holds: the ledger is
            log.exception("could not post to the chat: %s", text)


def describe_change(last: Mapping[str, Any], *, short: bool = False) -> str:
    """One sentence for a change of the pause, as the log and the chat say it (``short``:
    the change alone, as ``pause --status`` lists it)."""
    event = last.get("event")
    ended = Pause.from_json(last.get("ended") or {})
    at = to_utc_text(float(last.get("at") or 0.0))
    if short:
        if event == "paused":
            return Pause.from_json(last).describe()
        if event == "lapsed":
            return f"the pause by {ended.by} lapsed at {at} ({ended.reason})"
        return f"resumed by {last.get('by')} at {at} (the pause by {ended.by}: {ended.reason})"
    if event == "paused":
        p = Pause.from_json(last)
        span = "" if p.until is None else f" (for {format_duration(p.until - p.at)})"
        return (
            f"Autonomic {p.describe()}{span}. Nothing new is done to the cluster: no runbook "
            "action, no approved action, no further step of a run under way, no drain "
            "round, no scaling write, no canary verdict answered to Flagger or Argo "
            "Rollouts that would move a release; observing, "
            "detecting, forecasting and verification go on. `autonomic resume` ends it."
        )
    if event == "lapsed":
        return (
            f"Autonomic's pause by {ended.by} ({ended.reason}) lapsed at {at}, the end it "
            "was given: Autonomic acts again."
        )
    return (
        f"Autonomic resumed by {last.get('by')} at {at} "
        f"(it was paused by {ended.by} since {to_utc_text(ended.at)}: {ended.reason}): "
        "Autonomic acts again."
    )
