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


# Text people write that holds a format character as part of what it shows: each is
# left as it is (an emoji sequence or a word escaped in the middle reads as garbage).
NEEDED: dict[str, str] = {
    "emoji ZWJ sequence": "fixed by \U0001f469\u200d\U0001f4bb, thanks",
    "ZWJ after a skin tone": "\U0001f469\U0001f3fd\u200d\U0001f4bb on it",
    "ZWJ after a variation selector": "\U0001f3f3\ufe0f\u200d\U0001f308 ok",
    "subdivision flag": "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "Persian word with ZWNJ": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    "Devanagari ZWJ": "\u0915\u094d\u200d\u0937",
}


@pytest.mark.parametrize("kind", sorted(NEEDED))
def test_emoji_sequences_and_scripts_keep_their_joiners(kind: str) -> None:
    text = NEEDED[kind]
    assert shown_text(text) == text


def test_a_joiner_or_tag_that_joins_nothing_is_still_escaped() -> None:
    # Between ASCII letters, doubled, at an end, or a tag outside a flag: hidden text.
    assert shown_text("ad\u200cmin \u00e9\u200d\u200d\u00e9 \U0001f469\u200d") == (
        "ad\\u200cmin \u00e9\\u200d\\u200d\u00e9 \U0001f469\\u200d"
    )
    smuggled = "\U0001f3f4\U000e0049\U000e0067\U000e0062\U000e007f"  # an uppercase tag
    assert shown_text(smuggled) == ("\U0001f3f4\\U000e0049\\U000e0067\\U000e0062\\U000e007f")
    for text in [*NEEDED.values(), smuggled]:
        assert shown_text(shown_text(text)) == shown_text(text)
