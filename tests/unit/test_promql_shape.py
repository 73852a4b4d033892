"""A PromQL query with a plain slip (a parenthesis left open, `[5min]`, an unquoted
label value) is refused where it is written, with file, line and field, by `config check`
and `runbooks validate`, instead of loading and being refused by Prometheus at every run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.cli import main as autonomic
from remediation.promql import syntax_problem

GOOD = [
    "histogram_quantile(0.99, sum by (le, deployment) (rate(x_bucket[5m])))",
    'sum(rate(http_requests_total{namespace="{{namespace}}",deployment="{{name}}"}[5m]))',
    'sum(rate(http_requests_total{namespace="$namespace",deployment="$workload"}[2m]))',
    "max_over_time(rate(x[5m])[1h:1m])",
    "max_over_time(rate(x[5m])[1h:]) offset 1h30m",
    'label_replace(up, "a", "$1", "b", "(.*)")',
    'x{a="b\\"}",c!~"d.*"} > 0 # a comment (',
    '{"metric.with.dots"}',
    "rate(x[300])",
]


@pytest.mark.parametrize("query", GOOD)
def test_well_formed_queries_pass(query: str) -> None:
    assert syntax_problem(query) is None


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("sum(rate(x[5m])", "'(' at column 4 is never closed"),
        ("sum(x))", "')' at column 7 closes nothing"),
        ("sum(x]", "']' at column 6 closes the '(' opened at column 4"),
        ("rate(x[5min])", "[5min] is not a range"),
        ("rate(x[1 h])", "[1 h] is not a range"),
        ('x{a="b}', 'string opened with " at column 5 is not closed'),
        ("x{namespace=shop}", 'not in quotes: write ="shop"'),
        ("x{namespace={{namespace}}}", 'write ="{{namespace}}"'),
        ("x{deployment=$workload}", 'write ="$workload"'),
    ],
)
def test_slips_are_named_with_their_column(query: str, words: str) -> None:
    problem = syntax_problem(query)
    assert problem is not None and words in problem, problem


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AUTONOMIC__"):
            monkeypatch.delenv(key)


RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: restart-busy
  description: Restart a crash-looping Deployment that serves traffic.
spec:
  mode: enforce
  triggers:
    - type: kubernetes
      condition: CrashLoopBackOff
  target:
    kind: Deployment
  preconditions:
    - type: promql
      query: QUERY
  actions:
    - type: rolloutRestart
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
  onFailure: {undo: false}
"""


def test_a_runbook_query_with_an_open_parenthesis_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = 'sum(rate(http_requests_total{namespace="{{namespace}}"}[5m])'
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.replace("QUERY", query))
    code = autonomic(["runbooks", "validate", str(path)])
    out, err = capsys.readouterr()
    assert code != 0
    assert (
        f"{path}:15: spec.preconditions[0].query: not valid PromQL: the '(' at column 4 "
        "is never closed: add ')'" in out + err
    )


@pytest.mark.parametrize(
    ("section", "line", "field", "words"),
    [
        (
            "anomalyQueries:\n  - name: p99\n    expr: sum(rate(x[5min]))\n",
            3,
            "anomalyQueries[0].expr",
            "[5min] is not a range",
        ),
        (
            'scaling:\n  loadQuery: sum(rate(x{deployment="$workload"}[2m])\n',
            2,
            "scaling.loadQuery",
            "'(' at column 4 is never closed",
        ),
        (
            "canary:\n  queries:\n    requests: "
            'sum(increase(x{namespace="$namespace",deployment=$workload}[1m]))\n',
            3,
            "canary.queries.requests",
            'not in quotes: write ="$workload"',
        ),
    ],
)
def test_a_config_query_with_a_slip_fails_the_check_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    line: int,
    field: str,
    words: str,
) -> None:
    path = tmp_path / "autonomic.yaml"
    path.write_text(section + "runbooks: []\n")
    code = autonomic(["config", "check", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:{line}: {field}: not valid PromQL: " in err, err
    assert words in err


def test_an_unquoted_label_value_says_to_quote_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`requireLabels: {autonomic.dev/enabled: true}` is read as a boolean: the error says
    to quote it, not pydantic's "Input should be a valid string"."""
    text = RUNBOOK.replace(
        "    kind: Deployment\n",
        "    kind: Deployment\n    requireLabels: {autonomic.dev/enabled: true}\n",
    ).replace("QUERY", "sum(up)")
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    code = autonomic(["runbooks", "validate", str(path)])
    out, err = capsys.readouterr()
    assert code != 0
    assert (
        f"{path}:13: spec.target.requireLabels.autonomic.dev/enabled: expected text, got true "
        'unquoted (quote it: "true")'
    ) in out + err
