"""`autonomic alerts list` and `alerts retry ID`: the stored alerts waiting for a
remediation cycle and those given up, with their failed attempts and last error, and a
given-up one made pending again by a person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.ledger import AlertDelivery, Ledger, open_ledger

NOW = 1_800_000_000.0


def delivery(fingerprint: str, name: str) -> AlertDelivery:
    return AlertDelivery(
        fingerprint=fingerprint,
        starts_at=NOW - 600,
        status="firing",
        name=name,
        labels={"alertname": name},
        signal={"dedup_key": f"alert/{fingerprint}"},
    )


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[Ledger, str]:
    path = tmp_path / "ledger.sqlite"
    opened = open_ledger(f"sqlite:///{path}", NOW)
    opened.record_alerts(
        [delivery("bad", "KubeQuotaExceeded"), delivery("ok", "KubeHpaMaxedOut")], NOW
    )
    return opened, str(path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_list_shows_attempts_and_the_last_error_and_retry_makes_it_pending_again(
    ledger: tuple[Ledger, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, path = ledger
    bad, ok = store.pending_alerts()
    error = "ValueError: a label\nno runbook template expected"
    for seen in range(5):
        assert store.count_alert_attempt(bad.id, seen, error, NOW + 30 * seen, give_up_at=5)
    store.count_alert_attempt(ok.id, 0, "TransientError: disk I/O", NOW + 30, give_up_at=5)

    code, out, _ = run(["alerts", "list", "--ledger", path], capsys)
    lines = out.splitlines()
    assert (
        code == 0 and lines[0] == f"{'id':>6}  state     first delivered          attempts  alert"
    )
    assert lines[1].split()[:2] == [str(ok.id), "pending"]
    assert lines[1].endswith("1  KubeHpaMaxedOut (firing, fingerprint ok)")
    assert lines[2].strip() == "last error, 2027-01-15 08:00:30 UTC: TransientError: disk I/O"
    assert lines[3].split()[:2] == [str(bad.id), "given-up"]
    assert lines[3].endswith("5  KubeQuotaExceeded (firing, fingerprint bad)")
    assert lines[4].strip() == (
        "last error, 2027-01-15 08:02:00 UTC: ValueError: a label no runbook template expected"
    )
    assert lines[-1] == "`autonomic alerts retry ID` makes a given-up alert pending again"

    code, out, _ = run(["alerts", "list", "--given-up", "--json", "--ledger", path], capsys)
    (shown,) = json.loads(out)
    assert (shown["id"], shown["state"], shown["attempts"]) == (bad.id, "given-up", 5)
    assert shown["last_error"] == error and shown["given_up_at"] == NOW + 120

    code, out, err = run(["alerts", "retry", str(ok.id), "--ledger", path], capsys)
    assert code == 2 and err == (
        f"autonomic: error: alert {ok.id} (KubeHpaMaxedOut) is not given up: it is pending, "
        "with 1 failed attempts, and the leader's next cycle tries it\n"
    )
    code, out, _ = run(["alerts", "retry", str(bad.id), "--ledger", path], capsys)
    assert code == 0 and out == (
        f"alert {bad.id} is pending again with 0 attempts: the leader's next remediation "
        "cycle takes it in\n"
    )
    assert [(a.id, a.attempts) for a in store.pending_alerts()] == [(bad.id, 0), (ok.id, 1)]
    code, out, _ = run(["alerts", "list", "--given-up", "--ledger", path], capsys)
    assert (code, out) == (0, "no alerts given up\n")
    code, _, err = run(["alerts", "retry", "999", "--ledger", path], capsys)
    assert code == 2 and "no stored alert has id 999" in err


def test_get_alerts_lists_the_same_as_the_cli_and_refuses_bad_parameters(
    ledger: tuple[Ledger, str],
) -> None:
    from agent.daemon import _stored_alerts
    from agent.server import Request

    store, _ = ledger
    bad, ok = store.pending_alerts()
    for seen in range(5):
        store.count_alert_attempt(bad.id, seen, "ValueError: x", NOW + 30 * seen, give_up_at=5)

    def get(**query: str) -> tuple[int, dict[str, object]]:
        response = _stored_alerts(
            store, Request("GET", "/alerts", {k: [v] for k, v in query.items()}, {}, b"")
        )
        return response.status, json.loads(response.body)

    status, body = get()
    assert status == 200 and body["more"] is False
    assert [(a["id"], a["state"]) for a in body["alerts"]] == [  # type: ignore[union-attr]
        (ok.id, "pending"),
        (bad.id, "given-up"),
    ]
    status, body = get(given_up="true")
    assert [(a["id"], a["attempts"]) for a in body["alerts"]] == [(bad.id, 5)]  # type: ignore[union-attr]
    status, body = get(limit="1")
    assert len(body["alerts"]) == 1 and body["more"] is True  # type: ignore[arg-type]
    assert get(limit="0") == (
        400,
        {"error": "limit must be a whole number from 1 to 1000, got '0'"},
    )
    assert get(given_up="yes")[0] == 400
