"""``raiseHpaMaxReplicas``: loading (the step, the ceiling, errors at file:line:field),
planning (the raise and its rounding, the runbook's ceiling, a stale alert, HPAs it must
leave alone), the ``hpaNotMaxedOut`` check, and the shipped ``hpa-maxed-out-raise``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from remediation.loading import RunbookLoadError, load_paths, load_text
from remediation.planning import NoAction, Plan, plan
from remediation.ports import HpaState, ObjectRef, SetHpaMaxReplicas
from remediation.signals import Signal
from remediation.snapshot import ClusterSnapshot
from remediation.verification import RenderedCheck, evaluate_kubernetes_check

from .builders import NOW, OPT_IN, deployment, hpa, runbook, signal

REPO = Path(__file__).resolve().parents[3]
SHIPPED = {r.name: r for r in load_paths([REPO / "runbooks"])}
RAISE_LABELS = {**OPT_IN, "autonomic.dev/raise-hpa-max": "true"}
VERIFY = "verification: {checks: [{type: kubernetes, condition: hpaNotMaxedOut}]}"


def ceiling_runbook(by: str = '"50%"', at_most: int = 30, min_step: int | None = None) -> str:
    step = f", minStep: {min_step}" if min_step is not None else ""
    return f"""
        triggers: [{{type: alert, alertname: KubeHpaMaxedOut}}]
        target: {{kind: Deployment}}
        actions: [{{type: raiseHpaMaxReplicas, by: {by}, atMost: {at_most}{step}}}]
        {VERIFY}
        """


def maxed(
    *, max_replicas: int = 10, current: int | None = None, desired: int | None = None
) -> tuple[ClusterSnapshot, HpaState]:
    web = deployment(replicas=current if current is not None else max_replicas)
    autoscaler = hpa(
        web,
        min_replicas=2,
        max_replicas=max_replicas,
        current=current if current is not None else max_replicas,
    )
    if desired is not None:
        autoscaler = replace(autoscaler, desired_replicas=desired)
    return ClusterSnapshot(workloads=(web,), hpas=(autoscaler,)), autoscaler


def alert(autoscaler: HpaState) -> Signal:
    labels = {
        "alertname": "KubeHpaMaxedOut",
        "namespace": "shop",
        "horizontalpodautoscaler": autoscaler.ref.name,
    }
    return signal("alert", "KubeHpaMaxedOut", autoscaler.ref, labels=labels)


def planned_for(spec: str, snapshot: ClusterSnapshot, autoscaler: HpaState) -> Plan | NoAction:
    return plan(runbook(spec), alert(autoscaler), snapshot, NOW)


@pytest.mark.parametrize(
    ("by", "min_step", "at_most", "ceiling", "raised"),
    [
        ('"50%"', None, 30, 10, 15),
        ('"30%"', None, 30, 10, 13),  # exact: 10 x 1.3 is 13, not 14
        ('"50%"', None, 30, 3, 5),  # 4.5 rounded up to a whole replica
        ('"10%"', None, 30, 2, 3),  # 2.2 rounds up; a share always adds one at least
        ('"10%"', 3, 30, 2, 5),  # minStep: at least 3 more
        ('"+5"', None, 30, 10, 15),
        ('"+5"', 2, 30, 10, 15),  # the step is above minStep
        ('"50%"', None, 12, 10, 12),  # never above atMost
        ('"+1"', None, 11, 10, 11),
    ],
)
def test_the_ceiling_is_raised_by_the_step_and_never_above_at_most(
    by: str, min_step: int | None, at_most: int, ceiling: int, raised: int
) -> None:
    snapshot, autoscaler = maxed(max_replicas=ceiling)
    result = planned_for(ceiling_runbook(by, at_most, min_step), snapshot, autoscaler)
    assert isinstance(result, Plan), result
    # compare-and-set against the ceiling the plan saw, on the HPA (not the Deployment)
    assert result.operations == (SetHpaMaxReplicas(autoscaler.ref, raised, expected=ceiling),)
    assert result.target == ObjectRef("Deployment", "web", "shop")
    assert result.diff.startswith(
        f"HorizontalPodAutoscaler shop/web: maxReplicas {ceiling} -> {raised} (scales "
        f"Deployment shop/web, at {ceiling} replicas; by {by.strip(chr(34))}"
    )
    # one object changed; the pods the HPA may add are the replicas affected
    assert (result.blast.targets, result.blast.replicas_affected) == (1, raised - ceiling)


@pytest.mark.parametrize("ceiling", [30, 40])
def test_an_hpa_at_or_above_at_most_is_left_to_a_person(ceiling: int) -> None:
    snapshot, autoscaler = maxed(max_replicas=ceiling)
    result = planned_for(ceiling_runbook(at_most=30), snapshot, autoscaler)
    assert isinstance(result, NoAction) and result.reason_code == "AtMaximum"
    assert result.message == (
        f"HorizontalPodAutoscaler shop/web maxReplicas is {ceiling}, at or above the "
        "runbook's atMost 30: not raised; a person decides whether Deployment shop/web "
        "may grow further"
    )


def test_an_hpa_no_longer_at_its_ceiling_is_a_stale_alert() -> None:
    snapshot, autoscaler = maxed(max_replicas=10, current=6, desired=7)
    result = planned_for(ceiling_runbook(), snapshot, autoscaler)
    assert isinstance(result, NoAction) and result.reason_code == "NotMaxedOut"
    assert result.message == (
        "HorizontalPodAutoscaler shop/web runs 6 replicas and wants 7, below its "
        "maxReplicas 10: the ceiling no longer holds it back (the alert is stale); not raised"
    )


def test_an_hpa_that_wants_its_ceiling_while_scaling_up_is_at_it() -> None:
    # on its way up: 8 running, wanting 10 of 10, the ceiling holds it back
    snapshot, autoscaler = maxed(max_replicas=10, current=8, desired=10)
    result = planned_for(ceiling_runbook(), snapshot, autoscaler)
    assert isinstance(result, Plan), result
    assert result.operations == (SetHpaMaxReplicas(autoscaler.ref, 15, expected=10),)


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"controller": "ScaledObject/web"}, "ManagedHpa", "raise the ceiling on ScaledObject/web"),
        ({"shared_with": ("web-2",)}, "AmbiguousHpa", "2 HPAs target Deployment shop/web"),
        ({"min_replicas": 12}, "InvalidHpa", "maxReplicas 10 below minReplicas 12"),
    ],
)
def test_an_hpa_whose_ceiling_would_mean_nothing_is_named_not_raised(
    change: dict[str, Any], code: str, words: str
) -> None:
    snapshot, autoscaler = maxed(max_replicas=10)
    odd = replace(autoscaler, **change)
    result = planned_for(ceiling_runbook(), replace(snapshot, hpas=(odd,)), odd)
    assert isinstance(result, NoAction) and result.reason_code == code, result
    assert words in result.message


def test_a_deployment_without_an_hpa_has_no_ceiling_to_raise() -> None:
    web = deployment(replicas=4)
    result = plan(
        runbook(ceiling_runbook()),
        signal("alert", "KubeHpaMaxedOut", web.ref, labels={"alertname": "KubeHpaMaxedOut"}),
        ClusterSnapshot(workloads=(web,)),
        NOW,
    )
    assert isinstance(result, NoAction) and result.reason_code == "NoHpa"


# ------------------------------------------------------------------------------ loading

DOC = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: ceiling
  description: raise ceilings
spec:
  triggers:
    - type: alert
      alertname: KubeHpaMaxedOut
  target:
    kind: Deployment
  actions:
    - type: raiseHpaMaxReplicas
      by: "50%"
      atMost: 30
  verification:
    checks:
      - type: kubernetes
        condition: hpaNotMaxedOut
"""


def issues(text: str) -> list[str]:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(text, "ceiling.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_the_document_loads() -> None:
    (loaded,) = load_text(DOC, "ceiling.yaml")
    assert loaded.spec.actions[0].type == "raiseHpaMaxReplicas"


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            'by: "50%"',
            "by: 5",
            "ceiling.yaml:14: spec.actions[0].by: expected a string: write a share such as "
            "'50%' or a count such as '+5', not 5 (for 5 more, write '+5')",
        ),
        (
            'by: "50%"',
            'by: "5"',
            "ceiling.yaml:14: spec.actions[0].by: '5' is not a step; write a share such as "
            "'50%' or a count such as '+5' ('+5' for 5 more, '5%' for 5% more)",
        ),
        (  # digits of other scripts: no hint to write a step the pattern refuses
            'by: "50%"',
            'by: "٣"',
            "ceiling.yaml:14: spec.actions[0].by: '٣' is not a step; write a share such as "
            "'50%' or a count such as '+5'",
        ),
        (
            'by: "50%"',
            'by: "²"',
            "ceiling.yaml:14: spec.actions[0].by: '²' is not a step; write a share such as "
            "'50%' or a count such as '+5'",
        ),
        (
            'by: "50%"',
            'by: "x1.5"',
            "ceiling.yaml:14: spec.actions[0].by: 'x1.5' is not a step; write a share such "
            "as '50%' or a count such as '+5'",
        ),
        (
            'by: "50%"',
            'by: "0%"',
            "ceiling.yaml:14: spec.actions[0].by: '0%': the share must be above 0% and at "
            "most 1000%",
        ),
        (
            'by: "50%"',
            'by: "+0"',
            "ceiling.yaml:14: spec.actions[0].by: '+0': the count must be from +1 to +10000",
        ),
        (
            "atMost: 30",
            "atMost: 0",
            "ceiling.yaml:15: spec.actions[0].atMost: must be at least 1, got 0",
        ),
        (
            "atMost: 30",
            "atMost: 30\n      minStep: 0",
            "ceiling.yaml:16: spec.actions[0].minStep: must be at least 1, got 0",
        ),
    ],
)
def test_bad_parameters_are_named_at_their_line(before: str, after: str, message: str) -> None:
    assert issues(DOC.replace(before, after)) == [message]


def test_at_most_is_required() -> None:
    (problem,) = issues(DOC.replace("      atMost: 30\n", ""))
    assert problem.startswith("ceiling.yaml:13: spec.actions[0].atMost: ")
    assert "required" in problem.lower() or "missing" in problem.lower()


def test_it_acts_only_on_a_workload_and_counts_the_hpa_as_an_object() -> None:
    on_node = DOC.replace("kind: Deployment", "kind: Node").replace(
        "condition: hpaNotMaxedOut", "condition: nodeReady"
    )
    assert issues(on_node) == [
        "ceiling.yaml:13: spec.actions[0].type: action 'raiseHpaMaxReplicas' cannot act on a "
        "Node; it needs spec.target.kind Deployment or StatefulSet",
    ]
    # with a restart, every run changes the Deployment and its HPA: two objects
    two = DOC.replace(
        "  actions:\n",
        "  guards: {blastRadius: {maxTargets: 1}}\n  actions:\n    - type: rolloutRestart\n",
    )
    (problem,) = issues(two)
    assert problem == (
        "ceiling.yaml:12: spec.guards.blastRadius.maxTargets: every run changes at least 2 "
        "objects (the Deployment, its HorizontalPodAutoscaler): a 'maxTargets' of 1 could "
        "never be met and the runbook could never act; raise it to 2"
    )


# ------------------------------------------------------------------------------- check


@pytest.mark.parametrize(
    ("current", "desired", "outcome"),
    [(15, 15, "fail"), (14, 15, "fail"), (15, 12, "fail"), (12, 12, "pass"), (12, 14, "pass")],
)
def test_hpa_not_maxed_out_reads_the_hpa_of_the_workload(
    current: int, desired: int, outcome: str
) -> None:
    web = deployment(replicas=current)
    autoscaler = replace(
        hpa(web, min_replicas=2, max_replicas=15, current=current), desired_replicas=desired
    )
    check = RenderedCheck("kubernetes", web.ref, condition_name="hpaNotMaxedOut")
    result = evaluate_kubernetes_check(check, ClusterSnapshot(workloads=(web,), hpas=(autoscaler,)))
    assert result.outcome == outcome
    assert result.message == (
        f"HorizontalPodAutoscaler web at {current} replicas (wants {desired}) of maxReplicas 15"
    )
    gone = evaluate_kubernetes_check(check, ClusterSnapshot(workloads=(web,)))
    assert gone.outcome == "inconclusive" and "no HorizontalPodAutoscaler scales" in gone.message


# ----------------------------------------------------------------------------- shipped


def test_the_shipped_runbook_asks_and_raises_by_half_up_to_fifty() -> None:
    raise_ = SHIPPED["hpa-maxed-out-raise"]
    assert (raise_.spec.mode, raise_.spec.max_autonomy) == ("enforce", "ask")
    assert raise_.spec.on_failure.undo is False
    web = deployment(replicas=10, labels=RAISE_LABELS)
    autoscaler = hpa(web, min_replicas=2, max_replicas=10, current=10)
    snapshot = ClusterSnapshot(workloads=(web,), hpas=(autoscaler,))
    result = plan(raise_, alert(autoscaler), snapshot, NOW)
    assert isinstance(result, Plan), result
    assert result.operations == (SetHpaMaxReplicas(autoscaler.ref, 15, expected=10),)
    assert [p.query for p in result.preconditions] == [
        "sum(kube_pod_status_unschedulable) or 0 * count(kube_pod_info)"
    ]
    assert result.verification is not None
    assert [c.condition_name for c in result.verification.checks] == [
        "hpaNotMaxedOut",
        "deploymentAvailable",
    ]


def test_one_alert_brings_one_message_from_the_two_shipped_hpa_runbooks() -> None:
    """The notify runbook excludes the Deployments the raise runbook asks about, and the
    raise runbook needs its second label: each Deployment gets one of the two."""
    for labels, taken in (
        (OPT_IN, "hpa-maxed-out-notify"),
        (RAISE_LABELS, "hpa-maxed-out-raise"),
    ):
        web = deployment(replicas=10, labels=labels)
        autoscaler = hpa(web, min_replicas=2, max_replicas=10, current=10)
        snapshot = ClusterSnapshot(workloads=(web,), hpas=(autoscaler,))
        planned = {
            name: plan(SHIPPED[name], alert(autoscaler), snapshot, NOW)
            for name in ("hpa-maxed-out-notify", "hpa-maxed-out-raise")
        }
        assert [name for name, result in planned.items() if isinstance(result, Plan)] == [taken]
