"""What a daylight-saving change costs the seasonal profile, whose minutes of the day are UTC's.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/profile_dst.py

The profile (``forecasting/profile.py``) places every sample by its UTC minute of the
day. A workload whose load follows a local wall clock (people in Paris starting work at
8) shifts by an hour in UTC at each daylight-saving change, and for about a week the
median of the 14 days of history still holds the old hour. This measures how much worse
the forecast is in the week after a change, against the same load pinned to UTC (no
shift), on a synthetic diurnal load (night 100, afternoon peak 1,000, 5 % lognormal
noise, one-minute steps) around the two Europe/Paris changes of 2026: refitted every
hour on 14 days (``shapeOnlySeasonality`` on, as the daemon's defaults), re-anchored every
minute on the last 30, forecasting 4 minutes ahead (the default lead). It reports the
share of minutes above the 80 % interval's upper bound (the floor's quantile: under-
provisioned unless the margin covers it) and the mean absolute percentage error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from forecasting.profile import ProfileSettings, fit_profile

ZONE = ZoneInfo("Europe/Paris")
STEP = 60.0
LEAD = 4  # steps ahead
DAY = 86400.0
CHANGES = ("2026-03-29T01:00:00", "2026-10-25T01:00:00")  # UTC instants of the changes


def diurnal(hours: np.ndarray) -> np.ndarray:
    """Quiet at night, a morning ramp, the peak in the afternoon."""
    return np.asarray(100.0 + 900.0 * np.clip(np.sin((hours - 6.0) / 18.0 * np.pi), 0, None) ** 2)


def load(start: float, days: int, local: bool, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """One-minute load from ``start`` (UTC seconds): by Paris's wall clock if ``local``,
    else by UTC + 1 h all year (winter time, never shifting)."""
    stamps = start + STEP * np.arange(days * 1440)
    if local:
        hourly = [
            ZONE.utcoffset(datetime.fromtimestamp(at, UTC).replace(tzinfo=None))
            for at in stamps[::60]
        ]
        offsets = np.repeat([o.total_seconds() if o else 0.0 for o in hourly], 60)[: stamps.size]
    else:
        offsets = np.full(stamps.size, 3600.0)
    hours = ((stamps + offsets) % DAY) / 3600.0
    noise = np.random.default_rng(seed).lognormal(0.0, 0.05, stamps.size)
    return stamps, diurnal(hours) * noise


def week_after(change: float, local: bool) -> tuple[float, float]:
    """(share of minutes above the 80 % upper bound, MAPE) over the week after ``change``."""
    stamps, values = load(change - 15 * DAY, 23, local)
    settings = ProfileSettings(history_periods=14, strength_within_period=True)
    above, errors = 0, []
    for hour in range(7 * 24):
        end = int(np.searchsorted(stamps, change + hour * 3600.0))
        fitted = fit_profile(values[:end], float(stamps[end - 1]), STEP, settings)
        for minute in range(60):
            i = end + minute
            now = fitted.advance(values[i - 30 : i], float(stamps[i - 1]))
            forecast = now.predict(LEAD, (80,))
            actual = float(values[i - 1 + LEAD])
            above += actual > float(forecast.intervals[80][1][-1])
            errors.append(abs(float(forecast.mean[-1]) - actual) / actual)
    return above / len(errors), float(np.mean(errors))


def main() -> None:
    for text in CHANGES:
        change = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
        for local in (False, True):
            share, mape = week_after(change, local)
            what = "Paris wall clock" if local else "pinned to UTC   "
            print(
                f"{text[:10]} {what}: above the 80 % upper bound {share:.1%} of minutes, "
                f"MAPE {mape:.1%} (the week after)"
            )


if __name__ == "__main__":
    main()
