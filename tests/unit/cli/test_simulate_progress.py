"""`simulate`'s progress: a bar redrawn in place at a terminal, plain lines in a log."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from agent.cli.simulate_cmd import _progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(show: Callable[[float, str], None]) -> None:
    for step in range(1, 1009):  # a week of 10-minute steps, as the default run reports
        show(step / 1008, f"day {step * 7 / 1008:.1f}")


def test_in_a_log_file_progress_is_a_plain_line_at_each_tenth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a redrawn bar written to a file was 1,008 bars run together on one line
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    _run(_progress(quiet=False))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0] == "simulated   0% (day 0.0)"
    assert lines[-1] == "simulated 100% (day 7.0)"
    assert len(lines) == 11


def test_at_a_terminal_the_bar_is_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    _run(_progress(quiet=False))
    text = terminal.getvalue()
    assert text.count("\r[") == 1008 and "\n" not in text
    assert text.endswith("\r[##############################] 100% day 7.0     ")


def test_quiet_shows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    _run(_progress(quiet=True))
    assert log.getvalue() == ""
