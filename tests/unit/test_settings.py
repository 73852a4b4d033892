from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.settings import load_settings, parse_duration

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-config.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "autonomic.yaml"
    path.write_text(text)
    return path


def test_defaults_are_safe() -> None:
    settings = load_settings(None)
    assert settings.mode == "propose"
    assert not settings.slack.enabled
    assert settings.routing.ask < settings.routing.auto


def test_profile_history_reaches_the_scaling_loop(tmp_path: Path) -> None:
    from agent.loops.scaling import RECENT, STEP, ScalingLoop

    settings = load_settings(write(tmp_path, "scaling:\n  profileHistory: 28d\n"))
    assert settings.scaling.profile_history == 28 * 86400.0
    unused = object()
    loop = ScalingLoop(
        settings.scaling,
        reader=unused,  # type: ignore[arg-type]
        cluster=unused,  # type: ignore[arg-type]
        decisions=unused,  # type: ignore[arg-type]
        executor=unused,  # type: ignore[arg-type]
        clock=unused,  # type: ignore[arg-type]
        submit=lambda signals: None,
    )
    assert loop.forecaster.settings.history_periods == 28
    assert loop.keep == 28 * 86400.0 > RECENT * STEP
    assert load_settings(None).scaling.profile_history == 7 * 86400.0


def test_shipped_example_is_valid() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.anomaly_queries[0].name == "http-p99-latency"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mode: yolo\n", r"autonomic.yaml:1: mode: Input should be 'observe', 'propose' or 'act'"),
        ("prometheus:\n  url: http://x\n  tiemout: 5s\n", r":3: prometheus.tiemout: unknown key"),
        ("routing:\n  auto: high\n", r":2: routing.auto: Input should be a valid number"),
        ("safety:\n  cooldown: soon\n", r":2: safety.cooldown: expected a duration"),
        ("anomalyQueries:\n  - name: x\n", r":2: anomalyQueries.0.expr: required but missing"),
        ("routing:\n  auto: 0.5\n  ask: 0.7\n", r"routing.ask \(0.7\) must not exceed"),
        ("a: 1\na: 2\n", r":2: duplicate key 'a'"),
        ("mode: [\n", r"autonomic.yaml:\d+: not valid YAML"),
        ("- just\n- a list\n", r"must be a mapping of sections"),
        ("ledger:\n  url: postgresql://u:hunter2@db/x\n", r"password in ledger.password"),
        (
            "scaling:\n  profileHistory: 36h\n",
            r":2: scaling.profileHistory: .*whole number of days",
        ),
        ("scaling:\n  profileHistory: 1d\n", r":2: scaling.profileHistory: .*from 2d to 90d"),
    ],
)
def test_bad_configs_name_line_field_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(write(tmp_path, text))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: yolo\nsafety:\n  cooldown: soon\n  typo: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert (
        ":1: mode" in message and ":3: safety.cooldown" in message and ":4: safety.typo" in message
    )


def test_inline_secrets_are_refused_and_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "slack:\n  botToken: xoxb-very-secret\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "xoxb-very-secret" not in str(info.value)
    assert "use {file: PATH} or {env: VARIABLE}" in str(info.value)


def test_environment_overrides_and_names_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: observe\n")
    settings = load_settings(
        path, {"AUTONOMIC__MODE": "act", "AUTONOMIC__LEADER_ELECTION__LEASE_DURATION": "30s"}
    )
    assert settings.mode == "act"
    assert settings.leader_election.lease_duration == 30.0
    with pytest.raises(ConfigError, match=r"environment AUTONOMIC__ROUTING__AUTO: routing\.auto"):
        load_settings(path, {"AUTONOMIC__ROUTING__AUTO": "2"})


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), (90, 90)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, env=env, check=False
    )


def test_config_check_accepts_the_example() -> None:
    done = _cli("config", "check", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "mode: propose" in done.stdout


def test_config_check_rejects_and_hides_secret_values(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("xoxb-top-secret\n")
    good = write(
        tmp_path,
        f"slack:\n  enabled: true\n  botToken: {{file: {secret}}}\n"
        "  signingSecret: {env: SIGNING}\n  channel: '#ops'\n  approvers: [U1]\nrunbooks: []\n",
    )
    done = _cli("config", "check", str(good), env={"SIGNING": "s3cr3t-value", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "xoxb-top-secret" not in done.stdout + done.stderr
    assert "s3cr3t-value" not in done.stdout + done.stderr
    missing = _cli("config", "check", str(good), env={"PATH": ""})
    assert missing.returncode == 2
    assert "SIGNING is not set" in missing.stderr
    broken = _cli("config", "check", str(write(tmp_path, "mode: yolo\n")))
    assert broken.returncode == 2 and "mode:" in broken.stderr
