"""What became of each runbook a signal reached: counted, and when held back, kept.

"It saw the problem; why did it not act?" Every (signal, runbook) pair whose trigger
accepted the signal ends in one outcome (``Handled``): decided, duplicate (the incident
or the target already has a decision), skipped (planning or a precondition found nothing
to do), denied (a guard held it) or no-match (the target could not be selected: not
opted in, excluded, no object named) or failed (handling the signal raised an error
Autonomic does not expect). Each is counted in
``autonomic_runbook_outcomes_total{runbook, outcome, reason}``.

The four that are not decisions are *held back*, and are kept in the ledger's
``held_back`` table, one row per (runbook, subject, reason code) with its first and last
sighting, how many times and the latest message and signal, for ``autonomic why``.

A Kubernetes condition is seen again every cycle, so the ledger is not written every
cycle. A key *appears* when this process sees it for the first time, or again after its
subject was held back only by other reasons (the reason changed); an appearance is
written at once, together with the rows of the reasons its subject was held back by
until then, and logged at INFO. A key that goes on is written at most once per
``WRITE_EVERY``, its count added then. A key whose reason flaps (back and forth every
cycle) appears at most once per ``WRITE_EVERY`` too, so writes and log lines stay bounded
per key whatever the cluster does.

Not recorded: decisions (the decision is the record: ``autonomic explain``), duplicates
(they point at a decision), and signals no runbook's trigger accepts (a condition nobody
wrote a runbook for, a pod not yet past a trigger's ``heldFor`` or ``minCount``): every
pod that is briefly not ready would otherwise be a row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.errors import TransientError
from agent.ledger import HeldBack, Ledger
from agent.observability import Metrics

if TYPE_CHECKING:
    from agent.remediation_engine import Handled

__all__ = ["HELD_BACK", "NO_RUNBOOK", "WRITE_EVERY", "RunbookOutcomes"]

log = logging.getLogger("autonomic.remediation")

HELD_BACK = frozenset({"skipped", "denied", "no-match", "failed"})
# The runbook column of an alert no runbook's trigger names (reason ``NoRunbook``).
NO_RUNBOOK = "(none)"
WRITE_EVERY = 300.0  # seconds between two writes of a key still held back
# A key not seen for this long is forgotten here (its row stays in the ledger): seen
# again, it appears again.
FORGET_AFTER = 2 * WRITE_EVERY
WRITES_PER_CYCLE = 500  # rows per cycle at most (a storm of new keys: the rest next cycle)
SAID_PER_CYCLE = 20  # INFO lines per cycle at most; the rest are summed up in one

Key = tuple[str, str, str]  # runbook, subject, reason code
Pair = tuple[str, str]  # runbook, subject


@dataclass
class _Seen:
    """One key as this process saw it."""

    outcome: str
    message: str
    signal: str
    first_seen: float
    last_seen: float
    appeared_at: float
    unwritten: int = 0  # times held back since the last write
    written_at: float | None = None


class RunbookOutcomes:
    """Counts every runbook outcome and keeps the held-back ones (see the module)."""

    def __init__(
        self, ledger: Ledger, metrics: Metrics, *, write_every: float = WRITE_EVERY
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.write_every = write_every
        self._seen: dict[Key, _Seen] = {}
        self._pairs: dict[Pair, float] = {}  # when each pair was last held back
        self.writes = 0  # ledger writes made (one transaction each)

    def record(self, outcomes: Sequence[Handled], now: float) -> None:
        """Count ``outcomes`` (one cycle's) and keep what was held back. A ledger that
        cannot be written now is tried again next cycle, the counts kept meanwhile: it
        does not stop the cycle from running what is approved."""
        for item in outcomes:
            if item.runbook is None:
                continue
            self.metrics.runbook_outcomes.labels(
                runbook=item.runbook, outcome=item.outcome, reason=item.reason_code
            ).inc()
        appeared: list[Key] = []
        pairs: set[Pair] = set()
        for item in outcomes:
            runbook = item.runbook or (NO_RUNBOOK if item.reason_code == "NoRunbook" else None)
            if item.outcome not in HELD_BACK or runbook is None or item.subject is None:
                continue
            key = (runbook, item.subject, item.reason_code)
            pair = (runbook, item.subject)
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = _Seen(
                    item.outcome, item.message, item.signal, now, now, appeared_at=now
                )
                appeared.append(key)
            elif seen.last_seen < self._pairs.get(pair, -1.0) < now and (
                now - seen.appeared_at >= self.write_every
            ):
                # Back after the pair was held back by something else only.
                seen.appeared_at = now
                appeared.append(key)
            seen.outcome, seen.message, seen.signal = item.outcome, item.message, item.signal
            seen.last_seen = now
            seen.unwritten += 1
            pairs.add(pair)
        for pair in pairs:
            self._pairs[pair] = now
        self._say(appeared, now)
        self._write(appeared, now)
        self._forget(now)

    def _due(self, appeared: Sequence[Key], now: float) -> list[Key]:
        """Keys that appeared, with the other keys of their subjects that have counts to
        add (their rows end here, or go on alongside); then the keys whose last write is
        ``write_every`` old and that have counts to add."""
        changed = {key[:2] for key in appeared}
        due = list(appeared)
        due += [
            key
            for key, seen in self._seen.items()
            if seen.unwritten and key[:2] in changed and key not in appeared
        ]
        taken = set(due)
        due += [
            key
            for key, seen in self._seen.items()
            if seen.unwritten
            and key not in taken
            and (seen.written_at is None or now - seen.written_at >= self.write_every)
        ]
        return due[:WRITES_PER_CYCLE]

    def _write(self, appeared: Sequence[Key], now: float) -> None:
        due = self._due(appeared, now)
        if not due:
            return
        rows = [
            HeldBack(
                runbook=key[0],
                subject=key[1],
                reason_code=key[2],
                outcome=seen.outcome,
                message=seen.message,
                signal=seen.signal,
                first_seen=seen.first_seen,
                last_seen=seen.last_seen,
                times=seen.unwritten,
            )
            for key in due
            for seen in [self._seen[key]]
        ]
        try:
            self.ledger.record_held_back(rows)
        except TransientError as exc:
            log.warning("could not record what runbooks were held back from (next cycle): %s", exc)
            return
        self.writes += 1
        for key in due:
            self._seen[key].unwritten = 0
            self._seen[key].written_at = now

    def _say(self, appeared: Sequence[Key], now: float) -> None:
        """One INFO line for each key that appeared (the first ``SAID_PER_CYCLE``), with
        what else its subject is, or was until now, held back by."""
        for key in appeared[:SAID_PER_CYCLE]:
            runbook, subject, reason = key
            seen = self._seen[key]
            others = [(k[2], s.last_seen) for k, s in self._seen.items() if k[:2] == key[:2]]
            was = sorted(code for code, at in others if at < now)
            also = sorted(code for code, at in others if at >= now and code != reason)
            context = (f" (was: {', '.join(was)})" if was else "") + (
                f" (also: {', '.join(also)})" if also else ""
            )
            log.info(
                "no runbook takes up a signal on %s: %s [%s %s]%s"
                if runbook == NO_RUNBOOK
                else "runbook %s held back on %s: %s [%s %s]%s",
                *([] if runbook == NO_RUNBOOK else [runbook]),
                subject,
                seen.message,
                seen.outcome,
                reason,
                context,
                extra={"runbook": runbook, "reason": reason, "target": subject},
            )
        if len(appeared) > SAID_PER_CYCLE:
            log.info(
                "%d more runbooks held back, or for another reason, this cycle "
                "(autonomic why lists them)",
                len(appeared) - SAID_PER_CYCLE,
            )

    def _forget(self, now: float) -> None:
        """Drop keys not seen for ``FORGET_AFTER`` whose counts are written, so memory
        holds what is held back now, not every pod there ever was."""
        for key in [
            key
            for key, seen in self._seen.items()
            if not seen.unwritten and now - seen.last_seen >= FORGET_AFTER
        ]:
            del self._seen[key]
        for pair in [pair for pair, at in self._pairs.items() if now - at >= FORGET_AFTER]:
            del self._pairs[pair]
