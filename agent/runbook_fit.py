"""What in the loaded runbooks a configuration can never let happen.

Shared by ``autonomic config check`` (printed as warnings) and the daemon's start-up (logged
as warnings), so a runbook that will never act is said where the daemon runs too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import Settings
    from remediation.schema import Runbook, Trigger

__all__ = ["confidence_reach", "runbook_fit"]


def runbook_fit(settings: Settings, sources: list[tuple[str, Runbook]]) -> list[str]:
    """What in the runbooks this configuration can never let happen, one line each with
    the runbook's file and line: a target namespace the daemon does not watch
    (``cluster.namespaces``, ``cluster.excludeNamespaces``), an ``anomaly`` trigger
    on a metric no ``anomalyQueries`` entry is named, a ``forecastBreach`` trigger
    under ``scaling.enabled: false`` (nothing signals a breach) or on a metric that is
    neither ``requests_per_second`` nor a ``scaling.loadQueries`` name, and one on
    ``requests_per_second`` while a ``scaling.loadQueries`` entry is named so too (its
    workloads' breaches cannot be told from the default's). Warnings, not errors: a
    runbook folder may be shared by daemons that watch different namespaces and
    queries."""
    import difflib

    from remediation.signals import DEFAULT_BREACH_METRIC

    cluster = settings.cluster
    queries = [query.name for query in settings.anomaly_queries]
    # what a forecast breach can be named (``breach_metric``)
    loads = [DEFAULT_BREACH_METRIC, *sorted(settings.scaling.load_queries)]
    texts: dict[str, str] = {}
    found: list[str] = []
    for file, runbook in sources:
        name = runbook.metadata.name
        target = runbook.spec.target
        unread: list[str] = []
        for index, namespace in enumerate(target.namespaces):
            if namespace in cluster.exclude_namespaces:
                why = "cluster.excludeNamespaces leaves it out"
            elif cluster.namespaces and namespace not in cluster.namespaces:
                why = f"cluster.namespaces watches only {', '.join(cluster.namespaces)}"
            else:
                continue
            unread.append(namespace)
            at = _where(texts, file, runbook, ("spec", "target", "namespaces", index))
            found.append(
                f"{at}: spec.target.namespaces[{index}]: runbook {name} will never act in "
                f"namespace {namespace}: {why}, so the daemon never reads it; add it to "
                "the config or remove it from the runbook"
            )
        if target.namespaces and len(set(unread)) == len(set(target.namespaces)):
            found.append(
                f"{_where(texts, file, runbook, ('spec', 'target', 'namespaces'))}: "
                f"spec.target.namespaces: runbook {name} will never act at all: none of "
                "its namespaces is watched by this config"
            )
        for index, trigger in enumerate(runbook.spec.triggers):
            if trigger.type == "forecastBreach" and not settings.scaling.enabled:
                at = _where(texts, file, runbook, ("spec", "triggers", index, "type"))
                found.append(
                    f"{at}: spec.triggers[{index}]: scaling.enabled is false, so no "
                    "forecast is made, no forecast breach is ever signalled and this "
                    f"trigger never starts runbook {name} (forecast breaches come from the "
                    "scaling loop only)"
                )
            elif (
                trigger.type == "forecastBreach"
                and trigger.metric == DEFAULT_BREACH_METRIC
                and DEFAULT_BREACH_METRIC in settings.scaling.load_queries
            ):
                at = _where(texts, file, runbook, ("spec", "triggers", index, "metric"))
                found.append(
                    f"{at}: spec.triggers[{index}].metric: scaling.loadQueries has an "
                    f"entry named {DEFAULT_BREACH_METRIC} too, so this trigger fires on "
                    "the breaches of the workloads that pick it as on those read with "
                    "scaling.loadQuery (a breach is named by its load query, and the two "
                    "names are the same); rename that entry (and the "
                    "autonomic.dev/load-query annotations naming it) to tell them apart"
                )
            elif trigger.type == "forecastBreach" and trigger.metric not in loads:
                at = _where(texts, file, runbook, ("spec", "triggers", index, "metric"))
                near = difflib.get_close_matches(trigger.metric, loads, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                found.append(
                    f"{at}: spec.triggers[{index}].metric: no forecast breach is named "
                    f"{trigger.metric!r}, so this trigger never fires ({hint}a breach is "
                    f"named {DEFAULT_BREACH_METRIC} on a workload read with "
                    "scaling.loadQuery, or by the scaling.loadQueries entry its "
                    "autonomic.dev/load-query annotation picks: "
                    + (
                        f"this config names {', '.join(loads[1:])})"
                        if len(loads) > 1
                        else "this config has none)"
                    )
                )
            if trigger.type != "anomaly" or trigger.metric in queries:
                continue
            at = _where(texts, file, runbook, ("spec", "triggers", index, "metric"))
            if queries:
                near = difflib.get_close_matches(trigger.metric, queries, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                names = f"{hint}the anomaly queries are {', '.join(queries)}"
            else:
                names = "this config has no anomalyQueries"
            found.append(
                f"{at}: spec.triggers[{index}].metric: no anomaly query is named "
                f"{trigger.metric!r}, so this trigger never fires ({names}; an anomaly "
                "signal's metric is the name of the anomalyQueries entry that found it)"
            )
    return found + confidence_reach(settings, sources)


def _where(texts: dict[str, str], file: str, runbook: Runbook, loc: tuple[str | int, ...]) -> str:
    from remediation.loading import locate

    if file not in texts:
        try:
            texts[file] = Path(file).read_text(encoding="utf-8")
        except OSError:
            texts[file] = ""
    line = locate(texts[file], runbook.metadata.name, loc)
    return f"{file}:{line}" if line is not None else file


def _signal_range(trigger: Trigger) -> tuple[float, float] | None:
    """The least and the most confidence a signal that passes ``trigger`` (its
    ``minConfidence`` and, for a breach, ``minExcessRatio``) can carry, as its producer
    states it; None when none can pass, or for a canary trigger (checked elsewhere). An
    alert's is the default 0.9 of an alert without the ``autonomic.dev/confidence``
    annotation (with one it is whatever the annotation says)."""
    from forecasting.anomaly.calibration import NAB
    from remediation.alerts import DEFAULT_ALERT_CONFIDENCE
    from remediation.signals import BREACH_CONFIDENCE_MAX, BREACH_RATIO, breach_confidence

    least = trigger.min_confidence
    if trigger.type == "kubernetes":
        return (1.0, 1.0)  # an observed condition: ``kubernetes_signal`` states 1.0
    if trigger.type == "alert":
        default = DEFAULT_ALERT_CONFIDENCE
        return (default, default) if default >= least else None
    if trigger.type == "anomaly":
        steps = [p for p in NAB.probabilities if p >= least]
        return (min(steps), max(steps)) if steps else None
    if trigger.type == "forecastBreach":
        low = max(least, breach_confidence(max(BREACH_RATIO, trigger.min_excess_ratio)))
        return (low, BREACH_CONFIDENCE_MAX) if low <= BREACH_CONFIDENCE_MAX else None
    return None


def confidence_reach(settings: Settings, sources: list[tuple[str, Runbook]]) -> list[str]:
    """Routes a runbook names that the confidence its signals carry can never take, one
    line each with the runbook's file and line (canary triggers are left to the canary
    checks; an anomaly ``minConfidence`` above every signal is a load note already):

    - a ``minConfidence`` above the most its producer states: a forecast breach carries
      0.8 to 0.95; an alert 0.9 unless annotated (``autonomic.dev/confidence``);
    - ``requireApprovalWhen.confidenceBelow`` above the most a trigger's signals carry,
      on a runbook allowed to act alone: every run that trigger starts asks, so the
      automatic route is never taken for it; or at or below the least every trigger's
      signals carry: it never forces an approval;
    - a runbook whose decisions, with no record of their own, carry less than
      ``routing.ask`` (signal x the skeptical prior 0.75): they escalate, never ask,
      until hindsight verdicts raise the record (an anomaly signal carries at most 0.647);
    - ``routing.auto`` at 1: a runbook decision's confidence, a Beta posterior whose prior
      is never certain, stays below 1 however long its record, so no runbook acts alone.
    """
    from agent.calibration import Outcome, clean_outcomes_to_reach, track_record_confidence

    routing = settings.routing
    texts: dict[str, str] = {}
    found: list[str] = []
    base_prior = 0.75  # ``Proposal.prior_success``: a runbook with no record
    for file, runbook in sources:
        name = runbook.metadata.name
        spec = runbook.spec
        ranges: list[tuple[int, Trigger, tuple[float, float] | None]] = []
        for index, trigger in enumerate(spec.triggers):
            if trigger.type == "canary":
                continue
            reach = _signal_range(trigger)
            ranges.append((index, trigger, reach))
            if reach is not None or trigger.type == "anomaly":
                continue
            at = _where(texts, file, runbook, ("spec", "triggers", index, "minConfidence"))
            if trigger.type == "alert":
                found.append(
                    f"{at}: spec.triggers[{index}].minConfidence: an alert carries 0.9 unless "
                    "its autonomic.dev/confidence annotation says otherwise, so only alerts "
                    f"annotated {trigger.min_confidence:g} or more start runbook {name}; "
                    "lower it to 0.9 or less, or annotate the alert's rule"
                )
            else:
                found.append(
                    f"{at}: spec.triggers[{index}].minConfidence: a forecast breach carries "
                    "0.8 at 20 % above the forecast's upper bound up to 0.95 from 50 % over "
                    f"(and at least what its minExcessRatio gives), so {trigger.min_confidence:g} "
                    f"is never met and this trigger never starts runbook {name}; use "
                    "minExcessRatio to ask for a bigger breach"
                )
        reachable = [(i, t, r) for i, t, r in ranges if r is not None]
        rules = spec.require_approval_when
        below = rules.confidence_below if rules is not None else None
        if below is not None and reachable:
            at = _where(texts, file, runbook, ("spec", "requireApprovalWhen", "confidenceBelow"))
            if spec.max_autonomy == "auto":
                for index, trigger, (_, high) in reachable:
                    if high >= below:
                        continue
                    found.append(
                        f"{at}: spec.requireApprovalWhen.confidenceBelow: the signals of "
                        f"spec.triggers[{index}] ({trigger.type}) carry at most {high:g}, below "
                        f"{below:g}, so every run it starts asks first and runbook {name} "
                        "never acts alone on it (maxAutonomy: auto is never reached)"
                        + (" unless the alert is annotated" if trigger.type == "alert" else "")
                        + f"; lower it to {high:g} or less, or write maxAutonomy: ask to say "
                        "so"
                    )
            fixed = len(reachable) == len(spec.triggers) and all(
                t.type != "alert" for _, t, _ in reachable
            )
            least = min(low for _, _, (low, _) in reachable)
            if fixed and below <= least:
                found.append(
                    f"{at}: spec.requireApprovalWhen.confidenceBelow: the signals of runbook "
                    f"{name}'s triggers carry at least {least:g}, so {below:g} never forces "
                    "an approval; remove it, or raise it into the range its signals carry"
                )
        if spec.max_autonomy == "escalate" or not reachable:
            continue
        top = max(high for _, _, (_, high) in reachable)
        start = top * base_prior
        if start < routing.ask:

            def after(k: int, signal: float = top) -> float:
                # k fresh right outcomes (at the same instant as "now": undecayed)
                record = [Outcome(0.0, signal, True, "escalate")] * k
                return track_record_confidence(
                    signal,
                    record,
                    0.0,
                    prior_strength=routing.prior_strength,
                    prior_success=base_prior,
                )

            needed = clean_outcomes_to_reach(routing.ask, after)
            pooled = top * max(routing.pool_cap, base_prior)
            at = _where(texts, file, runbook, ("spec", "triggers"))
            found.append(
                f"{at}: spec.triggers: runbook {name}'s signals carry at most {top:g}, so "
                f"with no record its decisions carry {start:.3g} ({top:g} x "
                f"the prior {base_prior:g}; at most {pooled:.3g} when the "
                "cluster's other runbooks lend a clean record, routing.poolCap), below "
                f"routing.ask {routing.ask:g}: they escalate, never ask, until "
                + (f"{needed} " if needed is not None else "")
                + "hindsight verdicts that what it proposed was the fix (`autonomic "
                "feedback ID --right`, Slack's button) raise its record"
            )
    acting = [
        runbook.metadata.name for _, runbook in sources if runbook.spec.max_autonomy == "auto"
    ]
    if acting and routing.auto >= 1.0:
        found.append(
            f"routing.auto: {routing.auto:g} is never reached by a runbook decision (its "
            "confidence, a track record on a prior that is never certain, stays below 1 "
            f"however long the record), so {', '.join(acting)} never act alone, though "
            "their maxAutonomy is auto; lower routing.auto (0.95 by default), or run in "
            "mode: propose to say that nothing acts without a person"
        )
    return found
