"""Plain messages (a thread's line, a note, an announcement) longer than Slack takes.

Slack refuses a message whose ``text`` is over 40,000 characters (``msg_too_long``), as
the stand-in does: such a line was lost whole. It is cut instead, the cut said."""

from __future__ import annotations

import re

from agent.adapters.slack import SlackChannel
from agent.adapters.slack_blocks import plain_text
from tests.fakeslack.server import TEXT_LIMIT
from tests.integration.slack.conftest import CHANNEL, Rig

_MARKER = re.compile(r"… \(cut: (\d+) characters more\)$")


def _channel(rig: Rig) -> SlackChannel:
    channel = rig.receiver.channel
    assert channel is not None
    return channel


def _cut_of(text: str, given: str) -> None:
    """``text`` is ``given`` cut, within Slack's limit, and says how much was left out."""
    assert len(text) <= TEXT_LIMIT
    found = _MARKER.search(text)
    assert found is not None, text[-80:]
    kept = text[: found.start()]
    assert given.startswith(kept)
    assert int(found.group(1)) == len(given) - len(kept)


def test_a_long_thread_line_and_note_are_cut_not_lost(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    [message] = rig.slack.top_level()
    long = "Alert description: " + "the pods keep restarting " * 3000  # 75,019 characters
    channel = _channel(rig)

    channel.thread(rig.question(asked.question_id), long)
    channel.note(asked.message_ref, long)

    replies = rig.slack.replies(message.channel, message.ts)
    assert len(replies) == 2
    for reply in replies:
        _cut_of(reply.text, long)


def test_a_long_announcement_is_cut_not_lost(rig: Rig) -> None:
    long = "Autonomic paused by cli:hana: " + "x" * 50_000
    _channel(rig).announce(long)
    [said] = [m.text for m in rig.slack.messages.values() if m.channel == CHANNEL]
    _cut_of(said, long)


def test_a_short_text_is_only_escaped() -> None:
    assert plain_text("a <b> & c") == "a &lt;b&gt; &amp; c"


def test_the_cut_counts_characters_as_given_and_never_splits_an_escape() -> None:
    """``&`` becomes five characters once escaped: the limit holds on the escaped text,
    the count of what was left out on the text as given, and no ``&amp;`` is cut in two."""
    given = "&" * 20_000
    shown = plain_text(given, limit=1000)
    assert len(shown) <= 1000
    found = _MARKER.search(shown)
    assert found is not None
    kept = shown[: found.start()]
    assert kept == "&amp;" * (len(kept) // 5)
    assert int(found.group(1)) == len(given) - len(kept) // 5
