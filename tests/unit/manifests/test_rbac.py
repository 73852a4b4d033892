"""RBAC grants exactly what Autonomic calls: no more, no less.

The cluster adapter declares the permissions its calls need
(``agent.adapters.kubernetes.REQUIRED_RBAC``), leader election declares the Lease
rights (``agent.leader.LEADER_RBAC``). The ClusterRole must grant exactly the first,
the namespaced Role exactly the second; subresources (``deployments/scale``,
``pods/eviction``) count as resources of their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.adapters.kubernetes import REQUIRED_RBAC, RbacRule
from agent.leader import LEADER_RBAC
from agent.settings import load_settings
from tests.unit.manifests.conftest import BASE
from tests.unit.manifests.kustomize import Obj, only

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def declared(rules: Iterable[RbacRule]) -> set[Grant]:
    return {(rule.api_group, rule.resource, verb) for rule in rules for verb in rule.verbs}


def granted(role: Obj) -> set[Grant]:
    grants: set[Grant] = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    grants.add((group, resource, verb))
    return grants


def test_cluster_role_grants_exactly_what_the_adapter_calls(base: list[Obj]) -> None:
    role = only(base, "ClusterRole", "autonomic")
    have, need = granted(role), declared(REQUIRED_RBAC)
    assert have - need == set(), f"granted but never called (remove): {sorted(have - need)}"
    assert need - have == set(), f"called but not granted (add): {sorted(need - have)}"


def test_role_grants_exactly_the_lease_rights_in_its_namespace(base: list[Obj]) -> None:
    role = only(base, "Role", "autonomic-leader-election")
    assert role["metadata"]["namespace"] == "autonomic"
    assert granted(role) == declared(LEADER_RBAC)


def test_lease_rights_are_limited_to_the_configured_lease(base: list[Obj]) -> None:
    settings = load_settings(BASE / "config" / "autonomic.yaml")
    role = only(base, "Role", "autonomic-leader-election")
    for rule in role["rules"]:
        if rule["verbs"] == ["create"]:
            # Kubernetes cannot limit create to a name: the object does not exist yet.
            assert "resourceNames" not in rule
        else:
            assert rule["resourceNames"] == [settings.leader_election.lease_name]
    assert settings.leader_election.namespace == role["metadata"]["namespace"]


def test_no_wildcards_and_no_escalation_verbs(base: list[Obj]) -> None:
    for kind in ("ClusterRole", "Role"):
        for role in (o for o in base if o["kind"] == kind):
            for rule in role["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[field], f"{kind} {role['metadata']['name']}: {rule}"
                assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
                assert "secrets" not in rule["resources"], "Autonomic never reads Secrets"


def test_bindings_give_the_roles_to_the_deployments_service_account(base: list[Obj]) -> None:
    deployment = only(base, "Deployment", "autonomic")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    only(base, "ServiceAccount", account)
    for kind, role_kind, role_name in (
        ("ClusterRoleBinding", "ClusterRole", "autonomic"),
        ("RoleBinding", "Role", "autonomic-leader-election"),
    ):
        binding = only(base, kind)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": role_name,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": namespace}
        ]


def test_a_new_adapter_permission_would_fail_the_check(base: list[Obj]) -> None:
    """The comparison is not vacuous: one extra declared verb is reported as missing."""
    role = only(base, "ClusterRole", "autonomic")
    need = declared(REQUIRED_RBAC) | {("apps", "deployments", "delete")}
    assert need - granted(role) == {("apps", "deployments", "delete")}


def test_rbac_rules_are_documented() -> None:
    deploy_doc = (BASE.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    for resource in sorted({r for _, r, _ in declared([*REQUIRED_RBAC, *LEADER_RBAC])}):
        assert f"`{resource}`" in deploy_doc, f"docs/deploy.md does not explain {resource}"


def test_every_kubectl_command_on_the_lease_names_the_configured_lease() -> None:
    """The alerts, the docs and the kind suite tell people to look at the Lease with
    kubectl: each must name the one the shipped config elects on, or the command answers
    NotFound in the middle of an incident."""
    import re

    lease = load_settings(BASE / "config" / "autonomic.yaml").leader_election.lease_name
    repo = BASE.parent
    files = [
        *sorted((repo / "docs").glob("*.md")),
        repo / "README.md",
        *sorted(BASE.rglob("*.yaml")),
        repo / "tests" / "e2e" / "kind.sh",
    ]
    named = {
        (path.relative_to(repo).as_posix(), match)
        for path in files
        for match in re.findall(r"get leases? ([\w.-]+)", path.read_text(encoding="utf-8"))
    }
    assert named, "no kubectl command on the Lease found: the pattern is stale"
    assert {where for where, name in named if name != lease} == set()


def test_the_permission_table_in_the_docs_is_the_declared_rbac() -> None:
    """docs/deploy.md's RBAC table, row by row (group, resources, verbs), is exactly
    ``REQUIRED_RBAC`` and ``LEADER_RBAC``: a verb added to the code and the roles but not
    to the table, or left in the table after it went, fails here."""
    import re

    deploy_doc = (BASE.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    header = "| API group | resource | verbs | why |"
    rows = deploy_doc.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    assert len(rows) >= 10, rows
    verbs = {"get", "list", "watch", "create", "update", "patch", "delete"}
    documented: set[Grant] = set()
    for row in rows:
        group, resources, said, _why = (cell.strip() for cell in row.strip("|").split("|", 3))
        names = re.findall(r"`([\w./-]+)`", resources.split("(")[0])
        # "create; get, update only on `autonomic-leader`": the verbs, not the name.
        for verb in set(re.findall(r"[a-z]+", re.sub(r"`[^`]*`", "", said))) & verbs:
            documented |= {("" if group == "core" else group, name, verb) for name in names}
    need = declared([*REQUIRED_RBAC, *LEADER_RBAC])
    assert documented == need, documented ^ need
