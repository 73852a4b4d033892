"""A native canary's promotion through the real engine and Kubernetes adapter, against the
fake API server: a confident ``promote`` verdict on an opted-in canary makes the stable
Deployment run the canary's image (only its image), retires the canary (0 replicas),
and is verified on the stable; a verification that fails puts both back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import PermanentError
from agent.settings import RoutingSettings
from remediation.ports import ObjectRef, SetImages
from remediation.schema import CANARY_OF
from remediation.signals import canary_signal
from tests.integration.remediation.rig import (
    Controller,
    KubeRig,
    Write,
    build_rig,
    get_obj,
    seed_web,
)

STABLE = ObjectRef("Deployment", "web", "shop")
CANARY = ObjectRef("Deployment", "web-canary", "shop")
PROMOTE_LABEL = "autonomic.dev/promote-canary"


def _pair(rig: KubeRig, *, opted: bool = True) -> None:
    """Stable ``web`` (4 replicas) on shop/web:1; canary ``web-canary`` (1 replica) on
    shop/web:2, labelled as web's canary, at revision 2."""
    seed_web(rig, replicas=4, images=("shop/web:1",))
    seed_web(rig, name="web-canary", replicas=1, images=("shop/web:1", "shop/web:2"))
    labels = {CANARY_OF: "web"} | ({PROMOTE_LABEL: "true"} if opted else {})
    # Its container is named as the stable's (the seed names it after the Deployment).
    for kind, name in [("Deployment", "web-canary")] + [
        ("ReplicaSet", rs["metadata"]["name"])
        for rs in rig.server.store.objects("ReplicaSet", "shop")
        if rs["metadata"]["labels"].get("app") == "web-canary"
    ]:
        rig.server.store.modify(
            kind,
            "shop",
            name,
            lambda o: o["spec"]["template"]["spec"]["containers"][0].update(name="web"),
        )
    rig.server.store.modify(
        "Deployment", "shop", "web-canary", lambda d: d["metadata"]["labels"].update(labels)
    )
    for name in ("web", "web-canary"):
        controller = Controller(rig.server, rig.clock, lambda _c: "Ready")
        rig.controllers.append(lambda c=controller, n=name: c.reconcile("shop", n))


def _verdict(rig: KubeRig, confidence: float = 0.97) -> None:
    rig.engine.submit(
        [
            canary_signal(
                verdict="promote",
                target=CANARY,
                confidence=confidence,
                at=rig.clock.now(),
                revision=2,
                evidence={"sentence": "no regression on latency or errors"},
                run="shop/web:2",
            )
        ]
    )


def _spec(rig: KubeRig, name: str) -> dict[str, Any]:
    return dict(get_obj(rig.server.store, "Deployment", "shop", name)["spec"])


def _images(rig: KubeRig, name: str) -> list[str]:
    return [c["image"] for c in _spec(rig, name)["template"]["spec"]["containers"]]


def test_a_promote_verdict_gives_the_stable_the_canary_image_and_is_verified(
    rig: KubeRig,
) -> None:
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.002)
    before = _spec(rig, "web")
    _verdict(rig)
    (handled,) = [h for h in rig.cycle() if h.outcome == "decided"]
    assert (handled.runbook, handled.route) == ("canary-promote", "auto")
    assert rig.writes() == [
        Write("PATCH", "deployments", "shop", "web", False),
        Write("PATCH", "deployments/scale", "shop", "web-canary", False),
    ]
    after = _spec(rig, "web")
    assert _images(rig, "web") == ["shop/web:2"]
    # Only the image: replicas, selector, labels and resources are as they were.
    assert after["replicas"] == before["replicas"] == 4
    assert after["template"]["metadata"] == before["template"]["metadata"]
    old, new = (
        before["template"]["spec"]["containers"][0],
        after["template"]["spec"]["containers"][0],
    )
    assert {k: v for k, v in new.items() if k != "image"} == {
        k: v for k, v in old.items() if k != "image"
    }
    assert _spec(rig, "web-canary")["replicas"] == 0  # retired, not deleted
    rig.run(3 * 60)
    (decision,) = rig.decisions_of("canary-promote")
    decision = rig.ledger.get_decision(decision.id) or decision
    assert decision.status == "verified"
    # The checks read the stable: its error ratio, not the canary's (now without pods).
    assert any('deployment="web",' in q for q in rig.promql.asked)
    assert not any('deployment="web-canary"' in q for q in rig.promql.asked)
    # One write-ahead intent per write, each applied and kept.
    assert [i.status for i in rig.ledger.intents()] == ["applied", "applied"]


def test_a_promotion_whose_stable_errors_is_undone_and_escalated(rig: KubeRig) -> None:
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.05)  # the release errs once it takes all the traffic
    _verdict(rig)
    rig.run(18 * 60)
    (decision,) = rig.decisions_of("canary-promote")
    decision = rig.ledger.get_decision(decision.id) or decision
    assert decision.status == "undone"
    feedback = rig.feedback(decision.id)
    assert ("verification", "wrong") in feedback and ("escalation", "escalated") in feedback
    assert _images(rig, "web") == ["shop/web:1"]  # the stable's previous image is back
    assert _spec(rig, "web-canary")["replicas"] == 1  # the canary is scaled up again
    assert {i.status for i in rig.ledger.intents()} == {"undone"}


def test_a_canary_not_opted_in_is_left_to_its_delivery_tool(rig: KubeRig) -> None:
    _pair(rig, opted=False)
    _verdict(rig)
    rig.run(3 * 60)
    assert rig.decisions_of("canary-promote") == []
    assert rig.writes() == []
    assert _images(rig, "web") == ["shop/web:1"]


def test_a_dry_run_promotion_changes_nothing(rig: KubeRig) -> None:
    _pair(rig)
    operation = SetImages(
        STABLE, {"web": "shop/web:2"}, expected={"web": "shop/web:1"}, canary="web-canary"
    )
    result = rig.cluster.apply(operation, dry_run=True)
    assert result.dry_run and result.before["images"] == {"web": "shop/web:1"}
    assert result.summary == (
        "Deployment/shop/web: images web shop/web:1 -> shop/web:2 (the release of its "
        "canary web-canary) (dry run: nothing changed)"
    )
    writes = [r for r in rig.requests() if r.verb == "patch"]
    assert writes and all(r.dry_run for r in writes)
    assert _images(rig, "web") == ["shop/web:1"]


def test_images_rolled_out_since_the_decision_are_not_written_over(rig: KubeRig) -> None:
    _pair(rig)
    rig.server.store.modify(
        "Deployment",
        "shop",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="shop/web:9"),
    )
    operation = SetImages(STABLE, {"web": "shop/web:2"}, expected={"web": "shop/web:1"})
    with pytest.raises(PermanentError) as caught:
        rig.cluster.apply(operation)
    assert caught.value.reason == "ChangedSinceDecision"
    assert "it runs shop/web:9, not the shop/web:1 the decision was made from" in str(caught.value)
    assert _images(rig, "web") == ["shop/web:9"]


def _judged_by_the_loop(rig: KubeRig, *, slower: float = 1.0) -> Any:
    """The daemon's canary loop on the pair, with the real judge and its calibrated
    confidence, reading an hour and a half of per-minute series in which the canary
    behaves as its stable does (its latency ``slower`` times the stable's); its signals
    go to the engine, as in the daemon."""
    import random

    from agent.loops.canary import CanaryLoop
    from agent.settings import CanarySettings
    from agent.sim.metrics import SimMetrics

    metrics = SimMetrics()
    rng = random.Random(5)
    for minute in range(120):
        at = rig.clock.now() + 60 * minute
        for name in ("web", "web-canary"):
            labels = {"namespace": "shop", "deployment": name}
            slow = slower if name == "web-canary" else 1.0
            metrics.record("lat", labels, at, 100 * slow * rng.lognormvariate(0, 0.05))
            metrics.record("req", labels, at, 600.0)
            metrics.record("err", labels, at, float(rng.random() < 0.3))
    sel = '{namespace="$namespace",deployment="$workload"}'
    settings = CanarySettings(
        queries={"latency_p99": "lat" + sel, "errors": "err" + sel, "requests": "req" + sel}
    )
    return CanaryLoop(
        settings,
        reader=metrics,
        cluster=rig.cluster,
        decisions=rig.decisions,
        clock=rig.clock,
        submit=rig.engine.submit,
        runbooks=rig.engine.runbooks.values,  # as the daemon passes them
    )


def _until_final(rig: KubeRig, loop: Any) -> None:
    """A minute at a time, the canary loop then the engine, until the final verdict."""
    for _ in range(90):
        rig.clock.advance(60)
        loop.cycle()
        rig.cycle()
        if rig.ledger.decisions(kind="canary"):
            return
    raise AssertionError("no final verdict in 90 minutes")


@pytest.fixture
def daemon_routing(tmp_path: Path) -> Iterator[KubeRig]:
    """The rig routed by the daemon's default thresholds (``routing.auto`` 0.95, ``ask``
    0.6), under which a new runbook's decision on a 0.99 signal (0.99 times its skeptical
    prior, 0.75) would be asked, not acted on."""
    defaults = RoutingSettings()
    built = build_rig(tmp_path, auto=defaults.auto, ask=defaults.ask)
    yield built
    built.close()


@pytest.mark.parametrize("routing", ["rig", "daemon_routing"])
def test_the_judges_own_promotion_is_asked_once_and_carried_out_on_approval(
    routing: str, request: pytest.FixtureRequest
) -> None:
    """End to end, with the confidence the judge states (not one made up for the test):
    one question about the promotion, and on a yes the stable runs the canary's image,
    without a second question from the runbook."""
    rig: KubeRig = request.getfixturevalue(routing)
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.002)
    loop = _judged_by_the_loop(rig)
    _until_final(rig, loop)
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert verdict.proposal["verdict"] == "promote"
    stated = verdict.evidence["routing"]["signal_confidence"]
    assert 0.6 <= stated < 0.8  # what the calibration table gives a promotion today
    # One question in all: the promotion's, while the judge is this unsure.
    assert [q.decision_id for q in rig.ledger.questions()] == [verdict.id]
    assert _images(rig, "web") == ["shop/web:1"]  # nothing moved before a person said yes
    assert rig.approve_pending() == 1
    for _ in range(3):
        rig.clock.advance(30)
        loop.cycle()
        rig.cycle()
    (promotion,) = rig.decisions_of("canary-promote")
    assert promotion.route == "auto"  # the person's yes was the question: none asked again
    assert rig.ledger.questions() == []
    assert _images(rig, "web") == ["shop/web:2"]
    assert _spec(rig, "web-canary")["replicas"] == 0


def test_the_judges_own_promotion_routed_automatically_reaches_the_runbook(
    rig: KubeRig,
) -> None:
    """Where the promotion's decision type is trusted enough to be routed automatically
    (its thresholds recalibrated, or set so), the verdict goes to the runbooks at the
    judge's own confidence: the canary-promote runbook must take it up, asking a person
    while the judge is below its automatic bar, not drop it."""
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.002)
    rig.ledger.record_thresholds("canary/promote", 0.6, 0.5, {}, rig.clock.now())
    loop = _judged_by_the_loop(rig)
    _until_final(rig, loop)
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert (verdict.proposal["verdict"], verdict.route) == ("promote", "auto")
    (promotion,) = rig.decisions_of("canary-promote")
    assert promotion.route == "ask"  # the judge's 0.67-0.76 is below the runbook's 0.95
    assert [q.decision_id for q in rig.ledger.questions()] == [promotion.id]
    assert _images(rig, "web") == ["shop/web:1"]
    assert rig.approve_pending() == 1
    rig.run(60)
    assert _images(rig, "web") == ["shop/web:2"]


def test_under_propose_mode_an_approved_promotion_is_asked_once(rig: KubeRig) -> None:
    """``mode: propose`` acts on nothing without a person's yes. The promotion's question
    says what a yes does (the stable takes the canary's images); that yes is the one
    propose mode asks for. Before, canary-promote asked the same person a second question
    (ProposeMode) before the write."""
    rig.decisions.mode = "propose"
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.002)
    loop = _judged_by_the_loop(rig)
    _until_final(rig, loop)
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert [q.decision_id for q in rig.ledger.questions()] == [verdict.id]
    assert rig.approve_pending() == 1
    for _ in range(3):
        rig.clock.advance(30)
        loop.cycle()
        rig.cycle()
    (promotion,) = rig.decisions_of("canary-promote")
    assert promotion.route == "auto"
    assert "not ask again: alice" in promotion.evidence["routing"]["route_reason"]
    assert rig.ledger.questions() == []  # no second question
    assert _images(rig, "web") == ["shop/web:2"]
    # The question said what its yes does, and that nothing asks again.
    assert verdict.evidence["if_approved"].startswith(
        "runbook canary-promote promotes it without asking again: Deployment/shop/web takes"
    )


def test_a_yes_told_canary_promote_asks_once_more_is_asked_once_more(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A promotion asked under ``mode: propose`` before an upstream yes satisfied propose
    mode told the person that canary-promote "asks once more" before the write. Approved
    after the upgrade, it went through on that yes alone: a write the person was told
    would be asked about first. A decision whose question said so is asked once more."""
    rig.decisions.mode = "propose"
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.002)
    loop = _judged_by_the_loop(rig)
    told = (
        "the verdict endpoints answer promote, and runbook canary-promote asks once more "
        "(mode: propose asks before every action) before Deployment/shop/web takes the "
        "canary's images and the canary is scaled to 0"
    )
    _recorded_before_the_upgrade(rig, monkeypatch, told)
    _until_final(rig, loop)
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert verdict.evidence["if_approved"] == told
    assert "yes_acts" not in verdict.evidence
    assert rig.approve_pending() == 1
    for _ in range(3):
        rig.clock.advance(30)
        loop.cycle()
        rig.cycle()
    (promotion,) = rig.decisions_of("canary-promote")
    assert promotion.route == "ask"
    assert "propose mode asks before every action" in promotion.evidence["routing"]["route_reason"]
    assert [q.decision_id for q in rig.ledger.questions()] == [promotion.id]
    assert _images(rig, "web") == ["shop/web:1"]  # nothing written before the second yes
    assert rig.approve_pending() == 1
    rig.run(60)
    assert _images(rig, "web") == ["shop/web:2"]


def _recorded_before_the_upgrade(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch, told: str | None
) -> None:
    """The canary verdicts recorded as a version before ``yes_acts`` recorded them: with
    ``told`` as their "If approved" line (None: no line, as before rollbacks had one),
    and nothing said of whether a yes acts without another question."""
    from dataclasses import replace

    decide = rig.decisions.decide

    def recorded(p: Any) -> Any:
        if p.decision_type.startswith("canary/"):
            evidence = {k: v for k, v in p.evidence.items() if k not in ("if_approved", "yes_acts")}
            p = replace(p, evidence=evidence | ({"if_approved": told} if told else {}))
        return decide(p)

    monkeypatch.setattr(rig.decisions, "decide", recorded)


def _rollback_approved_under_propose_mode(rig: KubeRig, loop: Any) -> Any:
    """Under ``mode: propose``, the loop judges the canary (three times its stable's
    latency) until its rollback verdict, asked of a person, who approves it; the loop
    then hands it on to canary-rollback. The verdict's decision."""
    rig.promql.set('code=~"5.."', 0.002)
    _until_final(rig, loop)
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert (verdict.proposal["verdict"], verdict.route) == ("rollback", "ask")
    assert [q.decision_id for q in rig.ledger.questions()] == [verdict.id]
    assert rig.approve_pending() == 1
    for _ in range(3):
        rig.clock.advance(30)
        loop.cycle()
        rig.cycle()
    return verdict


def test_under_propose_mode_a_rollback_whose_question_said_no_second_one_is_not_asked_again(
    rig: KubeRig,
) -> None:
    """The rollback's question says canary-rollback rolls the canary back without asking
    again (``yes_acts``): the person's yes is propose mode's, and nothing asks again."""
    rig.decisions.mode = "propose"
    _pair(rig)
    loop = _judged_by_the_loop(rig, slower=3.0)
    verdict = _rollback_approved_under_propose_mode(rig, loop)
    assert verdict.evidence["if_approved"].startswith(
        "runbook canary-rollback rolls Deployment/shop/web-canary back to its previous "
        "revision without asking again"
    )
    assert verdict.evidence["yes_acts"] is True
    (rollback,) = rig.decisions_of("canary-rollback")
    assert rollback.route == "auto"
    assert "not ask again: alice" in rollback.evidence["routing"]["route_reason"]
    assert rig.ledger.questions() == []  # no second question
    assert _images(rig, "web-canary") == ["shop/web:1"]  # rolled back


@pytest.mark.parametrize(
    "told",
    [
        None,  # asked before a rollback's question said what a yes does (or unreadable)
        "runbook canary-rollback asks once more (its maxAutonomy is ask), then rolls "
        "Deployment/shop/web-canary back to its previous revision",
    ],
    ids=["no-line", "said-it-asks-again"],
)
def test_under_propose_mode_a_rollback_not_told_it_acts_on_the_yes_is_asked_once_more(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch, told: str | None
) -> None:
    """A rollback question that said nothing of what a yes does (asked before it did, or
    with the runbooks unreadable), or said that something asks again, was answered by a
    person told that ``mode: propose`` asks before every action. Before, its yes was
    taken as propose mode's: canary-rollback rolled the canary back without the second
    question. Now it asks once more, and rolls back on that yes."""
    rig.decisions.mode = "propose"
    _pair(rig)
    loop = _judged_by_the_loop(rig, slower=3.0)
    _recorded_before_the_upgrade(rig, monkeypatch, told)
    verdict = _rollback_approved_under_propose_mode(rig, loop)
    assert verdict.evidence.get("if_approved") == told and "yes_acts" not in verdict.evidence
    (rollback,) = rig.decisions_of("canary-rollback")
    assert rollback.route == "ask"
    assert "propose mode asks before every action" in rollback.evidence["routing"]["route_reason"]
    assert rollback.evidence["signal"]["approved_by"].startswith("alice")  # still passed on
    assert [q.decision_id for q in rig.ledger.questions()] == [rollback.id]
    assert _images(rig, "web-canary") == ["shop/web:2"]  # nothing written before the yes
    assert rig.approve_pending() == 1
    rig.run(60)
    assert _images(rig, "web-canary") == ["shop/web:1"]


def _runbooks(
    tmp_path: Path, edit: tuple[str, str] | None = None, file: str = "canary-rollback.yaml"
) -> dict[str, Any]:
    """The shipped runbooks as the engine keeps them, ``file``'s text ``edit[0]``
    replaced by ``edit[1]`` (None: unchanged)."""
    import shutil

    from remediation.loading import load_paths
    from tests.integration.remediation.rig import RUNBOOKS

    folder = tmp_path / f"runbooks-{len(list(tmp_path.glob('runbooks-*')))}"
    shutil.copytree(RUNBOOKS, folder)
    if edit is not None:
        path = folder / file
        text = path.read_text()
        assert edit[0] in text
        path.write_text(text.replace(edit[0], edit[1]))
    return {r.name: r for r in load_paths([folder])}


def _restarted(rig: KubeRig, tmp_path: Path, edit: tuple[str, str] | None = None) -> Any:
    """The daemon started again with the runbooks ``_runbooks`` gives: its engine loads
    them (runbooks are loaded at start-up only), and a new canary loop, with nothing in
    memory, reads the same ledger. The new loop."""
    rig.engine.runbooks = _runbooks(tmp_path, edit)
    return _judged_by_the_loop(rig, slower=3.0)


def _asked_about_a_rollback(rig: KubeRig) -> Any:
    """Under the loop, the canary (three times its stable's latency) judged until its
    rollback verdict, asked of a person. The verdict's decision."""
    rig.promql.set('code=~"5.."', 0.002)
    _until_final(rig, _judged_by_the_loop(rig, slower=3.0))
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert (verdict.proposal["verdict"], verdict.route) == ("rollback", "ask")
    return verdict


def _answered_after_the_restart(rig: KubeRig, loop: Any) -> None:
    """The person approves the verdict; the restarted daemon hands it on."""
    assert rig.approve_pending() == 1
    for _ in range(3):
        rig.clock.advance(30)
        loop.cycle()
        rig.cycle()


PROMISED = (
    '"If approved, runbook canary-rollback rolls Deployment/shop/web-canary back to its '
    'previous revision without asking again; the verdict endpoints answer rollback" was '
    "promised, now "
)


@pytest.mark.parametrize(
    ("edit", "now_said"),
    [
        (
            ("name: canary-rollback", "name: release-rollback"),
            '"If approved, runbook release-rollback rolls Deployment/shop/web-canary back',
        ),
        (
            (
                "  maxAutonomy: auto\n",
                "  maxAutonomy: auto\n  requireApprovalWhen:\n    replicasAffectedOver: 3\n",
            ),
            '"If approved, runbook canary-rollback rolls Deployment/shop/web-canary back to '
            "its previous revision, without asking again unless more than 3 replicas",
        ),
        (
            ("maxAutonomy: auto", "maxAutonomy: ask"),
            '"If approved, runbook canary-rollback asks once more (its maxAutonomy is ask)',
        ),
    ],
    ids=["another-runbook-takes-it", "forced-approval-over-3", "max-autonomy-ask"],
)
def test_under_propose_mode_a_yes_to_a_promise_the_restarted_runbooks_break_is_asked_again(
    rig: KubeRig, tmp_path: Path, edit: tuple[str, str], now_said: str
) -> None:
    """The rollback's question promised that canary-rollback rolls the canary back
    without asking again (``yes_acts``); the daemon restarted with other runbooks before
    the person said yes. Before, the yes was still taken as propose mode's: another
    runbook (or one that now asks past 3 replicas) wrote on it without a second
    question. Now the line is read again from the runbooks loaded when the verdict is
    handed on: it differs, so propose mode asks once more, and the route's reason (and
    the verdict's thread) says why."""
    rig.decisions.mode = "propose"
    _pair(rig)
    verdict = _asked_about_a_rollback(rig)
    assert verdict.evidence["yes_acts"] is True
    _answered_after_the_restart(rig, _restarted(rig, tmp_path, edit))
    runbook = "release-rollback" if "release-rollback" in now_said else "canary-rollback"
    (rollback,) = rig.decisions_of(runbook)
    assert rollback.route == "ask"
    reason = rollback.evidence["routing"]["route_reason"]
    assert "; alice (canary decision " in reason
    said_yes = ") said yes to another promise: the runbooks changed since the question was asked"
    assert said_yes in reason
    assert PROMISED + now_said in reason
    assert rollback.evidence["signal"]["approved_by"].startswith("alice")
    assert "yes_acts" not in rollback.evidence["signal"]
    assert [q.decision_id for q in rig.ledger.questions()] == [rollback.id]
    assert _images(rig, "web-canary") == ["shop/web:2"]  # nothing written on the old yes
    (asked,) = rig.ledger.questions_for([verdict.id])
    said = [text for question, text in rig.channel.threads if question == asked.id]
    assert any(PROMISED + now_said in text for text in said)  # in the verdict's thread too


def test_under_propose_mode_a_yes_after_the_runbook_was_removed_says_so(
    rig: KubeRig, tmp_path: Path
) -> None:
    """Restarted without canary-rollback: nothing takes up the approved rollback; the
    verdict's thread says the runbooks changed and what the line says now."""
    rig.decisions.mode = "propose"
    _pair(rig)
    verdict = _asked_about_a_rollback(rig)
    rig.engine.runbooks = _runbooks(tmp_path)
    del rig.engine.runbooks["canary-rollback"]
    _answered_after_the_restart(rig, _judged_by_the_loop(rig, slower=3.0))
    assert rig.decisions_of("canary-rollback") == [] and rig.ledger.questions() == []
    (asked,) = rig.ledger.questions_for([verdict.id])
    said = [text for question, text in rig.channel.threads if question == asked.id]
    now_said = (
        '"If approved, the verdict endpoints answer rollback to the delivery tool that reads '
        "them; Autonomic changes nothing itself (no loaded runbook takes up a rollback of "
        'Deployment/shop/web-canary)"'
    )
    assert any(PROMISED + now_said in text for text in said)
    assert _images(rig, "web-canary") == ["shop/web:2"]


def test_under_propose_mode_a_yes_the_restarted_runbooks_still_keep_acts_once(
    rig: KubeRig, tmp_path: Path
) -> None:
    """Restarted with the same runbooks: the line read again is the one the question
    carried, so the yes stands for propose mode's question, as before."""
    rig.decisions.mode = "propose"
    _pair(rig)
    _asked_about_a_rollback(rig)
    _answered_after_the_restart(rig, _restarted(rig, tmp_path))
    (rollback,) = rig.decisions_of("canary-rollback")
    assert rollback.route == "auto"
    assert "propose mode does not ask again: alice" in rollback.evidence["routing"]["route_reason"]
    assert rollback.evidence["signal"]["yes_acts"] is True
    assert rig.ledger.questions() == []
    assert _images(rig, "web-canary") == ["shop/web:1"]  # rolled back on the one yes


def test_in_act_mode_a_yes_to_a_promise_the_restarted_runbooks_break_still_acts(
    daemon_routing: KubeRig, tmp_path: Path
) -> None:
    """Act mode does not read ``yes_acts``: the approver's yes to a promotion still
    stands for the question the confidence would ask (``ApprovedUpstream``; under the
    daemon's thresholds a new runbook's decision would be asked) whatever runbook now
    takes it up, as before."""
    rig = daemon_routing
    _pair(rig)
    rig.promql.set('code=~"5.."', 0.002)
    _until_final(rig, _judged_by_the_loop(rig))
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert (verdict.proposal["verdict"], verdict.route) == ("promote", "ask")
    assert verdict.evidence["yes_acts"] is True
    rig.engine.runbooks = _runbooks(
        tmp_path, ("name: canary-promote", "name: release-promote"), "canary-promote.yaml"
    )
    _answered_after_the_restart(rig, _judged_by_the_loop(rig))
    (promotion,) = rig.decisions_of("release-promote")
    reason = promotion.evidence["routing"]["route_reason"]
    assert promotion.route == "auto" and "; not asked again: alice" in reason
    assert "the runbooks changed" not in reason
    assert rig.ledger.questions() == []
    rig.run(60)
    assert _images(rig, "web") == ["shop/web:2"]


def test_under_propose_mode_a_yes_not_promised_to_act_is_not_made_so_by_a_restart(
    rig: KubeRig, tmp_path: Path
) -> None:
    """Asked while canary-rollback was capped at ask (its line said it asks once more,
    ``yes_acts`` false); restarted with it uncapped, whose line now says it acts without
    asking again: the person was told of a second question, so it is still asked."""
    rig.decisions.mode = "propose"
    _pair(rig)
    rig.engine.runbooks = _runbooks(tmp_path, ("maxAutonomy: auto", "maxAutonomy: ask"))
    verdict = _asked_about_a_rollback(rig)
    assert verdict.evidence["yes_acts"] is False
    _answered_after_the_restart(rig, _restarted(rig, tmp_path))
    (rollback,) = rig.decisions_of("canary-rollback")
    assert rollback.route == "ask"
    assert "yes_acts" not in rollback.evidence["signal"]
    assert "the runbooks changed" not in rollback.evidence["routing"]["route_reason"]
    assert _images(rig, "web-canary") == ["shop/web:2"]


class _Reviews:
    """An ``AccessReviewer`` that allows every write and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def review(self, identity: Any, write: Any) -> tuple[bool, str]:
        self.asked.append(f"{identity.user}: {write.said()}")
        return True, ""


@pytest.mark.parametrize("routing", ["rig", "daemon_routing"])
def test_with_require_kubernetes_access_a_runbook_taking_up_an_approved_verdict_asks_again(
    routing: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """slack.requireKubernetesAccess: a yes to a canary verdict is checked against no
    write (its question said canary-promote asks once more, ``yes_acts`` false), so it
    must not stand for the writes of a runbook that takes the verdict up. Before, the
    daemon restarted with canary-promote uncapped promoted the canary on that yes
    (``ApprovedUpstream``, at the approved verdict's 0.99) with no review of alice's
    access; now the promotion is asked on its own, and its approval is reviewed: under
    the daemon's thresholds by its own confidence, under lower ones (where it would act)
    as an approval required."""
    from agent.kube_access import AccessCheck, KubernetesIdentity

    rig: KubeRig = request.getfixturevalue(routing)
    reviews = _Reviews()
    rig.decisions.approvals.access = AccessCheck(
        {"alice": KubernetesIdentity("alice@corp")}, reviews
    )
    _pair(rig)
    rig.engine.runbooks = _runbooks(
        tmp_path, ("maxAutonomy: auto", "maxAutonomy: ask"), "canary-promote.yaml"
    )
    rig.promql.set('code=~"5.."', 0.002)
    _until_final(rig, _judged_by_the_loop(rig))
    (verdict,) = rig.ledger.decisions(kind="canary")
    assert (verdict.proposal["verdict"], verdict.route) == ("promote", "ask")
    assert verdict.evidence["yes_acts"] is False
    rig.engine.runbooks = _runbooks(tmp_path)  # restarted with it uncapped
    _answered_after_the_restart(rig, _judged_by_the_loop(rig))
    assert reviews.asked == []  # the verdict's yes writes nothing itself
    (promotion,) = rig.decisions_of("canary-promote")
    assert promotion.route == "ask"
    reason = promotion.evidence["routing"]["route_reason"]
    assert "not asked again" not in reason
    if routing == "rig":  # its confidence alone would act
        assert "approval required: slack.requireKubernetesAccess: the yes" in reason
    assert _images(rig, "web") == ["shop/web:1"]  # not promoted on that yes
    assert rig.approve_pending() == 1  # the promotion's own question, reviewed
    assert reviews.asked and all(a.startswith("alice@corp: ") for a in reviews.asked)
    assert "alice@corp: patch deployments in shop (web)" in reviews.asked
