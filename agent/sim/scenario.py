"""Simulation scenarios: workloads, traces, faults and on-call policy, as YAML.

A scenario with an error is rejected before anything runs, with the file, the line and
the field (``default.yaml:23: spec.faults[2].at: ...``).

Numbers are written as numbers, as in the configuration and in runbooks: ``days: "7"``,
``replicas: yes`` and ``replicas: 6.0`` are refused with what to write instead. Each
number field says so by its type (``Number``, ``WholeNumber``): a catch-all "before"
validator, as the configuration has, would also sit on the faults' ``type``, which
pydantic refuses on a discriminated union's tag. Offsets and durations (``at``,
``startup``, ``tick``, ``duration``, ``delay``) are text on purpose (``2h``).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent.errors import InputError
from agent.settings import (
    Number,
    ScheduledFloors,
    WholeNumber,
    explain_error,
    parse_duration,
)
from agent.yamlsource import YamlSourceError, document_kind, load_yaml_with_marks
from remediation._types import Quantity
from remediation.digits import unseen_character
from remediation.validation import (
    causes,
    field_path,
    missing_type,
    model_at,
    unknown_key,
    unknown_type,
)

__all__ = [
    "Fault",
    "OnCallRule",
    "Scenario",
    "ScenarioScaling",
    "ScenarioWorkload",
    "load_scenario",
    "parse_offset",
    "reference_problems",
]

_OFFSET = re.compile(r"^\s*(?:([0-9]+)d)?\s*(?:([0-9]+)h)?\s*(?:([0-9]+)m)?\s*$", re.ASCII)


def parse_offset(value: object) -> float:
    """``2d3h``, ``26h``, ``90m`` or seconds, from the start of the simulation."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value < float("inf"):
            raise ValueError(
                f"an offset is from the start of the simulation: 0 or more, got {value!r}"
            )
        return float(value)
    if isinstance(value, str) and (m := _OFFSET.match(value)) and any(m.groups()):
        days, hours, minutes = (int(g or 0) for g in m.groups())
        return days * 86400.0 + hours * 3600.0 + minutes * 60.0
    unseen = unseen_character(value) if isinstance(value, str) else ""
    raise ValueError(f"expected an offset such as 2d3h, 26h or 90m, got {value!r}{unseen}")


def _fault_duration(value: object) -> float:
    """A fault's duration (``50m``): longer than nothing, or the fault would do nothing."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"a fault's duration must be longer than 0s, got {value!r}")
    return seconds


# The ticks that land on every minute: the report's timelines take one sample a minute and
# the on-call answers once a minute, at the ticks where the elapsed seconds divide by 60.
_TICKS = tuple(n for n in range(1, 61) if 60 % n == 0)


def _tick(value: object) -> float:
    seconds = parse_duration(value)
    if seconds not in _TICKS:
        raise ValueError(
            "a tick is a whole number of seconds that divides a minute ("
            + ", ".join(f"{n}s" for n in _TICKS)
            + f"), got {value!r}"
        )
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Trace(_Model):
    name: str
    builtin: Literal["nasa-http"] | None = None
    file: Path | None = None
    column: str | None = None
    step: Number | None = None
    start: str | None = None  # a timestamp in the trace where the simulation starts

    @model_validator(mode="after")
    def _one_source(self) -> Trace:
        if (self.builtin is None) == (self.file is None):
            raise ValueError("give exactly one of 'builtin' or 'file' for a trace")
        return self


class Hpa(_Model):
    min_replicas: WholeNumber = Field(default=2, ge=1, alias="minReplicas")
    max_replicas: WholeNumber = Field(default=50, ge=1, alias="maxReplicas")
    target_utilization: Number = Field(default=0.7, gt=0, le=1, alias="targetUtilization")

    @field_validator("max_replicas")
    @classmethod
    def _at_least_the_floor(cls, value: int, info: ValidationInfo) -> int:
        floor = info.data.get("min_replicas")
        if floor is not None and value < floor:
            raise ValueError(
                f"maxReplicas ({value}) is below minReplicas ({floor}), which Kubernetes "
                "refuses for an HPA"
            )
        return value


class Memory(_Model):
    base_mib: Number = Field(default=200.0, gt=0, alias="baseMiB")
    limit: Quantity = "512Mi"
    request: Quantity = "256Mi"


_WORKLOAD_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ScenarioWorkload(_Model):
    name: str = Field(pattern=_WORKLOAD_NAME.pattern)
    namespace: str = "default"
    trace: str
    scale: Number = Field(default=1.0, gt=0)
    capacity_per_pod: Number = Field(gt=0, alias="capacityPerPod")
    startup: float = 60.0
    replicas: WholeNumber = Field(default=3, ge=1)
    hpa: Hpa | None = None
    predictive: StrictBool = False
    image: str = "app:1"
    memory: Memory = Memory()
    base_latency_ms: Number = Field(default=50.0, gt=0, alias="baseLatencyMs")
    pdb_min_available: WholeNumber | None = Field(default=None, ge=0, alias="pdbMinAvailable")

    _durations = field_validator("startup", mode="before")(lambda cls, v: parse_duration(v))


class _FaultBase(_Model):
    at: float

    _offset = field_validator("at", mode="before")(lambda cls, v: parse_offset(v))


class Surge(_FaultBase):
    type: Literal["surge"]
    workload: str
    factor: Number = Field(gt=1)
    duration: float

    _d = field_validator("duration", mode="before")(lambda cls, v: _fault_duration(v))


class BadRollout(_FaultBase):
    type: Literal["badRollout"]
    workload: str
    image: str


class MemoryLeak(_FaultBase):
    type: Literal["memoryLeak"]
    workload: str
    leak_mib_per_hour: Number = Field(gt=0, alias="leakMiBPerHour")
    # Growth that levels off (a cache filling up) rather than growing without end.
    plateau_mib: Number | None = Field(default=None, gt=0, alias="plateauMiB")


class NodeNotReady(_FaultBase):
    type: Literal["nodeNotReady"]
    node: str
    duration: float

    _d = field_validator("duration", mode="before")(lambda cls, v: _fault_duration(v))


class Canary(_FaultBase):
    type: Literal["canary"]
    workload: str
    image: str
    good: StrictBool
    traffic: Number = Field(default=0.1, gt=0, lt=1)
    latency_factor: Number = Field(default=1.0, gt=0, alias="latencyFactor")
    error_rate: Number = Field(default=0.0, ge=0, le=1, alias="errorRate")
    duration: float = 3600.0

    _d = field_validator("duration", mode="before")(lambda cls, v: _fault_duration(v))


Fault = Annotated[
    Surge | BadRollout | MemoryLeak | NodeNotReady | Canary, Field(discriminator="type")
]
# The fault types, as a scenario writes them (``type: surge``).
FAULT_TYPES: tuple[str, ...] = tuple(
    typing.get_args(kind.model_fields["type"].annotation)[0]
    for kind in (Surge, BadRollout, MemoryLeak, NodeNotReady, Canary)
)


class OnCallRule(_Model):
    runbook: str | None = None  # a runbook name, or a decision type prefix
    answer: Literal["approve", "reject", "never"] = "approve"
    delay: float = 300.0
    no_answer: Number = Field(default=0.0, ge=0, le=1, alias="noAnswer")

    _d = field_validator("delay", mode="before")(lambda cls, v: parse_duration(v))


class OnCall(_Model):
    default: OnCallRule = OnCallRule()
    rules: tuple[OnCallRule, ...] = ()

    def rule_for(self, decision_type: str) -> OnCallRule:
        for rule in self.rules:
            if rule.runbook is not None and decision_type.startswith(rule.runbook):
                return rule
        return self.default


class ScenarioScaling(_Model):
    """The daemon's ``scaling`` settings a scenario may set: its scheduled floors, read
    with the daemon's own model (the rest of ``scaling`` is the simulation's: its load
    query reads the simulated demand)."""

    scheduled_floors: ScheduledFloors = Field(default=(), alias="scheduledFloors")


class Spec(_Model):
    days: Number = Field(default=7, gt=0, le=60)
    seed: WholeNumber = 1
    tick: float = 15.0
    nodes: tuple[str, ...] = ("node-a", "node-b", "node-c", "node-d")
    traces: tuple[Trace, ...]
    workloads: tuple[ScenarioWorkload, ...] = Field(min_length=1)
    faults: tuple[Fault, ...] = ()
    oncall: OnCall = OnCall()
    scaling: ScenarioScaling = ScenarioScaling()

    _t = field_validator("tick", mode="before")(lambda cls, v: _tick(v))

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Spec:
        # ``load_scenario`` checks these itself, to name each one's line and field.
        if not (info.context or {}).get("references_checked_by_caller"):
            problems = reference_problems(self)
            if problems:
                raise ValueError("; ".join(message for _, message in problems))
        return self


def _show_offset(seconds: float) -> str:
    """``1d6h``, ``90m``: an offset as a scenario writes it."""
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def reference_problems(spec: Spec) -> list[tuple[tuple[str | int, ...], str]]:
    """Names that point at nothing and faults outside the simulated time, each with the
    path of the field at fault (``("spec", "faults", 2, "workload")``) and what to do."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    traces = [t.name for t in spec.traces]
    workloads = [w.name for w in spec.workloads]
    # A name given twice: the second would silently replace the first (a workload's
    # timeline, a trace), or count one node twice.
    for field, names, what in (
        ("traces", traces, "trace"),
        ("workloads", workloads, "workload"),
    ):
        for i, given in enumerate(names):
            if given in names[:i]:
                problems.append(
                    (
                        ("spec", field, i, "name"),
                        f"{what} {given!r} is already defined as spec.{field}"
                        f"[{names.index(given)}]; give each {what} its own name",
                    )
                )
    for i, listed in enumerate(spec.nodes):
        if listed in spec.nodes[:i]:
            problems.append(
                (
                    ("spec", "nodes", i),
                    f"node {listed!r} is listed twice (spec.nodes[{spec.nodes.index(listed)}] "
                    f"and spec.nodes[{i}])",
                )
            )
    if not spec.nodes:
        problems.append((("spec", "nodes"), "a cluster needs at least one node"))
    for i, w in enumerate(spec.workloads):
        if w.trace not in traces:
            problems.append(
                (
                    ("spec", "workloads", i, "trace"),
                    f"workload {w.name!r} uses trace {w.trace!r}, which is not defined "
                    f"(spec.traces names: {', '.join(traces)})",
                )
            )
    # A scheduled floor acts only on a workload the scaling loop scales: one opted in
    # with autonomic.dev/predictive, which a scenario's ``predictive: true`` sets.
    by_name = {f"{w.namespace}/{w.name}": w for w in spec.workloads}
    for i, floor in enumerate(spec.scaling.scheduled_floors):
        for j, named in enumerate(floor.workloads):
            parts = named.split("/")
            key = "/".join(parts[1:]) if len(parts) == 3 and parts[0] == "Deployment" else named
            workload = by_name.get(key)
            where = ("spec", "scaling", "scheduledFloors", i, "workloads", j)
            if workload is None:
                problems.append(
                    (
                        where,
                        f"scheduled floor {floor.name!r} names {named!r}, not a workload of "
                        "the scenario (a simulated workload is a Deployment, named "
                        f"namespace/name: {', '.join(by_name)})",
                    )
                )
            elif not workload.predictive:
                problems.append(
                    (
                        where,
                        f"scheduled floor {floor.name!r} names {named!r}, which the scaling "
                        "loop does not scale: give the workload 'predictive: true'",
                    )
                )
    end = spec.days * 86400
    for i, fault in enumerate(spec.faults):
        name = getattr(fault, "workload", None)
        if name is not None and name not in workloads:
            problems.append(
                (
                    ("spec", "faults", i, "workload"),
                    f"a {fault.type} fault names workload {name!r}, not in workloads "
                    f"(spec.workloads names: {', '.join(workloads)})",
                )
            )
        node = getattr(fault, "node", None)
        if node is not None and node not in spec.nodes:
            problems.append(
                (
                    ("spec", "faults", i, "node"),
                    f"a {fault.type} fault names node {node!r}, not in nodes "
                    f"(spec.nodes: {', '.join(spec.nodes)})",
                )
            )
        if fault.at >= end:
            problems.append(
                (
                    ("spec", "faults", i, "at"),
                    f"a {fault.type} fault at {_show_offset(fault.at)} is not before the end "
                    f"of the simulation, {_show_offset(end)} after its start (spec.days: "
                    f"{spec.days:g}); move it earlier or raise spec.days",
                )
            )
    return problems


class Metadata(_Model):
    name: str
    description: str = ""


class Scenario(_Model):
    api_version: Literal["autonomic.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Scenario"]
    metadata: Metadata
    spec: Spec
    source: Path | None = None


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the scenario: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not a scenario: a scenario is a YAML file (UTF-8 text), but byte "
            f"{exc.start} is not UTF-8"
        ) from None
    try:
        data, find_line = load_yaml_with_marks(text)
    except YamlSourceError as exc:
        raise InputError(f"{path}:{exc.line}: {exc.detail}") from None
    if not isinstance(data, dict):
        raise InputError(
            f"{path}:1: not a scenario: a scenario is a YAML mapping with apiVersion, kind, "
            f"metadata and spec, got {document_kind(data)}"
        )
    try:
        scenario = Scenario.model_validate(data, context={"references_checked_by_caller": True})
    except ValidationError as exc:
        found = []
        for error in causes(exc.errors()):
            loc = tuple(error["loc"])
            # Discriminated unions add the tag to the path; drop it for the line lookup.
            clean = tuple(p for p in loc if not (isinstance(p, str) and p in FAULT_TYPES))
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                clean = (*clean, "type")
            found.append((find_line(clean), field_path(clean), _explain(error, loc)))
        # Top to bottom, as the file reads (pydantic's order is the models' fields').
        found.sort(key=lambda problem: problem[0])
        raise InputError(
            "invalid scenario:\n  "
            + "\n  ".join(f"{path}:{line}: {field}: {message}" for line, field, message in found)
        ) from None
    problems = reference_problems(scenario.spec)
    if problems:
        lines = sorted(
            ((find_line(loc), field_path(loc), message) for loc, message in problems),
            key=lambda problem: problem[0],
        )
        raise InputError(
            "invalid scenario:\n  "
            + "\n  ".join(f"{path}:{line}: {field}: {message}" for line, field, message in lines)
        )
    base = path.resolve().parent
    traces = tuple(
        t.model_copy(
            update={"file": t.file if t.file is None or t.file.is_absolute() else base / t.file}
        )
        for t in scenario.spec.traces
    )
    spec = scenario.spec.model_copy(update={"traces": traces})
    return scenario.model_copy(update={"spec": spec, "source": path})


def _explain(error: Any, loc: tuple[str | int, ...]) -> str:
    """What is wrong, in the words runbooks and the configuration use for the same
    mistake (``explain_error``; ``unknown_key``, ``unknown_type`` and ``missing_type`` with
    the keys and the fault types of the place), and in the scenario's own where it has
    more to say: a workload name that is not one."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "union_tag_invalid":
        return unknown_type(error.get("ctx", {}).get("tag"), FAULT_TYPES)
    if kind == "union_tag_not_found":
        return missing_type(FAULT_TYPES)
    if kind == "string_pattern_mismatch" and loc[-1:] == ("name",) and "workloads" in loc:
        written = str(error.get("input"))
        guess = written.strip().lower()
        hint = f"; did you mean {guess!r}?" if _WORKLOAD_NAME.fullmatch(guess) else ""
        return (
            "a workload's name is lower-case letters, digits and '-', starting and ending "
            f"with a letter or digit, as Kubernetes names a Deployment (got {written!r}{hint})"
        )
    return explain_error(error)


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    """``unknown key``, with the key it may have meant and the keys written there."""
    model = model_at(Scenario, loc[:-1]) if loc else None
    allowed = sorted(
        info.alias or name
        for name, info in (model.model_fields.items() if model is not None else ())
        if not (model is Scenario and name == "source")  # set by the loader, not written
    )
    return unknown_key(str(loc[-1]) if loc else "", allowed)
