"""The declared RBAC against the code's own calls, read from its source (no server).

``test_rbac.py`` holds the ClusterRole and the Role to ``REQUIRED_RBAC`` and
``LEADER_RBAC``; ``tests/integration/kube/test_kube_reads.py`` runs a list of reads and
writes against the fake API server and compares the requests it received with
``REQUIRED_RBAC``. That run covers the paths it drives; this covers every call site in
``agent/``, driven or not, from the source:

- each public method of ``KubeApi`` says its request as ``ApiCall(verb, group,
  resource)``: the verb, and the resource (the kind's plural, ``/scale`` for the scale
  subresource, or a fixed one such as ``pods/eviction``) are read from it;
- each call of one of those methods on ``.api`` anywhere in ``agent/`` with a kind
  written out (``self.api.read("Node", ...)``) needs that verb on that kind's resource;
  a kind passed in a variable (``ref.kind``) is the dynamic test's to check;
- the watch caches list and watch each cached kind; Events are listed (a decision's,
  by field selector), never watched;
- leader election's calls on the Lease (``*_namespaced_lease``) are exactly
  ``LEADER_RBAC``;
- no other module reaches the ``kubernetes`` client's API classes, so nothing bypasses
  ``KubeApi`` and the leader.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from agent.adapters.kube_api import KINDS
from agent.adapters.kubernetes import CACHED_KINDS, REQUIRED_RBAC
from agent.leader import LEADER_RBAC
from tests.unit.manifests.conftest import REPO

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)
AGENT = REPO / "agent"
KUBE_API = AGENT / "adapters" / "kube_api.py"
LEADER = AGENT / "leader.py"
# The typed client's verbs on the Lease, as the RBAC verbs they are sent as.
CLIENT_VERBS = {"read": "get", "replace": "update", "create": "create", "patch": "patch"}


@functools.cache
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once a session (the tests only read it)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _mentioning(text: str) -> list[Path]:
    """The modules of ``agent/`` whose source holds ``text`` (the others cannot make the
    calls looked for; parsing only these keeps the tests fast)."""
    return [
        path for path in sorted(AGENT.rglob("*.py")) if text in path.read_text(encoding="utf-8")
    ]


def _declared() -> set[Grant]:
    return {(r.api_group, r.resource, verb) for r in REQUIRED_RBAC for verb in r.verbs}


def _requests() -> dict[str, tuple[str, str | None, str]]:
    """``KubeApi`` method -> (verb, fixed resource or None for the kind's, suffix)."""
    (api,) = (
        node
        for node in _tree(KUBE_API).body
        if isinstance(node, ast.ClassDef) and node.name == "KubeApi"
    )
    found: dict[str, tuple[str, str | None, str]] = {}
    for method in api.body:
        if not isinstance(method, ast.FunctionDef) or method.name.startswith("_"):
            continue
        calls = [
            node
            for node in ast.walk(method)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "ApiCall"
        ]
        assert len(calls) == 1, f"KubeApi.{method.name}: expected one ApiCall, {len(calls)}"
        verb, _group, resource = calls[0].args[:3]
        assert isinstance(verb, ast.Constant) and isinstance(verb.value, str), method.name
        if isinstance(resource, ast.Constant):
            found[method.name] = (verb.value, str(resource.value), "")
        elif isinstance(resource, ast.JoinedStr):  # f"{info.plural}/scale"
            tail = resource.values[-1]
            assert isinstance(tail, ast.Constant), method.name
            found[method.name] = (verb.value, None, str(tail.value))
        else:
            assert ast.unparse(resource) == "info.plural", (method.name, ast.unparse(resource))
            found[method.name] = (verb.value, None, "")
    return found


def _fixed_groups() -> dict[str, str]:
    """``KubeApi`` method -> the API group its ``ApiCall`` writes out, for the methods
    whose resource is fixed (``create_event``: "", ``review_access``:
    ``authorization.k8s.io``)."""
    (api,) = (
        node
        for node in _tree(KUBE_API).body
        if isinstance(node, ast.ClassDef) and node.name == "KubeApi"
    )
    out: dict[str, str] = {}
    for method in api.body:
        if not isinstance(method, ast.FunctionDef):
            continue
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ApiCall"
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[2], ast.Constant)
            ):
                out[method.name] = str(node.args[1].value)
    return out


def _grant(kind: str, verb: str, suffix: str = "") -> Grant:
    info = KINDS[kind]
    return (info.group, info.plural + suffix, verb)


def _call_sites() -> tuple[set[tuple[str, Grant]], int]:
    """(where, grant) for each ``.api.METHOD(...)`` call in ``agent/`` whose grant the
    source says, and how many pass their kind in a variable."""
    requests = _requests()
    groups = _fixed_groups()
    found: set[tuple[str, Grant]] = set()
    variable = 0
    for path in _mentioning(".api."):
        for node in ast.walk(_tree(path)):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in requests
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "api"
            ):
                continue
            verb, fixed, suffix = requests[node.func.attr]
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if fixed is not None:
                found.add((where, (groups[node.func.attr], fixed, verb)))
            elif node.args and isinstance(node.args[0], ast.Constant):
                found.add((where, _grant(str(node.args[0].value), verb, suffix)))
            else:
                variable += 1
    return found, variable


def test_kube_api_methods_each_name_their_request() -> None:
    requests = _requests()
    # The methods the adapter's layers call: a new one must say its request too.
    assert set(requests) >= {"read", "list", "watch", "patch", "patch_scale", "delete_pod"}
    assert requests["watch"] == ("watch", None, "")
    assert requests["evict_pod"] == ("create", "pods/eviction", "")


def test_every_call_site_with_a_written_kind_is_granted() -> None:
    sites, variable = _call_sites()
    missing = sorted(f"{where}: {grant}" for where, grant in sites if grant not in _declared())
    assert missing == [], "called but not in REQUIRED_RBAC (nor the ClusterRole):\n" + "\n".join(
        missing
    )
    # Not vacuous: the scan finds the adapter's calls, both kinds of them.
    assert len(sites) >= 20 and variable >= 10, (len(sites), variable)
    assert any(grant == ("", "pods/eviction", "create") for _, grant in sites)
    assert any(grant == ("storage.k8s.io", "storageclasses", "get") for _, grant in sites)


def test_the_watch_caches_kinds_are_granted_list_and_watch() -> None:
    need = {_grant(kind, verb) for kind in CACHED_KINDS for verb in ("list", "watch")}
    assert need - _declared() == set()


def test_events_are_granted_list_and_create_not_watch() -> None:
    # A decision lists its target's Events by field selector; the daemon starts no
    # Event watch, so the ClusterRole grants none.
    declared = _declared()
    assert {_grant("Event", "list"), _grant("Event", "create")} <= declared
    assert _grant("Event", "watch") not in declared


def test_leader_election_calls_exactly_the_lease_rights() -> None:
    called = set()
    for node in ast.walk(_tree(LEADER)):
        if isinstance(node, ast.Attribute) and node.attr.endswith("_namespaced_lease"):
            called.add(("coordination.k8s.io", "leases", CLIENT_VERBS[node.attr.split("_")[0]]))
    declared = {(r.api_group, r.resource, verb) for r in LEADER_RBAC for verb in r.verbs}
    assert called == declared


def test_only_kube_api_and_the_leader_reach_the_clients_api_classes() -> None:
    """Every typed API class of the ``kubernetes`` client (``CoreV1Api``,
    ``CoordinationV1Api``, ``CustomObjectsApi``, ...) is named only in ``kube_api.py`` (its
    table) and ``leader.py``, as an attribute or a string (``getattr(client, name)``): a
    call made elsewhere would escape both checks above."""
    api_class = re.compile(r"[A-Z][A-Za-z]*V\d+(?:(?:alpha|beta)\d+)?Api|CustomObjectsApi")
    reached: dict[str, set[str]] = {}
    for path in _mentioning("Api"):
        tree = _tree(path)
        # A name compared with (``info.api == "CustomObjectsApi"``) reaches nothing.
        compared = {
            id(side)
            for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            for side in (node.left, *node.comparators)
        }
        for node in ast.walk(tree):
            if id(node) in compared:
                continue
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value
            else:
                continue
            if api_class.fullmatch(name):
                reached.setdefault(name, set()).add(path.relative_to(REPO).as_posix())
    places = {where for found in reached.values() for where in found}
    assert places <= {"agent/adapters/kube_api.py", "agent/leader.py"}, reached
    assert reached["CoordinationV1Api"] == {"agent/leader.py"}
    assert {info.api for info in KINDS.values()} <= set(reached)
