"""`autonomic config check` warns, at the runbook's file and line, of what the config can
never let a runbook do: act in a namespace the daemon does not watch, fire on an anomaly
of a query the config does not have or on a forecast breach nothing signals (or that two
load queries share), or take a route its signals' confidence never reaches
(``confidence_reach``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.cli import main as autonomic

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: pause-on-errors
  description: Pause a rollout whose error ratio climbs.
spec:
  mode: enforce
  triggers:
    - type: anomaly
      metric: METRIC
      direction: up
  target:
    kind: Deployment
    namespaces: [NAMESPACES]
  actions:
    - type: pauseRollout
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
"""

# routing.ask 0.4: an anomaly-started runbook with no record reaches it (0.647 x 0.75);
# at the default 0.6 it escalates at first, which is warned of (tested below).
CONFIG = """\
cluster:
  namespaces: [shop, checkout]
routing: {auto: 0.95, ask: 0.4}
anomalyQueries:
  - name: http_error_ratio
    expr: sum(rate(x[5m]))
runbooks: [rb]
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AUTONOMIC__"):
            monkeypatch.delenv(key)


def check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str, namespaces: str
) -> tuple[int, list[str], Path]:
    (tmp_path / "rb").mkdir()
    runbook = tmp_path / "rb" / "pause.yaml"
    runbook.write_text(RUNBOOK.replace("METRIC", metric).replace("NAMESPACES", namespaces))
    config = tmp_path / "autonomic.yaml"
    config.write_text(CONFIG)
    code = autonomic(["config", "check", str(config)])
    out = capsys.readouterr().out
    warnings = [line.strip() for line in out.splitlines() if f"warning: {runbook}" in line]
    return code, warnings, runbook


def test_a_runbook_that_fits_the_config_gets_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, warnings, _ = check(tmp_path, capsys, "http_error_ratio", "shop")
    assert code == 0
    assert warnings == []


def test_a_namespace_the_daemon_does_not_watch_is_warned_of_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, warnings, runbook = check(tmp_path, capsys, "http_error_ratio", "payments")
    assert code == 0  # a warning: runbook folders may be shared by several daemons
    assert warnings == [
        f"warning: {runbook}:14: spec.target.namespaces[0]: runbook pause-on-errors will "
        "never act in namespace payments: cluster.namespaces watches only shop, checkout, "
        "so the daemon never reads it; add it to the config or remove it from the runbook",
        f"warning: {runbook}:14: spec.target.namespaces: runbook pause-on-errors will never "
        "act at all: none of its namespaces is watched by this config",
    ]


def test_an_excluded_namespace_is_warned_of_but_not_the_runbook_as_a_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # kube-system is in cluster.excludeNamespaces by default; shop is watched.
    code, warnings, runbook = check(tmp_path, capsys, "http_error_ratio", "shop, kube-system")
    assert code == 0
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f"warning: {runbook}:14: spec.target.namespaces[1]: runbook pause-on-errors will "
        "never act in namespace kube-system: cluster.excludeNamespaces leaves it out"
    )


def test_an_anomaly_trigger_on_a_query_the_config_lacks_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, warnings, runbook = check(tmp_path, capsys, "http_eror_ratio", "shop")
    assert code == 0
    assert warnings == [
        f"warning: {runbook}:10: spec.triggers[0].metric: no anomaly query is named "
        "'http_eror_ratio', so this trigger never fires (did you mean 'http_error_ratio'? "
        "the anomaly queries are http_error_ratio; an anomaly signal's metric is the name "
        "of the anomalyQueries entry that found it)"
    ]


def test_the_daemon_logs_the_same_warnings_when_it_loads_its_runbooks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, only `config check` said so; a daemon started without it ran a runbook that
    could never act, and its log was silent."""
    from agent.daemon import load_runbooks
    from agent.settings import load_settings

    (tmp_path / "rb").mkdir()
    runbook = tmp_path / "rb" / "pause.yaml"
    runbook.write_text(RUNBOOK.replace("METRIC", "http_eror_ratio").replace("NAMESPACES", "shop"))
    config = tmp_path / "autonomic.yaml"
    config.write_text(CONFIG)
    with caplog.at_level("WARNING", logger="autonomic.daemon"):
        loaded = load_runbooks(load_settings(config, {}))
    assert [r.metadata.name for r in loaded] == ["pause-on-errors"]
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [
        f"runbooks: {runbook}:10: spec.triggers[0].metric: no anomaly query is named "
        "'http_eror_ratio', so this trigger never fires (did you mean 'http_error_ratio'? "
        "the anomaly queries are http_error_ratio; an anomaly signal's metric is the name "
        "of the anomalyQueries entry that found it)"
    ]


def reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, config: str = ""
) -> tuple[list[str], Path]:
    """The warnings `config check` gives for a runbook whose spec (above ``target``) is
    ``spec``, under ``config`` (the default routing unless it says otherwise)."""
    (tmp_path / "rb").mkdir()
    runbook = tmp_path / "rb" / "rb.yaml"
    runbook.write_text(
        "apiVersion: autonomic.dev/v1alpha1\nkind: Runbook\nmetadata:\n  name: rb\n"
        "  description: A runbook.\nspec:\n  mode: enforce\n"
        + spec
        + "  target:\n    kind: Deployment\n  actions:\n    - type: pauseRollout\n"
        "  verification:\n    checks:\n      - type: kubernetes\n        condition: podsReady\n"
    )
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        "anomalyQueries:\n  - name: http_error_ratio\n    expr: sum(rate(x[5m]))\n"
        "runbooks: [rb]\n" + config
    )
    assert autonomic(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    return [
        line.strip() for line in out.splitlines() if "warning: " in line and "rb" in line
    ], runbook


def test_a_breach_trigger_above_the_most_a_breach_carries_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forecast breach carries 0.8 to 0.95 (``breach_confidence``): 0.96 is never met."""
    warnings, runbook = reach(
        tmp_path,
        capsys,
        "  triggers:\n    - type: forecastBreach\n      metric: requests_per_second\n"
        "      minConfidence: 0.96\n",
    )
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"warning: {runbook}:11: spec.triggers[0].minConfidence: ")
    assert "so 0.96 is never met and this trigger never starts runbook rb" in warnings[0]


def test_a_breach_trigger_within_the_range_gets_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warnings, _ = reach(
        tmp_path,
        capsys,
        "  triggers:\n    - type: forecastBreach\n      metric: requests_per_second\n"
        "      minConfidence: 0.95\n",
    )
    assert warnings == []


BREACH = "  triggers:\n    - type: forecastBreach\n      metric: METRIC\n"
LOAD_QUERIES = (
    "scaling:\n  loadQueries:\n"
    "    queue_depth: 'sum(kafka_consumergroup_lag{deployment=\"$workload\"})'\n"
)


@pytest.mark.parametrize("metric", ["requests_per_second", "queue_depth"])
def test_a_breach_trigger_on_a_load_this_config_reads_gets_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    warnings, _ = reach(tmp_path, capsys, BREACH.replace("METRIC", metric), LOAD_QUERIES)
    assert warnings == []


@pytest.mark.parametrize(
    ("metric", "config", "names"),
    [
        ("queue_dept", LOAD_QUERIES, "did you mean 'queue_depth'? "),
        ("requests_per_sec", LOAD_QUERIES, "did you mean 'requests_per_second'? "),
        ("queue_depth", "", ""),
    ],
    ids=["typo-of-a-named-query", "typo-of-the-default", "no-such-query-configured"],
)
def test_a_breach_trigger_on_a_load_no_workload_is_read_with_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str, config: str, names: str
) -> None:
    """A forecast breach is named requests_per_second (``scaling.loadQuery``) or by the
    ``scaling.loadQueries`` entry its workload picks: a trigger on any other metric (a
    typo, a query the config lacks) never fires, and nothing said so."""
    warnings, runbook = reach(tmp_path, capsys, BREACH.replace("METRIC", metric), config)
    configured = "this config names queue_depth" if config else "this config has none"
    assert warnings == [
        f"warning: {runbook}:10: spec.triggers[0].metric: no forecast breach is named "
        f"{metric!r}, so this trigger never fires ({names}a breach is named "
        "requests_per_second on a workload read with scaling.loadQuery, or by the "
        "scaling.loadQueries entry its autonomic.dev/load-query annotation picks: "
        f"{configured})"
    ]


@pytest.mark.parametrize("metric", ["requests_per_second", "queue_depth"])
def test_a_breach_trigger_is_warned_of_when_scaling_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    """Forecast breaches come from the scaling loop only: with ``scaling.enabled: false``
    no breach is ever signalled, so even a trigger on a load the config reads never
    fires. Before, a trigger on ``requests_per_second`` passed without a word."""
    config = LOAD_QUERIES.replace("scaling:\n", "scaling:\n  enabled: false\n")
    warnings, runbook = reach(tmp_path, capsys, BREACH.replace("METRIC", metric), config)
    assert warnings == [
        f"warning: {runbook}:9: spec.triggers[0]: scaling.enabled is false, so no forecast "
        "is made, no forecast breach is ever signalled and this trigger never starts "
        "runbook rb (forecast breaches come from the scaling loop only)"
    ]


def test_a_breach_trigger_on_the_default_name_shared_by_a_load_query_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``scaling.loadQueries`` entry named ``requests_per_second`` breaches under the
    default's name: a trigger on it takes both kinds of load. Said, not refused (a
    config that names one so keeps starting)."""
    config = (
        LOAD_QUERIES
        + "    requests_per_second: 'sum(rate(grpc_calls{pod=~\"$workload-.*\"}[2m]))'\n"
    )
    spec = BREACH.replace("METRIC", "requests_per_second")
    warnings, runbook = reach(tmp_path, capsys, spec, config)
    assert warnings == [
        f"warning: {runbook}:10: spec.triggers[0].metric: scaling.loadQueries has an entry "
        "named requests_per_second too, so this trigger fires on the breaches of the "
        "workloads that pick it as on those read with scaling.loadQuery (a breach is named "
        "by its load query, and the two names are the same); rename that entry (and the "
        "autonomic.dev/load-query annotations naming it) to tell them apart"
    ]
    # a trigger on the other entry is not concerned
    (tmp_path / "rb" / "rb.yaml").unlink()
    (tmp_path / "rb").rmdir()
    warnings, _ = reach(tmp_path, capsys, BREACH.replace("METRIC", "queue_depth"), config)
    assert warnings == []


def test_an_approval_line_above_every_anomaly_signal_means_it_never_acts_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An anomaly signal carries at most 0.647 (the NAB map's top step): a runbook asking
    below 0.9 asks on every anomaly, though its maxAutonomy says it may act alone."""
    warnings, runbook = reach(
        tmp_path,
        capsys,
        "  maxAutonomy: auto\n  requireApprovalWhen:\n    confidenceBelow: 0.9\n"
        "  triggers:\n    - type: anomaly\n      metric: http_error_ratio\n"
        "    - type: kubernetes\n      condition: RolloutFailed\n",
        "routing: {auto: 0.95, ask: 0.4}\n",
    )
    assert warnings == [
        f"warning: {runbook}:10: spec.requireApprovalWhen.confidenceBelow: the signals of "
        "spec.triggers[0] (anomaly) carry at most 0.647, below 0.9, so every run it starts "
        "asks first and runbook rb never acts alone on it (maxAutonomy: auto is never "
        "reached); lower it to 0.647 or less, or write maxAutonomy: ask to say so"
    ]


def test_an_approval_line_no_signal_falls_below_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Kubernetes condition is an observed fact, carried at 1.0: confidenceBelow never
    forces an approval on a runbook it alone starts."""
    warnings, runbook = reach(
        tmp_path,
        capsys,
        "  maxAutonomy: auto\n  requireApprovalWhen:\n    confidenceBelow: 0.9\n"
        "  triggers:\n    - type: kubernetes\n      condition: RolloutFailed\n",
    )
    assert warnings == [
        f"warning: {runbook}:10: spec.requireApprovalWhen.confidenceBelow: the signals of "
        "runbook rb's triggers carry at least 1, so 0.9 never forces an approval; remove "
        "it, or raise it into the range its signals carry"
    ]


def test_an_anomaly_runbook_that_escalates_until_its_record_grows_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At the default routing.ask (0.6), an anomaly-started decision with no record
    (0.647 x 0.75 = 0.485) escalates: never asked, so no approval ever builds a record;
    only hindsight verdicts do. The shipped error-rate-pause-rollout is such a runbook."""
    warnings, runbook = reach(
        tmp_path,
        capsys,
        "  maxAutonomy: auto\n  triggers:\n    - type: anomaly\n"
        "      metric: http_error_ratio\n      minConfidence: 0.6\n",
    )
    assert warnings == [
        f"warning: {runbook}:10: spec.triggers: runbook rb's signals carry at most 0.647, so "
        "with no record its decisions carry 0.485 (0.647 x the prior 0.75; at most 0.55 "
        "when the cluster's other runbooks lend a clean record, routing.poolCap), below "
        "routing.ask 0.6: they escalate, never ask, until 2 hindsight verdicts that what "
        "it proposed was the fix (`autonomic feedback ID --right`, Slack's button) raise "
        "its record"
    ]


def test_routing_auto_at_one_is_never_reached_by_a_runbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runbook decision's confidence is a Beta posterior whose prior is never certain
    (signal x at most poolCap < 1): below 1 however long its record."""
    warnings, _ = reach(
        tmp_path,
        capsys,
        "  maxAutonomy: auto\n  triggers:\n    - type: kubernetes\n"
        "      condition: RolloutFailed\n",
        "routing: {auto: 1.0, ask: 0.6}\n",
    )
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: routing.auto: 1 is never reached by a runbook")
    assert "so rb never act alone" in warnings[0]
