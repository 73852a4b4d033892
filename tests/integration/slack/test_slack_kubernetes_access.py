"""slack.requireKubernetesAccess: an approval stands only if the approver's own Kubernetes
identity may make each write of the plan (a SubjectAccessReview each, against the fake
API server), over the wire: signed clicks, the Slack stand-in's ephemeral replies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from agent.adapters.kube_api import KubeApi, SubjectAccessReviewer
from agent.cli import main as autonomic
from agent.kube_access import AccessCheck, access_check
from agent.ledger import Ledger
from agent.settings import SlackSettings
from tests.fakekube import start_fake_apiserver
from tests.fakekube.server import FakeApiServer
from tests.fakeslack import FakeSlack
from tests.integration.slack.conftest import Clock, Rig, make_decision, rig_of

SCALE_WEB = {
    "runbook": "scale-out",
    "mode": "act",
    "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
    "operations": [
        {
            "op": "scale",
            "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
            "replicas": 6,
        }
    ],
}
IDENTITIES: dict[str, Any] = {
    "U0ALICE": "alice@corp",
    "U0BOB": {"user": "bob@corp", "groups": ["sre"]},
}


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver(quiet_errors=True)
    yield server
    server.stop()


def _access(kube: FakeApiServer, **slack: Any) -> AccessCheck | None:
    settings = SlackSettings.model_validate(
        {"requireKubernetesAccess": True, "kubernetesIdentities": IDENTITIES, **slack}
    )
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=kube.url))
    return access_check(settings, SubjectAccessReviewer(KubeApi(client)))


@pytest.fixture
def checked(slack: FakeSlack, ledger: Ledger, clock: Clock, kube: FakeApiServer) -> Iterator[Rig]:
    with rig_of(slack, ledger, clock, access=_access(kube)) as built:
        yield built


def _asked(rig: Rig, proposal: dict[str, Any] = SCALE_WEB) -> tuple[str, str]:
    decision_id = rig.decision(proposal=proposal, decision_type="scale-out/Deployment")
    return decision_id, rig.approvals.ask(decision_id, rig.clock()).question_id


def _refusals(rig: Rig, decision_id: str) -> list[tuple[str, str]]:
    return [
        (row["actor"], row["detail"]["why"])
        for row in rig.ledger.feedback_for(decision_id)
        if row["kind"] == "refusal"
    ]


def test_an_approver_allowed_the_plans_writes_approves(checked: Rig, kube: FakeApiServer) -> None:
    kube.grant("alice@corp", "patch", "deployments/scale", "apps", namespace="shop")
    _, question_id = _asked(checked)
    assert checked.click(question_id, "approve", user="U0ALICE")[0] == 200
    checked.drain()
    question = checked.question(question_id)
    assert (question.status, question.answered_by) == ("approved", "U0ALICE")
    assert kube.reviews == [
        {
            "user": "alice@corp",
            "groups": [],
            "resourceAttributes": {
                "verb": "patch",
                "group": "apps",
                "resource": "deployments",
                "subresource": "scale",
                "namespace": "shop",
                "name": "web",
            },
        }
    ]
    assert checked.slack.ephemerals == []


def test_a_denied_write_refuses_the_approval_and_the_question_stays_open(
    checked: Rig, kube: FakeApiServer
) -> None:
    kube.grant("sre", "patch", "deployments/scale", "apps")  # bob, by his group; not alice
    decision_id, question_id = _asked(checked)
    assert checked.click(question_id, "approve", user="U0ALICE")[0] == 200
    checked.drain()
    question = checked.question(question_id)
    assert (question.status, question.answered_by) == ("pending", None)
    record = checked.ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"
    assert checked.answers.calls == []
    said = "U0ALICE (alice@corp) may not patch deployments/scale in shop (web)"
    [reply] = checked.slack.ephemerals
    assert reply["user"] == "U0ALICE" and said in reply["text"]
    assert "stays open" in reply["text"]
    assert [who for who, _ in _refusals(checked, decision_id)] == ["U0ALICE"]
    assert said in _refusals(checked, decision_id)[0][1]

    # Someone whose groups grant it answers the same question.
    checked.click(question_id, "approve", user="U0BOB", action_ts=checked.clock() + 1)
    checked.drain()
    assert checked.question(question_id).status == "approved"
    assert checked.answers.calls == [(question_id, "approved", "U0BOB")]


def test_a_review_that_errors_refuses_the_approval(checked: Rig, kube: FakeApiServer) -> None:
    kube.grant("alice@corp", "patch", "deployments/scale", "apps")
    kube.fail_reviews("webhook authorizer unreachable")
    decision_id, question_id = _asked(checked)
    checked.click(question_id, "approve", user="U0ALICE")
    checked.drain()
    assert checked.question(question_id).status == "pending"
    [reply] = checked.slack.ephemerals
    assert "could not check whether u0alice (alice@corp) may patch" in reply["text"].lower()
    assert "webhook authorizer unreachable" in reply["text"]

    # The review endpoint itself refused (Autonomic lacks the RBAC): refused too.
    kube.fail_reviews(None)
    kube.forbid("create", "subjectaccessreviews", "authorization.k8s.io")
    checked.click(question_id, "approve", user="U0ALICE", action_ts=checked.clock() + 1)
    checked.drain()
    assert checked.question(question_id).status == "pending"
    assert "could not check whether" in checked.slack.ephemerals[-1]["text"].lower()
    assert len(_refusals(checked, decision_id)) == 2


def test_an_approver_with_no_kubernetes_identity_is_refused(
    checked: Rig, kube: FakeApiServer
) -> None:
    kube.grant("carol@corp", "patch", "deployments/scale", "apps")
    _, question_id = _asked(checked)
    # U0CAROL is an approver (S0ONCALL) but slack.kubernetesIdentities does not map her.
    checked.click(question_id, "approve", user="U0CAROL")
    checked.drain()
    assert checked.question(question_id).status == "pending"
    assert "U0CAROL has no Kubernetes identity" in checked.slack.ephemerals[0]["text"]
    assert kube.reviews == []


def test_a_rejection_is_not_reviewed(checked: Rig, kube: FakeApiServer) -> None:
    _, question_id = _asked(checked)
    checked.click(question_id, "reject", user="U0CAROL")
    checked.drain()
    assert checked.question(question_id).status == "rejected"
    assert kube.reviews == []


def test_with_the_setting_off_nothing_is_reviewed(
    slack: FakeSlack, ledger: Ledger, clock: Clock, kube: FakeApiServer
) -> None:
    assert _access(kube, requireKubernetesAccess=False) is None
    with rig_of(slack, ledger, clock, access=None) as rig:
        _, question_id = _asked(rig)
        rig.click(question_id, "approve", user="U0CAROL")
        rig.drain()
        assert rig.question(question_id).status == "approved"
    assert kube.reviews == []


def test_the_cli_approves_as_a_mapped_slack_user_only(
    ledger: Ledger, clock: Clock, kube: FakeApiServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for key in [k for k in os.environ if k.startswith("AUTONOMIC__")]:
        monkeypatch.delenv(key)
    decision_id = ledger.record_decision(
        make_decision(proposal=SCALE_WEB, decision_type="scale-out/Deployment"), clock()
    )
    question_id = ledger.ask(decision_id, "ledger", clock(), 1e9)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: '{kube.url}'}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\ncurrent-context: x\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mode: observe\nrunbooks: []\ncluster:\n  kubeconfig: {kubeconfig}\n"
        "slack:\n  requireKubernetesAccess: true\n"
        "  kubernetesIdentities:\n    U0ALICE: alice@corp\n"
    )
    # the ledger fixture's file
    ledger_flag = ["--config", str(config), "--ledger", str(tmp_path / "ledger.sqlite")]
    code = autonomic(["approvals", "approve", question_id, *ledger_flag])
    assert code != 0
    assert "cli:" in capsys.readouterr().err  # the unmapped default actor, refused
    code = autonomic(["approvals", "approve", question_id, "--as", "U0ALICE", *ledger_flag])
    err = capsys.readouterr().err
    assert code != 0
    assert "U0ALICE (alice@corp) may not patch deployments/scale in shop (web)" in err
    assert ledger.question(question_id).status == "pending"  # type: ignore[union-attr]
    kube.grant("alice@corp", "patch", "deployments/scale", "apps")
    assert autonomic(["approvals", "approve", question_id, "--as", "U0ALICE", *ledger_flag]) == 0
    assert ledger.question(question_id).status == "approved"  # type: ignore[union-attr]
