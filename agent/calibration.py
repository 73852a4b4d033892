"""Learning from outcomes: track records, threshold moves, and the reliability table.

Rightness: an approved-and-verified decision is right; a rejected one, a failed
verification or an undo is wrong. These come from the ledger's feedback.

- ``track_record_confidence`` combines the triggering signal's confidence with the
  decision type's own record. The probability that acting is right is the probability
  that the signal is true times the probability that the action fixes it; with no
  record the latter is a skeptical prior (0.75), so a new runbook on a certain signal
  starts at 0.75 and asks. The prior is a Beta of strength 4 centred on that product,
  updated with exponentially decayed successes and failures of this decision type: as
  answers accumulate, the record speaks (17 recent clean successes take a certain
  signal past 0.95). Sibling runbooks (the same actions on the same kind, started by
  the same kind of event) lend part of their record to each other's prior.
- ``recalibrate`` moves the ``auto`` threshold: if the wrong-rate among recent automatic
  decisions exceeds its target by more than chance explains, ``auto`` rises (at once,
  above the wrong ones); when the record stays clean for long enough, ``auto`` relaxes one
  small step, never below the floor (the cap set by policy or runbook) nor the type's
  ``ask`` in force. Each move needs
  evidence gathered since the previous move (``since``): the same outcomes cannot move
  the threshold twice, so an hourly schedule does not slide it to the floor overnight on
  twenty old successes, nor ratchet it up every hour on one old failure. "More than
  chance": one wrong action in thirty is what a 1 % target produces a quarter of the
  time; it lowers the type's confidence through its track record, but does not by itself
  move the threshold (one-sided binomial test at 5 %, and never on a single wrong one).
- ``reliability`` bins stated confidence against observed rightness (with the expected
  calibration error), so anyone can check that "90 %" means 90 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.routing import Thresholds

__all__ = [
    "MACHINE_ACTORS",
    "Outcome",
    "Recalibration",
    "ReliabilityBin",
    "binomial_tail",
    "clean_outcomes_to_reach",
    "counted_route",
    "pooled_prior",
    "recalibrate",
    "reliability",
    "track_record_confidence",
]


# Feedback from these actors is the daemon's own (verification, question expiry); a
# "wrong" from anyone else is a human correction.
MACHINE_ACTORS = frozenset({"autonomic", "timeout"})


def counted_route(route: str, status: str) -> str:
    """The route a decision counts under in an automation rate (``autonomic calibration``,
    the ``/metrics`` gauge): automatic only if it acted. An automatic decision closed
    ``expired`` was held back (a guard, a pause, a ledger outage) past
    ``safety.approvedMaxWait`` and never ran: it was handed to a person, so it counts as
    escalated, as the ledger's outcome queries count its hindsight verdict."""
    return "escalate" if route == "auto" and status == "expired" else route


# How unlikely by chance a record must be to move a threshold (either way it is tested).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Outcome:
    at: float
    confidence: float  # as stated when the decision was made
    right: bool
    route: str  # the route the decision took
    subject: str = ""  # what it was about (``Deployment/shop/web``), where known


def track_record_confidence(
    signal_confidence: float,
    outcomes: Sequence[Outcome],
    now: float,
    *,
    prior_strength: float = 4.0,
    prior_success: float = 0.75,
    half_life: float = 60 * 86400.0,
    siblings: Sequence[Outcome] = (),
    sibling_weight: float = 0.5,
    sibling_cap: float = 10.0,
) -> float:
    """Posterior mean of a decayed Beta whose prior mean is signal x prior success.

    ``siblings`` are outcomes of sibling decision types (``remediation.family``): each
    counts ``sibling_weight`` of one of this type's own, decayed alike, and all of them
    together at most ``sibling_cap`` outcomes' worth (scaled down as a whole, keeping
    their right/wrong mix), so a sibling's long record can shorten a new runbook's
    apprenticeship but never outvote the runbook's own record for long.
    """
    s = min(max(signal_confidence, 0.0), 1.0) * prior_success
    alpha = prior_strength * s
    beta = prior_strength * (1.0 - s)
    right, wrong = _decayed(outcomes, now, half_life)
    lent_right, lent_wrong = _decayed(siblings, now, half_life)
    lent_right *= sibling_weight
    lent_wrong *= sibling_weight
    lent = lent_right + lent_wrong
    if lent > sibling_cap > 0:
        lent_right *= sibling_cap / lent
        lent_wrong *= sibling_cap / lent
    elif sibling_cap <= 0:
        lent_right = lent_wrong = 0.0
    alpha += right + lent_right
    beta += wrong + lent_wrong
    total = alpha + beta
    return alpha / total if total > 0 else s


def namespace_confidence(
    elsewhere: float,
    outcomes: Sequence[Outcome],
    now: float,
    *,
    prior_strength: float = 4.0,
    half_life: float = 60 * 86400.0,
) -> float:
    """The confidence for one namespace: a decayed Beta whose prior mean is
    ``elsewhere`` (the type's confidence from its record in the other namespaces) with
    ``prior_strength`` outcomes' worth of weight, updated with ``outcomes``, this
    namespace's own. Three wrong outcomes here outweigh a long clean record elsewhere."""
    right, wrong = _decayed(outcomes, now, half_life)
    alpha = prior_strength * elsewhere + right
    return alpha / (prior_strength + right + wrong)


def pooled_prior(
    base: float,
    outcomes: Sequence[Outcome],
    now: float,
    *,
    prior_strength: float = 4.0,
    half_life: float = 60 * 86400.0,
    cap: float = 0.85,
) -> float:
    """The prior success of a runbook, raised by the record of the cluster's other runbooks.

    ``base`` (0.75) is what a runbook is assumed to get right before anything is known.
    ``outcomes`` are the outcomes of every other runbook (not this one, not its siblings,
    which count already), decayed like a track record. If the cluster's runbooks have
    mostly been right, a runbook with no record of its own starts less skeptical: the
    pooled rate (a Beta posterior with the same prior as a runbook's own) replaces
    ``base``, up to ``cap``. At 0.85 a runbook on a certain signal still needs 8 clean
    outcomes of its own to pass ``auto`` = 0.95, against 16 from 0.75. The pool only ever
    raises the prior: other runbooks going wrong say little about this one, whose own
    record starts skeptical anyway. ``cap`` at or below ``base`` turns the pool off.
    """
    if cap <= base or not outcomes:
        return base
    right, wrong = _decayed(outcomes, now, half_life)
    pooled = (prior_strength * base + right) / (prior_strength + right + wrong)
    return min(max(pooled, base), cap)


def clean_outcomes_to_reach(
    threshold: float, confidence_after: Callable[[int], float], limit: int = 1000
) -> int | None:
    """How many more right outcomes would take a confidence to ``threshold`` (0: it is
    there already); None if ``limit`` of them would not. ``confidence_after(k)`` is the
    confidence with ``k`` more right outcomes (``track_record_confidence`` on the record
    with ``k`` fresh successes added), which rises with ``k``.
    """
    if confidence_after(0) >= threshold:
        return 0
    if confidence_after(limit) < threshold:
        return None
    low, high = 0, limit  # below the threshold at low, at or above it at high
    while high - low > 1:
        middle = (low + high) // 2
        if confidence_after(middle) >= threshold:
            high = middle
        else:
            low = middle
    return high


def _decayed(outcomes: Sequence[Outcome], now: float, half_life: float) -> tuple[float, float]:
    """Right and wrong outcomes, each weighted by half per ``half_life`` of age."""
    right = wrong = 0.0
    for outcome in outcomes:
        weight = 0.5 ** (max(now - outcome.at, 0.0) / half_life)
        if outcome.right:
            right += weight
        else:
            wrong += weight
    return right, wrong


@dataclass(frozen=True)
class Recalibration:
    thresholds: Thresholds
    changed: bool
    reason_code: str
    message: str
    automatic: int
    wrong: int


def recalibrate(
    current: Thresholds,
    recent: Sequence[Outcome],
    *,
    target_wrong_rate: float,
    floor: float,
    ceiling: float = 0.995,
    relax_after: int = 20,
    relax_step: float = 0.01,
    window: int = 50,
    since: float | None = None,
    significance: float = SIGNIFICANCE,
    min_wrong: int = 2,
    before_rise: Thresholds | None = None,
) -> Recalibration:
    """One recalibration step for one decision type from its newest ``window`` outcomes.

    Only outcomes of decisions made at or after ``since`` (the previous move) count.
    Tightening is immediate once the wrong-rate is above the target beyond chance
    (``significance``) and at least ``min_wrong`` of them were wrong: one wrong action is
    left to the track record, which lowers the type's confidence at once. (Without that
    floor, one wrong among the first five automatic outcomes after a move is "beyond
    chance" at a 1 % target, and raises ``auto`` above what the record can ever reach
    again.) Relaxing needs ``relax_after`` automatic outcomes with a wrong-rate
    at most half the target, and moves one ``relax_step``.

    ``before_rise`` is the pair in force before ``current``, given when ``current`` came
    from a rise (``TooManyWrong``). A rise can put ``auto`` above anything the type's
    decisions reach, and then no automatic outcome ever comes to relax it. So a type whose
    newest ``clean_run_to_release`` outcomes since the rise, of any route (approved and
    verified questions count), were all right gets ``before_rise`` back: that many clean
    outcomes in a row happen less often than ``significance`` by chance at a wrong-rate of
    ``target_wrong_rate``. Asked decisions are the less confident ones, so they are, if
    anything, harder evidence to pass.
    """
    fresh = [o for o in recent[:window] if since is None or o.at >= since]
    automatic = [o for o in fresh if o.route == "auto"]
    wrong = sum(not o.right for o in automatic)
    n = len(automatic)
    rate = wrong / n if n else 0.0
    auto = current.auto
    if (
        wrong >= max(min_wrong, 1)
        and rate > target_wrong_rate
        and binomial_tail(wrong, n, target_wrong_rate) < significance
    ):
        # Raise auto above the confidence of the wrong automatic decisions we saw, so
        # the ones that went wrong would now have been asked; up to ``ceiling``, and
        # never down: an ``auto`` configured above the ceiling (0.999) stays where it is
        # (capping it at the ceiling would automate more after automation went wrong).
        worst = max(o.confidence for o in automatic if not o.right)
        proposed = max(auto, min(ceiling, max(auto + 0.02, worst + 0.01)))
        new = Thresholds(auto=proposed, ask=min(current.ask, proposed))
        return Recalibration(
            new,
            new != current,
            "TooManyWrong",
            f"{wrong} of {n} automatic decisions were wrong ({rate:.1%} > target "
            f"{target_wrong_rate:.1%}): automatic threshold {_digits(auto)} -> "
            f"{_digits(proposed)}"
            + (f" (at or above the ceiling {ceiling:.3f} already)" if proposed == auto else ""),
            n,
            wrong,
        )
    run = clean_run_to_release(target_wrong_rate, significance)
    head = [o for o in recent[:run] if since is None or o.at >= since]
    if (
        before_rise is not None
        and before_rise.auto < auto
        and len(head) >= run
        and all(o.right for o in head)
    ):
        released = Thresholds(
            auto=max(before_rise.auto, floor),
            ask=min(before_rise.ask, max(before_rise.auto, floor)),
        )
        return Recalibration(
            released,
            released != current,
            "CleanSinceRise",
            f"the newest {run} decisions since automatic threshold rose to {auto:.3f} were all "
            f"right, of them {sum(o.route == 'auto' for o in head)} automatic: back to "
            f"{released.auto:.2f}",
            n,
            wrong,
        )
    # Relaxing stops at the type's ``ask`` in force too: a move keeps ask <= auto, so
    # going below it would lower the escalation line (a person's ``thresholds set --ask``).
    lowest = max(floor, current.ask)
    if (
        n >= relax_after
        and rate <= target_wrong_rate / 2
        and round(auto - relax_step, 4) >= round(lowest, 4)
    ):
        proposed = round(auto - relax_step, 4)
        new = Thresholds(auto=proposed, ask=current.ask)
        return Recalibration(
            new,
            True,
            "CleanRecord",
            f"{n} recent automatic decisions with {wrong} wrong: automatic threshold "
            f"{auto:.2f} -> {proposed:.2f} (floor {lowest:.2f})",
            n,
            wrong,
        )
    if auto < floor:
        new = Thresholds(auto=floor, ask=min(current.ask, floor))
        return Recalibration(new, True, "BelowFloor", f"raised to the floor {floor:.2f}", n, wrong)
    return Recalibration(
        current,
        False,
        "Steady",
        f"{n} recent automatic decisions, {wrong} wrong: no change",
        n,
        wrong,
    )


def _digits(threshold: float) -> str:
    """A threshold with the digits it has, up to four: 0.73, and 0.995 (not 0.99, which
    would say that a decision at 0.99 acts)."""
    return f"{threshold:.4f}".rstrip("0").rstrip(".") if threshold % 1 else f"{threshold:g}"


def clean_run_to_release(target_wrong_rate: float, significance: float) -> int:
    """The shortest run of right outcomes that a type wrong ``target_wrong_rate`` of the
    time gives less often than ``significance``: 299 at 1 % and 5 %."""
    if target_wrong_rate <= 0.0:
        raise ValueError("the target wrong-rate must be above 0")
    if target_wrong_rate >= 1.0 or significance >= 1.0:
        return 1
    return math.ceil(math.log(significance) / math.log1p(-target_wrong_rate))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how often chance alone gives k or more wrong."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    below = math.fsum(
        math.exp(
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * math.log(p)
            + (n - i) * math.log1p(-p)
        )
        for i in range(min(k, n + 1))
    )
    return max(0.0, 1.0 - below)


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    observed_rate: float


def reliability(outcomes: Sequence[Outcome], bins: int = 10) -> tuple[list[ReliabilityBin], float]:
    """Stated confidence vs observed rightness per bin, and the expected calibration error."""
    table: list[ReliabilityBin] = []
    total = len(outcomes)
    ece = 0.0
    for i in range(bins):
        low, high = i / bins, (i + 1) / bins
        members = [
            o
            for o in outcomes
            if low <= o.confidence < high or (i == bins - 1 and o.confidence == 1.0)
        ]
        if not members:
            continue
        mean_conf = math.fsum(o.confidence for o in members) / len(members)
        observed = sum(o.right for o in members) / len(members)
        table.append(ReliabilityBin(low, high, len(members), mean_conf, observed))
        ece += len(members) / total * abs(mean_conf - observed)
    return table, ece
