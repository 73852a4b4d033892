"""An anomaly query's ``expectedWindows``: a recurring event (a monthly billing run at
02:00 on the 1st) is scored but opens no incident and is not learnt into the band, and an
incident already open when a window starts stays open across it. Bad windows stop
start-up naming file, line and field, in the freeze windows' words."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import ConfigError
from agent.ledger import Ledger, open_ledger
from agent.loops.anomaly import AnomalyLoop
from agent.metrics_port import MetricSeries
from agent.observability import Metrics
from agent.settings import (
    AnomalyQuery,
    ExpectedWindow,
    RoutingSettings,
    Settings,
    advisories,
    load_settings,
)
from forecasting.anomaly import AnomalyPoint, Detector
from forecasting.series import Series
from remediation.signals import Signal

STEP = 60.0
HISTORY = 3 * 3600.0
FIRST = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp()  # 02:00 UTC on the 1st
T0 = FIRST - 10 * STEP  # the daemon starts at 01:50
LABELS = {"namespace": "shop", "deployment": "billing"}
QUERY = "cpu"
BILLING = {"cron": "0 2 1 * *", "duration": "30m", "reason": "monthly billing run"}


class Cpu:
    """A CPU series of about 100 with small wiggles, and the values set in ``at`` (time
    -> value) in its place."""

    def __init__(self) -> None:
        self.at: dict[float, float] = {}

    def values(self, grid: np.ndarray) -> np.ndarray:
        values = 100.0 + 5.0 * np.sin(grid / 1800.0) + 1.0 * np.cos(grid / 97.0)
        for i, t in enumerate(grid):
            values[i] = self.at.get(float(t), values[i])
        return values

    def range(
        self, query: str, start: float, end: float, step: float, now: float
    ) -> list[MetricSeries]:
        grid = np.arange(math.ceil(start / step) * step, min(end, now) + 1, step)
        series = Series(grid, self.values(grid), step, query, LABELS)
        return [MetricSeries(query, dict(LABELS), series, 0, float(grid[-1]), False, 0.0)]

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return []


@pytest.fixture
def ledgers(tmp_path: Path) -> Iterator[Callable[[], Ledger]]:
    """New ledgers, one a call, closed at the end."""
    opened: list[Ledger] = []

    def new() -> Ledger:
        opened.append(open_ledger(f"sqlite:///{tmp_path / f'ledger{len(opened)}.sqlite'}", T0))
        return opened[-1]

    yield new
    for ledger in opened:
        ledger.close()


def _loop(
    ledger: Ledger, windows: list[dict[str, str]]
) -> tuple[AnomalyLoop, FakeClock, Cpu, list[Signal]]:
    clock, reader, signals = FakeClock(T0), Cpu(), []
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode="act", approvals=approvals, metrics=Metrics()
    )
    query = AnomalyQuery(
        name=QUERY,
        expr=QUERY,
        step=60,
        history=HISTORY,
        expected_windows=tuple(ExpectedWindow.model_validate(w) for w in windows),
    )
    loop = AnomalyLoop(
        [query],
        reader=reader,
        ledger=ledger,
        decisions=decisions,
        submit=signals.extend,
        clock=clock,
    )
    loop.keep_points = True
    loop.cycle()  # three hours of history, learnt
    return loop, clock, reader, signals


def _until(loop: AnomalyLoop, clock: FakeClock, at: float) -> None:
    """Cycles a step apart up to ``at``."""
    while clock.now() < at:
        clock.advance(STEP)
        loop.cycle()


def _spike(reader: Cpu) -> None:
    """The billing run: 02:00 to 02:05 at four times the usual CPU."""
    for minute in range(5):
        reader.at[FIRST + minute * STEP] = 400.0


def test_a_first_of_month_spike_opens_an_incident_without_the_window_and_none_with_it(
    ledgers: Callable[[], Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    loop, clock, reader, signals = _loop(ledgers(), [])
    _spike(reader)
    _until(loop, clock, FIRST + 10 * STEP)
    assert loop.status.incidents_opened == 1 and len(signals) == 1

    with caplog.at_level(logging.INFO, logger="autonomic.anomaly"):
        loop, clock, reader, signals = _loop(ledgers(), [BILLING])
        _spike(reader)
        _until(loop, clock, FIRST + 10 * STEP)
        assert loop.status.expected[QUERY].startswith("expected window 'monthly billing run'")
        _until(loop, clock, FIRST + 40 * STEP)
    assert loop.status.incidents_opened == 0 and signals == []
    assert loop.status.expected_points == 30  # 02:00 to 02:29, every one scored
    (points,) = loop.points.values()
    spike = [p for p in points if p[0] == FIRST]
    assert spike and spike[0][1] == 400.0 and spike[0][4] < 400.0  # shown, above the band
    assert QUERY not in loop.status.expected  # over at 02:30
    said = [r.getMessage() for r in caplog.records if "expected window" in r.getMessage()]
    assert len(said) == 2, said  # once when it comes into force, once when it is over
    assert "in force until 2026-12-01 02:30:00 UTC" in said[0]
    assert "over" in said[1]


def test_the_point_after_the_window_is_scored_against_the_band_learnt_without_the_spike(
    ledgers: Callable[[], Ledger],
) -> None:
    after = FIRST + 30 * STEP  # 02:30, the first point after the window

    def first_after(windows: list[dict[str, str]]) -> tuple[float, ...]:
        loop, clock, reader, _ = _loop(ledgers(), windows)
        _spike(reader)
        _until(loop, clock, after)
        (points,) = loop.points.values()
        (point,) = [p for p in points if p[0] == after]
        return tuple(float(x) for x in point[:5])

    with_window, without = first_after([BILLING]), first_after([])
    # The same series with the window's points missing, scored by a detector of its own:
    # what the band after the window is when the spike was never learnt.
    reader = Cpu()
    _spike(reader)
    grid = np.arange(T0 - HISTORY, after + 1, STEP)
    values = reader.values(grid)
    values[(grid >= FIRST) & (grid < after)] = math.nan
    reference = Detector(STEP)
    reference.update_many(grid[:-1], values[:-1])
    point = reference.update(float(grid[-1]), float(values[-1]))
    assert with_window == (
        point.timestamp,
        point.observed,
        point.expected,
        point.lower,
        point.upper,
    )
    # learnt, the spike would have widened the band
    assert without[4] - without[3] > 2 * (with_window[4] - with_window[3])


def test_an_incident_open_when_a_window_starts_stays_open_across_it(
    ledgers: Callable[[], Ledger],
) -> None:
    loop, clock, reader, signals = _loop(ledgers(), [BILLING])
    for minute in range(-5, 0):  # a real problem from 01:55, before the billing run
        reader.at[FIRST + minute * STEP] = 250.0
    _until(loop, clock, FIRST - STEP)
    (state,) = loop.series.values()
    opened = state.tracker.current
    assert opened is not None and len(signals) == 1
    # Back to normal at 02:00, inside the window: ten quiet points would close it, but
    # the tracker does not see the window's points (neither news nor quiet).
    _until(loop, clock, FIRST + 29 * STEP)
    assert state.tracker.current == opened
    assert loop.status.expected_points == 30
    # After it, the tracker sees the points again: once they are back in the band (the
    # detector, which learnt the 250s, follows the level back), quiet points close it.
    _until(loop, clock, FIRST + 30 * STEP)
    assert state.tracker.current is not None and state.tracker.current.number == opened.number
    _until(loop, clock, FIRST + 120 * STEP)
    assert state.tracker.current is None
    assert state.closed is not None and state.closed.since == opened.opened_at
    assert loop.status.incidents_opened == 1


@pytest.mark.parametrize(
    ("window", "line", "field", "says"),
    [
        (
            "cron: '0 2 32 * *'\n        duration: 30m",
            6,
            "cron",
            "day of month 32 is outside 1-31 (got '0 2 32 * *')",
        ),
        (
            "cron: '0 2 1 * *'\n        duration: 0s",
            7,
            "duration",
            "'duration' of a cron window must be between 1m and 7d",
        ),
        (
            "cron: '0 2 1 * *'\n        duration: -1h",
            7,
            "duration",
            "'-1h' is not a duration; write a whole number and a unit (ms, s, m, h, d, w), "
            "e.g. '30s', '5m', '2h' or '1h30m'",
        ),
        (
            "cron: '0 2 1 * *'\n        duration: 30m\n        timezone: Europe/Atlantis",
            8,
            "timezone",
            "'Europe/Atlantis' is not an IANA timezone; use a name such as 'Europe/Paris', "
            "'America/New_York' or 'UTC'",
        ),
    ],
)
def test_a_bad_expected_window_stops_start_up_naming_file_line_and_field(
    tmp_path: Path, window: str, line: int, field: str, says: str
) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        "runbooks: []\nanomalyQueries:\n  - name: cpu\n    expr: up\n    expectedWindows:\n"
        f"      - {window}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert f"{path}:{line}: anomalyQueries[0].expectedWindows[0].{field}: {says}" in str(
        raised.value
    )


def test_an_expected_window_is_cron_local_to_utc_unless_a_timezone_is_given(
    tmp_path: Path,
) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        "runbooks: []\nanomalyQueries:\n  - name: cpu\n    expr: up\n    expectedWindows:\n"
        "      - {cron: '0 2 1 * *', duration: 2h, reason: monthly billing run}\n"
        "      - {cron: '30 23 * * *', duration: 45m, timezone: Europe/Paris}\n",
        encoding="utf-8",
    )
    billing, nightly = load_settings(path, environ={}).anomaly_queries[0].expected_windows
    assert (billing.timezone, billing.duration, billing.reason) == (
        "UTC",
        7200.0,
        "monthly billing run",
    )
    assert (nightly.timezone, nightly.duration, nightly.reason) == ("Europe/Paris", 2700.0, None)


def test_the_daemon_which_keeps_no_points_learns_a_window_as_a_gap_without_copying(
    ledgers: Callable[[], Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon keeps no scored points and the tracker does not see a window's, so
    nothing reads their scores: the detector copy ``score_only`` makes for each (about
    320 us against 60 us for an ordinary point, so minutes at a first start of 1,000
    series with a nightly window in their week of history) is not made, and the
    detector ends as the one that scores them (``keep_points``) does, band and all."""
    kept = _loop(ledgers(), [BILLING])  # keeps its points: scores each
    bare = _loop(ledgers(), [BILLING])
    bare[0].keep_points = False
    copies: list[float] = []
    score_only = Detector.score_only

    def counted(detector: Detector, timestamp: float, value: float) -> AnomalyPoint:
        copies.append(timestamp)
        return score_only(detector, timestamp, value)

    monkeypatch.setattr(Detector, "score_only", counted)
    for loop, clock, reader, _ in (bare, kept):
        _spike(reader)
        _until(loop, clock, FIRST + 40 * STEP)
    # only the loop that keeps its points scored the window's on a copy
    assert copies == [FIRST + minute * STEP for minute in range(30)]
    assert bare[0].status.expected_points == kept[0].status.expected_points == 30
    assert bare[0].status.incidents_opened == kept[0].status.incidents_opened == 0
    (one,), (other,) = bare[0].series.values(), kept[0].series.values()
    assert one.detector.state() == other.detector.state()


@pytest.mark.parametrize(
    ("cron", "duration", "says"),
    [
        # each window starts before the last ends: open for good, from its next start
        ("0 2 * * *", "7d", "from 2026-11-20 12:00:00 UTC it stays open more than 8 days"),
        ("0 * * * *", "2h", "from 2026-11-20 12:00:00 UTC it stays open more than 8 days"),
        ("0 2 * 12 *", "7d", "from 2026-12-01 02:00:00 UTC it stays open more than 8 days"),
        ("0 * 21 * *", "2h", None),  # hourly, but on the 21st only: 25 hours
        ("0 2 * * 1", "7d", "from 2026-11-20 12:00:00 UTC it stays open more than 8 days"),
        ("0 2 30 2 *", "30m", "its cron never starts (February never has a day 30)"),
        ("0 2 1 * *", "7d", None),  # a week a month: it closes
        ("0 2 * * *", "23h", None),  # an hour closed every night
    ],
)
def test_config_check_warns_of_an_expected_window_that_never_starts_or_never_ends(
    cron: str, duration: str, says: str | None
) -> None:
    window = {"cron": cron, "duration": duration}
    query = {"name": QUERY, "expr": QUERY, "expectedWindows": [window]}
    settings = Settings.model_validate({"runbooks": [], "anomalyQueries": [query]})
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC).timestamp()  # a Friday
    notes = [n for n in advisories(settings, now) if n.startswith("anomalyQueries[0]")]
    if says is None:
        assert notes == []
    else:
        (note,) = notes
        assert note.startswith("anomalyQueries[0].expectedWindows[0] (cpu): ") and says in note
