"""How an anomaly incident ended, as the anomaly loop saves it, and the remediation
engine's reading of it before a run's first write (docs/decisions.md, "A signal gone
before the first write").

The anomaly loop (``agent.loops.anomaly``) saves each series' state in the ledger's guard
table under ``anomaly/SERIES``, SERIES being the detector's series key
(``query{label=value,...}``). Of that record this module reads only the small parts:
``tracker.current`` (the open incident, if any), ``closed`` (the last incident that
ended: when it opened, ``since``; when it ended, ``closed_at``; and how, ``how``),
``last_real`` (the time of the series' last real point), ``target`` (its workload),
``opened`` (while an incident is open: what the signal sent for it said) and the
detector's ``step``.

How an incident ends (``how``):

- ``recovered``: its series was back to normal for the tracker's quiet period (10 points
  in a row inside the expected band or below the keep confidence; the detector damps
  the score of the points after the one that opened it, so a low score alone does not
  count: a level that stays out keeps its incident open);
- ``silent``: its series had no data for ``GAP_RESETS_INCIDENT`` steps, and the incident
  was dropped when data came back: nothing is known of how it went meanwhile.

A record saved before ``how`` was kept has none: how it ended is unknown, and it is never
taken as over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediation.ports import ObjectRef
from remediation.signals import Signal, anomaly_signal
from remediation.windows import to_utc_text

__all__ = [
    "GAP_RESETS_INCIDENT",
    "RECOVERED",
    "SILENT",
    "Judged",
    "judge",
    "may_name",
    "open_signal",
]

RECOVERED = "recovered"
SILENT = "silent"
GAP_RESETS_INCIDENT = 30  # steps of no data after which an open incident is dropped


@dataclass(frozen=True)
class Judged:
    """Whether the incident a decision was made on is over; ``why`` says it either way."""

    over: bool
    why: str


def judge(
    series: str, since: float, saved: Mapping[str, Any] | None, decided_at: float, now: float
) -> Judged:
    """Whether the incident of ``series`` that opened at ``since`` ended ``recovered`` after
    ``decided_at``, by ``saved`` (the series' ledger record; None if there is none). Any
    doubt is "not over": no record, the incident still open (its series silent or not), a
    newer incident on the series, an end that is silent, unknown, or before the decision."""
    opened = _time(since)
    if saved is None:
        return Judged(False, f"the anomaly loop has saved no state for its series {series}")
    try:
        current = saved["tracker"]["current"]
        closed = saved.get("closed")
        if current is not None:
            start = float(current["opened_at"])
            if _same(start, since):
                last = float(saved.get("last_real") or 0.0)
                if now - last > GAP_RESETS_INCIDENT * _step(saved):
                    return Judged(
                        False,
                        f"its series {series} has had no data since {_time(last)}, so its "
                        f"incident (since {opened}) is not known to be over",
                    )
                return Judged(False, f"its incident on {series} (since {opened}) is still open")
            if start > since:
                return _newer(series, start, opened)
        if closed:
            start, end = float(closed["since"]), float(closed["closed_at"])
            how = closed.get("how")
            if not _same(start, since):
                if start > since:
                    return _newer(series, start, opened)
            elif how == RECOVERED:
                if end < decided_at:
                    return Judged(
                        False,
                        f"its incident on {series} (since {opened}) recovered at {_time(end)}, "
                        f"before this decision was made ({_time(decided_at)})",
                    )
                return Judged(
                    True,
                    f"the anomaly incident on {series} that started it (since {opened}) "
                    f"recovered at {_time(end)} (its series back within its expected band)",
                )
            elif how == SILENT:
                return Judged(
                    False,
                    f"its incident on {series} (since {opened}) was dropped: the series had "
                    f"no data from {_time(end)} for {GAP_RESETS_INCIDENT} steps or more, so "
                    "it is not known to be over",
                )
            else:
                return Judged(
                    False,
                    f"its incident on {series} (since {opened}) ended at {_time(end)}, but how "
                    "was not saved (a state saved before the anomaly loop kept it), so it is "
                    "not known to be over",
                )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return Judged(False, f"the saved state of its series {series} is unreadable ({exc})")
    return Judged(
        False,
        f"the saved state of its series {series} has its incident (since {opened}) neither "
        "open nor ended",
    )


def open_signal(series: str, saved: Mapping[str, Any], now: float) -> Signal | None:
    """The anomaly signal of the incident open on ``series`` by its ledger record
    ``saved``, as the loop sent it (its labels, peak, band and confidence), or None: no
    incident open, its series silent for ``GAP_RESETS_INCIDENT`` steps (the loop no longer
    counts it open: its next point drops it), or no workload. A record saved before the
    signal was kept with it gives one with its workload's labels only and confidence 1:
    in doubt, it counts."""
    try:
        current = saved["tracker"]["current"]
        if current is None or saved.get("target") is None:
            return None
        if now - float(saved.get("last_real") or 0.0) > GAP_RESETS_INCIDENT * _step(saved):
            return None
        kind, name, namespace = saved["target"]
        target = ObjectRef(str(kind), str(name), namespace)  # type: ignore[arg-type]
        sent = saved.get("opened") or {}
        start = float(current["opened_at"])
        return anomaly_signal(
            metric=series.split("{", 1)[0],
            target=target,
            observed=float(sent.get("observed", current["peak_observed"])),
            lower=float(sent.get("lower", current["peak_lower"])),
            upper=float(sent.get("upper", current["peak_upper"])),
            score=float(sent.get("score", 0.0)),
            confidence=float(sent.get("confidence", 1.0)),
            at=start,
            labels={str(k): str(v) for k, v in (sent.get("labels") or {}).items()},
            incident_start=start,
            series=series,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # unreadable: restoring it says so, in the loop's log


def may_name(series: str, target: ObjectRef) -> bool:
    """Whether ``series`` (a series key) has a label whose value is ``target``'s name: an
    anomaly signal's object comes from its labels (its workload, or a node, a claim it
    names), so a series without it cannot start a run on ``target``. Only a filter, to
    read fewer records; what starts what is judged on the signal."""
    return f"={target.name}," in series or series.endswith(f"={target.name}}}")


def _newer(series: str, start: float, opened: str) -> Judged:
    return Judged(
        False,
        f"a new incident on {series} opened at {_time(start)}, after the one it was decided "
        f"on (since {opened})",
    )


def _step(saved: Mapping[str, Any]) -> float:
    return float(saved["detector"]["step"])


def _same(a: float, b: float) -> bool:
    return abs(a - b) < 0.5


def _time(at: float) -> str:
    return to_utc_text(at)
