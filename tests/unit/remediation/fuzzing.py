"""Generators of malformed runbooks and Alertmanager payloads, and the intake contract.

Shared by the property tests (modest example counts) and ``benchmarks/fuzz_intake.py``
(10,000+ examples). The contract: bad input yields only our own error types with clear,
located messages; never another exception; never a partially loaded runbook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import strategies as st

from remediation.alerts import AlertmanagerPayload, PayloadError, parse_payload, to_signals
from remediation.loading import RunbookLoadError, load_text
from remediation.schema import Runbook

REPO = Path(__file__).resolve().parents[3]
SEEDS = tuple(sorted((REPO / "runbooks").glob("*.yaml")))
SEED_TEXTS = tuple(path.read_text() for path in SEEDS)
SEED_DATA = tuple(yaml.safe_load(text) for text in SEED_TEXTS)

Verdict = Literal["valid", "rejected"]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "5m",
            "0s",
            "-1m",
            "2Gi",
            "0Mi",
            "> 0",
            "<<",
            "Europe/Paris",
            "Mars/Base",
            "Fri",
            "25:00",
            "0 2 * * sat",
            "61 * * * *",
            'a=~"("',
            'a="b"',
            "{{pod}}",
            "rollback",
            "scale",
            "Deployment",
            "Node",
            "enforce",
            "auto",
            "alert",
            "kubernetes",
            "type",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_data(draw: st.DrawFn, seeds: tuple[Any, ...] = SEED_DATA) -> Any:
    """A shipped runbook with 1-4 structural mutations (replace, delete, add, retype)."""
    data = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        if not path:
            data = draw(VALUES) if draw(st.integers(0, 9)) == 0 else data
            continue
        parent = _get(data, path[:-1])
        key = path[-1]
        choice = draw(st.sampled_from(["replace", "delete", "add", "retype", "listify"]))
        if choice == "replace":
            parent[key] = draw(VALUES)
        elif choice == "delete":
            del parent[key]
        elif choice == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=15))] = draw(VALUES)
        elif choice == "retype":
            value = parent[key]
            parent[key] = str(value) if not isinstance(value, str) else draw(SCALARS)
        elif choice == "listify":
            parent[key] = [parent[key]]
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A shipped runbook's text with characters inserted, deleted or replaced."""
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if not text:
            break
        at = draw(st.integers(min_value=0, max_value=len(text) - 1))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        piece = draw(
            st.sampled_from(
                [
                    ":",
                    "-",
                    " ",
                    "\n",
                    "  ",
                    "[",
                    "{",
                    "'",
                    '"',
                    "&a",
                    "*a",
                    "!!str",
                    "\t",
                    "#",
                    "---\n",
                    "\x00",
                    "é",
                    "<<: ",
                ]
            )
        )
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "replace":
            text = text[:at] + piece + text[at + 1 :]
        else:
            text = text[:at]
    return text


def runbook_texts() -> st.SearchStrategy[str]:
    """Every kind of malformed runbook the fuzzers generate."""
    return st.one_of(
        mutated_data().map(dump),
        mutated_text(),
        st.tuples(mutated_data(), st.sampled_from(SEED_DATA)).map(
            lambda pair: dump(pair[1]) + "---\n" + dump(pair[0])  # a valid doc, then a bad one
        ),
        st.text(max_size=200),
        VALUES.map(dump),
    )


def classify_runbook(text: str) -> Verdict:
    """Load ``text``; assert the intake contract; say whether it was valid."""
    documents = text.count("\n---")
    try:
        loaded = load_text(text, "fuzz.yaml")
    except RunbookLoadError as error:
        assert error.issues, "an error without issues"
        for issue in error.issues:
            assert issue.file == "fuzz.yaml"
            assert issue.line is None or issue.line >= 1
            assert isinstance(issue.path, str) and issue.message.strip()
            assert "Traceback" not in issue.message
        return "rejected"
    assert loaded, "loading returned nothing without an error"
    assert all(isinstance(r, Runbook) for r in loaded)
    assert len(loaded) <= documents + 1
    return "valid"


# ---------------------------------------------------------------------------- payloads

VALID_PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="KubePodCrashLooping"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "autonomic",
    "groupLabels": {"alertname": "KubePodCrashLooping"},
    "commonLabels": {"severity": "warning"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-1"},
            "annotations": {"summary": "crash looping"},
            "startsAt": "2026-11-22T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": "a1b2c3",
        }
    ],
}


@st.composite
def mutated_payload(draw: st.DrawFn) -> bytes:
    data = draw(mutated_data(seeds=(VALID_PAYLOAD,)))
    return json.dumps(data, allow_nan=True).encode()


@st.composite
def mutated_payload_bytes(draw: st.DrawFn) -> bytes:
    body = bytearray(json.dumps(VALID_PAYLOAD).encode())
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        at = draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[at] = draw(st.integers(min_value=0, max_value=255))
    return bytes(body)


def payload_bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_payload(),
        mutated_payload_bytes(),
        st.binary(max_size=200),
        VALUES.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    )


def classify_payload(body: bytes) -> Verdict:
    try:
        parsed = parse_payload(body)
    except PayloadError as error:
        assert error.issues and error.status in (400, 413)
        assert all(issue.strip() for issue in error.issues)
        return "rejected"
    assert isinstance(parsed, AlertmanagerPayload)
    to_signals(parsed, received_at=0.0)  # conversion must not fail on anything parse accepts
    return "valid"
