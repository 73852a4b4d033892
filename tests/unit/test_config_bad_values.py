"""Values `config check` used to accept: infinite or zero durations where a period,
timeout or step must be longer than 0, anomaly queries sharing a name, a string taken
for a boolean or a number, and a `cluster.kubeconfig` that is missing, a directory or not
one.

Each is refused through the real command with ``FILE:LINE: field: message``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from agent.cli import main as autonomic
from agent.errors import ConfigError
from agent.settings import CanarySettings, kubeconfig_problem, load_settings

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: prod
  context: {cluster: c, user: u}
current-context: prod
users:
- name: u
  user: {token: abc}
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AUTONOMIC__"):
            monkeypatch.delenv(key)


def check(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, Path, str, list[str]]:
    """``config check`` on ``text`` (with no runbooks): exit code, file, stdout, problems."""
    path = tmp_path / "autonomic.yaml"
    path.write_text("runbooks: []\n" + text, encoding="utf-8")
    code = autonomic(["config", "check", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    problems = [line.strip() for line in err.splitlines()[1:] if line.strip()]
    if code == 2:
        assert err.startswith("autonomic: error: invalid configuration:"), err
    return code, path, out, problems


# (section, key): every duration that is a period, timeout, step or lifetime.
POSITIVE = [
    ("prometheus", "timeout"),
    ("prometheus", "staleAfter"),
    ("cluster", "resync"),
    ("slack", "questionTTL"),
    ("slack", "snooze"),
    ("slack", "replayWindow"),
    ("safety", "approvedMaxWait"),
    ("scaling", "period"),
    ("scaling", "refitEvery"),
    ("canary", "period"),
    ("canary", "maxDuration"),
]


@pytest.mark.parametrize(("section", "key"), POSITIVE)
def test_a_period_timeout_or_step_of_zero_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str
) -> None:
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: 0s\n", capsys)
    assert code == 2
    assert problems == [
        f"{path}:3: {section}.{key}: must be longer than 0s (a period, timeout or "
        "lifetime), got '0s'"
    ]


def test_leader_election_timings_of_zero_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "leaderElection:\n  retryPeriod: 0\n  renewDeadline: 0s\n  leaseDuration: 0m\n"
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert [p.split(": must be")[0] for p in problems] == [
        f"{path}:3: leaderElection.retryPeriod",
        f"{path}:4: leaderElection.renewDeadline",
        f"{path}:5: leaderElection.leaseDuration",
    ]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN"])
@pytest.mark.parametrize("field", ["safety.cooldown", "prometheus.timeout", "routing.memory"])
def test_a_duration_must_be_finite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, field: str
) -> None:
    section, key = field.split(".")
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: {value}\n", capsys)
    assert code == 2
    [problem] = problems
    assert problem.startswith(f"{path}:3: {field}: a duration must be finite, got "), problem


@pytest.mark.parametrize("value", ["367d", "53w", "1000000000000000000000000000000"])
@pytest.mark.parametrize(
    "field", ["scaling.period", "safety.cooldown", "prometheus.timeout", "routing.memory"]
)
def test_a_duration_over_a_year_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, field: str
) -> None:
    """``scaling.period: 1000000000000000000000000000000`` used to pass the check, then
    stop `run` with an OverflowError traceback when the scheduler was given the job."""
    section, key = field.split(".")
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: {value}\n", capsys)
    assert code == 2
    [problem] = problems
    assert problem.startswith(f"{path}:3: {field}: a duration must be at most 366d (a year), got ")


def test_a_duration_of_a_year_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text("runbooks: []\nscaling:\n  period: 366d\nrouting:\n  memory: 52w\n")
    settings = load_settings(path)
    assert settings.scaling.period == 366 * 86400.0
    assert settings.routing.memory == 52 * 604800.0


def test_cooldowns_and_the_metric_lag_may_be_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "safety:\n  cooldown: 0s\n  stormCooldown: 0\nscaling:\n  metricLag: 0s\n"
    code, path, out, problems = check(tmp_path, text, capsys)
    assert (code, problems) == (0, [])
    assert out.startswith(f"{path}: OK")
    settings = load_settings(path)
    assert settings.safety.cooldown == 0 and settings.safety.storm_cooldown == 0
    assert settings.scaling.metric_lag == 0


def test_an_anomaly_step_or_history_of_zero_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "anomalyQueries:\n"
        "  - name: latency\n"
        "    expr: up\n"
        "    step: 0s\n"
        "  - {name: errors, expr: up, history: 0}\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert [p.split(": must be")[0] for p in problems] == [
        f"{path}:5: anomalyQueries[0].step",
        f"{path}:6: anomalyQueries[1].history",
    ]


def test_anomaly_query_names_are_unique(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "anomalyQueries:\n"
        "  - {name: latency, expr: up}\n"
        "  - {name: errors, expr: up}\n"
        "  - name: latency\n"
        "    expr: rate(x[5m])\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [
        f"{path}:5: anomalyQueries[2].name: duplicate name 'latency': anomalyQueries[0] has it "
        "too (each query needs a name of its own)"
    ]


@pytest.mark.parametrize(
    ("written", "shown"),
    [('"yes"', "'yes'"), ("'true'", "'true'"), ("1", "1"), ("on please", "'on please'")],
)
def test_a_boolean_must_be_true_or_false(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str, shown: str
) -> None:
    code, path, _, problems = check(tmp_path, f"safety:\n  paused: {written}\n", capsys)
    assert code == 2
    assert problems == [f"{path}:3: safety.paused: expected true or false (unquoted), got {shown}"]


@pytest.mark.parametrize(
    "field",
    [
        "prometheus.verifyTLS",
        "cluster.inCluster",
        "slack.enabled",
        "alertmanager.enabled",
        "leaderElection.enabled",
        "scaling.enabled",
        "scaling.shapeOnlySeasonality",
        "canary.enabled",
    ],
)
def test_every_boolean_is_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    section, key = field.split(".")
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: 'false'\n", capsys)
    assert code == 2
    assert problems == [f"{path}:3: {field}: expected true or false (unquoted), got 'false'"]


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        # Used to pass, then stop `run` with a ValueError traceback from the adapter
        # (an empty namespace is "every namespace" to the API client), ledger created.
        ("cluster:\n  namespaces: [shop, '']\n", "cluster.namespaces[1]", "not a namespace name"),
        ("cluster:\n  excludeNamespaces: [Kube_System]\n", "cluster.excludeNamespaces[0]",
         "not a namespace name"),
        ("leaderElection:\n  namespace: ''\n", "leaderElection.namespace", "not a namespace name"),
        ("leaderElection:\n  leaseName: my lease\n", "leaderElection.leaseName",
         "not a Lease name"),
        # Used to pass and opt every workload out: no label key holds "=".
        ("cluster:\n  optInLabel: autonomic.dev/enabled=true\n", "cluster.optInLabel",
         "not a label key"),
        ("cluster:\n  optInLabel: ''\n", "cluster.optInLabel", "not a label key"),
    ],
)  # fmt: skip
def test_kubernetes_names_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, says: str
) -> None:
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    [problem] = problems
    assert problem.startswith(f"{path}:3: {field}: {says}"), problem


def test_valid_kubernetes_names_pass(tmp_path: Path) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        "runbooks: []\ncluster:\n  namespaces: [shop, team-2]\n  optInLabel: example.com/Opt_In.x\n"
        "leaderElection:\n  namespace: ops\n  leaseName: autonomic.leader-1\n"
    )
    settings = load_settings(path)
    assert settings.cluster.namespaces == ("shop", "team-2")
    assert settings.cluster.opt_in_label == "example.com/Opt_In.x"
    assert load_settings(None).cluster.opt_in_label == "autonomic.dev/enabled"


def test_a_canary_spec_problem_is_reported_at_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to be reported at the first line of the ``canary`` section."""
    text = (
        "canary:\n  period: 1m\n  spec:\n    metrics:\n      latency_p99:\n"
        "        kind: continuous\n        direction: sideways\n        tolerance: 10%\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [
        f"{path}:8: canary.spec.metrics.latency_p99.direction: must be 'increase' "
        "or 'decrease', the way that is a regression, got 'sideways'"
    ]


def test_a_canary_objective_problem_is_reported_at_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "canary:\n  spec:\n    metrics:\n      errors:\n        kind: ratio\n"
        "        numerator: errors\n        denominator: requests\n        objective: 5\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [
        f"{path}:9: canary.spec.metrics.errors.objective: a rate objective must be above 0 "
        "and below 1 (100%), got 5"
    ]


def test_a_latency_count_column_needs_a_query() -> None:
    """A count column is read like any other: without a query it is refused, naming it."""
    spec = {"metrics": {"latency_p99": {"count": "served", "objective": 0.5}}}
    with pytest.raises(ValidationError, match=r"no query for column\(s\) served"):
        CanarySettings(spec=spec)
    queries = {"latency_p99": "lat{d='$workload'}", "served": "req{d='$workload'}"}
    rollout = {"latency_p99": "lat{p='$replicaset'}", "served": "req{p='$replicaset'}"}
    settings = CanarySettings(spec=spec, queries=queries, rollout_queries=rollout)
    assert settings.queries["served"] == "req{d='$workload'}"


def test_a_load_or_canary_query_without_the_workload_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both used to pass: every workload was then scaled from one series, and a canary
    was read with the same query as its stable Deployment, compared with itself."""
    text = (
        "scaling:\n  loadQuery: sum(rate(http_requests_total{deployment='web'}[2m]))\n"
        "canary:\n  queries:\n"
        "    latency_p99: lat{deployment='$workload'}\n"
        "    errors: sum(increase(http_requests_total{code=~'5..'}[1m]))\n"
        "    requests: req{deployment='$workload'}\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert [p.split(": the ")[0] for p in problems] == [
        f"{path}:3: scaling.loadQuery",
        f"{path}:7: canary.queries.errors",
    ]
    assert all("must name the workload as $workload" in p for p in problems)


@pytest.mark.parametrize(
    ("name", "query", "words"),
    [
        ("queue depth", 'depth{deployment="$workload"}', "'queue depth' is not a plain name"),
        ("-queue", 'depth{deployment="$workload"}', "'-queue' is not a plain name"),
        ("q" * 64, 'depth{deployment="$workload"}', "1 to 63 letters"),
        ("queue", "sum(rate(msgs{deployment='worker'}[2m]))", "must name the workload"),
        ("queue", 'sum(rate(msgs{deployment="$workload"}[2m])', "not valid PromQL: the '('"),
    ],
)
def test_a_named_load_query_is_checked_as_the_load_query_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, query: str, words: str
) -> None:
    """``scaling.loadQueries`` (a workload picks one by name): each query must name the
    workload and be PromQL, and each name must be one an annotation can carry; the
    problem is reported at the entry's line, under its field."""
    fine = 'sum(rate(jobs_total{namespace="$namespace",deployment="$workload"}[2m]))'
    text = (
        "scaling:\n  loadQueries:\n"
        f"    jobs: {yaml.safe_dump(fine, width=1000).splitlines()[0]}\n"
        f"    {yaml.safe_dump(name).splitlines()[0]}: "
        f"{yaml.safe_dump(query, width=1000).splitlines()[0]}\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    (problem,) = problems
    assert problem.startswith(f"{path}:5: scaling.loadQueries.{name}: "), problem
    assert words in problem


def test_the_names_an_environment_override_of_a_load_query_can_reach(tmp_path: Path) -> None:
    """As docs/configuration.md says: a variable per name reaches ``queueDepth`` (and a
    name with '-' or '.', where the environment can hold the character), never a name
    with '_', which it adds beside the file's instead; the whole map as YAML reaches any."""
    q = 'sum(rate(m{namespace="$namespace",deployment="$workload"}[2m]))'
    path = tmp_path / "config.yaml"
    path.write_text(f"scaling:\n  loadQueries:\n    queue_depth: '{q}'\n")
    one = "AUTONOMIC__SCALING__LOAD_QUERIES__"
    names = {
        spelled: sorted(load_settings(path, {one + spelled: q}).scaling.load_queries)
        for spelled in ("QUEUE_DEPTH", "GRPC-LATENCY", "GRPC.V2")
    }
    assert names == {
        "QUEUE_DEPTH": ["queueDepth", "queue_depth"],
        "GRPC-LATENCY": ["grpc-latency", "queue_depth"],
        "GRPC.V2": ["grpc.v2", "queue_depth"],
    }
    whole = {one.rstrip("_"): f"{{queue_depth: '{q}', Web.v2: '{q}'}}"}
    assert sorted(load_settings(path, whole).scaling.load_queries) == ["Web.v2", "queue_depth"]


def test_a_rollout_query_that_selects_no_replicaset_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An Argo Rollout's canary and stable ReplicaSets are told apart only by their
    pod-template hash: a rollout query without $replicaset or $podTemplateHash would read
    the same series for both, and a canary compared with itself is always promoted."""
    text = (
        "canary:\n  rolloutQueries:\n"
        "    latency_p99: lat{pod=~'$replicaset-.*'}\n"
        "    errors: err{namespace='$namespace',rollout='$workload'}\n"
        "    requests: req{rollouts_pod_template_hash='$podTemplateHash'}\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    [problem] = problems
    assert problem.startswith(f"{path}:5: canary.rolloutQueries.errors: the query must select one ")
    assert "$replicaset" in problem and "$podTemplateHash" in problem


def test_rollout_queries_must_cover_the_spec_and_default_to_pod_names() -> None:
    with pytest.raises(ValidationError, match="no query for column"):
        CanarySettings(rollout_queries={"latency_p99": 'lat{pod=~"$replicaset-.*"}'})
    defaults = CanarySettings().rollout_queries
    assert set(defaults) == {"latency_p99", "errors", "requests"}
    assert all('pod=~"$replicaset-.*"' in query for query in defaults.values())


def test_a_canary_spec_problem_from_an_override_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to name the file's first line, where nothing about canaries is written."""
    monkeypatch.setenv("AUTONOMIC__CANARY__SPEC__METRICS", "5")
    path = tmp_path / "autonomic.yaml"
    path.write_text("mode: observe\nrunbooks: []\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, dict(os.environ))
    assert str(caught.value).splitlines()[1:] == [
        "  environment AUTONOMIC__CANARY__SPEC__METRICS: canary.spec.metrics: expected a "
        "non-empty mapping of metric name to settings"
    ]


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("safety.maxActionsPerHour", "no"),
        ("safety.stormThreshold", "on"),
        ("routing.auto", "yes"),
        ("routing.window", "true"),
        ("routing.siblingWeight", "off"),
        ("ledger.retentionDays", "yes"),
        ("alertmanager.maxBodyBytes", "yes"),
        ("scaling.quantile", "false"),
        ("server.port", "on"),
    ],
)
def test_a_yaml_boolean_is_not_taken_for_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, written: str
) -> None:
    """``maxActionsPerHour: no`` used to be read as 0 and ``auto: yes`` as 1.0."""
    section, key = field.split(".")
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: {written}\n", capsys)
    assert code == 2
    [problem] = problems
    assert problem.startswith(f"{path}:3: {field}: expected a number, got "), problem
    assert "as a boolean" in problem


def test_an_anomaly_threshold_of_yes_is_not_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "anomalyQueries:\n  - name: up\n    expr: up\n    threshold: yes\n"
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert [p.split(" got ")[0] for p in problems] == [
        f"{path}:5: anomalyQueries[0].threshold: expected a number,"
    ]


# Every number setting (durations are text on purpose: "5m"), with a valid value.
NUMBERS = [
    ("routing.auto", "0.9", False),
    ("routing.ask", "0.5", False),
    ("routing.targetWrongRate", "0.02", False),
    ("routing.window", "40", True),
    ("routing.priorStrength", "4", False),
    ("routing.siblingWeight", "0.5", False),
    ("routing.siblingCap", "10", False),
    ("routing.poolCap", "0.8", False),
    ("safety.maxActionsPerHour", "10", True),
    ("safety.stormThreshold", "10", True),
    ("ledger.retentionDays", "30", True),
    ("alertmanager.maxBodyBytes", "4096", True),
    ("scaling.quantile", "0.9", False),
    ("server.port", "9090", True),
    ("server.maxConnections", "64", True),
]


def test_every_number_setting_is_listed_here() -> None:
    from pydantic import BaseModel

    from agent import settings

    found = set()
    for section, info in settings.Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            found |= {
                f"{info.alias or section}.{field.alias or name}"
                for name, field in model.model_fields.items()
                if field.annotation in (int, float) and name not in settings._reads_own_text(model)
            }
    assert found == {field for field, _, _ in NUMBERS}


@pytest.mark.parametrize(("field", "written", "whole"), NUMBERS)
def test_a_quoted_number_is_refused_as_a_quoted_boolean_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, written: str, whole: bool
) -> None:
    """`auto: "0.9"` used to be taken as 0.9 while `enabled: "true"` was refused: text is
    not a number (as in runbooks), and the message says what to do."""
    section, key = field.split(".")
    code, path, _, problems = check(tmp_path, f'{section}:\n  {key}: "{written}"\n', capsys)
    assert code == 2
    expected = "a whole number" if whole else "a number"
    assert problems == [
        f'{path}:3: {field}: expected {expected}, got the string "{written}" (remove the quotes)'
    ]
    code, _, out, _ = check(tmp_path, f"{section}:\n  {key}: {written}\n", capsys)
    assert code == 0, out


def test_text_that_is_no_number_is_named_without_the_quotes_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "routing:\n  auto: high\n  window: '50.5'\n"
        "anomalyQueries:\n  - name: up\n    expr: up\n    threshold: '0.8'\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert sorted(problems) == [
        f'{path}:3: routing.auto: expected a number, got the string "high"',
        f'{path}:4: routing.window: expected a whole number, got the string "50.5"',
        f'{path}:8: anomalyQueries[0].threshold: expected a number, got the string "0.8" '
        "(remove the quotes)",
    ]


def test_durations_stay_text_and_numbers_may_use_exponents(tmp_path: Path) -> None:
    """Durations are written as text on purpose; `1e-3` unquoted is a number (YAML 1.2,
    as in runbooks), which PyYAML's YAML 1.1 would have left as text and so refused."""
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        "runbooks: []\nsafety:\n  cooldown: '5m'\n  stormCooldown: \"900\"\n"
        "scaling:\n  metricLag: 30s\n"
        "routing:\n  targetWrongRate: 1e-3\n  priorStrength: 2.5E1\n",
        encoding="utf-8",
    )
    settings = load_settings(path, {})
    assert (settings.safety.cooldown, settings.safety.storm_cooldown) == (300.0, 900.0)
    assert settings.scaling.metric_lag == 30.0
    assert (settings.routing.target_wrong_rate, settings.routing.prior_strength) == (0.001, 25.0)


def test_numbers_from_environment_overrides_still_work(tmp_path: Path) -> None:
    """An override is text by nature and is read as YAML: a number stays a number; only a
    value quoted inside the variable is text."""
    settings = load_settings(
        None,
        {
            "AUTONOMIC__ROUTING__AUTO": "0.9",
            "AUTONOMIC__ROUTING__TARGET_WRONG_RATE": "1e-3",
            "AUTONOMIC__SERVER__PORT": "9090",
            "AUTONOMIC__SAFETY__COOLDOWN": "5m",
        },
    )
    assert (settings.routing.auto, settings.routing.target_wrong_rate) == (0.9, 0.001)
    assert (settings.server.port, settings.safety.cooldown) == (9090, 300.0)
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"AUTONOMIC__ROUTING__AUTO": '"0.9"'})
    assert (
        "environment AUTONOMIC__ROUTING__AUTO: routing.auto: expected a number, got the "
        'string "0.9" (remove the quotes)'
    ) in str(raised.value)


def test_booleans_from_environment_overrides_still_work(tmp_path: Path) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text("mode: observe\n", encoding="utf-8")
    on = load_settings(path, {"AUTONOMIC__SAFETY__PAUSED": "true"})
    assert on.safety.paused is True
    off = load_settings(path, {"AUTONOMIC__SCALING__ENABLED": "False"})
    assert off.scaling.enabled is False
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {"AUTONOMIC__SAFETY__PAUSED": "maybe"})
    assert (
        "environment AUTONOMIC__SAFETY__PAUSED: safety.paused: expected true or false "
        "(unquoted), got 'maybe'"
    ) in str(raised.value)


def test_a_zero_duration_from_an_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"AUTONOMIC__PROMETHEUS__TIMEOUT": "0"})
    assert "environment AUTONOMIC__PROMETHEUS__TIMEOUT: prometheus.timeout: must be longer" in (
        str(raised.value)
    )


# ---------------------------------------------------------------------- kubeconfig


def test_a_valid_kubeconfig_and_context_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    text = f"cluster:\n  kubeconfig: {kubeconfig}\n  context: prod\n"
    code, path, out, problems = check(tmp_path, text, capsys)
    assert (code, problems) == (0, [])
    assert out.startswith(f"{path}: OK")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "{kc} does not exist (set cluster.kubeconfig to a kubeconfig file)"),
        ("dir", "{kc} is a directory, not a kubeconfig file"),
        (b"\xff\xfe\x00binary", "{kc} is not a kubeconfig: it is not UTF-8 text"),
        ("clusters: [\n", "{kc} is not a kubeconfig: it is not valid YAML (line 2)"),
        ("- a list\n", "{kc} is not a kubeconfig: expected a mapping with clusters and contexts"),
        (
            "apiVersion: v1\nkind: Config\n",
            "{kc} is not a kubeconfig: it lists no clusters or contexts",
        ),
        (
            KUBECONFIG.replace("current-context: prod\n", ""),
            "{kc} sets no current-context: set cluster.context to one of prod",
        ),
        (
            KUBECONFIG.replace("current-context: prod", "current-context: staging"),
            "no context 'staging' (its current-context) in {kc}; it has prod",
        ),
    ],
)
def test_a_bad_kubeconfig_fails_the_check_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes | None,
    expected: str,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content == "dir":
        kubeconfig.mkdir()
    elif isinstance(content, bytes):
        kubeconfig.write_bytes(content)
    elif content is not None:
        kubeconfig.write_text(content, encoding="utf-8")
    code, path, _, problems = check(
        tmp_path, f"mode: observe\ncluster:\n  kubeconfig: {kubeconfig}\n", capsys
    )
    assert code == 2
    assert problems == [f"{path}:4: cluster.kubeconfig: {expected.format(kc=kubeconfig)}"]
    assert "abc" not in " ".join(problems)  # never the file's content (its token)


def test_a_context_the_kubeconfig_lacks_is_reported_at_cluster_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    text = f"cluster:\n  kubeconfig: {kubeconfig}\n  context: staging\n"
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [
        f"{path}:4: cluster.context: no context 'staging' in {kubeconfig}; it has prod"
    ]


def test_in_cluster_ignores_the_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"cluster:\n  inCluster: true\n  kubeconfig: {tmp_path / 'nowhere'}\n"
    code, _, _, problems = check(tmp_path, text, capsys)
    assert (code, problems) == (0, [])


def test_merged_kubeconfigs_are_checked_each(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text(KUBECONFIG, encoding="utf-8")
    second.write_text(KUBECONFIG.replace("prod", "staging"), encoding="utf-8")
    both = Path(f"{first}{os.pathsep}{second}")
    assert kubeconfig_problem(both, "staging") is None
    assert kubeconfig_problem(both, None) is None  # the first file's current-context
    missing = Path(f"{first}{os.pathsep}{tmp_path / 'c'}")
    assert kubeconfig_problem(missing, None) == (
        f"{tmp_path / 'c'} does not exist (set cluster.kubeconfig to a kubeconfig file)"
    )


LIST = "expected a list, such as [a, b] or one '- item' per line"
MAPPING = "expected a mapping, such as {key: value} or one 'key: value' per line"


@pytest.mark.parametrize(
    ("text", "line", "field", "says"),
    [
        ("cluster:\n  namespaces: shop\n", 3, "cluster.namespaces", f"{LIST} (got 'shop')"),
        ("cluster: prod\n", 2, "cluster", f"{MAPPING} (got 'prod')"),
        ("anomalyQueries:\n  - up\n", 3, "anomalyQueries[0]", f"{MAPPING} (got 'up')"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_shape_is_named_in_yaml_terms(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    line: int,
    field: str,
    says: str,
) -> None:
    # pydantic's own words were "a valid tuple" and "a valid dictionary or instance of
    # ClusterSettings": a Python type and a class name the file never shows
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [f"{path}:{line}: {field}: {says}"]


def test_runbooks_written_as_one_path_asks_for_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text("mode: propose\nrunbooks: runbooks\n", encoding="utf-8")
    assert autonomic(["config", "check", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"autonomic: error: invalid configuration:\n  {path}:2: runbooks: {LIST} (got 'runbooks')\n"
    )


@pytest.mark.parametrize(
    ("window", "field", "says"),
    [
        ("dates: [2026-12-24]", "dates[0]", f"{MAPPING} (got '2026-12-24')"),
        (
            "weekly: [{days: [Funday], start: '22:00', end: '02:00'}]",
            "weekly[0].days[0]",
            "must be 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat' or 'Sun', got 'Funday'",
        ),
    ],
)
def test_a_bad_list_item_is_one_problem_not_also_an_empty_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], window: str, field: str, says: str
) -> None:
    # the lists holding the bad item were also reported as having "at least 1 item after
    # validation, not 0", although each holds one; the runbook loader leaves those out
    text = f"safety:\n  freezeWindows:\n    - {{name: x, timezone: UTC, {window}}}\n"
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [f"{path}:4: safety.freezeWindows[0].{field}: {says}"]


WHOLE = [(field, written) for field, written, whole in NUMBERS if whole]


@pytest.mark.parametrize(("field", "written"), WHOLE)
def test_a_fraction_for_a_whole_number_setting_is_refused_as_in_runbooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, written: str
) -> None:
    """`window: 50.0` used to be taken as 50 (pydantic's lax mode) while a runbook's
    `maxReplicas: 10.0` is refused: a whole-number setting takes a whole number, and the
    message says what to write."""
    section, key = field.split(".")
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: {written}.0\n", capsys)
    assert code == 2
    assert problems == [
        f"{path}:3: {field}: expected a whole number, got {written}.0 (write it as {written})"
    ]
    code, path, _, problems = check(tmp_path, f"{section}:\n  {key}: {written}.5\n", capsys)
    assert code == 2
    assert problems == [f"{path}:3: {field}: expected a whole number, got {written}.5"]


def test_a_fraction_in_an_override_names_the_variable_and_a_number_setting_takes_a_whole(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"AUTONOMIC__SERVER__PORT": "9090.0"})
    assert (
        "environment AUTONOMIC__SERVER__PORT: server.port: expected a whole number, got "
        "9090.0 (write it as 9090)"
    ) in str(raised.value)
    # A number setting takes a whole number as it is: 4 is 4.0.
    path = tmp_path / "autonomic.yaml"
    path.write_text("routing:\n  priorStrength: 4\n  auto: 1\n  ask: 0\n", encoding="utf-8")
    routing = load_settings(path, {}).routing
    assert (routing.prior_strength, routing.auto, routing.ask) == (4.0, 1.0, 0.0)


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "config",
    [
        "docs/example-config.yaml",
        "manifests/config/autonomic.yaml",
        "tests/e2e/overlay/autonomic.yaml",
    ],
)
def test_every_shipped_config_still_loads(config: str) -> None:
    """The stricter numbers refuse nothing the project ships, and the file's values are
    the ones loaded (not the defaults)."""
    written = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    settings = load_settings(ROOT / config, {})
    assert (settings.mode, settings.cluster.name) == (written["mode"], written["cluster"]["name"])


def test_slack_ids_that_run_would_refuse_fail_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``slack.approvers`` and ``slack.oncallGroup`` were checked only when ``run`` built
    the Slack adapter (a start-up error with no file or line) while ``config check``
    said OK: a name or @handle there is now refused at its line by both."""
    text = "slack:\n  approvers: [U012ABCDEF, '@alice']\n  oncallGroup: '@oncall'\n"
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [
        f"{path}:3: slack.approvers[1]: expected a Slack user id (U… or W…) or user group id "
        "(S…), not a name or @handle (got '@alice')",
        f"{path}:4: slack.oncallGroup: expected a Slack user group id (S…), not a name, "
        "@handle or user id: escalations mention the group by its id (got '@oncall')",
    ]
    # A user id is not a group: escalations mention <!subteam^ID>, which a U… is not.
    code, path, _, problems = check(tmp_path, "slack:\n  oncallGroup: U012ABCDEF\n", capsys)
    assert code == 2 and problems[0].startswith(f"{path}:3: slack.oncallGroup: expected")
    # Ids of the right shapes pass.
    text = "slack:\n  approvers: [U012ABCDEF, W0ALICE1, S0ONCALL1]\n  oncallGroup: S0ONCALL1\n"
    assert check(tmp_path, text, capsys)[0] == 0


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            "routing:\n  window: 10\n  auto: 0.5\n  ask: 0.9\n",
            5,
            "routing.ask",
            "routing.ask (0.9) must not exceed routing.auto (0.5)",
        ),
        (
            "routing:\n  auto: 0.9\n  memory: 30m\n",
            4,
            "routing.memory",
            "routing.memory must be at least 1h, got 1800 s",
        ),
        (
            "leaderElection:\n  namespace: ops\n  leaseDuration: 5s\n",
            4,
            "leaderElection.leaseDuration",
            "leaderElection needs retryPeriod < renewDeadline < leaseDuration, got 2 s, 10 s, 5 s",
        ),
        (
            "leaderElection:\n  namespace: ops\n  retryPeriod: 12s\n  leaseDuration: 20s\n",
            4,  # at the one of the two out of order that the file writes
            "leaderElection.retryPeriod",
            "leaderElection needs retryPeriod < renewDeadline < leaseDuration, got 12 s, "
            "10 s, 20 s",
        ),
        (
            "cluster:\n  name: prod\n  namespaces: [shop, web]\n  excludeNamespaces:\n"
            "    - kube-system\n    - web\n",
            7,
            "cluster.excludeNamespaces[1]",
            "cluster.namespaces lists web, which cluster.excludeNamespaces also lists",
        ),
    ],
)
def test_a_rule_across_keys_is_reported_at_the_key_to_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    line: int,
    field: str,
    message: str,
) -> None:
    """These were reported at the section, at the line of its first key (`window: 10`
    for an `ask` above `auto`), which is not the line to fix."""
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line}: {field}: {message}"), problems


def test_a_config_without_runbooks_says_none_will_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``runbooks: []`` printed ``runbooks: 0 valid in`` and nothing after it."""
    code, _, out, _ = check(tmp_path, "mode: observe\n", capsys)
    assert code == 0
    assert "  runbooks: none (runbooks: [] names no folder or file: no runbook will run)\n" in out


def test_a_missing_relative_kubeconfig_says_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # read from where the command runs, unlike runbooks (beside the config): it said only
    # "kube.yaml does not exist", true in one folder and not in another
    monkeypatch.chdir(tmp_path)
    assert kubeconfig_problem(Path("kube.yaml"), None) == (
        f"kube.yaml (in {tmp_path}) does not exist (set cluster.kubeconfig to a kubeconfig file)"
    )
    (tmp_path / "kube.yaml").write_text(KUBECONFIG, encoding="utf-8")
    assert kubeconfig_problem(Path("kube.yaml"), None) is None


def test_scheduled_floors_are_read_and_their_problems_placed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scheduled floor is written as a freeze window is, with a name, the workloads
    and minReplicas; each problem names its line and field."""
    text = (
        "scaling:\n"
        "  scheduledFloors:\n"
        "    - name: monday-open\n"
        "      workloads: [shopcheckout]\n"
        "      minReplicas: '20'\n"
        "      timezone: Europe/Paris\n"
        "      weekly: [{days: [Mon], start: '08:00', end: '10:00'}]\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert problems == [
        f"{path}:5: scaling.scheduledFloors[0].workloads[0]: 'shopcheckout' names no "
        "workload; write 'namespace/name' (e.g. 'shop/checkout'), or 'Kind/namespace/name' "
        "with a Kind of Deployment, StatefulSet, Rollout",
        f"{path}:6: scaling.scheduledFloors[0].minReplicas: expected a whole number, got "
        'the string "20" (remove the quotes)',
    ]


def test_a_scheduled_floor_that_can_set_nothing_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "scaling:\n"
        "  enabled: false\n"
        "  scheduledFloors:\n"
        "    - name: leap\n"
        "      workloads: [shop/checkout]\n"
        "      minReplicas: 5000\n"
        "      timezone: UTC\n"
        "      cron: '0 8 30 2 *'\n"
        "      duration: 1h\n"
    )
    code, _, out, _ = check(tmp_path, text, capsys)
    assert code == 0
    warnings = [line.strip() for line in out.splitlines() if "scheduledFloors" in line]
    assert warnings == [
        "warning: scaling.scheduledFloors[0] (leap): scaling.enabled is false, so no "
        "scheduled floor is set",
        "warning: scaling.scheduledFloors[0] (leap): minReplicas 5000 is above 1000, the "
        "most replicas the loop sets without an HPA or an autonomic.dev/max-replicas "
        "annotation; with an HPA its maxReplicas caps the floor",
        "warning: scaling.scheduledFloors[0] (leap): its cron never starts (February never "
        "has a day 30), so it never sets a floor",
    ]


def dated_floor(*ranges: tuple[str, str]) -> str:
    """A config with one scheduled floor, ``black-friday``, open over ``ranges``."""
    dates = ", ".join(f"{{start: '{start}', end: '{end}'}}" for start, end in ranges)
    return (
        "scaling:\n"
        "  scheduledFloors:\n"
        "    - name: black-friday\n"
        "      workloads: [shop/checkout]\n"
        "      minReplicas: 40\n"
        "      timezone: Europe/Paris\n"
        f"      dates: [{dates}]\n"
    )


def test_a_scheduled_floor_whose_dates_are_all_past_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Left over from an event long gone: its window never opens again. It was taken
    without a word; it is a warning (the config is valid, the entry merely stale)."""
    text = dated_floor(("2020-11-27T06:00", "2020-11-27T23:00"), ("2020-11-30", "2020-12-01"))
    code, _, out, _ = check(tmp_path, text, capsys)
    assert code == 0
    warnings = [line.strip() for line in out.splitlines() if "scheduledFloors" in line]
    assert warnings == [
        "warning: scaling.scheduledFloors[0] (black-friday): its dates are all past (the "
        "last ended 2020-11-30 23:00:00 UTC), so it never sets a floor again; remove it "
        "once the event is over"
    ]


@pytest.mark.parametrize(
    "ranges",
    [
        [("2099-11-27T06:00", "2099-11-27T23:00")],
        [("2020-11-27T06:00", "2020-11-27T23:00"), ("2099-11-27", "2099-11-28")],
    ],
)
def test_a_scheduled_floor_with_dates_still_ahead_is_not_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ranges: list[tuple[str, str]]
) -> None:
    code, _, out, _ = check(tmp_path, dated_floor(*ranges), capsys)
    assert code == 0
    assert "scheduledFloors" not in out, out


def test_past_dates_are_judged_against_now_to_the_second() -> None:
    """The last range ends at 2026-11-28 00:00 Paris time (23:00 UTC the day before):
    not yet past a second before, past from that instant on."""
    from datetime import UTC, datetime

    from agent.settings import Settings, advisories

    settings = Settings.model_validate(
        yaml.safe_load(dated_floor(("2026-11-27T06:00", "2026-11-28")))
    )
    end = datetime(2026, 11, 27, 23, 0, tzinfo=UTC).timestamp()
    assert not [n for n in advisories(settings, now=end - 1) if "black-friday" in n]
    assert [n for n in advisories(settings, now=end) if "black-friday" in n] == [
        "scaling.scheduledFloors[0] (black-friday): its dates are all past (the last ended "
        "2026-11-27 23:00:00 UTC), so it never sets a floor again; remove it once the event "
        "is over"
    ]


def test_an_anomaly_volume_gate_is_checked_at_its_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``minVolume`` needs its PromQL and a finite number above 0, each named at its
    line; a good one passes."""
    text = (
        "anomalyQueries:\n"
        "  - name: errors\n"
        "    expr: up\n"
        "    minVolume:\n"
        "      query: sum(rate(x[5min]))\n"
        "      atLeest: 3\n"
        "  - name: latency\n"
        "    expr: up\n"
        "    minVolume: {query: up, atLeast: .inf}\n"
        "  - name: slow\n"
        "    expr: up\n"
        "    minVolume: {query: up, atLeast: 0}\n"
        "  - name: five\n"
        "    expr: up\n"
        "    minVolume: 5\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert [p.split(" (got")[0].split(" (did")[0] for p in problems] == [
        f"{path}:6: anomalyQueries[0].minVolume.query: not valid PromQL: [5min] is not a "
        "range: durations are a whole number and a unit (ms, s, m, h, d, w, y), such as "
        "[30s], [5m] or [1h30m] (column 11)",
        f"{path}:6: anomalyQueries[0].minVolume.atLeast: required key is missing",
        f"{path}:7: anomalyQueries[0].minVolume.atLeest: unknown key",
        f"{path}:10: anomalyQueries[1].minVolume.atLeast: must be a finite number above 0, got inf",
        f"{path}:13: anomalyQueries[2].minVolume.atLeast: must be more than 0, got 0",
        f"{path}:16: anomalyQueries[3].minVolume: expected a mapping, such as {{key: value}} "
        "or one 'key: value' per line",
    ]
    good = "anomalyQueries:\n  - name: errors\n    expr: up\n"
    good += "    minVolume: {query: up, atLeast: 0.5}\n"
    code, _, out, _ = check(tmp_path, good, capsys)
    assert code == 0, out


@pytest.mark.parametrize("written", ["yes", "no", "true"])
def test_a_scheduled_floors_min_replicas_of_yes_is_worded_as_every_whole_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str
) -> None:
    """A scheduled floor is read by the strict window schema, not the configuration's own
    number check: ``minReplicas: yes`` said pydantic's "Input should be a valid integer
    (got True)" where ``maxActionsPerHour: yes`` says what YAML did with it."""
    text = (
        "safety:\n"
        f"  maxActionsPerHour: {written}\n"
        "scaling:\n"
        "  scheduledFloors:\n"
        "    - name: monday-open\n"
        "      workloads: [shop/checkout]\n"
        f"      minReplicas: {written}\n"
        "      timezone: Europe/Paris\n"
        "      weekly: [{days: [Mon], start: '08:00', end: '10:00'}]\n"
    )
    code, path, _, problems = check(tmp_path, text, capsys)
    assert code == 2
    shown = {"yes": "true", "true": "true", "no": "false"}[written]
    words = (
        f"expected a number, got {shown} (YAML reads an unquoted yes, no, on, off, true or "
        "false as a boolean)"
    )
    assert problems == [
        f"{path}:3: safety.maxActionsPerHour: {words}",
        f"{path}:8: scaling.scheduledFloors[0].minReplicas: {words}",
    ]
