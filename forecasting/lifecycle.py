"""The life of one series' live forecast model, as the scaling loop keeps it.

When a refit falls due (on schedule, on drift, or the first time), a challenger fitted
without the last hour (``HOLDOUT_SECONDS``; 60 points at the loop's one-minute step)
contests that hour against the live model, both forecasting it at the workload's lead;
the challenger goes live only if it forecasts the hour strictly better (``refit``).
Between refits the live model's one-step forecasts are kept against what arrived
(``OutcomeRing``), and every ``DRIFT_EVERY`` cycles they are held to the band the model
earned (``check_drift``): a model off its band is not trusted (the workload turns
reactive) until a refit beats it or it is back in its band (``distrust``). The errors
are judged on the square-root scale (``ERROR_POWER``): request counts are about Poisson,
so in raw units a band earned in a quiet hour is too tight for every busy one. A refit
clears the ring, so the first check after one waits for the band's ``min_samples`` new
outcomes (half an hour at a one-minute step) and no longer: a pattern that moves just
after a scheduled refit is still found within the hour.

Pure: no clock, no reads, no ledger. ``agent.loops.scaling`` adds those, and
``forecasting.replay`` runs the same rules on a trace, so the replay benchmark judges
the model lifecycle the daemon runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecasting.cleaning import outage_rule
from forecasting.drift import (
    DriftBand,
    DriftVerdict,
    ModelVersion,
    assess_drift_arrays,
    challenge_on_holdout,
    naive_scale,
    powered,
)
from forecasting.profile import FittedProfile, SeasonalProfile
from forecasting.series import FloatArray, Series

__all__ = [
    "BREACH_LEVEL",
    "DRIFT_EVERY",
    "ERROR_POWER",
    "HOLDOUT_SECONDS",
    "OUTCOMES",
    "SCALE_SECONDS",
    "SPIKE_CYCLES",
    "SPIKE_FACTOR",
    "GlitchWatch",
    "OutageWatch",
    "OutcomeRing",
    "Refit",
    "check_drift",
    "distrust",
    "implausible",
    "mase",
    "refit",
]

HOLDOUT_SECONDS = 3600.0  # what a refit's challenger is judged on against the live model
OUTCOMES = 180  # one-step outcomes kept per workload for the drift check (three hours)
DRIFT_EVERY = 10  # cycles between two drift checks of one workload (staggered)
SCALE_SECONDS = 86400.0  # the errors' scale: the mean one-step change over the last day
BREACH_LEVEL = 95  # the interval whose coverage the drift check watches
ERROR_POWER = 0.5  # the drift check's errors are between square roots (Poisson-like counts)
SPIKE_FACTOR = 50.0  # a newest sample this many times the last half hour's is suspect...
SPIKE_CYCLES = 3  # ...until it has held this many cycles (a glitch is not a surge)


class OutcomeRing:
    """The live model's recent one-step forecasts and the values that then arrived:
    four float32 columns of ``size`` rows (about 3 KB), oldest overwritten, allocated
    at the first outcome."""

    def __init__(self, size: int = OUTCOMES) -> None:
        self.size = size
        self.columns: np.ndarray | None = None
        self.count = 0

    def add(self, actual: float, mean: float, lower: float, upper: float) -> int:
        """Keep one outcome; returns its index (the count of outcomes before it), by
        which ``withhold`` and ``score`` find it while it is kept."""
        if self.columns is None:
            self.columns = np.full((4, self.size), np.nan, dtype=np.float32)
        self.columns[:, self.count % self.size] = (actual, mean, lower, upper)
        self.count += 1
        return self.count - 1

    def kept(self, index: int) -> bool:
        """Whether outcome ``index`` is still in the ring (not overwritten, not cleared)."""
        return self.columns is not None and max(0, self.count - self.size) <= index < self.count

    def withhold(self, index: int) -> float:
        """Take outcome ``index`` out of the check (its actual becomes NaN, which the
        check skips) and return the actual it had; NaN when it is no longer kept."""
        if not self.kept(index):
            return math.nan
        assert self.columns is not None
        actual = float(self.columns[0, index % self.size])
        self.columns[0, index % self.size] = np.nan
        return actual

    def score(self, index: int, actual: float) -> None:
        """Put outcome ``index`` back in the check with ``actual`` (if still kept)."""
        if self.kept(index):
            assert self.columns is not None
            self.columns[0, index % self.size] = actual

    def clear(self) -> None:
        self.columns = None
        self.count = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.columns is None:
            empty = np.empty(0)
            return empty, empty, empty, empty
        block = self.columns[:, : min(self.count, self.size)].astype(np.float64)
        return block[0], block[1], block[2], block[3]


def implausible(values: np.ndarray, capacity: float) -> str | None:
    """Why the newest sample of ``values`` (the last half hour) looks like a glitch (a
    counter reset read as a rate, a 10^12 spike), or None: more than ``SPIKE_FACTOR``
    times the larger of the half hour's median and one pod's worth of load
    (``capacity``). The newest finite one: the current load (missing steps after it, a
    gap read past, do not hide it). None when that larger is 0 (a replay given no
    capacity, in the middle of zeros): there is nothing to be many times of."""
    finite = values[np.isfinite(values)]
    if finite.size < 6:
        return None
    earlier = finite[:-1]
    typical = max(float(np.median(earlier)), capacity)
    newest = float(finite[-1])
    if not typical > 0 or newest <= SPIKE_FACTOR * typical:
        return None
    return (
        f"the newest load sample {newest:.4g} is {newest / typical:.0f}x the last half "
        f"hour's typical {typical:.4g}"
    )


@dataclass
class GlitchWatch:
    """The glitch test's streak of suspect samples (``implausible``) and the outcomes it
    withheld meanwhile. A suspect sample is not acted on, nor scored as a forecast miss,
    until it has held ``SPIKE_CYCLES`` new samples: then it is a surge, load, and its
    withheld outcomes are scored; a streak that ends sooner was a glitch, and they stay
    withheld."""

    streak: int = 0
    # (index in the ring, actual) of each outcome withheld while the streak runs
    glitched: tuple[tuple[int, float], ...] = ()

    def hold(self, ring: OutcomeRing, suspect: bool, *, fresh: bool, arrived: int | None) -> bool:
        """Whether to hold (not act on the newest sample): ``suspect`` says whether it
        looks like a glitch, ``fresh`` whether it is new since the last call (only a new
        sample lengthens the streak), ``arrived`` the index of the outcome it made in
        ``ring`` this cycle (None: none)."""
        if suspect:
            if fresh:
                self.streak += 1
            if self.streak < SPIKE_CYCLES:
                if arrived is not None:
                    actual = ring.withhold(arrived)
                    self.glitched = (*self.glitched, (arrived, actual))
                return True
            for index, actual in self.glitched:  # a surge: its first samples were load
                ring.score(index, actual)
        else:
            self.streak = 0
        self.glitched = ()  # a glitch's outcomes stay withheld
        return False


@dataclass
class OutageWatch:
    """Withholds from the drift check the zeros a refit would fit as an outage
    (``forecasting.cleaning.mask_not_demand``): a run of zeros after a sample at or
    above the busy floor of the last refit's history, while zeros are rare there.

    When a zero arrives it is not known yet whether it is one: that is known only when
    the run ends. So every zero of such a run is withheld as it arrives (a check while it
    is still going scores none of them, as a refit then would mask them), and the next
    non-zero sample decides: at or above the busy floor, the load came back and the run
    was an outage (its zeros are never scored); below it, the load was low, and the
    zeros are scored after all. A run that outgrows the zeros the refit's history could
    still take for an outage (``zero_room``: a tenth of its samples, less the zeros it
    held) is no longer one by that rule either: its zeros are scored from then on, and a
    drift can refit it. Only the zeros still in the ring are scored (a run longer than
    the ring's three hours has lost its first ones), and a refit during a run withholds
    on, counting against the new history's room. An outage also sets ``outage_end``:
    the forecasts made from a level anchored on its zeros (``anchored_on_outage``) are
    not the model's misses; those of a lull are, and are scored."""

    # The outage rule of the last refit's history (``forecasting.cleaning.outage_rule``):
    # the busy floor (None: no zero is an outage) and how many more zeros it takes.
    busy: float | None = None
    zero_room: int = 0
    # While a run of zeros after busy load is withheld: the index of its first outcome
    # since it began or since the last refit.
    zeros_from: int | None = None
    zero_at: float = -math.inf  # when the newest zero so withheld arrived
    # When the last run of zeros found to be an outage ended (its last zero).
    outage_end: float = -math.inf

    def learn(self, history: FloatArray) -> None:
        """Take the outage rule of a refit's history (as read: NaN where missing)."""
        rule = outage_rule(np.where(np.isfinite(history), history, np.nan))
        self.busy, self.zero_room = rule if rule is not None else (None, 0)

    def refitted(self) -> None:
        """A refit cleared the ring: a run of zeros still going is withheld on from the
        new ring's first outcome."""
        if self.zeros_from is not None:
            self.zeros_from = 0

    def arrived(
        self, ring: OutcomeRing, values: np.ndarray, index: int, arrived: float, at: float
    ) -> None:
        """Outcome ``index`` of ``ring`` was the sample ``arrived``, at ``at``, the newest
        of ``values`` (the recent points as read)."""
        start = self.zeros_from
        if start is not None:
            room = self.busy is not None and index - start < self.zero_room
            if arrived == 0 and room:
                ring.withhold(index)
                self.zero_at = at
                return
            if self.busy is None or arrived < self.busy:  # too long, or a lull
                for kept in range(start, index):
                    ring.score(kept, 0.0)
            else:  # the load came back: an outage
                self.outage_end = self.zero_at
            self.zeros_from = None
            return
        if arrived != 0 or self.busy is None or self.zero_room <= 0:
            return
        before = values[:-1][np.isfinite(values[:-1])]
        if before.size and before[-1] >= self.busy:
            ring.withhold(index)
            self.zeros_from, self.zero_at = index, at

    def anchored_on_outage(self, at: float, window: float) -> bool:
        """Whether a one-step forecast of the value at ``at``, made from the level of the
        ``window`` seconds before it, was anchored on an outage's zeros (re-anchoring
        takes the load as read): its miss is not the model's."""
        return at - window <= self.outage_end


@dataclass(frozen=True, eq=False)
class Refit:
    """What a refit decided.

    ``live`` serves from now on: the new fit when ``promoted``, else the champion
    re-anchored on the newest points. ``judged`` is the model whose evaluation is
    recorded (the challenger when it lost). ``band`` is the new live model's drift band
    (None when it lost, the old band stays, or when no hour could be held out).
    ``verdict`` is None when there was no contest (a first fit, a forced refit, a live
    fallback replaced, too little history to hold an hour out).
    """

    live: FittedProfile
    judged: FittedProfile
    promoted: bool
    verdict: ModelVersion | None
    band: DriftBand | None
    stopgap: bool
    held: int
    scale: float


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute error over ``scale``; NaN with fewer than ten comparable points."""
    errors = np.abs(actual - forecast)
    errors = errors[np.isfinite(errors)]
    if errors.size < 10 or not (math.isfinite(scale) and scale > 0):
        return math.nan
    return float(np.mean(errors)) / scale


def refit(
    champion: FittedProfile | None,
    history: Series,
    forecaster: SeasonalProfile,
    *,
    recent: FloatArray,
    steps: int,
    forced: bool,
    levels: tuple[int, ...],
    champion_name: str,
    version: int,
    suffix: str = "",
) -> Refit:
    """Fit a challenger and let it replace ``champion`` only if it forecasts the last
    ``HOLDOUT_SECONDS`` of ``history`` better, ``steps`` ahead (neither saw them); a first
    fit, a ``forced`` refit or a live fallback (a stopgap, not a model that earned its
    place) goes live at once. ``recent`` are the newest points, ending where ``history``
    ends: the champion is re-anchored on them when it stays. ``version`` numbers the
    challenger in the verdict, which names it ``<model name>/<version><suffix>``."""
    step = history.step
    scale = naive_scale(history.values[-max(2, round(SCALE_SECONDS / step)) :])
    level_window = max(1, round(forecaster.settings.level_window_seconds / step))
    window = level_window + steps - 1
    held = min(max(1, round(HOLDOUT_SECONDS / step)), len(history) // 4)
    last = float(history.timestamps[-1])
    verdict: ModelVersion | None = None
    challenger: FittedProfile | None = None
    # A flat level is hard to beat a few minutes ahead, and would keep the profile out.
    stopgap = champion is not None and champion.fallback_reason is not None
    if not forced and not stopgap and champion is not None and held >= 10:
        train = Series(history.timestamps[:-held], history.values[:-held], step, history.name)
        challenger = forecaster.fit(train)
        span = history.values[-(held + window) :]
        verdict = challenge_on_holdout(
            span[-held:],
            champion.ahead(span, last, steps)[-held:],
            challenger.ahead(span, last, steps)[-held:],
            scale,
            champion_name=champion_name,
            challenger_name=f"{challenger.name}/{version}{suffix}",
            margin=1.0,  # strictly better wins; a tie keeps the live model
        )
    if verdict is not None and not verdict.promoted:
        assert champion is not None and challenger is not None
        live = champion.advance(recent, last)
        return Refit(live, challenger, False, verdict, None, stopgap, held, scale)
    live = forecaster.fit(history).compact(levels)
    # The drift band holds the new model to its one-step error on the held-out hour,
    # the error the live check measures (a first fit: on its own last hour, which it
    # saw; a little optimistic, and the band's tolerance is wide), both on the
    # square-root scale, where an hour's error says about as much of the others.
    band: DriftBand | None = None
    if held >= 10:
        judged = challenger if challenger is not None else live
        span = history.values[-(held + level_window) :]
        day = history.values[-max(2, round(SCALE_SECONDS / step)) :]
        root_scale = naive_scale(powered(day, ERROR_POWER))
        base = mase(
            powered(span[-held:], ERROR_POWER),
            powered(judged.ahead(span, last)[-held:], ERROR_POWER),
            root_scale,
        )
        if math.isfinite(base):
            band = DriftBand(
                max(1.5 * base, base + 0.3), root_scale, BREACH_LEVEL, power=ERROR_POWER
            )
    return Refit(live, live, True, verdict, band, stopgap, held, scale)


def check_drift(ring: OutcomeRing, band: DriftBand) -> DriftVerdict:
    """The live model's recent one-step outcomes held to its band (no verdict but
    ``TooFewOutcomes`` until the ring holds ``band.min_samples`` of them)."""
    actual, mean, lower, upper = ring.arrays()
    return assess_drift_arrays(actual, mean, lower, upper, band, model_age=0.0, max_age=math.inf)


def distrust(verdict: DriftVerdict, poor: str | None) -> str | None:
    """Why the live model is not trusted after ``verdict`` (None: it is): off its band
    makes it untrusted, back in its band trusted again, anything else changes nothing."""
    if verdict.refit:
        return verdict.message
    if verdict.reason == "InBand":
        return None
    return poor
