"""`autonomic config check FILE`: errors name file, line and field, and never a password.

Run through the real command (``agent.cli.main``, the ``autonomic`` entry point) so that
what is asserted is exactly what a person sees on stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main as autonomic

PASSWORD = "hunter2-Zq9"  # distinctive: it cannot appear in a message by accident
UNSET = "AUTONOMIC_TEST_SURELY_UNSET_SECRET"


KUBECONFIG_TEXT = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://x'}}]\n"
    "contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"
    "users: [{name: u, user: {token: t}}]\ncurrent-context: ctx\n"
)


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No override or secret from the caller's shell may change what is checked, nor
    whether this machine has a kubeconfig ($KUBECONFIG names one made here)."""
    for key in list(os.environ):
        if key.startswith("AUTONOMIC__"):
            monkeypatch.delenv(key)
    monkeypatch.delenv(UNSET, raising=False)
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(KUBECONFIG_TEXT)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = autonomic(["config", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def problem_lines(err: str) -> list[str]:
    """The per-problem lines of an ``invalid configuration:`` error."""
    assert "autonomic: error: invalid configuration:" in err, err
    return [line.strip() for line in err.splitlines()[1:] if line.strip()]


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` containing ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


# ---------------------------------------------------------------- no password, ever

# (config text, the field the error names, what the redacted URL looks like)
LEAKY = [
    pytest.param(
        f"mode: observe\nrunbooks: []\nledger:\n  url: postgresql+psycopg://u:{PASSWORD}@h/db\n",
        "ledger.url",
        "postgresql+psycopg://u:***@h/db",
        id="ledger-userinfo",
    ),
    pytest.param(
        f"ledger:\n  url: postgresql://u:{PASSWORD}/x@h/db\n",
        "ledger.url",
        "postgresql://u:***@h/db",
        id="ledger-password-with-slash",
    ),
    pytest.param(
        f"ledger:\n  url: postgresql://u@h/db?sslmode=require&password={PASSWORD}\n",
        "ledger.url",
        "password=***",
        id="ledger-query-password",
    ),
    pytest.param(
        # Long enough to be shortened in the message, with the "@" past the cut.
        f"ledger:\n  url: postgresql://u:{PASSWORD}{'x' * 60}@db.internal/autonomic\n",
        "ledger.url",
        "postgresql://u:***@db.internal",
        id="ledger-long-password",
    ),
    pytest.param(
        f"prometheus:\n  url: ftp://admin:{PASSWORD}@prom:9090\n",
        "prometheus.url",
        "ftp://admin:***@prom:9090",
        id="prometheus-wrong-scheme",
    ),
    pytest.param(
        f"mode: 'https://ops:{PASSWORD}@hooks.example.com/alertmanager'\n",
        "mode",
        "https://ops:***@hooks.example.com",
        id="url-in-a-literal-field",
    ),
    pytest.param(
        f"safety:\n  cooldown: http://u:{PASSWORD}@slack.example.com/x\n",
        "safety.cooldown",
        "http://u:***@slack.example.com",
        id="url-in-a-duration",
    ),
]


@pytest.mark.parametrize(("text", "field", "redacted"), LEAKY)
def test_no_error_repeats_a_password_written_in_a_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, redacted: str
) -> None:
    path = write(tmp_path, text)
    code, out, err = check(path, capsys)
    assert code == 2
    assert PASSWORD not in out + err
    assert PASSWORD[:5] not in out + err  # not even a part of it
    [problem] = [p for p in problem_lines(err) if f": {field}: " in p]
    # Still useful: file, line and field, and the URL with its password hidden.
    assert problem.startswith(f"{path}:{line_of(text, PASSWORD)}: {field}: "), problem
    assert redacted in problem


def test_the_ledger_url_error_shows_the_url_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, f"runbooks: []\nledger:\n  url: postgresql+psycopg://u:{PASSWORD}@h/db\n"
    )
    code, _, err = check(path, capsys)
    assert code == 2
    assert problem_lines(err) == [
        f"{path}:3: ledger.url: put the database password in ledger.password, not in the URL "
        "(got 'postgresql+psycopg://u:***@h/db')"
    ]


def test_an_override_with_a_password_is_not_echoed_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTONOMIC__LEDGER__URL", f"postgresql://u:{PASSWORD}@h/db")
    code, out, err = check(write(tmp_path, "runbooks: []\n"), capsys)
    assert code == 2
    assert PASSWORD not in out + err
    assert problem_lines(err)[0].startswith("environment AUTONOMIC__LEDGER__URL: ledger.url: ")


def test_a_valid_config_prints_its_prometheus_url_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"runbooks: []\nprometheus:\n  url: http://admin:{PASSWORD}@prom:9090\n")
    code, out, err = check(path, capsys)
    assert code == 0, err
    assert PASSWORD not in out + err
    assert "prometheus: http://admin:***@prom:9090" in out


def test_the_installed_command_hides_the_password_too(tmp_path: Path) -> None:
    """The same through a real process: nothing else prints the URL on the way out."""
    path = write(tmp_path, f"ledger:\n  url: postgresql://u:{PASSWORD}@h/db\n")
    done = subprocess.run(
        [sys.executable, "-m", "agent", "config", "check", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "")},
        check=False,
    )
    assert done.returncode == 2
    assert PASSWORD not in done.stdout + done.stderr
    assert f"{path}:2: ledger.url: put the database password in ledger.password" in done.stderr


# ------------------------------------------------ secrets and runbooks: file and line

SECRET_FIELDS = [
    # (field, the section that needs it, the text around it)
    ("slack.botToken", "slack:\n  enabled: true\n  botToken:\n    env: {var}\n"
     "  signingSecret: {{file: {file}}}\n  channel: '#ops'\n  approvers: [U0ALICE]\n"),
    ("ledger.password", "ledger:\n  url: postgresql://autonomic@db/autonomic\n"
     "  password: {{env: {var}}}\n"),
    ("alertmanager.token", "alertmanager:\n  enabled: true\n  token:\n    env: {var}\n"),
    ("prometheus.bearerToken", "prometheus:\n  bearerToken: {{env: {var}}}\n"),
    ("server.readToken", "server:\n  readToken: {{env: {var}}}\n"),
]  # fmt: skip


def unset_here(path: Path, line: int, field: str) -> str:
    """The warning ``config check`` prints for an ``env:`` secret not set where it runs."""
    return (
        f"  warning: {path}:{line}: {field}: secret environment variable {UNSET} is not set "
        "here, so it is not read here; `autonomic run` reads it at start-up and stops if it "
        "is not set there\n"
    )


@pytest.mark.parametrize(("field", "section"), SECRET_FIELDS, ids=[f for f, _ in SECRET_FIELDS])
def test_an_unset_secret_variable_is_a_warning_at_the_line_that_asks_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, section: str
) -> None:
    """Such a variable is usually set only in the pod (from a Secret): the check, run
    from a checkout, failed on it ("secret environment variable ... is not set"), as it
    did on a secret file the pod mounts. It is a warning at its line now, as that is,
    and the secret is not said to be readable; `run` stops on it (below)."""
    readable = write(tmp_path, "s3cr3t\n", "readable-secret")
    text = "# a comment first, so that lines are not counted from the section\nmode: observe\n"
    text += section.format(var=UNSET, file=readable) + "runbooks: []\n"
    path = write(tmp_path, text)
    code, out, err = check(path, capsys)
    assert code == 0, err  # before: 2
    assert unset_here(path, line_of(text, UNSET), field) in out
    assert f"secret {field} " not in out  # not said to be readable


def test_an_unreadable_secret_file_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-secret"
    text = f"runbooks: []\nalertmanager:\n  enabled: true\n  token:\n    file: {missing}\n"
    path = write(tmp_path, text)
    code, _, err = check(path, capsys)
    assert code == 2
    [problem] = problem_lines(err)
    assert problem.startswith(f"{path}:5: alertmanager.token: cannot read secret file {missing}")


def test_a_secret_file_only_the_pod_has_is_a_warning_here_and_stops_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret the Deployment mounts (/var/run/secrets/...) is not on the laptop the
    check runs on: the check failed on it ("cannot read secret file ...: No such file or
    directory"), so the shipped config, with Slack on, could not be checked from a
    checkout. It is now a warning there, at its line; `run` still stops on it."""
    elsewhere = tmp_path / "mounted-in-the-pod" / "token"
    text = f"runbooks: []\nalertmanager:\n  enabled: true\n  token:\n    file: {elsewhere}\n"
    path = write(tmp_path, text)
    code, out, err = check(path, capsys)
    assert code == 0, err
    assert (
        f"  warning: {path}:5: alertmanager.token: secret file {elsewhere} is not on this "
        f"machine (nor is its folder {elsewhere.parent}), so it is not read here; "
        "`autonomic run` reads it at start-up and stops if it is missing there\n"
    ) in out
    assert "secret alertmanager.token" not in out  # not said to be readable

    code = autonomic(["run", "--config", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    [problem] = problem_lines(err)
    assert problem == (
        f"{path}:5: alertmanager.token: cannot read secret file {elsewhere}: "
        "No such file or directory"
    )


@pytest.mark.parametrize(
    ("token", "given", "says"),
    [
        ("{file: TOKEN}", "", "secret file TOKEN is empty"),
        ("{file: TOKEN}", " \n\n", "secret file TOKEN is empty"),
        ("{env: VAR}", "", "secret environment variable VAR is empty"),
    ],
    ids=["empty-file", "blank-file", "empty-variable"],
)
def test_an_empty_secret_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    given: str,
    says: str,
) -> None:
    """An empty webhook token used to pass the check and let in any request sending
    ``Authorization: Bearer`` with nothing after it."""
    secret = write(tmp_path, given, "token")
    monkeypatch.setenv(UNSET, given)
    ref = token.replace("TOKEN", str(secret)).replace("VAR", UNSET)
    path = write(tmp_path, f"runbooks: []\nalertmanager:\n  enabled: true\n  token: {ref}\n")
    code, _, err = check(path, capsys)
    assert code == 2
    expected = says.replace("TOKEN", str(secret)).replace("VAR", UNSET)
    assert problem_lines(err) == [f"{path}:4: alertmanager.token: {expected}"]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("{env: ''}", "prometheus.bearerToken.env: env is empty: give a variable name"),
        ("{file: ''}", "prometheus.bearerToken.file: file is empty: give a file path"),
    ],
)
def test_an_empty_secret_reference_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str, says: str
) -> None:
    """They used to read as 'variable  is not set' and 'cannot read secret file .'."""
    path = write(tmp_path, f"runbooks: []\nprometheus:\n  bearerToken: {ref}\n")
    code, _, err = check(path, capsys)
    assert code == 2
    assert problem_lines(err) == [f"{path}:3: {says}"]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        (
            "''",
            "server.readToken: secrets are not written inline: use {file: PATH} or {env: VARIABLE}",
        ),
        ("{env: ''}", "server.readToken.env: env is empty: give a variable name"),
        ("{env: @VAR@}", "server.readToken: secret environment variable @VAR@ is empty"),
    ],
    ids=["inline", "empty-name", "empty-variable"],
)
def test_an_empty_read_token_is_refused_naming_the_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ref: str,
    says: str,
) -> None:
    """An empty ``server.readToken`` would let in a bare ``Authorization: Bearer``."""
    monkeypatch.setenv(UNSET, "")
    path = write(tmp_path, f"runbooks: []\nserver:\n  readToken: {ref.replace('@VAR@', UNSET)}\n")
    code, _, err = check(path, capsys)
    assert code == 2
    assert problem_lines(err) == [f"{path}:3: {says.replace('@VAR@', UNSET)}"]


@pytest.mark.parametrize(("field", "section"), SECRET_FIELDS, ids=[f for f, _ in SECRET_FIELDS])
def test_run_stops_on_a_secret_as_the_check_does_and_creates_no_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, section: str
) -> None:
    """`run` used to open (create) the SQLite ledger first and then fail with the bare
    reason, no file, line or field. It stops on a secret variable that is not set, at
    the line the check warns of (the check, run away from the pod, only warns)."""
    readable = write(tmp_path, "s3cr3t\n", "readable-secret")
    ledger = tmp_path / "ledger.sqlite"
    text = section.format(var=UNSET, file=readable) + "runbooks: []\n"
    if not text.startswith("ledger:"):
        text += f"ledger:\n  url: sqlite:///{ledger}\n"
    path = write(tmp_path, text)
    _, out, _ = check(path, capsys)
    assert unset_here(path, line_of(text, UNSET), field) in out
    done = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert problem_lines(done.stderr) == [
        f"{path}:{line_of(text, UNSET)}: {field}: secret environment variable {UNSET} is not set"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readable-secret", "s.yaml"]


def test_run_names_a_missing_folder_of_its_sqlite_ledger(tmp_path: Path) -> None:
    """The example config's ledger is in /var/lib/autonomic, the pod's volume: on a
    workstation `run` said only "unable to open database file"."""
    ledger = tmp_path / "absent" / "ledger.sqlite"
    text = f"runbooks: []\nledger:\n  url: sqlite:///{ledger}\nleaderElection:\n  enabled: false\n"
    path = write(tmp_path, text)
    # Kubernetes credentials are found (they are checked, and loaded, before the ledger).
    environ = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(path), "--once"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**environ, "KUBECONFIG": os.environ["KUBECONFIG"]},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"autonomic: error: cannot open the ledger at {ledger}: its folder {ledger.parent} "
        "does not exist; create the folder, or set ledger.url to a file in one that exists "
        "(sqlite:///PATH)"
    )
    assert not ledger.parent.exists()


def test_a_missing_runbook_directory_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "present").mkdir()
    text = "mode: observe\nrunbooks:\n  - present\n  - absent\n  - /nonexistent/autonomic\n"
    path = write(tmp_path, text)
    code, _, err = check(path, capsys)
    assert code == 2
    # Relative entries are reported as resolved against the file's directory.
    assert problem_lines(err) == [
        f"{path}:4: runbooks: {tmp_path.resolve() / 'absent'} does not exist",
        f"{path}:5: runbooks: /nonexistent/autonomic does not exist",
    ]


def test_a_missing_default_runbook_directory_says_it_is_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "# nothing about runbooks\nmode: observe\n")
    code, _, err = check(path, capsys)
    assert code == 2
    [problem] = problem_lines(err)
    assert re.fullmatch(
        rf"{re.escape(str(path))}:\d+: runbooks: {re.escape(str(tmp_path.resolve()))}/runbooks "
        r"does not exist \(the default: runbooks is not set\)",
        problem,
    ), problem


def test_problems_from_overrides_name_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTONOMIC__PROMETHEUS__BEARER_TOKEN__ENV", UNSET)
    monkeypatch.setenv(UNSET, "")  # set to nothing: a problem here too (unset: a warning)
    monkeypatch.setenv("AUTONOMIC__RUNBOOKS", "[/nonexistent/autonomic]")
    code, _, err = check(write(tmp_path, "mode: observe\n"), capsys)
    assert code == 2
    assert problem_lines(err) == [
        "environment AUTONOMIC__PROMETHEUS__BEARER_TOKEN__ENV: prometheus.bearerToken: "
        f"secret environment variable {UNSET} is empty",
        "environment AUTONOMIC__RUNBOOKS: runbooks: /nonexistent/autonomic does not exist",
    ]


def test_every_problem_of_a_check_has_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets and runbooks together, all in the one ``FILE:LINE: field: message`` form."""
    monkeypatch.setenv(UNSET, " ")  # set to nothing: a problem (unset: a warning here)
    text = (
        f"slack:\n  enabled: true\n  receive: socket\n  botToken: {{env: {UNSET}}}\n"
        f"  appToken: {{file: {tmp_path / 'no-app-token'}}}\n  channel: '#ops'\n"
        "  approvers: [U0ALICE]\nrunbooks: [/nonexistent/a]\n"
    )
    path = write(tmp_path, text)
    code, _, err = check(path, capsys)
    assert code == 2
    problems = problem_lines(err)
    assert [p.split(": ", 2)[:2] for p in problems] == [
        [f"{path}:4", "slack.botToken"],
        [f"{path}:5", "slack.appToken"],
        [f"{path}:8", "runbooks"],
    ]


# ------------------------------------------- credentials the file does not name


RUN_STOPS = (
    ". `autonomic run` with this file stops on this here (not where they are present, "
    "such as in the daemon's pod)"
)


def _credential_warnings(out: str) -> list[str]:
    return [line for line in out.splitlines() if "Kubernetes credentials" in line]


@pytest.mark.parametrize(
    ("cluster", "kubeconfig", "warned"),
    [
        (
            "",
            None,
            "no kubeconfig at {home}/.kube/config (the default); set cluster.kubeconfig or "
            "$KUBECONFIG, or cluster.inCluster: true in a pod",
        ),
        ("", KUBECONFIG_TEXT, None),
        (
            "",
            "clusters: [\n",
            "{home}/.kube/config is not a kubeconfig: it is not valid YAML (line 2) (read by "
            "default: cluster.kubeconfig is not set)",
        ),
        (
            "cluster:\n  inCluster: true\n",
            KUBECONFIG_TEXT,
            "cluster.inCluster is true, but KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT are not set (Kubernetes sets both in every pod): this is "
            "not a pod; outside a cluster, set cluster.inCluster: false and name a kubeconfig",
        ),
    ],
    ids=["no-default-kubeconfig", "default-kubeconfig", "broken-default", "in-cluster-outside"],
)
def test_the_check_warns_of_default_credentials_run_would_not_find(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cluster: str,
    kubeconfig: str | None,
    warned: str | None,
) -> None:
    """Without cluster.kubeconfig, `run` loads $KUBECONFIG, ~/.kube/config or (inCluster)
    the pod's service account, and stops when they are not there: `config check` said
    nothing of them. It warns (exit 0): it is run away from the daemon's pod too."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    if kubeconfig is not None:
        (tmp_path / ".kube").mkdir()
        (tmp_path / ".kube" / "config").write_text(kubeconfig)
    code, out, err = check(write(tmp_path, "runbooks: []\n" + cluster), capsys)
    assert code == 0, err
    said = "  warning: Kubernetes credentials cannot be loaded here: "
    expected = [] if warned is None else [f"{said}{warned.format(home=tmp_path)}{RUN_STOPS}"]
    assert _credential_warnings(out) == expected


def test_the_check_reads_what_the_kubeconfig_variable_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """$KUBECONFIG is read before ~/.kube/config, a missing path in it passed over as the
    client merges them; and a kubeconfig the file names is an error as before."""
    monkeypatch.setenv("HOME", str(tmp_path))
    good = write(tmp_path, KUBECONFIG_TEXT, "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'gone'}{os.pathsep}{good}")
    code, out, _ = check(write(tmp_path, "runbooks: []\n"), capsys)
    assert (code, _credential_warnings(out)) == (0, [])
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "gone"))
    code, out, _ = check(write(tmp_path, "runbooks: []\n"), capsys)
    assert _credential_warnings(out) == [
        f"  warning: Kubernetes credentials cannot be loaded here: no kubeconfig at "
        f"{tmp_path / 'gone'} ($KUBECONFIG); set $KUBECONFIG to an existing file, or "
        f"cluster.kubeconfig{RUN_STOPS}"
    ]
    path = write(tmp_path, f"runbooks: []\ncluster:\n  kubeconfig: {tmp_path / 'gone'}\n")
    code, _, err = check(path, capsys)
    assert code == 2 and problem_lines(err) == [
        f"{path}:3: cluster.kubeconfig: {tmp_path / 'gone'} does not exist (set "
        "cluster.kubeconfig to a kubeconfig file)"
    ]


# ---------------------------------------------------------------- runbooks are loaded too

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_checks_with_the_repositorys_runbooks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The manifests' config names the pod's paths; --runbooks points at the repository's.
    config = ROOT / "manifests/config/autonomic.yaml"
    code = autonomic(["config", "check", str(config), "--runbooks", str(ROOT / "runbooks")])
    out, err = capsys.readouterr()
    assert code == 0, err
    shipped = len(list((ROOT / "runbooks").glob("*.yaml")))
    assert f"runbooks: {shipped} valid in {ROOT / 'runbooks'}" in out


def test_a_bad_runbook_fails_the_check_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    good = (ROOT / "runbooks/restart-stuck-pods.yaml").read_text()
    (folder / "good.yaml").write_text(good)
    bad = good.replace("maxAutonomy: auto", "maxAutonomy: always")
    assert bad != good
    (folder / "bad.yaml").write_text(bad)
    config = write(tmp_path, "mode: propose\nrunbooks: [runbooks]\n")
    code, out, err = check(config, capsys)
    assert code == 2 and out == ""
    lines = problem_lines(err)
    want = f"{folder / 'bad.yaml'}:{line_of(bad, 'maxAutonomy: always')}:"
    assert any(line.startswith(want) and "maxAutonomy" in line for line in lines), lines


def test_a_runbooks_note_is_printed_under_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runbook whose undo leaves a step as it is loads, and the check says so."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    noted = (
        "apiVersion: autonomic.dev/v1alpha1\nkind: Runbook\n"
        "metadata: {name: pause-then-delete, description: Pause and delete.}\n"
        "spec:\n"
        "  mode: enforce\n"
        "  triggers: [{type: kubernetes, condition: RolloutFailed}]\n"
        "  target: {kind: Deployment}\n"
        "  actions: [{type: pauseRollout}, {type: deletePod}]\n"
        "  verification: {checks: [{type: kubernetes, condition: podsReady}]}\n"
        "  onFailure:\n    undo: true\n"
        "  guards: {blastRadius: {maxTargets: 2}}\n"
    )
    (folder / "noted.yaml").write_text(noted)
    config = write(tmp_path, "mode: propose\nrunbooks: [runbooks]\n")
    code, out, err = check(config, capsys)
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  runbooks: 1 valid in "))
    assert lines[at + 1] == (
        f"  runbooks: {folder / 'noted.yaml'}:{line_of(noted, 'undo: true')}: note: "
        "spec.onFailure.undo: on a failed verification the undo reverses pauseRollout "
        "(actions[0]), but not deletePod (actions[1]: a deleted pod cannot be brought "
        "back); the run is then recorded as failed, not undone, and escalated"
    )


def test_a_missing_runbooks_option_path_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "mode: propose\n")
    code = autonomic(["config", "check", str(config), "--runbooks", str(tmp_path / "nope")])
    _, err = capsys.readouterr()
    assert code == 2
    assert problem_lines(err) == [f"--runbooks: {tmp_path / 'nope'} does not exist"]


# ------------------------------------------------- nor at run time, past the config check


def test_a_ledger_url_given_outside_a_config_hides_its_password() -> None:
    from agent.ledger.store import LedgerError, open_ledger

    with pytest.raises(LedgerError) as caught:
        open_ledger(f"postgresql+psycopg://u:{PASSWORD}@host:notaport/db", 0.0)
    assert PASSWORD not in str(caught.value)
    assert "u:***@" in str(caught.value)


def test_prometheus_errors_hide_the_urls_password() -> None:
    from agent.adapters.prometheus import PrometheusReader
    from agent.errors import TransientError
    from tests.harness.servers import free_port

    reader = PrometheusReader(f"http://u:{PASSWORD}@127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(TransientError) as caught:  # nothing listens on that port
        reader.instant("up", 0.0)
    assert PASSWORD not in str(caught.value)
    assert "u:***@127.0.0.1" in str(caught.value)


def test_slack_without_an_oncall_group_is_valid_but_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escalations that mention nobody page nobody: the check says so, and still passes."""
    monkeypatch.setenv("AUTONOMIC_TEST_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("AUTONOMIC_TEST_SLACK_SECRET", "s3cret")
    slack = (
        "runbooks: []\nslack:\n  enabled: true\n  channel: C0OPS\n  approvers: [U0ALICE]\n"
        "  botToken: {env: AUTONOMIC_TEST_SLACK_TOKEN}\n"
        "  signingSecret: {env: AUTONOMIC_TEST_SLACK_SECRET}\n"
    )
    code, out, _ = check(write(tmp_path, slack), capsys)
    assert code == 0
    # (canary.token's warning is another: the canary endpoints answer anyone without it)
    [warning] = [line for line in out.splitlines() if "warning:" in line and "slack" in line]
    assert "slack.oncallGroup is not set" in warning and "mention nobody" in warning
    code, out, _ = check(write(tmp_path, slack + "  oncallGroup: S0ONCALL\n", "g.yaml"), capsys)
    assert code == 0 and "oncallGroup" not in out


def test_slack_enabled_without_its_settings_names_each_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTONOMIC_TEST_SLACK_TOKEN", "xoxb-test")
    base = "runbooks: []\nslack:\n  enabled: true\n  botToken: {env: AUTONOMIC_TEST_SLACK_TOKEN}\n"
    code, out, err = check(write(tmp_path, base + "  channel: C0OPS\n"), capsys)
    assert code == 2
    assert "slack is enabled but signingSecret and approvers are not set" in out + err
    code, out, err = check(
        write(tmp_path, base + "  channel: C0OPS\n  approvers: [U0ALICE]\n", "one.yaml"), capsys
    )
    assert code == 2
    assert "slack is enabled but signingSecret is not set" in out + err
    assert "approvers:" not in out + err
    # an empty list is as good as none, and the message says what to write
    code, out, err = check(
        write(
            tmp_path,
            base + "  channel: C0OPS\n  signingSecret: {env: AUTONOMIC_TEST_SLACK_TOKEN}\n"
            "  approvers: []\n",
            "empty.yaml",
        ),
        capsys,
    )
    assert code == 2
    assert "slack is enabled but approvers is not set (approvers: the Slack user ids" in out + err
    assert "such as [U012AB3CD, S0614TZR7]" in out + err


# ---------------------------------------------------------------- disruption budget


def test_bad_disruption_budgets_name_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 is refused with what to write instead (null: no limit), and neither budget takes
    a boolean, text or a fraction."""
    text = (
        "safety:\n  maxPodsDisruptedPerHour: 0\n  maxPodsDisruptedPerHourPerNamespace: yes\n"
        "runbooks: [/nonexistent/a]\n"
    )
    path = write(tmp_path, text)
    code, _, err = check(path, capsys)
    assert code == 2
    problems = problem_lines(err)
    assert [p.split(": ", 2)[:2] for p in problems[:2]] == [
        [f"{path}:2", "safety.maxPodsDisruptedPerHour"],
        [f"{path}:3", "safety.maxPodsDisruptedPerHourPerNamespace"],
    ]
    assert "write null for no limit" in problems[0]
    assert "got true" in problems[1]
    for value, said in (
        ("12.5", "expected a whole number, got 12.5"),
        ("-3", "must be at least 1, got -3"),
    ):
        path = write(tmp_path, f"safety:\n  maxPodsDisruptedPerHour: {value}\n", name="b.yaml")
        code, _, err = check(path, capsys)
        assert code == 2 and f"{path}:2: safety.maxPodsDisruptedPerHour: " in err
        assert said in err


def test_the_disruption_budget_defaults_to_50_and_null_turns_it_off() -> None:
    from agent.settings import SafetySettings

    assert SafetySettings().max_pods_disrupted_per_hour == 50
    assert SafetySettings().max_pods_disrupted_per_hour_per_namespace is None
    off = SafetySettings.model_validate(
        {"maxPodsDisruptedPerHour": None, "maxPodsDisruptedPerHourPerNamespace": 20}
    )
    assert off.max_pods_disrupted_per_hour is None
    assert off.max_pods_disrupted_per_hour_per_namespace == 20


def test_a_runbook_whose_approvers_no_one_can_be_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    good = (ROOT / "runbooks/restart-stuck-pods.yaml").read_text()
    narrowed = good.replace("\nspec:\n", "\nspec:\n  approvers: [U0DAVE]\n", 1)
    assert narrowed != good
    (folder / "restart.yaml").write_text(narrowed)
    monkeypatch.setenv("AUTONOMIC_TEST_BOT", "xoxb-1")
    monkeypatch.setenv("AUTONOMIC_TEST_SIGNING", "s3cret")
    config = write(
        tmp_path,
        "mode: propose\nrunbooks: [runbooks]\nslack:\n  enabled: true\n"
        "  botToken: {env: AUTONOMIC_TEST_BOT}\n  signingSecret: {env: AUTONOMIC_TEST_SIGNING}\n"
        "  receive: http\n  channel: '#ops'\n  approvers: [U0ALICE, U0BOB]\n"
        "  oncallGroup: S0ONCALL\n",
    )
    code, out, err = check(config, capsys)
    assert code == 0, err
    assert (
        "  warning: slack approvers: questions of runbook restart-stuck-pods can never be "
        "answered: an answer must come from someone in U0ALICE, U0BOB (slack.approvers) who "
        "is also in U0DAVE (runbook restart-stuck-pods), and no one is; each such question "
        "expires and is escalated"
    ) in out.splitlines()
    # Once the runbook names one of them, nothing is said.
    (folder / "restart.yaml").write_text(narrowed.replace("[U0DAVE]", "[U0DAVE, U0BOB]"))
    code, out, err = check(config, capsys)
    assert code == 0 and "slack approvers" not in out, out


def test_the_checks_help_states_the_exit_statuses_it_returns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`config check --help` had no description: nothing said what 0 and 2 mean."""
    with pytest.raises(SystemExit):
        autonomic(["config", "check", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 when it is valid" in helped
    assert "2 when anything is wrong, each problem on a line as FILE:LINE: field: message" in helped
    assert check(write(tmp_path, "runbooks: []\n"), capsys)[0] == 0
    assert check(write(tmp_path, "runbooks: []\nmode: yolo\n", "bad.yaml"), capsys)[0] == 2


def test_the_examples_runbooks_path_is_shown_without_dot_dot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # docs/example-config.yaml names ../runbooks: the check said "valid in REPO/docs/../runbooks"
    code, out, err = check(ROOT / "docs/example-config.yaml", capsys)
    assert code == 0, err
    shipped = len(list((ROOT / "runbooks").glob("*.yaml")))
    assert f"  runbooks: {shipped} valid in {ROOT.resolve() / 'runbooks'}\n" in out


def test_a_key_written_one_level_too_far_left_says_which_section_takes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``timeout`` dedented out of ``prometheus:`` used to get only "unknown key (check the
    spelling; the keys here are ...)", which does not say the spelling is right and the
    indentation wrong."""
    text = "runbooks: []\nprometheus:\n  url: http://127.0.0.1:9090\ntimeout: 10s\n"
    code, out, err = check(write(tmp_path, text), capsys)
    assert code == 2
    assert (
        ":4: timeout: unknown key here; 'timeout' is a key of prometheus: indent it under "
        "that section" in out + err
    )
    # a misspelling is still answered with the key it may have meant
    code, out, err = check(write(tmp_path, "runbooks: []\nmdoe: act\n", "typo.yaml"), capsys)
    assert code == 2 and "did you mean 'mode'?" in out + err


# ------------------------------------------- slack.requireKubernetesAccess's identities


def test_kubernetes_identities_are_checked_at_their_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A group id, an empty user and a group name with spaces are each named at their
    line; so is a requireKubernetesAccess that is no boolean."""
    text = (
        "mode: observe\nrunbooks: []\nslack:\n"
        "  requireKubernetesAccess: sometimes\n"
        "  kubernetesIdentities:\n"
        "    U0ALICE: alice@corp\n"
        "    S0GROUP: team@corp\n"
        "    U0BOB: {user: '', groups: [sre]}\n"
        "    U0CAROL: {user: carol, groups: [' ops']}\n"
    )
    path = write(tmp_path, text)
    code, _, err = check(path, capsys)
    assert code != 0
    problems = problem_lines(err)
    expected = [
        (line_of(text, "sometimes"), "slack.requireKubernetesAccess: "),
        (line_of(text, "S0GROUP"), "slack.kubernetesIdentities.S0GROUP"),
        (line_of(text, "U0BOB"), "slack.kubernetesIdentities.U0BOB.user: "),
        (line_of(text, "U0CAROL"), "slack.kubernetesIdentities.U0CAROL.groups[0]: "),
    ]
    for line, field in expected:
        assert any(p.startswith(f"{path}:{line}: {field}") for p in problems), (field, problems)
    assert "expected a Slack user id (U… or W…)" in err


def test_requiring_kubernetes_access_with_nobody_mapped_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "mode: observe\nrunbooks: []\nslack:\n  requireKubernetesAccess: true\n"
    path = write(tmp_path, text)
    code, _, err = check(path, capsys)
    assert code != 0
    [problem] = problem_lines(err)
    assert problem.startswith(f"{path}:4: slack: requireKubernetesAccess is true but "), problem
    # Mapped: accepted, the shorthand and the long form alike.
    good = (
        text
        + "  kubernetesIdentities:\n    U0ALICE: alice\n    W0BOB: {user: bob, groups: [sre]}\n"
    )
    code, _, err = check(write(tmp_path, good, "good.yaml"), capsys)
    assert code == 0, err
