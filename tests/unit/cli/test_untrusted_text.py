"""`autonomic explain` and `autonomic approvals list` print text others wrote (a
decision's Kubernetes Events, an alert's annotations quoted in its reason) to a
terminal: a character the terminal would act on (an ESC sequence that clears the
screen, retitles the window or hides a link; a carriage return that overwrites the
line) or that hides or reorders text (bidi overrides, zero-width spaces) is printed as
its escape (``\\x1b``, ``\\u202e``)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli import main
from agent.settings import RoutingSettings
from remediation.events import fold_events
from remediation.ports import ObjectEvent
from tests.unit.cli.test_approvals_list import _ledger, _no_env_config, _proposal
from tests.unit.decision_rig import inline_service
from tests.unit.test_shown_text import HOSTILE

__all__ = ["_no_env_config"]  # the autouse fixture, taken as it is


def _printable(out: str) -> bool:
    return all(c in "\n\t" or c.isprintable() for c in out)


def test_explain_and_approvals_list_print_escapes_not_controls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, clock, ledger = _ledger(tmp_path, time.time() - 600)
    decisions = inline_service(ledger, clock, RoutingSettings(auto=0.95, ask=0.6))
    asked: dict[str, str] = {}
    for kind, (raw, _) in HOSTILE.items():
        events = fold_events(
            [ObjectEvent(f"Pod/web-{raw}", "Warning", f"Bad{raw}", f"said {raw} end", 3, None)]
        )
        proposal = replace(
            _proposal("Pod/shop/web-2", 0.8),
            reason=f"alert says {raw} end",
            evidence={"events": events, "if_approved": f"delete {raw} pod"},
        )
        decided = decisions.decide(proposal)
        assert decided.route == "ask", kind
        asked[kind] = str(decided.decision_id)
    ledger.close()

    assert main(["approvals", "list", "--ledger", url]) == 0
    listed = capsys.readouterr().out
    assert _printable(listed)
    for kind, (_, shown) in HOSTILE.items():
        assert f"Pod/shop/web-2: alert says {shown} end" in listed, kind
        assert f"if approved, delete {shown} pod" in listed, kind
        assert f"events: Warning Bad{shown} ×3 on Pod/web-{shown}: said {shown} end" in listed

    for kind, (_, shown) in HOSTILE.items():
        assert main(["explain", asked[kind], "--ledger", url]) == 0
        story = capsys.readouterr().out
        assert _printable(story), kind
        assert f"alert says {shown} end" in story, kind
        assert f"    Warning Bad{shown} ×3 on Pod/web-{shown}: said {shown} end" in story, kind
