"""What Alertmanager posts to the daemon in the two-replica tests: one firing
crash-loop alert in namespace ``shop``, as a webhook body."""

from __future__ import annotations

import json

CRASHLOOP_DELIVERY = json.dumps(
    {
        "version": "4",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}',
        "status": "firing",
        "receiver": "autonomic",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
                "annotations": {},
                "startsAt": "2026-11-23T12:00:00Z",
                "fingerprint": "f00d",
            }
        ],
    }
).encode()
