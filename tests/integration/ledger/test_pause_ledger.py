"""The pause is one compare-and-set row of the guard table, on SQLite and PostgreSQL:
`autonomic pause` and `autonomic resume` write it through the CLI, every reader sees
it, the newest of two pauses at once is the one that holds, and the history is kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from agent.ledger import Ledger, open_ledger
from agent.pause import active_pause, pause, read_pause
from tests.harness.servers import fresh_schema

NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        found = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        found, _ = fresh_schema(request.getfixturevalue("postgres_url"))
    open_ledger(found, NOW).close()  # created, as the daemon creates it
    yield found


def test_pause_and_resume_from_the_cli_are_read_by_another_reader(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["pause", "--reason", "bad drains", "--for", "2h", "--as", "frank", "--ledger", url])
        == 0
    )
    reader: Ledger = open_ledger(url, NOW)
    try:
        state, version = read_pause(reader)
        assert version == 1 and state.pause is not None
        held = state.pause
        assert (held.by, held.reason, held.until) == ("frank", "bad drains", held.at + 7200)
        assert active_pause(reader, held.at + 7199) == held
        assert active_pause(reader, held.at + 7200) is None  # lapsed at its end
        assert main(["resume", "--as", "gina", "--ledger", url]) == 0
        after, version = read_pause(reader)
        assert version == 2 and after.pause is None and not after.announced
        assert after.last is not None and (after.last["event"], after.last["by"]) == (
            "resumed",
            "gina",
        )
        assert [h["event"] for h in after.history] == ["paused"]
    finally:
        reader.close()
    out = capsys.readouterr().out
    assert "Autonomic paused by frank" in out and "Autonomic resumed by gina" in out


def test_two_pauses_at_once_both_land_and_the_later_holds(url: str) -> None:
    ledgers = [open_ledger(url, NOW) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(ledgers))

        def one(i: int) -> None:
            barrier.wait()
            pause(ledgers[i], by=f"p{i}", reason="storm", now=NOW + i)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ledgers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        state, version = read_pause(ledgers[0])
        assert version == len(ledgers)  # each a write of its own, none lost
        assert state.last is not None
        events = [*state.history, state.last]
        assert sorted(e["by"] for e in events) == [f"p{i}" for i in range(len(ledgers))]
        assert state.pause is not None and state.pause.by == events[-1]["by"]
    finally:
        for ledger in ledgers:
            ledger.close()
