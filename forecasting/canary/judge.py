"""The sequential canary judge: ask it after every interval, as often as you like.

Each metric keeps its own anytime-valid evidence (``evidence``); the judge combines the
findings into one verdict. A rollback needs a critical metric proven worse; a promotion
needs every metric proven within its tolerance (or, at the end of the analysis, every
critical one); anything else keeps collecting, and what is still unclear at the maximum
duration is ``inconclusive``, for a person to decide. Once final, a verdict does not change.

A metric with an absolute ``objective`` is also held to it on the canary's values alone
(``objective``): past it counts as a regression (reason ``ObjectiveBreached`` when that is
all that regressed), not yet within it keeps the metric undecided. A continuous metric
with a ``count`` column is not within its tolerance on fewer requests than its minimum.

A ``dry_run`` metric is judged like any other and its finding reported (its sentence
says it was not counted), but the verdict is made from the other metrics alone, and a
final verdict's sentence ends with what the dry-run metrics showed. Its data that cannot
be judged leaves out its own interval (its finding says how many and why), not the whole
interval as a counted metric's does: a wrong query tried dry-run must not stop the verdict.
Every metric's values are checked before any is added, so an interval a counted metric
refuses changes no metric's evidence: the judge goes on as if it had never been read.

A continuous metric with ``spread`` on is also held to it (``spread``): a canary proven
to vary more from interval to interval than the tolerance allows is a regression (the
verdict's reason is that of any regression; the sentence says it is a spread), and the
metric is within its tolerance only once its spread is shown within it too. Its ``count``
column, read on both sides, lets the spread test allow for a canary serving fewer (or
more) requests per interval than its baseline.

A continuous metric's infinite value (``histogram_quantile``'s +Inf: the quantile fell
beyond the histogram's largest finite bucket) is data that cannot be judged, and refuses
the interval like a negative one; NaN (no requests in the window) stays missing. A counted
metric whose canary value has been infinite for ``min_intervals`` intervals running, its
baseline's finite, ends the analysis ``inconclusive`` (reason ``OffScale``) with a sentence
saying so, rather than waiting, silent, for the maximum duration. On the worse side (+Inf
for a latency) the canary is worse by more than the metric can measure, by an amount (and
on a number of requests) the judge cannot tell; on the better side (-Inf for a latency,
+Inf for a metric whose higher values are better) the value is no measurement at all, and
no evidence the canary is better: either way a person decides, and the sentence says
which. An interval in which the canary has no value (NaN), or the baseline none that is
finite, says nothing of whether the canary came back on the scale: it neither starts the
count again nor adds to it (a canary with little traffic, its p99 NaN and +Inf by turns,
used to be counted afresh at each NaN and so waited for the maximum duration). Nor does
a finite canary value the judge refuses (a negative latency: a broken query, not the
canary back on the scale). Only a finite canary value the judge takes starts it again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from forecasting.canary.calibration import calibrated_confidence
from forecasting.canary.evidence import (
    CanaryDataError,
    ContinuousEvidence,
    RatioEvidence,
    infinite_advice,
)
from forecasting.canary.objective import (
    LevelObjective,
    RateObjective,
    with_objective,
)
from forecasting.canary.sequences import ar1_inflation, long_run_inflation
from forecasting.canary.spec import JudgeSettings, MetricKind, MetricSpec
from forecasting.canary.spread import SpreadEvidence, SpreadStatus, with_spread
from forecasting.canary.verdict import (
    Decision,
    MetricFinding,
    MetricStatus,
    Verdict,
    after_name,
)

__all__ = ["CanaryJudge", "Interval", "judge_run"]

# How a dry-run metric's finding ends, so that no reader takes it for one that counted.
_DRY_RUN_NOTE = " (dry run: not counted in the verdict)."


@dataclass(frozen=True)
class Interval:
    """One analysis interval: column values for each side (NaN or absent = missing).

    ``timestamp`` is the interval's start in epoch seconds; intervals must arrive in
    increasing time order.
    """

    timestamp: float
    baseline: Mapping[str, float]
    canary: Mapping[str, float]


class CanaryJudge:
    """Incremental judge: ``update(interval)`` after each interval returns a ``Verdict``."""

    def __init__(
        self,
        specs: Sequence[MetricSpec],
        settings: JudgeSettings | None = None,
        *,
        started_at: float | None = None,
    ):
        """``started_at``: when the analysis began, if before the first interval fed here
        (an analysis taken up again after a restart keeps its ``max_duration_seconds``
        clock); else the first interval's timestamp."""
        if not specs:
            raise ValueError("a canary judge needs at least one metric")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique, got {names}")
        if all(s.dry_run for s in specs):
            raise ValueError("every metric is dry_run: at least one must decide the verdict")
        self.specs = tuple(specs)
        self.settings = settings or JudgeSettings()
        # each comparison with the baseline, each absolute objective and each spread test
        # is one test, and the error budgets are split over all of them; a dry-run metric
        # is no test of the verdict's, so it takes no share (adding one changes no other
        # metric's verdict) and is judged at the level each counted test gets
        decided = [s for s in self.specs if not s.dry_run]
        tests = (
            len(decided)
            + sum(s.objective is not None for s in decided)
            + sum(s.spread is not None for s in decided)
        )
        per_metric_alpha = self.settings.alpha / tests
        per_metric_promote = self.settings.alpha_promote / tests
        self._alphas = (per_metric_alpha, per_metric_promote)
        inflation = long_run_inflation if self.settings.weigh_persistence else ar1_inflation
        self._objectives: dict[str, RateObjective | LevelObjective] = {}
        for spec in self.specs:
            if spec.objective is None:
                continue
            self._objectives[spec.name] = (
                RateObjective(spec)
                if spec.kind is MetricKind.RATIO
                else LevelObjective(spec, self.settings.prior_intervals, inflation)
            )
        self._spreads: dict[str, SpreadEvidence] = {
            spec.name: SpreadEvidence(spec, self.settings.prior_intervals, inflation)
            for spec in self.specs
            if spec.spread is not None
        }
        # the requests the canary served in each count-carrying metric's judged intervals
        self._served: dict[str, float] = {s.name: 0.0 for s in self.specs if s.count}
        # the metrics that regressed on their objective alone, at the latest look
        self._objective_only: set[str] = set()
        self._evidence: list[ContinuousEvidence | RatioEvidence] = []
        for spec in self.specs:
            if spec.kind is MetricKind.RATIO:
                self._evidence.append(
                    RatioEvidence(
                        spec, per_metric_alpha, per_metric_promote, self.settings.min_intervals
                    )
                )
            else:
                self._evidence.append(
                    ContinuousEvidence(
                        spec,
                        per_metric_alpha,
                        per_metric_promote,
                        self.settings.min_intervals,
                        self.settings.prior_intervals,
                        self.settings.weigh_persistence,
                    )
                )
        self._start: float | None = started_at
        self._last: float | None = None
        self._step = self.settings.step_seconds
        # The last reading of each running counter, per metric, side and column: each
        # ratio metric keeps its own origins, so two that share a column (errors and
        # timeouts over the same requests) both get its whole increase.
        self._counters: dict[tuple[str, str, str], float] = {}
        self._final: Verdict | None = None
        self._latest: Verdict | None = None
        # Per dry-run metric: its intervals left out as data that cannot be judged, and
        # the latest reason. Such data refuses the whole interval only for a counted
        # metric: a dry-run one (a new query, perhaps wrong) must not stop the verdict.
        self._refused: dict[str, tuple[int, str]] = {}
        # Per counted continuous metric: the run of intervals in which its canary value
        # was infinite (either side) while its baseline's was finite (``_count_off_scale``).
        # Each such interval is refused (no statistic takes an infinite value), and after
        # ``min_intervals`` of them a person is asked (``_off_scale_verdict``).
        self._off_scale: dict[str, _OffScaleRun] = {}

    @property
    def verdict(self) -> Verdict | None:
        return self._latest

    def conclude(self) -> Verdict | None:
        """The verdict when no interval will follow the last one fed (judged or refused):
        on the intervals judged, at the time the last one fed reaches, so final once
        that is the maximum duration. For a replay whose data end on intervals the judge
        refused (``autonomic judge``): the daemon's next interval would decide there, and
        a file has none; and for the daemon, at an interval refused from the maximum
        duration on (its intervals may be refused from then on, and none judged would
        decide). None before any interval was fed, and before the maximum duration when
        none was judged; from it, with none judged, the verdict on no data."""
        if self._final is not None:
            return self._final
        if self._start is None or self._last is None:
            return None
        assert self._start is not None and self._last is not None
        elapsed = self._last - self._start + (self._step or 0.0)
        if elapsed < self.settings.max_duration_seconds:
            return self._latest
        self._final = self._latest = self._combine(elapsed)
        return self._final

    def so_far(self) -> Verdict | None:
        """``conclude()``'s verdict; when that is None because no interval was judged
        yet (every one fed refused, before the maximum duration), the verdict on no data
        at the time the last one fed reaches: 'continue', as the daemon answers for an
        analysis with no interval judged yet. None before any interval was fed."""
        concluded = self.conclude()
        if concluded is not None or self._start is None or self._last is None:
            return concluded
        return self._combine(self._last - self._start + (self._step or 0.0))

    def update(self, interval: Interval) -> Verdict:
        if self._last is not None and interval.timestamp <= self._last:
            raise CanaryDataError(
                f"interval at {interval.timestamp!r} is not after the previous one at "
                f"{self._last!r}; feed intervals in time order"
            )
        if self._start is None:
            self._start = interval.timestamp
        elif self._step is None and self._last is not None:
            self._step = interval.timestamp - self._last
        self._last = interval.timestamp
        elapsed = interval.timestamp - self._start + (self._step or 0.0)
        if self._final is not None:
            self._latest = self._final
            return self._final
        off_scale = self._count_off_scale(interval)
        if off_scale:
            verdict = self._off_scale_verdict(elapsed, off_scale)
            self._final = self._latest = verdict
            return verdict
        counts, unusable, counters = self._counts(interval)
        # Every metric's values are checked before any is added: a counted metric's that
        # cannot be judged refuses the interval with no evidence changed (before, the
        # metrics ahead of it in the spec had already kept it, and from then on their
        # evidence and the others' covered different intervals).
        for spec, evidence in zip(self.specs, self._evidence, strict=True):
            if spec.name in unusable:
                continue
            try:
                self._check(spec, evidence, interval, counts)
            except CanaryDataError as exc:
                if not spec.dry_run:
                    raise
                unusable[spec.name] = str(exc)
        self._counters = counters
        for spec, evidence in zip(self.specs, self._evidence, strict=True):
            if spec.name in unusable:
                self._refuse(spec, evidence, unusable[spec.name])
            else:
                self._add(spec, evidence, interval, counts)
        verdict = self._combine(elapsed)
        if verdict.final:
            self._final = verdict
        self._latest = verdict
        return verdict

    def _count_off_scale(self, interval: Interval) -> list[MetricSpec]:
        """Count, per counted continuous metric, the intervals running in which its canary
        value was infinite (on either side) while its baseline's was finite; return the
        metrics that have had ``min_intervals`` of them (a person should be told now).

        Only a finite canary value the judge takes ends a run. An interval with no canary
        value (NaN), with a canary value the judge refuses on its own (a negative latency),
        or with the canary infinite against a baseline that is not finite, is held: it
        says nothing of whether the canary came back on the scale, so it neither ends the
        run nor adds to it (before, a NaN ended it, and a canary with little traffic whose
        value went NaN and +Inf by turns never reached ``min_intervals``; until session 44
        a refused finite value, -0.2 s from a broken query, ended it too)."""
        stuck: list[MetricSpec] = []
        for spec, evidence in zip(self.specs, self._evidence, strict=True):
            if spec.dry_run or not isinstance(evidence, ContinuousEvidence):
                continue
            baseline = _value(interval.baseline, spec.name)
            canary = _value(interval.canary, spec.name)
            run = self._off_scale.get(spec.name)
            if math.isfinite(canary) and not evidence.refuses(canary):
                self._off_scale.pop(spec.name, None)  # back on the scale
                continue
            if not (math.isinf(canary) and math.isfinite(baseline)):
                if run is not None:  # nothing to compare: the run neither ends nor grows
                    self._off_scale[spec.name] = replace(run, held=run.held + 1)
                continue
            worse = spec.direction.sign * canary > 0
            run = run or _OffScaleRun()
            run = replace(
                run,
                count=run.count + 1,
                worse=run.worse + worse,
                better=run.better + (not worse),
                plus=run.plus or canary > 0,
                minus=run.minus or canary < 0,
            )
            self._off_scale[spec.name] = run
            if run.count >= self.settings.min_intervals:
                stuck.append(spec)
        return stuck

    def _off_scale_verdict(self, elapsed: float, stuck: Sequence[MetricSpec]) -> Verdict:
        """A final ``inconclusive`` verdict for a canary whose value of a counted metric
        has been infinite for ``min_intervals`` intervals running while its baseline's was
        finite: every such interval was refused, so without this the judge would wait,
        silent, for the maximum duration. It is not a rollback: on the worse side the judge
        cannot tell by how much the canary is worse (nor, without a count, on how many
        requests), only that its value is beyond what the metric can measure; and not a
        promotion: on the better side the value is no measurement at all (a latency of
        -Inf is a broken query, not a fast release)."""
        findings = list(
            self._finding(spec, e) for spec, e in zip(self.specs, self._evidence, strict=True)
        )
        said: list[str] = []
        for spec in stuck:
            text = f"{spec.name}: {self._off_scale[spec.name].said()}"
            said.append(text)
            i = self.specs.index(spec)
            findings[i] = replace(
                findings[i],
                status=MetricStatus.UNDECIDED,
                strength=0.0,
                sentence=f"{text}; judged before then: {after_name(findings[i])}.",
            )
        others = [f for f in findings if not f.dry_run and f.name not in {s.name for s in stuck}]
        sentence = "A person should decide: " + "; ".join(said) + "."
        if others:
            sentence += " The other metrics: " + _joined(others)
        muted = [f for f in findings if f.dry_run]
        if muted:
            sentence += " Dry run, not counted: " + _joined(
                replace(f, sentence=f.sentence.removesuffix(_DRY_RUN_NOTE)) for f in muted
            )
        return self._verdict(
            Decision.INCONCLUSIVE,
            0.0,
            "OffScale",
            sentence,
            elapsed,
            tuple(findings),
            final=True,
        )

    def _check(
        self,
        spec: MetricSpec,
        evidence: ContinuousEvidence | RatioEvidence,
        interval: Interval,
        counts: Mapping[str, tuple[float, float, float, float]],
    ) -> None:
        """Raise ``CanaryDataError`` if ``_add`` would refuse this metric's values in
        ``interval``; change nothing."""
        if isinstance(evidence, RatioEvidence):
            if spec.name in counts:
                evidence.check(*counts[spec.name])
            return
        evidence.check(_value(interval.baseline, spec.name), _value(interval.canary, spec.name))
        if spec.count:
            self._served_in(spec, interval)

    def _add(
        self,
        spec: MetricSpec,
        evidence: ContinuousEvidence | RatioEvidence,
        interval: Interval,
        counts: Mapping[str, tuple[float, float, float, float]],
    ) -> None:
        """One metric's values in ``interval``, added to its evidence and objective."""
        objective = self._objectives.get(spec.name)
        if isinstance(evidence, RatioEvidence):
            if spec.name in counts:
                evidence.add(*counts[spec.name])
                if isinstance(objective, RateObjective):
                    objective.add(*counts[spec.name][2:])
            return
        baseline = _value(interval.baseline, spec.name)
        canary = _value(interval.canary, spec.name)
        served = self._served_in(spec, interval) if spec.count else 0.0
        evidence.add(baseline, canary)
        if isinstance(objective, LevelObjective):
            objective.add(canary)
        if spec.name in self._spreads:
            requests = None
            if spec.count:  # each side's requests behind its value, allowed for by spread
                requests = (_value(interval.baseline, spec.count), served)
            self._spreads[spec.name].add(baseline, canary, requests)
        if spec.count and not (math.isnan(baseline) or math.isnan(canary)):
            self._served[spec.name] += served

    def _refuse(
        self, spec: MetricSpec, evidence: ContinuousEvidence | RatioEvidence, why: str
    ) -> None:
        """A dry-run metric's interval that cannot be judged: left out of its evidence
        (it counts as missing), counted, and its reason kept for its finding."""
        if isinstance(evidence, RatioEvidence):
            evidence.add(math.nan, math.nan, math.nan, math.nan)
        else:
            evidence.add(math.nan, math.nan)
        times, _ = self._refused.get(spec.name, (0, ""))
        self._refused[spec.name] = (times + 1, why)

    @staticmethod
    def _served_in(spec: MetricSpec, interval: Interval) -> float:
        """The canary's requests behind ``spec``'s value in ``interval`` (its ``count``
        column; missing counts as none, so a value with no count never helps promote)."""
        assert spec.count is not None
        served = _value(interval.canary, spec.count)
        if math.isnan(served):
            return 0.0
        if served < 0 or math.isinf(served):
            raise CanaryDataError(
                f"metric {spec.name!r}: the canary's count {spec.count!r} is {served!r}; "
                "it must be a finite number of requests, 0 or more",
                side="canary",
            )
        return served

    def _finding(
        self, spec: MetricSpec, evidence: ContinuousEvidence | RatioEvidence
    ) -> MetricFinding:
        """The metric's comparison with the baseline, held back below its minimum count
        and combined with its absolute objective, if it has them."""
        finding = evidence.finding()
        if spec.count is not None:
            finding = _with_count(finding, spec, self._served[spec.name])
        objective = self._objectives.get(spec.name)
        if objective is not None:
            compared = finding.status
            finding = with_objective(
                finding, objective.finding(*self._alphas, self.settings.min_intervals)
            )
            if finding.status is MetricStatus.REGRESSED and compared is not finding.status:
                self._objective_only.add(spec.name)
        spread = self._spreads.get(spec.name)
        if spread is not None:
            checked = spread.finding(*self._alphas, self.settings.min_intervals)
            finding = with_spread(finding, checked)
            if checked.status is SpreadStatus.WIDER:  # not the objective alone, then
                self._objective_only.discard(spec.name)
        if spec.dry_run:
            sentence = finding.sentence.rstrip(".")
            if spec.name in self._refused:
                times, why = self._refused[spec.name]
                sentence += (
                    f"; {times} interval{'s' if times != 1 else ''} not judged, its data "
                    f"unusable (latest: {why.rstrip('.')})"
                )
            finding = replace(finding, dry_run=True, sentence=sentence + _DRY_RUN_NOTE)
        return finding

    def _counts(
        self, interval: Interval
    ) -> tuple[
        dict[str, tuple[float, float, float, float]],
        dict[str, str],
        dict[tuple[str, str, str], float],
    ]:
        """Each ratio metric's (baseline events, trials, canary events, trials) in
        ``interval``: the increases of running counters (``cumulative``), or the values;
        the dry-run metrics whose counter reset, with why (their interval is left out);
        and the counters' readings, to keep as origins once the interval is taken.

        Both counters of a side move together: when one is missing neither origin moves,
        so the next increases of events and trials span the same time. A counter that
        went down (a reset) is refused with nothing judged, after every counter's origin
        is moved to this reading, so the next increases all span one interval again; a
        dry-run metric's reset leaves out that metric's interval alone (``_refuse``). An
        interval refused for any other reason moves no origin: the next increases span
        it too, as if it had never been read."""
        counters = dict(self._counters)
        resets: list[str] = []
        reset_sides: set[str] = set()  # the sides whose counters went down
        dry_resets: dict[str, str] = {}  # a dry-run metric's: not the whole interval's
        counts: dict[str, tuple[float, float, float, float]] = {}
        for spec in self.specs:
            if spec.kind is not MetricKind.RATIO:
                continue
            found: list[str] = []  # this metric's resets
            sides: set[str] = set()
            assert spec.numerator is not None and spec.denominator is not None
            columns = (spec.numerator, spec.denominator)
            row: list[float] = []
            for side, values in (("baseline", interval.baseline), ("canary", interval.canary)):
                now = [_value(values, column) for column in columns]
                if not spec.cumulative or any(math.isnan(v) for v in now):
                    row.extend(now if not spec.cumulative else (math.nan, math.nan))
                    continue
                keys = [(spec.name, side, column) for column in columns]
                before = [self._counters.get(key) for key in keys]
                counters.update(zip(keys, now, strict=True))
                for column, old, new in zip(columns, before, now, strict=True):
                    if old is not None and new < old:
                        sides.add(side)
                        found.append(
                            f"metric {spec.name!r}: the {side} counter {column!r} went from "
                            f"{old!r} down to {new!r} (a counter reset); restart the analysis "
                            "or give per-interval counts with cumulative: false"
                        )
                origins = [old for old in before if old is not None]
                if len(origins) < len(columns):
                    row.extend((math.nan, math.nan))  # a first reading only sets the origin
                else:
                    row.extend(new - old for new, old in zip(now, origins, strict=True))
            if found and spec.dry_run:  # its own interval left out, in ``update``
                dry_resets[spec.name] = "; ".join(found)
                continue
            resets.extend(found)
            reset_sides |= sides
            counts[spec.name] = (row[0], row[1], row[2], row[3])
        if resets:
            self._counters = counters
            # one side's counters alone: that side is at fault (a caller reading each side
            # from its own file names that file)
            at_fault = min(reset_sides) if len(reset_sides) == 1 else None
            raise CanaryDataError("; ".join(resets), side=at_fault)
        return counts, dry_resets, counters

    def _combine(self, elapsed: float) -> Verdict:
        self._objective_only = set()
        findings = tuple(
            self._finding(spec, e) for spec, e in zip(self.specs, self._evidence, strict=True)
        )
        verdict = self._decide(elapsed, findings)
        muted = [
            replace(f, sentence=f.sentence.removesuffix(_DRY_RUN_NOTE))
            for f in findings
            if f.dry_run
        ]
        if verdict.final and muted:  # what the metrics not counted would have said
            verdict = replace(
                verdict, sentence=f"{verdict.sentence} Dry run, not counted: {_joined(muted)}"
            )
        return verdict

    def _decide(self, elapsed: float, findings: tuple[MetricFinding, ...]) -> Verdict:
        """The verdict from the counted metrics; every finding is reported with it."""
        counted = [f for f in findings if not f.dry_run]
        at_end = elapsed >= self.settings.max_duration_seconds
        critical = [f for f in counted if f.critical]
        regressed_critical = [f for f in critical if f.status is MetricStatus.REGRESSED]
        regressed_other = [
            f for f in counted if not f.critical and f.status is MetricStatus.REGRESSED
        ]
        if regressed_critical:
            top = max(regressed_critical, key=lambda f: f.strength)
            # named for the objective when no critical metric is worse than its baseline
            only_objective = all(f.name in self._objective_only for f in regressed_critical)
            return self._verdict(
                Decision.ROLLBACK,
                top.strength,
                "ObjectiveBreached" if only_objective else "CriticalRegression",
                "Roll back: " + _joined(regressed_critical),
                elapsed,
                findings,
                final=True,
            )
        if regressed_other:
            return self._verdict(
                Decision.INCONCLUSIVE,
                0.0,
                "NonCriticalRegression",
                "A person should decide: a non-critical metric regressed while the critical "
                "ones did not: " + _joined(regressed_other),
                elapsed,
                findings,
                final=True,
            )
        fine = [f for f in counted if f.status is MetricStatus.WITHIN_TOLERANCE]
        fine_critical = [f for f in critical if f.status is MetricStatus.WITHIN_TOLERANCE]
        may_promote = at_end or elapsed >= self.settings.min_promote_seconds
        if may_promote and (
            len(fine) == len(counted)
            or (at_end and critical and len(fine_critical) == len(critical))
        ):
            weakest = min(fine, key=lambda f: f.strength)
            unjudged = [f for f in counted if f.status is not MetricStatus.WITHIN_TOLERANCE]
            which = "counted" if len(counted) < len(findings) else "judged"  # dry runs aside
            sentence = f"Promote: every {which} metric is within its tolerance."
            if unjudged:  # at the end, on the critical metrics alone: say what was not judged
                sentence = (
                    "Promote: the analysis reached its maximum duration with every critical "
                    "metric within its tolerance; not decided (not critical): " + _joined(unjudged)
                )
            held = [f for f in fine if f.objective is not None]
            if held:  # name each objective met, and the canary's value against it
                sentence += " Objectives met: " + _joined(held)
            return self._verdict(
                Decision.PROMOTE,
                weakest.strength,
                "WithinTolerance",
                sentence,
                elapsed,
                findings,
                final=True,
            )
        open_findings = [f for f in counted if f.status is not MetricStatus.WITHIN_TOLERANCE]
        if at_end:
            no_data = all(f.status is MetricStatus.NO_DATA for f in open_findings)
            reason = "NoData" if no_data else "Unclear"
            return self._verdict(
                Decision.INCONCLUSIVE,
                0.0,
                reason,
                "A person should decide: the analysis reached its maximum duration and "
                + _joined(open_findings),
                elapsed,
                findings,
                final=True,
            )
        return self._verdict(
            Decision.CONTINUE,
            0.0,
            "CollectingEvidence",
            "Keep collecting: " + _joined(open_findings),
            elapsed,
            findings,
            final=False,
        )

    def _verdict(
        self,
        decision: Decision,
        strength: float,
        reason: str,
        sentence: str,
        elapsed: float,
        findings: tuple[MetricFinding, ...],
        *,
        final: bool,
    ) -> Verdict:
        return Verdict(
            decision=decision,
            confidence=calibrated_confidence(decision, strength),
            reason=reason,
            sentence=sentence,
            elapsed_seconds=elapsed,
            decided_after_seconds=elapsed if final else None,
            metrics=findings,
        )


@dataclass(frozen=True)
class _OffScaleRun:
    """A counted metric's run of intervals with its canary value infinite against a finite
    baseline: how many, how many of them on the metric's worse side and its better side,
    which infinities were seen, and the intervals held within it (no canary value, or no
    finite baseline: neither ending the run nor counted in it)."""

    count: int = 0
    worse: int = 0
    better: int = 0
    plus: bool = False
    minus: bool = False
    held: int = 0

    def said(self) -> str:
        """The run in words, naming the side honestly: worse than the baseline by more
        than the metric can measure, or, on the better side, unusable."""
        shown = " and ".join(t for t, seen in (("+Inf", self.plus), ("-Inf", self.minus)) if seen)
        if self.plus and self.minus:
            shown = f"infinite ({shown} by turns)"
        held = (
            f" (and {self.held} more between them, with no canary value, one refused, or "
            "no finite baseline, not counted)"
            if self.held
            else ""
        )
        text = (
            f"the canary's value has been {shown} for {self.count} intervals running while "
            f"the baseline's was finite{held}, none of them judged: "
        )
        if not self.better:
            text += "worse than the baseline by more than the metric can measure"
        elif not self.worse:
            text += (
                "beyond the metric's better end, which is no measurement, so unusable "
                "(no evidence the canary is better)"
            )
        else:
            text += (
                f"beyond the metric's scale, on its worse side in {self.worse} of them and "
                f"its better side in {self.better}, so unusable"
            )
        advice = [
            infinite_advice(positive)
            for positive, seen in ((True, self.plus), (False, self.minus))
            if seen
        ]
        return f"{text}; {'; '.join(advice)}"


def _with_count(finding: MetricFinding, spec: MetricSpec, served: float) -> MetricFinding:
    """A finding that may not be within tolerance on fewer requests than the spec needs.

    Without a count the judge cannot tell a value over thousands of requests from one over
    three, and promoted a canary on a handful; like a ratio metric, whose bound cannot
    promote before its canary has served enough requests, it says how many it has seen."""
    needed = spec.needed_count
    so_far = f"{spec.count} so far: canary {served:,.0f}"
    if finding.status is MetricStatus.WITHIN_TOLERANCE and served < needed:
        return replace(
            finding,
            status=MetricStatus.UNDECIDED,
            strength=0.0,
            sentence=finding.sentence.rstrip(".")
            + f", but on too few {spec.count} to promote on ({so_far}, at least "
            f"{needed:,.0f} needed).",
        )
    if finding.status is MetricStatus.UNDECIDED:
        return replace(finding, sentence=finding.sentence.rstrip(".") + f" ({so_far}).")
    return finding


def _joined(findings: Iterable[MetricFinding]) -> str:
    """The findings' sentences as one: "a; b." (each ends with a full stop of its own)."""
    return "; ".join(f.sentence.rstrip(".") for f in findings) + "."


def _value(row: Mapping[str, float], column: str) -> float:
    value = row.get(column, math.nan)
    return float(value) if value is not None else math.nan


def judge_run(
    specs: Sequence[MetricSpec],
    intervals: Iterable[Interval],
    settings: JudgeSettings | None = None,
) -> Verdict:
    """Batch API: replay intervals in order and return the verdict after the last one.

    The replay stops early once the verdict is final, exactly as the daemon would; if
    the data end before the maximum duration with nothing decided, the answer is
    ``continue``.
    """
    judge = CanaryJudge(specs, settings)
    verdict: Verdict | None = None
    for interval in intervals:
        verdict = judge.update(interval)
        if verdict.final:
            break
    if verdict is None:
        raise ValueError("no intervals to judge")
    return verdict
