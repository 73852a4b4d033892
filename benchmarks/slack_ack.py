"""How long Slack waits for its answer to a click while the SQLite ledger is locked.

    .venv/bin/python benchmarks/slack_ack.py [http:0 http:10 http:40 socket:10 ...]

Each argument is MODE:SECONDS. Per run: a fresh SQLite ledger, the Slack stand-in
(``tests.fakeslack``), one question asked; another connection takes the ledger's write
lock (``BEGIN EXCLUSIVE``, as the soak's ``ledger-lock`` fault does) for SECONDS; then
one signed Approve click, posted over HTTP to the daemon's own ``HttpServer`` on
127.0.0.1 (``http``) or handed to the Socket Mode listener (``socket``). Printed: the
time to Slack's answer (HTTP status, or the envelope's acknowledgement), when the
question was recorded, and the replies only the clicker sees.

Slack's limit is 3 s. Measured on the 2-core machine (issue #5, branch slackack):

    recording before answering (main at 4566379):
      http   lock  0 s: answered 0.01 s, recorded 0.01 s
      http   lock 10 s: answered 10.06 s, recorded 10.06 s
      http   lock 40 s: answered 30.06 s with a 503 (busy timeout), never recorded,
                        the clicker told nothing but Slack's error
      socket lock 10 s: acknowledged 10.06 s
      socket lock 40 s: acknowledged 30.06 s, the clicker told "not recorded"
    answering first, recording on the click worker:
      http   lock  0 s: answered 0.01 s, recorded 0.01 s
      http   lock 10 s: answered 0.01 s, recorded 10.07 s
      http   lock 40 s: answered 0.00 s, recorded 40.10 s (2nd try)
      http   lock 150 s: answered 0.00 s; given up after 4 tries over 134 s, the clicker
                        told "Your click was not recorded (4 tries over 134 s): ..."
      socket lock 10 s: acknowledged 0.00 s, recorded 10.07 s
    answering once the click is written, or after 2 s at most (branch crash43: a 200
    sent before the write was lost by a crash just after it, benchmarks/answer_crash.py):
      http   lock  0 s: answered 0.01 s, recorded 0.01 s
      http   lock 10 s: answered 2.00 s, recorded 10.06 s
      socket lock 10 s: acknowledged 2.00 s, recorded 10.05 s
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the stand-ins in tests/

from agent.adapters.slack import RetryPolicy, build_approvals
from agent.ledger import open_ledger
from agent.server import HttpServer, Request, Response
from tests.fakeslack import block_actions_payload, signed_interaction, start_fake_slack
from tests.integration.slack.conftest import (
    APP_TOKEN,
    ENVIRON,
    SECRET,
    SNOOZE,
    TOKEN,
    make_decision,
    slack_settings,
)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), bytes(error.read())


def _lock(path: Path, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(path, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")
    held.set()
    time.sleep(seconds)
    conn.rollback()
    conn.close()


def run(mode: str, hold: float) -> None:
    path = Path(tempfile.mkdtemp()) / "ledger.sqlite"
    ledger = open_ledger(f"sqlite:///{path}", time.time())
    slack = start_fake_slack(token=TOKEN, app_token=APP_TOKEN, groups={"S0ONCALL": ["U0BOB"]})
    approvals, receiver = build_approvals(
        slack_settings(slack.url + "/api/"),
        ENVIRON,
        ledger,
        clock=time.time,
        snooze=SNOOZE,
        policy=RetryPolicy(attempts=1),
    )
    assert receiver is not None
    server = HttpServer("127.0.0.1", 0)

    def interaction(request: Request) -> Response:
        status, body = receiver.handle_interaction(request.body, request.headers, time.time())
        return Response(status, body, "application/json")

    server.route("POST", "/slack/interactions", interaction)
    server.start()
    try:
        decision = ledger.record_decision(make_decision(), time.time())
        asked = approvals.ask(decision, time.time())
        approvals.dispatcher.drain()
        held = threading.Event()
        if hold:
            threading.Thread(target=_lock, args=(path, hold, held), daemon=True).start()
            held.wait()
        started = time.monotonic()
        payload = block_actions_payload(
            asked.question_id, "approve", user_id="U0ALICE", action_ts=time.time()
        )
        if mode == "http":
            body, headers = signed_interaction(payload, SECRET, int(time.time()))
            url = f"http://127.0.0.1:{server.port}/slack/interactions"
            status, answer = _post(url, body, headers)
            said = f"HTTP {status} {answer[:80]!r}"
        else:
            from slack_sdk.socket_mode.request import SocketModeRequest

            acks: list[Any] = []

            class Client:
                def send_socket_mode_response(self, response: Any) -> None:
                    acks.append(response)

            envelope = SocketModeRequest(type="interactive", envelope_id="e1", payload=payload)
            receiver.handle_socket_request(Client(), envelope)
            said = f"{len(acks)} acknowledgement"
        answered = time.monotonic() - started
        receiver.drain(hold + 300)
        recorded = time.monotonic() - started
        question = ledger.question(asked.question_id)
        approvals.dispatcher.drain(60)
        told = [e["text"][:100] for e in slack.ephemerals]
        status_now = question.status if question is not None else "?"
        print(
            f"{mode} lock {hold:g} s: answered in {answered:.2f} s ({said}); question "
            f"{status_now} at {recorded:.2f} s; told {told}",
            flush=True,
        )
    finally:
        server.stop()
        receiver.close(1.0)
        approvals.close()
        ledger.close()
        slack.stop()


def parse(spec: str) -> tuple[str, float]:
    """``MODE:SECONDS`` as (mode, seconds); ValueError naming what is wrong."""
    mode, _, hold = spec.partition(":")
    if mode not in ("http", "socket"):
        raise ValueError(f"{spec!r}: MODE must be http or socket (e.g. http:10)")
    try:
        seconds = float(hold or 0)
    except ValueError:
        raise ValueError(f"{spec!r}: SECONDS must be a number (e.g. http:10)") from None
    if not 0 <= seconds <= 3600:
        raise ValueError(f"{spec!r}: SECONDS must be from 0 to 3600")
    return mode, seconds


def main(argv: list[str]) -> int:
    try:
        runs = [parse(spec) for spec in argv or ["http:0", "http:10", "socket:10"]]
    except ValueError as exc:
        print(f"slack_ack: {exc}", file=sys.stderr)
        return 2
    for mode, seconds in runs:
        run(mode, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
