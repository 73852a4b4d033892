"""The daemon with ``slack.receive: socket``: Socket Mode on the leader, and only there.

``build_daemon`` and ``Runtime`` as ``autonomic run`` uses them, in this process: leader
election on a real Lease against the fake Kubernetes API server, slack-sdk's builtin
``SocketModeClient`` against the Web API and websocket stand-ins in ``tests/fakeslack``.
Leadership is taken away by rewriting the Lease, as another replica would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.daemon import Daemon, build_daemon
from agent.runtime import Job, Runtime, ShutdownPlan
from agent.settings import Settings, load_settings
from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakeslack import (
    FakeSlack,
    SocketModeServer,
    block_actions_payload,
    post,
    signed_interaction,
    start_fake_slack,
)
from tests.harness.servers import free_port
from tests.integration.slack.conftest import APP_TOKEN, CHANNEL, SECRET, TOKEN, make_decision

ME, OTHER = "autonomic-0", "autonomic-1"
ENVIRON = {"POD_NAME": ME, "SLACK_BOT": TOKEN, "SLACK_APP": APP_TOKEN, "SLACK_SIGNING": SECRET}
LEASE = ("Lease", "autonomic", "autonomic-leader")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
JOB = "slack-socket-mode"


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = start_fake_apiserver()
    yield server
    server.stop()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    for name in PROXY_VARIABLES:  # slack-sdk would route through a proxy from the env
        monkeypatch.delenv(name, raising=False)
    fake = start_fake_slack(token=TOKEN, app_token=APP_TOKEN)
    fake.attach_socket_mode()
    yield fake
    fake.stop()


def sockets_of(slack: FakeSlack) -> SocketModeServer:
    assert slack.socket_mode is not None
    return slack.socket_mode


def settings_for(
    tmp_path: Path,
    slack: FakeSlack,
    receive: str = "socket",
    approvers: str = "[U0ALICE]",
    extra: str = "",
) -> Settings:
    path = tmp_path / "autonomic.yaml"
    path.write_text(
        f"""
mode: propose
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout: 1s}}
ledger: {{url: "sqlite:///{tmp_path / "ledger.sqlite"}"}}
leaderElection: {{namespace: autonomic, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 0.5s}}
server: {{host: 127.0.0.1, port: {free_port()}}}
runbooks: []
slack:
  enabled: true
  botToken: {{env: SLACK_BOT}}
  appToken: {{env: SLACK_APP}}
  signingSecret: {{env: SLACK_SIGNING}}
  channel: {CHANNEL}
  approvers: {approvers}
  receive: {receive}
  baseURL: "{slack.url}/api/"
{extra}"""
    )
    return load_settings(path, ENVIRON)


@contextmanager
def running(settings: Settings, kube: FakeApiServer) -> Iterator[tuple[Daemon, Runtime]]:
    daemon, runtime = build_daemon(settings, ENVIRON, kube_host=kube.url)
    runtime.start()
    try:
        yield daemon, runtime
    finally:
        runtime.stop()


def micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def held_by(identity: str) -> Any:
    """A change to the Lease: ``identity`` holds it (a fresh renewal, for a minute)."""

    def change(lease: dict[str, Any]) -> None:
        lease["spec"].update(
            holderIdentity=identity, leaseDurationSeconds=60, renewTime=micro_time()
        )

    return change


def holder(kube: FakeApiServer) -> str:
    (lease,) = kube.store.objects("Lease", "autonomic")
    return str(lease["spec"].get("holderIdentity") or "")


def checks(runtime: Runtime) -> float:
    """How many times the Socket Mode check has run."""
    value = runtime.metrics.registry.get_sample_value(
        "autonomic_loop_duration_seconds_count", {"loop": JOB}
    )
    return value or 0.0


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def test_the_leader_listens_and_an_answer_over_the_socket_is_recorded_once(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    sockets = sockets_of(slack)
    with running(settings_for(tmp_path, slack), kube) as (daemon, runtime):
        assert JOB in [job.name for job in runtime.jobs]
        conn = sockets.wait_for_connection(timeout=15.0)
        assert runtime.gate.is_leader() and holder(kube) == ME
        [opened] = slack.calls_to("apps.connections.open")
        assert opened.authorized  # with the app-level token

        # A question the daemon asked, answered with a click delivered over the socket.
        now = time.time()
        approvals = daemon.decisions.approvals
        decision_id = daemon.ledger.record_decision(make_decision(), now)
        asked = approvals.ask(decision_id, now)
        assert asked.posted
        payload = block_actions_payload(
            asked.question_id, "approve", user_id="U0ALICE", channel_id=CHANNEL, action_ts=now
        )
        envelope_id = sockets.push_interactive(payload)
        assert sockets.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
        # Slack redelivers it (as after a lost acknowledgement): acknowledged again, no
        # second answer.
        sockets.push_interactive(payload, envelope_id=envelope_id, retry_attempt=1)
        sockets.wait_for(lambda: len(sockets.acks_for(envelope_id)) == 2, 5.0, "the 2nd ack")
        # Recorded after the acknowledgement, on the click worker; then the follow-ups.
        assert daemon.slack_drain is not None and daemon.slack_drain(10.0)
        assert approvals.dispatcher.drain(10.0)

        question = daemon.ledger.question(asked.question_id)
        assert question is not None and question.status == "approved"
        answers = [
            (f["outcome"], f["actor"])
            for f in daemon.ledger.feedback_for(decision_id)
            if f["kind"] == "answer"
        ]
        assert answers == [("approved", "U0ALICE")]
        record = daemon.ledger.get_decision(decision_id)
        assert record is not None and record.status != "asked"  # the decision layer saw it
        assert len(slack.calls_to("chat.update")) == 1  # the message rewritten once
        assert [c for c, _ in sockets.acks_for(envelope_id)] == [conn.id, conn.id]

        # Shutdown hangs up before the lease is released, and still completes.
        open_at_release: list[bool] = []
        release = runtime.gate.stop

        def observed_release() -> None:
            open_at_release.append(conn.open)
            release()

        runtime.gate.stop = observed_release  # type: ignore[method-assign]
        started = time.monotonic()
        runtime.stop()
        took = time.monotonic() - started
    assert open_at_release == [False]
    assert runtime.stopped.is_set() and took < 15.0
    assert sockets.open_connections() == [] and len(sockets.connections) == 1
    assert holder(kube) == ""  # released


def test_a_standby_does_not_connect_until_it_takes_the_lease(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    sockets = sockets_of(slack)
    kube.store.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "autonomic-leader", "namespace": "autonomic"},
            "spec": {
                "holderIdentity": OTHER,
                "leaseDurationSeconds": 60,
                "acquireTime": micro_time(),
                "renewTime": micro_time(),
                "leaseTransitions": 0,
            },
        }
    )
    with running(settings_for(tmp_path, slack), kube) as (_daemon, runtime):
        wait_until(lambda: checks(runtime) >= 4, 15.0, "four Socket Mode checks")
        assert not runtime.gate.is_leader() and holder(kube) == OTHER
        assert slack.calls_to("apps.connections.open") == []
        assert sockets.connections == []

        # The other replica goes away and releases the lease: this one takes it, and
        # connects.
        kube.store.modify(*LEASE, lambda lease: lease["spec"].update(holderIdentity=""))
        conn = sockets.wait_for_connection(timeout=15.0)
        assert conn.open and runtime.gate.is_leader() and holder(kube) == ME
        assert len(slack.calls_to("apps.connections.open")) == 1


def test_losing_the_lease_disconnects_and_nothing_reconnects(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    sockets = sockets_of(slack)
    with running(settings_for(tmp_path, slack), kube) as (_daemon, runtime):
        conn = sockets.wait_for_connection(timeout=15.0)
        assert runtime.gate.is_leader()

        kube.store.modify(*LEASE, held_by(OTHER))  # another replica took the lease
        # The elector notices on its next renewal (0.5 s), the check on its next run
        # (0.5 s); closing the client takes up to 3 s inside slack-sdk.
        assert conn.wait_closed(10.0)
        assert conn.closed_by in ("client-eof", "client-reset")  # this replica hung up
        assert not runtime.gate.is_leader()
        ran = checks(runtime)
        wait_until(lambda: checks(runtime) >= ran + 3, 10.0, "three more checks")
        assert sockets.open_connections() == [] and len(sockets.connections) == 1
        assert len(slack.calls_to("apps.connections.open")) == 1


def test_a_failed_connection_does_not_stop_the_daemon_and_is_retried(
    kube: FakeApiServer,
    slack: FakeSlack,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ``configure_logging`` (the CLI's) may have cut the daemon's loggers off the root.
    monkeypatch.setattr(logging.getLogger("autonomic"), "propagate", True)
    caplog.set_level(logging.WARNING)
    sockets = sockets_of(slack)
    slack.fail_next("apps.connections.open", 500, times=2)
    daemon, runtime = build_daemon(settings_for(tmp_path, slack), ENVIRON, kube_host=kube.url)
    assert daemon.socket_mode is not None
    daemon.socket_mode.retry_min = 0.5  # 0.5 s, then 1 s (5 s, 10 s... by default)
    runtime.start()
    try:
        conn = sockets.wait_for_connection(timeout=20.0)
        assert conn.open and not runtime.stopping.is_set()
        assert len(slack.calls_to("apps.connections.open")) == 3
    finally:
        runtime.stop()
    failures = [
        r.getMessage()
        for r in caplog.records
        if r.name == "autonomic.daemon" and "could not connect" in r.getMessage()
    ]
    assert len(failures) == 2
    assert failures[0].startswith("Slack Socket Mode: could not connect (attempt 1): ")
    assert "(HTTP 500)" in failures[0] and failures[0].endswith("retrying in 0.5 s")
    assert failures[1].startswith("Slack Socket Mode: could not connect (attempt 2): ")
    assert failures[1].endswith("retrying in 1 s")


def test_readiness_and_the_gauge_say_while_the_leader_has_no_connection(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    """A leader without its Socket Mode connection stays ready (the HTTP routes and the
    CLI's answers work) and says so on /readyz; ``autonomic_slack_socket_connected``
    is 0 until it connects, then 1."""
    sockets = sockets_of(slack)
    slack.fail_next("apps.connections.open", 500, times=1000)
    daemon, runtime = build_daemon(settings_for(tmp_path, slack), ENVIRON, kube_host=kube.url)
    assert daemon.socket_mode is not None
    daemon.socket_mode.retry_min = daemon.socket_mode.retry_max = 0.2

    def connected() -> float | None:
        return runtime.metrics.registry.get_sample_value("autonomic_slack_socket_connected")

    runtime.start()
    try:
        wait_until(lambda: connected() == 0.0, 20.0, "the gauge at 0")
        ok, why = daemon.ready()
        assert ok and why.startswith("leader; Slack Socket Mode not connected for "), why
        assert why.endswith(" s (Slack answers are not received)"), why
        slack.clear_faults("apps.connections.open")
        sockets.wait_for_connection(timeout=20.0)
        wait_until(lambda: connected() == 1.0, 20.0, "the gauge at 1")
        assert daemon.ready() == (True, "leader")
    finally:
        runtime.stop()


def test_with_receive_http_nothing_dials_out_and_the_http_endpoint_answers(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, slack, receive="http")
    with running(settings, kube) as (daemon, runtime):
        assert daemon.socket_mode is None
        assert JOB not in [job.name for job in runtime.jobs]
        now = time.time()
        decision_id = daemon.ledger.record_decision(make_decision(), now)
        asked = daemon.decisions.approvals.ask(decision_id, now)
        payload = block_actions_payload(
            asked.question_id, "reject", user_id="U0ALICE", channel_id=CHANNEL, action_ts=now
        )
        body, headers = signed_interaction(payload, SECRET, int(now))
        url = f"http://127.0.0.1:{settings.server.port}/slack/interactions"
        assert post(url, body, headers)[0] == 200
        assert daemon.slack_drain is not None and daemon.slack_drain(10.0)  # recorded after
        question = daemon.ledger.question(asked.question_id)
        assert question is not None and question.status == "rejected"
        time.sleep(1.5)  # the jobs have run
        assert slack.calls_to("apps.connections.open") == []
        assert sockets_of(slack).connections == []


def test_approver_groups_are_kept_warm_by_a_job(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With a user group among the approvers, every replica refreshes its members on a
    schedule, so a click is checked from memory within Slack's three seconds."""
    caplog.set_level(logging.WARNING, logger="autonomic.daemon")
    slack.groups["S0ONCALL"] = ["U0BOB"]
    # Questions about shop need U0DAVE too, who is neither U0ALICE nor in the on-call
    # group: known only once the group's members are.
    shop = "  approversByNamespace: {shop: [U0DAVE]}\n"
    unanswerable = (
        "slack approvers: questions in namespace shop can never be answered: an answer "
        "must come from someone in U0ALICE, S0ONCALL (slack.approvers) who is also in "
        "U0DAVE (slack.approversByNamespace.shop), and no one is; each such question "
        "expires and is escalated"
    )

    def warned() -> list[str]:
        return [r.getMessage() for r in caplog.records if "slack approvers" in r.getMessage()]

    settings = settings_for(
        tmp_path, slack, receive="http", approvers="[U0ALICE, S0ONCALL]", extra=shop
    )
    with running(settings, kube) as (daemon, runtime):
        job = next(job for job in runtime.jobs if job.name == "slack-approvers")
        assert not job.leader_only
        before = len(slack.calls_to("usergroups.users.list"))
        assert daemon.approver_refresh is not None
        daemon.approver_refresh()
        assert len(slack.calls_to("usergroups.users.list")) == before + 1
        daemon.approver_refresh()
        assert warned() == [unanswerable]  # once, however often the members are read
    caplog.clear()
    (tmp_path / "plain").mkdir()
    plain = settings_for(tmp_path / "plain", slack, receive="http", extra=shop)
    with running(plain, kube) as (daemon, runtime):
        assert daemon.approver_refresh is None
        assert "slack-approvers" not in [job.name for job in runtime.jobs]
        # Users only: told at start-up.
        assert warned() == [unanswerable.replace("U0ALICE, S0ONCALL", "U0ALICE")]


def test_shutdown_ends_within_its_budget_though_the_hang_up_hangs_and_a_job_is_slow(
    kube: FakeApiServer,
    slack: FakeSlack,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole shutdown fits one budget (here 4 s, with 1.5 s kept for the lease's
    release: a real HTTP round trip to the API server, which a loaded CI machine can take
    longer than the default plan's share scaled down to 0.36 s):
    a job that does not return is abandoned, the Socket Mode close that does not return
    is left behind when the lease's turn comes, and the lease is released all the same,
    so a standby takes over at once. It used to take up to 20 s for the jobs, 5 s to
    save and 13 s to hang up, one after the other, past Kubernetes' 30 s SIGKILL."""
    monkeypatch.setattr(logging.getLogger("autonomic"), "propagate", True)
    caplog.set_level(logging.INFO, logger="autonomic")
    sockets = sockets_of(slack)
    daemon, runtime = build_daemon(settings_for(tmp_path, slack), ENVIRON, kube_host=kube.url)
    runtime.plan = ShutdownPlan(budget=4.0, save_max=0.6, save_min=0.3, release=1.5, close=0.5)
    free = threading.Event()
    slow = threading.Event()

    def slow_job() -> None:
        slow.set()
        free.wait(60)

    runtime.jobs.append(Job("slow", 3600.0, slow_job, leader_only=False, jitter=0.0))
    assert daemon.socket_mode is not None
    receiver = daemon.socket_mode.receiver
    close = receiver.stop_socket_mode

    def hanging_close() -> None:
        free.wait(60)
        close()

    monkeypatch.setattr(receiver, "stop_socket_mode", hanging_close)
    runtime.start()
    try:
        conn = sockets.wait_for_connection(timeout=15.0)
        wait_until(lambda: receiver.listening, 10.0, "the client to be connected")
        with daemon.socket_mode._lock:  # the check that connected has returned
            pass
        assert slow.wait(10.0) and holder(kube) == ME
        began = time.monotonic()
        runtime.stop()
        took = time.monotonic() - began
        assert took <= runtime.plan.budget + 0.5
        assert holder(kube) == ""  # released: a standby may take it at once
        assert conn.open  # the hang-up was left behind, still hanging
    finally:
        free.set()
    assert conn.wait_closed(10.0)  # ...and ends once it can
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(w.startswith("shutdown: a job was still running") for w in warnings), warnings
    assert any("abandoning slow (running" in w for w in warnings), warnings
    assert any(
        w.startswith("shutdown: hanging up Slack Socket Mode was cut short") for w in warnings
    ), warnings
    stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped in")]
    assert len(stopped) == 1


def test_a_slack_call_that_fails_is_counted_by_method_and_reason(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    """The approvals channel absorbs Slack's refusals (the question waits in the ledger),
    so a revoked token shows on /metrics, not only in the log."""
    daemon, runtime = build_daemon(settings_for(tmp_path, slack, receive="http"), ENVIRON,
                                   kube_host=kube.url)  # fmt: skip
    assert runtime.server is not None
    runtime.server.start()  # so that runtime.stop() can shut it down
    try:
        slack.fail_next("chat.postMessage", 200, error="token_revoked", times=2)
        now = time.time()
        approvals = daemon.decisions.approvals
        assert not runtime.gate.is_leader()  # the lease is not taken in this test
        approvals.may_post = lambda: True  # asked here as the leader's cycle would
        for name in ("web", "api"):
            decision_id = daemon.ledger.record_decision(
                make_decision(subject=f"Deployment/shop/{name}"), now
            )
            assert not approvals.ask(decision_id, now).posted
        assert approvals.poster.drain(10.0)  # the second waited its turn (one a second)
        assert len(slack.calls_to("chat.postMessage")) == 2  # refused, so not retried
        counted = runtime.metrics.registry.get_sample_value(
            "autonomic_slack_request_failures_total",
            {"method": "chat.postMessage", "reason": "Slack:token_revoked"},
        )
        assert counted == 2.0
        assert [q.status for q in daemon.ledger.questions("pending")] == ["pending", "pending"]
    finally:
        runtime.stop()  # the cluster's watches, the approvals worker, the ledger


def test_an_error_code_slack_does_not_document_is_counted_as_other(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    """The reason label carried whatever Slack's answer put in its ``error``: a proxy in
    Slack's place, or a Slack that made up a code per call, made a series of each (a
    label without bound: memory in the daemon, series in Prometheus). A code Slack does
    not document is counted as ``Slack:other``; a documented one keeps its own."""
    daemon, runtime = build_daemon(settings_for(tmp_path, slack, receive="http"), ENVIRON,
                                   kube_host=kube.url)  # fmt: skip
    assert runtime.server is not None
    runtime.server.start()  # so that runtime.stop() can shut it down
    try:
        approvals = daemon.decisions.approvals
        approvals.may_post = lambda: True  # asked here as the leader's cycle would
        now = time.time()
        codes = ["request id 7f3a: upstream said no", "<html>denied</html>", "not_in_channel"]
        for n, code in enumerate(codes):
            slack.fail_next("chat.postMessage", 200, error=code, times=1)
            decision_id = daemon.ledger.record_decision(
                make_decision(subject=f"Deployment/shop/web-{n}"), now
            )
            assert not approvals.ask(decision_id, now).posted
            assert approvals.poster.drain(10.0)
        reasons = {
            sample.labels["reason"]: sample.value
            for family in runtime.metrics.registry.collect()
            if family.name == "autonomic_slack_request_failures"
            for sample in family.samples
            if sample.name.endswith("_total")
        }
        assert reasons == {"Slack:other": 2.0, "Slack:not_in_channel": 1.0}
    finally:
        runtime.stop()


def test_the_approvals_tell_a_hindsight_no_the_daemons_reask_after_reject(
    kube: FakeApiServer, slack: FakeSlack, tmp_path: Path
) -> None:
    """What Slack tells the person who clicks "It was not" (how long the incident is
    held) is the safety.reaskAfterReject the engine holds it for, not the default."""
    extra = "safety: {reaskAfterReject: 3h}\n"
    settings = settings_for(tmp_path, slack, receive="http", extra=extra)
    daemon, runtime = build_daemon(settings, ENVIRON, kube_host=kube.url)
    try:
        assert daemon.decisions.approvals.reask_after_reject == 3 * 3600.0
    finally:
        runtime.stop()
