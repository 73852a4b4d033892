"""Route a decision by its confidence: act, ask a human, or escalate.

    confidence >= auto          act, then report           route "auto"
    ask <= confidence < auto    ask an allowed approver     route "ask"
    confidence < ask            escalate with context       route "escalate"

Caps come on top: the global mode (``observe`` records only; ``propose`` never acts
without a human), a runbook's ``maxAutonomy``, a runbook's forced-approval conditions,
and shadow/dry-run runbooks, which record what they would have done. Every route comes
with a reason code and a sentence, which go to the log, the ledger, Slack and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Route",
    "RouteDecision",
    "Thresholds",
    "confidence_percent",
    "route",
    "threshold_percent",
]

Route = Literal["auto", "ask", "escalate", "observe", "shadow"]
Autonomy = Literal["auto", "ask", "escalate"]
_RANK: dict[str, int] = {"escalate": 0, "ask": 1, "auto": 2}


@dataclass(frozen=True)
class Thresholds:
    auto: float
    ask: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.ask <= self.auto <= 1.0):
            raise ValueError(f"thresholds need 0 <= ask <= auto <= 1, got {self}")


def threshold_percent(value: float) -> str:
    """A threshold as a percentage with the digits it has: 0.95 is 95%, 0.995 is 99.5%."""
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def confidence_percent(confidence: float, *thresholds: float) -> str:
    """A confidence as a percentage, with one decimal, or more where one would put it on
    the wrong side of a threshold or level with it: 0.6996 against 0.7 is 69.96%,
    never 70.0% "below the threshold 70%"."""
    for decimals in range(1, 5):
        shown = round(confidence * 100, decimals)
        if all(
            (shown >= round(t * 100, 2)) == (confidence >= t)
            and (shown == round(t * 100, 2)) == (confidence == t)
            for t in thresholds
        ):
            break
    return f"{confidence * 100:.{decimals}f}%"


def both_confidences(signal: float, decision: float, kind: str, *thresholds: float) -> str:
    """The two confidences a decision carries, each named: the signal's (how sure the
    detector or alert was) and the decision's, the one it was routed by (the signal's
    weighed with the runbook's, or the decision type's, track record): "signal 91.0%,
    decision 84.0% after the runbook's record"."""
    record = "the runbook's record" if kind == "remediation" else "its type's record"
    return (
        f"signal {confidence_percent(signal)}, decision "
        f"{confidence_percent(decision, *thresholds)} after {record}"
    )


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    reason_code: str
    message: str


def route(
    confidence: float,
    thresholds: Thresholds,
    *,
    mode: Literal["observe", "propose", "act"] = "act",
    max_autonomy: Autonomy = "auto",
    forced_approval: str | None = None,
    shadow: bool = False,
    capped_by: str = "the runbook caps autonomy",
    shadowed_by: tuple[str, str] = ("ShadowRunbook", "shadow runbook"),
    approved_by: str | None = None,
    approved_for_propose: bool = False,
    promise_broken: str | None = None,
) -> RouteDecision:
    """Pick the route for one decision. Pure: same inputs, same answer.

    ``approved_by`` names who already approved this very action upstream (a person's yes
    to the canary verdict a promotion or rollback carries out): the question the
    confidence would ask has been answered, so it acts instead of asking the same thing
    again. ``approved_for_propose`` says that yes is also the one ``mode: propose`` asks
    for before every action: the question that got it said what a yes does and that
    nothing asks again (its decision's ``yes_acts``: ``CanaryLoop._if_approved``), so
    propose mode does not ask it again either. Without it (a question that said nothing
    of what a yes does, or that something asks again) propose mode asks once more.
    ``promise_broken`` says why a question that did promise it no longer holds (the
    runbooks changed between the question and the answer): the reason says it. The
    other caps (``maxAutonomy``, a forced approval) and an escalation still hold."""
    if not 0.0 <= confidence <= 1.0:
        return RouteDecision(
            "escalate", "InvalidConfidence", f"confidence {confidence!r} is not in [0, 1]"
        )
    pct = confidence_percent(confidence, thresholds.auto, thresholds.ask)
    if mode == "observe":
        return RouteDecision(
            "observe", "ObserveMode", f"observe mode: recorded at {pct}, no action"
        )
    if shadow:
        # ``shadowed_by``: the reason code and who records without acting (a shadow
        # runbook; a forecast-only workload, whose floor is published, not written).
        code, who = shadowed_by
        return RouteDecision("shadow", code, f"{who}: recorded what it would do at {pct}")
    auto, ask = threshold_percent(thresholds.auto), threshold_percent(thresholds.ask)
    if confidence >= thresholds.auto:
        by_confidence: Autonomy = "auto"
        why = f"confidence {pct} is at or above the automatic threshold {auto}"
    elif confidence >= thresholds.ask:
        by_confidence = "ask"
        why = (
            f"confidence {pct} is between the ask threshold {ask} "
            f"and the automatic threshold {auto}"
        )
    else:
        by_confidence = "escalate"
        why = f"confidence {pct} is below the ask threshold {ask}"
    chosen: Autonomy = by_confidence
    code = {"auto": "ConfidentEnough", "ask": "NeedsApproval", "escalate": "LowConfidence"}[chosen]
    if chosen == "ask" and approved_by:
        chosen, code = "auto", "ApprovedUpstream"
        why += f"; not asked again: {approved_by} already approved it"
    if _RANK[max_autonomy] < _RANK[chosen]:
        chosen = max_autonomy
        code = "AutonomyCapped"
        why += f"; {capped_by} at {max_autonomy!r}"
    elif max_autonomy == "ask" and chosen == "ask":
        # The automatic threshold just quoted can never be reached to any effect: say so.
        why += f"; {capped_by} at 'ask', so it asks at any confidence"
    if chosen == "auto" and mode == "propose":
        if not (approved_by and approved_for_propose):
            chosen, code = "ask", "ProposeMode"
            why += "; propose mode asks before every action"
        elif code != "ApprovedUpstream":
            # Propose mode's question is the one the person already answered.
            code = "ApprovedUpstream"
            why += f"; propose mode does not ask again: {approved_by} already approved it"
    if chosen == "auto" and forced_approval:
        chosen, code = "ask", "ApprovalRequired"
        why += f"; approval required: {forced_approval}"
    if mode == "propose" and chosen == "ask" and approved_by and promise_broken:
        # Asked again though the question answered promised no second one: say why.
        why += f"; {approved_by} said yes to another promise: {promise_broken}"
    return RouteDecision(chosen, code, why)
