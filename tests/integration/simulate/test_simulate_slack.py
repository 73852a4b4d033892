"""`autonomic simulate --config` with Slack configured: questions go to Slack (a local
stand-in), the simulation waits, and a signed button click answers them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from agent.ledger import open_ledger
from tests.fakeslack import block_actions_payload, post, signed_interaction, start_fake_slack
from tests.harness.servers import free_port

SHORT = Path(__file__).with_name("short.yaml")
RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"
TOKEN = "xoxb-fake-token"
SECRET = "0123456789abcdef0123456789abcdef"


def test_questions_go_to_slack_and_a_click_answers_them(tmp_path: Path) -> None:
    slack = start_fake_slack(token=TOKEN)
    port = free_port()
    config = tmp_path / "autonomic.yaml"
    config.write_text(
        f"""
slack:
  enabled: true
  botToken: {{env: SIM_SLACK_BOT}}
  signingSecret: {{env: SIM_SLACK_SIGNING}}
  channel: C0OPS
  approvers: [U0ALICE]
  receive: http
  questionTTL: 60s
  baseURL: {slack.url}/api/
server: {{host: 127.0.0.1, port: {port}}}
runbooks: [{RUNBOOKS}]
"""
    )
    ledger_path = tmp_path / "ledger.sqlite"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "simulate",
            "--quiet",
            "--config",
            str(config),
            "--scenario",
            str(SHORT),
            "--days",
            "0.2",
            "--ledger",
            str(ledger_path),
            "--report",
            str(tmp_path / "report.html"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SIM_SLACK_BOT": TOKEN, "SIM_SLACK_SIGNING": SECRET},
    )
    answered: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
            if not ledger_path.exists():
                continue
            ledger = open_ledger(f"sqlite:///{ledger_path}", 0, migrate=False)
            try:
                # Only a question already posted can be clicked, as in Slack: one the
                # simulation has written but not yet posted has no message to click on.
                pending = [
                    q.id for q in ledger.questions() if q.id not in answered and q.message_ref
                ]
            except Exception:  # the simulation may still be creating the schema
                pending = []
            finally:
                ledger.close()
            for question_id in pending:
                now = time.time()
                payload = block_actions_payload(
                    question_id, "approve", user_id="U0ALICE", action_ts=now
                )
                body, headers = signed_interaction(payload, SECRET, int(now))
                status, _ = post(f"http://127.0.0.1:{port}/slack/interactions", body, headers)
                assert status == 200
                answered.append(question_id)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        slack.stop()
    assert process.returncode == 0, err[-3000:]
    assert answered, "no question reached Slack"
    ledger = open_ledger(f"sqlite:///{ledger_path}", 0, migrate=False)
    questions = {q.id: q for q in ledger.questions(status=None)}
    ledger.close()
    for question_id in answered:
        assert questions[question_id].status == "approved"
        assert questions[question_id].answered_by == "U0ALICE"
    assert slack.calls_to("chat.postMessage") and slack.calls_to("chat.update")
    assert "Questions go to Slack C0OPS" in err and "Scaling (under-provisioned" in out
