from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.errors import ConfigError
from agent.settings import ENV_PREFIX, Settings, _apply_env, load_settings, parse_duration

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

    text = "scaling:\n  profileHistory: 28d\n  shapeOnlySeasonality: false\n"
    settings = load_settings(write(tmp_path, text))
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
    assert not loop.forecaster.settings.strength_within_period
    assert loop.keep == 28 * 86400.0 > RECENT * STEP
    assert load_settings(None).scaling.profile_history == 14 * 86400.0
    assert load_settings(None).scaling.shape_only_seasonality


def test_alertmanager_repeat_interval_is_a_duration_above_zero(tmp_path: Path) -> None:
    assert load_settings(None).alertmanager.repeat_interval == 4 * 3600.0
    text = "alertmanager:\n  repeatInterval: 12h\n"
    assert load_settings(write(tmp_path, text)).alertmanager.repeat_interval == 12 * 3600.0
    with pytest.raises(ConfigError, match=r":2: alertmanager.repeatInterval: "):
        load_settings(write(tmp_path, "alertmanager:\n  repeatInterval: 0s\n"))


def test_shipped_example_is_valid() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.anomaly_queries[0].name == "http-p99-latency"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "mode: yolo\n",
            r"autonomic.yaml:1: mode: must be 'observe', 'propose' or 'act', got 'yolo'",
        ),
        ("prometheus:\n  url: http://x\n  tiemout: 5s\n", r":3: prometheus.tiemout: unknown key"),
        (
            "prometheus:\n  url: http://x\n  tiemout: 5s\n",
            r":3: prometheus.tiemout: unknown key \(did you mean 'timeout'\? the keys here are "
            r"bearerToken, staleAfter, timeout, url, verifyTLS; see docs/configuration.md\)",
        ),
        (
            "safety:\n  typo: 1\n",
            r":2: safety.typo: unknown key \(check the spelling; the keys here are approved",
        ),
        (
            "slack:\n  questionTtl: 5m\n",
            r":2: slack.questionTtl: unknown key \(did you mean 'questionTTL'\?",
        ),
        (
            "anomalyQueries:\n  - name: a\n    expr: up\n    stepp: 1m\n",
            r":4: anomalyQueries\[0\].stepp: unknown key \(did you mean 'step'\? the keys here are "
            r"breakdownBy, expectedWindows, expr, history, minVolume, name, step, threshold;",
        ),
        (
            "slack:\n  botToken: {fiel: /x}\n",
            r":2: slack.botToken.fiel: unknown key \(did you mean 'file'\? the keys here are "
            r"env, file; see docs/configuration.md\)",
        ),
        ("routing:\n  auto: high\n", r':2: routing.auto: expected a number, got the string "high"'),
        ("safety:\n  cooldown: soon\n", r":2: safety.cooldown: expected a duration"),
        (
            "anomalyQueries:\n  - name: x\n",
            r":2: anomalyQueries\[0\].expr: required key is missing",
        ),
        (
            "anomalyQueries:\n  - name: Latency\n    expr: up\n",
            r":2: anomalyQueries\[0\].name: a query's name is lower-case letters, digits, '_', '.' "
            r"and '-', starting with a letter or digit \(got 'Latency'\)",
        ),
        ("routing:\n  auto: 0.5\n  ask: 0.7\n", r"routing.ask \(0.7\) must not exceed"),
        ("a: 1\na: 2\n", r":2: a: duplicate key 'a'"),
        # The field path of a repeated key, not only its name (which every section may use).
        (
            "routing:\n  auto: 0.9\n  auto: 0.8\n",
            r":3: routing.auto: duplicate key 'auto' \(first defined on line 2\); YAML would "
            r"silently keep only the last one: remove or rename one of them",
        ),
        # An unknown section is named at its own line, not the line of its first key.
        ("mode: act\nprometheous:\n  url: http://x\n", r":2: prometheous: unknown key"),
        # The tab, and where an unclosed quote began (PyYAML names the end of the file).
        ("prometheus:\n\turl: http://x\n", r":2: not valid YAML: .*: indent with spaces$"),
        (
            'mode: "propose\nrouting:\n  auto: 0.9\n',
            r":4: not valid YAML: .*; the quoted value that starts on line 1 is never closed",
        ),
        ("mode: [\n", r"autonomic.yaml:\d+: not valid YAML"),
        (
            "prometheus:\n  url: http://x\n    timeout: 5s\n",
            r":3: not valid YAML: mapping values are not allowed here; YAML found a 'key:' "
            r"where none can start: quote a value that holds ': '",
        ),
        (
            "safety:\n  paused: false\n cooldown: 5m\n",
            r":3: not valid YAML: expected <block end>, but found '<block mapping start>'; "
            r"this line is indented unlike the lines above it \(the block from line 1\)",
        ),
        ("- just\n- a list\n", r"must be a mapping of sections"),
        ("ledger:\n  url: postgresql://u:hunter2@db/x\n", r"password in ledger.password"),
        (
            "scaling:\n  profileHistory: 36h\n",
            r":2: scaling.profileHistory: .*whole number of days",
        ),
        (
            "scaling:\n  profileHistory: 1d\n",
            r":2: scaling.profileHistory: .*from 2 to 90, got 1d: the seasonal profile needs "
            r"at least 2 days",
        ),
        # pydantic's words were "Input should be less than 1 (got 1.5)"
        ("routing:\n  poolCap: 1.5\n", r":2: routing.poolCap: must be less than 1, got 1\.5$"),
        ("routing:\n  poolCap: -0.5\n", r":2: routing.poolCap: must be at least 0, got -0\.5$"),
        (
            "routing:\n  window: 5x\n",
            r':2: routing.window: expected a whole number, got the string "5x"$',
        ),
        # A whole number with only a lower bound took a 400-digit number: routing's ledger
        # read (a limit past 64 bits), the retention cut-off's date and a floor written to
        # Kubernetes then failed at run time, not at the check.
        *[
            (
                f"{section}:\n  {key}: {'9' * 400}\n",
                rf":2: {section}.{key}: must be at most {most}, got 9+\.\.\.$",
            )
            for section, key, most in (
                ("routing", "window", 10_000),
                ("ledger", "retentionDays", 36_500),
                ("safety", "maxActionsPerHour", 10_000),
                ("safety", "stormThreshold", 10_000),
                ("safety", "maxPodsDisruptedPerHour", 150_000),
                ("safety", "maxPodsDisruptedPerHourPerNamespace", 150_000),
            )
        ],
        (
            "scaling:\n  scheduledFloors:\n    - name: open\n      workloads: [shop/web]\n"
            "      minReplicas: 10001\n      timezone: UTC\n      weekly: []\n",
            r":5: scaling.scheduledFloors\[0\].minReplicas: must be at most 10000, got 10001",
        ),
        # Passed the check; every read then failed as if Prometheus were not answering
        # (or with a ValueError), every period.
        *[
            (f"prometheus:\n  url: '{url}'\n", rf":2: prometheus.url: {says}")
            for url, says in (
                ("http://prometheus:99999", r"not a usable URL \(Port out of range"),
                ("http://prometheus:909O", r"not a usable URL \(Port could not be cast"),
                ("http://[::1:9090", r"not a usable URL \(Invalid IPv6 URL\)"),
                ("http://:9090", "the URL names no host"),
            )
        ],
        # Passed the check; `run` then stopped on it, without the file, line or field.
        (
            "ledger:\n  url: postgresql://autonomic@db:abc/autonomic\n",
            r":2: ledger.url: not a database URL \(invalid literal .*'abc'\)",
        ),
        # Passed the check and started a daemon whose every job then failed ("no such
        # table": each thread had an empty in-memory database of its own).
        *[
            (f"ledger:\n  url: '{url}'\n", r":2: ledger.url: an in-memory SQLite database cannot")
            for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///x.db?mode=memory")
        ],
    ],
)
def test_bad_configs_name_line_field_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(write(tmp_path, text))


def test_a_config_not_in_utf8_names_the_line_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_bytes(b"mode: propose\ncluster:\n  name: caf\xe9\n")
    with pytest.raises(
        ConfigError,
        match=r"autonomic.yaml:3: the config file is not UTF-8 "
        r"text: byte 0xe9 at column 12 .*save it as UTF-8",
    ):
        load_settings(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: yolo\nsafety:\n  cooldown: soon\n  typo: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert (
        ":1: mode" in message and ":3: safety.cooldown" in message and ":4: safety.typo" in message
    )


def test_problems_are_listed_top_to_bottom_as_the_file_reads(tmp_path: Path) -> None:
    # pydantic reports them in the model's field order: prometheus before safety before
    # routing before slack, wherever the file writes them
    path = write(
        tmp_path,
        "slack:\n  enabled: maybe\nrouting:\n  auto: 0.5\n  ask: 0.8\n"
        "safety:\n  cooldown: soon\nprometheus:\n  timout: 5s\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = [int(line.split(":")[1]) for line in str(info.value).splitlines()[1:]]
    assert lines == [2, 5, 7, 9]


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


def _documented_env_spelling(key: str) -> str:
    """docs/configuration.md: ``_`` between words, at camelCase and acronym boundaries:
    ``maxActionsPerHour`` -> ``MAX_ACTIONS_PER_HOUR``, ``questionTTL`` -> ``QUESTION_TTL``,
    ``baseURL`` -> ``BASE_URL``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", key).upper()


def _held_model(annotation: Any) -> type[BaseModel] | None:
    """The section a field holds, directly or as ``X | None`` (a list of models, such as
    ``anomalyQueries``, is set as a whole value, not key by key)."""
    for option in (annotation, *typing.get_args(annotation)):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _every_key(
    model: type[BaseModel] = Settings, path: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """The alias path of every key of every section reachable from ``Settings``."""
    keys: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        key = (*path, info.alias or name)
        keys.append(key)
        if (held := _held_model(info.annotation)) is not None:
            keys.extend(_every_key(held, key))
    return keys


EVERY_KEY = _every_key()


def test_every_key_is_found_by_the_key_walk() -> None:
    # A guard on the table below: it must reach nested sections and the acronym keys.
    for key in [
        ("slack", "questionTTL"),
        ("slack", "baseURL"),
        ("prometheus", "verifyTLS"),
        ("safety", "maxActionsPerHour"),
        ("leaderElection", "leaseDuration"),
        ("prometheus", "bearerToken", "env"),
        ("mode",),
    ]:
        assert key in EVERY_KEY
    assert len(EVERY_KEY) > 60


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("questionTTL", "QUESTION_TTL"),
        ("maxActionsPerHour", "MAX_ACTIONS_PER_HOUR"),
        ("verifyTLS", "VERIFY_TLS"),
        ("baseURL", "BASE_URL"),
        ("leaderElection", "LEADER_ELECTION"),
        ("url", "URL"),
    ],
)
def test_documented_env_spelling(spelling: str, expected: str) -> None:
    assert _documented_env_spelling(spelling) == expected


@pytest.mark.parametrize("key", EVERY_KEY, ids=".".join)
def test_every_key_can_be_set_from_the_environment(key: tuple[str, ...]) -> None:
    name = ENV_PREFIX + "__".join(_documented_env_spelling(k) for k in key)
    data: dict[str, Any] = {}
    assert _apply_env(data, {name: "value"}) == [name]
    expected: Any = "value"
    for part in reversed(key):
        expected = {part: expected}
    assert data == expected, name


def _every_section(model: type[BaseModel] = Settings) -> set[type[BaseModel]]:
    sections = {model}
    for info in model.model_fields.values():
        if (held := _held_model(info.annotation)) is not None:
            sections |= _every_section(held)
    return sections


@pytest.mark.parametrize("model", sorted(_every_section(), key=lambda m: m.__name__))
def test_no_two_keys_of_a_section_share_an_environment_name(model: type[BaseModel]) -> None:
    squashed = [
        (info.alias or name).replace("_", "").lower() for name, info in model.model_fields.items()
    ]
    assert len(squashed) == len(set(squashed)), model


def test_acronym_keys_are_overridden_end_to_end(tmp_path: Path) -> None:
    path = write(tmp_path, "slack:\n  questionTTL: 10m\n  baseURL: http://file.test/api/\n")
    assert load_settings(path).slack.question_ttl == 600.0
    settings = load_settings(
        path,
        {
            "AUTONOMIC__SLACK__QUESTION_TTL": "5m",
            "AUTONOMIC__PROMETHEUS__VERIFY_TLS": "false",
            "AUTONOMIC__SLACK__BASE_URL": "http://env.test/api/",
            "AUTONOMIC__SAFETY__MAX_ACTIONS_PER_HOUR": "3",
        },
    )
    assert settings.slack.question_ttl == 300.0
    assert settings.prometheus.verify_tls is False
    assert settings.slack.base_url == "http://env.test/api/"
    assert settings.safety.max_actions_per_hour == 3
    # A bad value is still reported as coming from the variable, under the real key.
    with pytest.raises(
        ConfigError,
        match=r"environment AUTONOMIC__SLACK__QUESTION_TTL: slack\.questionTTL: "
        r"expected a duration",
    ):
        load_settings(path, {"AUTONOMIC__SLACK__QUESTION_TTL": "soon"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "AUTONOMIC__SLACK__QUESTION_TIMEOUT",
            r"environment AUTONOMIC__SLACK__QUESTION_TIMEOUT: slack\.questionTimeout: unknown key",
        ),
        (
            "AUTONOMIC__PROMETHEUS__VERIFY_SSL",
            r"environment AUTONOMIC__PROMETHEUS__VERIFY_SSL: prometheus\.verifySsl: unknown key",
        ),
        ("AUTONOMIC__NOPE__URL", r"environment AUTONOMIC__NOPE__URL: nope: unknown key"),
        ("AUTONOMIC__NOPE", r"environment AUTONOMIC__NOPE: nope: unknown key"),
    ],
)
def test_unknown_environment_names_are_still_refused(name: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        load_settings(None, {name: "1"})
    assert "; see docs/configuration.md)" in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        (90, 90),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("2d12h", 216000),
        ("1m30s", 90),
        ("1s500ms", 1.5),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1h 30m", "1h30", "h", "1.5h30m", "-1h30m", "400d1h"])
def test_malformed_compound_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


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
        "  signingSecret: {env: SIGNING}\n  channel: '#ops'\n  approvers: [U0AL]\nrunbooks: []\n",
    )
    done = _cli("config", "check", str(good), env={"SIGNING": "s3cr3t-value", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "xoxb-top-secret" not in done.stdout + done.stderr
    assert "s3cr3t-value" not in done.stdout + done.stderr
    # not set here (the pod sets it): a warning; set to nothing: a problem
    missing = _cli("config", "check", str(good), env={"PATH": ""})
    assert missing.returncode == 0, missing.stderr
    assert "secret environment variable SIGNING is not set here" in missing.stdout
    empty = _cli("config", "check", str(good), env={"SIGNING": "", "PATH": ""})
    assert empty.returncode == 2
    assert "SIGNING is empty" in empty.stderr
    broken = _cli("config", "check", str(write(tmp_path, "mode: yolo\n")))
    assert broken.returncode == 2 and "mode:" in broken.stderr


def test_an_env_secret_is_read_as_a_file_secret_without_its_line_end(tmp_path: Path) -> None:
    """A Secret made from a file written with `echo` puts "token\\n" in the variable; the
    same Secret mounted as a file was always read without it. Both give the same token, so
    a bearer token set from such a Secret is not refused on every call."""
    from agent.settings import SecretRef, resolve_secret

    path = tmp_path / "token"
    path.write_text("s3cret\n", encoding="utf-8")
    from_file = resolve_secret(SecretRef(file=path), {})
    from_env = resolve_secret(SecretRef(env="TOKEN"), {"TOKEN": "s3cret\r\n"})
    assert from_file is not None and from_env is not None
    assert from_env.get_secret_value() == from_file.get_secret_value() == "s3cret"
