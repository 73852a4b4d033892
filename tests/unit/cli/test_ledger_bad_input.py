"""Commands that read or answer the ledger, on a ledger that is not there or not theirs.

`approvals`, `approve`/`reject`, `explain`, `why`, `history`, `feedback`, `calibration`,
`thresholds set` and `alerts` open an existing Autonomic ledger and never create, migrate
or write tables into a database (only `run` and `simulate` create one). A bad URL, a
missing file, a file that is no database, another application's database or an older
schema is a clear error naming it (exit 2, no traceback), and nothing is written.
Decision id prefixes are literal text, an overdue question is shown as overdue, and a
plot is never written over the ledger it was drawn from.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.cli import main
from agent.cli._context import ledger_from, ledger_path
from agent.ledger import Decision, Ledger, open_ledger
from agent.ledger.schema import SCHEMA_VERSION

NOW = 1_800_000_000.0

# Every command that reads or answers, as it is typed, without --ledger.
READERS = [
    ["approvals", "list"],
    ["approvals", "list", "--all"],
    ["approve", "abcd"],
    ["reject", "abcd", "--reason", "no"],
    ["explain", "abcd"],
    ["why"],
    ["why", "web", "--runbook", "restart-stuck-pods", "--since", "1h"],
    ["history"],
    ["history", "web", "--job", "remediation", "--since", "7d", "--json"],
    ["feedback", "abcd", "--wrong"],
    ["calibration"],
    ["thresholds", "set", "restart/Pod", "--auto", "0.9", "--reason", "r"],
    ["alerts", "list"],
    ["alerts", "retry", "1"],
]


def decision(**overrides: object) -> Decision:
    base: dict[str, object] = {
        "kind": "remediation",
        "decision_type": "restart/Pod",
        "subject": "Deployment/shop/web",
        "proposal": {"op": "restart"},
        "confidence": 0.8,
        "reason_code": "Stuck",
        "reason": "2 pods not ready for 10 minutes",
        "evidence": {},
        "model_version": "test",
        "route": "ask",
        "status": "asked",
    }
    base.update(overrides)
    return Decision(**base)  # type: ignore[arg-type]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _fail(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = _run(argv, capsys)
    assert code == 2, (out, err)
    assert err.startswith("autonomic: error: ")
    return err


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AUTONOMIC__")]:
        monkeypatch.delenv(name)


# 1. a missing ledger, another application's database, an older schema -----------------


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_ledger_path_is_an_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    typo = tmp_path / "typo.sqlite"
    err = _fail([*command, "--ledger", f"sqlite:///{typo}"], capsys)
    assert f"no ledger at {typo}: start the daemon (autonomic run)" in err
    assert "check --ledger/ledger.url" in err
    assert list(tmp_path.iterdir()) == []  # no file, no -wal, no -shm


def test_without_ledger_flag_the_default_path_is_named_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = _fail(["approvals", "list"], capsys)
    assert f"no ledger at autonomic-ledger.sqlite (in {tmp_path})" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_another_applications_database_is_refused_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE decisions (id TEXT, verdict TEXT)")
    conn.execute("INSERT INTO decisions VALUES ('abcd', 'keep')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    err = _fail([*command, "--ledger", f"sqlite:///{other}"], capsys)
    assert f"{other} is not an Autonomic ledger (it has no schema_version table" in err
    assert "decisions" in err
    assert other.read_bytes() == before  # no tables added, not even its journal mode changed
    assert _tables(other) == {"decisions"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_an_empty_sqlite_file_is_no_ledger_and_stays_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    err = _fail(["explain", "abcd", "--ledger", f"sqlite:///{empty}"], capsys)
    assert f"no ledger at {empty}: the file is an empty database" in err
    assert empty.stat().st_size == 0


def test_a_ledger_at_an_older_schema_is_not_migrated_by_a_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = open_ledger(url, NOW, migrate=False)
    assert old.migrate(NOW, upto=SCHEMA_VERSION - 1) == SCHEMA_VERSION - 1
    old.close()
    err = _fail(["approvals", "list", "--ledger", url], capsys)
    assert f"has schema version {SCHEMA_VERSION - 1} and this release needs {SCHEMA_VERSION}" in err
    assert "start this release's daemon (autonomic run), which migrates it" in err
    again = open_ledger(url, NOW, migrate=False)
    assert again.schema_version() == SCHEMA_VERSION - 1  # untouched
    again.close()


def test_a_ledger_from_a_newer_release_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    ledger = open_ledger(url, NOW)
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql(  # a newer release's migration that breaks this one
            "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
            "VALUES (?, 'future', ?, 1)",
            (SCHEMA_VERSION + 1, NOW),
        )
    ledger.close()
    err = _fail(["calibration", "--ledger", url], capsys)
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this release" in err


def test_ledger_from_creates_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    args = argparse.Namespace(ledger=f"sqlite:///{path}", config=None)
    with pytest.raises(Exception, match="no ledger at"):
        ledger_from(args)
    assert not path.exists()
    created = ledger_from(args, create=True)  # as the daemon opens it
    assert created.schema_version() == SCHEMA_VERSION
    created.close()
    reopened = ledger_from(args)  # now it exists: the default opens it
    assert reopened.decisions() == []
    reopened.close()


# 2. a file that is not a database; 4. an unsupported database -------------------------


def test_a_file_that_is_not_a_database_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("timestamp,load\n1,2\n", encoding="utf-8")
    for command in (["approvals", "list"], ["feedback", "ab", "--right"]):
        err = _fail([*command, "--ledger", f"sqlite:///{csv}"], capsys)
        assert f"{csv} is not an SQLite database (file is not a database)" in err
    assert csv.read_text(encoding="utf-8") == "timestamp,load\n1,2\n"


def test_the_daemon_is_told_too_when_its_ledger_is_not_a_database(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(Exception, match=f"cannot open the ledger at sqlite:///{csv}: file is not"):
        open_ledger(f"sqlite:///{csv}", NOW)  # create=True: as `run` opens it


@pytest.mark.parametrize(
    "url",
    ["mysql://u:s3cret@db/autonomic", "mariadb://db/x", "oracle://db/x", "mssql://db/x"],
)
def test_an_unsupported_database_says_which_are_supported(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _fail(["approvals", "list", "--ledger", url], capsys)
    scheme = url.split(":", 1)[0]
    assert f"{scheme} is not supported; the ledger is on SQLite or PostgreSQL" in err
    assert "sqlite:///PATH or postgresql://USER@HOST/DB" in err
    assert "pip install" not in err
    assert "s3cret" not in err


def test_an_unsupported_postgres_driver_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fail(["explain", "ab", "--ledger", "postgresql+asyncpg://u:pw@h/db"], capsys)
    assert "the asyncpg driver is not supported; use postgresql://" in err
    assert "u:***@h" in err and ":pw@" not in err


# 3. id prefixes are literal -----------------------------------------------------------


def _ledger_with_one_decision(tmp_path: Path) -> tuple[str, Ledger, str]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, NOW)
    decision_id = ledger.record_decision(decision(status="verified", route="auto"), NOW)
    return url, ledger, decision_id


@pytest.mark.parametrize("wildcard", ["%", "_", "/", "\\", "%%", "__"])
def test_like_wildcards_in_an_id_prefix_match_only_themselves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wildcard: str
) -> None:
    url, ledger, decision_id = _ledger_with_one_decision(tmp_path)
    typed = wildcard + decision_id[len(wildcard) : 8]
    assert ledger.find_decisions(typed) == []
    assert ledger.find_decisions(decision_id[:8]) == [decision_id]  # a real prefix still works
    err = _fail(["feedback", typed, "--wrong", "--ledger", url], capsys)
    assert f"no decision id starts with {typed!r}" in err
    assert ledger.feedback_for(decision_id) == []  # no verdict written against it
    err = _fail(["explain", typed, "--ledger", url], capsys)
    assert f"no decision id starts with {typed!r}" in err
    ledger.close()


def test_a_bare_wildcard_prefix_does_not_pick_the_only_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ledger, decision_id = _ledger_with_one_decision(tmp_path)
    for typed in ("%", "_" * 32):
        _fail(["feedback", typed, "--right", "--ledger", url], capsys)
    assert ledger.feedback_for(decision_id) == []
    code, out, _ = _run(["explain", decision_id[:8], "--ledger", url], capsys)
    assert code == 0 and f"Decision {decision_id}" in out
    ledger.close()


# 5. an overdue question ---------------------------------------------------------------


def test_an_overdue_question_is_listed_as_overdue_and_a_late_answer_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, NOW)
    now = time.time()
    fresh_id, _ = ledger.record_question(
        decision(subject="Deployment/shop/cart"), now, channel="cli", ttl=900
    )
    # asked 26 days ago with a 15-minute TTL; no daemon cycle has expired it
    late_id, question_id = ledger.record_question(
        decision(), now - 26 * 86400 - 900, channel="cli", ttl=900
    )
    code, out, _ = _run(["approvals", "list", "--ledger", url], capsys)
    assert code == 0
    assert re.search(r"(?<!\d)-\d", out) is None  # no "-1579823 min" (dates have "-")
    row = next(line for line in out.splitlines() if line.startswith(question_id[:12] + " "))
    expired = datetime.fromtimestamp(now - 26 * 86400, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert row.split()[2] == "overdue" and f"{expired} (26 days ago)" in row
    assert "Deployment/shop/web" in row
    assert f"question {question_id[:12]} expired 26 days ago" in out
    assert "the daemon closes it (escalated) at its next cycle" in out
    assert "an answer to an overdue question is kept as feedback" in out
    assert "nothing will be executed" in out
    fresh = next(line for line in out.splitlines() if "Deployment/shop/cart" in line)
    # when it expires, as a time and as how long from now
    expires = datetime.fromtimestamp(now + 900, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert fresh.split()[2] == "pending" and f"{expires} (in 15 min)" in fresh

    err = _fail(["approve", question_id[:8], "--ledger", url, "--as", "carol"], capsys)
    assert f"question {question_id[:12]} had expired" in err
    assert "nothing will be executed" in err
    assert "kept as the decision's verdict (feedback, for learning)" in err
    record = ledger.get_decision(late_id)
    assert record is not None and record.status not in ("approved", "executing")
    kept = [f for f in ledger.feedback_for(late_id) if f["kind"] == "late-answer"]
    assert [(f["outcome"], f["actor"]) for f in kept] == [("approved", "carol")]
    other = ledger.get_decision(fresh_id)
    assert other is not None and other.status == "asked"
    ledger.close()


def test_negative_minutes_are_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, NOW)
    now = time.time()
    for ago in (60, 3 * 3600, 40 * 86400):
        ledger.record_question(decision(), now - ago - 600, channel="cli", ttl=600)
    ledger.close()
    code, out, _ = _run(["approvals", "list", "--ledger", url], capsys)
    assert code == 0
    assert re.search(r"(?<!\d)-\d", out) is None  # no "-1579823 min" (dates have "-")
    assert [line.split()[2] for line in out.splitlines()[1:4]] == ["overdue"] * 3
    assert "40 days ago" in out and "3.0 h ago" in out and "60 s ago" in out


# 6. a plot over the ledger ------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_a_calibration_plot_is_not_written_over_the_ledger(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spelling: str,
) -> None:
    url, ledger, decision_id = _ledger_with_one_decision(tmp_path)
    ledger.close()
    path = tmp_path / "ledger.sqlite"
    before = path.read_bytes()
    monkeypatch.chdir(tmp_path)
    plot = {"same": str(path), "relative": "ledger.sqlite", "symlink": "plot.svg"}[spelling]
    if spelling == "symlink":
        (tmp_path / "plot.svg").symlink_to(path)
    err = _fail(["calibration", "--ledger", url, "--plot", plot], capsys)
    assert f"{plot}: is also an input of this command" in err
    assert "the input would be lost" in err
    assert path.read_bytes() == before
    reopened = open_ledger(url, NOW, create=False)
    assert reopened.get_decision(decision_id) is not None
    reopened.close()


def test_a_calibration_plot_elsewhere_is_still_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, ledger, _ = _ledger_with_one_decision(tmp_path)
    ledger.close()
    plot = tmp_path / "reliability.svg"
    code, _, err = _run(["calibration", "--ledger", url, "--plot", str(plot)], capsys)
    assert code == 0, err
    text = plot.read_text(encoding="utf-8")
    assert "<svg" in text and text.rstrip().endswith("</svg>")


def test_ledger_path_is_the_sqlite_file_a_url_names(tmp_path: Path) -> None:
    assert ledger_path(f"sqlite:///{tmp_path}/l.sqlite") == tmp_path / "l.sqlite"
    assert ledger_path("sqlite:///rel/l.sqlite") == Path("rel/l.sqlite")
    assert ledger_path("sqlite://") is None
    assert ledger_path("sqlite:///:memory:") is None
    assert ledger_path("postgresql://u@h/db") is None
    assert ledger_path("not a url") is None


# 7. a path where a URL was expected ----------------------------------------------------


def test_a_ledger_given_as_a_path_opens_the_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`simulate --ledger FILE` prints "Ledger: FILE"; pasted into `approvals list
    --ledger FILE` it was refused as "not a database URL". A path is a SQLite file,
    relative to where the command runs; a missing one is still refused by name."""
    path = tmp_path / "sim.sqlite"
    ledger = open_ledger(f"sqlite:///{path}", NOW)
    ledger.record_question(
        decision(subject="Deployment/shop/cart"), time.time(), channel="cli", ttl=900
    )
    ledger.close()
    code, out, _ = _run(["approvals", "list", "--ledger", str(path)], capsys)
    assert code == 0 and "Deployment/shop/cart" in out
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["approvals", "list", "--ledger", "sim.sqlite"], capsys)
    assert code == 0 and "Deployment/shop/cart" in out
    err = _fail(["approvals", "list", "--ledger", "typo.sqlite"], capsys)
    assert f"no ledger at {tmp_path / 'typo.sqlite'}" in err
    assert not (tmp_path / "typo.sqlite").exists()
