"""What one big Alertmanager delivery costs the webhook: size, time to store, memory.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/alert_intake.py \
        --alerts 1000,10000 [--json out.json]

Per N, in a child process of its own (so the peak memory figures do not mix): the
daemon's HTTP server on 127.0.0.1 with the ``/webhooks/alertmanager`` route wired as
``agent.daemon`` wires it (``AlertIntake`` on an ``AlertInbox`` over a SQLite ledger in a
file, the token and the body limit checked on the headers), and one POST of one alert
group of N alerts shaped as kube-prometheus-stack sends them (``KubePodCrashLooping``
with its labels, description, summary, ``runbook_url`` and a ``generatorURL`` holding
the rule's expression). The time is the wall time from sending the request to reading
the answer (a 200 once every alert is stored); the memory is the process's peak
resident set during that (VmHWM, reset before the request) less its resident set
before the request, the body already built. The client is in the same process, so the
body's own bytes on the sending side are in both figures and not in the difference.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"
PATH = "/webhooks/alertmanager"
EXPR = (
    'max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics",'
    'namespace=~".*",reason="CrashLoopBackOff"}[5m]) >= 1'
)


def log(message: str) -> None:
    print(f"[alert_intake {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def alert(index: int) -> dict[str, Any]:
    """One firing KubePodCrashLooping alert as kube-prometheus-stack's rule makes it."""
    namespace = f"team-{index // 50:04d}"
    pod = f"checkout-api-7f9c8d6b5-{index:05d}"
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubePodCrashLooping",
            "container": "checkout-api",
            "endpoint": "http",
            "instance": f"10.42.{index // 250}.{index % 250}:8080",
            "job": "kube-state-metrics",
            "namespace": namespace,
            "pod": pod,
            "prometheus": "monitoring/kube-prometheus-stack-prometheus",
            "reason": "CrashLoopBackOff",
            "service": "kube-prometheus-stack-kube-state-metrics",
            "severity": "warning",
            "uid": f"5f1c2a9e-3b7d-4e8a-9c1f-{index:012d}",
        },
        "annotations": {
            "description": f"Pod {namespace}/{pod} (checkout-api) is in waiting state "
            '(reason: "CrashLoopBackOff").',
            "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
            "summary": "Pod is crash looping.",
        },
        "startsAt": "2026-11-24T10:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://kube-prometheus-stack-prometheus.monitoring:9090/graph?g0.expr="
        + quote(EXPR, safe="")
        + "&g0.tab=1",
        "fingerprint": f"{index:016x}",
    }


def payload(count: int) -> bytes:
    """A version-4 webhook body: one group (by ``alertname``) of ``count`` alerts."""
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}/{severity="warning"}:{alertname="KubePodCrashLooping"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "autonomic",
            "groupLabels": {"alertname": "KubePodCrashLooping"},
            "commonLabels": {"alertname": "KubePodCrashLooping", "severity": "warning"},
            "commonAnnotations": {"summary": "Pod is crash looping."},
            "externalURL": "http://kube-prometheus-stack-alertmanager.monitoring:9093",
            "alerts": [alert(i) for i in range(count)],
        }
    ).encode()


def _status_mib(name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(count: int) -> dict[str, Any]:
    """One delivery of ``count`` alerts to a fresh server and ledger (in this process)."""
    from pydantic import SecretStr

    from agent.alert_inbox import AlertInbox
    from agent.ledger import open_ledger
    from agent.server import HttpServer
    from agent.webhooks import AlertIntake

    body = payload(count)
    with tempfile.TemporaryDirectory(prefix="autonomic-alerts-") as tmp:
        ledger = open_ledger(f"sqlite:///{tmp}/ledger.sqlite", time.time())
        inbox = AlertInbox(ledger, time.time)
        limit = max(1 << 20, 2 * len(body))
        intake = AlertIntake(
            token=SecretStr(TOKEN), clock=time.time, inbox=inbox, max_body_bytes=limit
        )
        server = HttpServer("127.0.0.1", 0)
        server.route(
            "POST",
            PATH,
            intake.handle,
            max_body_bytes=limit,
            limit_name="alertmanager.maxBodyBytes",
            check_headers=intake.check_headers,
            refused=intake.refused_body,
        )
        server.start()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
            gc.collect()
            before = _status_mib("VmRSS")
            with contextlib.suppress(OSError):  # a new high-water mark (Linux)
                Path("/proc/self/clear_refs").write_text("5")
            started = time.perf_counter()
            connection.request("POST", PATH, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            seconds = time.perf_counter() - started
            peak = _status_mib("VmHWM")
            connection.close()
            if response.status != 200:
                raise RuntimeError(f"answered {response.status}: {answer[:500]!r}")
            stored = len(inbox.pending(limit=count + 1))
        finally:
            server.stop()
            ledger.close()
    return {
        "alerts": count,
        "body_bytes": len(body),
        "bytes_per_alert": len(body) / count,
        "seconds": seconds,
        "rss_before_mib": before,
        "peak_increase_mib": peak - before,
        "answer": json.loads(answer),
        "stored": stored,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", default="1000,10000", help="comma-separated N per delivery")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return 0
    counts = [int(part.replace("_", "")) for part in args.alerts.split(",") if part.strip()]
    if not counts or min(counts) < 1 or max(counts) > 10_000:
        parser.error(f"--alerts must be from 1 to 10,000 each (one delivery's cap), got {counts}")
    log(f"load average before: {os.getloadavg()}")
    results = []
    for count in counts:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--one", str(count)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        log(f"N={count:,} done; load average {os.getloadavg()}")
    print("| alerts | body | bytes per alert | stored in | peak memory above before | answer |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['alerts']:,} | {r['body_bytes'] / 1e6:.2f} MB | {r['bytes_per_alert']:,.0f} "
            f"| {r['seconds']:.2f} s | {r['peak_increase_mib']:.0f} MiB | {r['answer']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    log(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
