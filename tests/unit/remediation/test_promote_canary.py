"""promoteCanary: a native canary's promotion, planned, and refused at load when it could
promote something the judge did not pass."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from remediation.loading import RunbookLoadError, load_paths, load_text
from remediation.planning import NoAction, Plan, plan
from remediation.ports import (
    ObjectRef,
    Scale,
    SetImages,
    UnreadObject,
    operation_from_dict,
    operation_to_dict,
)
from remediation.schema import CANARY_OF
from remediation.snapshot import ClusterSnapshot

from .builders import NOW, OPT_IN, deployment, signal

REPO = Path(__file__).resolve().parents[3]
SHIPPED = {r.name: r for r in load_paths([REPO / "runbooks"])}
PROMOTE = SHIPPED["canary-promote"]
OPTED = OPT_IN | {"autonomic.dev/promote-canary": "true"}


def pair(
    *, canary_labels: dict[str, str] | None = None, canary_revision: int = 3
) -> tuple[ClusterSnapshot, ObjectRef]:
    """A stable ``web`` at revision 2 (image web:v2) and its canary ``web-canary`` running
    web:v3 (the builder names the image after the revision)."""
    stable = deployment("web", replicas=4)
    canary = deployment("web-canary", replicas=1, revision=canary_revision)
    canary = replace(
        canary,
        labels=(OPTED | {CANARY_OF: "web"}) if canary_labels is None else canary_labels,
        containers=(replace(canary.containers[0], image=f"web:v{canary_revision}"),),
    )
    return ClusterSnapshot(workloads=(stable, canary)), canary.ref


def verdict(target: ObjectRef, confidence: float = 0.97, revision: int = 3) -> object:
    return signal(
        "canary", "promote", target, confidence=confidence, evidence={"revision": revision}
    )


def test_the_stable_takes_the_canary_image_and_the_canary_is_scaled_to_zero() -> None:
    snapshot, canary = pair()
    result = plan(PROMOTE, verdict(canary), snapshot, NOW)  # type: ignore[arg-type]
    assert isinstance(result, Plan), result
    stable = ObjectRef("Deployment", "web", "shop")
    assert result.operations == (
        SetImages(stable, {"app": "web:v3"}, expected={"app": "web:v2"}, canary="web-canary"),
        Scale(canary, 0, expected=1),
    )
    assert result.diff == (
        "Deployment shop/web: images app web:v2 -> web:v3 (the release of its canary "
        "web-canary, judged to promote; rolls out 4 replicas)\n"
        "Deployment shop/web-canary: replicas 1 -> 0 (the canary is retired, not deleted: "
        "web now runs its release)"
    )
    assert not result.approval_required  # 0.97 >= 0.95
    assert result.blast.targets == 2 and result.blast.replicas_affected == 5
    # The checks read the stable that took the release, and {{stable}} names it.
    assert result.verification is not None
    kube, promql = result.verification.checks
    assert kube.target == stable and kube.condition_name == "rolloutComplete"
    assert 'deployment="web"' in (promql.query or "") and "web-canary" not in (promql.query or "")
    assert "Deployment shop/web now runs its release" in result.notifications[0].message
    # Ledger round trip of the new operation.
    op = result.operations[0]
    assert operation_from_dict(operation_to_dict(op)) == op


def test_below_095_a_person_approves_first() -> None:
    snapshot, canary = pair()
    result = plan(PROMOTE, verdict(canary, confidence=0.85), snapshot, NOW)  # type: ignore[arg-type]
    assert isinstance(result, Plan) and result.approval_required
    assert result.approval_reasons == ("signal confidence 0.85 is below 0.95",)


@pytest.mark.parametrize(
    ("labels", "code"),
    [
        # A canary whose delivery tool promotes it carries no promote-canary label.
        (OPT_IN | {CANARY_OF: "web"}, "MissingLabel"),
        (OPTED, "NotACanary"),
        (OPTED | {CANARY_OF: "web-canary"}, "NotACanary"),
        (OPTED | {CANARY_OF: "api"}, "StableNotFound"),
    ],
)
def test_no_promotion_without_an_opted_in_canary_and_its_stable(
    labels: dict[str, str], code: str
) -> None:
    snapshot, canary = pair(canary_labels=labels)
    result = plan(PROMOTE, verdict(canary), snapshot, NOW)  # type: ignore[arg-type]
    assert isinstance(result, NoAction), result
    if code == "MissingLabel":
        assert "autonomic.dev/promote-canary" in result.message
    else:
        assert result.reason_code == code, result


def test_a_stable_that_could_not_be_read_is_not_said_not_found() -> None:
    """The stable Deployment left out of the snapshot as unreadable (it, or an HPA that
    may scale it) is there: ``ObjectUnread`` with the reader's reason, not
    ``StableNotFound``."""
    snapshot, canary = pair()
    stable = ObjectRef("Deployment", "web", "shop")
    why = "Deployment shop/web: spec.replicas is -1, not a whole number that is not negative"
    unread = replace(
        snapshot,
        workloads=tuple(w for w in snapshot.workloads if w.ref != stable),
        unread=(UnreadObject(stable, why),),
    )
    result = plan(PROMOTE, verdict(canary), unread, NOW)  # type: ignore[arg-type]
    assert isinstance(result, NoAction), result
    assert result.reason_code == "ObjectUnread"
    assert result.message == (
        f"Deployment/shop/web could not be read: {why}. It is there, but what it is now is "
        "not known: Deployment shop/web is the stable Deployment Deployment "
        f"shop/web-canary's {CANARY_OF} label names; nothing promoted"
    )


def test_a_canary_rolled_out_again_after_the_verdict_is_not_promoted() -> None:
    snapshot, canary = pair(canary_revision=4)
    result = plan(PROMOTE, verdict(canary, revision=3), snapshot, NOW)  # type: ignore[arg-type]
    assert isinstance(result, NoAction) and result.reason_code == "CanaryMovedOn"
    assert "revision 4 (web:v4), not revision 3 the verdict judged" in result.message
    assert "a release nobody judged is never promoted" in result.message


def test_a_stable_already_running_the_release_is_left_alone() -> None:
    snapshot, canary = pair(canary_revision=2)
    result = plan(PROMOTE, verdict(canary, revision=2), snapshot, NOW)  # type: ignore[arg-type]
    assert isinstance(result, NoAction) and result.reason_code == "AlreadyPromoted"


def test_different_containers_are_not_promoted() -> None:
    snapshot, canary = pair()
    found = snapshot.workload(canary)
    assert found is not None
    sidecar = replace(found.containers[0], name="envoy", image="envoy:1.30")
    widened = replace(found, containers=(*found.containers, sidecar))
    stable = snapshot.workload(ObjectRef("Deployment", "web", "shop"))
    result = plan(PROMOTE, verdict(canary), ClusterSnapshot(workloads=(stable, widened)), NOW)  # type: ignore[arg-type]
    assert isinstance(result, NoAction) and result.reason_code == "ContainersDiffer"


# ------------------------------------------------------------------------------ loading

DOC = (REPO / "runbooks" / "canary-promote.yaml").read_text(encoding="utf-8")


def issues(text: str) -> list[str]:
    with pytest.raises(RunbookLoadError) as caught:
        load_text(text, "promote.yaml")
    return [str(issue) for issue in caught.value.issues]


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_shipped_runbook_loads_with_its_action() -> None:
    action = PROMOTE.spec.actions[0]
    assert action.type == "promoteCanary" and action.scale_canary_to_zero


def test_a_trigger_that_is_no_promote_verdict_is_refused_at_its_line() -> None:
    both = DOC.replace("verdicts: [promote]", "verdicts: [promote, rollback]")
    line = _line(both, "verdicts:")
    assert issues(both) == [
        f"promote.yaml:{line}: spec.triggers[0].verdicts: 'promoteCanary' (actions[0]) "
        "promotes a canary the judge found good, and this trigger also accepts rollback: a "
        "release the judge did not pass would be promoted; write 'verdicts: [promote]'"
    ]
    alert = DOC.replace(
        "    - type: canary\n      verdicts: [promote]\n",
        "    - type: alert\n      alertname: Whatever\n",
    )
    line = _line(alert, "type: alert")
    (issue,) = issues(alert)
    assert issue.startswith(
        f"promote.yaml:{line}: spec.triggers[0].type: 'promoteCanary' (actions[0]) acts on a "
        "canary 'promote' verdict only"
    )


def test_a_target_that_cannot_be_a_native_canary_is_refused() -> None:
    statefulset = DOC.replace("kind: Deployment", "kind: StatefulSet")
    line = _line(statefulset, "type: promoteCanary")
    assert (
        f"promote.yaml:{line}: spec.actions[0].type: action 'promoteCanary' cannot act on a "
        "StatefulSet; it needs spec.target.kind Deployment"
    ) in issues(statefulset)
    excluded = DOC.replace(
        'excludeLabels: {autonomic.dev/exclude: "true"}',
        'excludeLabels: {autonomic.dev/canary-of: "web"}',
    )
    (issue,) = issues(excluded)
    assert issue.startswith(
        f"promote.yaml:{_line(excluded, 'excludeLabels')}: "
        "spec.target.excludeLabels.autonomic.dev/canary-of: a native canary carries"
    )


def test_stable_placeholder_only_where_a_canary_is_promoted() -> None:
    text = (REPO / "runbooks" / "canary-rollback.yaml").read_text(encoding="utf-8")
    text = text.replace('deployment="{{name}}", code', 'deployment="{{stable}}", code')
    (issue,) = issues(text)
    assert "spec.verification.checks[1].query: {{stable}} names the stable Deployment" in issue


def test_two_objects_change_so_one_target_is_too_few() -> None:
    text = DOC.replace("maxTargets: 2", "maxTargets: 1")
    (issue,) = issues(text)
    assert "every run changes at least 2 objects" in issue
    (kept,) = load_text(
        text.replace("scaleCanaryToZero: true", "scaleCanaryToZero: false"), "x.yaml"
    )
    assert kept.spec.guards.blast_radius.max_targets == 1


def test_a_canary_replaced_at_the_same_revision_after_the_verdict_is_not_promoted() -> None:
    # A canary Deployment deleted and created again starts at revision 1 again: a
    # verdict on web:v3 at revision 3 must not promote another release that reached
    # revision 3 too (a person's approval of the verdict routes the promotion without a
    # second question, ApprovedUpstream). Before, only the revision was compared, and
    # web:v3b was given to the stable; now the judged images, which the verdict's signal
    # carries, are compared too.
    snapshot, canary = pair()
    judged = signal(
        "canary",
        "promote",
        canary,
        confidence=0.99,
        evidence={"revision": 3, "images": ["web:v3b"]},
    )
    result = plan(PROMOTE, judged, snapshot, NOW)
    assert isinstance(result, NoAction) and result.reason_code == "CanaryMovedOn", result
    assert "is at revision 3 (web:v3), not revision 3 (web:v3b) the verdict judged" in (
        result.message
    )
    same = replace(judged, evidence={"revision": 3, "images": ["web:v3"]})
    assert isinstance(plan(PROMOTE, same, snapshot, NOW), Plan)
