"""A target's recent Kubernetes Events, folded into the few lines a person reads first.

``kubectl describe`` is an on-call engineer's first look at a broken object: BackOff,
FailedScheduling, FailedCreate, Unhealthy, OOMKilling. A remediation decision keeps the
same in its evidence (``evidence.events``), for the Slack question or escalation and
``autonomic explain``. Events of one type and reason are folded into one entry (their
counts added, the newest time and message kept, the objects they are about named), and
only a handful are kept: the newest Warnings first, then Normal ones while there is room.
An Event's text is anyone's (whoever may create an Event, a controller quoting a user's
input): its type, reason, message and object names are kept as ``forecasting.text``'s
``shown_text`` writes them, each control, bidi or invisible character escaped
(``\\x1b``, ``\\u202e``), so neither a terminal nor Slack acts on one; the lines are
escaped again as they are written (evidence folded before this rule), each on one line.
Pure: the reading is the adapter's (``ports.EventReader``), the noting of a failure the
engine's.

    folded = fold_events(read.events, about=read.about)
    evidence["events"] = folded              # {"shown": [...], "read": 12, ...}
    lines = event_lines(evidence["events"])  # one sentence per entry
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from forecasting.text import shown_text
from remediation.ports import ObjectEvent, ObjectRef
from remediation.windows import to_utc_text

__all__ = [
    "ABOUT_NAMED",
    "EVENTS_SHOWN",
    "MESSAGE_CHARS",
    "OBJECTS_NAMED",
    "event_lines",
    "fold_events",
    "unread_events",
]

# At most this many folded entries per decision: a question is read in seconds.
EVENTS_SHOWN = 5
# An Event's message is cut to this many characters (a kubelet's can run to kilobytes:
# a whole image pull error, a probe's output).
MESSAGE_CHARS = 300
# The objects an entry names before it says how many more.
OBJECTS_NAMED = 3
# The objects whose Events were read that the evidence names (the target, its current
# ReplicaSet, its first pods) before it counts the rest: a Deployment of a thousand pods
# would otherwise put a thousand names in each decision's evidence.
ABOUT_NAMED = 10

_SPACES = re.compile(r"\s+")


def _one_line(text: str) -> str:
    """``text`` escaped (``shown_text``) on one line: a newline in a reason or a name
    would start a line that reads as one of ours."""
    return _SPACES.sub(" ", shown_text(text)).strip()


def _cut(text: str, limit: int) -> str:
    # Escaped first: the cut counts the characters shown (a carriage return is one of
    # them, as ``\\x0d``, not a space).
    flat = _one_line(text)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def fold_events(
    events: Iterable[ObjectEvent],
    *,
    about: Sequence[ObjectRef] = (),
    left_out: str | None = None,
    shown: int = EVENTS_SHOWN,
    message_chars: int = MESSAGE_CHARS,
) -> dict[str, Any]:
    """``events`` as a decision's evidence keeps them (JSON): ``shown``, at most
    ``shown`` entries, each ``type``, ``reason``, ``message`` (the newest, cut to
    ``message_chars``), ``count`` (added over the Events folded), ``last_seen`` (ISO 8601,
    None when no Event said), ``objects`` (the kind/name of those it is about, at most
    ``OBJECTS_NAMED``) and ``more_objects``; ``read``, how many Events were read;
    ``more``, how many entries were left out; ``about``, the objects whose Events were
    read (at most ``ABOUT_NAMED``, the first given first) and ``about_more``, how many
    more were (only when some were left unnamed); ``left_out``, what was not read, when
    something was not.

    One entry per type and reason. Warnings come first, newest first, then Normal
    Events (any type but ``Warning``) while there is room. Events with no time sort
    last in their type; ties go by reason, so the order never depends on the reading's."""
    groups: dict[tuple[bool, str], list[ObjectEvent]] = {}
    read = 0
    for event in events:
        read += 1
        reason = _one_line(event.reason) or "?"
        groups.setdefault((event.type == "Warning", reason), []).append(event)

    def newest(group: list[ObjectEvent]) -> ObjectEvent:
        return max(group, key=lambda e: (e.last_seen is not None, e.last_seen or 0.0))

    def order(item: tuple[tuple[bool, str], list[ObjectEvent]]) -> tuple[bool, float, str]:
        (warning, reason), group = item
        last = newest(group).last_seen
        return (not warning, -(last if last is not None else float("-inf")), reason)

    entries: list[dict[str, Any]] = []
    ranked = sorted(groups.items(), key=order)
    for (warning, reason), group in ranked[:shown]:
        last = newest(group)
        objects = sorted({_one_line(e.about) for e in group})
        entries.append(
            {
                "type": "Warning" if warning else (_one_line(last.type) or "Normal"),
                "reason": reason,
                "message": _cut(last.message, message_chars),
                "count": sum(max(1, e.count) for e in group),
                "last_seen": (_iso_seconds(last.last_seen) if last.last_seen is not None else None),
                "objects": objects[:OBJECTS_NAMED],
                "more_objects": max(0, len(objects) - OBJECTS_NAMED),
            }
        )
    return {
        "shown": entries,
        "read": read,
        "more": max(0, len(ranked) - shown),
        "about": [_one_line(str(ref)) for ref in about[:ABOUT_NAMED]],
        **({"about_more": len(about) - ABOUT_NAMED} if len(about) > ABOUT_NAMED else {}),
        **({"left_out": _one_line(left_out)} if left_out else {}),
    }


def unread_events(why: str) -> dict[str, Any]:
    """The evidence of Events that could not be read: the decision goes on without
    them, and says why (``events: not readable: ...``)."""
    return {"unread": why}


def _iso_seconds(at: float) -> str:
    # ISO 8601 to the second: an Event's time, unlike a window's, is read to the second.
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(iso: object) -> str:
    """``2026-11-25 06:02:10 UTC`` from the ISO time an entry keeps, or the value as
    it is when it does not read as one."""
    if not isinstance(iso, str):
        return "?"
    try:
        return to_utc_text(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return iso


def event_lines(events: Mapping[str, Any]) -> list[str]:
    """``evidence.events`` in sentences, one per entry, for Slack, ``autonomic explain``
    and ``autonomic approvals``: ``Warning BackOff ×12 (last 2026-11-25 06:02:10 UTC) on
    Pod/web-7d9f-x2k4q and 2 more: Back-off restarting failed container``; then what was
    left out. Events that could not be read are one line, ``not readable: WHY``; none
    read, ``none recent``. Each line is escaped by ``shown_text`` and kept on one line
    (the evidence of a decision folded before Events were escaped is not trusted)."""
    unread = events.get("unread")
    if unread:
        return [_one_line(f"not readable: {unread}")]
    lines: list[str] = []
    shown = events.get("shown")
    for entry in shown if isinstance(shown, list) else []:
        if not isinstance(entry, Mapping):
            continue
        count = entry.get("count")
        times = f" ×{count}" if isinstance(count, int) and count > 1 else ""
        objects = [str(o) for o in entry.get("objects") or []]
        more = entry.get("more_objects")
        on = ", ".join(objects) + (f" and {more} more" if isinstance(more, int) and more else "")
        last = entry.get("last_seen")
        lines.append(
            f"{entry.get('type', '?')} {entry.get('reason', '?')}{times}"
            + (f" (last {_when(last)})" if last else "")
            + (f" on {on}" if on else "")
            + f": {entry.get('message', '')}"
        )
    if not lines:
        lines.append("none recent")
    more = events.get("more")
    if isinstance(more, int) and more > 0:
        lines.append(f"{more} more reason{'' if more == 1 else 's'} not shown")
    if events.get("left_out"):
        lines.append(f"not read: {events['left_out']}")
    return [_one_line(line) for line in lines]
