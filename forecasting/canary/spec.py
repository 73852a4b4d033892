"""What the judge is told about each metric: its kind, which way is worse, how much matters.

A spec is plain data, validated once at the edge (``parse_spec``), so that a typo in a
canary configuration fails when it is loaded, naming the field, rather than silently
judging the wrong thing later.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from forecasting.text import unseen_character

__all__ = [
    "DEFAULT_MIN_COUNT",
    "DEFAULT_SPREAD",
    "MIN_ALPHA",
    "CanarySpecError",
    "Direction",
    "JudgeSettings",
    "MetricKind",
    "MetricSpec",
    "Tolerance",
    "default_specs",
    "parse_spec",
]


class CanarySpecError(ValueError):
    """A canary spec is invalid; ``field`` is the dotted path of the offending entry.

    ``path`` is the same location as keys (``("metrics", "p99", "tolerance")``), for a
    loader that can map it to the line of the file where it is written.
    """

    def __init__(self, field: str, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.path = path


class MetricKind(StrEnum):
    """How a metric is measured, which decides how it is compared.

    ``continuous``: one value per interval (mean latency, p99 latency); compared on paired
    per-interval differences. ``ratio``: events over trials per interval (errors over
    requests); compared as rates of counts, which copes with a zero baseline. ``resource``:
    a continuous gauge (CPU, memory); judged like ``continuous`` with its own defaults.
    """

    CONTINUOUS = "continuous"
    RATIO = "ratio"
    RESOURCE = "resource"


class Direction(StrEnum):
    """Which way a change is a regression. A canary that moved the other way improved."""

    INCREASE = "increase"
    DECREASE = "decrease"

    @property
    def sign(self) -> float:
        return 1.0 if self is Direction.INCREASE else -1.0


@dataclass(frozen=True)
class Tolerance:
    """The smallest change that matters: relative (0.1 = 10 %) or absolute (metric units)."""

    value: float
    relative: bool

    def describe(self) -> str:
        if self.relative:
            return f"{self.value:.0%}" if self.value >= 0.01 else f"{self.value:.2%}"
        return f"{self.value:g}"


@dataclass(frozen=True)
class MetricSpec:
    """One judged metric. For ``ratio`` metrics ``numerator``/``denominator`` name columns.

    ``cumulative`` says the count columns are running counters (Prometheus ``_total``);
    the judge then works on their per-interval increases and refuses counters that reset.

    ``objective`` (optional) is an absolute level the canary must meet on its own, whatever
    its baseline does: the most it may have when ``direction`` is ``increase`` (a ceiling:
    an error rate for a ratio metric, a latency in the metric's unit), the least when
    ``decrease``. A canary proven past it is a regression and one not yet proven within it
    is not promoted, so a baseline as bad as the canary no longer passes it.

    ``count`` (continuous and resource metrics, optional) names a column holding how many
    requests each interval's value summarises; the metric is then never within its
    tolerance before the canary has served ``min_count`` of them (``DEFAULT_MIN_COUNT``
    unless set) in judged intervals, as a ratio metric cannot be on a handful of requests.
    Rollbacks are not held back by it.

    ``dry_run`` (off by default) judges the metric and reports what it found, but never
    lets it move the verdict: a new or untrusted metric can be watched on real releases
    before it may roll one back (Kayenta's "muted" metrics, Argo Rollouts' ``dryRun``). It
    takes no share of the error budgets, so adding one leaves the other metrics' verdicts
    as they were; nor does its data that cannot be judged (a negative value, a counter
    reset) refuse the interval, as a counted metric's does: its own interval is left out.

    ``spread`` (continuous and resource metrics, off by default) is the most the canary's
    interval-to-interval standard deviation may be, as a multiple of the baseline's (1.5:
    half as wide again); the metric is then a regression when the canary is proven more
    spread than that, and within its tolerance only once it is proven less (``spread``
    module). ``spread: true`` in a spec file is ``DEFAULT_SPREAD``. With ``count`` set,
    each side's count lets the test allow for unequal traffic (without it, a canary with
    a small share of the requests is more spread for that alone).
    """

    name: str
    kind: MetricKind = MetricKind.CONTINUOUS
    direction: Direction = Direction.INCREASE
    tolerance: Tolerance = Tolerance(0.10, relative=True)
    critical: bool = True
    numerator: str | None = None
    denominator: str | None = None
    cumulative: bool = False
    allow_negative: bool = False
    objective: float | None = None
    count: str | None = None
    min_count: float | None = None
    dry_run: bool = False
    spread: float | None = None

    def __post_init__(self) -> None:
        if self.spread is not None:
            if self.kind is MetricKind.RATIO:
                raise CanarySpecError(
                    "spread", "spread is for continuous and resource metrics, not ratio ones"
                )
            if not (math.isfinite(self.spread) and self.spread > 1.0):
                raise CanarySpecError(
                    "spread", f"must be a finite ratio above 1, got {self.spread!r}"
                )

    @property
    def needed_count(self) -> float:
        """The requests the canary must have served before this metric may be within its
        tolerance: ``min_count``, ``DEFAULT_MIN_COUNT`` if unset, 0 without ``count``."""
        if self.count is None:
            return 0.0
        return DEFAULT_MIN_COUNT if self.min_count is None else self.min_count

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind is MetricKind.RATIO:
            assert self.numerator is not None and self.denominator is not None
            return (self.numerator, self.denominator)
        if self.count is not None:
            return (self.name, self.count)
        return (self.name,)


# The smallest error budget the judge accepts: the bounds are computed in log space and
# would cope with less, but 1e-9 already asks for about 21 nats of evidence per metric.
MIN_ALPHA = 1e-9

# How many requests a continuous metric with a ``count`` column needs, by default, before
# it may be within its tolerance: 1,000 puts about 10 of them above a p99, so the value
# judged is a tail and not the slowest of a handful.
DEFAULT_MIN_COUNT = 1000.0

# ``spread: true``: the canary's standard deviation may be up to 1.5 times its baseline's
# (a variance 2.25 times as large) before it is a regression: chosen as a material change,
# as the 10 % default tolerance of a level is, not fitted on any benchmark.
DEFAULT_SPREAD = 1.5


@dataclass(frozen=True)
class JudgeSettings:
    """Knobs of the sequential judge; defaults are the ones the benchmark reports.

    ``alpha`` bounds, across every look, the chance of rolling back a canary that is not
    worse; ``alpha_promote`` the chance of promoting one that is worse by the tolerance or
    more. Both are split over the metrics. A wrong rollback costs a redeploy and a wrong
    promotion a regression in production, and they need not be priced the same.
    ``min_intervals`` is the minimum-evidence rule: no metric is decided on fewer paired
    intervals than this, however striking they look. ``min_promote_seconds`` holds a
    promotion back until the canary has run that long (rollbacks are never held back), so
    that a slow leak has time to show before the canary takes all the traffic.
    ``weigh_persistence`` (off by default) gives continuous metrics the long-run variance
    that weighs every AR(1) persistence the data cannot rule out (``long_run_inflation``)
    instead of the lag-1 point estimate: far fewer false rollbacks when a pod drifts
    slowly, at the price of later rollbacks and more escalations on white noise
    (``benchmarks/canary_RESULTS.md``, 2026-11-24).
    """

    alpha: float = 0.01
    alpha_promote: float = 0.05
    min_intervals: int = 8
    min_promote_seconds: float = 0.0
    max_duration_seconds: float = 3600.0
    step_seconds: float | None = None
    prior_intervals: float = 10.0
    weigh_persistence: bool = False

    def __post_init__(self) -> None:
        for name in ("alpha", "alpha_promote"):
            value = getattr(self, name)
            if not MIN_ALPHA <= value < 0.5:
                raise CanarySpecError(
                    name,
                    f"must be at least {MIN_ALPHA:g} and below 0.5, got {value!r} (an error "
                    "budget below that would hold every verdict back for an impractically "
                    "long time)",
                )
        if not self.min_promote_seconds >= 0:
            raise CanarySpecError("min_promote_seconds", "must be zero or more seconds")
        if self.min_intervals < 2:
            raise CanarySpecError("min_intervals", "must be at least 2")
        if not self.max_duration_seconds > 0:
            raise CanarySpecError("max_duration_seconds", "must be a positive number of seconds")


_DEFAULT_TOLERANCE = {
    MetricKind.CONTINUOUS: Tolerance(0.10, relative=True),
    MetricKind.RESOURCE: Tolerance(0.20, relative=True),
    MetricKind.RATIO: Tolerance(0.005, relative=False),
}

_TOLERANCE_TEXT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|pp)?\s*$", re.ASCII)


def default_specs(columns: Sequence[str]) -> tuple[MetricSpec, ...]:
    """Without a spec every column is a continuous metric where an increase is a regression."""
    return tuple(MetricSpec(name=c) for c in columns)


def _error(path: tuple[str, ...], message: str, field: str | None = None) -> CanarySpecError:
    return CanarySpecError(field or ".".join(path) or "<root>", message, path)


# The words runbooks, the configuration and scenarios use for the same mistakes
# (``remediation.validation``, which this pure package may not import; a test holds the
# two to the same words).
_MISSING_KEY = "required key is missing"


def _nearest(written: str, choices: Sequence[str]) -> str | None:
    same = [c for c in choices if c.lower() == written.strip().lower()]
    close = same or difflib.get_close_matches(written, choices, n=1)
    return close[0] if close else None


def _unknown_key(key: Any, allowed: Sequence[str]) -> str:
    near = _nearest(key, allowed) if isinstance(key, str) else None
    hint = f"did you mean {near!r}? " if near else "check the spelling; "
    return f"unknown key ({hint}the keys here are {', '.join(allowed)})"


def _not_a_choice(value: Any, choices: Sequence[str], why: str = "") -> str:
    listed = ", ".join(f"{c!r}" for c in choices[:-1]) + f" or {choices[-1]!r}"
    near = _nearest(value, choices) if isinstance(value, str) else None
    hint = f" (did you mean {near!r}?)" if near else ""
    return f"must be {listed}{why}, got {value!r}{hint}"


def _parse_tolerance(raw: Any, kind: MetricKind, path: tuple[str, ...]) -> Tolerance:
    usage = "expected a number, '10%', '0.5pp' or {relative|absolute: x}"
    if isinstance(raw, bool):
        raise _error(path, usage)
    if isinstance(raw, int | float):
        tol = Tolerance(float(raw), relative=False)
    elif isinstance(raw, str):
        match = _TOLERANCE_TEXT.match(raw)
        if match is None:
            raise _error(
                path,
                f"{raw!r} is not a tolerance; write e.g. '10%' (relative) or '0.5pp'"
                + unseen_character(raw),
            )
        number = float(match.group(1))
        if match.group(2) == "%":
            tol = Tolerance(number / 100.0, relative=True)
        elif match.group(2) == "pp":
            if kind is not MetricKind.RATIO:
                raise _error(
                    path,
                    f"{raw!r}: 'pp' (percentage points of a rate) is for ratio metrics only; "
                    f"for a {kind.value} metric write a relative tolerance such as "
                    f"'{match.group(1)}%' or an absolute one in the metric's own units",
                )
            tol = Tolerance(number / 100.0, relative=False)
        else:
            tol = Tolerance(number, relative=False)
    elif isinstance(raw, Mapping):
        keys = set(raw)
        if len(keys) != 1 or not keys <= {"relative", "absolute"}:
            raise _error(path, "expected exactly one of 'relative' or 'absolute'")
        key = next(iter(keys))
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error((*path, key), f"expected a number, got {value!r}")
        tol = Tolerance(float(value), relative=key == "relative")
    else:
        raise _error(path, usage)
    if not (math.isfinite(tol.value) and tol.value > 0):
        raise _error(path, f"must be a positive finite number, got {tol.value!r}")
    if kind is MetricKind.RATIO:
        if tol.relative:
            raise _error(
                path,
                "a ratio metric takes an absolute tolerance in rate units ('0.5pp' or 0.005), "
                "since a relative change of a zero baseline rate is undefined",
            )
        if tol.value >= 1:
            raise _error(path, "a rate tolerance must be below 1 (100 pp)")
    return tol


def _parse_objective(
    raw: Any, kind: MetricKind, allow_negative: bool, path: tuple[str, ...]
) -> float:
    """A ratio's objective is a rate (0.01 or '1%'); any other's a number in its own units."""
    if kind is MetricKind.RATIO:
        usage = "a ratio metric's objective is a rate: write e.g. '1%' or 0.01"
        if isinstance(raw, str):
            match = _TOLERANCE_TEXT.match(raw)
            if match is None or match.group(2) != "%":
                raise _error(path, f"{raw!r} is not a rate; {usage}{unseen_character(raw)}")
            value = float(match.group(1)) / 100.0
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            value = float(raw)
        else:
            raise _error(path, f"expected a rate, got {raw!r}; {usage}")
        if not 0.0 < value < 1.0:
            raise _error(path, f"a rate objective must be above 0 and below 1 (100%), got {raw!r}")
        return value
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        hint = (
            "; '%' is for ratio metrics only"
            if isinstance(raw, str) and raw.strip().endswith("%")
            else ""
        )
        raise _error(
            path,
            f"expected a number in the metric's own units (e.g. 0.5 for a latency in "
            f"seconds), got {raw!r}{hint}",
        )
    value = float(raw)
    if not math.isfinite(value):
        raise _error(path, f"must be a finite number, got {raw!r}")
    if value <= 0 and not allow_negative:
        raise _error(
            path,
            f"must be above 0, got {raw!r} (set allow_negative: true if the metric can be "
            "negative)",
        )
    return value


def _expect_bool(raw: Mapping[str, Any], key: str, path: tuple[str, ...], default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _error((*path, key), f"expected true or false (unquoted), got {value!r}")
    return value


_METRIC_KEYS = {
    "kind",
    "direction",
    "tolerance",
    "critical",
    "numerator",
    "denominator",
    "cumulative",
    "allow_negative",
    "objective",
    "count",
    "min_count",
    "dry_run",
    "spread",
}


def _field_name(key: Any) -> str:
    return key if isinstance(key, str) and key else repr(key)


def _parse_metric(name: str, raw: Any, path: tuple[str, ...]) -> MetricSpec:
    field = ".".join(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _error(path, f"expected a mapping of settings, got {type(raw).__name__}")
    unknown = [key for key in raw if key not in _METRIC_KEYS]
    if unknown:
        raise _error(
            (*path, str(unknown[0])),
            _unknown_key(unknown[0], sorted(_METRIC_KEYS)),
            field=f"{field}.{_field_name(unknown[0])}",
        )
    kind_raw = raw.get("kind", "continuous")
    try:
        kind = MetricKind(kind_raw)
    except ValueError:
        raise _error(
            (*path, "kind"), _not_a_choice(kind_raw, [k.value for k in MetricKind])
        ) from None
    direction_raw = raw.get("direction", "increase")
    try:
        direction = Direction(direction_raw)
    except ValueError:
        raise _error(
            (*path, "direction"),
            _not_a_choice(
                direction_raw, [d.value for d in Direction], ", the way that is a regression"
            ),
        ) from None
    tolerance = (
        _parse_tolerance(raw["tolerance"], kind, (*path, "tolerance"))
        if "tolerance" in raw
        else _DEFAULT_TOLERANCE[kind]
    )
    allow_negative = _expect_bool(raw, "allow_negative", path, False)
    if allow_negative and tolerance.relative and kind is not MetricKind.RATIO:
        given = "tolerance" in raw
        raise _error(
            (*path, "tolerance" if given else "allow_negative"),
            "a metric that can be negative needs an absolute tolerance in its own units "
            "(e.g. tolerance: 5, or {absolute: 5})"
            + ("" if given else ", and the default tolerance is relative (10%)")
            + ": a relative change of a value that can cross zero is undefined",
        )
    numerator = raw.get("numerator")
    denominator = raw.get("denominator")
    if kind is MetricKind.RATIO:
        for key, value in (("numerator", numerator), ("denominator", denominator)):
            if not isinstance(value, str) or not value:
                got = _MISSING_KEY if value is None else f"got {value!r}"
                raise _error(
                    (*path, key),
                    f"{got}: a ratio metric names its two count columns, numerator (the "
                    "events, e.g. errors) and denominator (the trials, e.g. requests)",
                )
    elif numerator is not None or denominator is not None:
        key = "numerator" if numerator is not None else "denominator"
        raise _error(
            (*path, key),
            f"only ratio metrics take numerator/denominator (this one is {kind.value}); "
            "add kind: ratio, or remove it",
        )
    objective = (
        _parse_objective(raw["objective"], kind, allow_negative, (*path, "objective"))
        if raw.get("objective") is not None
        else None
    )
    count = raw.get("count")
    if count is not None:
        if kind is MetricKind.RATIO:
            raise _error(
                (*path, "count"),
                "a ratio metric counts its requests with its denominator; count is for "
                "continuous and resource metrics",
            )
        if not isinstance(count, str) or not count or count == name:
            raise _error(
                (*path, "count"),
                f"expected the name of a column of request counts other than the metric's "
                f"own (e.g. requests), got {count!r}",
            )
    min_count = None
    if "min_count" in raw:
        value = raw["min_count"]
        if count is None:
            raise _error(
                (*path, "min_count"),
                "min_count needs count, the column of request counts it is a minimum of",
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value >= 0)
        ):
            raise _error(
                (*path, "min_count"), f"expected a number of requests, 0 or more, got {value!r}"
            )
        min_count = float(value)
    spread = _parse_spread(raw["spread"], kind, (*path, "spread")) if "spread" in raw else None
    return MetricSpec(
        name=name,
        kind=kind,
        direction=direction,
        tolerance=tolerance,
        critical=_expect_bool(raw, "critical", path, True),
        numerator=numerator,
        denominator=denominator,
        cumulative=_expect_bool(raw, "cumulative", path, False),
        allow_negative=allow_negative,
        objective=objective,
        count=count,
        min_count=min_count,
        dry_run=_expect_bool(raw, "dry_run", path, False),
        spread=spread,
    )


def _parse_spread(raw: Any, kind: MetricKind, path: tuple[str, ...]) -> float | None:
    """``true`` (``DEFAULT_SPREAD``), ``false`` (off), a ratio above 1, or {ratio: x}."""
    usage = (
        "write true (the canary's spread may be up to 1.5 times its baseline's), false, "
        "a ratio of standard deviations above 1 such as 2, or {ratio: 2}"
    )
    where = path
    value: Any = raw
    if isinstance(raw, Mapping):
        unknown = [key for key in raw if key != "ratio"]
        if unknown:
            raise _error(
                (*path, str(unknown[0])),
                _unknown_key(unknown[0], ["ratio"]),
                field=".".join(path) + f".{_field_name(unknown[0])}",
            )
        if "ratio" not in raw:
            raise _error((*path, "ratio"), f"{_MISSING_KEY}; {usage}")
        where, value = (*path, "ratio"), raw["ratio"]
        if isinstance(value, bool):
            raise _error(where, f"expected a number, got {value!r}; {usage}")
    if isinstance(value, bool):
        if value and kind is MetricKind.RATIO:
            raise _error(
                path,
                "a ratio metric's spread is its rate's, which the count test already "
                "judges; spread is for continuous and resource metrics",
            )
        return DEFAULT_SPREAD if value else None
    if kind is MetricKind.RATIO:
        raise _error(path, "spread is for continuous and resource metrics, not ratio ones")
    if not isinstance(value, int | float):
        hint = unseen_character(value) if isinstance(value, str) else ""
        raise _error(where, f"expected true, false or a number, got {value!r}; {usage}{hint}")
    if not (math.isfinite(value) and value > 1.0):
        raise _error(
            where,
            f"must be a finite ratio above 1, got {value!r} (the canary's standard deviation "
            "over the baseline's; at 1 or below an A/A canary could never be within it)",
        )
    return float(value)


def parse_spec(raw: Any) -> tuple[MetricSpec, ...]:
    """Validate a loaded spec document: ``{metrics: {name: {kind, direction, ...}}}``.

    Every ``CanarySpecError`` names the offending entry both as a dotted ``field`` and as
    a ``path`` of keys. Duplicate keys are the loader's business: a YAML mapping has
    lost them by the time it reaches here, so read files with a loader that refuses them.
    """
    if not isinstance(raw, Mapping):
        raise _error((), "expected a mapping with a 'metrics' key")
    unknown = [key for key in raw if key != "metrics"]
    if unknown:
        raise _error(
            (str(unknown[0]),),
            _unknown_key(unknown[0], ["metrics"]),
            field=_field_name(unknown[0]),
        )
    metrics = raw.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        raise _error(("metrics",), "expected a non-empty mapping of metric name to settings")
    specs = []
    for name, body in metrics.items():
        if not isinstance(name, str) or not name:
            raise _error(
                ("metrics", str(name)),
                "a metric name must be a non-empty string",
                field=f"metrics.{name!r}",
            )
        specs.append(_parse_metric(name, body, ("metrics", name)))
    if all(spec.dry_run for spec in specs):
        raise _error(
            ("metrics",),
            "every metric is dry_run: true, so nothing could ever roll a canary back or "
            "promote it; leave at least one metric judged (dry_run: false, the default)",
        )
    return tuple(specs)
