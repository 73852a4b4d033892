"""The canary loop: native canaries judged every interval, and the judge over HTTP.

Native canaries: a Deployment labelled ``autonomic.dev/canary-of: <stable>`` (and opted
in) is compared with the stable Deployment of that name in the same namespace over the
same intervals. Each interval, every column the judge's spec needs is read with its
PromQL template for both; the sequential judge is asked; once its verdict is final it
is recorded as a decision and sent to the runbooks as a canary signal (a confident
rollback acts through ``canary-rollback``; an inconclusive or low-confidence verdict
goes to a person). Every final verdict is also posted as a Kubernetes Event on the canary
(`CanaryPromote`, `CanaryRollback` as a warning, `CanaryInconclusive`), with the judge's
sentence and the decision id, so `kubectl describe` shows it next to the rollout; the
delivery tool that owns the rollout reads the verdict from the endpoints below.

The same judgement is served over HTTP to the delivery tool, for the canaries this loop
judges (a Deployment or StatefulSet labelled as above; the baseline is the one the label
names). A canary the loop does not judge, such as an Argo Rollout's ReplicaSet, gets
"continue" with the reason "no interval judged yet":

- ``GET /canary/verdict?namespace=N&canary=C`` for an Argo Rollouts
  ``web`` metric provider (``successCondition: result.verdict == "promote"``,
  ``failureCondition: result.verdict == "rollback"``);
- ``POST /canary/flagger`` for Flagger webhooks: 200 while the canary is healthy
  (and, for a ``confirm-promotion`` webhook, only once it may be promoted), 409 when
  it should be rolled back, 425 while a promotion must wait.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.clock import Clock
from agent.decisions import DecisionService, Proposal
from agent.errors import PermanentError, TransientError
from agent.metrics_port import MetricsReader
from agent.routing import Thresholds
from agent.server import Request, Response, json_response
from agent.settings import CanarySettings
from forecasting.canary import (
    CanaryDataError,
    CanaryJudge,
    Interval,
    JudgeSettings,
    Verdict,
    parse_spec,
)
from remediation.ports import ClusterReader, ObjectRef
from remediation.signals import Signal, canary_signal

__all__ = ["CANARY_OF", "CanaryLoop"]

log = logging.getLogger("autonomic.canary")

# Posts a Kubernetes Event: (target, reason, message, warning).
EventPoster = Callable[[ObjectRef, str, str, bool], None]

CANARY_OF = "autonomic.dev/canary-of"


@dataclass
class Analysis:
    canary: ObjectRef
    baseline: ObjectRef
    revision: int
    images: tuple[str, ...]
    judge: CanaryJudge
    started_at: float
    latest: Verdict | None = None
    recorded: bool = False
    decision_id: str | None = None
    history: list[tuple[float, str, float]] = field(default_factory=list)


class CanaryLoop:
    def __init__(
        self,
        settings: CanarySettings,
        *,
        reader: MetricsReader,
        cluster: ClusterReader,
        decisions: DecisionService,
        clock: Clock,
        submit: Callable[[Sequence[Signal]], None],
        opt_in_label: str = "autonomic.dev/enabled",
        events: EventPoster | None = None,
    ) -> None:
        self.settings = settings
        self.events = events
        self.specs = parse_spec(settings.spec)
        self.reader = reader
        self.cluster = cluster
        self.decisions = decisions
        self.clock = clock
        self.submit = submit
        self.opt_in_label = opt_in_label
        self.analyses: dict[tuple[ObjectRef, int, tuple[str, ...]], Analysis] = {}
        self.errors: dict[str, str] = {}

    # ------------------------------------------------------------------ loop
    def cycle(self) -> None:
        now = self.clock.now()
        # A verdict approved (by the route or a person) is the answer: the delivery tool
        # that owns the rollout acts on it, or the canary-rollback runbook already did.
        for record in self.decisions.ledger.decisions(kind="canary", status=["approved"]):
            self.decisions.ledger.transition(record.id, ["approved"], "done", now)
        for workload in self.cluster.list_workloads():
            stable = workload.labels.get(CANARY_OF)
            if not stable or workload.labels.get(self.opt_in_label) != "true":
                continue
            images = tuple(c.image for c in workload.containers)
            baseline = self.cluster.get_workload(
                ObjectRef(workload.ref.kind, stable, workload.ref.namespace)
            )
            if baseline is not None and tuple(c.image for c in baseline.containers) == images:
                continue  # the canary runs what the stable runs (rolled back): nothing to judge
            key = (workload.ref, workload.revision, images)
            analysis = self.analyses.get(key)
            if analysis is None:
                analysis = self._start(
                    workload.ref,
                    ObjectRef(workload.ref.kind, stable, workload.ref.namespace),
                    workload.revision,
                    images,
                    now,
                )
                self.analyses[key] = analysis
            if analysis.recorded:
                continue
            try:
                self._step(analysis, now)
            except (TransientError, PermanentError, CanaryDataError) as exc:
                self.errors[str(workload.ref)] = str(exc)
                log.warning("canary %s: no interval this time: %s", workload.ref, exc)

    def _start(
        self,
        canary: ObjectRef,
        baseline: ObjectRef,
        revision: int,
        images: tuple[str, ...],
        now: float,
    ) -> Analysis:
        judge = CanaryJudge(
            self.specs,
            JudgeSettings(
                step_seconds=self.settings.period,
                max_duration_seconds=self.settings.max_duration,
            ),
        )
        return Analysis(canary, baseline, revision, images, judge, now)

    def _read(self, ref: ObjectRef, now: float) -> dict[str, float]:
        row: dict[str, float] = {}
        for column, template in self.settings.queries.items():
            query = template.replace("$namespace", ref.namespace or "").replace(
                "$workload", ref.name
            )
            found = self.reader.instant(query, now)
            row[column] = found[0][2] if len(found) == 1 else math.nan
        return row

    def _step(self, analysis: Analysis, now: float) -> None:
        interval = Interval(
            timestamp=now,
            baseline=self._read(analysis.baseline, now),
            canary=self._read(analysis.canary, now),
        )
        verdict = analysis.judge.update(interval)
        analysis.latest = verdict
        analysis.history.append((now, verdict.decision.value, verdict.confidence))
        self.errors.pop(str(analysis.canary), None)
        if verdict.final:
            self._record(analysis, verdict)

    def _record(self, analysis: Analysis, verdict: Verdict) -> None:
        analysis.recorded = True
        decision = verdict.decision.value
        findings = {m.name: m.sentence for m in verdict.metrics} if verdict.metrics else {}
        routed = self.decisions.decide(
            Proposal(
                kind="canary",
                decision_type=f"canary/{decision}",
                subject=str(analysis.canary),
                proposal={
                    "verdict": decision,
                    "baseline": str(analysis.baseline),
                    "revision": analysis.revision,
                },
                signal_confidence=verdict.confidence,
                reason_code=f"Canary{decision.title()}",
                reason=verdict.sentence,
                evidence={
                    "findings": findings,
                    "decided_after_seconds": verdict.decided_after_seconds,
                },
                model_version="canary-judge/1",
                prior_success=1.0,
                default_thresholds=Thresholds(auto=0.9, ask=0.5),
                max_autonomy="ask" if decision == "inconclusive" else "auto",
                incident_key=f"canary/{analysis.canary}/rev{analysis.revision}/"
                + ",".join(analysis.images),
            )
        )
        analysis.decision_id = routed.decision_id
        if self.events is not None:
            message = f"{verdict.sentence} Decision {routed.decision_id}, routed {routed.route}."
            try:
                self.events(
                    analysis.canary, f"Canary{decision.title()}", message, decision == "rollback"
                )
            except (TransientError, PermanentError) as exc:  # an Event is a report, not an act
                log.warning(
                    "canary %s: the verdict's Event was not posted: %s", analysis.canary, exc
                )
        if decision in ("rollback", "promote") and routed.route == "auto":
            self.submit(
                [
                    canary_signal(
                        verdict="rollback" if decision == "rollback" else "promote",
                        target=analysis.canary,
                        confidence=verdict.confidence,
                        at=self.clock.now(),
                        revision=analysis.revision,
                        evidence={"sentence": verdict.sentence},
                        run=",".join(analysis.images),
                    )
                ]
            )

    # ------------------------------------------------------------------ HTTP
    def _find(self, namespace: str, canary: str) -> Analysis | None:
        found = [
            a
            for (ref, _, _), a in self.analyses.items()
            if ref.namespace == namespace and ref.name == canary
        ]
        return max(found, key=lambda a: a.revision) if found else None

    def argo(self, request: Request) -> Response:
        """Argo Rollouts ``web`` metric: the latest verdict as JSON."""
        namespace = (request.query.get("namespace") or [""])[0]
        canary = (request.query.get("canary") or [""])[0]
        if not namespace or not canary:
            return json_response(400, {"error": "give namespace and canary query parameters"})
        analysis = self._find(namespace, canary)
        if analysis is None or analysis.latest is None:
            return json_response(
                200, {"verdict": "continue", "confidence": 0.0, "reason": "no interval judged yet"}
            )
        return json_response(200, analysis.latest.to_dict())

    def flagger(self, request: Request) -> Response:
        """Flagger webhook: pass (200), roll back (409), or hold a promotion (425)."""
        try:
            body = json.loads(request.body or b"{}")
            name, namespace = str(body["name"]), str(body["namespace"])
        except (ValueError, KeyError, TypeError):
            return json_response(400, {"error": "expected Flagger's JSON with name and namespace"})
        phase = str(body.get("phase", ""))
        kind = (
            str((body.get("metadata") or {}).get("type", ""))
            if isinstance(body.get("metadata"), dict)
            else ""
        )
        analysis = self._find(namespace, name)
        verdict = analysis.latest if analysis is not None else None
        decision = verdict.decision.value if verdict is not None else "continue"
        payload = verdict.to_dict() if verdict is not None else {"verdict": "continue"}
        if decision == "rollback":
            return json_response(409, payload)
        promoting = phase == "Promoting" or kind == "confirm-promotion"
        if promoting and decision != "promote":
            return json_response(425, payload)
        return json_response(200, payload)
