"""`simulate --interactive`: answers from the terminal until its input ends; and who answers
with `--config`."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from agent.cli.simulate_cmd import _Asker, _chat


def test_after_the_input_ends_later_questions_go_unanswered_without_being_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = iter(["maybe", "r"])  # a word it does not know is asked again

    def fake_input(prompt: str = "") -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    ask = _Asker()
    assert ask("q-1", "roll back shop/checkout?") == "rejected"
    assert ask("q-2", "drain node-c?") is None  # the input ends here
    assert ask("q-3", "raise the floor of shop/frontend?") is None
    assert ask("q-4", "raise the memory limit of shop/cart?") is None
    err = capsys.readouterr().err
    assert err.count("Autonomic asks") == 2
    assert "shop/frontend" not in err and "shop/cart" not in err
    assert err.count("end of input") == 1


def test_the_prompt_goes_with_the_question_to_stderr_not_into_the_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # answers piped in and the summary kept (`--interactive < answers > summary.txt`): the
    # prompt went to stdout, so the file began with prompts run together with the summary
    monkeypatch.setattr("sys.stdin", io.StringIO("maybe\na\n"))
    ask = _Asker()
    assert ask("q-1", "roll back shop/checkout?") == "approved"
    assert ask("q-2", "drain node-c?") is None  # the input ends here
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("approve / reject / skip [a/r/s]? ") == 3
    assert captured.err.count("end of input") == 1


def test_a_config_with_slack_off_is_said_to_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `simulate --config docs/example-config.yaml` ran as without it, and said nothing
    config = tmp_path / "autonomic.yaml"
    config.write_text("mode: act\nslack: {enabled: false}\n")
    factory, wait, _ = _chat(argparse.Namespace(config=config))
    assert factory is None and wait == 0.0
    err = capsys.readouterr().err
    assert f"--config {config}: Slack is off there" in err
    assert "scripted on-call" in err
