"""A precondition, guard, trigger or check that could never pass, and a setting that could
never take effect (an undo with nothing to undo, a field the runbook never reads), is
refused at load, with the file, line and field and why; what is merely unlikely is
loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediation._types import parse_comparison
from remediation.impossible import satisfiable
from remediation.loading import LoadIssue, check_paths
from remediation.windows import parse_cron, week_mask

WORKLOAD = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: web-errors
  description: Restart on errors.
spec:
  triggers:
    - type: alert
      alertname: HighErrorRate
  target:
    kind: Deployment
  preconditions: []
  actions:
    - type: rolloutRestart
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
"""

NODE = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: drain-node
  description: Drain a node that is not ready.
spec:
  triggers:
    - type: kubernetes
      condition: NodeNotReady
      heldFor: 5m
  target:
    kind: Node
  actions:
    - type: drain
  verification:
    checks:
      - type: kubernetes
        condition: nodeDrained
"""

PROMQL = "    - type: promql\n      query: '{query}'\n      condition: '{condition}'\n"
WEEKLY = (
    "    - type: {type}\n      timezone: {zone}\n"
    "      weekly: [{{days: [{days}], start: '{start}', end: '{end}'}}]\n"
)
CRON = "    - type: {type}\n      timezone: UTC\n      cron: '{cron}'\n      duration: {duration}\n"
RATE = 'sum(rate(http_errors_total{namespace="{{namespace}}"}[5m]))'
EVERY_DAY = "Mon, Tue, Wed, Thu, Fri, Sat, Sun"


def preconditions(*items: str) -> str:
    return WORKLOAD.replace("  preconditions: []\n", "  preconditions:\n" + "".join(items))


def promql(condition: str, query: str = RATE) -> str:
    return PROMQL.format(query=query, condition=condition)


def weekly(kind: str, days: str, start: str, end: str, zone: str = "Europe/Paris") -> str:
    return WEEKLY.format(type=kind, zone=zone, days=days, start=start, end=end)


def cron(kind: str, expression: str, duration: str = "2h") -> str:
    return CRON.format(type=kind, cron=expression, duration=duration)


def issues_of(text: str, tmp_path: Path) -> list[LoadIssue]:
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    return list(check_paths([path]).issues)


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    at = -1
    for _ in range(occurrence):
        at = text.index(fragment, at + 1)
    return text[:at].count("\n") + 1


def test_the_base_runbooks_are_valid(tmp_path: Path) -> None:
    assert issues_of(WORKLOAD, tmp_path) == []
    assert issues_of(NODE, tmp_path) == []


# Each case: the runbook, where the problem is said (a fragment of its line, and which
# occurrence), the YAML path, and words of the reason.
IMPOSSIBLE = {
    "a rollout less than 0s ago": (
        preconditions("    - type: changedWithin\n      within: 0s\n"),
        ("within: 0s", 1),
        "spec.preconditions[0].within",
        "'within: 0s' can never hold (the target would have to have been rolled out less "
        "than no time ago), so the runbook could never act",
    ),
    "a rollout of a StatefulSet": (
        preconditions("    - type: changedWithin\n      within: 30m\n").replace(
            "kind: Deployment", "kind: StatefulSet"
        ),
        ("type: changedWithin", 1),
        "spec.preconditions[0].type",
        "changedWithin reads when a Deployment (or a Pod's Deployment) last rolled out, but "
        "spec.target.kind is StatefulSet: a StatefulSet rolls out through "
        "ControllerRevisions, which Autonomic does not read, so its last rollout is never "
        "known; it could never hold, so the runbook could never act; remove it",
    ),
    "a rollout of a Node": (
        NODE.replace(
            "  actions:\n",
            "  preconditions:\n    - type: changedWithin\n      within: 30m\n  actions:\n",
        ),
        ("type: changedWithin", 1),
        "spec.preconditions[0].type",
        "spec.target.kind is Node: a Node is never rolled out; it could never hold",
    ),
    "a StatefulSet's failed rollout": (
        WORKLOAD.replace("kind: Deployment", "kind: StatefulSet").replace(
            "    - type: alert\n      alertname: HighErrorRate\n",
            "    - type: kubernetes\n      condition: RolloutFailed\n",
        ),
        ("condition: RolloutFailed", 1),
        "spec.triggers[0].condition",
        "a StatefulSet has no progress deadline, so Kubernetes never reports its rollout "
        "failed and the trigger could never fire",
    ),
    "contradictory bounds on one query": (
        preconditions(promql("> 5"), promql("< 3")),
        ("'< 3'", 1),
        "spec.preconditions[1].condition",
        "'< 3' contradicts '> 5' (preconditions[0]) on the same query: no value is > 5 and "
        "< 3 at once: these preconditions can never all hold, so the runbook could never act",
    ),
    "an equality and its negation, spaces aside": (
        preconditions(
            promql("== 1", query="max by (pod) (kube_pod_status_ready)"),
            promql("!= 1", query="max by (pod)  (kube_pod_status_ready)"),
        ),
        ("'!= 1'", 1),
        "spec.preconditions[1].condition",
        "no value is == 1 and != 1 at once",
    ),
    "bounds that meet only outside the point": (
        preconditions(promql(">= 5"), promql("<= 5"), promql("!= 5")),
        ("'!= 5'", 1),
        "spec.preconditions[2].condition",
        "'!= 5' contradicts '>= 5' (preconditions[0]) and '<= 5' (preconditions[1]) on the "
        "same query: no value is >= 5 and <= 5 and != 5 at once",
    ),
    "checks that never pass in one round": (
        WORKLOAD.replace(
            "        condition: podsReady\n",
            "        condition: podsReady\n"
            f"      - type: promql\n        query: '{RATE}'\n        condition: '< 0.01'\n"
            f"      - type: promql\n        query: '{RATE}'\n        condition: '> 0.5'\n",
        ),
        ("'> 0.5'", 1),
        "spec.verification.checks[2].condition",
        "no value is < 0.01 and > 0.5 at once: these checks can never pass in the same "
        "round, so the verification could never pass and every run would fail",
    ),
    "a freeze all week": (
        preconditions(weekly("freezeWindow", EVERY_DAY, "00:00", "24:00")),
        ("weekly:", 1),
        "spec.preconditions[0].weekly",
        "this freeze window covers the whole week, so the runbook could never act",
    ),
    "freezes that together cover the week": (
        preconditions(
            weekly("freezeWindow", EVERY_DAY, "08:00", "20:00"),
            weekly("freezeWindow", EVERY_DAY, "20:00", "08:00"),
        ),
        ("weekly:", 2),
        "spec.preconditions[1].weekly",
        "with preconditions[0] (Mon/Tue/Wed/Thu/Fri/Sat/Sun 08:00-20:00 Europe/Paris), the "
        "freeze windows cover the whole week, so the runbook could never act",
    ),
    "a maintenance window inside a freeze": (
        preconditions(
            weekly("freezeWindow", "Sat, Sun", "00:00", "24:00"),
            weekly("maintenanceWindow", "Sat", "02:00", "04:00"),
        ),
        ("weekly:", 2),
        "spec.preconditions[1].weekly",
        "no minute of the week is inside every maintenance window and outside every freeze window",
    ),
    "maintenance windows that never overlap": (
        preconditions(
            weekly("maintenanceWindow", "Sat", "02:00", "04:00"),
            weekly("maintenanceWindow", "Sun", "02:00", "04:00"),
        ),
        ("weekly:", 2),
        "spec.preconditions[1].weekly",
        "this maintenance window never overlaps preconditions[0] (Sat 02:00-04:00 "
        "Europe/Paris), and every maintenance window must be open at once",
    ),
    "a freeze started every minute": (
        preconditions(cron("freezeWindow", "* * * * *", "1m")),
        ("cron:", 1),
        "spec.preconditions[0].cron",
        "cron '* * * * *' starts this freeze window every minute: it is always open, so the "
        "runbook could never act",
    ),
    "a maintenance window on the 30th of February": (
        preconditions(cron("maintenanceWindow", "0 2 30,31 2 *")),
        ("cron:", 1),
        "spec.preconditions[0].cron",
        "cron '0 2 30,31 2 *' never starts (February never has a day 30 or 31): this "
        "maintenance window never opens, so the runbook could never act",
    ),
    "every node healthy after a drain": (
        NODE + "  guards:\n    blastRadius:\n      minHealthyFraction: 1.0\n",
        ("minHealthyFraction", 1),
        "spec.guards.blastRadius.minHealthyFraction",
        "a drain takes its node out of the healthy nodes, so fewer than all of them stay "
        "healthy: 'minHealthyFraction: 1' could never be met and the runbook could never act",
    ),
    "fewer targets than the actions change": (
        WORKLOAD.replace(
            "    - type: rolloutRestart\n",
            "    - type: rolloutRestart\n"
            "    - type: setHpaMinReplicas\n      add: 2\n      maxReplicas: 20\n",
        ),
        # Not written: said where the spec begins, as a missing key is.
        ("  triggers:", 1),
        "spec.guards.blastRadius.maxTargets",
        "every run changes at least 2 objects (the Deployment, its HorizontalPodAutoscaler): "
        "a 'maxTargets' of 1 could never be met and the runbook could never act; raise it to 2",
    ),
    "pods and their workload with one target": (
        WORKLOAD.replace(
            "    - type: rolloutRestart\n", "    - type: deletePod\n    - type: rolloutRestart\n"
        )
        + "  guards:\n    blastRadius: {maxTargets: 1}\n",
        ("maxTargets", 1),
        "spec.guards.blastRadius.maxTargets",
        "(at least one of its pods, the Deployment)",
    ),
    "matchers that contradict each other": (
        WORKLOAD.replace(
            "      alertname: HighErrorRate\n",
            "      alertname: HighErrorRate\n"
            "      matchers: ['severity=\"critical\"', 'severity!~\"crit.*\"']\n",
        ),
        ("matchers:", 1),
        "spec.triggers[0].matchers[1]",
        'matcher severity!~"crit.*" contradicts severity="critical" (matchers[0]): no value '
        "of label 'severity' satisfies both, so the trigger could never fire",
    ),
    "a node check on a workload": (
        WORKLOAD.replace("condition: podsReady", "condition: nodeReady"),
        ("nodeReady", 1),
        "spec.verification.checks[0].condition",
        "check 'nodeReady' reads a Node, but spec.target.kind is Deployment: it would always "
        "be inconclusive",
    ),
    "a workload check on a node": (
        NODE.replace("condition: nodeDrained", "condition: podsReady"),
        ("podsReady", 1),
        "spec.verification.checks[0].condition",
        "check 'podsReady' reads a workload and its pods, but spec.target.kind is Node",
    ),
    "an undo with nothing it could undo": (
        WORKLOAD + "  onFailure:\n    undo: true\n    escalate: true\n",
        ("undo: true", 1),
        "spec.onFailure.undo",
        "'undo: true' could never undo anything, as nothing this runbook changes can be "
        "undone (rolloutRestart, actions[0]: the pods it replaced are gone), so a failed "
        "verification would restore nothing; write 'undo: false' (a failure is escalated "
        "to a person all the same)",
    ),
    "an undo of pods deleted and evicted, and a message": (
        WORKLOAD.replace("kind: Deployment", "kind: Pod").replace(
            "    - type: rolloutRestart\n",
            "    - type: notify\n      message: restarting {{target}}\n"
            "    - type: deletePod\n    - type: evictPod\n",
        )
        + "  onFailure: {undo: true}\n",
        ("onFailure:", 1),
        "spec.onFailure.undo",
        "(deletePod, actions[1]: a deleted pod cannot be brought back; evictPod, "
        "actions[2]: an evicted pod cannot be brought back)",
    ),
    "restarts counted on a condition that has none": (
        NODE.replace("      heldFor: 5m\n", "      heldFor: 5m\n      minCount: 3\n"),
        ("minCount", 1),
        "spec.triggers[0].minCount",
        "'minCount' counts a pod's restarts, and only CrashLoopBackOff and OOMKilled are "
        "counted: on NodeNotReady it is never read, so the trigger would fire on the first "
        "signal; use 'heldFor'",
    ),
    "namespaces on a Node": (
        NODE.replace("    kind: Node\n", "    kind: Node\n    namespaces: [staging]\n"),
        ("namespaces", 1),
        "spec.target.namespaces",
        "a Node has no namespace, so 'namespaces' would never be read and the runbook "
        "would act on any node; choose nodes by their labels",
    ),
    "namespaces excluded on a Node": (
        NODE.replace("    kind: Node\n", "    kind: Node\n    excludeNamespaces: [prod]\n"),
        ("excludeNamespaces", 1),
        "spec.target.excludeNamespaces",
        "a Node has no namespace, so 'excludeNamespaces' would never be read",
    ),
    "an approval by namespace on a Node": (
        NODE.replace("spec:\n", "spec:\n  requireApprovalWhen:\n    namespaces: [prod]\n"),
        ("namespaces", 1),
        "spec.requireApprovalWhen.namespaces",
        "a Node has no namespace, so these namespaces would never require an approval; to "
        "have a person approve every run, write 'maxAutonomy: ask'",
    ),
}


@pytest.mark.parametrize("case", IMPOSSIBLE, ids=list(IMPOSSIBLE))
def test_what_could_never_pass_is_refused_at_its_line(tmp_path: Path, case: str) -> None:
    text, (fragment, occurrence), path, reason = IMPOSSIBLE[case]
    (issue,) = issues_of(text, tmp_path)
    assert (issue.line, issue.path) == (line_of(text, fragment, occurrence), path)
    assert reason in issue.message
    assert str(issue).startswith(f"{tmp_path / 'rb.yaml'}:{issue.line}: {path}: ")


POSSIBLE = {
    "a rollout within a millisecond": preconditions(
        "    - type: changedWithin\n      within: 1ms\n"
    ),
    "a Deployment's failed rollout": WORKLOAD.replace(
        "    - type: alert\n      alertname: HighErrorRate\n",
        "    - type: kubernetes\n      condition: RolloutFailed\n",
    ),
    "a rollout of a Pod's Deployment": preconditions(
        "    - type: changedWithin\n      within: 30m\n"
    )
    .replace("kind: Deployment", "kind: Pod")
    .replace("    - type: rolloutRestart\n", "    - type: deletePod\n")
    .replace("podsReady", "podsReady\n  onFailure: {undo: false}"),
    "bounds on different queries": preconditions(
        promql("> 5"), promql("< 3", query="sum(rate(http_requests_total[5m]))")
    ),
    "bounds that meet at a point": preconditions(promql(">= 5"), promql("<= 5")),
    "a freeze all week but a minute": preconditions(
        weekly("freezeWindow", EVERY_DAY, "00:00", "23:59")
    ),
    "freezes in different timezones": preconditions(
        weekly("freezeWindow", EVERY_DAY, "08:00", "20:00"),
        weekly("freezeWindow", EVERY_DAY, "20:00", "08:00", zone="America/New_York"),
    ),
    "a maintenance window overlapping a freeze": preconditions(
        weekly("freezeWindow", "Sat, Sun", "00:00", "24:00"),
        weekly("maintenanceWindow", "Fri, Sat", "23:00", "01:00"),
    ),
    "a freeze started every hour": preconditions(cron("freezeWindow", "0 * * * *", "59m")),
    "a maintenance window on leap days": preconditions(cron("maintenanceWindow", "0 2 29 2 *")),
    "the 31st or a Monday": preconditions(cron("maintenanceWindow", "0 2 31 2 mon")),
    "most nodes healthy after a drain": NODE
    + "  guards:\n    blastRadius:\n      minHealthyFraction: 0.99\n",
    "every pod healthy after a restart": WORKLOAD
    + "  guards:\n    blastRadius:\n      minHealthyFraction: 1.0\n",
    "targets enough for the actions": WORKLOAD.replace(
        "    - type: rolloutRestart\n",
        "    - type: rolloutRestart\n"
        "    - type: setHpaMinReplicas\n      add: 2\n      maxReplicas: 20\n",
    )
    + "  guards:\n    blastRadius: {maxTargets: 2}\n",
    "a scale that may raise the HPA instead": WORKLOAD.replace(
        "    - type: rolloutRestart\n",
        "    - type: setHpaMinReplicas\n      add: 2\n      maxReplicas: 20\n"
        "    - type: scale\n      add: 2\n      maxReplicas: 20\n",
    ),
    "a pod acted on alone": WORKLOAD.replace("kind: Deployment", "kind: Pod").replace(
        "    - type: rolloutRestart\n", "    - type: deletePod\n    - type: evictPod\n"
    ),
    "matchers that agree": WORKLOAD.replace(
        "      alertname: HighErrorRate\n",
        "      alertname: HighErrorRate\n"
        "      matchers: ['severity=\"critical\"', 'severity=~\"crit.*\"', 'team!=\"\"']\n",
    ),
    "two regexes (not compared)": WORKLOAD.replace(
        "      alertname: HighErrorRate\n",
        "      alertname: HighErrorRate\n      matchers: ['team=~\"a.*\"', 'team=~\"b.*\"']\n",
    ),
    "an undo with one action it can undo": WORKLOAD.replace(
        "    - type: rolloutRestart\n",
        "    - type: patchResources\n      resource: cpu\n      factor: 1.5\n      max: '2'\n"
        "    - type: rolloutRestart\n",
    )
    + "  onFailure: {undo: true}\n",
    "no undo of what cannot be undone": WORKLOAD + "  onFailure: {undo: false}\n",
    "an undo left to its default": WORKLOAD + "  onFailure: {escalate: true}\n",
    "an undo of a drain (it uncordons)": NODE + "  onFailure: {undo: true}\n",
    "an undo on a runbook that only tells": WORKLOAD.replace(
        "    - type: rolloutRestart\n", "    - type: notify\n      message: look at {{target}}\n"
    )
    + "  onFailure: {undo: true}\n",
    "restarts counted on a crash loop": WORKLOAD.replace(
        "    - type: alert\n      alertname: HighErrorRate\n",
        "    - type: kubernetes\n      condition: CrashLoopBackOff\n      minCount: 3\n",
    ),
    "one signal counted on a condition without restarts": NODE.replace(
        "      heldFor: 5m\n", "      heldFor: 5m\n      minCount: 1\n"
    ),
    "nodes chosen by label": NODE.replace(
        "    kind: Node\n", "    kind: Node\n    requireLabels: {pool: batch}\n"
    ),
    "namespaces and approvals by namespace on a Deployment": WORKLOAD.replace(
        "    kind: Deployment\n", "    kind: Deployment\n    namespaces: [shop]\n"
    ).replace("spec:\n", "spec:\n  requireApprovalWhen: {namespaces: [shop]}\n"),
}


@pytest.mark.parametrize("case", POSSIBLE, ids=list(POSSIBLE))
def test_what_can_pass_is_loaded(tmp_path: Path, case: str) -> None:
    assert issues_of(POSSIBLE[case], tmp_path) == []


def test_a_malformed_limit_is_not_also_said_to_be_impossible(tmp_path: Path) -> None:
    """The maxTargets written is not known, so nothing is said about it but its error."""
    text = IMPOSSIBLE["fewer targets than the actions change"][0] + (
        "  guards:\n    blastRadius: {maxTargets: one}\n"
    )
    assert [issue.path for issue in issues_of(text, tmp_path)] == [
        "spec.guards.blastRadius.maxTargets"
    ]
    (issue,) = issues_of(text, tmp_path)
    assert "could never" not in issue.message


def test_an_impossible_guard_is_said_with_the_schema_errors(tmp_path: Path) -> None:
    text = preconditions(promql("> 5"), promql("< 3")).replace(
        "type: rolloutRestart", "type: rolloutRestart\n      now: true"
    )
    found = issues_of(text, tmp_path)
    assert [issue.path for issue in found] == [
        "spec.preconditions[1].condition",
        "spec.actions[0].now",
    ]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (["> 5", "< 3"], False),
        (["> 5", "<= 5"], False),
        ([">= 5", "<= 5"], True),
        ([">= 5", "< 5"], False),
        (["> 1", "> 2", "< 2.5"], True),
        (["== 2", "== 2.0"], True),
        (["== 2", "== 3"], False),
        (["== 2", "> 2"], False),
        (["!= 1", "!= 2"], True),
        (["> -1", "< 1", "!= 0"], True),
    ],
)
def test_satisfiable(conditions: list[str], expected: bool) -> None:
    assert satisfiable([parse_comparison(c) for c in conditions]) is expected


def test_week_mask_follows_ranges_past_midnight_into_the_next_week() -> None:
    from remediation.windows import WeeklyRange

    sunday_night = WeeklyRange.model_validate({"days": ("Sun",), "start": "23:00", "end": "01:00"})
    mask = week_mask((sunday_night,))
    minutes = [m for m in range(7 * 1440) if mask >> m & 1]
    assert minutes == [*range(60), *range(6 * 1440 + 23 * 60, 7 * 1440)]
    assert parse_cron("0 0 31 4,6 *").days == frozenset({31})


def test_another_malformed_guard_does_not_hide_an_impossible_one(tmp_path: Path) -> None:
    text = IMPOSSIBLE["fewer targets than the actions change"][0] + (
        "  guards:\n    cooldownPerTarget: soon\n    blastRadius: {maxTargets: 1}\n"
    )
    found = issues_of(text, tmp_path)
    assert [(issue.line, issue.path) for issue in found] == [
        (line_of(text, "cooldownPerTarget"), "spec.guards.cooldownPerTarget"),
        (line_of(text, "maxTargets"), "spec.guards.blastRadius.maxTargets"),
    ]
    assert "could never be met" in found[1].message
