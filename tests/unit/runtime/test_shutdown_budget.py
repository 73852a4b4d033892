"""The shutdown fits one budget: ``Runtime.stop`` shares one deadline among its steps.

Kubernetes kills the pod ``terminationGracePeriodSeconds`` after SIGTERM. Each step below
hangs in turn (a job that does not return, a Socket Mode close that does not, a state
save, a lease release, a close), and the shutdown still ends within its budget, saying
which step it cut short. The budgets are small so that the tests are quick; the shares
are the default plan's, scaled.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from agent.observability import Metrics
from agent.runtime import Job, Runtime, ShutdownPlan
from agent.server import HttpServer

PLAN = ShutdownPlan().scaled(1.5)  # save at most 0.3 s; keep 0.12 + 0.18 + 0.12 s back
SLACK = 0.25  # what a step may overrun: thread switches and the HTTP server's stop


class Recorder:
    """What ran when (seconds since the shutdown began), and hooks that hang on demand."""

    def __init__(self) -> None:
        self.began = 0.0
        self.events: list[tuple[str, float]] = []
        self.free = threading.Event()  # set at the end: every hung thread returns
        self.saved_for: list[float] = []

    def mark(self, what: str) -> None:
        self.events.append((what, time.monotonic() - self.began))

    def hang(self, what: str) -> None:
        self.mark(what)
        self.free.wait(30)
        self.mark(what + " returned")

    def names(self) -> list[str]:
        return [what for what, _ in self.events]


class Gate:
    def __init__(self, recorder: Recorder, hang: bool) -> None:
        self.recorder, self.hang = recorder, hang

    def is_leader(self) -> bool:
        return True

    def term(self) -> int:
        return 1

    def start(self) -> None:
        return None

    def stop(self) -> None:
        if self.hang:
            self.recorder.hang("release")
        else:
            self.recorder.mark("release")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    made = Recorder()
    yield made
    made.free.set()


def build(recorder: Recorder, *, hang: set[str]) -> tuple[Runtime, threading.Event]:
    """A runtime whose steps hang when named in ``hang``; and an event set once the
    runtime's one job is running."""
    running = threading.Event()

    def job() -> None:
        running.set()
        if "job" in hang:
            recorder.hang("job")

    def save(seconds: float) -> None:
        recorder.saved_for.append(seconds)
        if "save" in hang:
            recorder.hang("save")
        else:
            recorder.mark("save")

    def step(name: str) -> None:
        if name in hang:
            recorder.hang(name)
        else:
            recorder.mark(name)

    runtime = Runtime(
        [Job("remediation", 3600.0, job, leader_only=False, jitter=0.0)],
        metrics=Metrics(),
        gate=Gate(recorder, "release" in hang),
        server=HttpServer("127.0.0.1", 0),
        ready=lambda: (True, "leader"),
        on_stop=lambda: step("close"),
        before_release=save,
        hang_up=lambda: step("hang-up"),
        plan=PLAN,
    )
    return runtime, running


def stop(runtime: Runtime, recorder: Recorder) -> float:
    recorder.began = time.monotonic()
    runtime.stop()
    return time.monotonic() - recorder.began


def test_the_shutdown_ends_within_its_budget_when_every_step_hangs(
    recorder: Recorder, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``configure_logging`` (the CLI's) may have cut the daemon's loggers off the root.
    monkeypatch.setattr(logging.getLogger("autonomic"), "propagate", True)
    caplog.set_level(logging.INFO, logger="autonomic.runtime")
    runtime, running = build(recorder, hang={"job", "hang-up", "save", "release", "close"})
    runtime.start()
    assert running.wait(5)
    took = stop(runtime, recorder)
    assert took <= PLAN.budget + SLACK
    assert runtime.stopped.is_set()
    # Each step began in turn, none waited for the one before to return.
    assert [n for n in recorder.names() if not n.endswith("returned")] == [
        "job",
        "hang-up",
        "save",
        "release",
        "close",
    ]
    at = dict(recorder.events)
    kept = PLAN.save_min + PLAN.release + PLAN.close
    assert at["save"] == pytest.approx(PLAN.budget - kept, abs=SLACK)  # the jobs' share
    # the save is given what the jobs left it: its floor, not its 0.3 s maximum
    assert recorder.saved_for == [pytest.approx(PLAN.save_min, abs=0.05)]
    assert at["release"] == pytest.approx(PLAN.budget - PLAN.release - PLAN.close, abs=SLACK)
    assert at["close"] == pytest.approx(PLAN.budget - PLAN.close, abs=SLACK)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5, warnings
    assert warnings[0].startswith("shutdown: a job was still running after 1.")
    assert "abandoning remediation (running 1." in warnings[0]
    assert warnings[1].startswith("shutdown: saving state was cut short after 0.")
    assert warnings[2].startswith("shutdown: hanging up Slack Socket Mode was cut short after 1.")
    assert "releasing the lease all the same" in warnings[2]
    assert warnings[3].startswith("shutdown: releasing the lease was cut short after 0.")
    assert "a standby takes over once the lease expires" in warnings[3]
    assert warnings[4].startswith("shutdown: closing connections was cut short after 0.")
    assert caplog.records[-1].getMessage().startswith("stopped in 1.")


def test_steps_that_end_early_leave_their_time_to_the_next(recorder: Recorder) -> None:
    """Nothing hangs: the shutdown is quick, the save gets its whole maximum, and the
    Socket Mode hang-up (begun first, alongside the jobs) ends before the lease goes."""
    runtime, running = build(recorder, hang=set())
    runtime.start()
    assert running.wait(5)
    took = stop(runtime, recorder)
    assert took < 0.5
    assert recorder.saved_for == [pytest.approx(PLAN.save_max, abs=0.05)]
    names = recorder.names()
    assert names.index("hang-up") < names.index("release") < names.index("close")
    assert names.index("save") < names.index("release")


def test_a_hanging_socket_mode_close_holds_the_lease_only_until_its_share_ends(
    recorder: Recorder,
) -> None:
    """The lease is released after the hang-up ends, or when its time is up: a standby
    takes over at once either way, not when the lease expires."""
    runtime, running = build(recorder, hang={"hang-up"})
    runtime.start()
    assert running.wait(5)
    took = stop(runtime, recorder)
    at = dict(recorder.events)
    assert at["release"] == pytest.approx(PLAN.budget - PLAN.release - PLAN.close, abs=SLACK)
    assert took < PLAN.budget - PLAN.close + SLACK


def test_the_probes_answer_while_shutting_down(recorder: Recorder) -> None:
    """Liveness stays up and readiness says why not, until the server stops last."""
    runtime, running = build(recorder, hang={"job"})
    runtime.start()
    assert running.wait(5)
    assert runtime.server is not None
    base = f"http://127.0.0.1:{runtime.server.port}"
    stopper = threading.Thread(target=stop, args=(runtime, recorder))
    stopper.start()
    time.sleep(0.2)
    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/readyz", timeout=2)
    assert refused.value.code == 503 and b"shutting down" in refused.value.read()
    stopper.join(5)
    assert runtime.stopped.is_set()


def test_a_plan_keeps_back_less_than_its_budget() -> None:
    with pytest.raises(ValueError, match="keep 7 s back of a 6 s budget"):
        ShutdownPlan(budget=6.0)
    scaled = ShutdownPlan().scaled(2.5)
    assert (scaled.budget, scaled.save_max, scaled.release) == pytest.approx((2.5, 0.5, 0.3))
