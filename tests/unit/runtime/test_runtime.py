from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from agent.errors import PermanentError, TransientError
from agent.observability import Metrics
from agent.runtime import AlwaysLeader, Job, Runtime, run_job
from agent.server import HttpServer, Request, json_response
from tests.harness.gates import RecordingGate


def test_run_job_gates_on_leadership_and_contains_errors() -> None:
    metrics, stopping, calls = Metrics(), threading.Event(), []
    job = Job("scaling", 60, lambda: calls.append(1))
    assert run_job(job, metrics, RecordingGate(False), stopping) == "not-leader" and calls == []
    assert run_job(job, metrics, RecordingGate(True), stopping) == "ok" and calls == [1]
    observer = Job("observe", 60, lambda: calls.append(2), leader_only=False)
    assert run_job(observer, metrics, RecordingGate(False), stopping) == "ok"

    def transient() -> None:
        raise TransientError("prometheus down", reason="PrometheusDown")

    def permanent() -> None:
        raise PermanentError("forbidden", reason="Forbidden")

    def bug() -> None:
        raise ZeroDivisionError

    assert (
        run_job(Job("t", 1, transient), metrics, RecordingGate(True), stopping) == "transient-error"
    )
    assert (
        run_job(Job("p", 1, permanent), metrics, RecordingGate(True), stopping) == "permanent-error"
    )
    assert run_job(Job("b", 1, bug), metrics, RecordingGate(True), stopping) == "error"
    assert metrics.errors.labels(kind="PrometheusDown")._value.get() == 1
    stopping.set()
    assert run_job(job, metrics, RecordingGate(True), stopping) == "stopping"


def test_a_job_that_failed_and_runs_cleanly_again_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each failed run is logged; the first clean run after them says the trouble is
    over (how many runs failed), once: the clean runs after it say nothing."""
    outcomes = iter([TransientError("prometheus down", reason="PrometheusDown")] * 2 + [None] * 3)

    def flaky() -> None:
        error = next(outcomes)
        if error is not None:
            raise error

    job = Job("anomaly", 60, flaky)
    runtime = Runtime(
        [job], metrics=Metrics(), gate=RecordingGate(True), server=None, ready=lambda: (True, "")
    )
    caplog.set_level("INFO", logger="autonomic")
    for _ in range(5):
        runtime._run_job(job)
    said = [r.getMessage() for r in caplog.records if "cleanly" in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith("anomaly: ran cleanly again, after 2 failed runs in a row")
    assert sum("will retry" in r.getMessage() for r in caplog.records) == 2


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_probes_metrics_and_graceful_stop() -> None:
    server = HttpServer("127.0.0.1", 0)
    ran = threading.Event()
    gate = RecordingGate(True)
    stopped_hook: list[str] = []
    runtime = Runtime(
        [Job("tick", 0.2, ran.set, jitter=0)],
        metrics=Metrics(),
        gate=gate,
        server=server,
        ready=lambda: (True, "ledger open"),
        on_stop=lambda: stopped_hook.append("flushed"),
    )
    runtime.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert ran.wait(5)
        assert _get(f"{base}/healthz")[0] == 200
        status, body = _get(f"{base}/readyz")
        assert status == 200 and json.loads(body)["leader"] is True
        status, body = _get(f"{base}/metrics")
        assert status == 200 and b"autonomic_loop_duration_seconds_count" in body
        assert b"autonomic_leader 1.0" in body
        assert _get(f"{base}/nope")[0] == 404
    finally:
        runtime.stop()
    assert gate.started and gate.stopped and stopped_hook == ["flushed"]
    assert runtime.stopped.is_set()


def test_server_limits_bodies_and_hides_errors() -> None:
    server = HttpServer("127.0.0.1", 0, max_body_bytes=2048)

    def boom(_request: Request) -> object:
        raise RuntimeError("secret detail")

    server.route("POST", "/echo", lambda r: json_response(200, {"n": len(r.body)}))
    server.route("POST", "/boom", boom)  # type: ignore[arg-type]
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        ok = urllib.request.Request(f"{base}/echo", data=b"x" * 100, method="POST")
        with urllib.request.urlopen(ok, timeout=5) as response:
            assert json.loads(response.read()) == {"n": 100}
        big = urllib.request.Request(f"{base}/echo", data=b"x" * 4096, method="POST")
        try:
            urllib.request.urlopen(big, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 413
        else:
            raise AssertionError("a body over the limit was accepted")
        bad = urllib.request.Request(f"{base}/boom", data=b"{}", method="POST")
        try:
            urllib.request.urlopen(bad, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 500 and b"secret detail" not in exc.read()
        else:
            raise AssertionError("/boom did not fail")
        assert _get(f"{base}/echo")[0] == 405
    finally:
        server.stop()


def test_a_route_whose_ledger_is_away_answers_503_with_retry_after() -> None:
    """A TransientError (the ledger's database stopped) is "try again", not a 500 with a
    traceback in the log; the detail goes to the log, not to the caller."""
    server = HttpServer("127.0.0.1", 0)

    def away(_request: Request) -> object:
        raise TransientError("the ledger at postgresql://db.internal/x is unreachable", delay=2)

    server.route("GET", "/approvals", away)  # type: ignore[arg-type]
    response = server.handle(Request("GET", "/approvals", {}, {}, b""))
    assert response.status == 503 and response.headers == {"Retry-After": "2"}
    assert b"db.internal" not in response.body
    assert "temporarily unavailable" in json.loads(response.body)["error"]


def test_always_leader() -> None:
    gate = AlwaysLeader()
    gate.start()
    assert gate.is_leader()
    gate.stop()
    assert gate.is_leader()


def test_metrics_report_readiness_without_a_probe() -> None:
    """``autonomic_ready`` is current on every scrape, not only after a ``/readyz``
    probe: a daemon run outside Kubernetes (nothing probes it) reported 0 while ready."""
    server = HttpServer("127.0.0.1", 0)
    state = {"ok": True}
    runtime = Runtime(
        [],
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=server,
        ready=lambda: (state["ok"], "ledger open" if state["ok"] else "ledger away"),
    )
    runtime.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = _get(f"{base}/metrics")
        assert status == 200 and b"\nautonomic_ready 1.0\n" in body
        state["ok"] = False
        assert b"\nautonomic_ready 0.0\n" in _get(f"{base}/metrics")[1]
        state["ok"] = True
        runtime.stopping.set()  # shutting down: not ready, whatever the ledger says
        assert b"\nautonomic_ready 0.0\n" in _get(f"{base}/metrics")[1]
        assert _get(f"{base}/readyz")[0] == 503
    finally:
        runtime.stopping.clear()
        runtime.stop()


def test_the_lease_and_the_jobs_wait_for_prepare_while_the_probes_answer() -> None:
    """``prepare`` (connecting a ledger not up yet) runs on its own thread: the probes
    answer meanwhile, and neither the lease nor any job starts before it returns."""
    server = HttpServer("127.0.0.1", 0)
    ran, release, preparing = threading.Event(), threading.Event(), threading.Event()
    gate = RecordingGate(True)

    def prepare(stopping: threading.Event) -> None:
        preparing.set()
        release.wait(10)

    runtime = Runtime(
        [Job("tick", 0.2, ran.set, leader_only=False, jitter=0)],
        metrics=Metrics(),
        gate=gate,
        server=server,
        ready=lambda: (release.is_set(), "ledger open" if release.is_set() else "connecting"),
        prepare=prepare,
    )
    runtime.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert preparing.wait(5)
        assert _get(f"{base}/healthz")[0] == 200
        status, body = _get(f"{base}/readyz")
        assert status == 503 and json.loads(body)["why"] == "connecting"
        assert not ran.wait(1.5)  # a job's first run is due a second after the start
        assert not gate.started
        release.set()
        assert ran.wait(5) and gate.started
        assert _get(f"{base}/readyz")[0] == 200
    finally:
        runtime.stop()
    assert runtime.failure is None


def test_a_prepare_that_fails_stops_the_runtime_and_keeps_why() -> None:
    from agent.ledger import LedgerError

    closed: list[str] = []
    gate = RecordingGate(True)

    def prepare(stopping: threading.Event) -> None:
        raise LedgerError("cannot open the ledger at postgresql+psycopg://u@db/x: no such database")

    runtime = Runtime(
        [Job("tick", 0.2, lambda: None, jitter=0)],
        metrics=Metrics(),
        gate=gate,
        server=HttpServer("127.0.0.1", 0),
        ready=lambda: (False, "connecting"),
        on_stop=lambda: closed.append("closed"),
        prepare=prepare,
    )
    runtime.start()
    assert runtime.stopped.wait(10)
    assert isinstance(runtime.failure, LedgerError) and "no such database" in str(runtime.failure)
    assert not gate.started and closed == ["closed"]


def test_a_shutdown_while_preparing_starts_nothing_after() -> None:
    """SIGTERM while the ledger is still connecting: ``prepare`` is told to give up, and
    the lease and the jobs never start, even if it returns afterwards."""
    gate, ran = RecordingGate(True), threading.Event()
    entered, returned = threading.Event(), threading.Event()

    def prepare(stopping: threading.Event) -> None:
        entered.set()
        stopping.wait(10)
        returned.set()

    runtime = Runtime(
        [Job("tick", 0.1, ran.set, leader_only=False, jitter=0)],
        metrics=Metrics(),
        gate=gate,
        server=HttpServer("127.0.0.1", 0),
        ready=lambda: (False, "connecting"),
        prepare=prepare,
    )
    runtime.start()
    assert entered.wait(5)
    runtime.stop()
    assert returned.wait(5)
    assert not ran.wait(1.5) and not gate.started and runtime.failure is None


def test_a_run_that_outlasts_its_period_is_said_once_not_at_every_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A soak run found APScheduler's "Execution of job ... skipped: maximum number of
    running instances reached" once a second for the takeover job (its period is the
    lease's retry period) while the remediation cycle it had started ran on for 20 s.
    The runtime says it once when the first run is skipped, and how many were when the
    long run ends."""
    release = threading.Event()
    runs: list[int] = []

    def slow() -> None:
        runs.append(1)
        if len(runs) == 1:
            release.wait(5)

    runtime = Runtime(
        [Job("takeover", 0.2, slow, leader_only=False, jitter=0)],
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, ""),
    )
    caplog.set_level("INFO")
    runtime.start()
    try:
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # about 7 ticks of 0.2 s while the first run is held
        release.set()
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        release.set()
        runtime.stop()
    messages = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    skips = [m for m in messages if "still running" in m[2] or "maximum number" in m[2]]
    assert len(skips) == 1, skips
    name, level, text = skips[0]
    assert (name, level) == ("autonomic.runtime", "WARNING")
    assert text.startswith("takeover: a run came due while the last one was still running")
    (ended,) = [m[2] for m in messages if "came due meanwhile" in m[2]]
    skipped = int(ended.split("; ")[1].split(" ")[0])
    assert ended.startswith("takeover: its run ended after ") and skipped >= 3, ended


def test_every_job_is_scheduled_once_at_a_time_coalesced_with_jitter_and_runs() -> None:
    """Each job: at most one run at a time, missed runs coalesced into one, a tenth of its
    period as jitter. A job whose period is over an hour (a configured ``scaling.period:
    2h``, or an anomaly query's ``step: 2h``) is scheduled too: it was added paused
    (APScheduler's ``next_run_time=None``) and never ran."""
    runtime = Runtime(
        [
            Job("often", 60.0, lambda: None),
            Job("hourly", 3600.0, lambda: None),
            Job("two-hourly", 7200.0, lambda: None),
        ],
        metrics=Metrics(),
        gate=RecordingGate(True),
        server=None,
        ready=lambda: (True, ""),
    )
    started = time.time()
    runtime.start()
    try:
        jobs = {job.id: job for job in runtime._scheduler.get_jobs()}
    finally:
        runtime.stop()
    assert sorted(jobs) == ["hourly", "often", "two-hourly"]
    for name, period in (("often", 60.0), ("hourly", 3600.0), ("two-hourly", 7200.0)):
        job = jobs[name]
        assert (job.max_instances, job.coalesce) == (1, True), name
        assert job.trigger.jitter == period * 0.1, name
        assert job.next_run_time is not None, f"{name} is paused: it would never run"
        assert job.next_run_time.timestamp() <= started + period + period * 0.1 + 1, name
