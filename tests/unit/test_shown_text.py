"""Text anyone wrote (an Event's message, an alert's annotation) shown on a terminal or
in Slack: each character either would act on rather than show, or hide, is written as
its escape (``forecasting.text.shown_text``); the rest is left as it is."""

from __future__ import annotations

import pytest

from forecasting.text import shown_text

# One sample of each class of character that must not reach a terminal or a chat as
# it is, and how it is shown. Other tests (the Events' folding, Slack, the CLI) take
# these samples too.
HOSTILE: dict[str, tuple[str, str]] = {
    "ESC clearing the screen": ("a\x1b[2Jb", "a\\x1b[2Jb"),
    "OSC 8 hyperlink": (
        "\x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\",
        "\\x1b]8;;https://evil.example/\\x1b\\docs\\x1b]8;;\\x1b\\",
    ),
    "OSC window title ended by BEL": ("\x1b]0;pwned\x07ok", "\\x1b]0;pwned\\x07ok"),
    "C1 CSI": ("a\x9b2Jb", "a\\x9b2Jb"),
    "NUL and DEL": ("a\x00b\x7fc", "a\\x00b\\x7fc"),
    "carriage return overwriting the line": ("all bad\rall good", "all bad\\x0dall good"),
    "bidi override": ("abc\u202edcba", "abc\\u202edcba"),
    "bidi isolate": ("x\u2066y\u2069z", "x\\u2066y\\u2069z"),
    "zero-width space": ("ad\u200bmin", "ad\\u200bmin"),
    "zero-width joiner and BOM": ("a\u200db\ufeffc", "a\\u200db\\ufeffc"),
    "line separator": ("a\u2028b", "a\\u2028b"),
    "tag character": ("a\U000e0041b", "a\\U000e0041b"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_each_class_is_shown_as_its_escape(kind: str) -> None:
    raw, shown = HOSTILE[kind]
    assert shown_text(raw) == shown
    # Nothing left that a terminal would act on or hide; shown again, no change.
    assert all(c in "\n\t" or c.isprintable() for c in shown_text(raw))
    assert shown_text(shown_text(raw)) == shown_text(raw)


def test_every_bidi_control_is_escaped() -> None:
    for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]:
        assert shown_text(f"a{chr(code)}b") == f"a\\u{code:04x}b"


def test_newline_tab_and_ordinary_text_are_left_alone() -> None:
    text = "Back-off ×3 … naïve café 🙂 日本\n\tindented C:\\path \\x1b"
    assert shown_text(text) == text
    # A Windows line ending is one newline, not a visible \x0d at each line's end.
    assert shown_text("one\r\ntwo") == "one\ntwo"
