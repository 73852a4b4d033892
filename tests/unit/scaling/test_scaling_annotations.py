"""The scaling loop's per-workload annotations: checked, never guessed; a history cut
keeps old traffic out of the fit; a floor's floor."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from agent.clock import FakeClock
from agent.loops.scaling import (
    CAPACITY,
    HISTORY_SINCE,
    MIN_REPLICAS,
    RECENT,
    STARTUP,
    STEP,
    WorkloadKnobs,
    read_knobs,
)
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

BASE = {CAPACITY: "20"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_valid_annotations_are_read() -> None:
    knobs = read_knobs(
        {**BASE, STARTUP: "90", MIN_REPLICAS: "4", HISTORY_SINCE: "2026-11-01T08:00:00Z"}
    )
    assert knobs == WorkloadKnobs(20.0, 90.0, 4, datetime(2026, 11, 1, 8, tzinfo=UTC).timestamp())
    assert read_knobs(BASE) == WorkloadKnobs(20.0)  # start-up 60 s, no floor, no cut
    offset = read_knobs({**BASE, HISTORY_SINCE: "2026-11-01T10:00:00+02:00"})
    assert isinstance(offset, WorkloadKnobs)
    assert offset.history_since == datetime(2026, 11, 1, 8, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("annotations", "named", "says"),
    [
        ({}, CAPACITY, "no autonomic.dev/capacity-per-pod annotation"),
        ({CAPACITY: "lots"}, CAPACITY, "not a positive number"),
        ({CAPACITY: "-5"}, CAPACITY, "not a positive number"),
        ({CAPACITY: "nan"}, CAPACITY, "not a positive number"),
        ({**BASE, STARTUP: "2m"}, STARTUP, "number of seconds from 0 to 3600"),
        ({**BASE, STARTUP: "86400"}, STARTUP, "number of seconds from 0 to 3600"),
        ({**BASE, MIN_REPLICAS: "2.5"}, MIN_REPLICAS, "whole number of at least 1"),
        ({**BASE, MIN_REPLICAS: "0"}, MIN_REPLICAS, "whole number of at least 1"),
        ({**BASE, HISTORY_SINCE: "last tuesday"}, HISTORY_SINCE, "ISO 8601 time with a time zone"),
        ({**BASE, HISTORY_SINCE: "2026-11-01T08:00:00"}, HISTORY_SINCE, "with a time zone"),
    ],
)
def test_a_bad_annotation_is_named_not_guessed(
    annotations: dict[str, str], named: str, says: str
) -> None:
    why = read_knobs(annotations)
    assert isinstance(why, str)
    assert named in why and says in why and why.endswith("staying reactive")


def test_a_bad_annotation_holds_the_workload_reads_nothing_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, values = week_and_a_day(5)
    reader, clock = WeekReader(t, values), FakeClock(float(t[-60]))
    web = workload("web", **{STARTUP: "two minutes"})
    loop = loop_over(reader, clock, [web])
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        for _ in range(3):
            loop.cycle()
            clock.advance(STEP)
    assert reader.reads == []
    assert STARTUP in loop.status.held[str(web.ref)]
    assert sum(STARTUP in r.getMessage() for r in caplog.records) == 1


def test_history_since_keeps_older_load_out_of_the_fit_and_stays_reactive() -> None:
    t, values = week_and_a_day(6)
    values[-60] = 50.0  # the current minute is known (a gap would mean "hold")
    now = float(t[-60])
    cut = now - 86_400.0  # traffic changed for good a day ago
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web", **{HISTORY_SINCE: iso(cut)})
    loop = loop_over(reader, clock, [web])
    loop.cycle()
    assert reader.reads[0] == (cut, now)
    model = loop.models[web.ref]
    assert model.fitted is not None
    assert model.fitted.fallback_reason is not None
    assert model.fitted.fallback_reason.startswith("TooLittleHistory")
    assert model.previous is not None and model.previous.mode == "reactive"


def test_a_cut_in_the_future_still_reads_the_newest_minutes() -> None:
    t, values = week_and_a_day(7)
    now = float(t[-60])
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web", **{HISTORY_SINCE: iso(now + 3600)})
    loop = loop_over(reader, clock, [web])
    loop.cycle()
    assert reader.reads[0] == (now - STEP * (RECENT - 1), now)


def test_changing_the_cut_refits_at_once() -> None:
    t, values = week_and_a_day(8)
    now = float(t[-120])
    reader, clock = WeekReader(t, values), FakeClock(now)
    web = workload("web")
    loop = loop_over(reader, clock, [web], refitEvery="6h")
    loop.cycle()
    clock.advance(STEP)
    loop.cycle()
    assert loop.models[web.ref].version == 1
    assert reader.reads[-1] == (clock.now(), clock.now())  # between refits: the new minute
    cut = clock.now() - 3 * 86_400.0
    cast(Any, loop.cluster).workloads = [workload("web", **{HISTORY_SINCE: iso(cut)})]
    clock.advance(STEP)
    loop.cycle()
    assert loop.models[web.ref].version == 2  # refitted on the next cycle, not in 6 h
    assert reader.reads[-1] == (cut, clock.now())
    assert loop.models[web.ref].fitted is not None
    assert loop.models[web.ref].fitted.fallback_reason is None  # three days are enough


def test_min_replicas_is_the_floors_floor() -> None:
    t, values = week_and_a_day(9)
    now = float(t[-60])
    # 50 req/s at 1,000 per pod needs one pod; the annotation asks for at least seven
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    reader, clock = WeekReader(t, values), FakeClock(now)
    loop = loop_over(reader, clock, [web])
    loop.cycle()
    proposals = cast(Any, loop.decisions).proposals
    assert len(proposals) == 1
    assert proposals[0].proposal["from"] == 3 and proposals[0].proposal["to"] == 7
