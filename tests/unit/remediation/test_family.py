"""Which runbooks lend their track record to each other (``remediation.family``)."""

from __future__ import annotations

from pathlib import Path

from remediation.family import family_key, siblings
from remediation.loading import load_paths
from remediation.schema import Runbook

from .builders import runbook

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


def make(name: str, trigger: str, actions: str, kind: str = "Deployment") -> Runbook:
    return runbook(
        f"""
        triggers:
          - {trigger}
        target: {{kind: {kind}}}
        actions: {actions}
        verification:
          window: 5m
          checks: [{{type: kubernetes, condition: rolloutComplete}}]
        """,
        name=name,
    )


def test_the_shipped_rollbacks_after_a_bad_rollout_are_siblings_and_nothing_else_is() -> None:
    shipped = load_paths([RUNBOOKS])
    families = {r.name: siblings(r, shipped) for r in shipped}
    assert families["crashloop-after-rollout-rollback"] == ("imagepull-after-rollout-rollback",)
    assert families["imagepull-after-rollout-rollback"] == ("crashloop-after-rollout-rollback",)
    # canary-rollback rolls back too, but a canary verdict is a statistical signal
    assert families["canary-rollback"] == ()
    assert all(not lent for name, lent in families.items() if "rollout-rollback" not in name)


def test_siblings_need_the_same_actions_the_same_kind_and_event_triggers() -> None:
    crash = "{type: kubernetes, condition: CrashLoopBackOff}"
    alert = "{type: alert, alertname: KubePodCrashLooping}"
    rollback = "[{type: rollback}, {type: notify, message: rolled back}]"
    a = make("a", crash, rollback)
    b = make("b", alert, "[{type: rollback}]")  # notify does not count
    c = make("c", crash, "[{type: rolloutRestart}]")  # another action
    restart = "[{type: rolloutRestart}]"
    d = make("d", crash, restart, kind="StatefulSet")  # c's action on another kind
    e = make("e", "{type: anomaly, metric: errors}", rollback)  # a statistical trigger
    f = make("f", crash, "[{type: notify, message: only words}]")  # changes nothing
    everyone = [a, b, c, d, e, f]
    assert siblings(a, everyone) == ("b",)
    assert siblings(b, everyone) == ("a",)
    assert siblings(c, everyone) == ()
    assert siblings(d, everyone) == ()
    c2 = make("c2", alert, restart)
    assert siblings(c, [*everyone, c2]) == ("c2",)
    assert family_key(e) is None and siblings(e, everyone) == ()
    assert family_key(f) is None
