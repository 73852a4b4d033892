"""`autonomic history`: every job's decisions in one timeline, newest first, with a footer."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agent.cli import main
from agent.ledger import Decision, Feedback, open_ledger

HOUR = 3600.0


def _decision(kind: str, subject: str, route: str, status: str, **more: object) -> Decision:
    values: dict[str, object] = {
        "kind": kind,
        "decision_type": f"{kind}/test",
        "subject": subject,
        "proposal": {"op": "set_hpa_min_replicas", "from": 2, "to": 5},
        "confidence": 0.9,
        "reason_code": "Test",
        "reason": "a test",
        "evidence": {},
        "model_version": "test",
        "route": route,
        "status": status,
    }
    values.update(more)
    return Decision(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _utc_and_no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AUTONOMIC__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def night(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A ledger with a night of decisions, ids by name; the oldest is two days old."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    now = time.time()
    ledger = open_ledger(url, now - 3 * 86400)
    ids: dict[str, str] = {}
    try:
        ids["scale"] = ledger.record_decision(
            _decision("scaling", "Deployment/shop/web", "auto", "verified"), now - 1 * HOUR
        )
        ids["approved"], question = ledger.record_question(
            _decision(
                "remediation",
                "Deployment/shop/cart",
                "ask",
                "verified",
                decision_type="oom-raise-memory-limit/Deployment",
                proposal={"diff": ["Deployment shop/cart: memory 384Mi -> 576Mi", "second"]},
                confidence=0.8,
            ),
            now - 2 * HOUR,
            channel="slack",
            ttl=900,
        )
        assert ledger.answer(question, "approved", "slack:alice", now - 2 * HOUR + 60)
        ids["rejected"], question = ledger.record_question(
            _decision("canary", "Deployment/shop/search-canary", "ask", "rejected"),
            now - 3 * HOUR,
            channel="cli",
            ttl=900,
        )
        assert ledger.answer(question, "rejected", "cli:bob", now - 3 * HOUR + 60)
        ids["expired"] = ledger.record_decision(
            _decision("scaling", "Deployment/shop/cart", "ask", "expired"), now - 4 * HOUR
        )
        ids["held"] = ledger.record_decision(
            _decision(
                "remediation",
                "Deployment/shop/cart",
                "escalate",
                "escalated",
                decision_type="held/oom-raise-memory-limit",
                reason_code="TargetRateLimit",
                confidence=0.0,
            ),
            now - 5 * HOUR,
        )
        ids["observed"] = ledger.record_decision(
            _decision("anomaly", "anomaly/web-errors", "observe", "observed"), now - 6 * HOUR
        )
        # approved, then held back past approvedMaxWait: closed expired, never run
        ids["not-run"] = ledger.record_decision(
            _decision("scaling", "Deployment/shop/web", "auto", "approved"), now - 7 * HOUR
        )
        assert ledger.transition(
            ids["not-run"],
            ["approved"],
            "expired",
            now - 6 * HOUR,
            feedback=[Feedback(ids["not-run"], "execution", "expired", "autonomic")],
        )
        ids["old"] = ledger.record_decision(
            _decision("scaling", "Deployment/shop/web", "auto", "verified"), now - 48 * HOUR
        )
    finally:
        ledger.close()
    return url, ids


def _history(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["history", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _lines(out: str, ids: dict[str, str]) -> dict[str, str]:
    """The lines of the decisions the output lists, by name, in its order."""
    by_short = {decision_id[:12]: name for name, decision_id in ids.items()}
    found = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) > 2 and words[2] in by_short:
            found[by_short[words[2]]] = line
    return found


def _listed(out: str, ids: dict[str, str]) -> list[str]:
    return list(_lines(out, ids))


def test_newest_first_across_jobs_within_24h_with_who_answered_and_a_footer(
    night: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = night
    code, out, _ = _history(capsys, "--ledger", url)
    assert code == 0
    assert _listed(out, ids) == [
        "scale", "approved", "rejected", "expired", "held", "observed", "not-run"
    ]  # fmt: skip
    lines = _lines(out, ids)
    assert "slack:alice approved" in lines["approved"]
    assert "Deployment shop/cart: memory 384Mi -> 576Mi (+1 more)" in lines["approved"]
    assert "cli:bob rejected" in lines["rejected"]
    assert "80.0%" in lines["approved"] and "remediation" in lines["approved"]
    assert "hand-off to a person (held/oom-raise-memory-limit, TargetRateLimit)" in lines["held"]
    assert "expired, not executed" in lines["not-run"]
    assert " -  " in lines["expired"]  # nobody answered it
    assert out.splitlines()[0] == "Decisions in the last 1d, newest first (times UTC):"
    assert out.splitlines()[-1] == (
        "7 decisions in 1d: 2 automatic (1 verified, 1 expired), 3 asked (1 approved, "
        "1 rejected, 1 expired), 1 escalated, 1 observed"
    )


def test_each_filter_narrows_the_list_and_the_footer(
    night: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = night
    cases = {
        ("--job", "scaling"): ["scale", "expired", "not-run"],
        ("--route", "ask"): ["approved", "rejected", "expired"],
        ("--status", "expired"): ["expired", "not-run"],
        ("--status", "expired", "--status", "rejected"): ["rejected", "expired", "not-run"],
        ("shop/cart",): ["approved", "expired", "held"],
        ("deploy/shop/web",): ["scale", "not-run"],
        ("--since", "2h"): ["scale"],
        ("--since", "3d"): [
            "scale", "approved", "rejected", "expired", "held", "observed", "not-run", "old"
        ],
    }  # fmt: skip
    for argv, expected in cases.items():
        code, out, _ = _history(capsys, *argv, "--ledger", url)
        assert code == 0
        assert _listed(out, ids) == expected, argv
        assert out.splitlines()[-1].startswith(f"{len(expected)} decision"), argv


def test_limit_says_how_many_more_and_the_footer_counts_them_all(
    night: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = night
    code, out, _ = _history(capsys, "--limit", "2", "--ledger", url)
    assert code == 0
    assert _listed(out, ids) == ["scale", "approved"]
    assert "(5 older not listed: raise --limit" in out
    assert out.splitlines()[-1].startswith("7 decisions in 1d: ")
    code, out, err = _history(capsys, "--limit", "2", "--json", "--ledger", url)
    assert [row["id"] for row in json.loads(out)] == [ids["scale"], ids["approved"]]
    assert "5 older decisions not listed (--limit 2)" in err


def test_json_lists_each_decision_with_the_documented_keys(
    night: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = night
    code, out, _ = _history(capsys, "--json", "--ledger", url)
    assert code == 0
    rows = json.loads(out)
    assert [row["id"] for row in rows][:2] == [ids["scale"], ids["approved"]]
    keys = {
        "id", "created_at", "time", "job", "decision_type", "subject", "proposed",
        "confidence", "route", "status", "held_past_max_wait", "answered_by", "reason_code",
        "hand_off",
    }  # fmt: skip
    assert all(set(row) == keys for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert by_id[ids["approved"]]["answered_by"] == "slack:alice"
    assert by_id[ids["approved"]]["job"] == "remediation"
    assert by_id[ids["expired"]]["answered_by"] is None
    assert by_id[ids["not-run"]]["held_past_max_wait"] is True
    assert by_id[ids["expired"]]["held_past_max_wait"] is False
    assert by_id[ids["held"]]["hand_off"] is True
    assert by_id[ids["scale"]]["time"].endswith("+00:00")


def test_an_empty_ledger_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    open_ledger(url, time.time()).close()
    code, out, _ = _history(capsys, "--ledger", url)
    assert code == 0
    assert out.startswith("No decisions in the last 1d.")
    code, out, _ = _history(capsys, "--json", "--ledger", url)
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--since", "-5m"], "--since: "),
        (["--since", "soon"], "--since: "),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--status", "verifed"], "--status verifed: no decision has this status"),
        ([""], "SUBJECT is empty"),
    ],
)
def test_bad_input_is_refused_with_exit_2(
    night: tuple[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    url, _ = night
    code, out, err = _history(capsys, *argv, "--ledger", url)
    assert code == 2 and out == ""
    assert err.startswith(f"autonomic: error: {said}")


def test_a_missing_ledger_is_named_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo.sqlite"
    code, _, err = _history(capsys, "--ledger", str(typo))
    assert code == 2
    assert f"no ledger at {typo}" in err
    assert not typo.exists()
