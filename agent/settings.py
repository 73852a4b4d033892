"""Autonomic's configuration: one YAML file plus environment overrides, parsed once.

``load_settings(path, environ)`` returns a frozen ``Settings`` or raises
``ConfigError`` whose message names the file, the line, the field and what was
expected. Nothing reads ``os.environ`` outside this module: callers pass the
environment in.

Environment overrides use ``AUTONOMIC__`` and ``__`` between levels, for example
``AUTONOMIC__PROMETHEUS__URL=http://prom:9090`` or ``AUTONOMIC__MODE=observe``. Values
are parsed as YAML scalars, so ``true``, ``5`` and ``0.9`` get their natural types.

Secrets (Slack tokens, the signing secret, database passwords, webhook tokens) are
never written inline: a ``SecretRef`` names a file (``file: /var/run/secrets/x``) or an
environment variable (``env: SLACK_BOT_TOKEN``); the value is read at start-up into a
``SecretStr`` that prints as ``**********``. No error message repeats a password written
inside a URL (``scheme://user:PASSWORD@host`` or ``?password=``): it shows ``***``.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agent.errors import ConfigError, redact_url_passwords
from agent.yamlsource import (
    YamlLines,
    YamlSourceError,
    document_kind,
    load_yaml_value,
    load_yaml_with_marks,
)
from remediation._types import Duration as WrittenDuration
from remediation._types import (
    RunbookModel,
    freeze_lists,
    not_a_number,
    not_a_whole_number,
)
from remediation.digits import unseen_character
from remediation.validation import causes, explain, field_path, unknown_key
from remediation.windows import (
    MAX_CRON_WINDOW,
    Cron,
    Timezone,
    WindowFields,
    closes_at,
    cron_never_starts,
    describe,
    first_open,
    last_close,
    to_utc_text,
)
from remediation.yaml_hints import not_utf8

__all__ = [
    "AlertmanagerSettings",
    "AnomalyQuery",
    "ExpectedWindow",
    "LeaderElectionSettings",
    "LedgerSettings",
    "MinVolume",
    "Number",
    "PrometheusSettings",
    "RoutingSettings",
    "SafetySettings",
    "ScheduledFloor",
    "ScheduledFloors",
    "SecretRef",
    "Settings",
    "SettingsSource",
    "SlackSettings",
    "WholeNumber",
    "advisories",
    "check_kubeconfig",
    "check_runbook_paths",
    "check_secrets",
    "default_credentials_problem",
    "explain_error",
    "kubeconfig_problem",
    "load_settings",
    "load_settings_with_source",
    "no_kubeconfig",
    "parse_duration",
    "redact_url_passwords",
    "resolve_secret",
    "strict_number",
]

ENV_PREFIX = "AUTONOMIC__"
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|w)?\s*$", re.ASCII)
# Prometheus's and Go's compound form, as runbooks accept it: 1h30m, 2d12h, 1m30s.
_COMPOUND = re.compile(r"^\s*((?:[0-9]+(?:ms|s|m|h|d|w))+)\s*$", re.ASCII)
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}
# As for runbooks: nothing waits, looks back or repeats over more than a year, and the
# scheduler cannot hold an interval of 10**30 s at all (it stopped the daemon).
_MAX_DURATION = 366 * 86400.0


def parse_duration(value: object) -> float:
    """``"30s"``, ``"5m"``, ``"2h"``, ``"1h30m"`` or a number of seconds, to seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 2h, got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif isinstance(value, str) and (match := _COMPOUND.match(value)):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(match.group(1)))
    else:
        unseen = unseen_character(value) if isinstance(value, str) else ""
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1h30m, got {value!r}{unseen}")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be finite, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if seconds > _MAX_DURATION:
        raise ValueError(f"a duration must be at most 366d (a year), got {value!r}")
    return seconds


def parse_positive_duration(value: object) -> float:
    """``parse_duration`` for a period, timeout, step or lifetime: more than zero."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than 0s (a period, timeout or lifetime), got {value!r}")
    return seconds


# The most pods Kubernetes supports in one cluster (its documented scalability limit).
MAX_CLUSTER_PODS = 150_000

Duration = Annotated[float, Field(ge=0)]
PositiveDuration = Annotated[float, Field(gt=0)]


def strict_number(value: Any, *, whole: bool = False) -> Any:
    """``value`` when the file wrote a number there (``whole``: a whole number), else a
    ``ValueError`` in the words the configuration, scenarios and runbooks share.

    pydantic's lax mode would take ``"0.9"`` as 0.9, ``yes`` (which YAML 1.1 reads as a
    boolean) as 1 and ``50.0`` as 50 for a whole-number setting: text, a boolean and a
    fraction are refused as runbooks refuse them, each with what to write instead.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"expected a number, got {str(value).lower()} (YAML reads an unquoted yes, "
            "no, on, off, true or false as a boolean)"
        )
    if isinstance(value, str):
        raise ValueError(not_a_number(value, whole=whole))
    if whole and isinstance(value, float):
        raise ValueError(not_a_whole_number(value))
    return value


def _number(value: Any) -> Any:
    return strict_number(value)


def _whole_number(value: Any) -> Any:
    return strict_number(value, whole=True)


# For models that cannot use ``_Model``'s catch-all check (a discriminated union's member
# may have no "before" validator on its tag, and a catch-all one would be on it too).
Number = Annotated[float, BeforeValidator(_number)]
"""A number written as one: not text (``"0.9"``) and not a boolean (``yes``)."""
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
"""A whole number written as one: not text, a boolean or a fraction (``50.0``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML reads yes, no, on and off as booleans, and pydantic would then take them
        # as 1 and 0: `maxActionsPerHour: no` must not mean 0, nor `auto: yes` 1.0.
        # Nor is text a number, as in runbooks: pydantic would take `auto: "0.9"` as 0.9
        # while a quoted `"true"` is refused. A duration is text on purpose ("5m"): its
        # field has a validator of its own that reads it.
        # And a whole-number setting takes no fraction, as in runbooks: `window: 50.0`
        # is refused with what to write instead.
        field = cls.model_fields.get(info.field_name or "")
        if field is None or field.annotation not in (int, float):
            return value
        if isinstance(value, str) and info.field_name in _reads_own_text(cls):
            return value
        return strict_number(value, whole=field.annotation is int)


@cache
def _reads_own_text(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that a "before" validator of their own reads (durations)."""
    return frozenset(
        name
        for decorator in model.__pydantic_decorators__.field_validators.values()
        if decorator.info.mode == "before"
        for name in decorator.info.fields
        if name != "*"
    )


def _duration_fields(*names: str) -> Any:
    """Durations that may be 0 (cooldowns, a lag)."""
    return field_validator(*names, mode="before")(lambda cls, v: parse_duration(v))


def _positive_duration_fields(*names: str) -> Any:
    """Durations that must be more than 0: periods, timeouts, steps, lifetimes."""
    return field_validator(*names, mode="before")(lambda cls, v: parse_positive_duration(v))


def _problem_at(message: str, *at: str | int) -> PydanticCustomError:
    """A section's problem reported at the key ``at`` (as the file writes it, alias
    included) rather than at the section: its line is the one to fix."""
    return PydanticCustomError("problem_at", "{message}", {"message": message, "at": at})


class SecretRef(_Model):
    """Where a secret comes from: a file or an environment variable, never inline."""

    file: Path | None = None
    env: str | None = None

    @field_validator("file", "env", mode="before")
    @classmethod
    def _named(cls, value: Any, info: ValidationInfo) -> Any:
        # An empty file name is read as "." (a directory), an empty variable as one
        # that "is not set": say what is actually wrong.
        if isinstance(value, str) and not value.strip():
            what = "a file path" if info.field_name == "file" else "a variable name"
            raise ValueError(f"{info.field_name} is empty: give {what}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env' for a secret")
        return self


def resolve_secret(ref: SecretRef | None, environ: Mapping[str, str]) -> SecretStr | None:
    """Read a secret's value; the error names where it was expected, never the value."""
    if ref is None:
        return None
    if ref.file is not None:
        try:
            value = ref.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read secret file {ref.file}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"secret file {ref.file} is not UTF-8 text") from None
        if not value:
            # An empty token would let an empty bearer header in, or silently turn a
            # signature check off: a secret that is missing is refused, not used.
            raise ConfigError(f"secret file {ref.file} is empty")
        return SecretStr(value)
    assert ref.env is not None
    if ref.env not in environ:
        raise ConfigError(f"secret environment variable {ref.env} is not set")
    # Read as a file secret is: without surrounding whitespace, so a Secret made from a
    # file written with `echo` ("token\n") gives the token whether mounted or in env.
    value = environ[ref.env].strip()
    if not value:
        raise ConfigError(f"secret environment variable {ref.env} is empty")
    return SecretStr(value)


def check_secrets(
    settings: Settings,
    source: SettingsSource,
    environ: Mapping[str, str],
    *,
    elsewhere: bool = False,
) -> tuple[list[str], list[str], list[str]]:
    """Every secret the file names, read: the problems, each as ``FILE:LINE: field:
    message`` at the ``file:`` or ``env:`` that names it, where each readable one comes
    from (never its value), and warnings. ``config check`` prints all three; ``run``
    stops on the problems before it opens the ledger or connects to anything.

    ``elsewhere`` (``config check``): the file may be read on another machine, the
    daemon's pod, where the Deployment mounts its secrets (``/var/run/secrets/...``). A
    file whose folder is not on this machine either is then a warning, not a problem:
    it cannot be read here, and ``run`` reads it at start-up and stops if it is missing
    there. A file missing from a folder that is here stays a problem (a misspelt name,
    or a key the Secret does not hold), as does one that is here but unreadable or empty.
    So is an ``env:`` variable not set here: such variables are usually set only in the
    pod (from a Secret, ``envFrom``), and ``run`` stops at start-up if it is not set
    there. One set here to nothing stays a problem.
    """
    secrets = {
        "slack.botToken": settings.slack.bot_token,
        "slack.appToken": settings.slack.app_token,
        "slack.signingSecret": settings.slack.signing_secret,
        "ledger.password": settings.ledger.password,
        "alertmanager.token": settings.alertmanager.token,
        "canary.token": settings.canary.token,
        "prometheus.bearerToken": settings.prometheus.bearer_token,
        "server.readToken": settings.server.read_token,
    }
    problems: list[str] = []
    readable: list[str] = []
    warnings: list[str] = []
    for name, ref in secrets.items():
        if ref is None:
            continue
        loc = (*name.split("."), "file" if ref.file is not None else "env")
        if elsewhere and ref.file is not None and not _folder_here(ref.file):
            warnings.append(
                f"{source.where(loc)}: {name}: secret file {ref.file} is not on this "
                f"machine (nor is its folder {ref.file.parent}), so it is not read here; "
                "`autonomic run` reads it at start-up and stops if it is missing there"
            )
            continue
        if elsewhere and ref.env is not None and ref.env not in environ:
            warnings.append(
                f"{source.where(loc)}: {name}: secret environment variable {ref.env} is not "
                "set here, so it is not read here; `autonomic run` reads it at start-up "
                "and stops if it is not set there"
            )
            continue
        try:
            resolve_secret(ref, environ)
        except ConfigError as exc:
            problems.append(f"{source.where(loc)}: {name}: {exc}")
        else:
            where = f"file {ref.file}" if ref.file is not None else f"${ref.env}"
            readable.append(f"{name} from {where} (readable; value not shown)")
    return problems, readable, warnings


def _folder_here(path: Path) -> bool:
    """Whether the folder ``path`` is read from exists on this machine."""
    try:
        return path.parent.is_dir()
    except OSError:  # a folder that cannot even be looked at is here, and an error
        return True


def check_runbook_paths(settings: Settings, source: SettingsSource) -> list[str]:
    """The configured runbook paths that do not exist, each at its line in the file."""
    problems = []
    for index, path in enumerate(settings.runbooks):
        if not path.exists():
            entry = ("runbooks", index)
            default = "" if source.written(entry) else " (the default: runbooks is not set)"
            problems.append(f"{source.where(entry)}: runbooks: {path} does not exist{default}")
    return problems


class PrometheusSettings(_Model):
    url: str = "http://prometheus-operated.monitoring:9090"
    timeout: PositiveDuration = 10.0
    stale_after: PositiveDuration = Field(default=300.0, alias="staleAfter")
    bearer_token: SecretRef | None = Field(default=None, alias="bearerToken")
    verify_tls: StrictBool = Field(default=True, alias="verifyTLS")

    _durations = _positive_duration_fields("timeout", "stale_after")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        shown = redact_url_passwords(value, whole=True)
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {shown!r}")
        # A host or port no request can use (an unclosed "[", port 99999 or "abc") would
        # only show up later, as a Prometheus "not answering" every period.
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (reading it checks it)
        except ValueError as exc:
            raise ValueError(
                f"not a usable URL ({exc}): expected http(s)://HOST[:PORT], got {shown!r}"
            ) from None
        if not parts.hostname:
            raise ValueError(
                f"the URL names no host: expected http(s)://HOST[:PORT], got {shown!r}"
            )
        return value.rstrip("/")


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"


def _namespace_name(value: str) -> str:
    """A Kubernetes namespace name. An empty one means every namespace to the API
    client: ``namespaces: [shop, ""]`` stopped the daemon with a traceback."""
    if len(value) > 63 or not re.fullmatch(_DNS_LABEL, value):
        raise ValueError(
            "not a namespace name: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _lease_name(value: str) -> str:
    if len(value) > 253 or not re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", value):
        raise ValueError(
            "not a Lease name: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _label_key(value: str) -> str:
    """A Kubernetes label key, ``[PREFIX/]NAME``: a label no workload can carry (say
    ``autonomic.dev/enabled=true``, the selector) would opt every workload out."""
    prefix, _, name = value.rpartition("/")
    if (
        len(name) > 63
        or not re.fullmatch(_LABEL_NAME, name)
        or (
            prefix
            and (len(prefix) > 253 or not re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", prefix))
        )
        or (not prefix and value.startswith("/"))
    ):
        raise ValueError(
            "not a label key: write the key alone, such as "
            'autonomic.dev/enabled (workloads opt in with the value "true")'
        )
    return value


NamespaceName = Annotated[str, AfterValidator(_namespace_name)]


def _field_manager(value: str) -> str:
    """A field manager's name as the API server takes one: 1 to 128 printable
    characters (it refuses a longer or unprintable ``fieldManager``)."""
    if not value or len(value) > 128 or not value.isprintable() or value != value.strip():
        raise ValueError(
            "not a field manager name: write the name a controller writes with, as "
            "metadata.managedFields[].manager shows it, e.g. cluster-autoscaler (1 to 128 "
            "printable characters, no surrounding spaces)"
        )
    return value


def _slack_approver(value: str) -> str:
    """A Slack user id (U… or W…) or user group id (S…): what ``slack.approvers`` holds."""
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,}", value):
        raise ValueError(
            "expected a Slack user id (U… or W…) or user group id (S…), not a name or @handle"
        )
    return value


def _slack_group(value: str) -> str:
    """A Slack user group id (S…): what ``slack.oncallGroup`` holds, mentioned as
    ``<!subteam^ID>`` in every escalation."""
    if not re.fullmatch(r"S[A-Z0-9]{2,}", value):
        raise ValueError(
            "expected a Slack user group id (S…), not a name, @handle or user id: "
            "escalations mention the group by its id"
        )
    return value


def _slack_user(value: str) -> str:
    """A Slack user id (U… or W…): a key of ``slack.kubernetesIdentities``."""
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}", value):
        raise ValueError(
            "expected a Slack user id (U… or W…): a Kubernetes identity is a person's, "
            "not a user group's, a name's or an @handle's"
        )
    return value


def _kubernetes_name(value: str) -> str:
    """A Kubernetes user or group name, as a SubjectAccessReview names it."""
    if not value or value != value.strip() or not value.isprintable():
        raise ValueError(
            "expected a Kubernetes user or group name as the API server authenticates it "
            "(alice@corp.example, system:masters): not empty, no surrounding spaces"
        )
    return value


def _identity_shorthand(value: Any) -> Any:
    """``U0ALICE: alice@corp`` is ``U0ALICE: {user: alice@corp}``."""
    return {"user": value} if isinstance(value, str) else value


FieldManager = Annotated[str, AfterValidator(_field_manager)]
SlackUser = Annotated[str, AfterValidator(_slack_user)]
KubernetesName = Annotated[str, AfterValidator(_kubernetes_name)]
SlackApprover = Annotated[str, AfterValidator(_slack_approver)]
SlackGroup = Annotated[str, AfterValidator(_slack_group)]


class ClusterSettings(_Model):
    name: str = "default"
    in_cluster: StrictBool = Field(default=False, alias="inCluster")
    kubeconfig: Path | None = None
    context: str | None = None
    namespaces: tuple[NamespaceName, ...] = ()
    opt_in_label: Annotated[str, AfterValidator(_label_key)] = Field(
        default="autonomic.dev/enabled", alias="optInLabel"
    )
    exclude_namespaces: tuple[NamespaceName, ...] = Field(
        default=("kube-system", "kube-public", "kube-node-lease"), alias="excludeNamespaces"
    )
    resync: PositiveDuration = 300.0
    # Field managers (besides Autonomic and the cluster's own controllers, which are
    # built in) whose writes do not count as "a person changed it": a controller of
    # this cluster that rewrites workloads or nodes, e.g. cluster-autoscaler.
    ignore_field_managers: tuple[FieldManager, ...] = Field(default=(), alias="ignoreFieldManagers")

    _durations = _positive_duration_fields("resync")

    @model_validator(mode="after")
    def _listed_not_excluded(self) -> ClusterSettings:
        both = [ns for ns in dict.fromkeys(self.namespaces) if ns in self.exclude_namespaces]
        if both:
            raise _problem_at(
                f"cluster.namespaces lists {', '.join(both)}, which cluster.excludeNamespaces "
                "also lists: a namespace cannot be both watched and excluded (remove it from "
                "one of them)",
                "excludeNamespaces",
                self.exclude_namespaces.index(both[0]),
            )
        return self


class LedgerSettings(_Model):
    url: str = "sqlite:///autonomic-ledger.sqlite"
    password: SecretRef | None = None
    # At most 100 years: a longer retention keeps everything anyway, and a 400-digit
    # number overflowed the cut-off's date arithmetic at the first pruning.
    retention_days: int = Field(default=400, ge=7, le=36_500, alias="retentionDays")

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError(
                "expected sqlite:///PATH or postgresql://USER@HOST/DB "
                "(the password goes in ledger.password, not in the URL)"
            )
        # As SQLAlchemy reads it: the password runs from the first ":" to the "@", and
        # libpq also takes one from the query string.
        if re.match(r"^postgresql(\+psycopg)?://[^:/@]*:[^@]*@", value) or re.search(
            r"[?&](password|passwd)=", value, re.IGNORECASE
        ):
            raise ValueError("put the database password in ledger.password, not in the URL")
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(value)
        except (ArgumentError, ValueError) as exc:
            # `run` would stop on it when it opens the ledger: so does the check.
            raise ValueError(
                f"not a database URL ({exc}); expected sqlite:///PATH or "
                "postgresql://USER@HOST:PORT/DB"
            ) from None
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and (
            database in ("", ":memory:")
            or database.startswith("file::memory:")
            or parsed.query.get("mode") == "memory"
        ):
            # Each of the daemon's threads would get a database of its own, without
            # tables, and a restart would forget every intent, limit and answer.
            raise ValueError(
                "an in-memory SQLite database cannot hold the ledger: name a file, "
                "such as sqlite:////var/lib/autonomic/ledger.sqlite"
            )
        return value


class KubernetesIdentitySettings(_Model):
    """Whom a Slack user is in Kubernetes (``slack.kubernetesIdentities``)."""

    user: KubernetesName
    groups: tuple[KubernetesName, ...] = ()


class SlackSettings(_Model):
    enabled: StrictBool = False
    bot_token: SecretRef | None = Field(default=None, alias="botToken")
    app_token: SecretRef | None = Field(default=None, alias="appToken")
    signing_secret: SecretRef | None = Field(default=None, alias="signingSecret")
    channel: str | None = None
    # Slack user ids (U… or W…) or user group ids (S…): checked here, so that `config
    # check` refuses a name or @handle at its line rather than `run` stopping on it.
    approvers: tuple[SlackApprover, ...] = ()
    # Narrower lists for decisions about objects in a namespace: an answer there must come
    # from someone ``approvers`` admits *and* this namespace's list admits.
    approvers_by_namespace: dict[NamespaceName, tuple[SlackApprover, ...]] = Field(
        default_factory=dict, alias="approversByNamespace"
    )
    oncall_group: SlackGroup | None = Field(default=None, alias="oncallGroup")
    # Slack user id -> Kubernetes user name (``U0ALICE: alice@corp``) or {user, groups}:
    # with ``requireKubernetesAccess``, an approval stands only if that identity may make
    # each write of the approved plan (a SubjectAccessReview each: agent.kube_access).
    kubernetes_identities: dict[
        SlackUser,
        Annotated[KubernetesIdentitySettings, BeforeValidator(_identity_shorthand)],
    ] = Field(default_factory=dict, alias="kubernetesIdentities")
    require_kubernetes_access: StrictBool = Field(default=False, alias="requireKubernetesAccess")
    receive: Literal["socket", "http"] = "http"
    question_ttl: PositiveDuration = Field(default=900.0, alias="questionTTL")
    # How much longer a question stays open per Snooze click (at most MAX_SNOOZES).
    snooze: PositiveDuration = 3600.0
    replay_window: PositiveDuration = Field(default=300.0, alias="replayWindow")
    base_url: str | None = Field(default=None, alias="baseURL")

    _durations = _positive_duration_fields("question_ttl", "snooze", "replay_window")

    @field_validator("approvers_by_namespace")
    @classmethod
    def _nobody(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        empty = [ns for ns, ids in value.items() if not ids]
        if empty:
            raise ValueError(
                f"namespace {empty[0]} lists nobody, so no question about an object in it "
                "could be answered: name user or group ids, or remove the namespace"
            )
        return value

    @model_validator(mode="after")
    def _someone_may_approve(self) -> SlackSettings:
        if self.require_kubernetes_access and not self.kubernetes_identities:
            raise ValueError(
                "requireKubernetesAccess is true but kubernetesIdentities maps nobody, so "
                "every approval would be refused: map the approvers' Slack user ids to "
                "their Kubernetes user names (U0ALICE: alice@corp.example)"
            )
        return self

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> SlackSettings:
        if not self.enabled:
            return self
        missing = [
            name
            for name, value in (("botToken", self.bot_token), ("channel", self.channel))
            if value is None
        ]
        if self.receive == "socket" and self.app_token is None:
            missing.append("appToken")
        if self.receive == "http" and self.signing_secret is None:
            missing.append("signingSecret")
        if not self.approvers:
            missing.append("approvers")
        if missing:
            names = (
                f"{missing[0]} is"
                if len(missing) == 1
                else f"{', '.join(missing[:-1])} and {missing[-1]} are"
            )
            hint = (
                " (approvers: the Slack user ids, U… or W…, or user group ids, S…, who may "
                "answer questions, such as [U012AB3CD, S0614TZR7]; an empty list admits "
                "nobody)"
                if "approvers" in missing
                else ""
            )
            raise ValueError(f"slack is enabled but {names} not set{hint}")
        return self


class AlertmanagerSettings(_Model):
    enabled: StrictBool = False
    token: SecretRef | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576, alias="maxBodyBytes")
    # Alertmanager's repeat_interval for this receiver: an alert not delivered again for
    # twice as long is no longer counted as firing (docs/deploy.md, Alertmanager).
    repeat_interval: PositiveDuration = Field(default=4 * 3600.0, alias="repeatInterval")

    _durations = _positive_duration_fields("repeat_interval")

    @model_validator(mode="after")
    def _token_when_enabled(self) -> AlertmanagerSettings:
        if self.enabled and self.token is None:
            raise ValueError(
                "the Alertmanager webhook is enabled but alertmanager.token is not set"
            )
        return self


class RoutingSettings(_Model):
    auto: float = Field(default=0.95, ge=0, le=1)
    ask: float = Field(default=0.6, ge=0, le=1)
    target_wrong_rate: float = Field(default=0.01, gt=0, lt=1, alias="targetWrongRate")
    # At most 10,000 outcomes (years of even a busy type's record): routing reads a few
    # windows' worth of ledger rows per decision, and a limit past 64 bits fails the read.
    window: int = Field(default=50, ge=5, le=10_000)
    # How fast a decision type's track record is forgotten: an outcome this old counts
    # half. Longer trusts a rarely used runbook sooner; shorter follows a changing world.
    memory: Duration = 60 * 86400.0
    # How many outcomes' worth of weight the skeptical prior carries.
    prior_strength: float = Field(default=4.0, gt=0, le=1000, alias="priorStrength")
    # What a sibling runbook's outcome counts for in a new runbook's prior (0: nothing),
    # and how many outcomes' worth all siblings together may lend at most.
    sibling_weight: float = Field(default=0.5, ge=0, le=1, alias="siblingWeight")
    sibling_cap: float = Field(default=10.0, ge=0, le=1000, alias="siblingCap")
    # How far the cluster's other runbooks can raise a runbook's prior success (their
    # pooled rightness, capped here); at or below 0.75, the skeptical prior, it is off.
    pool_cap: float = Field(default=0.85, ge=0, lt=1, alias="poolCap")
    # Read a type's record per namespace too: where its outcomes in the subject's
    # namespace are worse than elsewhere beyond chance, the confidence there is lowered
    # (never raised). Off by default: in the learning benchmark it asked fewer questions
    # but escalated more, and remediated later (benchmarks/learning_RESULTS.md).
    per_namespace: StrictBool = Field(default=False, alias="perNamespace")
    # Which jobs' automatic actions are reported to people as they start (with their
    # progress in the thread). Scaling changes its floors too often to post each one.
    report_automatic: tuple[Literal["scaling", "canary", "remediation"], ...] = Field(
        default=("remediation", "canary"), alias="reportAutomatic"
    )

    _durations = _duration_fields("memory")

    @model_validator(mode="after")
    def _ordered(self) -> RoutingSettings:
        if self.ask > self.auto:
            raise _problem_at(
                f"routing.ask ({self.ask}) must not exceed routing.auto ({self.auto})", "ask"
            )
        if self.memory < 3600.0:
            raise _problem_at(
                f"routing.memory must be at least 1h, got {self.memory:g} s", "memory"
            )
        return self


class SafetySettings(_Model):
    paused: StrictBool = False
    cooldown: Duration = 600.0
    # At most 10,000 actions an hour (about 3 a second; a runbook allows at most 1,000)
    # and 10,000 triggers a minute: past those the limits limit nothing.
    max_actions_per_hour: int = Field(default=20, ge=0, le=10_000, alias="maxActionsPerHour")
    storm_threshold: int = Field(default=20, ge=1, le=10_000, alias="stormThreshold")
    storm_cooldown: Duration = Field(default=900.0, alias="stormCooldown")
    approved_max_wait: PositiveDuration = Field(default=3600.0, alias="approvedMaxWait")
    # How long a person's undo (``autonomic undo``, Slack's Undo) waits for the leader
    # before it expires and is not carried out (no leader running, or paused).
    undo_request_ttl: PositiveDuration = Field(default=3600.0, alias="undoRequestTTL")
    # Pods disrupted (restarted, evicted, deleted, scaled away) in a sliding hour across
    # all runbooks, and in any one namespace; null: no limit (0 is refused: it would deny
    # every restart and drain while letting the rest through; pause does that plainly).
    # At most 150,000, the most pods Kubernetes supports in one cluster: more limits nothing.
    max_pods_disrupted_per_hour: int | None = Field(
        default=50, ge=1, le=MAX_CLUSTER_PODS, alias="maxPodsDisruptedPerHour"
    )
    max_pods_disrupted_per_hour_per_namespace: int | None = Field(
        default=None, ge=1, le=MAX_CLUSTER_PODS, alias="maxPodsDisruptedPerHourPerNamespace"
    )
    # A remediation incident that goes on after its question expired unanswered (or its
    # decision was escalated) is raised again this long after (or after the runbook's
    # cooldown, when longer); one a
    # person rejected, after ``reaskAfterReject`` (null: never asked about again).
    reask_after: PositiveDuration = Field(default=3600.0, alias="reaskAfter")
    reask_after_reject: float | None = Field(default=86400.0, alias="reaskAfterReject")

    @field_validator(
        "max_pods_disrupted_per_hour", "max_pods_disrupted_per_hour_per_namespace", mode="before"
    )
    @classmethod
    def _budget_number(cls, value: Any) -> Any:
        # A whole number as the other int settings (``_strict_numbers`` leaves optional
        # ones alone): not ``yes``, not "50", not 12.5; and not 0.
        if value is None:
            return None
        value = strict_number(value, whole=True)
        if value == 0:
            raise ValueError(
                "0 would deny every restart, rollback and drain while letting the rest "
                "through; write null for no limit, or the pods an hour to allow (the "
                "default is 50)"
            )
        return value

    # Change freezes for every runbook, written as a runbook's freezeWindow is (without
    # its ``type``): no runbook action starts inside one.
    freeze_windows: tuple[WindowFields, ...] = Field(
        default=(), alias="freezeWindows", max_length=50
    )

    _durations = _duration_fields("cooldown", "storm_cooldown")
    _positive_durations = _positive_duration_fields(
        "approved_max_wait", "undo_request_ttl", "reask_after"
    )

    @field_validator("reask_after_reject", mode="before")
    @classmethod
    def _reask_after_reject(cls, value: Any) -> Any:
        if value is None:
            return None
        return parse_positive_duration(value)

    @field_validator("freeze_windows", mode="before")
    @classmethod
    def _windows_as_runbooks_write_them(cls, value: Any) -> Any:
        # The window schema is strict: lists become tuples, and the dates YAML reads as
        # dates go back to the text they were written as.
        return freeze_lists(_dates_as_text(value))


def _dates_as_text(value: Any) -> Any:
    if isinstance(value, date):  # a datetime is a date too
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_dates_as_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _dates_as_text(item) for key, item in value.items()}
    return value


class LeaderElectionSettings(_Model):
    enabled: StrictBool = True
    namespace: NamespaceName = "autonomic"
    lease_name: Annotated[str, AfterValidator(_lease_name)] = Field(
        default="autonomic-leader", alias="leaseName"
    )
    lease_duration: PositiveDuration = Field(default=15.0, alias="leaseDuration")
    renew_deadline: PositiveDuration = Field(default=10.0, alias="renewDeadline")
    retry_period: PositiveDuration = Field(default=2.0, alias="retryPeriod")

    _durations = _positive_duration_fields("lease_duration", "renew_deadline", "retry_period")

    @model_validator(mode="after")
    def _timing(self) -> LeaderElectionSettings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            # At one of the two timings out of order, the one the file writes (the later
            # when it writes both).
            shorter, longer = (
                ("renew_deadline", "lease_duration")
                if self.lease_duration <= self.renew_deadline
                else ("retry_period", "renew_deadline")
            )
            at = (
                shorter
                if shorter in self.model_fields_set and longer not in self.model_fields_set
                else longer
            )
            raise _problem_at(
                "leaderElection needs retryPeriod < renewDeadline < leaseDuration, got "
                f"{self.retry_period:g} s, {self.renew_deadline:g} s, {self.lease_duration:g} s",
                type(self).model_fields[at].alias or at,
            )
        return self


def _refuse_bad_promql(query: str) -> None:
    """Refuse a query whose brackets, strings, ranges or label matchers are plainly wrong
    (``remediation.promql``): Prometheus would refuse it at every read, long after start-up."""
    from remediation.promql import syntax_problem

    problem = syntax_problem(query)
    if problem is not None:
        raise ValueError(f"not valid PromQL: {problem}")


class MinVolume(_Model):
    """An anomaly query's volume gate: a point is scored only while ``query`` (a request
    rate, say) is at least ``at_least`` for its series at that time."""

    query: str = Field(min_length=1)
    at_least: float = Field(gt=0, alias="atLeast")

    @field_validator("query")
    @classmethod
    def _promql_shape(cls, value: str) -> str:
        _refuse_bad_promql(value)
        return value

    @field_validator("at_least")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):  # .inf: no volume is ever enough, nothing scored
            raise ValueError(f"must be a finite number above 0, got {value}")
        return value


class ExpectedWindow(RunbookModel):
    """A recurring time at which an anomaly query's series are expected to move (a
    monthly billing run, a nightly batch job): written as a freeze window's cron form
    is, with ``reason`` for its label. Its points are scored but learnt from by no
    detector, and open no incident (``agent.loops.anomaly``)."""

    cron: Cron
    """When it starts: five-field cron, local to ``timezone``."""
    duration: WrittenDuration
    """How long it lasts after each start (1m to 7d)."""
    timezone: Timezone = "UTC"
    """IANA timezone the cron is written in."""
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    """What the event is, named in the loop's status and log, e.g. 'monthly billing run'."""

    @model_validator(mode="after")
    def _how_long(self) -> ExpectedWindow:
        if not 60.0 <= self.duration <= MAX_CRON_WINDOW:
            # the freeze window's words, at the key to fix
            raise _problem_at("'duration' of a cron window must be between 1m and 7d", "duration")
        return self

    def window(self) -> WindowFields:
        """The same window as ``remediation.windows`` evaluates one."""
        # validated already (the duration as seconds, which the window's own validator,
        # reading YAML, refuses without a unit)
        return WindowFields.model_construct(
            name=self.reason,
            timezone=self.timezone,
            weekly=None,
            cron=self.cron,
            duration=self.duration,
            dates=None,
        )


class AnomalyQuery(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    expr: str = Field(min_length=1)
    step: PositiveDuration = 60.0
    history: PositiveDuration = 86400.0 * 7
    # Points scoring at least this open an incident: the threshold NAB's standard profile
    # selects for the detector's defaults (0.696; benchmarks/nab_RESULTS.md).
    threshold: float = Field(default=0.69, gt=0, le=1)
    # Unset: every point is scored. Set: only points whose series' volume (read with
    # the query, at the same times) is at least ``atLeast`` (``agent.loops.anomaly``).
    min_volume: MinVolume | None = Field(default=None, alias="minVolume")
    # Recurring times its series are expected to move: scored, not learnt, no incident.
    expected_windows: tuple[ExpectedWindow, ...] = Field(
        default=(), alias="expectedWindows", max_length=50
    )

    # Unset: none. Labels whose values an incident's evidence ranks by their share of
    # its movement (``forecasting.anomaly.breakdown``), read when it opens.
    breakdown_by: tuple[str, ...] = Field(default=(), alias="breakdownBy")

    _durations = _positive_duration_fields("step", "history")

    @field_validator("expr")
    @classmethod
    def _promql_shape(cls, value: str) -> str:
        _refuse_bad_promql(value)
        return value

    @field_validator("breakdown_by")
    @classmethod
    def _label_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from remediation.promql import LABEL_NAME

        if len(value) > 3:
            # read together, in one query: their combinations multiply
            raise ValueError(f"at most 3 labels, got {len(value)}")
        for name in value:
            if not LABEL_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a label name: letters, digits and '_', not starting "
                    "with a digit or '__'"
                )
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} given more than once")
        return value

    @model_validator(mode="after")
    def _can_break_down(self) -> AnomalyQuery:
        if self.breakdown_by:
            from remediation.promql import breakdown_problem

            problem = breakdown_problem(self.expr, self.breakdown_by)
            if problem is not None:
                raise _problem_at(problem, "breakdownBy")
        return self


# The seasonal profile is fitted on no fewer than 2 days of load (``min_periods`` of
# forecasting.profile.ProfileSettings, which a test holds equal): from 1 day it never fits,
# and the workload would only ever be scaled reactively. Written here rather than read
# from there, so that reading a configuration does not import numpy.
PROFILE_HISTORY_DAYS = (2, 90)


def profile_history_problem(days: float, got: str) -> str | None:
    """Why ``days`` of load cannot make the seasonal profile, or None: the bound and the
    words ``scaling.profileHistory`` and ``autonomic replay --history-days`` share (``got``:
    the value as the input wrote it)."""
    low, high = PROFILE_HISTORY_DAYS
    if low <= days <= high and abs(days - round(days)) < 1e-9:
        return None
    problem = f"must be a whole number of days from {low} to {high}, got {got}"
    if days < low:
        problem += (
            f": the seasonal profile needs at least {low} days of load to fit (with fewer "
            "it never fits, and the workload is scaled only reactively)"
        )
    return problem


_SCALED_KINDS = ("Deployment", "StatefulSet", "Rollout")


def _workload_name(text: str) -> str:
    parts = text.split("/")
    if len(parts) == 3 and parts[0] in _SCALED_KINDS:
        parts = parts[1:]
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            f"{text!r} names no workload; write 'namespace/name' (e.g. 'shop/checkout'), "
            f"or 'Kind/namespace/name' with a Kind of {', '.join(_SCALED_KINDS)}"
        )
    return text


class ScheduledFloor(WindowFields):
    """A floor set ahead of a known event: at least ``minReplicas`` for the named
    workloads while the window is open, raised the pods' start-up time (and the loop's
    lead) before it opens. The window is written as a freeze window is."""

    name: str = Field(min_length=1, max_length=200)
    """Named in every decision and status it causes, e.g. 'monday-open'."""
    workloads: tuple[Annotated[str, AfterValidator(_workload_name)], ...] = Field(
        min_length=1, max_length=100
    )
    """'namespace/name' (any kind the loop scales) or 'Kind/namespace/name'."""
    min_replicas: WholeNumber = Field(ge=1, le=10_000)
    """The floor while the window is open; at most 10,000, as a runbook's scale to
    ``replicas`` (Kubernetes keeps replicas in 32 bits: a 400-digit floor passed the
    check). A ``WholeNumber``: the strict window schema has no ``_Model`` number check,
    and ``yes`` got pydantic's own words, not the sentence every other one gets."""

    def applies_to(self, kind: str, namespace: str | None, name: str) -> bool:
        return f"{namespace}/{name}" in self.workloads or (
            f"{kind}/{namespace}/{name}" in self.workloads
        )


def _scheduled_floor_names_once(value: tuple[ScheduledFloor, ...]) -> tuple[ScheduledFloor, ...]:
    names = [floor.name for floor in value]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(
            f"scheduled floor names must differ (each decision names its schedule): "
            f"{', '.join(repr(name) for name in twice)} given more than once"
        )
    return value


# ``scaling.scheduledFloors`` as the daemon reads it, validators and all; a simulation
# scenario reads its own with this same type (agent/sim/scenario.py). The window schema is
# strict: lists become tuples, and the dates YAML reads as dates go back to the text they
# were written as.
ScheduledFloors = Annotated[
    tuple[ScheduledFloor, ...],
    BeforeValidator(lambda value: freeze_lists(_dates_as_text(value))),
    AfterValidator(_scheduled_floor_names_once),
    Field(max_length=100),
]


# The names ``scaling.loadQueries`` may give its queries: short and plain, as a workload's
# ``autonomic.dev/load-query`` annotation writes them (an environment override's
# ``AUTONOMIC__SCALING__LOAD_QUERIES__QUEUE_DEPTH`` is the name ``queueDepth``: no such
# variable reaches a name with ``_`` or a capital not after one, ``queue_depth``; the whole
# map as YAML in ``AUTONOMIC__SCALING__LOAD_QUERIES`` reaches any).
LOAD_QUERY_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
LOAD_QUERIES_MAX = 100


def _load_query_problem(query: str) -> str | None:
    """Why a load query (``loadQuery``, or one of ``loadQueries``) cannot be used, or None."""
    from remediation.promql import syntax_problem

    problem = syntax_problem(query)
    if problem is not None:
        return f"not valid PromQL: {problem}"
    # Without it every workload would be scaled from the one series the query returns.
    if "$workload" not in query:
        return (
            "the load query must name the workload as $workload (and its namespace as "
            '$namespace), e.g. sum(rate(http_requests_total{namespace="$namespace",'
            'deployment="$workload"}[2m]))'
        )
    return None


class ScalingSettings(_Model):
    enabled: StrictBool = True
    period: PositiveDuration = 60.0
    load_query: str = Field(
        default='sum(rate(http_requests_total{namespace="$namespace",deployment="$workload"}[2m]))',
        alias="loadQuery",
    )
    # Named load queries a workload picks with its ``autonomic.dev/load-query``
    # annotation (a queue consumer's messages per second beside a web service's
    # requests): only these names, never PromQL from an annotation, so a namespace's
    # owner cannot make the daemon run a query of their own. ``load_query`` is the one of
    # every workload that picks none.
    load_queries: dict[str, str] = Field(
        default_factory=dict, alias="loadQueries", max_length=LOAD_QUERIES_MAX
    )
    quantile: float = Field(default=0.9, gt=0.5, lt=1)
    refit_every: PositiveDuration = Field(default=21600.0, alias="refitEvery")
    # The seasonal profile is the per-minute median over this many whole days; a refit
    # reads them from Prometheus (which must retain them: its default is 15 days). 14 days
    # since session 15 (7 before): steadier against one busy day, and better at equal cost
    # on NASA, tweets and ELB (benchmarks/replay_RESULTS.md).
    profile_history: Duration = Field(default=14 * 86400.0, alias="profileHistory")
    # How old the newest load sample is when the loop reads it, as far as the lead is
    # concerned: a scrape interval plus what the query's rate window lags. Prometheus
    # stamps range reads with the evaluation time, so the loop cannot measure it.
    metric_lag: Duration = Field(default=60.0, alias="metricLag")
    # Judge the daily pattern on each day's shape only, so a quiet weekend after busy
    # weekdays does not withdraw the forecast (benchmarks/replay_RESULTS.md: with 14 days
    # of history, better at equal cost on NASA in July and in the held-out August, on
    # tweets and ELB; within a few minutes either way on nyc_taxi). On since session 15.
    shape_only_seasonality: StrictBool = Field(default=True, alias="shapeOnlySeasonality")
    # Floors set ahead of known events (a sale, Monday's opening), on top of the forecast's.
    scheduled_floors: ScheduledFloors = Field(default=(), alias="scheduledFloors")

    _durations = _duration_fields("profile_history", "metric_lag")

    _positive_durations = _positive_duration_fields("period", "refit_every")

    def interval_level(self) -> int:
        """The central prediction interval whose upper bound is ``quantile`` (0.9: 80)."""
        return min(max(round((2.0 * self.quantile - 1.0) * 100.0), 1), 99)

    def load_template(self, name: str | None) -> str | None:
        """The load query template of a workload that picks ``name`` (None: none picked,
        ``load_query``), or None for a name not configured."""
        return self.load_query if name is None else self.load_queries.get(name)

    @field_validator("load_query")
    @classmethod
    def _per_workload(cls, value: str) -> str:
        problem = _load_query_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _named_queries(self) -> ScalingSettings:
        for name, query in self.load_queries.items():
            if not LOAD_QUERY_NAME.fullmatch(name):
                raise _problem_at(
                    f"{name!r} is not a plain name: 1 to 63 letters, digits, '-', '_' or "
                    "'.', starting and ending with a letter or digit (a workload picks it "
                    "with the autonomic.dev/load-query annotation)",
                    "loadQueries",
                    name,
                )
            problem = _load_query_problem(query)
            if problem is not None:
                raise _problem_at(problem, "loadQueries", name)
        return self

    @field_validator("metric_lag")
    @classmethod
    def _lag_in_range(cls, value: float) -> float:
        if not 0 <= value <= 3600:
            raise ValueError(f"metricLag must be from 0s to 1h, got {value:g} s")
        return value

    @field_validator("profile_history")
    @classmethod
    def _whole_days(cls, value: float) -> float:
        days = value / 86400.0
        problem = profile_history_problem(days, f"{days:g}d")
        if problem is not None:
            raise ValueError(f"profileHistory {problem}")
        return value


class CanarySettings(_Model):
    """Canary analysis: the judge's spec (as for ``autonomic judge --spec``) and, per
    column the spec uses, a PromQL template with ``$namespace`` and ``$workload``
    (``queries``, for canary Deployments and StatefulSets) and one that selects one
    ReplicaSet of an Argo Rollout (``rolloutQueries``)."""

    enabled: StrictBool = True
    # The token Argo's web metric and Flagger's webhooks must send (agent/caller_token.py);
    # None: the endpoints answer anyone who can reach the pod.
    token: SecretRef | None = None
    period: PositiveDuration = 60.0
    max_duration: PositiveDuration = Field(default=3600.0, alias="maxDuration")
    # Weigh every AR(1) persistence the intervals cannot rule out in a continuous
    # metric's variance (fewer false rollbacks when pods drift slowly, later verdicts).
    weigh_persistence: StrictBool = Field(default=False, alias="weighPersistence")
    spec: dict[str, Any] = Field(
        default_factory=lambda: {
            "metrics": {
                "latency_p99": {
                    "kind": "continuous",
                    "direction": "increase",
                    "tolerance": "10%",
                    "critical": True,
                },
                "errors": {
                    "kind": "ratio",
                    "numerator": "errors",
                    "denominator": "requests",
                    "direction": "increase",
                    "tolerance": "0.5pp",
                    "critical": True,
                },
            }
        }
    )
    queries: dict[str, str] = Field(
        default_factory=lambda: {
            "latency_p99": "histogram_quantile(0.99, sum by (le) (rate("
            'http_request_duration_seconds_bucket{namespace="$namespace",'
            'deployment="$workload"}[1m])))',
            "errors": 'sum(increase(http_requests_total{namespace="$namespace",'
            'deployment="$workload",code=~"5.."}[1m]))',
            "requests": 'sum(increase(http_requests_total{namespace="$namespace",'
            'deployment="$workload"}[1m]))',
        }
    )

    # The same columns for an Argo Rollout's canary, read per ReplicaSet: ``$workload`` is
    # the Rollout's name, ``$podTemplateHash`` one ReplicaSet's pod-template hash and
    # ``$replicaset`` its name (``<rollout>-<hash>``, which starts each of its pods' names).
    rollout_queries: dict[str, str] = Field(
        default_factory=lambda: {
            "latency_p99": "histogram_quantile(0.99, sum by (le) (rate("
            'http_request_duration_seconds_bucket{namespace="$namespace",'
            'pod=~"$replicaset-.*"}[1m])))',
            "errors": 'sum(increase(http_requests_total{namespace="$namespace",'
            'pod=~"$replicaset-.*",code=~"5.."}[1m]))',
            "requests": 'sum(increase(http_requests_total{namespace="$namespace",'
            'pod=~"$replicaset-.*"}[1m]))',
        },
        alias="rolloutQueries",
    )

    _durations = _positive_duration_fields("period", "max_duration")

    @model_validator(mode="after")
    def _spec_and_queries(self) -> CanarySettings:
        from forecasting.canary import CanarySpecError, parse_spec

        try:
            specs = parse_spec(self.spec)
        except CanarySpecError as exc:
            # Reported at the spec's own entry (its line, or its override), not at the
            # first line of the canary section.
            raise PydanticCustomError(
                "problem_at", "{message}", {"message": exc.message, "at": ("spec", *exc.path)}
            ) from None
        from remediation.promql import syntax_problem

        both = (("queries", self.queries), ("rolloutQueries", self.rollout_queries))
        for field_name, queries in both:
            for column, query in queries.items():
                if (problem := syntax_problem(query)) is not None:
                    raise PydanticCustomError(
                        "problem_at",
                        "{message}",
                        {"message": f"not valid PromQL: {problem}", "at": (field_name, column)},
                    )
        for column, query in self.queries.items():
            if "$workload" not in query:
                # The canary and its stable Deployment would read the same series, and
                # a canary compared with itself is always promoted.
                raise PydanticCustomError(
                    "problem_at",
                    "{message}",
                    {
                        "message": "the query must name the workload as $workload (and "
                        "its namespace as $namespace): the canary and the stable "
                        "Deployment are each read with it",
                        "at": ("queries", column),
                    },
                )
        for column, query in self.rollout_queries.items():
            if "$podTemplateHash" not in query and "$replicaset" not in query:
                # An Argo Rollout's canary and stable ReplicaSets are told apart only by
                # their pod-template hash: without it both sides read the same series.
                raise PydanticCustomError(
                    "problem_at",
                    "{message}",
                    {
                        "message": "the query must select one ReplicaSet of the Rollout, "
                        "by $replicaset (its name, which starts its pods' names: "
                        'pod=~"$replicaset-.*") or $podTemplateHash (its '
                        "rollouts-pod-template-hash label): the canary and the stable "
                        "ReplicaSet are each read with it",
                        "at": ("rolloutQueries", column),
                    },
                )
        columns = {c for s in specs for c in s.columns}
        for field_name, queries in both:
            missing = sorted(columns - set(queries))
            if missing:
                raise PydanticCustomError(
                    "problem_at",
                    "{message}",
                    {
                        "message": f"no query for column(s) {', '.join(missing)}",
                        "at": (field_name,),
                    },
                )
        return self


class ServerSettings(_Model):
    host: str = "0.0.0.0"  # in a pod, the probes come from the kubelet
    port: int = Field(default=8080, ge=1, le=65535)
    # Connections served at once, each on a thread; beyond it, probes are still answered
    # and anything else gets 503 with Retry-After (agent/server.py).
    max_connections: int = Field(default=64, ge=1, le=4096, alias="maxConnections")
    # The bearer token GET /approvals, /alerts and /scaling require (agent/caller_token.py);
    # None: they answer anyone who can reach the pod. /healthz, /readyz and /metrics
    # stay open (the kubelet and Prometheus call them).
    read_token: SecretRef | None = Field(default=None, alias="readToken")


class Settings(_Model):
    """The whole configuration. Safe defaults: ``mode: propose`` acts on nothing by itself."""

    mode: Literal["observe", "propose", "act"] = "propose"
    cluster: ClusterSettings = ClusterSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    ledger: LedgerSettings = LedgerSettings()
    slack: SlackSettings = SlackSettings()
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    routing: RoutingSettings = RoutingSettings()
    safety: SafetySettings = SafetySettings()
    leader_election: LeaderElectionSettings = Field(
        default=LeaderElectionSettings(), alias="leaderElection"
    )
    scaling: ScalingSettings = ScalingSettings()
    canary: CanarySettings = CanarySettings()
    anomaly_queries: tuple[AnomalyQuery, ...] = Field(default=(), alias="anomalyQueries")
    runbooks: tuple[Path, ...] = (Path("runbooks"),)
    server: ServerSettings = ServerSettings()

    @field_validator("anomaly_queries")
    @classmethod
    def _unique_names(cls, queries: tuple[AnomalyQuery, ...]) -> tuple[AnomalyQuery, ...]:
        # Incidents, saved detector states and metrics are keyed by the query's name.
        first: dict[str, int] = {}
        for index, query in enumerate(queries):
            if query.name in first:
                raise PydanticCustomError(
                    "duplicate_name",
                    "duplicate name {name}: anomalyQueries[{first}] has it too "
                    "(each query needs a name of its own)",
                    {"name": repr(query.name), "first": first[query.name], "index": index},
                )
            first[query.name] = index
        return queries


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    applied: list[str] = []
    for key, raw in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        names, _ = _env_path(parts)
        target = data
        for name in names[:-1]:
            nested = target.setdefault(name, {})
            if not isinstance(nested, dict):
                raise ConfigError(f"environment {key}: {'.'.join(names[:-1])} is not a section")
            target = nested
        try:
            target[names[-1]] = load_yaml_value(raw) if raw.strip() else raw
        except yaml.constructor.ConstructorError as exc:
            # A number YAML readers disagree on (010) or in other digits (!!int ٣), as
            # the file refuses it; quoted ('"010"') it is text.
            raise ConfigError(f"environment {key}: {exc.problem}") from None
        except yaml.YAMLError:
            target[names[-1]] = raw
        applied.append(key)
    return applied


def _keys_at(loc: Sequence[str | int]) -> list[str]:
    """The keys the section at ``loc`` takes, as the file writes them (``[]`` when ``loc``
    is not a section of fixed keys), for an unknown key's "did you mean"."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if isinstance(part, int):  # an entry of a list of sections (anomalyQueries)
            continue
        if model is None:
            return []
        found = {info.alias or name: info for name, info in model.model_fields.items()}
        info = found.get(part)
        if info is None:
            return []
        annotation = info.annotation
        if get_origin(annotation) in (tuple, list):
            annotation = get_args(annotation)[0]
        model = _section_model(annotation)
    if model is None:
        return []
    return sorted((info.alias or name for name, info in model.model_fields.items()), key=str.lower)


def _env_path(parts: Sequence[str]) -> tuple[list[str], int]:
    """The keys an override's ``__``-separated parts name, and how many are real keys.

    Each part is matched against the fields of the section it is in, ignoring case and
    ``_``: ``QUESTION_TTL`` is ``questionTTL``, ``VERIFY_TLS`` is ``verifyTLS`` and
    ``LEADER_ELECTION`` is ``leaderElection``. A part that names no field (a typo, or a
    key inside a free-form mapping such as ``canary.queries``) is spelled in camelCase
    and left for validation, which rejects it as an unknown key where keys are fixed.
    """
    names: list[str] = []
    known = 0
    model: type[BaseModel] | None = Settings
    for part in parts:
        found = _env_fields(model).get(_squash(part)) if model is not None else None
        if found is None:
            names.append(_env_name(part))
            model = None
        else:
            names.append(found[0])
            known += 1
            model = found[1]
    return names, known


@cache
def _env_fields(model: type[BaseModel]) -> dict[str, tuple[str, type[BaseModel] | None]]:
    """A section's fields by squashed alias and name: their key and their own section."""
    fields: dict[str, tuple[str, type[BaseModel] | None]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        fields[_squash(name)] = fields[_squash(key)] = (key, _section_model(info.annotation))
    return fields


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``SecretRef | None`` holds ``SecretRef``), if any."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    models = [
        a
        for a in options or (annotation,)
        if get_origin(a) is None and isinstance(a, type) and issubclass(a, BaseModel)
    ]
    return models[0] if len(models) == 1 else None


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


def _env_name(part: str) -> str:
    """``LEADER_ELECTION`` -> ``leaderElection``; ``URL`` -> ``url``."""
    words = part.lower().split("_")
    return words[0] + "".join(w.capitalize() for w in words[1:])


@dataclass(frozen=True)
class SettingsSource:
    """Where each setting came from, so that a check made after loading (a secret that
    cannot be read, a runbook directory that does not exist) names the file and line."""

    path: Path | None
    lines: YamlLines
    environment: tuple[str, ...] = ()  # the AUTONOMIC__ variables that were applied

    def where(self, loc: Sequence[str | int]) -> str:
        """``FILE:LINE`` of the value at ``loc`` (or of the nearest enclosing value the
        file writes), ``environment NAME`` when an override set it, else ``<defaults>``."""
        env = _env_source(tuple(loc), list(self.environment))
        if env is not None:
            return env
        if self.path is None:
            return "<defaults>"
        return f"{self.path}:{self.lines(loc)}"

    def written(self, loc: Sequence[str | int]) -> bool:
        """Whether the file or an override sets ``loc``; False when a default applies."""
        if _env_source(tuple(loc), list(self.environment)) is not None:
            return True
        return self.path is not None and self.lines.exact(loc) is not None


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate; on any problem raise ``ConfigError`` naming file, line and field."""
    return load_settings_with_source(path, environ)[0]


def advisories(settings: Settings, now: float | None = None) -> list[str]:
    """Settings that are valid but probably not what was meant: shown by
    ``autonomic config check`` and logged at start-up, never fatal. ``now`` (epoch
    seconds; the system clock when None) dates a scheduled floor whose dates are past."""
    notes = []
    if settings.slack.enabled and settings.slack.oncall_group is None:
        notes.append(
            "slack.oncallGroup is not set: escalations are posted to the channel but mention "
            "nobody, so nobody is paged; set it to the on-call user group id (S...)"
        )
    if settings.canary.enabled and settings.canary.token is None:
        notes.append(
            "canary.token is not set: GET /canary/verdict and POST /canary/flagger answer "
            "anyone who can reach the pod, and a Flagger post-rollout call closes an open "
            "question about a canary's verdict; set it (a file: or env: secret) and send it "
            "from Argo's web metric as Authorization: Bearer, from Flagger's webhooks as "
            "metadata.token (docs/deploy.md)"
        )
    if settings.canary.enabled:
        notes.extend(_canary_window_notes(settings.canary))
        notes.extend(_canary_count_notes(settings.canary))
        notes.extend(_canary_spread_notes(settings.canary))
        notes.extend(_canary_critical_notes(settings.canary))
    notes.extend(_scheduled_floor_notes(settings.scaling, time.time() if now is None else now))
    notes.extend(_expected_window_notes(settings, time.time() if now is None else now))
    return notes


def _expected_window_notes(settings: Settings, now: float) -> list[str]:
    """Anomaly queries' ``expectedWindows`` that do not work as written: a cron that
    never starts, or one that starts again before each of its windows ends, so that from
    its next opening (within 31 days of ``now``) it stays open more than 8 days without
    a break: the query's series learn nothing and open no incident all that time (an
    hourly cron with a 2h ``duration``, a daily one with 7d)."""
    notes = []
    for index, query in enumerate(settings.anomaly_queries):
        for number, expected in enumerate(query.expected_windows):
            where = f"anomalyQueries[{index}].expectedWindows[{number}] ({query.name})"
            never = cron_never_starts(expected.cron)
            if never is not None:
                notes.append(
                    f"{where}: its cron never starts ({never}), so no point of it is ever expected"
                )
                continue
            window = expected.window()
            opens = first_open(window, now, 31 * 86400.0)
            if opens is not None and closes_at(window, opens) is None:
                notes.append(
                    f"{where}: {describe(window)} starts again before each window ends, so "
                    f"from {to_utc_text(opens)} it stays open more than 8 days without a "
                    "break: the query's points teach its detectors nothing and open no "
                    "incident; shorten its duration or start it less often"
                )
    return notes


# The most replicas the scaling loop sets for a workload without an HPA or an
# ``autonomic.dev/max-replicas`` annotation (``agent.loops.scaling.NO_HPA_MAX``).
_NO_HPA_MAX = 1000


def _scheduled_floor_notes(scaling: ScalingSettings, now: float) -> list[str]:
    """Scheduled floors that can never set a floor as written: the loop is off, the
    ``minReplicas`` is above every cap the loop knows of, the cron never starts, or its
    ``dates`` are all past as of ``now`` (perhaps left over from an event: a warning).
    Which workloads the loop scales is the cluster's to say: the loop says it (``GET
    /scaling``, its log) of a schedule naming one it does not scale."""
    notes = []
    for index, floor in enumerate(scaling.scheduled_floors):
        where = f"scaling.scheduledFloors[{index}] ({floor.name})"
        if not scaling.enabled:
            notes.append(f"{where}: scaling.enabled is false, so no scheduled floor is set")
        if floor.min_replicas > _NO_HPA_MAX:
            notes.append(
                f"{where}: minReplicas {floor.min_replicas} is above {_NO_HPA_MAX}, the most "
                "replicas the loop sets without an HPA or an autonomic.dev/max-replicas "
                "annotation; with an HPA its maxReplicas caps the floor"
            )
        never = cron_never_starts(floor.cron) if floor.cron is not None else None
        if never is not None:
            notes.append(f"{where}: its cron never starts ({never}), so it never sets a floor")
        last = last_close(floor)
        if last is not None and last <= now:
            notes.append(
                f"{where}: its dates are all past (the last ended {to_utc_text(last)}), so "
                "it never sets a floor again; remove it once the event is over"
            )
    return notes


def _canary_count_notes(canary: CanarySettings) -> list[str]:
    """A spec none of whose metrics counts requests (no ``ratio`` metric, no ``count``
    column) cannot tell a canary that served a handful of requests from a busy one, so
    it may promote on a few: a latency-only spec, for instance. A ``dry_run`` metric does
    not count here: it never holds a promotion back."""
    from forecasting.canary import MetricKind, parse_spec

    every = parse_spec(canary.spec)
    specs = [spec for spec in every if not spec.dry_run]
    if any(spec.kind is MetricKind.RATIO or spec.count is not None for spec in specs):
        return []
    names = ", ".join(spec.name for spec in specs)
    muted = ", ".join(spec.name for spec in every if spec.dry_run)
    aside = f"; dry-run metrics ({muted}) never hold a promotion back" if muted else ""
    return [
        f"canary.spec: no metric counts the canary's requests ({names}: none is a ratio "
        f"metric or names a count column{aside}), so a canary that served only a handful of "
        "requests can be promoted; add an error ratio (numerator/denominator) or give a "
        "latency metric `count: requests` and a query for it (docs/configuration.md)"
    ]


def _canary_spread_notes(canary: CanarySettings) -> list[str]:
    """A metric with ``spread`` on and no ``count`` column: its judge cannot allow for a
    canary's fewer requests per interval, which alone make its values more spread than
    its busy baseline's, so a small healthy canary can be rolled back on its spread (in
    the canary benchmark, 88 of 600 A/A canaries at 1-5 % of the traffic). A ``dry_run``
    metric is named too: it is there to be trusted later."""
    from forecasting.canary import parse_spec

    return [
        f"canary.spec: metric {spec.name} has spread on but no count column, so the judge "
        "cannot allow for a canary that serves fewer requests per interval than its "
        "baseline: its values, each over fewer requests, are more spread for that alone, "
        "and a healthy canary at a small share of the traffic can be rolled back as a "
        "spread regression (in the canary benchmark, 15 % of those at 1-5 % share); give "
        f"{spec.name} `count: requests` and a query for it, which each side reads "
        "(docs/configuration.md)"
        for spec in parse_spec(canary.spec)
        if spec.spread is not None and spec.count is None
    ]


def _canary_critical_notes(canary: CanarySettings) -> list[str]:
    """A spec with no critical metric, or whose critical metrics are all ``dry_run``:
    only a critical metric rolls a canary back and a dry-run one never moves the verdict,
    so no canary can be rolled back automatically; a regression of the counted (not
    critical) ones asks a person."""
    from forecasting.canary import parse_spec

    every = parse_spec(canary.spec)
    critical = [spec.name for spec in every if spec.critical]
    counted = ", ".join(spec.name for spec in every if not spec.dry_run)
    if not critical:
        return [
            "canary.spec: no metric is critical (critical: false on every one), so no "
            "canary can ever be rolled back automatically: only a critical metric rolls "
            f"one back, and a regression of the counted ones ({counted}, not critical) only "
            "asks a person to decide; mark critical: true (the default) on each metric "
            "whose regression must roll a canary back (docs/configuration.md)"
        ]
    if any(not spec.dry_run for spec in every if spec.critical):
        return []
    which = (
        f"its only critical metric ({critical[0]}) is"
        if len(critical) == 1
        else f"every critical metric ({', '.join(critical)}) is"
    )
    return [
        f"canary.spec: {which} dry_run, so no canary can ever be rolled back "
        "automatically: a dry-run metric never moves the verdict, and a regression of the "
        f"counted ones ({counted}, not critical) only asks a person to decide; set "
        "dry_run: false on a critical metric once it is trusted, or mark a counted one "
        "critical: true (docs/configuration.md)"
    ]


# A PromQL range selector, ``[5m]``; not a subquery's ``[30m:1m]``.
# ASCII spaces only, as PromQL: a query holding another is named by its own note.
_RANGE_SELECTOR = re.compile(r"\[\s*((?:[0-9]+(?:ms|s|m|h|d|w))+)\s*\]", re.ASCII)


def _canary_window_notes(canary: CanarySettings) -> list[str]:
    """The count columns of the canary's ratio metrics (and the ``count`` columns of its
    continuous ones) whose query counts over a window
    other than ``canary.period``. The judge takes each interval's counts as that
    period's own: over a longer window (``[1m]`` with a 30 s period) every error is
    counted in two or more intervals, evidence made up that speeds false rollbacks and
    promotions alike; over a shorter one (``[1m]`` with a 5 m period) most requests are
    never counted, so the judge waits longer than it need. A query holding a space
    nobody can see (a no-break space pasted from a page) is named too: Prometheus reads
    no such space between a query's parts, nor this check its range selector."""

    from forecasting.canary import MetricKind, parse_spec

    specs = parse_spec(canary.spec)
    columns = sorted(
        {c for s in specs if s.kind is MetricKind.RATIO for c in s.columns}
        | {s.count for s in specs if s.count is not None}
    )
    notes = []
    for field_name, queries in (
        ("queries", canary.queries),
        ("rolloutQueries", canary.rollout_queries),
    ):
        for column, query in sorted(queries.items()):
            if unseen := unseen_character(query):
                notes.append(
                    f"canary.{field_name}.{column}: PromQL takes only plain spaces "
                    f"between the parts of a query{unseen}"
                )
        for column in columns:
            windows = {
                sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(found))
                for found in _RANGE_SELECTOR.findall(queries.get(column, ""))
            }
            if windows and windows != {canary.period}:
                shown = ", ".join(f"{w:g} s" for w in sorted(windows))
                notes.append(
                    f"canary.{field_name}.{column} counts over {shown}, but canary.period "
                    f"is {canary.period:g} s: the judge takes each interval's counts as that "
                    "period's own, so a longer window counts every request in more than one "
                    "interval (evidence made up: rollbacks and promotions on too little) "
                    "and a shorter one leaves requests uncounted; give its range selector "
                    "the period, e.g. increase(...[" + _period_text(canary.period) + "])"
                )
    return notes


def _period_text(seconds: float) -> str:
    whole = round(seconds)
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def check_kubeconfig(settings: Settings, source: SettingsSource) -> list[str]:
    """The problems with ``cluster.kubeconfig`` (when set, outside the cluster), each as
    ``FILE:LINE: field: message``: checked by ``config check`` and before ``run`` starts,
    so that a missing or broken kubeconfig is not found only by the first API call."""
    cluster = settings.cluster
    if cluster.in_cluster or cluster.kubeconfig is None:
        return []
    problem = kubeconfig_problem(cluster.kubeconfig, cluster.context)
    if problem is None:
        return []
    field = "context" if problem.startswith("no context") and cluster.context else "kubeconfig"
    return [f"{source.where(('cluster', field))}: cluster.{field}: {problem}"]


def kubeconfig_problem(path: Path, context: str | None) -> str | None:
    """What keeps the kubeconfig at ``path`` (``:``-separated paths are merged, as by
    kubectl) from giving ``context`` (None: its ``current-context``), or None if nothing.
    The message names the file; it never repeats the file's content (it holds tokens)."""
    contexts: list[str] = []
    clusters = 0
    current: str | None = None
    for part in [p for p in str(path).split(os.pathsep) if p]:
        file = Path(part).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            # A relative kubeconfig is read from where the command runs (as kubectl reads
            # it), not beside the config file as runbooks are: say where that was.
            named = str(file) if file.is_absolute() else f"{file} (in {Path.cwd()})"
            return f"{named} does not exist (set cluster.kubeconfig to a kubeconfig file)"
        except IsADirectoryError:
            return f"{file} is a directory, not a kubeconfig file"
        except OSError as exc:
            return f"cannot read {file}: {exc.strerror or exc}"
        except UnicodeDecodeError:
            return f"{file} is not a kubeconfig: it is not UTF-8 text"
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            return f"{file} is not a kubeconfig: it is not valid YAML{at}"
        if not isinstance(data, dict):
            return f"{file} is not a kubeconfig: expected a mapping with clusters and contexts"
        for key in ("clusters", "contexts"):
            if data.get(key) is not None and not isinstance(data[key], list):
                return f"{file} is not a kubeconfig: {key} is not a list"
        clusters += len(data.get("clusters") or [])
        contexts += [
            str(entry["name"])
            for entry in data.get("contexts") or []
            if isinstance(entry, dict) and entry.get("name")
        ]
        if current is None and data.get("current-context"):
            current = str(data["current-context"])
    if not clusters or not contexts:
        what = " or ".join(k for k, n in (("clusters", clusters), ("contexts", contexts)) if not n)
        return f"{path} is not a kubeconfig: it lists no {what}"
    wanted = context or current
    if wanted is None:
        return (
            f"{path} sets no current-context: set cluster.context to one of {', '.join(contexts)}"
        )
    if wanted not in contexts:
        whose = "" if context else " (its current-context)"
        return f"no context {wanted!r}{whose} in {path}; it has {', '.join(contexts)}"
    return None


# What the Kubernetes client reads in a pod (cluster.inCluster: true): the environment
# Kubernetes gives every container, and the service account's files it mounts.
IN_CLUSTER_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")


def no_kubeconfig(shown: str, source: str) -> str:
    """What to say when no kubeconfig file exists at ``shown`` (``source``: where that
    path came from: ``cluster.kubeconfig``, ``$KUBECONFIG`` or ``the default``)."""
    how = {
        "cluster.kubeconfig": "set cluster.kubeconfig to an existing file",
        "$KUBECONFIG": "set $KUBECONFIG to an existing file, or cluster.kubeconfig",
    }.get(source, "set cluster.kubeconfig or $KUBECONFIG, or cluster.inCluster: true in a pod")
    return f"no kubeconfig at {shown} ({source}); {how}"


def default_credentials_problem(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """Why the Kubernetes credentials that ``run`` would load without a kubeconfig named in
    the file are not here, or None: the in-cluster service account (``inCluster``), else
    ``$KUBECONFIG``, else ``~/.kube/config``, as the client looks for them. A
    ``cluster.kubeconfig`` the file names is ``check_kubeconfig``'s (None here).

    Files and the environment are read; nothing is run (a kubeconfig's ``exec`` plugin is
    not) and the cluster is not contacted."""
    cluster = settings.cluster
    if cluster.in_cluster:
        unset = [name for name in IN_CLUSTER_ENV if not environ.get(name)]
        if unset:
            return (
                f"cluster.inCluster is true, but {' and '.join(unset)} "
                f"{'is' if len(unset) == 1 else 'are'} not set (Kubernetes sets both in "
                "every pod): this is not a pod; outside a cluster, set cluster.inCluster: "
                "false and name a kubeconfig"
            )
        for path, what in (
            (SERVICE_ACCOUNT_TOKEN, "token"),
            (SERVICE_ACCOUNT_CA, "CA certificate"),
        ):
            if not path.is_file() or path.stat().st_size == 0:
                state = "is empty" if path.is_file() else "does not exist"
                return (
                    f"cluster.inCluster is true, but the service account {what} {path} "
                    f"{state} (is automountServiceAccountToken false for this pod?)"
                )
        return None
    if cluster.kubeconfig is not None:
        return None
    given = environ.get("KUBECONFIG") or "~/.kube/config"
    source = "$KUBECONFIG" if environ.get("KUBECONFIG") else "the default"
    paths = [os.path.expanduser(p) for p in given.split(os.pathsep) if p]
    present = [p for p in paths if os.path.exists(p)]
    if not present:
        return no_kubeconfig(os.pathsep.join(paths), source)
    # As the client merges them, a path of $KUBECONFIG that is missing is passed over.
    problem = kubeconfig_problem(Path(os.pathsep.join(present)), cluster.context)
    if problem is None:
        return None
    read = "read from $KUBECONFIG" if source == "$KUBECONFIG" else "read by default"
    return f"{problem} ({read}: cluster.kubeconfig is not set)"


def load_settings_with_source(
    path: Path | None, environ: Mapping[str, str] | None = None
) -> tuple[Settings, SettingsSource]:
    """``load_settings``, and where each value came from for later error messages."""
    environ = environ or {}
    data: Any = {}
    lines = YamlLines(None)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read the config file: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError as exc:
            line, problem = not_utf8(exc, "the config file")
            raise ConfigError(f"{path}:{line}: {problem}") from None
        try:
            data, lines = load_yaml_with_marks(text)
        except YamlSourceError as exc:
            # The parser may quote the offending line: never let it show a password.
            raise ConfigError(redact_url_passwords(f"{path}:{exc.line}: {exc.detail}")) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path}:1: the config must be a mapping of sections, got {document_kind(data)}"
            )
    source = SettingsSource(path, lines, tuple(_apply_env(data, environ)))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in causes(exc.errors()):
            loc = tuple(error["loc"])
            if error["type"] == "duplicate_name":  # at the entry that repeats the name
                loc = (*loc, error["ctx"]["index"], "name")
            if error["type"] == "problem_at":  # at the entry that is wrong, not the section
                loc = (*loc, *error["ctx"]["at"])
            field = field_path(loc) or "(top level)"
            where = source.where(loc)
            in_file = where.startswith(f"{path}:")
            line_no = source.lines(loc)
            if in_file and error["type"] == "extra_forbidden":
                # the unknown key's own line, not its value's (a block starts below it)
                line_no = source.lines.key(loc)
                where = f"{path}:{line_no}"
            # Top to bottom, as the file reads (pydantic's order is the model's fields');
            # an environment override's after the file's, in the model's order.
            order = line_no if in_file else math.inf
            problems.append((order, f"{where}: {field}: {_explain(error)}"))
        problems.sort(key=lambda problem: problem[0])
        raise ConfigError(
            redact_url_passwords(
                "invalid configuration:\n  " + "\n  ".join(text for _, text in problems)
            )
        ) from None
    if path is not None:
        # Relative paths in a config file are relative to the file, not to the caller.
        base = path.resolve().parent
        # normpath: the example's "../runbooks" reads as REPO/runbooks, not REPO/docs/../runbooks
        runbooks = tuple(
            p if p.is_absolute() else Path(os.path.normpath(base / p)) for p in settings.runbooks
        )
        settings = settings.model_copy(update={"runbooks": runbooks})
    return settings, source


def _env_source(loc: tuple[Any, ...], applied: list[str]) -> str | None:
    if not loc:
        return None
    at = tuple(str(p) for p in loc)
    for key in applied:
        names, known = _env_path([p for p in key[len(ENV_PREFIX) :].split("__") if p])
        if tuple(names) == at[: len(names)]:
            return f"environment {key}"
        if len(at) > known and at == tuple(names[: len(at)]):
            return f"environment {key}"  # the unknown key this override wrote
    return None


_SECRET_FIELDS = {
    "botToken",
    "appToken",
    "signingSecret",
    "password",
    "token",
    "bearerToken",
    "readToken",
}


def _explain(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = {str(p) for p in error["loc"]}
    if loc & _SECRET_FIELDS:
        # Never echo what was written where a secret belongs: it may be the secret itself.
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            return "secrets are not written inline: use {file: PATH} or {env: VARIABLE}"
        if kind not in ("extra_forbidden", "missing"):
            return str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent = tuple(error["loc"])[:-1]
        key = str(error["loc"][-1])
        keys = _keys_at(parent)
        # a key written one level too far left: it belongs to a section here, not here
        owners = [k for k in keys if key in _keys_at((*parent, k))]
        if owners and key not in keys:
            where = " or ".join(".".join(str(p) for p in (*parent, k)) for k in owners)
            return (
                f"unknown key here; {key!r} is a key of {where}: indent it under that "
                "section (see docs/configuration.md)"
            )
        return unknown_key(key, keys, see="docs/configuration.md")
    if kind == "string_pattern_mismatch" and tuple(error["loc"])[::2] == ("anomalyQueries", "name"):
        return (
            "a query's name is lower-case letters, digits, '_', '.' and '-', starting with "
            f"a letter or digit (got {str(error.get('input'))[:60]!r})"
        )
    return explain_error(error)


def explain_error(error: Mapping[str, Any]) -> str:
    """What a pydantic validation error says, in the words runbooks, the configuration
    and simulation scenarios share (``remediation.validation.explain``), a password in a
    URL written as ``***``. The caller adds file, line and field."""
    return redact_url_passwords(
        explain(error, lambda value: redact_url_passwords(value, whole=True))
    )
