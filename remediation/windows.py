"""Freeze and maintenance windows, evaluated in the window's own IANA timezone.

A window is written the way a team announces it: "Fridays from 16:00 Paris time",
"Saturdays at 02:00 for four hours" (cron), or "from 20 December to 4 January". It is
evaluated on the local wall clock of its ``timezone`` through ``zoneinfo``, so a window
keeps its local hours across daylight-saving changes. ``contains(window, at)`` takes the
instant as epoch seconds: the clock is passed in, never read here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from remediation._types import Duration, RunbookModel
from remediation.digits import ascii_digits

__all__ = [
    "MAX_CRON_WINDOW",
    "MINUTES_PER_WEEK",
    "Cron",
    "CronSpec",
    "DateRange",
    "Timezone",
    "WeeklyRange",
    "WindowFields",
    "closes_at",
    "contains",
    "cron_always_open",
    "cron_never_starts",
    "describe",
    "first_open",
    "open_spans",
    "parse_cron",
    "week_mask",
]

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
MAX_CRON_WINDOW = 7 * 86400.0


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not an IANA timezone; use a name such as 'Europe/Paris', "
            "'America/New_York' or 'UTC'"
        ) from None
    return name


Timezone = Annotated[str, AfterValidator(_check_timezone)]


def _minutes_of(clock: str) -> int:
    if not _CLOCK.fullmatch(clock):
        raise ValueError(f"{clock!r} is not a time of day; write 24-hour 'HH:MM', e.g. '16:00'")
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _check_clock(clock: str) -> str:
    _minutes_of(clock)
    return clock


ClockTime = Annotated[
    str,
    AfterValidator(_check_clock),
    WithJsonSchema({"type": "string", "pattern": _CLOCK.pattern, "examples": ["16:00"]}),
]


class WeeklyRange(RunbookModel):
    """Local days and a time range; an ``end`` before ``start`` runs past midnight."""

    days: tuple[Weekday, ...] = Field(min_length=1, max_length=7)
    """Days on which the range starts."""
    start: ClockTime
    """Local start time, 'HH:MM'."""
    end: ClockTime
    """Local end time, 'HH:MM' ('24:00' for midnight); exclusive."""

    @model_validator(mode="after")
    def _not_empty(self) -> WeeklyRange:
        if _minutes_of(self.start) == _minutes_of(self.end):
            raise ValueError("start and end are equal, so the range is empty")
        return self


def _parse_local(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or date-time; write e.g. '2026-12-20' or '2026-12-20T18:00'"
        ) from None


def _check_local(text: str) -> str:
    _parse_local(text)
    return text


LocalTime = Annotated[
    str,
    AfterValidator(_check_local),
    WithJsonSchema({"type": "string", "examples": ["2026-12-20", "2026-12-20T18:00"]}),
]


class DateRange(RunbookModel):
    """A one-off period, e.g. a year-end change freeze; times are local to the window."""

    start: LocalTime
    """Inclusive start, ISO 8601 date or date-time."""
    end: LocalTime
    """Exclusive end, ISO 8601 date or date-time."""


# ------------------------------------------------------------------------------ cron


@dataclass(frozen=True)
class CronSpec:
    """A parsed five-field cron expression (minute hour day-of-month month day-of-week)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, local: datetime) -> bool:
        if local.minute not in self.minutes or local.hour not in self.hours:
            return False
        return self.day_matches(local)

    def day_matches(self, local: datetime) -> bool:
        """Whether the local date (month, day, weekday) may start the window."""
        if local.month not in self.months:
            return False
        weekday = (local.weekday() + 1) % 7
        day_ok = local.day in self.days
        weekday_ok = weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok  # classic cron: either restricted field may match
        return day_ok and weekday_ok

    def __str__(self) -> str:
        return self.text


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES = {
    4: {m: i + 1 for i, m in enumerate(_MONTHS)},
    5: {d: i for i, d in enumerate(_DAYS)},
}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# The most digits a cron number may have (leading zeros allowed: "007" is 7); past that,
# or in another script's digits, it is no number at all.
_CRON_DIGITS = 9


def _cron_value(token: str, index: int) -> int:
    names = _NAMES.get(index + 1, {})
    if token.lower() in names:
        return names[token.lower()]
    if not ascii_digits(token, _CRON_DIGITS):
        raise ValueError(f"{token!r} is not a valid {_FIELD_NAMES[index]}")
    value = int(token)
    low, high = _BOUNDS[index]
    if not low <= value <= high:
        raise ValueError(f"{_FIELD_NAMES[index]} {value} is outside {low}-{high}")
    return value


def _cron_field(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not ascii_digits(step_text, _CRON_DIGITS) or int(step_text) == 0:
                raise ValueError(f"step {step_text!r} in {_FIELD_NAMES[index]} must be 1 or more")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, _, last_text = span.partition("-")
            first, last = _cron_value(first_text, index), _cron_value(last_text, index)
            if first > last:
                raise ValueError(f"range {span!r} in {_FIELD_NAMES[index]} runs backwards")
        else:
            first = _cron_value(span, index)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def parse_cron(text: object) -> CronSpec:
    """Parse five-field cron (names like ``sat`` allowed); raise ``ValueError`` naming the field."""
    if isinstance(text, CronSpec):
        return text
    if not isinstance(text, str):
        raise ValueError(f"a cron expression must be a string such as '0 2 * * sat', not {text!r}")
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{text!r} has {len(fields)} fields; cron needs five: minute hour day-of-month "
            "month day-of-week, e.g. '0 2 * * sat'"
        )
    parsed = [_cron_field(field, index) for index, field in enumerate(fields)]
    return CronSpec(
        text=" ".join(fields),
        minutes=parsed[0],
        hours=parsed[1],
        days=parsed[2],
        months=parsed[3],
        weekdays=parsed[4],
        days_restricted=fields[2] != "*",
        weekdays_restricted=fields[4] != "*",
    )


Cron = Annotated[
    CronSpec,
    PlainValidator(parse_cron),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "examples": ["0 2 * * sat"]}),
]


# --------------------------------------------------------------------------- windows


class WindowFields(RunbookModel):
    """When a window is open: exactly one of ``weekly``, ``cron`` + ``duration`` or ``dates``."""

    name: str | None = Field(default=None, max_length=200)
    """A label for messages, e.g. 'year-end freeze'."""
    timezone: Timezone
    """IANA timezone the times are written in, e.g. 'Europe/Paris'."""
    weekly: tuple[WeeklyRange, ...] | None = Field(default=None, min_length=1, max_length=50)
    """Recurring local day/time ranges."""
    cron: Cron | None = None
    """Start times as a five-field cron expression, local to ``timezone``."""
    duration: Duration | None = None
    """How long the window stays open after each cron start (at most 7 days)."""
    dates: tuple[DateRange, ...] | None = Field(default=None, min_length=1, max_length=50)
    """One-off local date ranges."""

    @model_validator(mode="after")
    def _one_form(self) -> WindowFields:
        forms = [self.weekly is not None, self.cron is not None, self.dates is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of 'weekly', 'cron' (with 'duration') or 'dates'")
        if (self.cron is None) != (self.duration is None):
            raise ValueError("'cron' and 'duration' go together: when it opens and for how long")
        if self.duration is not None and not 60.0 <= self.duration <= MAX_CRON_WINDOW:
            raise ValueError("'duration' of a cron window must be between 1m and 7d")
        zone = ZoneInfo(self.timezone)
        for span in self.dates or ():
            try:
                start, end = _local_instant(span.start, zone), _local_instant(span.end, zone)
            except (OverflowError, ValueError, OSError):
                raise ValueError(f"dates {span.start} to {span.end} are out of range") from None
            if start >= end:
                raise ValueError(
                    _never_happens(span, zone, self.timezone)
                    or f"dates: {span.start} is not before {span.end}"
                )
        return self


def _never_happens(span: DateRange, zone: ZoneInfo, name: str) -> str | None:
    """Why a range written start before end is empty all the same: both its ends fall in
    the time the clock skips (moved forward over it), so both are the instant it jumped;
    ``None`` for any other empty range."""
    first, last = _parse_local(span.start), _parse_local(span.end)
    if first.tzinfo is not None or last.tzinfo is not None or not first < last:
        return None
    if not (_skipped(first, zone) and _skipped(last, zone)):
        return None
    before = first.replace(tzinfo=zone, fold=0).utcoffset()
    after = first.replace(tzinfo=zone, fold=1).utcoffset()
    gap = abs((after - before).total_seconds()) if before and after else 3600.0
    skipped = "hour" if gap == 3600 else f"{gap / 60:g} minutes"
    return (
        f"dates: {span.start} and {span.end} both fall in the {skipped} the clock skips on "
        f"{first.date().isoformat()} in {name}: the range never happens"
    )


def _skipped(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether the local clock of ``zone`` never reads ``moment`` (naive): it moved
    forward over it."""
    instant = moment.replace(tzinfo=zone).timestamp()
    return datetime.fromtimestamp(instant, zone).replace(tzinfo=None) != moment


def _zone(window: WindowFields) -> ZoneInfo:
    return ZoneInfo(window.timezone)


def _in_weekly(ranges: tuple[WeeklyRange, ...], local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    today = _WEEKDAYS[local.weekday()]
    yesterday = _WEEKDAYS[(local.weekday() - 1) % 7]
    for span in ranges:
        start, end = _minutes_of(span.start), _minutes_of(span.end)
        if start < end:
            if today in span.days and start <= minute < end:
                return True
        else:  # runs past midnight: started today, or started yesterday and not yet over
            if today in span.days and minute >= start:
                return True
            if yesterday in span.days and minute < end:
                return True
    return False


# Walking a window minute by minute on the local clock costs one timezone conversion a
# minute: some 11,500 for a window open for days (milliseconds a call, every cycle, for
# every workload a schedule names). The walks below step over runs of minutes known to
# give the same answer instead: the rest of a local day, hour or run of minutes that
# cannot start a cron window, the rest of a weekly range. A step is taken only where the
# UTC offset is the same at both of its ends, so that every local minute in between is
# the one a minute-by-minute walk would have seen; across a daylight-saving change the
# step is halved until it is (at worst one minute). Two changes within one step whose
# offsets cancel out would be stepped over unseen, so a step is at most a day: no zone
# in the tz database changes its offset and back within a day (a test checks this), while
# some have within a week (Recife in October 2000, Gaza and Hebron in 2040).
_LONGEST_STEP = 1440


def _step(instant: float, local: datetime, minutes: int, zone: ZoneInfo, sign: int) -> float:
    """``instant`` moved ``sign`` (1 or -1) by up to ``minutes`` whole minutes (a day at
    most): the most, halving, that lands at the UTC offset ``local`` (its local time) has."""
    offset = local.utcoffset()
    minutes = min(minutes, _LONGEST_STEP)
    while (
        minutes > 1
        and datetime.fromtimestamp(instant + sign * minutes * 60, zone).utcoffset() != offset
    ):
        minutes //= 2
    return instant + sign * max(minutes, 1) * 60


def _no_start_ahead(cron: CronSpec, local: datetime) -> int:
    """How many local minutes from ``local`` on (it included) start no cron window."""
    if not cron.day_matches(local):
        return 1440 - (local.hour * 60 + local.minute)
    if local.hour not in cron.hours:
        return 60 - local.minute
    later = [minute for minute in cron.minutes if minute > local.minute]
    return (min(later) if later else 60) - local.minute


def _no_start_behind(cron: CronSpec, local: datetime) -> int:
    """How many local minutes back from ``local`` (it included) start no cron window."""
    if not cron.day_matches(local):
        return local.hour * 60 + local.minute + 1
    if local.hour not in cron.hours:
        return local.minute + 1
    earlier = [minute for minute in cron.minutes if minute < local.minute]
    return local.minute - (max(earlier) if earlier else -1)


def _next_start(cron: CronSpec, first: float, last: float, zone: ZoneInfo) -> float | None:
    """The first whole minute from ``first`` to ``last`` (both instants on a minute) at
    which ``cron`` starts a window on the local clock; None when it starts none."""
    instant = first
    while instant <= last:
        local = datetime.fromtimestamp(instant, zone)
        if cron.matches(local):
            return instant
        instant = _step(instant, local, _no_start_ahead(cron, local), zone, 1)
    return None


def _last_start(cron: CronSpec, newest: float, oldest: float, zone: ZoneInfo) -> float | None:
    """The last whole minute from ``newest`` back to just after ``oldest`` at which
    ``cron`` starts a window on the local clock; None when it starts none."""
    instant = newest
    while instant > oldest:
        local = datetime.fromtimestamp(instant, zone)
        if cron.matches(local):
            return instant
        instant = _step(instant, local, _no_start_behind(cron, local), zone, -1)
    return None


def _in_cron(cron: CronSpec, duration: float, at: float, zone: ZoneInfo) -> bool:
    # A start matched within the last ``duration`` seconds means the window is open.
    # Matching on each instant's local wall clock makes skipped (spring-forward) minutes
    # never match, as in cron.
    return _last_start(cron, int(at // 60) * 60, at - duration, zone) is not None


def _weekly_run(mask: int, local: datetime, inside: bool) -> int:
    """How many local minutes from ``local`` on (it included) are all inside (or all
    outside) the weekly ranges whose ``week_mask`` is ``mask``, up to the week's end."""
    at = local.weekday() * 1440 + local.hour * 60 + local.minute
    bits = mask >> at
    if not inside:
        bits = ~bits & ((1 << (MINUTES_PER_WEEK - at)) - 1)
    run = (bits ^ (bits + 1)).bit_length() - 1  # the lowest bit not set
    return max(min(run, MINUTES_PER_WEEK - at), 1)


MINUTES_PER_WEEK = 7 * 1440
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def week_mask(ranges: tuple[WeeklyRange, ...]) -> int:
    """The local minutes of the week the ranges cover, as bits of an integer (bit 0 is
    Monday 00:00), by the rule ``contains`` applies: a range whose end is before its start
    runs past midnight into the next day."""

    def span(first: int, last: int) -> int:
        return ((1 << (last - first)) - 1) << first

    mask = 0
    for block in ranges:
        start, end = _minutes_of(block.start), _minutes_of(block.end)
        for day in block.days:
            at = _WEEKDAYS.index(day) * 1440
            if start < end:
                mask |= span(at + start, at + end)
            else:
                following = (at + 1440) % MINUTES_PER_WEEK
                mask |= span(at + start, at + 1440) | span(following, following + end)
    return mask


def cron_always_open(cron: CronSpec) -> bool:
    """True when the cron starts a window at every minute of every day (so any window it
    starts, of 1m or more, is open all the time)."""
    every_day = len(cron.days) == 31
    every_weekday = len(cron.weekdays) == 7
    if cron.days_restricted and cron.weekdays_restricted:
        days_ok = every_day or every_weekday  # either field may match
    else:
        days_ok = every_day and every_weekday
    return days_ok and len(cron.months) == 12 and len(cron.hours) == 24 and len(cron.minutes) == 60


def cron_never_starts(cron: CronSpec) -> str | None:
    """Why the cron can never match (it names only dates that do not exist, such as the
    30th of February), or None when it matches some time."""
    if not cron.days_restricted or cron.weekdays_restricted:
        return None  # any day, or the day of the week may match instead
    if any(day <= _LONGEST_MONTH[month - 1] for month in cron.months for day in cron.days):
        return None
    days = " or ".join(str(day) for day in sorted(cron.days))
    months = ", ".join(_MONTH_NAMES[month - 1] for month in sorted(cron.months))
    return f"{months} never {'has' if len(cron.months) == 1 else 'have'} a day {days}"


def _local_instant(text: str, zone: ZoneInfo) -> float:
    """The first instant at which the local clock reads ``text`` or later: a time the
    clock skips (moved forward over it) is the instant it jumped; a time it shows twice
    (moved back) is the first of them."""
    moment = _parse_local(text)
    if moment.tzinfo is not None:
        return moment.timestamp()
    instant = moment.replace(tzinfo=zone).timestamp()  # a skipped time: the offset before
    if datetime.fromtimestamp(instant, zone).replace(tzinfo=None) == moment:
        return instant
    # Skipped: the clock read less than ``moment`` at ``low`` and more at ``instant``;
    # find the second it jumped.
    low = moment.replace(tzinfo=zone, fold=1).timestamp()
    while instant - low > 1.0:
        middle = math.floor((low + instant) / 2.0)
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= moment:
            instant = middle
        else:
            low = middle
    return instant


def _in_dates(ranges: tuple[DateRange, ...], at: float, zone: ZoneInfo) -> bool:
    return any(
        _local_instant(span.start, zone) <= at < _local_instant(span.end, zone) for span in ranges
    )


def contains(window: WindowFields, at: float) -> bool:
    """True when the instant ``at`` (epoch seconds) falls inside ``window``."""
    zone = _zone(window)
    if window.weekly is not None:
        return _in_weekly(window.weekly, datetime.fromtimestamp(at, zone))
    if window.cron is not None and window.duration is not None:
        return _in_cron(window.cron, window.duration, at, zone)
    if window.dates is not None:
        return _in_dates(window.dates, at, zone)
    return False


def first_open(window: WindowFields, at: float, ahead: float) -> float | None:
    """The first instant from ``at`` to ``at + ahead`` (epoch seconds) at which ``window``
    is open: ``at`` itself when it is open already, else the minute it opens (a dates
    window: its exact start), or None when it stays closed all that time. For a floor set
    ``ahead`` of a window, long enough before it for pods to start."""
    if contains(window, at):
        return at
    end = at + max(ahead, 0.0)
    zone = _zone(window)
    if window.dates is not None:
        starts = [_local_instant(span.start, zone) for span in window.dates]
        inside = [start for start in starts if at < start <= end]
        return min(inside) if inside else None
    # Weekly ranges and cron starts fall on whole local minutes.
    minute = math.floor(at / 60.0) * 60.0 + 60.0
    if window.cron is not None:
        return _next_start(window.cron, minute, end, zone)
    if window.weekly is None:  # pragma: no cover - one form each
        return None
    mask = week_mask(window.weekly)
    while minute <= end:
        local = datetime.fromtimestamp(minute, zone)
        if _in_weekly(window.weekly, local):
            return minute
        minute = _step(minute, local, _weekly_run(mask, local, False), zone, 1)
    return None


def closes_at(window: WindowFields, at: float, horizon: float = 8 * 86400.0) -> float | None:
    """The instant (epoch seconds) at which ``window``, open at ``at``, closes: the end
    of its dates range, the first local minute outside its weekly ranges, or a cron
    window's last start plus its ``duration`` (a start while it is open, or just as it
    closes, keeps it open longer). ``at`` itself when it is closed then; None when a
    weekly or cron window is still open at ``at + horizon`` (looked at that far ahead)."""
    if not contains(window, at):
        return at
    zone = _zone(window)
    if window.dates is not None:
        spans = [
            (_local_instant(span.start, zone), _local_instant(span.end, zone))
            for span in window.dates
        ]
        end = at
        while True:  # ranges that overlap or touch are one opening
            later = [stop for start, stop in spans if start <= end < stop]
            if not later:
                return end
            end = max(later)
    last = at + max(horizon, 0.0)
    minute = math.floor(at / 60.0) * 60.0 + 60.0
    if window.weekly is not None:
        mask = week_mask(window.weekly)
        while minute <= last:
            local = datetime.fromtimestamp(minute, zone)
            if not _in_weekly(window.weekly, local):
                return minute
            minute = _step(minute, local, _weekly_run(mask, local, True), zone, 1)
        return None
    if window.cron is None or window.duration is None:  # pragma: no cover - one form each
        return None
    duration = window.duration
    # The newest start that keeps it open now (``_in_cron`` found one), then any start
    # before that opening ends or just as it ends (the window goes on without a gap).
    start = _last_start(window.cron, math.floor(at / 60.0) * 60.0, at - duration, zone)
    if start is None:  # pragma: no cover - ``contains`` found one
        return at
    end = start + duration
    while minute <= end and minute <= last:
        # The last whole minute up to ``end`` (a duration may end between minutes).
        found = _next_start(window.cron, minute, min(math.floor(end / 60.0) * 60.0, last), zone)
        if found is None:
            break
        end, minute = found + duration, found + 60.0
    return end if end <= last else None


def open_spans(window: WindowFields, start: float, end: float) -> list[tuple[float, float]]:
    """The times ``window`` is open from ``start`` to ``end`` (epoch seconds), as
    ``(opens, closes)`` pairs in order, ``closes`` exclusive: the first clipped to
    ``start`` when it is open then, the last running past ``end`` (to infinity when it
    is still open 8 days on). Found once for a whole read, so that each of its points
    is tested against a few numbers instead of walking the local clock."""
    spans: list[tuple[float, float]] = []
    at = start
    while at <= end:
        opens = first_open(window, at, end - at)
        if opens is None:
            break
        closes = closes_at(window, opens)
        if closes is None:
            spans.append((opens, math.inf))
            break
        spans.append((opens, closes))
        at = max(closes, opens + 1.0)
    return spans


def last_close(window: WindowFields) -> float | None:
    """The instant (epoch seconds) a ``dates`` window closes for the last time: the
    latest end of its ranges. None for a weekly or cron window, which opens again."""
    if window.dates is None:
        return None
    zone = _zone(window)
    return max(_local_instant(span.end, zone) for span in window.dates)


def describe(window: WindowFields) -> str:
    """A short human description for reason messages."""
    label = f"{window.name!r} " if window.name else ""
    if window.weekly is not None:
        parts = [f"{'/'.join(r.days)} {r.start}-{r.end}" for r in window.weekly]
        when = ", ".join(parts)
    elif window.cron is not None and window.duration is not None:
        from remediation.durations import format_duration

        when = f"cron '{window.cron}' for {format_duration(window.duration)}"
    else:
        when = ", ".join(f"{r.start} to {r.end}" for r in window.dates or ())
    return f"{label}({when} {window.timezone})"


def to_utc_text(at: float) -> str:
    """A moment as a person reads it, in every sentence, listing and log line and in
    Slack's message text: ``2026-11-25 06:02:10 UTC``. Machine-readable fields keep ISO
    8601 (:func:`to_utc_iso`)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def to_utc_iso(at: float) -> str:
    """A moment for a machine-readable field: ISO 8601 in UTC to the minute,
    ``2026-11-25T06:02+00:00``."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="minutes")
