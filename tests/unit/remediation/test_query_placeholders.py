"""A placeholder's value, taken from an alert's labels, cannot add syntax to a query."""

from __future__ import annotations

import pytest

from remediation.planning import Plan, plan
from remediation.ports import ObjectRef
from remediation.snapshot import ClusterSnapshot
from remediation.templating import render_query

from .builders import NOW, node, runbook, signal

# An alert's label is anyone's text: it closes the string, the matcher and the selector,
# then makes the query answer what the runbook's condition wants.
EVIL = "x'} or vector(0) or up{a='"


def test_a_node_label_cannot_break_out_of_a_single_quoted_matcher() -> None:
    """An alert names the node in its ``node`` label, unchecked; a runbook's precondition
    written with single quotes (PromQL takes them as a double quote) had the value put in
    with only ``"`` escaped, so ``'`` ended the string and the rest became query."""
    rb = runbook(
        """
        triggers: [{type: alert, alertname: NodeDiskPressure}]
        target: {kind: Node}
        preconditions:
          - type: promql
            query: "count(kube_node_spec_unschedulable{node='{{node}}'} == 1) or vector(0)"
            condition: "== 0"
        actions: [{type: cordon}]
        verification: {checks: [{type: kubernetes, condition: nodeCordoned}]}
        """
    )
    target = ObjectRef("Node", EVIL)
    alert = signal(
        "alert",
        "NodeDiskPressure",
        target,
        labels={"alertname": "NodeDiskPressure", "node": EVIL},
    )
    result = plan(rb, alert, ClusterSnapshot(nodes=(node(EVIL),)), NOW)
    assert isinstance(result, Plan), result
    assert result.preconditions[0].query == (
        "count(kube_node_spec_unschedulable{node='x\\'} or vector(0) or up{a=\\''} == 1) "
        "or vector(0)"
    )


@pytest.mark.parametrize(
    ("query", "value", "rendered"),
    [
        # Double quotes, as before: the quote and the backslash escaped.
        ('up{node="{{node}}"}', 'a"}\\', 'up{node="a\\"}\\\\"}'),
        # Single quotes: their own quote escaped, not the other.
        ("up{node='{{node}}'}", "a'\"", "up{node='a\\'\"'}"),
        # A regular expression matcher: the value is matched as written, not as a regex
        # (".*" would have matched every node).
        ('up{node=~"{{node}}"}', ".*", 'up{node=~"\\\\.\\\\*"}'),
        ('up{node!~ "{{node}}-[0-9]+"}', "a|b", 'up{node!~ "a\\\\|b-[0-9]+"}'),
        # A raw string cannot escape its backquote: it is replaced, not closing it.
        ("up{node=`{{node}}`}", "a`} or up{b=`", "up{node=`a\ufffd} or up{b=\ufffd`}"),
        # Outside any string only a name's characters stay.
        (
            "up offset {{node}}",
            "5m) or (vector(1)",
            "up offset 5m\ufffd\ufffdor\ufffd\ufffdvector\ufffd1\ufffd",
        ),
        # A Kubernetes name is unchanged wherever it stands, but for its dots in a regex.
        (
            'up{n="{{node}}"} or up{n=~"{{node}}"} or up offset {{node}}',
            "n-1.b",
            'up{n="n-1.b"} or up{n=~"n-1\\\\.b"} or up offset n-1.b',
        ),
        # An escaped quote in the template does not end its string.
        ('up{a="\\"{{node}}"}', '"', 'up{a="\\"\\""}'),
    ],
)
def test_each_value_is_escaped_for_where_it_stands(query: str, value: str, rendered: str) -> None:
    assert render_query(query, {"node": value}) == rendered
