"""Infinite values in a continuous metric: refused with words, never a crash or a NaN.

``histogram_quantile`` returns +Inf when the quantile falls in the ``+Inf`` bucket (every
slow request beyond the largest finite bucket) and NaN for a window with no requests.
NaN is missing data, as before; an infinite value is refused (``CanaryDataError``), and a
canary infinite (on either side) for ``min_intervals`` intervals running, while its
baseline is finite, is a final ``inconclusive`` verdict a person sees at once; an interval
without a canary value neither ends that run nor adds to it.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.canary import (
    CanaryDataError,
    CanaryJudge,
    Decision,
    Direction,
    Interval,
    JudgeSettings,
    MetricKind,
    MetricSpec,
    MetricStatus,
    Tolerance,
    Verdict,
)

INF = math.inf
ERRORS = MetricSpec(
    "errors",
    kind=MetricKind.RATIO,
    tolerance=Tolerance(0.005, relative=False),
    numerator="err",
    denominator="req",
)


def _spec(relative: bool, spread: bool, kind: MetricKind = MetricKind.CONTINUOUS) -> MetricSpec:
    return MetricSpec(
        "p99",
        kind=kind,
        tolerance=Tolerance(0.1, relative=True) if relative else Tolerance(0.05, relative=False),
        spread=1.5 if spread else None,
    )


def _row(t: int, p99: float) -> dict[str, float]:
    return {"p99": p99, "err": 1.0, "req": 900.0}


def _feed(judge: CanaryJudge, t: int, baseline: float, canary: float) -> Verdict:
    return judge.update(Interval(60.0 * t, _row(t, baseline), _row(t, canary)))


def _checked(verdict: Verdict) -> None:
    assert math.isfinite(verdict.confidence) and 0.0 <= verdict.confidence <= 1.0
    for finding in verdict.metrics:
        for value in (finding.estimate, finding.lower, finding.upper):
            assert value is None or math.isfinite(value)
        assert math.isfinite(finding.strength)


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("spread", [False, True])
@pytest.mark.parametrize("kind", [MetricKind.CONTINUOUS, MetricKind.RESOURCE])
@pytest.mark.parametrize(
    ("side", "value"),
    [("canary", INF), ("baseline", INF), (None, INF), ("canary", -INF), (None, -INF)],
)
def test_an_infinite_value_is_refused_saying_what_it_is_and_judges_nothing(
    relative: bool, spread: bool, kind: MetricKind, side: str | None, value: float
) -> None:
    """Before: an absolute tolerance with both sides infinite crashed the bound with
    ``ValueError: variance_sum must be ... got nan``; one side +Inf was judged on a value
    clamped to the float maximum (a rollback, or with the baseline infinite a promotion,
    on a number nobody measured); -Inf with a relative tolerance read as "negative"."""
    spec = _spec(relative, spread, kind)
    judge = CanaryJudge([spec, ERRORS], JudgeSettings(min_intervals=3))
    for t in range(3):
        _checked(_feed(judge, t, 100.0 + t % 2, 101.0 + t % 3))
    before = [e for e in judge._evidence]
    baseline = value if side in ("baseline", None) else 100.0
    canary = value if side in ("canary", None) else 101.0
    with pytest.raises(CanaryDataError) as info:
        _feed(judge, 3, baseline, canary)
    sign = "+Inf" if value > 0 else "-Inf"
    said = str(info.value)
    assert info.value.side == side
    if side is None:
        assert f"both sides' values are {sign}, not a number the judge can compare" in said
    else:
        assert f"the {side}'s value is {sign}, not a number the judge can compare" in said
    if value > 0:
        assert "the +Inf bucket" in said and "add buckets with a larger le" in said
    assert judge._evidence == before  # nothing kept: as if never read
    verdict = _feed(judge, 4, 100.0, 101.0)
    _checked(verdict)
    assert next(f for f in verdict.metrics if f.name == "p99").intervals == 4


def test_an_objective_is_never_fed_an_infinite_canary() -> None:
    """Before: the objective's mean level took the +Inf and its bound crashed on NaN."""
    spec = MetricSpec("p99", tolerance=Tolerance(0.05, relative=False), objective=2.0)
    judge = CanaryJudge([spec])
    for t in range(3):
        _feed(judge, t, 0.3, 0.31 + 0.01 * (t % 2))
    with pytest.raises(CanaryDataError, match="canary's value is \\+Inf"):
        _feed(judge, 3, 0.3, INF)
    _checked(_feed(judge, 4, 0.3, 0.31))


def test_nan_stays_missing_not_refused() -> None:
    """A window with no requests (NaN) is a missing interval, as before: not an error."""
    judge = CanaryJudge([_spec(True, True), ERRORS])
    verdict = _feed(judge, 0, 100.0, math.nan)
    p99 = verdict.metrics[0]
    assert p99.status is MetricStatus.NO_DATA and "the canary had no value in 1" in p99.sentence


@pytest.mark.parametrize("direction", [Direction.INCREASE, Direction.DECREASE])
def test_a_canary_off_the_scale_for_min_intervals_running_asks_a_person(
    direction: Direction,
) -> None:
    """Before the change the daemon's judge rolled back on a clamped number, or crashed;
    refusing alone would wait, silent, for the maximum duration. Now the intervals are
    refused, and the ``min_intervals``-th running is a final inconclusive verdict that says
    what happened and what to do; the intervals before it are each refused."""
    spec = MetricSpec("p99", direction=direction, objective=200.0 if direction.sign > 0 else 1.0)
    judge = CanaryJudge([spec, ERRORS, MetricSpec("p50", dry_run=True)])
    worse = direction.sign * INF
    for t in range(3):
        _feed(judge, t, 100.0 + t % 2, 101.0)
    for t in range(3, 3 + 7):
        with pytest.raises(CanaryDataError):
            _feed(judge, t, 100.0, worse)
    verdict = _feed(judge, 10, 100.0, worse)
    _checked(verdict)
    assert verdict.final and verdict.decision is Decision.INCONCLUSIVE
    assert verdict.reason == "OffScale"
    sign = "+Inf" if direction.sign > 0 else "-Inf"
    assert verdict.sentence.startswith(
        f"A person should decide: p99: the canary's value has been {sign} for 8 intervals "
        "running while the baseline's was finite, none of them judged: worse than the "
        "baseline by more than the metric can measure; "
    )
    assert "The other metrics: errors: " in verdict.sentence
    assert "Dry run, not counted: p50" in verdict.sentence
    p99 = verdict.metrics[0]
    assert p99.status is MetricStatus.UNDECIDED and "judged before then: " in p99.sentence
    assert judge.update(Interval(660.0, _row(11, 1.0), _row(11, 1.0))) is verdict  # final


def test_only_a_finite_canary_ends_the_run_and_a_baseline_off_the_scale_never_asks() -> None:
    judge = CanaryJudge([_spec(True, False), ERRORS])
    t = 0
    for _ in range(3):  # 7 off the scale, then a finite interval: counted afresh
        for _ in range(7):
            with pytest.raises(CanaryDataError):
                _feed(judge, t, 100.0, INF)
            t += 1
        _checked(_feed(judge, t, 100.0, 101.0 + t % 2))
        t += 1
    for baseline, canary in ((INF, 100.0), (INF, INF), (math.nan, INF), (INF, -INF)):
        for _ in range(10):  # the baseline off the scale or missing: never the canary's
            with pytest.raises(CanaryDataError):
                _feed(judge, t, baseline, canary)
            t += 1
    assert judge.verdict is not None and not judge.verdict.final


@pytest.mark.parametrize("direction", [Direction.INCREASE, Direction.DECREASE])
def test_a_canary_off_the_scale_on_its_better_side_asks_a_person_too(
    direction: Direction,
) -> None:
    """Before: only an infinity on the worse side was counted; -Inf for a latency (or
    +Inf for a metric whose higher values are better) was refused every interval and
    the canary waited, silent, for the maximum duration. It is no measurement, so no
    evidence the canary is better: the 8th running asks a person, saying it is unusable
    (not that it is worse)."""
    spec = MetricSpec("p99", direction=direction)
    judge = CanaryJudge([spec, ERRORS])
    better = -direction.sign * INF
    for t in range(3):
        _feed(judge, t, 100.0 + t % 2, 101.0)
    for t in range(3, 3 + 7):
        with pytest.raises(CanaryDataError):
            _feed(judge, t, 100.0, better)
    verdict = _feed(judge, 10, 100.0, better)
    _checked(verdict)
    assert verdict.final and verdict.decision is Decision.INCONCLUSIVE
    assert verdict.reason == "OffScale"
    sign = "+Inf" if better > 0 else "-Inf"
    advice = "add buckets with a larger le" if better > 0 else "check the metric's query"
    assert verdict.sentence.startswith(
        f"A person should decide: p99: the canary's value has been {sign} for 8 intervals "
        "running while the baseline's was finite, none of them judged: beyond the metric's "
        "better end, which is no measurement, so unusable (no evidence the canary is "
        "better); "
    )
    assert advice in verdict.sentence and "worse than the baseline" not in verdict.sentence


def test_a_canary_infinite_on_either_side_by_turns_is_one_run() -> None:
    judge = CanaryJudge([MetricSpec("p99"), ERRORS])
    for t in range(7):
        with pytest.raises(CanaryDataError):
            _feed(judge, t, 100.0, INF if t % 2 else -INF)
    verdict = _feed(judge, 7, 100.0, INF)
    assert verdict.final and verdict.reason == "OffScale"
    assert (
        "p99: the canary's value has been infinite (+Inf and -Inf by turns) for 8 intervals "
        "running while the baseline's was finite, none of them judged: beyond the metric's "
        "scale, on its worse side in 4 of them and its better side in 4, so unusable; for "
        "a histogram_quantile that means"
    ) in verdict.sentence
    assert "; check the metric's query" in verdict.sentence


def test_an_interval_without_data_neither_ends_nor_adds_to_the_run() -> None:
    """A canary with little traffic: its p99 NaN (no requests in the window) and +Inf by
    turns. Before, each NaN started the count again, so 8 +Inf never came running and
    the canary waited, silent, for the maximum duration. A window with no data says
    nothing of whether the canary came back on the scale: the 8th +Inf asks a person,
    and the sentence says how many were not counted."""
    judge = CanaryJudge([MetricSpec("p99"), ERRORS])
    for t in range(14):
        if t % 2:
            _checked(_feed(judge, t, 100.0, math.nan))  # missing, not refused
        else:
            with pytest.raises(CanaryDataError):
                _feed(judge, t, 100.0, INF)
    with pytest.raises(CanaryDataError):  # nor does a baseline with no finite value
        _feed(judge, 14, math.nan, INF)
    verdict = _feed(judge, 15, 100.0, INF)
    assert verdict.final and verdict.reason == "OffScale"
    assert (
        "p99: the canary's value has been +Inf for 8 intervals running while the baseline's "
        "was finite (and 8 more between them, with no canary value, one refused, or no "
        "finite baseline, not counted), none of them judged: worse than the baseline by "
        "more than the metric can measure; "
    ) in verdict.sentence
    # a finite canary value does end it: 7, a finite one, then 7 more is no verdict
    judge = CanaryJudge([MetricSpec("p99"), ERRORS])
    for t in range(15):
        if t == 7:
            _checked(_feed(judge, t, 100.0, 101.0))
            continue
        with pytest.raises(CanaryDataError):
            _feed(judge, t, 100.0, INF)
    assert judge.verdict is not None and not judge.verdict.final


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        (MetricSpec("p99"), -0.2),  # a latency cannot be negative: a broken query
        (MetricSpec("p99", allow_negative=True), -0.2),  # relative: cannot cross zero
    ],
)
def test_a_canary_value_the_judge_refuses_holds_the_run_as_no_value_does(
    spec: MetricSpec, refused: float
) -> None:
    """A canary +Inf, then a finite value the judge refuses (a negative p99: the query
    broken for an interval, not the canary back on the scale), by turns. Before, the
    refused value ended the run like any finite one, so 8 +Inf never came running and
    the canary waited, silent, for the maximum duration; now it is held, as a NaN is, and
    the 8th +Inf asks a person, the sentence counting the refused ones among those held."""
    judge = CanaryJudge([spec, ERRORS])
    for t in range(14):
        with pytest.raises(CanaryDataError) as refusal:
            _feed(judge, t, 100.0, refused if t % 2 else INF)
        if t % 2:
            assert "negative" in str(refusal.value) and refusal.value.side == "canary"
    verdict = _feed(judge, 14, 100.0, INF)
    _checked(verdict)
    assert verdict.final and verdict.reason == "OffScale"
    assert (
        "p99: the canary's value has been +Inf for 8 intervals running while the baseline's "
        "was finite (and 7 more between them, with no canary value, one refused, or no "
        "finite baseline, not counted)"
    ) in verdict.sentence
    # a finite value the judge takes still ends it, a negative one where negatives are
    # allowed included (an absolute tolerance)
    spec = MetricSpec("delta", allow_negative=True, tolerance=Tolerance(0.05, relative=False))
    judge = CanaryJudge([spec, ERRORS])
    for t in range(15):
        row = {"delta": -0.2 if t == 7 else INF, "err": 1.0, "req": 900.0}
        if t == 7:
            _checked(judge.update(Interval(60.0 * t, {**row, "delta": 0.1}, row)))
            continue
        with pytest.raises(CanaryDataError):
            judge.update(Interval(60.0 * t, {**row, "delta": 0.1}, row))
    assert judge.verdict is not None and not judge.verdict.final


_values = st.one_of(
    st.floats(min_value=0.0, max_value=1e6),
    # finite values near the float maximum are another test's (test_judge_bad_input)
    st.sampled_from([INF, -INF, math.nan, 0.0, 5e-324]),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(_values, _values, _values, _values), min_size=1, max_size=30),
    relative=st.booleans(),
    spread=st.booleans(),
    objective=st.booleans(),
    direction=st.sampled_from(list(Direction)),
)
def test_any_mix_of_finite_infinite_and_nan_values_raises_nothing_but_data_errors(
    rows: list[tuple[float, float, float, float]],
    relative: bool,
    spread: bool,
    objective: bool,
    direction: Direction,
) -> None:
    specs = [
        MetricSpec(
            "p99",
            direction=direction,
            tolerance=Tolerance(0.1, relative=True) if relative else Tolerance(5.0, False),
            allow_negative=not relative,
            objective=50.0 if objective else None,
            spread=1.5 if spread else None,
        ),
        MetricSpec("cpu", kind=MetricKind.RESOURCE, count="req", dry_run=True),
        ERRORS,
    ]
    judge = CanaryJudge(specs, JudgeSettings(min_intervals=3, max_duration_seconds=1e9))
    for t, (b, c, b2, c2) in enumerate(rows):
        interval = Interval(
            60.0 * t,
            {"p99": b, "cpu": b2, "err": 1.0, "req": 900.0},
            {"p99": c, "cpu": c2, "err": 1.0, "req": c2 if math.isfinite(c2) else 900.0},
        )
        try:
            verdict = judge.update(interval)
        except CanaryDataError as exc:
            assert str(exc)
            continue
        _checked(verdict)
        if verdict.final:
            break


def test_a_judge_refused_every_interval_concludes_on_no_data_at_its_maximum_duration() -> None:
    """The baseline's p99 +Inf from the first interval (no ``OffScale``: the canary is
    no worse than a baseline off the scale): every interval is refused and ``conclude``
    had nothing to decide on, None for ever, so the daemon's analysis never ended. Before
    the maximum duration it is still None; from it, the verdict on no data, final."""
    judge = CanaryJudge(
        [_spec(relative=True, spread=False)],
        JudgeSettings(step_seconds=60.0, max_duration_seconds=600.0),
    )
    for t in range(10):
        with pytest.raises(CanaryDataError):
            _feed(judge, t, INF, 100.0)
        concluded = judge.conclude()
        if t < 9:
            assert concluded is None
    assert concluded is not None and concluded.final
    assert (concluded.decision, concluded.reason) == (Decision.INCONCLUSIVE, "NoData")
    assert concluded.elapsed_seconds == 600.0
    assert judge.conclude() is concluded and judge.verdict is concluded


def test_a_judge_with_nothing_judged_before_its_maximum_duration_is_continue_so_far() -> None:
    """``so_far``: what the daemon answers for an analysis no interval of which was judged
    yet ('continue', every metric without data), where ``conclude`` has no verdict."""
    judge = CanaryJudge(
        [_spec(relative=True, spread=False)],
        JudgeSettings(step_seconds=60.0, max_duration_seconds=600.0),
    )
    assert judge.so_far() is None  # nothing fed
    for t in range(3):
        with pytest.raises(CanaryDataError):
            _feed(judge, t, INF, 100.0)
    assert judge.conclude() is None
    waiting = judge.so_far()
    assert waiting is not None and not waiting.final
    assert waiting.decision == Decision.CONTINUE and waiting.elapsed_seconds == 180.0
    assert [f.status for f in waiting.metrics] == [MetricStatus.NO_DATA]
    assert judge.verdict is None  # nothing kept: the next interval decides as before
