"""What is not demand is not learnt at a refit: a glitch sample (a counter reset read
as a rate) and an outage's zeros are fitted as gaps, so neither the profile, nor its
seasonal strength, nor the drift band the live model is held to, is shaped by them.
The newest points stay as read: they are the current load."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from agent.clock import FakeClock
from agent.loops.scaling import CAPACITY
from forecasting.cleaning import mask_not_demand
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload


def first_fit(values: np.ndarray, t: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """The model and the ledger's model-version row after the loop's first cycle,
    fitted on ``values`` up to 130 minutes before their end."""
    clock = FakeClock(float(t[-130]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="6h")
    loop.cycle()
    rows = cast(Any, loop.decisions).ledger.model_versions
    assert len(rows) == 1
    return loop.models[web.ref], rows[0]


def test_an_outage_of_zeros_yesterday_keeps_the_daily_profile() -> None:
    """Three hours of zeros a day ago (a dead exporter: load before and after it) read
    as demand made the held-out days look unlike the profile: the fit fell back to a
    flat level (NoSeasonality, strength 0.15), and the workload went reactive for the
    two days the outage stays in the held-out window."""
    t, values = week_and_a_day(30)
    values = values.copy()
    values[-130 - 1440 - 180 : -130 - 1440] = 0.0
    model, row = first_fit(values, t)
    assert model.fitted.fallback_reason is None
    assert model.fitted.strength > 0.9
    assert row["params"]["outage_zeros_masked"] == 180
    assert row["params"]["glitches_masked"] == 0


def test_one_glitch_sample_does_not_loosen_the_drift_band() -> None:
    """One sample of 10^9 in the last day (the load is about 50) made the band's scale,
    the mean one-step change of the day's square roots, 100 times the real one: the
    live model was held to an error 30 times looser than it earned, blind to drift
    until the glitch left the day's window."""
    t, values = week_and_a_day(31)
    clean, _ = first_fit(values, t)
    glitched = values.copy()
    glitched[-330] = 1e9
    model, row = first_fit(glitched, t)
    assert clean.band is not None and model.band is not None
    earned = clean.band.mase_limit * clean.band.scale
    held_to = model.band.mase_limit * model.band.scale
    assert abs(held_to / earned - 1.0) < 0.05
    assert row["params"]["glitches_masked"] == 1


def test_mask_not_demand_marks_glitches_and_outages_only() -> None:
    rng = np.random.default_rng(5)
    values = 40.0 + rng.normal(0, 2, 500)
    values[100:130] = 0.0  # between busy samples: an outage
    values[300] = 1e12  # a glitch
    values[400] = np.inf
    values[490:] = 0.0  # ongoing at the end: busy before it, nothing after
    out, glitches, outages = mask_not_demand(values)
    assert (glitches, outages) == (1, 40)
    gone = np.flatnonzero(np.isnan(out))
    assert gone.tolist() == [*range(100, 130), 300, 400, *range(490, 500)]
    kept = np.isfinite(out)
    assert np.array_equal(out[kept], values[kept])  # nothing else moved
    # Zeros that are common (a quiet service at night) are load, not an outage.
    quiet = np.tile(np.r_[np.zeros(30), np.full(70, 40.0)], 5)
    out, glitches, outages = mask_not_demand(quiet)
    assert (glitches, outages) == (0, 0) and np.array_equal(out, quiet)
    # A run of zeros after a gap and before a quiet sample is not taken for an outage.
    lull = np.full(200, 40.0)
    lull[50:53] = np.nan
    lull[53:56] = 0.0
    lull[56] = 1.0
    assert mask_not_demand(lull)[2] == 0


def drift_run(values: np.ndarray, t: np.ndarray, cycles: int = 100) -> tuple[Any, Any, list[Any]]:
    """The loop run for ``cycles`` minutes from 130 minutes before the end of ``values``
    (one refit only: the first fit), and why the live model was distrusted each cycle."""
    clock = FakeClock(float(t[-130]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="6h")
    poor = []
    for _ in range(cycles):
        loop.cycle()
        poor.append(loop.models[web.ref].poor)
        clock.advance(60.0)
    return loop, loop.models[web.ref], poor


def triggers(loop: Any) -> list[str]:
    rows = cast(Any, loop.decisions).ledger.model_versions
    return [r["evaluation"]["trigger"] for r in rows]


def test_one_glitch_sample_is_no_forecast_miss() -> None:
    """A sample of 10^9 (the load is about 50), which the loop holds on as a glitch,
    was scored as a one-step outcome: its error alone put the recent MASE far above the
    band, so the workload went reactive (PoorAccuracy) and was refitted early."""
    t, values = week_and_a_day(32)
    values = values.copy()
    values[-130 + 60] = 1e9  # the 61st cycle's new sample
    loop, model, poor = drift_run(values, t)
    assert triggers(loop) == ["FirstFit"]
    assert poor == [None] * len(poor)
    assert model.drift is not None and model.drift.reason == "InBand"
    actual, _, _, _ = model.outcomes.arrays()
    assert np.nanmax(actual) < 1e3 and model.spike_streak == 0


def test_a_surge_that_holds_is_scored_from_its_first_sample() -> None:
    """A jump the loop acts on once it has held three minutes is load: its first two
    samples, held back while they could have been a glitch, are scored too."""
    t, values = week_and_a_day(33)
    values = values.copy()
    values[-130 + 60 :] = 1e5
    _, model, _ = drift_run(values, t, cycles=66)
    actual, _, _, _ = model.outcomes.arrays()
    assert int(np.sum(actual == 1e5)) == 6  # every surge sample, the first two included


def test_an_outage_of_zeros_is_no_forecast_miss() -> None:
    """Twenty minutes of zeros between busy load (a dead exporter) were scored as
    outcomes: the workload went reactive and was refitted on drift, an outage the refit
    itself masks. Zeros still going at a check are not scored either (they may yet be
    an outage); zeros followed by a quiet sample were a lull, and are scored."""
    t, values = week_and_a_day(34)
    outage = values.copy()
    outage[-130 + 40 : -130 + 60] = 0.0
    loop, model, poor = drift_run(outage, t)
    assert triggers(loop) == ["FirstFit"]
    assert poor == [None] * len(poor)
    actual, _, _, _ = model.outcomes.arrays()
    assert not np.any(actual == 0.0)
    # still going at the last check: withheld, not scored
    going = values.copy()
    going[-130 + 70 :] = 0.0
    loop, model, poor = drift_run(going, t)
    assert triggers(loop) == ["FirstFit"] and poor == [None] * len(poor)
    # followed by a quiet sample: the zeros were load, and the model missed them
    lull = values.copy()
    lull[-130 + 40 : -130 + 60] = 0.0
    lull[-130 + 60] = 0.5
    loop, model, poor = drift_run(lull, t, cycles=62)
    actual, _, _, _ = model.outcomes.arrays()
    assert triggers(loop) == ["FirstFit"]  # no check since the lull ended
    assert int(np.sum(actual == 0.0)) == 20 and actual[-2] == 0.5
    loop, model, poor = drift_run(lull, t)
    assert triggers(loop)[1:] in (["ErrorDrift"], ["CoverageDrift"])
