"""Bad input to `run`, `simulate`, `runbooks schema` and `thresholds set`: a clear error
(exit 2, ``autonomic: error: ...`` naming the file or flag), no traceback, nothing lost,
and checked before anything long runs."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

import pytest

import agent.daemon
import agent.sim.report
import agent.sim.run
from agent.cli import build_parser, main
from agent.cli.run_cmd import run_once
from agent.errors import ConfigError, PermanentError, TransientError
from agent.observability import Metrics
from agent.runtime import AlwaysLeader, Job
from agent.settings import Settings

SHORT = Path(__file__).resolve().parents[2] / "integration" / "simulate" / "short.yaml"
RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"
KNOWN_EVENT = Path(__file__).resolve().parents[3] / "docs" / "examples" / "known-event.yaml"
MAPPING = (
    "{f}:1: not a scenario: a scenario is a YAML mapping with apiVersion, kind, metadata "
    "and spec, got "
)


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith("autonomic: error: "), captured.err
    return captured.err


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that should stop `simulate` before it runs fails the test if it does not."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the simulation started although its input was bad")

    monkeypatch.setattr(agent.sim.run, "Simulation", refuse)


# ---------------------------------------------------------------- simulate: --days


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize("days", ["0", "-1", "60.5", "nan"])
def test_days_out_of_range_says_the_range_it_takes(
    days: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 is refused, so "between 0 and 60" was not the range; the value as given."""
    assert main(["simulate", "--quiet", "--days", days]) == 2
    shown = f"{float(days):g}"
    assert _error(capsys) == (
        f"autonomic: error: --days must be more than 0 and at most 60, got {shown}\n"
    )


# ---------------------------------------------------------------- simulate: outputs


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize(
    ("flag", "path", "expected"),
    [
        (
            "--report",
            "missing/r.html",
            "--report {tmp}/missing/r.html: the folder {tmp}/missing does not exist",
        ),
        (
            "--report",
            "adir",
            "--report {tmp}/adir: is a directory; give a file such as "
            "{tmp}/adir/autonomic-report.html",
        ),
        ("--report", "afile/r.html", "--report {tmp}/afile/r.html: {tmp}/afile is not a folder"),
        (
            "--ledger",
            "missing/l.sqlite",
            "--ledger {tmp}/missing/l.sqlite: the folder {tmp}/missing does not exist",
        ),
        (
            "--ledger",
            "adir",
            "--ledger {tmp}/adir: is a directory; give a file such as {tmp}/adir/ledger.sqlite",
        ),
    ],
)
def test_simulate_checks_where_it_writes_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, path: str, expected: str
) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    args = ["simulate", "--quiet", "--scenario", str(SHORT), flag, str(tmp_path / path)]
    if flag == "--ledger":
        args += ["--report", str(tmp_path / "report.html")]
    assert main(args) == 2
    assert _error(capsys).strip() == f"autonomic: error: {expected.format(tmp=tmp_path)}"


@pytest.mark.usefixtures("no_simulation")
def test_simulate_will_not_write_its_report_over_its_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SHORT.read_text())
    assert main(["simulate", "--scenario", str(scenario), "--report", str(scenario)]) == 2
    assert "is also an input of this command" in _error(capsys)
    assert scenario.read_text() == SHORT.read_text()


def test_a_report_that_fails_to_write_after_the_run_is_kept_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report.html"
    original = agent.sim.report.write_html

    def full_disk(result: Any, summary: Any, path: Path, **kwargs: Any) -> None:
        if path == report:
            raise OSError(28, "No space left on device", str(path))
        original(result, summary, path, **kwargs)

    monkeypatch.setattr(agent.sim.report, "write_html", full_disk)
    argv = ["simulate", "--quiet", "--scenario", str(SHORT), "--days", "0.05"]
    assert main([*argv, "--report", str(report)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"autonomic: error: --report {report}: No space left on device; the report was " in (
        captured.err
    )
    kept = Path(captured.err.split("written to ")[1].split(" instead")[0])
    assert kept.name == "autonomic-report.html" and "<svg" in kept.read_text()
    assert f"Report: {kept}" in captured.out
    assert not report.exists()


def test_the_summary_ends_with_how_to_read_its_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the summary lists decisions without their ids, which `explain` needs
    ledger = tmp_path / "sim.sqlite"
    argv = ["simulate", "--quiet", "--scenario", str(SHORT), "--days", "0.05"]
    assert main([*argv, "--report", str(tmp_path / "r.html"), "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        f"Ledger: {ledger}\n"
        f"Next: autonomic history --since all --ledger {ledger}\n"
        "        every decision, newest first, with its id (the ledger keeps the trace's\n"
        "        clock: a window counted back from now finds nothing in it)\n"
        f"      autonomic why SUBJECT --ledger {ledger}\n"
        "        what runbooks held back from, and what was decided, about one object\n"
        "        (SUBJECT: Deployment/shop/frontend, shop/frontend), with each decision's id\n"
        "        (the report lists them too)\n"
        f"      autonomic explain ID --ledger {ledger}\n"
        "        the story of one decision, from signal to outcome\n"
    )
    # the commands given work as written, and history lists the run's decisions
    assert main(["why", "--ledger", str(ledger)]) == 0
    capsys.readouterr()
    assert main(["history", "--since", "all", "--ledger", str(ledger)]) == 0
    assert capsys.readouterr().out.startswith("Decisions in the ledger, newest first")


def test_the_next_steps_name_a_workload_of_the_scenario_run(tmp_path: Path) -> None:
    # the hint always said shop/cart, which docs/examples/known-event.yaml (one workload,
    # shop/web) does not have: `why shop/cart` on its ledger found nothing
    from agent.cli.simulate_cmd import _next_steps
    from agent.sim.scenario import load_scenario

    hint = _next_steps(tmp_path / "l.sqlite", load_scenario(KNOWN_EVENT))
    assert "(SUBJECT: Deployment/shop/web, shop/web)" in hint
    assert "cart" not in hint


# ----------------------------------------------------------- simulate: scenario, runbooks


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "{f}: not a scenario: a scenario is a YAML file (UTF-8 text), but byte 0 is not UTF-8",
        ),
        (
            b"- 1\n- 2\n",
            MAPPING + "a list",
        ),
        (
            b"",
            MAPPING + "an empty file",
        ),
        (
            b"just words\n",
            MAPPING + "a plain string",
        ),
    ],
)
def test_a_scenario_that_is_not_a_yaml_mapping_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    scenario = tmp_path / "garbage.csv"
    scenario.write_bytes(content)
    assert main(["simulate", "--scenario", str(scenario), "--report", str(tmp_path / "r")]) == 2
    assert _error(capsys).strip() == f"autonomic: error: {expected.format(f=scenario)}"


@pytest.mark.usefixtures("no_simulation")
def test_broken_runbooks_are_listed_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.yaml").write_text("apiVersion: nope\n")
    duplicate = tmp_path / "duplicate"
    duplicate.mkdir()
    first = sorted(RUNBOOKS.glob("*.yaml"))[0]
    (duplicate / first.name).write_text(first.read_text())
    (duplicate / "zz-copy.yaml").write_text(first.read_text())
    base = ["simulate", "--scenario", str(SHORT), "--report", str(tmp_path / "r.html")]

    assert main([*base, "--runbooks", str(empty)]) == 2
    assert _error(capsys) == (
        f"autonomic: error: invalid runbooks in {empty}:\n1 problem in runbooks:\n"
        f"  {empty}: no .yaml or .yml runbook files here\n"
    )
    assert main([*base, "--runbooks", str(broken)]) == 2
    err = _error(capsys)
    assert f"invalid runbooks in {broken}:" in err
    assert f"{broken / 'a.yaml'}:1: apiVersion: " in err
    assert main([*base, "--runbooks", str(duplicate)]) == 2
    err = _error(capsys)
    assert f"{duplicate / 'zz-copy.yaml'}:" in err and "is already used at " in err


# ---------------------------------------------------------------- runbooks schema -o


def test_runbooks_schema_output_errors_name_the_flag_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()
    assert main(["runbooks", "schema", "-o", str(folder)]) == 2
    assert _error(capsys) == (
        f"autonomic: error: --output {folder}: is a directory; give a file such as "
        f"{folder / 'runbook.schema.json'}\n"
    )
    missing = tmp_path / "nonexist" / "x.json"
    assert main(["runbooks", "schema", "-o", str(missing)]) == 2
    assert _error(capsys) == (
        f"autonomic: error: --output {missing}: {missing.parent} does not exist\n"
    )
    written = tmp_path / "runbook.schema.json"
    assert main(["runbooks", "schema", "-o", str(written)]) == 0
    assert written.read_text().lstrip().startswith("{")


# ------------------------------------------------------------------------------ run


def test_run_log_format_is_json_unless_text_is_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    assert parser.parse_args(["run"]).log_format == "json"
    assert parser.parse_args(["run", "--log-format", "text"]).log_format == "text"
    with pytest.raises(SystemExit) as exited:
        main(["run", "--once", "--log-format", "logfmt"])
    assert exited.value.code == 2
    assert "argument --log-format: invalid choice: 'logfmt'" in capsys.readouterr().err


def test_run_log_level_is_a_choice_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--log-level", "debug"]).log_level == "DEBUG"
    assert parser.parse_args(["run"]).log_level == "INFO"
    with pytest.raises(SystemExit) as exited:
        main(["run", "--once", "--log-level", "BOGUS"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --log-level: invalid choice: 'BOGUS'" in err
    assert "'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["binary", "directory", "missing"])
def test_run_refuses_a_bad_kubeconfig_before_starting(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    def no_daemon(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the daemon was built with a bad kubeconfig")

    monkeypatch.setattr(agent.daemon, "build_daemon", no_daemon)
    kubeconfig = tmp_path / "kubeconfig"
    if kind == "binary":
        kubeconfig.write_bytes(b"\xff\xfe\x00\x01")
    elif kind == "directory":
        kubeconfig.mkdir()
    config = tmp_path / "autonomic.yaml"
    config.write_text(f"mode: observe\ncluster:\n  kubeconfig: {kubeconfig}\nrunbooks: []\n")
    assert main(["run", "--config", str(config), "--once"]) == 2
    err = _error(capsys)
    expected = {
        "binary": "is not a kubeconfig: it is not UTF-8 text",
        "directory": "is a directory, not a kubeconfig file",
        "missing": "does not exist (set cluster.kubeconfig to a kubeconfig file)",
    }[kind]
    assert err == (
        f"autonomic: error: invalid configuration:\n"
        f"  {config}:3: cluster.kubeconfig: {kubeconfig} {expected}\n"
    )


NO_DEFAULT_KUBECONFIG = (
    "no kubeconfig at {home}/.kube/config (the default); set cluster.kubeconfig or "
    "$KUBECONFIG, or cluster.inCluster: true in a pod"
)
NOT_A_POD = (
    "cluster.inCluster is true, but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
    "are not set (Kubernetes sets both in every pod): this is not a pod; outside a "
    "cluster, set cluster.inCluster: false and name a kubeconfig"
)


def _no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no ~/.kube/config, no $KUBECONFIG, and not a pod."""
    from kubernetes.config import kube_config

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", "~/.kube/config")


@pytest.mark.parametrize(
    ("cluster", "said"), [("", NO_DEFAULT_KUBECONFIG), ("inCluster: true", NOT_A_POD)]
)
def test_run_without_kubernetes_credentials_stops_before_creating_the_ledger(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cluster: str,
    said: str,
) -> None:
    """`run` opened (created) its SQLite ledger and only then found no credentials (and,
    in-cluster outside a pod, said only the client's "Service host/port is not set.")."""
    _no_credentials(tmp_path, monkeypatch)
    ledger = tmp_path / "ledger.sqlite"
    config = tmp_path / "autonomic.yaml"
    config.write_text(
        f"mode: observe\nrunbooks: []\nledger:\n  url: sqlite:///{ledger}\n"
        + (f"cluster:\n  {cluster}\n" if cluster else "")
    )
    assert main(["run", "--config", str(config), "--once"]) == 2
    assert _error(capsys) == (
        f"autonomic: error: cannot load Kubernetes credentials: {said.format(home=tmp_path)}\n"
    )
    assert not ledger.exists()


def test_credentials_that_fail_to_load_stop_the_daemon_before_its_ledger_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the checks (a kubeconfig the client still refuses: here a context with no
    cluster entry), the client is loaded before the ledger is opened."""
    from agent.settings import load_settings

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "contexts: [{name: ctx, context: {cluster: elsewhere, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\ncurrent-context: ctx\n"
    )
    ledger = tmp_path / "ledger.sqlite"
    config = tmp_path / "autonomic.yaml"
    config.write_text(
        f"runbooks: []\nledger:\n  url: sqlite:///{ledger}\ncluster:\n  kubeconfig: {kubeconfig}\n"
    )
    with pytest.raises(ConfigError, match="cannot load Kubernetes credentials from the kubeconfig"):
        agent.daemon.build_daemon(load_settings(config), {})
    assert not ledger.exists()


def test_no_kubeconfig_names_the_path_tried_and_how_to_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import kube_config

    from agent.adapters.kubernetes import load_api_client

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", "~/.kube/config")
    with pytest.raises(ConfigError) as raised:
        load_api_client()
    assert str(raised.value) == (
        f"cannot load Kubernetes credentials: no kubeconfig at {tmp_path}/.kube/config "
        "(the default); set cluster.kubeconfig or $KUBECONFIG, or cluster.inCluster: true "
        "in a pod"
    )


def test_a_missing_kubeconfig_named_by_the_environment_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$KUBECONFIG names the file the client reads when the config names none: the
    error says the path came from there, not that it is "the default"."""
    from kubernetes.config import kube_config

    from agent.adapters.kubernetes import load_api_client

    missing = str(tmp_path / "gone.yaml")
    monkeypatch.setenv("KUBECONFIG", missing)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", missing)
    with pytest.raises(ConfigError) as raised:
        load_api_client()
    assert str(raised.value) == (
        f"cannot load Kubernetes credentials: no kubeconfig at {missing} ($KUBECONFIG); "
        "set $KUBECONFIG to an existing file, or cluster.kubeconfig"
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("binary", "not a kubeconfig (not UTF-8 YAML)"),
        ("directory", "Is a directory"),
        ("not-yaml", "not a kubeconfig (not UTF-8 YAML)"),
    ],
)
def test_the_kube_client_turns_a_broken_kubeconfig_into_a_config_error(
    tmp_path: Path, make: str, expected: str
) -> None:
    from agent.adapters.kubernetes import load_api_client

    kubeconfig = tmp_path / "kubeconfig"
    if make == "binary":
        kubeconfig.write_bytes(b"\xff\xfe\x00\x01")
    elif make == "directory":
        kubeconfig.mkdir()
    else:
        kubeconfig.write_text("clusters: [\n  token: secret-abc\n")
    with pytest.raises(ConfigError) as raised:
        load_api_client(kubeconfig=str(kubeconfig))
    message = str(raised.value)
    assert message == (
        f"cannot load Kubernetes credentials from the kubeconfig {kubeconfig} "
        f"(cluster.kubeconfig): {expected}"
    )
    assert "secret-abc" not in message


class _Runtime:
    """What ``run_once`` needs of ``Runtime``."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.metrics = Metrics()
        self.gate = AlwaysLeader()
        self.stopped = threading.Event()

    def on_stop(self) -> None:
        self.stopped.set()


def test_run_once_exits_1_naming_the_jobs_that_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refused() -> None:
        raise TransientError("list pods failed (network failure): connection refused")

    def broken() -> None:
        raise RuntimeError("bug")

    runtime = _Runtime(
        [
            Job("remediation", 30, lambda: None),
            Job("scaling", 60, refused),
            Job("canary", 60, broken),
        ]
    )
    settings = Settings.model_validate({"leaderElection": {"enabled": False}})
    assert run_once(runtime, settings) == 1  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out == "remediation=ok scaling=transient-error canary=error\n"
    assert err.splitlines()[-1] == (
        "autonomic: run --once: 2 of 3 jobs did not run cleanly: scaling (transient-error), "
        "canary (error); the errors are in the log above"
    )
    assert runtime.stopped.is_set()

    clean = _Runtime([Job("remediation", 30, lambda: None)])
    assert run_once(clean, settings) == 0  # type: ignore[arg-type]
    assert capsys.readouterr() == ("remediation=ok\n", "")


def test_run_once_counts_jobs_skipped_for_want_of_the_lease_as_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class NeverLeader(AlwaysLeader):
        def is_leader(self) -> bool:
            return False

    runtime = _Runtime(
        [Job("remediation", 30, lambda: None, leader_only=False), Job("scaling", 60, lambda: None)]
    )
    runtime.gate = NeverLeader()
    settings = Settings.model_validate(
        {"leaderElection": {"leaseDuration": 0.3, "renewDeadline": 0.2, "retryPeriod": 0.1}}
    )
    assert run_once(runtime, settings) == 1  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out == "remediation=ok scaling=not-leader\n"
    assert err.strip() == (
        "autonomic: run --once: 1 of 2 jobs did not run cleanly: scaling (not-leader); "
        "not-leader: this replica did not get the lease autonomic/autonomic-leader within "
        "0.4 s (another replica holds it, or the API server cannot be reached)"
    )


class _Prometheus:
    """A reader answering instant queries, or failing them with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.asked: list[str] = []

    def range(self, query: str, start: float, end: float, step: float, now: float) -> Any:
        raise AssertionError("not used")

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        self.asked.append(query)
        if self.error is not None:
            raise self.error
        return [({}, at, 1.0)]


def test_run_once_counts_prometheus_in_and_probes_it_only_if_no_job_read_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agent.read_watch import WatchedReader

    settings = Settings.model_validate({"leaderElection": {"enabled": False}})
    answering = _Prometheus()
    reads = WatchedReader(answering, Metrics(), lambda: 1.0)

    def read() -> None:
        reads.instant("up", 0.0)

    assert run_once(_Runtime([Job("anomaly", 60, read)]), settings, reads) == 0  # type: ignore[arg-type]
    assert capsys.readouterr() == ("anomaly=ok prometheus=ok\n", "")
    assert answering.asked == ["up"]  # a job read it: no probe

    rejected = PermanentError(
        "Prometheus rejected 'vector(1)' (HTTP 403): no", reason="PrometheusHTTP403"
    )
    forbidden = _Prometheus(rejected)
    reads = WatchedReader(forbidden, Metrics(), lambda: 1.0)
    clean = _Runtime([Job("remediation", 30, lambda: None)])
    assert run_once(clean, settings, reads) == 3  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert forbidden.asked == ["vector(1)"]  # no job read it: the smoke test asked
    assert out == "remediation=ok prometheus=failed\n"
    assert err.splitlines()[-1] == (
        "autonomic: run --once: every job ran, but Prometheus could not be read: 1 of 1 "
        "requests failed (PrometheusHTTP403: 1); the last: Prometheus rejected 'vector(1)' "
        "(HTTP 403): no; check prometheus.bearerToken"
    )
    assert reads.metrics.prometheus_failures.labels(reason="PrometheusHTTP403")._value.get() == 1


# ---------------------------------------------------------------- thresholds set


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--reason", ""],
            "--reason must say why the thresholds are set (it is kept in the ledger)",
        ),
        (
            ["--reason", "   "],
            "--reason must say why the thresholds are set (it is kept in the ledger)",
        ),
        (
            ["--reason", "fine", "--as", ""],
            "--as must name who sets the thresholds (or leave it out for cli:$USER)",
        ),
        (
            ["--reason", "fine", "--as", " \t"],
            "--as must name who sets the thresholds (or leave it out for cli:$USER)",
        ),
    ],
)
def test_thresholds_set_needs_a_reason_and_a_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    argv = ["thresholds", "set", "scaling/predictive-floor", "--auto", "0.9"]
    assert main([*argv, *extra, "--ledger", f"sqlite:///{ledger}"]) == 2
    assert _error(capsys) == f"autonomic: error: {expected}\n"
    assert not ledger.exists()  # refused before the ledger was opened


def test_handlers_are_registered_for_the_commands_tested_here() -> None:
    parser = build_parser()
    for argv in (["run"], ["simulate"], ["runbooks", "schema"]):
        args = parser.parse_args(argv)
        assert isinstance(args, argparse.Namespace) and callable(args.handler)


class _SkewedPrometheus(_Prometheus):
    """Answers, and its clock is ``offset`` seconds off this node's."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset
        self.measured = False

    def newest_sample(self) -> float | None:
        self.measured = True
        return None

    def clock_offset(self) -> float | None:
        return self.offset if self.measured else None


@pytest.mark.parametrize(
    ("offset", "said"),
    [
        (-180.4, "Prometheus's clock is 3m behind this node's"),
        (95.0, "Prometheus's clock is 1m35s ahead of this node's"),
        (12.0, None),
    ],
)
def test_run_once_says_when_prometheus_s_clock_is_far_from_this_node_s(
    capsys: pytest.CaptureFixture[str], offset: float, said: str | None
) -> None:
    """Before, a node 3 minutes off Prometheus's passed the smoke test unsaid (and its
    reads were refused as a frozen Prometheus). Said now, on stderr; the exit code stays
    0: the reads take their ages on Prometheus's clock."""
    from agent.read_watch import WatchedReader

    settings = Settings.model_validate({"leaderElection": {"enabled": False}})
    reads = WatchedReader(_SkewedPrometheus(offset), Metrics(), lambda: 1.0)
    clean = _Runtime([Job("remediation", 30, lambda: None)])
    assert run_once(clean, settings, reads) == 0  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out == "remediation=ok prometheus=ok\n"
    if said is None:
        assert err == ""
    else:
        assert err.startswith(f"autonomic: run --once: {said}: one of the two does not keep")
        assert "check NTP" in err and len(err.splitlines()) == 1
