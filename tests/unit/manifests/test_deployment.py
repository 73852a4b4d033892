"""The Deployment, Service, PDB and NetworkPolicy keep the hardening and wiring promised
in docs/deploy.md: non-root 65532, read-only root filesystem, no capabilities, seccomp
RuntimeDefault, no privilege escalation, resources, probes, spread over nodes."""

from __future__ import annotations

from typing import Any

from tests.unit.manifests.kustomize import Obj, only

PORT = 8080


def _pod(base: list[Obj]) -> dict[str, Any]:
    spec: dict[str, Any] = only(base, "Deployment", "autonomic")["spec"]["template"]["spec"]
    return spec


def _container(base: list[Obj]) -> dict[str, Any]:
    containers = _pod(base)["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_two_replicas_and_a_warm_standby_through_rollouts(base: list[Obj]) -> None:
    spec = only(base, "Deployment", "autonomic")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_pod_runs_as_non_root_65532_with_seccomp(base: list[Obj]) -> None:
    pod = _pod(base)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}


def test_container_is_locked_down(base: list[Obj]) -> None:
    context = _container(base)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("privileged", False) is False
    assert context["runAsNonRoot"] is True
    assert context.get("runAsUser", 65532) == 65532
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = _pod(base)
    for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(forbidden, False)


def test_writable_paths_are_only_tmp_and_the_ledger(base: list[Obj]) -> None:
    volumes = {v["name"]: v for v in _pod(base)["volumes"]}
    writable = {
        m["mountPath"]: volumes[m["name"]]
        for m in _container(base)["volumeMounts"]
        if not m.get("readOnly", False)
    }
    assert set(writable) == {"/tmp", "/var/lib/autonomic"}
    assert all("emptyDir" in volume for volume in writable.values())


def test_resources_have_requests_and_limits(base: list[Obj]) -> None:
    resources = _container(base)["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound


def test_probes_hit_healthz_and_readyz_on_8080(base: list[Obj]) -> None:
    container = _container(base)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http-metrics": PORT}
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert (liveness["path"], ports[liveness["port"]]) == ("/healthz", PORT)
    assert (readiness["path"], ports[readiness["port"]]) == ("/readyz", PORT)
    startup = container["startupProbe"]["httpGet"]
    assert (startup["path"], ports[startup["port"]]) == ("/healthz", PORT)


def test_every_probe_waits_two_seconds_for_an_answer(base: list[Obj]) -> None:
    """The same timeout for all three probes: the startup probe left at Kubernetes's
    default (1 s) would fail a start whose /healthz answered in 1.5 s, which liveness
    (2 s) accepts once it has started."""
    container = _container(base)
    timeouts = {
        probe: container[probe].get("timeoutSeconds", 1)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert timeouts == {"startupProbe": 2, "livenessProbe": 2, "readinessProbe": 2}


def test_the_grace_period_holds_the_whole_shutdown(base: list[Obj]) -> None:
    """Kubernetes sends SIGKILL terminationGracePeriodSeconds after SIGTERM (30 s when
    unset): the daemon's shutdown budget, and a margin for the exit, fit in it."""
    from agent.runtime import SHUTDOWN_MARGIN, ShutdownPlan

    grace = _pod(base).get("terminationGracePeriodSeconds", 30)
    assert grace >= ShutdownPlan().budget + SHUTDOWN_MARGIN


def test_the_config_argument_points_at_the_mounted_config(base: list[Obj]) -> None:
    container = _container(base)
    args = container["args"]
    assert args[0] == "run"
    config_path = args[args.index("--config") + 1]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[config_path]["subPath"] == "autonomic.yaml"
    volumes = {v["name"]: v for v in _pod(base)["volumes"]}
    config_map = volumes[mounts[config_path]["name"]]["configMap"]["name"]
    generated = only(base, "ConfigMap", "autonomic-config")
    assert config_map == generated["metadata"]["name"]
    assert "autonomic.yaml" in generated["data"]


def test_slack_secret_is_a_reference_that_may_be_absent(base: list[Obj]) -> None:
    volumes = {v["name"]: v for v in _pod(base)["volumes"]}
    secret = volumes["slack"]["secret"]
    assert secret["secretName"] == "autonomic-slack"
    assert secret["optional"] is True


def test_replicas_spread_over_nodes(base: list[Obj]) -> None:
    pod = _pod(base)
    labels = only(base, "Deployment", "autonomic")["spec"]["template"]["metadata"]["labels"]
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert "kubernetes.io/hostname" in keys
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_service_pdb_and_policy_select_the_pods(base: list[Obj]) -> None:
    labels = only(base, "Deployment", "autonomic")["spec"]["template"]["metadata"]["labels"]
    service = only(base, "Service", "autonomic")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": PORT, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    pdb = only(base, "PodDisruptionBudget", "autonomic")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    policy = only(base, "NetworkPolicy", "autonomic")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_the_pdb_lets_an_unready_replica_be_evicted(base: list[Obj]) -> None:
    """Both replicas are unready together whenever what readiness checks is out for both
    (the shared PostgreSQL ledger down, the API server not answering a new pod's lists).
    Under the default policy (IfHealthyBudget) a budget with no healthy pod refuses every
    eviction, so a node drain would hang on an Autonomic pod that protects nothing."""
    pdb = only(base, "PodDisruptionBudget", "autonomic")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_network_policy_lets_in_only_8080_and_out_only_what_is_needed(base: list[Obj]) -> None:
    spec = only(base, "NetworkPolicy", "autonomic")["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {(p["port"], p["protocol"]) for r in spec["ingress"] for p in r["ports"]}
    assert ingress_ports == {(PORT, "TCP")}
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in spec["ingress"]
        for peer in rule["from"]
    }
    assert "monitoring" in sources
    # The canary endpoints' callers (canary.enabled is on by default): Argo Rollouts'
    # controller runs an analysis's web metric against /canary/verdict, Flagger calls
    # /canary/flagger, each from its own namespace. A call the policy drops times out,
    # and Flagger counts a failed webhook toward a rollback.
    assert {"argo-rollouts", "flagger-system"} <= sources
    egress_ports = {(p["port"], p["protocol"]) for r in spec["egress"] for p in r["ports"]}
    assert egress_ports == {(53, "UDP"), (53, "TCP"), (9090, "TCP"), (443, "TCP"), (6443, "TCP")}
    for rule in spec["ingress"] + spec["egress"]:
        assert rule.get("ports"), "every rule names its ports"


def test_namespace_enforces_the_restricted_pod_security_standard(base: list[Obj]) -> None:
    labels = only(base, "Namespace", "autonomic")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_network_policy_lets_the_daemon_reach_the_configured_prometheus(
    base: list[Obj],
) -> None:
    """The config's ``prometheus.url`` (``SERVICE.NAMESPACE:PORT``) is reachable under the
    NetworkPolicy: an egress rule names that namespace and port. Moving Prometheus in
    the config alone would leave every query timing out in the cluster."""
    from urllib.parse import urlsplit

    import yaml

    from tests.unit.manifests.conftest import BASE

    config = yaml.safe_load((BASE / "config" / "autonomic.yaml").read_text(encoding="utf-8"))
    url = urlsplit(config["prometheus"]["url"])
    assert url.hostname is not None
    namespace = url.hostname.split(".")[1]
    port = url.port or (443 if url.scheme == "https" else 80)
    spec = only(base, "NetworkPolicy", "autonomic")["spec"]
    allowed = {
        (peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], p["port"])
        for rule in spec["egress"]
        for peer in rule["to"]
        if "namespaceSelector" in peer and "podSelector" not in peer
        for p in rule["ports"]
    }
    assert (namespace, port) in allowed, (namespace, port, allowed)
