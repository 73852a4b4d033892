"""Alert storm: 1,000 Alertmanager alerts (distinct fingerprints) within one minute.

    .venv/bin/python benchmarks/storm.py

Runs the scenario of ``tests/integration/remediation/test_alert_storm.py`` (the real
webhook intake, engine and Kubernetes adapter against the fake API server, 20
Deployments, alerts posted 10 at a time every 0.6 s, the engine cycling every 15 s,
then 15 quiet minutes) twice: with the default guards, and with the storm guard
switched off so the hourly limits alone bound the actions. Prints a markdown table.
Needs no data, so it takes no --data.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remediation.guards import GlobalLimits  # noqa: E402
from tests.integration.remediation.rig import build_rig  # noqa: E402
from tests.integration.remediation.storm import (  # noqa: E402
    StormFigures,
    blow,
    figures,
    resolve_when_rolled_back,
    seed_services,
    storm_alerts,
)


def scenario(
    limits: GlobalLimits, auto: float, *, resolve: bool, quiet: float
) -> tuple[StormFigures, int, float]:
    with tempfile.TemporaryDirectory() as folder:
        rig = build_rig(Path(folder), auto=auto, limits=limits)
        try:
            seed_services(rig)
            alerts = storm_alerts(rig)
            began = time.monotonic()
            posts = blow(rig, alerts)
            seconds = time.monotonic() - began
            if resolve:
                resolve_when_rolled_back(rig, alerts)
            rig.run(quiet, step=60)
            patches = [w for w in rig.writes() if w.resource == "deployments"]
            return figures(rig, posts), len(patches), seconds
        finally:
            rig.close()


def main() -> int:
    rows = [
        (
            "daemon defaults (storm: >20 triggers/min, 15 min cooldown)",
            *scenario(GlobalLimits(), 0.7, resolve=False, quiet=15 * 60),
        ),
        (
            "storm guard off, alerts act alone (auto 0.6), 55 min",
            *scenario(
                GlobalLimits(storm_triggers_per_minute=100_000), 0.6, resolve=True, quiet=55 * 60
            ),
        ),
    ]
    print(
        "| guards | alerts | accepted | handled | denied by | decisions | actions | "
        "rollback writes | messages to humans | storm summaries | s to take the minute |"
    )
    print("|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|")
    for name, seen, patches, seconds in rows:
        print(
            f"| {name} | {seen.alerts_posted} | {seen.signals_accepted} | {seen.handled} | "
            f"{seen.denied_by} | {seen.decisions} | {seen.actions} | {patches} | "
            f"{seen.messages_to_humans} | {seen.storm_summaries} | {seconds:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
