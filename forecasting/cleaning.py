"""Cleaning what real metrics do before a model sees them.

Prometheus series are not textbook data: scrapes fail (gaps), counters reset when a
process restarts, an outage records zeros that are not demand, a deploy moves the level
for good, and one bad sample can be 10^12. A model fitted on that learns the damage, so
``clean_series`` repairs it and says what it did: every repair is a ``note`` that
travels with the forecast, so a person can see why the history was changed.

Nothing here is clever on purpose. Each rule is conservative (it would rather leave a
real burst alone than erase it) and pure: it takes values and returns new values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.series import FloatArray, Series

__all__ = ["CleanedSeries", "clean_series", "fill_gaps", "mask_not_demand", "outage_rule"]

# A sample further than this many "robust ranges" from the median is a glitch, not load.
_SPIKE_RANGES = 25.0
# A level shift must be this many noise units between block means to count.
_SHIFT_SIGMAS = 8.0


@dataclass(frozen=True, eq=False)
class CleanedSeries:
    """The repaired series and what was done to it.

    ``series`` has no NaN. ``notes`` are short sentences (empty when nothing was
    changed). ``dropped_leading`` counts leading missing samples that were removed
    (they carry no information and cannot be interpolated).
    """

    series: Series
    notes: tuple[str, ...]
    dropped_leading: int = 0
    counter: bool = False


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 glitch sample", "3 glitch samples"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def fill_gaps(values: FloatArray) -> FloatArray:
    """Linear interpolation over NaN; the ends are held at the nearest known value."""
    out = np.array(values, dtype=np.float64)
    missing = np.isnan(out)
    if not missing.any():
        return out
    known = np.flatnonzero(~missing)
    if known.size == 0:
        return np.zeros_like(out)
    out[missing] = np.interp(np.flatnonzero(missing), known, out[known])
    return out


def clean_series(series: Series, *, season: int | None = None) -> CleanedSeries:
    """Repair gaps, counter resets, outage zeros, glitches and level shifts.

    ``season`` (in steps) sizes the blocks used to look for a level shift; without it a
    day's worth of steps is used, or 24 steps when the step is unknown.

    Raises ``ValueError`` when no sample at all is present: there is nothing to repair.
    """
    values = np.array(series.values, dtype=np.float64)
    notes: list[str] = []
    present = np.flatnonzero(~np.isnan(values))
    if present.size == 0:
        raise ValueError("every sample is missing: there is nothing to forecast from")
    first = int(present[0])
    if first:
        values = values[first:]
        notes.append(f"dropped {_count(first, 'leading missing sample')}")
    timestamps = series.timestamps[first:]

    gaps = int(np.isnan(values).sum())
    if gaps:
        notes.append(f"interpolated {_count(gaps, 'missing sample')} ({gaps / values.size:.1%})")

    # Glitches go first: a 10^12 sample before a rising series would otherwise read as
    # a counter that reset, and undoing the "reset" would lift the whole history by it.
    values, spikes = _remove_spikes(values)
    if spikes:
        notes.append(f"replaced {_count(spikes, 'glitch sample')} far outside the series' range")

    counter = _looks_like_counter(values)
    if counter:
        values, resets = _undo_counter_resets(values)
        if resets:
            notes.append(
                f"undid {_count(resets, 'counter reset')} (the series only goes up otherwise)"
            )

    values, outages = _remove_outage_zeros(values)
    if outages:
        notes.append(f"treated {_count(outages, 'zero sample')} as an outage, not demand")

    values = fill_gaps(values)

    if season is None:
        season = round(86400.0 / series.step) if series.step > 0 else 24
        season = min(max(season, 2), max(2, values.size // 4))
    if not counter:
        values, shift_note = _align_level_shift(values, season)
        if shift_note:
            notes.append(shift_note)

    cleaned = Series(timestamps, values, series.step, series.name, series.labels)
    return CleanedSeries(cleaned, tuple(notes), first, counter)


def mask_not_demand(values: FloatArray) -> tuple[FloatArray, int, int]:
    """``values`` with what is not demand marked missing, and nothing else changed (no
    interpolation, no level moved): non-finite samples, glitches far outside the bulk
    (``_remove_spikes``: a counter reset read as a rate, a 10^12) and runs of zeros
    between busy samples (``_remove_outage_zeros``: a dead exporter, an outage). Returns
    the new values and how many glitch and outage samples were marked.

    For a model that skips missing samples by itself (the seasonal profile) and must
    not learn damage as load: its profile, its intervals and the error it is held to.
    """
    out = np.array(values, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    if not np.any(np.isfinite(out)):
        return out, 0, 0
    out, glitches = _remove_spikes(out)
    out, outages = _remove_outage_zeros(out)
    return out, glitches, outages


def _looks_like_counter(values: FloatArray) -> bool:
    """A counter only rises, except for rare drops back towards zero (restarts)."""
    finite = values[~np.isnan(values)]
    if finite.size < 10 or np.any(finite < 0):
        return False
    diffs = np.diff(finite)
    moving = diffs[diffs != 0]
    if moving.size < 5:
        return False
    drops = moving < 0
    if drops.mean() > 0.02:
        return False
    # every drop must go most of the way to zero, as a restart does
    before = finite[:-1][diffs < 0]
    after = finite[1:][diffs < 0]
    return bool(np.all(after <= 0.5 * before))


def _undo_counter_resets(values: FloatArray) -> tuple[FloatArray, int]:
    """Add back what each reset lost, as Prometheus' ``increase`` does."""
    out = np.array(values, dtype=np.float64)
    offset = 0.0
    resets = 0
    previous = np.nan
    for i, value in enumerate(values):
        if np.isnan(value):
            continue
        if not np.isnan(previous) and value < previous:
            offset += previous
            resets += 1
        out[i] = value + offset
        previous = value
    return out, resets


def _remove_spikes(values: FloatArray) -> tuple[FloatArray, int]:
    """Mark as missing the samples absurdly far from the bulk of the series.

    The bulk's centre and spread are measured without the most extreme 1 % of samples
    (at least one), so that a single 10^12 in a short series cannot hide itself by
    stretching the very range it is judged against.
    """
    finite = values[~np.isnan(values)]
    if finite.size < 3:
        return values, 0
    centre = float(np.median(finite))
    drop = max(1, int(0.01 * finite.size))
    order = np.argsort(np.abs(finite - centre))
    bulk = finite[order[: finite.size - drop]]
    median = float(np.median(bulk))
    low, high = np.quantile(bulk, [0.05, 0.95])
    mad = float(np.median(np.abs(bulk - median))) * 1.4826
    scale = max(float(high - low), mad, 0.05 * abs(median), 1e-12)
    with np.errstate(invalid="ignore"):
        glitch = np.abs(values - median) > _SPIKE_RANGES * scale
    count = int(glitch.sum())
    if count == 0 or count > drop:
        return values, 0
    out = np.array(values, dtype=np.float64)
    out[glitch] = np.nan
    return out, count


def outage_rule(values: FloatArray) -> tuple[float, int] | None:
    """How ``_remove_outage_zeros`` (and so ``mask_not_demand``) judges zeros in
    ``values``: the busy floor (a fifth of the median of the non-zero samples) that the
    samples on both sides of a run of zeros must reach for it to be an outage, and how
    many more zeros the series could hold before zeros stop being rare (over a tenth of
    its samples) and none is an outage. None when no zero in it would be one: fewer than
    ten samples, a negative one, zeros already common, or nothing but zeros. NaN
    samples are missing."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    if finite.size < 10 or np.any(finite < 0):
        return None
    zeros = int(np.count_nonzero(finite == 0))
    if zeros > 0.10 * values.size:
        return None
    nonzero = finite[finite != 0]
    if nonzero.size == 0:
        return None
    return 0.2 * float(np.median(nonzero)), int(0.10 * values.size) - zeros


def _remove_outage_zeros(values: FloatArray) -> tuple[FloatArray, int]:
    """Zeros in a series that is otherwise well above zero are a dead exporter, not idle.

    A run of zeros counts as an outage when the series is non-negative, zeros are rare
    (under 10 % of samples) and the samples on both sides of the run sit at or above a
    fifth of the median of the non-zero samples: load fell off a cliff and came back.
    """
    rule = outage_rule(values)
    zero = values == 0
    if rule is None or not zero.any():
        return values, 0
    floor = rule[0]
    # Each run of zeros, vectorised (a refit scans a week of minutes): its first index,
    # the index after its last, and the samples on either side (NaN at an edge).
    edges = np.diff(np.concatenate(([0], zero.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    n = values.size
    padded = np.concatenate(([np.nan], values, [np.nan]))
    left = padded[starts]  # values[start - 1], NaN before the first sample
    right = padded[ends + 1]  # values[end], NaN after the last
    with np.errstate(invalid="ignore"):
        outage = (
            (np.isnan(left) | (left >= floor))
            & (np.isnan(right) | (right >= floor))
            & ~(np.isnan(left) & np.isnan(right))
        )
    if not outage.any():
        return values, 0
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, starts[outage], 1)
    np.add.at(marks, ends[outage], -1)
    gone = np.cumsum(marks[:n]) > 0
    out = np.array(values, dtype=np.float64)
    out[gone] = np.nan
    return out, int(gone.sum())


def _align_level_shift(values: FloatArray, season: int) -> tuple[FloatArray, str | None]:
    """Move the history before a lasting level shift to the new level.

    Works on block means (one block per season, so the seasonal pattern cancels out).
    The split that best separates the block means is accepted only when the jump is
    many times the block-to-block noise and at least 20 % of the level; the recent
    segment must hold at least two blocks. The older history keeps its shape and is
    moved to the new level, so seasonality is still learnt from all of it.
    """
    blocks = values.size // season
    if blocks < 5:
        return values, None
    start = values.size - blocks * season
    means = values[start:].reshape(blocks, season).mean(axis=1)
    noise = float(np.median(np.abs(np.diff(means)))) * 1.4826 / np.sqrt(2.0)
    best_k, best_gain = 0, 0.0
    total = float(((means - means.mean()) ** 2).sum())
    for k in range(2, blocks - 1):
        left, right = means[:k], means[k:]
        within = float(((left - left.mean()) ** 2).sum() + ((right - right.mean()) ** 2).sum())
        gain = total - within
        if gain > best_gain:
            best_k, best_gain = k, gain
    if best_k == 0:
        return values, None
    before = float(np.median(means[:best_k]))
    after = float(np.median(means[best_k:]))
    jump = after - before
    level = max(abs(before), abs(after), 1e-12)
    if abs(jump) < _SHIFT_SIGMAS * max(noise, 1e-12) or abs(jump) < 0.2 * level:
        return values, None
    # both segments must be flat on their own, or this is a trend, not a shift
    for segment in (means[:best_k], means[best_k:]):
        if segment.size >= 2 and float(np.ptp(segment)) > 0.5 * abs(jump):
            return values, None
    cut = start + best_k * season
    out = np.array(values, dtype=np.float64)
    out[:cut] = out[:cut] + jump
    if np.all(values >= 0) and np.any(out < 0):
        out[:cut] = np.maximum(out[:cut], 0.0)
    return out, (f"moved {cut} samples before a level shift of {jump:+.4g} to the new level")
