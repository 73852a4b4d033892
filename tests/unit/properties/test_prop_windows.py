"""Property tests of the window walks (``remediation.windows``) that step over minutes.

``contains``, ``first_open`` and ``closes_at`` skip runs of minutes that cannot change
their answer (the rest of a day, an hour, a weekly range) instead of looking at every
minute. ``contains`` decides freeze and maintenance windows, so a skip too far is a
runbook acting inside a change freeze. Here each is compared with the plainest walk
there is, written in this file: every UTC minute turned into local time, the window's
fields checked on it. Windows are random (cron lists, ranges and steps, day of month
and day of week both set, durations from a minute to days; weekly ranges past midnight
and past the week's end) in zones with half-hour and 45-minute offsets and with
daylight saving, at instants near the zone's clock changes.
"""

from __future__ import annotations

import bisect
import math
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from remediation.windows import CronSpec, WindowFields, closes_at, contains, first_open

ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # moves its clocks by half an hour
    "Asia/Kathmandu",  # +05:45 (+05:30 until 1986)
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Gaza",  # daylight saving paused for Ramadan some years
    "Africa/Casablanca",  # an hour back for Ramadan, every year
)
_DAY = 86400.0
_WEEK_MINUTES = 7 * 1440
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@cache
def clock_changes(name: str) -> tuple[float, ...]:
    """The instants (on a whole minute) at which the zone's UTC offset changed or will
    change, 1984 to 2034: found day by day, then to the minute."""
    zone = ZoneInfo(name)

    def offset(t: float) -> Any:
        return datetime.fromtimestamp(t, zone).utcoffset()

    found = []
    t = datetime(1984, 1, 1, tzinfo=UTC).timestamp()
    stop = datetime(2034, 1, 1, tzinfo=UTC).timestamp()
    while t < stop:
        if offset(t) != offset(t + _DAY):
            low, high = t, t + _DAY  # offset(low) is the old one, offset(high) the new
            while high - low > 60:
                middle = low + (high - low) // 120 * 60
                low, high = (middle, high) if offset(middle) == offset(t) else (low, middle)
            found.append(high)
        t += _DAY
    return tuple(found)


# ------------------------------------------------------------------- the plain walk


def _clock(minutes: int) -> str:
    return "24:00" if minutes == 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


def in_weekly_range(span: dict[str, Any], local: datetime) -> bool:
    """Whether the local minute is in a range: ``span['start']`` of one of its days
    plus the range's length (past midnight when ``end`` is before ``start``), on a clock
    that goes round the week."""
    start_h, start_m = map(int, span["start"].split(":"))
    end_h, end_m = map(int, span["end"].split(":"))
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    length = end - start if end > start else end + 1440 - start
    now = local.weekday() * 1440 + local.hour * 60 + local.minute
    return any(
        (now - (_WEEKDAYS.index(day) * 1440 + start)) % _WEEK_MINUTES < length
        for day in span["days"]
    )


def cron_starts(cron: CronSpec, local: datetime) -> bool:
    """Whether the cron fires at the local minute; day of month and day of week, when
    both are given, either may match (cron's rule), else both must."""
    if local.minute not in cron.minutes or local.hour not in cron.hours:
        return False
    if local.month not in cron.months:
        return False
    by_date = local.day in cron.days
    by_weekday = local.isoweekday() % 7 in cron.weekdays
    if cron.days_restricted and cron.weekdays_restricted:
        return by_date or by_weekday
    return by_date and by_weekday


class PlainWalk:
    """The window seen one UTC minute at a time, from ``first`` to ``last``."""

    def __init__(self, w: WindowFields, spans: list[dict[str, Any]], first: float, last: float):
        self.w, self.spans, self.zone = w, spans, ZoneInfo(w.timezone)
        self.starts: list[float] = []  # cron: the minutes at which it fires
        self.inside: dict[float, bool] = {}  # weekly: each minute, inside or not
        minute = math.floor(first / 60) * 60.0
        while minute <= last:
            local = datetime.fromtimestamp(minute, self.zone)
            if w.cron is not None:
                if cron_starts(w.cron, local):
                    self.starts.append(minute)
            else:
                self.inside[minute] = self.in_weekly(local)
            minute += 60.0

    def in_weekly(self, local: datetime) -> bool:
        return any(in_weekly_range(span, local) for span in self.spans)

    def contains(self, t: float) -> bool:
        if self.w.cron is None:
            return self.in_weekly(datetime.fromtimestamp(t, self.zone))
        assert self.w.duration is not None
        newest = bisect.bisect_right(self.starts, t)  # a start in (t - duration, t]
        return newest > 0 and self.starts[newest - 1] > t - self.w.duration

    def first_open(self, at: float, ahead: float) -> float | None:
        if self.contains(at):
            return at
        minute = math.floor(at / 60) * 60.0 + 60.0
        while minute <= at + ahead:
            if self.contains(minute):
                return minute
            minute += 60.0
        return None

    def closes_at(self, at: float, horizon: float) -> float | None:
        """The first instant after ``at`` at which it is closed: a whole minute for
        weekly ranges, the end of one start's window for cron."""
        if not self.contains(at):
            return at
        if self.w.cron is None:
            ends = [m for m in self.inside if m > at]
        else:
            assert self.w.duration is not None
            ends = [s + self.w.duration for s in self.starts if s + self.w.duration > at]
        closed = next((t for t in sorted(ends) if not self.contains(t)), None)
        return closed if closed is not None and closed <= at + horizon else None


# ----------------------------------------------------------------------- strategies


def _cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.one_of(st.integers(low, high), st.sampled_from([low, high]))  # ends: 0, 59...
    step = st.integers(1, high)
    part = st.one_of(
        value.map(str),
        st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}"),
        st.tuples(value, value, step).map(lambda p: f"{min(p[:2])}-{max(p[:2])}/{p[2]}"),
        step.map(lambda k: f"*/{k}"),
        st.tuples(value, step).map(lambda p: f"{p[0]}/{p[1]}"),
    )
    return st.one_of(st.just("*"), st.lists(part, min_size=1, max_size=3).map(",".join))


_CRON = st.tuples(
    _cron_field(0, 59),
    _cron_field(0, 23),
    _cron_field(1, 31),
    st.one_of(st.just("*"), _cron_field(1, 12)),
    _cron_field(0, 7),
).map(" ".join)
_DURATION = st.one_of(
    st.sampled_from([60, 90, 3599, 3600, 5400, 86400, 2 * 86400 + 30, 3 * 86400]),
    st.integers(60, 3 * 86400),
).map(lambda seconds: f"{seconds}s")
# Times near the small hours (where clocks change) and anywhere in the day.
_MINUTE_OF_DAY = st.one_of(st.integers(0, 1440), st.integers(0, 8 * 60))
_SPAN = st.builds(
    lambda days, start, end: {
        "days": tuple(days),
        "start": _clock(start % 1440),
        "end": _clock(end if end != start % 1440 else (end + 1) % 1440 or 1440),
    },
    st.lists(st.sampled_from(_WEEKDAYS), min_size=1, max_size=7, unique=True),
    _MINUTE_OF_DAY,
    _MINUTE_OF_DAY.filter(lambda m: m > 0),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[WindowFields, list[dict[str, Any]], float, float]:
    """A window, its weekly ranges (if weekly), an instant and a horizon."""
    zone = draw(st.sampled_from(ZONES))
    spans: list[dict[str, Any]] = []
    if draw(st.booleans()):
        w = WindowFields.model_validate(
            {"timezone": zone, "cron": draw(_CRON), "duration": draw(_DURATION)}
        )
    else:
        spans = draw(st.lists(_SPAN, min_size=1, max_size=3))
        w = WindowFields.model_validate({"timezone": zone, "weekly": tuple(spans)})
    changes = clock_changes(zone)
    if changes and draw(st.integers(0, 3)) > 0:  # mostly near a clock change
        base = draw(st.sampled_from(changes))
        moment = (
            base + draw(st.one_of(st.integers(-240, 240), st.integers(-4 * 1440, 4 * 1440))) * 60
        )
    else:
        moment = (
            datetime(2026, 1, 1, tzinfo=UTC).timestamp() + draw(st.integers(0, 366 * 1440)) * 60
        )
    moment += draw(st.sampled_from([0.0, 0.0, 0.5, 30.0, 59.75]))
    horizon = (
        draw(st.one_of(st.integers(0, 120), st.integers(0, 3 * 1440), st.integers(1440, 3 * 1440)))
        * 60.0
    )
    return w, spans, moment, horizon


@settings(
    max_examples=int(__import__("os").environ.get("NEX", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases())
# A start at 23:59 the day before a day the cron skips, found by walking back over it.
@example(
    case=(
        WindowFields.model_validate(
            {"timezone": "Europe/Paris", "cron": "59 23 1 * *", "duration": "2h"}
        ),
        [],
        datetime(2026, 3, 1, 23, 30, tzinfo=UTC).timestamp(),  # 00:30 on 2 March in Paris
        3600.0,
    )
)
# Windows that follow one another without a gap: one opening, not closed in between.
@example(
    case=(
        WindowFields.model_validate({"timezone": "UTC", "cron": "* * * * *", "duration": "1m"}),
        [],
        datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        600.0,
    )
)
def test_stepped_walks_agree_with_a_plain_minute_walk(
    case: tuple[WindowFields, list[dict[str, Any]], float, float],
) -> None:
    w, spans, at, horizon = case
    duration = w.duration or 0.0
    walk = PlainWalk(w, spans, at - duration, at + horizon + duration)
    when = datetime.fromtimestamp(at, ZoneInfo(w.timezone)).isoformat()
    assert contains(w, at) == walk.contains(at), when
    assert first_open(w, at, horizon) == walk.first_open(at, horizon), when
    assert closes_at(w, at, horizon) == walk.closes_at(at, horizon), when
    opens, closes = walk.first_open(at, horizon), walk.closes_at(at, horizon)
    event(
        f"{'cron' if w.cron else 'weekly'}: open already"
        if opens == at
        else f"{'cron' if w.cron else 'weekly'}: opens later"
        if opens is not None
        else f"{'cron' if w.cron else 'weekly'}: stays closed"
    )
    if opens == at:
        event("closes within the horizon" if closes is not None else "open past the horizon")
    # And whether it is open at moments spread over the horizon, and as each cron
    # window seen in it is about to close (each a walk back of its own).
    spread = [at + horizon * k / 40 for k in range(41)]
    ends = [s + duration + shift for s in walk.starts for shift in (-0.5, 0.0)]
    for moment in spread + ends[:: max(len(ends) // 40, 1)]:
        if at <= moment <= at + horizon:
            assert contains(w, moment) == walk.contains(moment), moment
