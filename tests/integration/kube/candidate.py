"""A tiny leader-election candidate, run as a separate process by the failover test.

    python -m tests.integration.kube.candidate URL IDENTITY

Prints one JSON line per sample, ``{"t": wall_seconds, "id": ..., "leader": bool}``,
every 10 ms, until killed or stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from agent.adapters.kubernetes import load_api_client
from agent.leader import LeaderElector, LeaseConfig

TIMING = {"lease_duration": 2.0, "renew_deadline": 1.4, "retry_period": 0.3}


def main() -> None:
    url, identity = sys.argv[1], sys.argv[2]
    config = LeaseConfig(identity=identity, name="failover", namespace="autonomic", **TIMING)
    elector = LeaderElector(load_api_client(host=url), config)
    stop = threading.Event()
    threading.Thread(target=elector.run, args=(stop,), daemon=True).start()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.is_set():
        leader = elector.is_leader()
        print(json.dumps({"t": time.time(), "id": identity, "leader": leader}), flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main()
