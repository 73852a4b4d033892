"""A target's recent Kubernetes Events folded for a decision's evidence: one entry per
type and reason, Warnings first and newest first, a handful at most, messages cut."""

from __future__ import annotations

import json

from remediation.events import (
    EVENTS_SHOWN,
    MESSAGE_CHARS,
    event_lines,
    fold_events,
    unread_events,
)
from remediation.ports import ObjectEvent, ObjectRef

T0 = 1_794_996_000.0  # 2026-11-18 10:00:00 UTC
WEB = ObjectRef("Deployment", "web", "shop")


def event(
    reason: str,
    at: float | None,
    *,
    kind: str = "Warning",
    about: str = "Pod/web-1",
    count: int = 1,
    message: str = "it happened",
) -> ObjectEvent:
    return ObjectEvent(about, kind, reason, message, count, at)


def test_same_reason_is_one_entry_with_counts_added_and_the_newest_message() -> None:
    folded = fold_events(
        [
            event("BackOff", T0, about="Pod/web-1", count=4, message="old words"),
            event("BackOff", T0 + 60, about="Pod/web-2", count=3, message="Back-off restarting"),
            event("BackOff", T0 + 30, about="Pod/web-1", count=2),
        ],
        about=[WEB],
    )
    assert folded["read"] == 3 and folded["more"] == 0
    assert folded["about"] == ["Deployment/shop/web"]
    (entry,) = folded["shown"]
    assert entry == {
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting",
        "count": 9,
        "last_seen": "2026-11-18T10:01:00Z",
        "objects": ["Pod/web-1", "Pod/web-2"],
        "more_objects": 0,
    }


def test_warnings_first_newest_first_then_normal_while_there_is_room() -> None:
    events = [
        event("Scheduled", T0 + 500, kind="Normal"),
        event("Pulled", T0 + 400, kind="Normal"),
        event("Unhealthy", T0 + 10),
        event("BackOff", T0 + 300),
        event("FailedScheduling", None),  # no time: last among the Warnings
        event("OOMKilling", T0 + 200),
    ]
    folded = fold_events(events, shown=5)
    assert [e["reason"] for e in folded["shown"]] == [
        "BackOff",
        "OOMKilling",
        "Unhealthy",
        "FailedScheduling",
        "Scheduled",
    ]
    assert folded["more"] == 1  # Pulled: no room
    assert folded["shown"][3]["last_seen"] is None


def test_at_most_a_handful_even_of_warnings() -> None:
    events = [event(f"Reason{i}", T0 + i) for i in range(EVENTS_SHOWN + 4)]
    folded = fold_events(events)
    assert len(folded["shown"]) == EVENTS_SHOWN
    assert folded["more"] == 4
    assert folded["shown"][0]["reason"] == f"Reason{EVENTS_SHOWN + 3}"  # the newest


def test_long_message_is_flattened_and_cut() -> None:
    long = "Failed to pull image\n\n  " + "x" * 5000
    (entry,) = fold_events([event("Failed", T0, message=long)])["shown"]
    assert len(entry["message"]) == MESSAGE_CHARS
    assert entry["message"].startswith("Failed to pull image x")
    assert entry["message"].endswith("…")
    assert "\n" not in entry["message"]


def test_many_objects_are_named_up_to_three() -> None:
    events = [event("BackOff", T0, about=f"Pod/web-{i}") for i in range(7)]
    (entry,) = fold_events(events)["shown"]
    assert entry["objects"] == ["Pod/web-0", "Pod/web-1", "Pod/web-2"]
    assert entry["more_objects"] == 4
    (line,) = event_lines(fold_events(events))
    assert "on Pod/web-0, Pod/web-1, Pod/web-2 and 4 more" in line


def test_lines_say_type_reason_count_time_object_and_message() -> None:
    folded = fold_events(
        [event("BackOff", T0 + 62, count=12, message="Back-off restarting failed container")],
        left_out="the Events of its pods (the Event cache had not listed yet)",
    )
    assert event_lines(folded) == [
        "Warning BackOff ×12 (last 2026-11-18 10:01:02 UTC) on Pod/web-1: "
        "Back-off restarting failed container",
        "not read: the Events of its pods (the Event cache had not listed yet)",
    ]


def test_none_read_and_unreadable() -> None:
    assert event_lines(fold_events([])) == ["none recent"]
    why = 'events is forbidden: User "autonomic" cannot list resource "events"'
    assert event_lines(unread_events(why)) == [f"not readable: {why}"]


def test_the_objects_read_are_kept_a_few_by_name_and_the_rest_counted() -> None:
    # A Deployment of 800 pods: every decision about it (and each hand-off) kept all
    # 800 refs in its evidence, about 30 KB in the ledger for a list no view shows.
    pods = [ObjectRef("Pod", f"web-7d9f-{i:05d}", "shop") for i in range(800)]
    current = ObjectRef("ReplicaSet", "web-7d9f", "shop")
    folded = fold_events([event("BackOff", T0)], about=[WEB, current, *pods])
    assert folded["about"][:3] == [str(WEB), str(current), str(pods[0])]
    assert len(folded["about"]) <= 10
    assert folded["about_more"] == 802 - len(folded["about"])
    assert len(json.dumps(folded)) < 2_000
    # A few: all named, no count.
    assert "about_more" not in fold_events([], about=[WEB, current])


def test_text_written_by_anyone_is_kept_and_shown_escaped() -> None:
    # An Event's reason, message and object name are whoever created it's (or a
    # controller's quoting a user): each control, bidi or invisible character is kept
    # as its escape, so the ledger, `GET /approvals`, Slack and the CLI never carry it.
    from tests.unit.test_shown_text import HOSTILE

    for kind, (raw, shown) in HOSTILE.items():
        folded = fold_events(
            [event(f"Bad{raw}", T0, about=f"Pod/web-{raw}", message=f"said {raw} end")]
        )
        (entry,) = folded["shown"]
        assert entry["reason"] == f"Bad{shown}", kind
        assert entry["message"] == f"said {shown} end", kind
        assert entry["objects"] == [f"Pod/web-{shown}"], kind
        (line,) = event_lines(folded)
        assert line.startswith(f"Warning Bad{shown} (last "), kind
        assert line.endswith(f"on Pod/web-{shown}: said {shown} end"), kind


def test_a_newline_in_a_reason_or_name_cannot_start_a_line_of_its_own() -> None:
    folded = fold_events([event("Bad\nnot read: nothing", T0, about="Pod/a\nWarning Fake")])
    assert [entry["reason"] for entry in folded["shown"]] == ["Bad not read: nothing"]
    assert len(event_lines(folded)) == 1


def test_evidence_folded_before_the_escaping_is_escaped_as_it_is_shown() -> None:
    # A decision in the ledger from before: its Events' text as the cluster wrote it.
    raw, shown = "\x1b]0;pwned\x07\u202eok\r", "\\x1b]0;pwned\\x07\\u202eok\\x0d"
    old = {
        "shown": [
            {
                "type": "Warning",
                "reason": f"Bad{raw}",
                "message": raw,
                "count": 1,
                "last_seen": None,
                "objects": [f"Pod/{raw}"],
                "more_objects": 0,
            }
        ],
        "read": 1,
        "more": 0,
        "left_out": f"the Events of 1 more\n{raw}",
    }
    assert event_lines(old) == [
        f"Warning Bad{shown} on Pod/{shown}: {shown}",
        f"not read: the Events of 1 more {shown}",
    ]
    assert event_lines(unread_events(f"403 {raw}")) == [f"not readable: 403 {shown}"]
