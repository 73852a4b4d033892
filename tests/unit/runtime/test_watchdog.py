"""The watchdog: a job that acts, stuck while this replica leads, must not keep the lease.

Found with a hung ledger server: the job waited in a read for ever while the lease kept
being renewed apart from it, so the standby, which might reach the database, never took
over, and nothing said so. A run past its bound on the leader is now logged once (with
where it waits), counted, fails ``/healthz``, and shuts the runtime down, the lease
released at the end, the process to exit and be restarted. On a standby nothing happens
until it leads.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from agent.observability import Metrics
from agent.runtime import STUCK_FLOOR, Job, Runtime, ShutdownPlan, StuckJobError
from agent.server import HttpServer
from tests.harness.gates import RecordingGate


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _blocked(
    started: threading.Event, release: threading.Event, *, after: int = 0
) -> Callable[[], None]:
    """A job whose runs end at once, ``after`` times, then one that waits for ``release``."""
    runs = [0]

    def waits_for_the_ledger() -> None:  # the name the logged stack must show
        runs[0] += 1
        if runs[0] <= after:
            return
        started.set()
        release.wait(30)

    return waits_for_the_ledger


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_stuck_job_of_the_leader_shuts_the_replica_down_within_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release = threading.Event(), threading.Event()
    server, gate, metrics = HttpServer("127.0.0.1", 0), RecordingGate(True), Metrics()
    bound = 0.5
    job = Job("scaling", 0.1, _blocked(started, release, after=1), jitter=0, stuck_after=bound)
    runtime = Runtime(
        [job],
        metrics=metrics,
        gate=gate,
        server=server,
        ready=lambda: (True, "ok"),
        plan=ShutdownPlan().scaled(2.0),
    )
    caplog.set_level("INFO", logger="autonomic")
    runtime.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert started.wait(5)
        began = time.monotonic()
        assert _get(f"{base}/healthz")[0] == 200
        assert _until(runtime.stopping.is_set, bound + 1.0), "still leading"
        noticed = time.monotonic() - began
        status, body = _get(f"{base}/healthz")
        assert status == 503 and body["status"] == "stuck", body
        why = str(body["why"])
        assert why.startswith("scaling has run for ") and ", past its bound of " in why
        assert _until(runtime.stopped.is_set, 3.0), "the shutdown did not end in its budget"
    finally:
        release.set()
        runtime.stop()
    assert bound <= noticed < bound + 1.0
    assert gate.stopped  # the lease was released, once the shutdown reached that step
    assert isinstance(runtime.failure, StuckJobError)
    assert "scaling has run for" in str(runtime.failure)
    assert metrics.jobs_stuck.labels(loop="scaling")._value.get() == 1
    said = [r for r in caplog.records if "it is stuck" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "ERROR"
    text = said[0].getMessage()
    assert text.startswith("scaling: a run has lasted ")
    assert "waits_for_the_ledger" in text and "release.wait(30)" in text  # where it waits


def test_a_first_run_since_leading_has_the_longer_bound() -> None:
    """The first run since the replica began to lead recovers in-flight work, restores
    the detectors, fits every workload: it may take minutes where later runs take
    seconds, and is stuck only past ``first_run_bound``."""
    started, release = threading.Event(), threading.Event()
    bound, first = 0.2, 1.2
    runtime = Runtime(
        [Job("anomaly", 0.1, _blocked(started, release), jitter=0, stuck_after=bound)],
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, "ok"),
        plan=ShutdownPlan().scaled(1.0),
        first_run_bound=first,
    )
    runtime.start()
    try:
        assert started.wait(5)
        began = time.monotonic()
        time.sleep(bound + 0.5)
        assert not runtime.stopping.is_set(), "a first run was held to a later run's bound"
        assert _until(runtime.stopping.is_set, first + 1.0)
        assert time.monotonic() - began >= first
    finally:
        release.set()
        runtime.stop()
    assert "anomaly has run for" in str(runtime.failure)


def test_a_stuck_job_on_a_standby_restarts_nothing_until_it_leads() -> None:
    """A standby's job stuck (left from when it led, or a job that does not act) holds
    nothing another replica needs. Once the replica leads, an acting job still stuck is
    found at once; a job that does not act never restarts the replica."""
    acting, other, release = threading.Event(), threading.Event(), threading.Event()
    gate, bound = RecordingGate(False), 0.3
    jobs = [
        Job("remediation", 0.1, _blocked(acting, release), False, 0, acts=True, stuck_after=bound),
        Job("slack-approvers", 0.1, _blocked(other, release), False, 0, stuck_after=bound),
    ]
    runtime = Runtime(
        jobs,
        metrics=Metrics(),
        gate=gate,
        server=None,
        ready=lambda: (True, "ok"),
        plan=ShutdownPlan().scaled(2.0),
        first_run_bound=0.6,  # the run began on a standby: its first since leading
    )
    runtime.start()
    try:
        assert acting.wait(5) and other.wait(5)
        time.sleep(bound + 1.0)
        assert not runtime.stopping.is_set() and runtime.failure is None
        gate.leader = True
        assert _until(runtime.stopping.is_set, 1.0)
    finally:
        release.set()
        runtime.stop()
    assert isinstance(runtime.failure, StuckJobError)
    assert "remediation has run for" in str(runtime.failure)
    assert "slack-approvers" not in str(runtime.failure)


def test_a_job_that_does_not_act_never_restarts_the_leader() -> None:
    release, started = threading.Event(), threading.Event()
    job = Job("slack-approvers", 0.1, _blocked(started, release), False, 0, stuck_after=0.1)
    runtime = Runtime(
        [job],
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, ""),
        first_run_bound=0.1,
    )
    runtime.start()
    try:
        assert started.wait(5)
        time.sleep(0.5)
        assert not runtime.check_stuck() and not runtime.stopping.is_set()
    finally:
        release.set()
        runtime.stop()


def test_bounds_default_to_three_periods_with_a_floor() -> None:
    def noop() -> None:
        return None

    assert Job("remediation", 30.0, noop).bound == STUCK_FLOOR
    assert Job("housekeeping", 3600.0, noop).bound == 3 * 3600.0
    assert Job("scaling", 60.0, noop, stuck_after=900.0).bound == 900.0
    assert Job("remediation", 30.0, noop, leader_only=False).watched is False
    assert Job("remediation", 30.0, noop, leader_only=False, acts=True).watched is True


def test_a_first_run_of_a_new_term_has_the_longer_bound() -> None:
    """A lease lost and won back between two runs is a new term: its first job recovers
    the in-flight work again and the anomaly loop catches up again, so the first run in
    it gets ``first_run_bound`` too, not the bound of a later run in the same term."""
    started, release = threading.Event(), threading.Event()
    bound, first = 0.2, 1.2
    gate, terms, runs = RecordingGate(True), [1], [0]
    gate.term = lambda: terms[0]  # type: ignore[method-assign]
    runtime = Runtime(
        [Job("anomaly", 0.1, _blocked(started, release, after=2), jitter=0, stuck_after=bound)],
        metrics=Metrics(),
        gate=gate,
        server=None,
        ready=lambda: (True, "ok"),
        plan=ShutdownPlan().scaled(1.0),
        first_run_bound=first,
    )
    run_job = runtime._run_job

    def counted(job: Job) -> None:
        runs[0] += 1
        if runs[0] == 3:  # two quick runs in term 1, then the lease lost and won back
            terms[0] = 2
        run_job(job)

    runtime._run_job = counted  # type: ignore[method-assign]
    runtime.start()
    try:
        assert started.wait(5)
        time.sleep(bound + 0.5)
        assert not runtime.stopping.is_set(), "a new term's first run held to a later bound"
        assert _until(runtime.stopping.is_set, first + 1.0)
    finally:
        release.set()
        runtime.stop()
    assert runs[0] == 3
    assert "anomaly has run for" in str(runtime.failure)


def test_the_watchdog_goes_on_watching_after_a_look_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A look that raises (the gate's check, a thread's stack) is logged, and the next
    look is made: a watchdog thread that died would leave a stuck leader holding the
    lease, with nothing said."""
    started, release = threading.Event(), threading.Event()
    runtime = Runtime(
        [Job("remediation", 0.1, _blocked(started, release, after=1), jitter=0, stuck_after=0.2)],
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, "ok"),
        plan=ShutdownPlan().scaled(1.0),
    )
    check, looks = runtime.check_stuck, [0]

    def first_look_fails() -> bool:
        looks[0] += 1
        if looks[0] == 1:
            raise RuntimeError("the gate could not be read")
        return check()

    runtime.check_stuck = first_look_fails  # type: ignore[method-assign]
    caplog.set_level("INFO", logger="autonomic")
    runtime.start()
    try:
        assert started.wait(5)
        assert _until(runtime.stopping.is_set, 2.0), "the watchdog stopped watching"
    finally:
        release.set()
        runtime.stop()
    assert isinstance(runtime.failure, StuckJobError)
    said = [r for r in caplog.records if "could not look at the running jobs" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is not None
