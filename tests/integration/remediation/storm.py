"""An alert storm: 1,000 Alertmanager alerts (distinct fingerprints) within one minute.

Shared by ``test_alert_storm.py`` and ``benchmarks/storm.py``. Twenty opted-in
Deployments, each rolled out a minute ago; the alerts say their pods crash-loop (they do
not: a storm of stale or flapping alerts is exactly when healthy things get
"remediated"). The webhook receives 100 posts of 10 alerts, one every 0.6 s of fake
time, while the engine cycles every 15 s, as the daemon would.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any

from tests.integration.remediation.rig import Controller, KubeRig, rfc3339, seed_nodes, seed_web

SERVICES = 20
ALERTS = 1000
PER_POST = 10
POST_EVERY = 0.6
CYCLE_EVERY = 15.0


@dataclass(frozen=True)
class StormFigures:
    alerts_posted: int
    posts_accepted: int
    signals_accepted: int
    duplicates: int
    handled: dict[str, int]
    denied_by: dict[str, int]
    decisions: dict[str, int]
    actions: int
    messages_to_humans: int
    storm_summaries: int


def seed_services(
    rig: KubeRig, *, services: int = SERVICES, control: bool = True
) -> list[Controller]:
    seed_nodes(rig, 3)
    controllers = []
    for index in range(services):
        name = f"svc-{index}"
        seed_web(rig, name=name, images=(f"shop/{name}:1", f"shop/{name}:2"))
        controllers.append(Controller(rig.server, rig.clock, lambda _c: "Ready"))
    for index, controller in enumerate(controllers if control else ()):
        rig.controllers.append(partial(controller.reconcile, "shop", f"svc-{index}"))
    return controllers


def storm_alerts(rig: KubeRig) -> list[dict[str, Any]]:
    pods = sorted(p["metadata"]["name"] for p in rig.server.store.objects("Pod", "shop"))
    started = rfc3339(rig.clock.now())
    return [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "severity": "warning",
                "namespace": "shop",
                "pod": pods[number % len(pods)],
                "container": f"c{number}",
            },
            "annotations": {},
            "startsAt": started,
            "fingerprint": f"{number:016x}",
        }
        for number in range(ALERTS)
    ]


def blow(rig: KubeRig, alerts: list[dict[str, Any]]) -> int:
    """Post the alerts over one minute, cycling the engine every 15 s; the posts' 2xx count."""
    accepted = 0
    next_cycle = rig.clock.now() + CYCLE_EVERY
    for start in range(0, len(alerts), PER_POST):
        accepted += rig.post_alerts(alerts[start : start + PER_POST]) == 200
        rig.clock.advance(POST_EVERY)
        if rig.clock.now() >= next_cycle:
            rig.cycle()
            next_cycle += CYCLE_EVERY
    return accepted


def resolve_when_rolled_back(rig: KubeRig, alerts: list[dict[str, Any]]) -> None:
    """From now on, between engine cycles, Alertmanager resolves the alerts of each
    service once it has been rolled back (its pods no longer crash): those of a service
    not rolled back keep firing. Resolving them all at once would close every approved
    run still held back by a limit as ``superseded`` (its alert resolved before its
    first write), and no limit would be left to see."""
    done: set[str] = set()

    def react() -> None:
        rolled = {w.name for w in rig.writes() if w.resource == "deployments"} - done
        if not rolled:
            return
        resolved = [
            a | {"status": "resolved", "endsAt": rfc3339(rig.clock.now())}
            for a in alerts
            if any(a["labels"]["pod"].startswith(f"{name}-") for name in rolled)
        ]
        for start in range(0, len(resolved), 100):
            rig.post_alerts(resolved[start : start + 100], status="resolved")
        done.update(rolled)

    react()
    rig.controllers.append(react)


def figures(rig: KubeRig, posts_accepted: int) -> StormFigures:
    decisions = rig.ledger.decisions(limit=100_000)
    denied = Counter(h.reason_code for h in rig.handled if h.outcome == "denied")
    return StormFigures(
        alerts_posted=ALERTS,
        posts_accepted=posts_accepted,
        signals_accepted=rig.intake.accepted,
        duplicates=rig.intake.duplicates,
        handled=dict(Counter(h.outcome for h in rig.handled)),
        denied_by=dict(denied),
        decisions=dict(Counter(d.decision_type.split("/")[0] for d in decisions)),
        actions=rig.ledger.count_actions(0.0),
        messages_to_humans=rig.channel.messages,
        storm_summaries=sum(1 for d in decisions if d.decision_type == "storm"),
    )
