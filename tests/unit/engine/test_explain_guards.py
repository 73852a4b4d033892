"""A runbook decision keeps each precondition and guard as it was judged (what it
required, what it saw, whether it passed), and `autonomic explain` shows them one a line;
decisions recorded before they were kept still explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.cli.explain_cmd import _guard_lines
from agent.decisions import Proposal
from remediation.signals import anomaly_signal
from tests.unit.engine.harness import WEB, Rig, rig, web

TRAFFIC = 'sum(rate(http_requests_total{namespace="shop", deployment="web"}[5m]))'


def _error_rate_decision(tmp_path: Path) -> tuple[Rig, str, list[str]]:
    """The shipped error-rate-pause-rollout runbook decided through the real engine: a
    rollout under way, an error-ratio anomaly, 12.5 requests a second."""
    r = rig(tmp_path)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")
    r.clock.advance(20)  # the cluster not advanced: no pod of revision 2 yet
    asked: list[str] = []

    def query(text: str) -> float | None:
        asked.append(text)
        return 12.5 if text == TRAFFIC else None

    r.engine.query = query
    r.engine.submit(
        [
            anomaly_signal(
                metric="http_error_ratio",
                target=WEB,
                observed=0.2,
                lower=0.0,
                upper=0.02,
                score=9.0,
                confidence=0.9,
                at=r.clock.now(),
            )
        ]
    )
    handled = r.engine.cycle()
    (decided,) = [h for h in handled if h.runbook == "error-rate-pause-rollout"]
    assert decided.outcome == "decided", decided
    assert decided.decision_id is not None
    return r, decided.decision_id, asked


def _explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], decision_id: str, *flags: str
) -> str:
    """`autonomic explain` through the CLI's entry point, on the rig's ledger."""
    capsys.readouterr()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["explain", decision_id[:10], "--ledger", url, *flags]) == 0
    return capsys.readouterr().out


def test_explain_shows_each_precondition_and_guard_of_a_planned_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, decision_id, asked = _error_rate_decision(tmp_path)
    assert TRAFFIC in asked
    text = _explain(tmp_path, capsys, decision_id)
    section = text.split("Preconditions and guards (as judged when decided)\n", 1)[1]
    lines = section.split("\n\n", 1)[0].splitlines()
    assert lines[:2] == [
        "  pass  changedWithin: needs a rollout less than 30m ago; saw rolled out 20s ago",
        f"  pass  promql (at least one request per second): needs {TRAFFIC} > 1; saw 12.5",
    ]
    assert "  pass  pause: needs remediation not paused; saw not paused" in lines
    assert (
        "  pass  cooldownPerTarget: needs 1h since the last action on the target; "
        "saw not acted on yet"
    ) in lines
    assert (
        "  pass  maxActionsPerHour: needs fewer than 4 actions of error-rate-pause-rollout "
        "in the last hour; saw 0"
    ) in lines
    assert "  pass  blastRadius.maxTargets: needs at most 1 object changed; saw 1" in lines
    assert all(line.startswith("  pass  ") for line in lines)
    # Shown in its own section, not again as a raw line of the evidence.
    assert "  guards: " not in text


def test_the_json_keeps_every_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, decision_id, _ = _error_rate_decision(tmp_path)
    record = json.loads(_explain(tmp_path, capsys, decision_id, "--json"))["decision"]
    guards = record["evidence"]["guards"]
    assert guards[1] == {
        "name": "promql (at least one request per second)",
        "required": f"{TRAFFIC} > 1",
        "seen": "12.5",
        "passed": True,
    }
    names = [g["name"] for g in guards]
    assert names == [
        "changedWithin",
        "promql (at least one request per second)",
        "pause",
        "storm",
        "circuitBreaker",
        "maxConcurrent",
        "targetBusy",
        "cooldownPerTarget",
        "maxActionsPerHour",
        "globalActionsPerHour",
        "maxPodsDisruptedPerHour",
        "blastRadius.maxTargets",
        "blastRadius.minHealthyFraction",
        "humanChange",
    ]
    assert all(set(g) == {"name", "required", "seen", "passed"} for g in guards)


def test_a_decision_recorded_before_guards_were_kept_still_explains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path)
    routed = r.decisions.decide(
        Proposal(
            kind="remediation",
            decision_type="restart-stuck-pods/Deployment",
            subject=str(WEB),
            proposal={"runbook": "restart-stuck-pods", "diff": ["Pod shop/web-1: delete"]},
            signal_confidence=0.9,
            reason_code="kubernetes:PodNotReady",
            reason="a pod is not ready",
            evidence={"signal": {"ready": False}, "blast": {"targets": 1}},
            model_version="runbook restart-stuck-pods@1",
        )
    )
    assert routed.decision_id is not None
    text = _explain(tmp_path, capsys, routed.decision_id)
    assert "Preconditions and guards" not in text
    assert '  blast: {"targets": 1}' in text
    assert "Routing" in text


@pytest.mark.parametrize(
    ("guards", "expected"),
    [
        (None, []),
        ([], []),
        ("not a list", []),
        (
            [
                {"name": "promql", "required": "up > 0", "seen": "no data", "passed": False},
                "junk",
                {"name": "pause"},
            ],
            [
                "",
                "Preconditions and guards (as judged when decided)",
                "  FAIL  promql: needs up > 0; saw no data",
                "  FAIL  pause: needs ?; saw ?",
            ],
        ),
    ],
)
def test_guard_lines_say_fail_and_survive_odd_records(guards: object, expected: list[str]) -> None:
    assert _guard_lines(guards) == expected
