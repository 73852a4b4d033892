"""The message content and the payload parser, without the network."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.adapters.slack import MalformedInteractionError, VerdictClick, parse_click
from agent.adapters.slack_blocks import (
    describe_proposal,
    escalation_blocks,
    escalation_text,
    escape,
    question_blocks,
    question_text,
    report_text,
    source_link,
)
from agent.ledger import DecisionRecord, Question
from tests.fakeslack import block_actions_payload
from tests.integration.slack.conftest import NOW

QID = "0123456789abcdef0123456789abcdef"


def _decision(**overrides: Any) -> DecisionRecord:
    base: dict[str, Any] = {
        "id": "d" * 32,
        "kind": "remediation",
        "decision_type": "restart/Deployment",
        "subject": "Deployment/shop/web",
        "proposal": {"op": "scale", "replicas": 5, "from": 3},
        "confidence": 0.714,
        "reason_code": "ForecastBreach",
        "reason": "p90 forecast 1,240 rps exceeds capacity 900 rps in 6 min",
        "evidence": {"query": "sum(rate(http_requests_total[2m]))", "forecast_p90": 1240.0},
        "model_version": "ets@3",
        "route": "ask",
        "status": "asked",
        "incident_key": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    base.update(overrides)
    return DecisionRecord(**base)


def _question(**overrides: Any) -> Question:
    base: dict[str, Any] = {
        "id": QID,
        "decision_id": "d" * 32,
        "status": "pending",
        "channel": "slack",
        "message_ref": None,
        "asked_at": NOW,
        "expires_at": NOW + 900,
        "answered_by": None,
        "answered_at": None,
        "answer_reason": None,
    }
    base.update(overrides)
    return Question(**base)


def _mrkdwn(node: Any) -> list[str]:
    """Every mrkdwn text in a block tree: the only text Slack turns into pings and links."""
    if isinstance(node, list):
        return [t for item in node for t in _mrkdwn(item)]
    if not isinstance(node, dict):
        return []
    found = [node["text"]] if node.get("type") == "mrkdwn" else []
    return found + [t for value in node.values() for t in _mrkdwn(value)]


def test_text_from_a_decision_cannot_ping_or_link() -> None:
    decision = _decision(
        subject="Deployment/shop/<!channel>",
        reason="restart <@U0BOSS> & <https://evil.example|click here>",
    )
    blocks = question_blocks(decision, _question())
    text = " ".join(_mrkdwn(blocks))  # plain_text (header, dialog) is never interpreted
    assert "<!channel>" not in text and "<@U0BOSS>" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    assert "<https://evil.example" not in text
    assert "<!channel>" not in escalation_text(decision, "why", "S0ONCALL")


def test_long_evidence_is_cut_to_slack_limits() -> None:
    decision = _decision(
        evidence={"query": "x" * 10_000, "series": list(range(500)), "note": "y" * 5000}
    )
    blocks = question_blocks(decision, _question())
    for block in blocks:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    assert "(last 8 of 500)" in json.dumps(blocks)


def test_an_answered_question_shows_who_and_when_and_has_no_buttons() -> None:
    answered = _question(status="approved", answered_by="U0ALICE", answered_at=NOW + 60)
    blocks = question_blocks(_decision(), answered, "Executing next.")
    assert not [b for b in blocks if b["type"] == "actions"]
    text = json.dumps(blocks)
    assert "*Approved* by <@U0ALICE> <!date^1800000060^" in text
    assert "Executing next." in text
    by_cli = question_blocks(_decision(), _question(status="rejected", answered_by="cli:<bob>"))
    assert "cli:&lt;bob&gt;" in json.dumps(by_cli)


def test_proposal_source_and_escalation_wording() -> None:
    assert describe_proposal({"op": "scale", "replicas": 5, "from": 3}) == (
        "scale (replicas=5, from=3)"
    )
    assert describe_proposal({"ratio": 0.123456}) == "change (ratio=0.1235)"
    # A runbook's plan, as the remediation engine proposes it: the question's header and
    # its confirm dialog read "Approval needed: change (mode=enforce, runbook=..., ...)".
    plan = {
        "diff": ["Deployment shop/web: roll back from revision 2 to the previous revision"],
        "mode": "enforce",
        "notifications": [],
        "operations": [
            {"op": "cordon", "target": {"kind": "Node", "name": "n1", "namespace": None}},
            {"op": "drain", "target": {"kind": "Node", "name": "n1", "namespace": None}},
        ],
        "runbook": "node-notready-drain",
        "runbook_version": 1,
        "target": {"kind": "Node", "name": "n1", "namespace": None},
        "undo_on_failure": True,
    }
    assert describe_proposal(plan) == "cordon, drain (runbook node-notready-drain)"
    assert source_link({"generatorURL": "http://prom:9090/graph?g0.expr=up"}) is not None
    assert source_link({"url": "javascript:alert(1)"}) is None
    text = escalation_text(_decision(), "nobody answered", "S0ONCALL")
    assert text.startswith("<!subteam^S0ONCALL> Escalation: scale")
    assert not escalation_text(_decision(), "why", None).startswith("<!subteam")
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_parse_click_reads_a_real_shaped_payload() -> None:
    payload = block_actions_payload(QID, "snooze", user_id="U0ALICE", action_ts=NOW + 0.25)
    click = parse_click(payload)
    assert click is not None
    assert (click.question_id, click.answer, click.user_id) == (QID, "snoozed", "U0ALICE")
    assert (click.channel_id, click.action_ts) == ("C0OPS", NOW + 0.25)
    verdict = parse_click(block_actions_payload(QID, "was-not-fix", user_id="U0BOB", action_ts=NOW))
    assert verdict == VerdictClick("U0BOB", "someone", QID, False, "C0OPS", "1800000001.000001")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    base=st.sampled_from(["approve", "reject", "snooze", "was-fix", "other"]),
    key=st.sampled_from(["type", "user", "actions", "container", "channel"]),
    junk=_json,
)
def test_parse_click_fails_only_with_its_own_error(base: str, key: str, junk: Any) -> None:
    """Whatever a signed body contains, the parser answers a click, None, or a 400."""
    payload = block_actions_payload(QID, base, user_id="U0ALICE", action_ts=NOW)
    payload[key] = junk
    try:
        click = parse_click(payload)
    except MalformedInteractionError:
        return
    if isinstance(click, VerdictClick):
        assert click.decision_id == QID and click.right
    elif click is not None:
        assert click.question_id == QID and click.answer in {"approved", "rejected", "snoozed"}


def test_the_cluster_is_named_when_configured() -> None:
    """`cluster.name` tells which cluster a question or an escalation is about (channels
    are often shared between clusters); it is escaped like any other text."""
    named = question_blocks(_decision(), _question(), cluster="prod-<eu>")
    assert "in cluster `prod-&lt;eu&gt;`" in " ".join(_mrkdwn(named))
    unnamed = question_blocks(_decision(), _question())
    assert "in cluster" not in " ".join(_mrkdwn(unnamed))
    escalated = escalation_blocks(_decision(), "why", "S0ONCALL", cluster="staging")
    assert "in cluster `staging`" in " ".join(_mrkdwn(escalated))


def test_the_source_link_is_found_in_the_triggering_signal() -> None:
    """An Alertmanager alert's generatorURL sits in the signal's evidence; the question
    links back to it (and only to http(s) links)."""
    url = "http://prometheus.example/graph?g0.expr=up"
    assert source_link({"signal": {"generatorURL": url}}) == url
    assert source_link({"signal": {"evidence": {"source_url": url}}}) == url
    assert source_link({"signal": {"generatorURL": "javascript:alert(1)"}}) is None
    blocks = question_blocks(_decision(evidence={"signal": {"generatorURL": url}}), _question())
    assert f"<{url}|Open the source>" in json.dumps(blocks)


def test_a_runbook_decisions_guards_read_as_a_summary() -> None:
    """The question says how the preconditions and guards went in a few words (each one
    is in `autonomic explain`), naming any that failed, never a dump of the records."""
    passed = {"name": "pause", "required": "not paused", "seen": "not paused", "passed": True}
    failed = {"name": "promql", "required": "up > 0", "seen": "no data", "passed": False}
    text = json.dumps(question_blocks(_decision(evidence={"guards": [passed] * 3}), _question()))
    assert "guards: all 3 passed" in text and "not paused" not in text
    text = json.dumps(
        question_blocks(_decision(evidence={"guards": [passed, failed]}), _question())
    )
    assert "guards: 1 of 2 passed; failed promql: no data" in text


def test_an_alert_decision_shows_the_alert_text_and_why_it_asks() -> None:
    """What the trial's on-call saw: the route's sentence was cut off after the
    thresholds' bookkeeping (defaults, pool, prior...), and the alert's summary and
    description sat inside a Python dict. Both are now lines of their own."""
    route = "confidence 67.5% is between the ask threshold 60% and the automatic threshold 95%"
    evidence = {
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-1"},
        "routing": {
            "ask": 0.6,
            "auto": 0.95,
            "confidence": 0.675,
            "defaults": {"ask": 0.6, "auto": 0.95, "source": "global"},
            "max_autonomy": "auto",
            "pool": {"base": 0.75, "outcomes": 0, "right": 0},
            "prior_success": 0.75,
            "route_reason": route,
            "signal_confidence": 0.9,
        },
        "signal": {
            "annotations": {
                "summary": "Pod is crash looping.",
                "description": "Pod shop/web-1 (main) is in waiting state "
                "(reason: CrashLoopBackOff).",
            },
            "fingerprint": "c61e7aa90b34bc39",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        },
    }
    blocks = question_blocks(_decision(evidence=evidence), _question())
    [text] = [t for t in _mrkdwn(blocks) if t.startswith("*Evidence*")]
    lines = text.split("\n")
    # The two confidences are named in the Confidence field, not one of them here.
    assert f"• routing: {route}" in lines
    assert "*Confidence*\nsignal 90.0%, decision 71.4% after the runbook's record" in (
        _mrkdwn(blocks)
    )
    assert "• alert summary: Pod is crash looping." in lines
    assert (
        "• alert description: Pod shop/web-1 (main) is in waiting state "
        "(reason: CrashLoopBackOff)." in lines
    )
    assert not any("annotations=" in line or "prior_success" in line for line in lines)
    assert (  # the rest, as before
        "• signal: fingerprint=c61e7aa90b34bc39, generatorURL=http://prometheus:9090/graph?g0.expr=x"
        in lines
    )


def test_an_answered_question_no_longer_asks_for_approval_in_its_heading() -> None:
    """The rewritten message kept its "Approval needed" heading once approved, rejected
    or expired, with no button left to give it."""

    def heading(status: str, answered_by: str | None = "U0ALICE") -> str:
        question = _question(status=status, answered_by=answered_by, answered_at=NOW + 60)
        [header] = [b for b in question_blocks(_decision(), question) if b["type"] == "header"]
        return str(header["text"]["text"])

    assert heading("pending", None).startswith("Approval needed: scale")
    assert heading("pending").startswith("Approval needed: scale")  # snoozed: still open
    assert heading("approved").startswith("Approved: scale")
    assert heading("rejected").startswith("Rejected: scale")
    assert heading("expired", None).startswith("Expired unanswered: scale")


def test_the_signals_and_the_decisions_confidence_are_each_named() -> None:
    """A message read "(confidence 67.5%) — alert KubePodCrashLooping on Pod/shop/web-1
    (confidence 0.90)": two confidences, neither named, in two formats."""
    decision = _decision(
        reason="alert KubePodCrashLooping on Pod/shop/web-1 (signal confidence 90.0%)",
        confidence=0.675,
        evidence={"routing": {"auto": 0.95, "ask": 0.6, "signal_confidence": 0.9}},
    )
    assert question_text(decision).startswith(
        "Approval needed: scale (replicas=5, from=3) on Deployment/shop/web "
        "(decision confidence 67.5%) — alert KubePodCrashLooping on Pod/shop/web-1 "
        "(signal confidence 90.0%)"
    )
    assert "(decision confidence 67.5%)" in report_text(decision)
    assert "*Confidence*\nsignal 90.0%, decision 67.5% after the runbook's record" in _mrkdwn(
        question_blocks(decision, _question())
    )
    # Without the signal's recorded (older decisions): the decision's alone.
    older = _decision(confidence=0.675, evidence={"routing": {"auto": 0.95, "ask": 0.6}})
    assert "*Confidence*\n67.5%" in _mrkdwn(question_blocks(older, _question()))


def test_a_decisions_kubernetes_events_have_a_section_of_their_own() -> None:
    from remediation.events import fold_events, unread_events
    from remediation.ports import ObjectEvent

    pods = [f"Pod/web-{i}-{'x' * 240}" for i in range(40)]  # long names, many pods
    events = [
        ObjectEvent(pod, "Warning", f"Reason{i % 9}", "<!channel> " + "m" * 2000, 3, NOW - i)
        for i, pod in enumerate(pods)
    ]
    decision = _decision(evidence={"replicas": 3, "events": fold_events(events)})
    blocks = question_blocks(decision, _question())
    (section,) = [
        b for b in blocks if "Recent Kubernetes Events" in b.get("text", {}).get("text", "")
    ]
    text = section["text"]["text"]
    assert len(text) <= 3000 and len(blocks) <= 50
    assert text.count("\n• Warning Reason") == 5 and "4 more reasons not shown" in text
    assert "<!channel>" not in text
    short = fold_events([ObjectEvent("Pod/web-1", "Warning", "BackOff", "<!channel> & co", 1, NOW)])
    said = json.dumps(question_blocks(_decision(evidence={"events": short}), _question()))
    assert "<!channel>" not in said and "&lt;!channel&gt; &amp; co" in said
    # Not dumped again among the other evidence.
    evidence = next(b for b in blocks if b.get("text", {}).get("text", "").startswith("*Evidence*"))
    assert "events" not in evidence["text"]["text"] and "replicas" in evidence["text"]["text"]

    unread = _decision(evidence={"events": unread_events("events is forbidden")})
    said = json.dumps(escalation_blocks(unread, "expired", "S0ONCALL"))
    assert "not readable: events is forbidden" in said


def test_event_lines_long_once_escaped_all_show_cut_between_characters() -> None:
    # A probe's HTML answer, a Go error's "<nil>": each "<" is sent as "&lt;", four times
    # longer. Each line is cut once escaped, so all of them, and what was left out, fit
    # in the section; and no cut falls inside an "&lt;".
    from remediation.events import fold_events
    from remediation.ports import ObjectEvent

    events = [
        ObjectEvent(f"Pod/web-{i}", "Warning", f"Reason{i}", "<p>&</p>" * 60, 2, NOW - i)
        for i in range(7)
    ]
    folded = fold_events(events, left_out="the Events of its ReplicaSet (not read: stale)")
    blocks = question_blocks(_decision(evidence={"events": folded}), _question())
    (section,) = [
        b for b in blocks if "Recent Kubernetes Events" in b.get("text", {}).get("text", "")
    ]
    text = section["text"]["text"]
    assert len(text) <= 3000
    assert [f"Reason{i}" in text for i in range(5)] == [True] * 5
    assert "2 more reasons not shown" in text
    assert "not read: the Events of its ReplicaSet (not read: stale)" in text
    assert re.findall(r"&(?!lt;|gt;|amp;)", text) == []
