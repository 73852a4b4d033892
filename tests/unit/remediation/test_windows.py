"""Freeze and maintenance windows in their own timezone, across daylight-saving changes."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from remediation.windows import WindowFields, contains, parse_cron


def window(**fields: Any) -> WindowFields:
    return WindowFields.model_validate(fields)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


PARIS_FRIDAY = window(
    timezone="Europe/Paris", weekly=({"days": ("Fri",), "start": "16:00", "end": "20:00"},)
)


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        # Winter (UTC+1): 16:00 Paris is 15:00 UTC.
        ("2026-11-20T14:59:00", False),
        ("2026-11-20T15:00:00", True),
        ("2026-11-20T18:59:00", True),
        ("2026-11-20T19:00:00", False),
        # Summer (UTC+2): 16:00 Paris is 14:00 UTC.
        ("2026-07-17T14:00:00", True),
        ("2026-07-17T13:59:00", False),
        ("2026-07-17T18:00:00", False),
        # Thursday at the same local time.
        ("2026-11-19T16:00:00", False),
    ],
)
def test_weekly_window_follows_local_time(utc: str, inside: bool) -> None:
    assert contains(PARIS_FRIDAY, at(utc)) is inside


def test_overnight_range_belongs_to_its_start_day() -> None:
    night = window(timezone="UTC", weekly=({"days": ("Sat",), "start": "22:00", "end": "02:00"},))
    assert contains(night, at("2026-11-21T23:30:00"))  # Saturday night
    assert contains(night, at("2026-11-22T01:59:00"))  # early Sunday, same window
    assert not contains(night, at("2026-11-22T02:00:00"))
    assert not contains(night, at("2026-11-20T23:30:00"))  # Friday night


def test_window_over_spring_forward_keeps_local_hours() -> None:
    # 29 March 2026: Paris jumps from 02:00 to 03:00 (UTC+1 -> UTC+2).
    early = window(
        timezone="Europe/Paris", weekly=({"days": ("Sun",), "start": "01:00", "end": "04:00"},)
    )
    assert contains(early, at("2026-03-29T00:30:00"))  # 01:30 local (CET)
    assert contains(early, at("2026-03-29T01:30:00"))  # 03:30 local (CEST)
    assert not contains(early, at("2026-03-29T02:00:00"))  # 04:00 local


def test_cron_window_in_new_york_across_fall_back() -> None:
    # Saturdays 02:00 New York for 3 hours. 1 Nov 2026 (Sunday) is the fall-back day, so
    # check a Saturday in EDT (UTC-4) and one in EST (UTC-5).
    maintenance = window(timezone="America/New_York", cron="0 2 * * sat", duration="3h")
    assert contains(maintenance, at("2026-10-31T06:00:00"))  # 02:00 EDT
    assert contains(maintenance, at("2026-10-31T08:59:00"))
    assert not contains(maintenance, at("2026-10-31T09:00:00"))
    assert contains(maintenance, at("2026-11-07T07:00:00"))  # 02:00 EST
    assert not contains(maintenance, at("2026-11-07T06:30:00"))


def test_cron_skipped_local_time_never_matches() -> None:
    # 02:30 does not exist in Paris on 29 March 2026.
    ghost = window(timezone="Europe/Paris", cron="30 2 29 3 *", duration="1m")
    moments = [at("2026-03-29T00:00:00") + minute * 60 for minute in range(240)]
    assert not any(contains(ghost, moment) for moment in moments)


def test_date_range_in_local_time() -> None:
    freeze = window(timezone="Asia/Tokyo", dates=({"start": "2026-12-24", "end": "2026-12-27"},))
    assert contains(freeze, at("2026-12-23T15:00:00"))  # 00:00 JST on the 24th
    assert not contains(freeze, at("2026-12-23T14:59:00"))
    assert not contains(freeze, at("2026-12-26T15:00:00"))


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (
            {"timezone": "Paris", "weekly": ({"days": ("Fri",), "start": "1:00", "end": "2:00"},)},
            "IANA",
        ),
        ({"timezone": "UTC"}, "exactly one of"),
        ({"timezone": "UTC", "cron": "0 2 * * sat"}, "go together"),
        ({"timezone": "UTC", "cron": "0 2 * *", "duration": "1h"}, "five"),
        ({"timezone": "UTC", "cron": "61 2 * * *", "duration": "1h"}, "outside 0-59"),
        ({"timezone": "UTC", "cron": "0 2 * * *", "duration": "8d"}, "between 1m and 7d"),
        (
            {"timezone": "UTC", "weekly": ({"days": ("Fri",), "start": "10:00", "end": "10:00"},)},
            "empty",
        ),
        ({"timezone": "UTC", "dates": ({"start": "tomorrow", "end": "2027-01-01"},)}, "not a date"),
        (
            {"timezone": "UTC", "dates": ({"start": "2027-01-02", "end": "2027-01-01"},)},
            "not before",
        ),
    ],
)
def test_invalid_windows(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        WindowFields.model_validate(fields)


def test_cron_fields() -> None:
    cron = parse_cron("*/15 9-17 * * mon-fri")
    assert cron.minutes == frozenset({0, 15, 30, 45})
    assert cron.hours == frozenset(range(9, 18))
    assert cron.weekdays == frozenset({1, 2, 3, 4, 5})
    assert parse_cron("0 0 * * 7").weekdays == frozenset({0})


# Digits ``str.isdigit`` holds for that a cron field must not take: a superscript two
# (``int`` refuses it), Arabic-Indic three and full-width one (``int`` reads them as 3 and
# 1), and more digits than ``int`` converts.
_NOT_CRON_DIGITS = ("²", "٣", "１", "1" * 5000)


@pytest.mark.parametrize("token", _NOT_CRON_DIGITS)
def test_a_cron_value_of_other_digits_is_refused_as_not_a_value(token: str) -> None:
    for cron, field in ((f"{token} 2 * * *", "minute"), (f"0 1-{token} * * *", "hour")):
        with pytest.raises(ValueError, match=rf"is not a valid {field}$"):
            parse_cron(cron)
    with pytest.raises(ValidationError, match="is not a valid minute"):
        WindowFields.model_validate(
            {"timezone": "UTC", "cron": f"{token} 2 * * *", "duration": "1h"}
        )


@pytest.mark.parametrize("token", _NOT_CRON_DIGITS)
def test_a_cron_step_of_other_digits_is_refused_as_not_a_step(token: str) -> None:
    with pytest.raises(ValueError, match=r"in minute must be 1 or more$"):
        parse_cron(f"*/{token} * * * *")


def test_a_cron_value_with_leading_zeros_is_still_read() -> None:
    assert parse_cron("07 002 * * */02").minutes == frozenset({7})


# ------------------------------------------------ first_open: a window ahead, by a lead

MONDAY_OPEN = window(
    timezone="Europe/Paris", weekly=({"days": ("Mon",), "start": "08:00", "end": "10:00"},)
)


@pytest.mark.parametrize(
    ("utc", "ahead", "opens"),
    [
        # Winter (UTC+1): 08:00 Paris is 07:00 UTC; five minutes ahead of it, not six.
        ("2026-11-23T06:55:00", 300.0, "2026-11-23T07:00:00"),
        ("2026-11-23T06:54:00", 300.0, None),
        ("2026-11-23T06:55:01", 300.0, "2026-11-23T07:00:00"),
        # Summer (UTC+2): the same local hour is 06:00 UTC.
        ("2026-06-01T05:55:00", 300.0, "2026-06-01T06:00:00"),
        ("2026-06-01T06:55:00", 300.0, "2026-06-01T06:55:00"),  # open: now
        ("2026-06-01T07:59:00", 300.0, "2026-06-01T07:59:00"),
        ("2026-06-01T08:00:00", 300.0, None),  # 10:00 local: over
    ],
)
def test_first_open_looks_ahead_in_local_time(utc: str, ahead: float, opens: str | None) -> None:
    from remediation.windows import first_open

    found = first_open(MONDAY_OPEN, at(utc), ahead)
    assert found == (at(opens) if opens is not None else None)


def test_first_open_of_cron_and_dates_windows() -> None:
    from remediation.windows import first_open

    # Saturdays 02:00 New York (EST, UTC-5, on 7 November 2026) for an hour.
    batch = window(timezone="America/New_York", cron="0 2 * * sat", duration="1h")
    assert first_open(batch, at("2026-11-07T06:50:00"), 600.0) == at("2026-11-07T07:00:00")
    assert first_open(batch, at("2026-11-07T06:49:00"), 600.0) is None
    assert first_open(batch, at("2026-11-07T07:30:00"), 600.0) == at("2026-11-07T07:30:00")
    # 02:30 does not exist in Paris on 29 March 2026: that start never comes.
    ghost = window(timezone="Europe/Paris", cron="30 2 29 3 *", duration="1h")
    assert first_open(ghost, at("2026-03-29T00:00:00"), 3 * 3600.0) is None
    sale = window(
        timezone="Asia/Tokyo", dates=({"start": "2026-12-24T09:00", "end": "2026-12-25"},)
    )
    assert first_open(sale, at("2026-12-23T23:55:30"), 300.0) == at("2026-12-24T00:00:00")
    assert first_open(sale, at("2026-12-23T23:54:59"), 300.0) is None


# ------------------------------------------------ closes_at: until when an open window holds


def test_closes_at_in_local_time_across_forms() -> None:
    from remediation.windows import closes_at

    # Mondays 08:00-10:00 Paris: in winter (UTC+1) it closes at 09:00 UTC, in summer at 08:00.
    assert closes_at(MONDAY_OPEN, at("2026-11-23T07:30:00")) == at("2026-11-23T09:00:00")
    assert closes_at(MONDAY_OPEN, at("2026-07-20T06:00:30")) == at("2026-07-20T08:00:00")
    assert closes_at(MONDAY_OPEN, at("2026-11-23T09:00:00")) == at("2026-11-23T09:00:00")  # shut
    # Saturdays 02:00 New York for an hour; a second start at 02:30 keeps it open to 03:30.
    batch = window(timezone="America/New_York", cron="0,30 2 * * sat", duration="1h")
    assert closes_at(batch, at("2026-11-07T07:10:00")) == at("2026-11-07T08:30:00")
    assert closes_at(batch, at("2026-11-07T08:10:00")) == at("2026-11-07T08:30:00")
    # Two dates ranges that touch are one opening.
    sale = window(
        timezone="Asia/Tokyo",
        dates=(
            {"start": "2026-12-24T09:00", "end": "2026-12-25"},
            {"start": "2026-12-25", "end": "2026-12-26T09:00"},
        ),
    )
    assert closes_at(sale, at("2026-12-24T01:00:00")) == at("2026-12-26T00:00:00")
    # Open past the horizon: None.
    assert closes_at(MONDAY_OPEN, at("2026-11-23T07:30:00"), 600.0) is None


# ------------------------------- the step-over walks agree with a minute-by-minute walk


class MinuteWalk:
    """Every local minute from ``first`` for ``days``, looked at one by one as the walks
    did before they stepped: whether each starts a window (cron) or is inside it (weekly)."""

    def __init__(self, w: WindowFields, first: float, days: float) -> None:
        from zoneinfo import ZoneInfo

        from remediation.windows import _in_weekly

        self.w, self.first = w, (first // 60) * 60
        zone = ZoneInfo(w.timezone)
        count = int(days * 1440)
        self.starts: list[float | None] = []  # the newest start at or before each minute
        newest: float | None = None
        for i in range(count):
            minute = self.first + 60 * i
            local = datetime.fromtimestamp(minute, zone)
            if w.weekly is not None:
                self.starts.append(minute if _in_weekly(w.weekly, local) else None)
                continue
            assert w.cron is not None
            if w.cron.matches(local):
                newest = minute
            self.starts.append(newest)

    def newest(self, moment: float) -> float | None:
        return self.starts[int((moment // 60 * 60 - self.first) // 60)]

    def inside(self, moment: float) -> bool:
        newest = self.newest(moment)
        if self.w.weekly is not None:
            return newest is not None
        assert self.w.duration is not None
        return newest is not None and newest > moment - self.w.duration

    def begins(self, minute: float) -> bool:
        return self.newest(minute) == minute

    def first_open(self, moment: float, ahead: float) -> float | None:
        if self.inside(moment):
            return moment
        minute = (moment // 60) * 60 + 60
        while minute <= moment + ahead:
            if self.begins(minute):
                return minute
            minute += 60
        return None

    def closes_at(self, moment: float, horizon: float) -> float | None:
        if not self.inside(moment):
            return moment
        minute = (moment // 60) * 60 + 60
        while self.inside(minute):
            minute += 60
        if self.w.duration is not None:  # cron: the last start's window ends then
            newest = self.newest(minute - 60)
            assert newest is not None
            minute = newest + self.w.duration
        return minute if minute <= moment + horizon else None


STEPPED = {
    # Paris, over the autumn change (25 October 2026) and the spring one (29 March 2026).
    "paris-weekend": window(
        timezone="Europe/Paris",
        weekly=(
            {"days": ("Sat", "Sun"), "start": "00:00", "end": "24:00"},
            {"days": ("Mon",), "start": "01:30", "end": "02:45"},
        ),
    ),
    "paris-overnight": window(
        timezone="Europe/Paris", weekly=({"days": ("Sun",), "start": "23:00", "end": "02:30"},)
    ),
    "paris-cron-day": window(timezone="Europe/Paris", cron="30 2 * * sun", duration="1d"),
    "paris-cron-minutes": window(
        timezone="Europe/Paris", cron="*/20 1-3 * * sun,mon", duration="25m"
    ),
    "new-york-weekend": window(timezone="America/New_York", cron="0 18 * * fri", duration="2d"),
    # Lord Howe moves its clocks by half an hour (5 April, 4 October 2026).
    "lord-howe": window(timezone="Australia/Lord_Howe", cron="15,16 1,2 * * *", duration="90s"),
}


@pytest.mark.parametrize("name", sorted(STEPPED))
@pytest.mark.parametrize(
    "start", ["2026-03-27T20:07:00", "2026-10-23T21:31:30", "2026-04-03T12:00:00"]
)
def test_stepped_walks_find_what_a_minute_walk_finds(name: str, start: str) -> None:
    """Every 61 minutes for three days around a daylight-saving change (either
    way, and a half-hour one), ``first_open`` and ``closes_at`` (``contains`` in both)
    give what looking at each local minute in turn gives."""
    from remediation.windows import closes_at, first_open

    w, ahead, horizon = STEPPED[name], 3 * 3600.0, 2.5 * 86400.0
    walk = MinuteWalk(w, at(start) - 2 * 86400.0, 8.0)
    moment = at(start)
    for _ in range(3 * 1440 // 61):
        when = datetime.fromtimestamp(moment, UTC)
        opens = walk.first_open(moment, ahead)
        assert first_open(w, moment, ahead) == opens, when
        assert closes_at(w, moment, horizon) == walk.closes_at(moment, horizon), when
        if opens is not None and opens > moment:  # and just after it opens
            assert closes_at(w, opens + 30, horizon) == walk.closes_at(opens + 30, horizon)
        moment += 61 * 60


def test_a_window_open_for_days_is_walked_in_few_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A weekend window open since Saturday: until when it holds, and whether a three-day
    cron window is open, when it opens and until when, were found by looking at every
    local minute (2,761 to 4,561 timezone conversions a call, milliseconds, each cycle,
    for each workload a schedule names); the walks step over the runs of minutes that
    cannot change the answer (44 to 74 conversions)."""
    from remediation import windows

    conversions = 0

    class Counted(datetime):
        @classmethod
        def fromtimestamp(cls, t: float, tz: Any = None) -> datetime:  # type: ignore[override]
            nonlocal conversions
            conversions += 1
            return datetime.fromtimestamp(t, tz)

    monkeypatch.setattr(windows, "datetime", Counted)
    weekend = STEPPED["paris-weekend"]
    friday = at("2026-10-23T20:00:00")  # 22:00 in Paris; the clocks go back on Sunday
    assert windows.closes_at(weekend, at("2026-10-24T01:00:00")) == at("2026-10-25T23:00:00")
    assert conversions < 70
    conversions = 0
    sale = window(timezone="Europe/Paris", cron="0 18 * * fri", duration="3d")
    assert windows.contains(sale, friday + 2 * 86400.0)
    assert windows.first_open(sale, friday - 5 * 3600.0, 3 * 3600.0) == at("2026-10-23T16:00:00")
    assert windows.closes_at(sale, friday) == at("2026-10-26T16:00:00")
    assert conversions < 200


def test_cron_windows_back_to_back_close_once() -> None:
    """A start just as the previous window ends keeps it open without a gap: it closes
    at the end of the last one (it was said to close at the first one's end, when it
    was still open)."""
    from remediation.windows import closes_at

    hourly = window(timezone="Europe/Paris", cron="0 8-10 * * *", duration="1h")
    nine_thirty = at("2026-11-20T08:30:00")  # 09:30 in Paris
    assert contains(hourly, at("2026-11-20T09:00:00"))  # 10:00 in Paris
    assert closes_at(hourly, nine_thirty) == at("2026-11-20T10:00:00")  # 11:00 in Paris
    always = window(timezone="UTC", cron="* * * * *", duration="1m")
    assert closes_at(always, at("2026-11-20T08:30:00"), 3600.0) is None


def _zone_with(offsets: list[tuple[float, int]], first: int) -> Any:
    """A zone (TZif version 1, as ``zic`` writes) at UTC offset ``first`` seconds, then
    at each (instant, offset) of ``offsets``."""
    import io
    import struct
    from zoneinfo import ZoneInfo

    kinds = sorted({first, *(offset for _, offset in offsets)}, key=lambda o: o != first)
    names = b"".join(f"Z{i}\0".encode() for i in range(len(kinds)))
    data = b"TZif" + b"\0" * 16
    data += struct.pack(">6l", 0, 0, 0, len(offsets), len(kinds), len(names))
    data += b"".join(struct.pack(">l", int(t)) for t, _ in offsets)
    data += bytes(kinds.index(offset) for _, offset in offsets)
    data += b"".join(struct.pack(">lBB", o, int(o != first), 3 * i) for i, o in enumerate(kinds))
    return ZoneInfo.from_file(io.BytesIO(data + names), key="Test/Changes")


def test_a_step_never_spans_two_clock_changes_that_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zone at +2 that is at +3 from Monday noon to half past midnight on Wednesday: a
    window opening at 00:00 on Wednesday opens at 21:00 UTC on Tuesday. The walk used to
    step from Monday to Wednesday in one go (from +2 to +2, the two changes between
    unseen) and found 22:00, an hour late; a step is now at most a day, and no zone has
    had two changes that cancel within a day (test below)."""
    from remediation import windows

    monday = at("2030-01-06T22:00:00")  # 00:00 on Monday 7 January at +2
    zone = _zone_with([(monday + 12 * 3600, 3 * 3600), (at("2030-01-08T21:30:00"), 2 * 3600)], 7200)
    monkeypatch.setattr(windows, "_zone", lambda w: zone)
    wednesday = window(
        timezone="UTC", weekly=({"days": ("Wed",), "start": "00:00", "end": "01:00"},)
    )
    assert windows.first_open(wednesday, monday, 3 * 86400.0) == at("2030-01-08T21:00:00")
    assert windows.contains(wednesday, at("2030-01-08T21:00:00"))
    # At 21:30 UTC the clock goes back to 23:30 on Tuesday: closed again.
    assert windows.closes_at(wednesday, at("2030-01-08T21:00:00")) == at("2030-01-08T21:30:00")


def test_no_zone_changes_its_clock_and_back_within_a_day() -> None:
    """What the walks' steps of up to a day rely on (``remediation.windows._step``): in
    the tz database no zone's UTC offset changes and comes back to what it was within a
    day. (Within a week some do: Recife and Noronha in October 2000, Gaza and Hebron in
    2040, 2054 and 2072.)"""
    import zoneinfo
    from zoneinfo._common import load_data

    checked, found = 0, []
    for name in sorted(zoneinfo.available_timezones()):
        path = next((f"{d}/{name}" for d in zoneinfo.TZPATH if os.path.isfile(f"{d}/{name}")), "")
        if not path:
            continue
        with open(path, "rb") as tzif:
            index, times, offsets, *_ = load_data(tzif)
        checked += 1
        after = [offsets[i] for i in index]
        before = [offsets[0], *after[:-1]]
        for i, start in enumerate(times):
            for j in range(i + 1, len(times)):
                if times[j] - start > 86400:
                    break
                if after[j] == before[i]:
                    found.append((name, datetime.fromtimestamp(start, UTC).isoformat()))
    if not checked:
        pytest.skip("no tz database files on this machine")
    assert found == []


def test_dates_starting_in_the_hour_the_clock_skips_start_when_it_jumps() -> None:
    """On 29 March 2026 Paris clocks go from 02:00 to 03:00: a freeze written to start at
    02:30 is on from 03:00 (the clock is past 02:30 then); it used to start at 03:30, the
    offset before the change applied to a time that never came, leaving half an hour
    unfrozen. An end in the skipped hour ends it at 03:00 too."""
    freeze = window(
        timezone="Europe/Paris",
        dates=({"start": "2026-03-29T02:30", "end": "2026-03-30"},),
    )
    assert not contains(freeze, at("2026-03-29T00:59:59"))  # 01:59:59 CET
    assert contains(freeze, at("2026-03-29T01:00:00"))  # 03:00 CEST
    assert contains(freeze, at("2026-03-29T01:10:00"))  # 03:10 CEST
    until = window(
        timezone="Europe/Paris",
        dates=({"start": "2026-03-28", "end": "2026-03-29T02:15"},),
    )
    assert contains(until, at("2026-03-29T00:59:00"))
    assert not contains(until, at("2026-03-29T01:00:00"))
    # The hour the clock shows twice (25 October): the first 02:30, as before.
    autumn = window(
        timezone="Europe/Paris",
        dates=({"start": "2026-10-25T02:30", "end": "2026-10-26"},),
    )
    assert not contains(autumn, at("2026-10-25T00:29:00"))  # 02:29 CEST
    assert contains(autumn, at("2026-10-25T00:30:00"))  # the first 02:30, CEST


@pytest.mark.parametrize(
    ("zone", "start", "end", "said"),
    [
        (
            "Europe/Paris",
            "2026-03-29T02:10",
            "2026-03-29T02:40",
            "both fall in the hour the clock skips on 2026-03-29 in Europe/Paris",
        ),
        (  # Lord Howe Island moves its clock forward by half an hour
            "Australia/Lord_Howe",
            "2026-10-04T02:05",
            "2026-10-04T02:25",
            "both fall in the 30 minutes the clock skips on 2026-10-04 in Australia/Lord_Howe",
        ),
    ],
)
def test_dates_lying_wholly_in_the_time_the_clock_skips_say_so(
    zone: str, start: str, end: str, said: str
) -> None:
    """Both ends are the instant the clock jumps, so the range is empty; it was refused as
    '02:10 is not before 02:40', which reads as false. It says why now."""
    with pytest.raises(ValidationError) as info:
        window(timezone=zone, dates=({"start": start, "end": end},))
    message = str(info.value)
    assert f"dates: {start} and {end} {said}: the range never happens" in message
    assert "is not before" not in message
    # written the wrong way round, or over a time the clock shows, it is as before
    with pytest.raises(ValidationError, match=f"dates: {end} is not before {start}"):
        window(timezone=zone, dates=({"start": end, "end": start},))
    with pytest.raises(ValidationError, match="is not before"):
        window(timezone=zone, dates=({"start": "2026-05-01T10:00", "end": "2026-05-01T09:00"},))


def test_open_spans_lists_each_opening_of_a_cron_window_clipped_to_its_start() -> None:
    from remediation.windows import open_spans

    billing = window(timezone="UTC", cron="0 2 1 * *", duration="2h")
    # from inside December's opening to past February's: clipped, then one a month
    assert open_spans(billing, at("2026-12-01T03:00:00"), at("2027-02-01T02:00:00")) == [
        (at("2026-12-01T03:00:00"), at("2026-12-01T04:00:00")),
        (at("2027-01-01T02:00:00"), at("2027-01-01T04:00:00")),
        (at("2027-02-01T02:00:00"), at("2027-02-01T04:00:00")),
    ]
    assert open_spans(billing, at("2026-12-02T00:00:00"), at("2026-12-31T00:00:00")) == []
    always = window(timezone="UTC", cron="* * * * *", duration="1h")
    start = at("2026-12-02T00:00:00")
    assert open_spans(always, start, start + 3600.0) == [(start, float("inf"))]
