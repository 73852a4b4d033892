"""The live forecast is watched and challenged: one-step outcomes against a drift band,
a refit's challenger judged on an hour neither model saw, every evaluation a model
version in the ledger, and the decisions naming the model they used."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, cast

import numpy as np
import pytest
import sqlalchemy as sa

from agent.clock import FakeClock
from agent.errors import TransientError
from agent.ledger import open_ledger
from agent.ledger.schema import tables
from agent.loops.scaling import CAPACITY, HISTORY_SINCE, STEP, _model_number
from agent.settings import RoutingSettings
from forecasting import lifecycle
from forecasting.drift import (
    DriftBand,
    ModelVersion,
    Outcome,
    assess_drift,
    assess_drift_arrays,
    challenge_on_holdout,
)
from forecasting.lifecycle import OutcomeRing
from forecasting.profile import MODEL_NAME, SeasonalProfile
from forecasting.series import Series
from tests.unit.decision_rig import inline_service
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload


def test_ahead_is_what_advancing_every_minute_forecasts() -> None:
    rng = np.random.default_rng(1)
    t = 1.79e9 + 60.0 * np.arange(8 * 1440)
    v = 50 * (1 + 0.3 * np.sin(2 * np.pi * t / 86_400)) * rng.lognormal(0, 0.1, t.size)
    v[rng.random(t.size) < 0.02] = np.nan
    fitted = SeasonalProfile().fit(Series(t[:-300], v[:-300], 60.0, "load"))
    held, last = v[-330:], float(t[-1])
    for steps in (1, 4):
        fast = fitted.ahead(held, last, steps)
        for i in range(30 + steps, 330, 37):  # origin i - steps, the 30 values before it
            origin = i - steps
            slow = fitted.advance(held[origin - 29 : origin + 1], float(t[-330 + origin]))
            assert fast[i] == slow.predict(steps).mean[steps - 1]
        assert np.isnan(fast[:steps]).all()
    with pytest.raises(ValueError, match="at least 1"):
        fitted.ahead(held, last, 0)


def test_the_holdout_challenge_rule() -> None:
    actual = np.arange(20, dtype=float)
    close, far = actual + 1.0, actual + 3.0

    def judge(champion: np.ndarray, challenger: np.ndarray) -> Any:
        return challenge_on_holdout(
            actual, champion, challenger, 1.0, champion_name="a", challenger_name="b"
        )

    better = judge(far, close)
    assert better.promoted and better.live == "b" and better.challenger_mase == 1.0
    assert not judge(close, far).promoted  # worse keeps the live model
    assert not judge(close, close * 1.0).promoted  # within the 3 % margin
    assert judge(np.full(20, np.nan), far).promoted  # the champion forecast nothing
    assert not judge(far, np.r_[close[:5], np.full(15, np.nan)]).promoted  # 5 points


def test_array_drift_check_is_the_outcome_one() -> None:
    rng = np.random.default_rng(3)
    actual = rng.normal(10, 1, 200)
    mean = actual + rng.normal(0, 2, 200)
    band = DriftBand(1.0, 1.0)
    outcomes = [Outcome(a, m, m - 2, m + 2) for a, m in zip(actual, mean, strict=True)]
    assert assess_drift(outcomes, band) == assess_drift_arrays(
        actual, mean, mean - 2, mean + 2, band
    )


def test_the_outcome_ring_keeps_the_newest() -> None:
    ring = OutcomeRing(size=3)
    for i in range(5):
        ring.add(i, i + 0.5, i - 1, i + 1)
    actual, _, _, _ = ring.arrays()
    assert sorted(actual.tolist()) == [2.0, 3.0, 4.0] and ring.count == 5
    ring.clear()
    assert ring.arrays()[0].size == 0


def run(loop: Any, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(STEP)


def test_every_refit_is_judged_and_recorded_and_decisions_name_the_model() -> None:
    t, values = week_and_a_day(21)
    clock = FakeClock(float(t[-130]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="1h")
    run(loop, clock, 125)
    rows = cast(Any, loop.decisions).ledger.model_versions
    assert [r["evaluation"]["trigger"] for r in rows] == ["FirstFit", "Scheduled", "Scheduled"]
    assert rows[0]["status"] == "live" and rows[0]["series_key"] == str(web.ref)
    for row in rows[1:]:
        evaluation = row["evaluation"]
        assert evaluation["holdout_points"] == 60
        wins = evaluation["challenger_mase"] < evaluation["champion_mase"]
        assert evaluation["promoted"] is wins
        assert row["status"] == ("live" if wins else "rejected")
    # every model evaluated took the next number; the live one is named by its own
    assert [r["version"].split(" ")[0] for r in rows] == [
        f"seasonal-profile/{i}" for i in (1, 2, 3)
    ]
    live = [r["version"] for r in rows if r["status"] == "live"]
    assert live[-1].startswith(f"seasonal-profile/{loop.models[web.ref].version} fitted 20")
    proposals = cast(Any, loop.decisions).proposals
    assert proposals and proposals[-1].model_version.startswith("seasonal-profile/")
    assert "fitted 20" in proposals[-1].model_version
    assert proposals[-1].model_version in live  # the version live when it was proposed


def test_a_shift_the_live_model_does_not_cover_brings_the_refit_forward() -> None:
    """Load nine times its usual level from the second hour on: the one-step intervals
    stop covering it, and the model is challenged long before its six-hourly refit."""
    t, values = week_and_a_day(22)
    values = values.copy()
    values[-60:] *= 9.0
    values[-60::2] /= 3.0  # and jumpy: each minute a third or three times the last
    clock = FakeClock(float(t[-150]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="6h")
    run(loop, clock, 145)
    rows = cast(Any, loop.decisions).ledger.model_versions
    triggers = [r["evaluation"]["trigger"] for r in rows]
    assert triggers[0] == "FirstFit"
    assert any(trigger in ("CoverageDrift", "ErrorDrift") for trigger in triggers[1:])
    assert "Scheduled" not in triggers
    model = loop.models[web.ref]
    assert model.band is not None and math.isfinite(model.band.mase_limit)


def test_a_fallback_gives_way_to_the_first_seasonal_refit() -> None:
    """A workload first fitted on one day of load runs on the flat fallback; the first
    refit that has a week replaces it without a contest (a flat level is hard to beat a
    few minutes ahead, and would keep the profile out for good)."""
    t, values = week_and_a_day(23)
    start = len(t) - 130
    reader = WeekReader(t, values)
    clock = FakeClock(float(t[start]))
    hidden = values.copy()
    hidden[: start - 1440] = np.nan  # at first Prometheus holds one day of this load
    reader.values = hidden
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(reader, clock, [web], refitEvery="1h")
    run(loop, clock, 5)
    reader.values = values  # a week is there by the next refit (a backfill, say)
    run(loop, clock, 60)
    rows = cast(Any, loop.decisions).ledger.model_versions
    assert rows[0]["params"]["fallback"].startswith("TooLittleHistory")
    assert rows[1]["status"] == "live" and rows[1]["params"]["fallback"] is None
    assert rows[1]["evaluation"]["replaced_fallback"].startswith("TooLittleHistory")
    model = loop.models[web.ref]
    assert model.fitted is not None and model.fitted.fallback_reason is None


def test_every_model_evaluated_has_a_name_of_its_own_across_a_restart(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each refit's challenger that lost was recorded as ``<model>/<live + 1>``: every
    one lost against the same live model shared one name, a restart numbered from 1
    again, and a challenger that then went live took a name a rejected one had. Every
    model evaluated now takes the next of the workload's numbers, kept across restarts
    by the ledger, and is named as the live model is, with its fit time. The contests'
    outcomes are scripted (the real MASE of each is still recorded); the ledger is the
    daemon's SQLite one, holding what an earlier release recorded."""
    outcomes = iter([False, False, False, True])  # the contests, in the order they come
    judge = lifecycle.challenge_on_holdout

    def scripted(*args: Any, **kwargs: Any) -> ModelVersion:
        verdict = judge(*args, **kwargs)
        return dataclasses.replace(verdict, promoted=next(outcomes), reason="scripted")

    monkeypatch.setattr(lifecycle, "challenge_on_holdout", scripted)
    t, values = week_and_a_day(24)
    clock = FakeClock(float(t[-130]))
    web = workload("web", **{CAPACITY: "5"})
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock.now())
    key = str(web.ref)
    # An earlier release: numbered from 1 again after its own restart, rejected
    # challengers named without a fit time.
    older = [
        ("seasonal-profile/1 fitted 2026-11-19T06:00:00Z", "live"),
        ("seasonal-profile/2", "rejected"),
        ("seasonal-profile/1 fitted 2026-11-20T06:00:00Z", "live"),
        ("seasonal-profile/2", "rejected"),
    ]
    for version, status in older:
        ledger.record_model_version(key, MODEL_NAME, version, status, {}, {}, clock.now() - 9e4)
    assert ledger.live_model(key)["version"] == older[2][0]  # type: ignore[index]
    try:
        first = loop_over(WeekReader(t, values), clock, [web], route="auto", refitEvery="2m")
        first.decisions = inline_service(ledger, clock, RoutingSettings())
        run(first, clock, 5)  # a first fit, then two refits: both challengers lose
        restarted = loop_over(WeekReader(t, values), clock, [web], route="auto", refitEvery="2m")
        restarted.decisions = first.decisions  # nothing kept but the ledger
        restarted.cluster, restarted.executor = first.cluster, first.executor
        run(restarted, clock, 5)  # a first fit, a challenger that loses, one that wins
        table = tables["model_versions"]
        with ledger.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.version, table.c.status, table.c.evaluation)
                .where(table.c.series_key == key)
                .order_by(table.c.id)
            ).all()
        decisions = ledger.decisions(kind="scaling")
        live_now = ledger.live_model(key)
    finally:
        ledger.close()
    assert next(outcomes, None) is None  # every scripted contest was held
    new = rows[len(older) :]
    assert [status for _, status, _ in new] == [
        "retired",  # the first fit
        "rejected",
        "rejected",
        "retired",  # the first fit after the restart
        "rejected",
        "live",  # the challenger that won
    ]
    names = [version for version, _, _ in new]
    numbers = [int(name.split(" ")[0].rpartition("/")[2]) for name in names]
    assert numbers == [5, 6, 7, 8, 9, 10]  # past every number recorded before
    assert all(" fitted 20" in name for name in names)
    assert len(set(names)) == len(names)  # no two alike
    assert not set(names) & {version for version, _ in older}  # nor like one before
    for version, status, evaluation in new:
        if evaluation.get("challenger") is not None:  # a contest: the name judged is kept
            assert evaluation["challenger"] == version
            assert evaluation["promoted"] is (status != "rejected")
    assert new[-1][2]["champion"] == names[3]  # the live model it beat, by its own name
    assert live_now is not None and live_now["version"] == names[-1]
    assert decisions and all(d.model_version in names for d in decisions)


def test_a_ledger_that_cannot_say_how_models_were_numbered_holds_no_fit_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ledger not answering at a workload's first fit: the model goes live all the
    same, numbered by this process alone, and the ledger's numbering is read at the
    next refit."""
    t, values = week_and_a_day(25)
    clock = FakeClock(float(t[-130]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="2m")
    ledger = cast(Any, loop.decisions).ledger
    tally = ledger.model_version_tally

    def down(series_key: str) -> tuple[int, str | None]:
        raise TransientError("the ledger did not answer within 5 s", reason="LedgerDown")

    ledger.model_version_tally = down
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 1)
    assert loop.models[web.ref].fitted is not None
    assert "could not read how its models were numbered" in caplog.text
    ledger.model_version_tally = tally
    run(loop, clock, 4)  # two refits
    names = [row["version"] for row in ledger.model_versions]
    assert [name.split(" ")[0] for name in names] == [f"seasonal-profile/{i}" for i in (1, 2, 3)]
    assert loop.models[web.ref].numbered == 3


def test_a_new_live_model_is_judged_on_its_own_forecasts_only() -> None:
    """The one-step forecast the old model made last cycle was added to the outcomes of
    the model that replaced it in this one: a drift refit (the old model badly off)
    started the new model's record with the old one's miss. A refit that goes live
    now drops it: the first outcome kept is the new model's."""
    t, values = week_and_a_day(26)
    clock = FakeClock(float(t[-130]))
    web = workload("web", **{CAPACITY: "5"})
    loop = loop_over(WeekReader(t, values), clock, [web], refitEvery="6h")
    run(loop, clock, 3)
    model = loop.models[web.ref]
    assert model.outcomes.count == 2  # the first model's forecasts of cycles 2 and 3
    first = model.fitted
    cast(Any, loop.cluster).workloads = [
        dataclasses.replace(
            web, annotations={**web.annotations, HISTORY_SINCE: "2026-11-01T00:00:00Z"}
        )
    ]
    run(loop, clock, 1)  # a new cut: a refit that goes live at once
    assert model.fitted is not first and model.version == 2
    assert model.outcomes.count == 0
    run(loop, clock, 1)
    assert model.outcomes.count == 1  # its own forecast of the minute after the refit


@pytest.mark.parametrize("number", ["²", "٣", "１", "9" * 5000])
def test_a_model_name_numbered_in_other_digits_gives_no_number(number: str) -> None:
    """The newest model version the ledger holds numbers the next one; a name whose
    number is not ASCII digits (a row written by hand or by another tool) gives none (0:
    the count of versions numbers on), where ``int`` raised on a superscript two or on
    5,000 digits and read an Arabic-Indic three as 3."""
    assert _model_number(f"seasonal-profile/{number} fitted 2026-11-19T06:00:00Z") == 0
    assert _model_number("seasonal-profile/12 fitted 2026-11-19T06:00:00Z") == 12
