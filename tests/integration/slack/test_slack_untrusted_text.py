"""What an alert's text (its generatorURL, labels, annotations) can put in a question."""

from __future__ import annotations

import re
from typing import Any

from agent.adapters.slack_blocks import escalation_blocks, question_blocks, report_blocks
from tests.integration.slack.test_slack_blocks import _decision, _mrkdwn, _question

# Slack mrkdwn's control sequences: a ping, a user or group mention, a link.
_CONTROL = re.compile(r"<(?:!|@|#|https?:|mailto:|javascript:)[^>]*>")


def _messages(evidence: dict[str, Any]) -> list[list[dict[str, Any]]]:
    decision = _decision(evidence=evidence)
    return [
        question_blocks(decision, _question()),
        escalation_blocks(decision, "nobody answered", None),
        report_blocks(decision, "confident enough"),
    ]


def test_a_generator_url_cannot_close_its_link_and_ping_the_channel() -> None:
    """A generatorURL is one token without spaces, but it may hold ``>`` and ``|``:
    written into ``<url|Open the source>`` as it stands, ``https://x/><!channel>`` closed
    the link early and paged the whole channel, and ``https://x/|click`` relabelled it."""
    for url in (
        "https://prom.example/graph?g0.expr=up><!channel>",
        "https://prom.example/graph|Approve%20here><@U0BOSS>",
        "https://prom.example/a<!subteam^S0ALL>",
    ):
        for blocks in _messages({"signal": {"generatorURL": url}}):
            texts = _mrkdwn(blocks)
            links = [t for t in texts if "Open the source" in t]
            assert len(links) == 1, texts
            # One link, ours: its label is ours, and nothing else Slack would act on.
            assert _CONTROL.findall(links[0]) == [links[0]]
            assert links[0].endswith("|Open the source>")
            assert "<!" not in links[0] and "<@" not in links[0]
            assert links[0].count("|") == 1


def test_a_generator_url_keeps_working_when_escaped() -> None:
    """``&`` in a link is written ``&amp;`` (Slack reads it back as ``&``)."""
    url = "http://prom.example/graph?g0.expr=up&g0.tab=1"
    blocks = question_blocks(_decision(evidence={"generatorURL": url}), _question())
    assert "<http://prom.example/graph?g0.expr=up&amp;g0.tab=1|Open the source>" in _mrkdwn(blocks)


def test_a_huge_generator_url_does_not_break_the_message() -> None:
    """Alertmanager's payload allows a generatorURL of 8 KiB; a context element's text
    may hold 3000 characters, so the link made the whole post fail (invalid_blocks) and
    the question was not asked in Slack. Too long a link is left out."""
    url = "https://prom.example/graph?g0.expr=" + "x" * 8000
    for blocks in _messages({"signal": {"generatorURL": url}}):
        assert all(len(text) <= 3000 for text in _mrkdwn(blocks))
        assert len(blocks) <= 50


def _strings(node: Any) -> list[str]:
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def test_control_bidi_and_invisible_characters_are_posted_as_escapes() -> None:
    """An Event's text (whoever may create an Event), an alert's annotations and a
    decision's reason quoting them: a character Slack's clients would act on or hide
    (an ESC sequence, a carriage return, a bidi override, a zero-width space) is posted
    as its escape (``\\x1b``, ``\\u202e``), in the question, the escalation and the
    report alike."""
    from remediation.events import fold_events
    from remediation.ports import ObjectEvent
    from tests.unit.test_shown_text import HOSTILE

    for kind, (raw, shown) in HOSTILE.items():
        events = fold_events(
            [ObjectEvent(f"Pod/web-{raw}", "Warning", f"Bad{raw}", f"said {raw} end", 2, None)]
        )
        evidence = {"events": events, "signal": {"annotations": {"summary": f"sum {raw} end"}}}
        decision = _decision(evidence=evidence, reason=f"alert says {raw} end")
        for blocks in (
            question_blocks(decision, _question()),
            escalation_blocks(decision, f"nobody {raw} answered", None),
            report_blocks(decision, "confident enough"),
        ):
            texts = _strings(blocks)
            hidden = [t for t in texts if not all(c in "\n\t" or c.isprintable() for c in t)]
            assert hidden == [], kind
            said = "\n".join(_mrkdwn(blocks))
            assert f"alert says {shown} end" in said, kind
            assert f"Warning Bad{shown} ×2 on Pod/web-{shown}: said {shown} end" in said, kind
        question = "\n".join(_mrkdwn(question_blocks(decision, _question())))
        assert f"alert summary: sum {shown} end" in question, kind


def test_an_emoji_sequence_is_posted_whole_in_a_reason_an_answer_and_a_long_event() -> None:
    """A joiner that is part of an emoji is not a hidden character: a person's answer,
    a decision's reason and an Event line long enough to be cut keep the emoji whole,
    as Slack shows it."""
    from remediation.events import fold_events
    from remediation.ports import ObjectEvent

    emoji = "\U0001f469\u200d\U0001f4bb"
    events = fold_events(
        [ObjectEvent("Pod/web-1", "Warning", "BackOff", f"{emoji} {'x' * 400}", 1, None)],
        message_chars=500,
    )
    decision = _decision(evidence={"events": events}, reason=f"paged {emoji} twice")
    answered = _question(
        status="rejected", answered_by="U123", answered_at=0.0, answer_reason=f"mine {emoji}"
    )
    said = "\n".join(_mrkdwn(question_blocks(decision, answered)))
    assert f"paged {emoji} twice" in said
    assert f"mine {emoji}" in said
    assert f"Warning BackOff on Pod/web-1: {emoji} xxx" in said
    assert "\\u200d" not in said
