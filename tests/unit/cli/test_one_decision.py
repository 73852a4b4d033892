"""Finding a decision by the start of its id, as explain, feedback and undo take it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.cli._context import one_decision
from agent.errors import InputError
from agent.ledger import Decision, open_ledger


def _decision(subject: str) -> Decision:
    return Decision(
        kind="remediation",
        decision_type="restart-stuck-pods/Pod",
        subject=subject,
        proposal={},
        confidence=0.9,
        reason_code="PodNotReady",
        reason="stuck",
        evidence={},
        model_version="restart-stuck-pods/1",
        route="ask",
    )


def test_a_prefix_finds_one_decision_and_says_when_it_finds_none_or_several(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    first = ledger.record_decision(_decision("Pod/shop/web-1"), 10.0)
    # 17 ids in 16 hex digits: two of them start alike
    ids = [first] + [
        ledger.record_decision(_decision(f"Pod/shop/web-{n}"), 10.0 + n) for n in range(2, 18)
    ]
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    try:
        assert one_decision(ledger, first[:10]).subject == "Pod/shop/web-1"
        with pytest.raises(InputError, match="no decision id starts with 'zz'"):
            one_decision(ledger, "zz")
        with pytest.raises(InputError, match=f"'{shared}' is ambiguous: .*; give more of the id"):
            one_decision(ledger, shared)
    finally:
        ledger.close()
    # the same words from each command that takes an id
    for command in (["explain"], ["feedback", "--wrong"], ["undo"]):
        assert main([*command, "zz", "--ledger", url]) == 2
        assert "no decision id starts with 'zz'" in capsys.readouterr().err


def test_an_empty_id_is_said_to_be_missing_not_ambiguous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty shell variable (`autonomic explain "$ID"`) matched every id and was
    refused as "'' is ambiguous", listing five ids."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, 0.0)
    for n in range(3):
        ledger.record_decision(_decision(f"Pod/shop/web-{n}"), 10.0 + n)
    ledger.close()
    for command in (["explain"], ["feedback", "--wrong"], ["undo"]):
        for given in ("", " "):
            assert main([*command, given, "--ledger", url]) == 2
            err = capsys.readouterr().err
            assert "no decision id given" in err and "ambiguous" not in err, err
    for command in (["approve"], ["reject"], ["approvals", "approve"]):
        assert main([*command, "", "--ledger", url]) == 2
        err = capsys.readouterr().err
        assert "no question or decision id given" in err, err
