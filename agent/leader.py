"""Leader election on a ``coordination.k8s.io/v1`` Lease: exactly one replica acts.

The Lease records ``holderIdentity``, ``leaseDurationSeconds``, ``acquireTime``,
``renewTime`` and ``leaseTransitions``; every write is a PUT carrying the
resourceVersion that was read, so two candidates racing for it cannot both win (one
gets 409 Conflict).

Why a leader that cannot renew stops before anyone else can start, with only local
clocks (no trust in the other replicas' wall clocks):

* The leader's authority ends at ``t_send + renew_deadline`` on its own monotonic
  clock, where ``t_send`` is when it *sent* its last successful renewal;
  ``is_leader()`` turns False at that instant even if the renewing thread is stuck
  in a hung request. The clock goes on counting while the machine is suspended
  (``agent.clock.elapsed``), so a leader woken from a suspension is not leading.
* A follower may take over only after it has seen the same Lease record (same
  resourceVersion) for ``leaseDurationSeconds`` on its own clock, counted from when
  it *received* that record, which is after the leader sent it.
* ``renew_deadline < lease_duration``, so the follower's earliest takeover is later
  than the leader's last possible moment of authority (clock drift over one lease
  period aside).

A released Lease (empty ``holderIdentity``) may be taken at once; ``release()`` gives
up authority locally before writing it.

A request on the Lease the API server refuses (403: the Role in manifests/ not bound, or
missing a verb) is told to ``on_refused`` as its verb and ``leases.coordination.k8s.io``
(the daemon's ``autonomic_kube_permission_denied_total``), once per request: about one a
second while it lasts, as a follower steps every half ``retry_period`` after a failure.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.adapters.kube_api import RefusalHook
from agent.adapters.kubernetes import RbacRule
from agent.clock import elapsed
from agent.errors import ConfigError

__all__ = ["LEADER_RBAC", "LeaderElector", "LeaseConfig"]

log = logging.getLogger("autonomic.leader")
Obj = dict[str, Any]
FAILURE_LOG_INTERVAL = 60.0  # seconds between warnings while lease requests keep failing

LEADER_RBAC: tuple[RbacRule, ...] = (
    RbacRule("coordination.k8s.io", "leases", ("create", "get", "update")),
)
LEASES = "leases.coordination.k8s.io"  # as a refusal names the resource


@dataclass(frozen=True)
class LeaseConfig:
    """Timing of the election, in seconds. ``retry_period`` < ``renew_deadline`` <
    ``lease_duration``; the gap between the last two is the safety margin."""

    identity: str
    name: str = "autonomic-leader"
    namespace: str = "autonomic"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ConfigError("leader election: identity must not be empty (use the pod name)")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ConfigError(
                "leader election: need 0 < retry_period < renew_deadline < lease_duration, got "
                f"{self.retry_period} / {self.renew_deadline} / {self.lease_duration} seconds"
            )


def _micro_time(epoch: float) -> str:
    """A metav1.MicroTime value. The API server parses these with exactly six
    fractional digits, and the client renders a datetime with a zero microsecond
    without any, so a zero microsecond is nudged to one."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    if stamp.microsecond == 0:
        stamp = stamp.replace(microsecond=1)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate. Call ``step()`` every ``retry_period`` (or ``run()``), act only
    while ``is_leader()`` is True, and ``release()`` on shutdown."""

    def __init__(
        self,
        api_client: Any,
        config: LeaseConfig,
        *,
        clock: Callable[[], float] = elapsed,
        wall_clock: Callable[[], float] = time.time,
        on_refused: RefusalHook | None = None,
    ) -> None:
        from kubernetes import client

        self.config = config
        self.on_refused = on_refused
        self._api: Any = client.CoordinationV1Api(api_client)
        self._clock, self._wall_clock = clock, wall_clock
        self._lock = threading.Lock()
        self._leader_until: float | None = None
        self._observed_version: str | None = None
        self._observed_at = 0.0
        self._observed_duration = config.lease_duration
        self.transitions = 0  # times this candidate took the lease over (or created it)
        # Leadership terms begun here: a take-over, or a renewal after this candidate's
        # own authority had run out (its renew deadline passed while the API was away).
        # Anything that acts while leading compares it to tell a new term from the same one.
        self._term = 0
        # The API server did not answer the last step, or refused it (not a lost race):
        # the next step waits a follower's period instead of spinning on an expired
        # record, and the failures are logged once a streak (then once a minute).
        self._failed = False
        self._failures = 0
        self._failure_logged_at: float | None = None

    # -------------------------------------------------------------------- queries

    def is_leader(self) -> bool:
        with self._lock:
            return self._leader_until is not None and self._clock() < self._leader_until

    def term(self) -> int:
        """The number of leadership terms begun by this candidate. Read it after
        ``is_leader()``: a term's number is counted before its authority begins."""
        with self._lock:
            return self._term

    # --------------------------------------------------------------------- a step

    def step(self) -> bool:
        """Try once to acquire or renew the Lease; returns ``is_leader()`` afterwards."""
        self._failed = False
        try:
            lease = self._read()
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                self._create()
            else:
                self._refused("get", exc)
                self._failure("cannot read lease", exc)
            self._settle()
            return self.is_leader()
        received = self._clock()
        spec, meta = lease.get("spec") or {}, lease.get("metadata") or {}
        version, holder = meta.get("resourceVersion"), spec.get("holderIdentity") or ""
        if version != self._observed_version:
            self._observed_version, self._observed_at = version, received
        me = self.config.identity
        if holder == me:
            self._write(lease, taking_over=False)
        elif holder == "" or self._expired(spec, received):
            self._write(lease, taking_over=True)
        else:
            with self._lock:
                self._leader_until = None  # someone else holds it: stop at once
        self._settle()
        return self.is_leader()

    def next_delay(self) -> float:
        """Seconds until the next ``step()``: the leader renews every ``retry_period``;
        a follower polls twice as often and wakes exactly when the record it watches
        would expire, so failover takes about the lease duration plus half a period.
        After a step the API server failed or refused, a follower waits half a period:
        the record it last saw may have expired long ago, and polling it as it expires
        would be a busy loop (every 10 ms) for as long as the API server is away."""
        if self.is_leader():
            return self.config.retry_period
        if self._failed:
            return self.config.retry_period / 2
        until_expiry = self._observed_at + self._observed_duration - self._clock()
        return max(0.01, min(self.config.retry_period / 2, until_expiry))

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set, then release."""
        while not stop.is_set():
            self.step()
            stop.wait(self.next_delay())
        self.release()

    def release(self) -> None:
        """Give up leadership: stop acting first, then mark the Lease free."""
        with self._lock:
            was_leader = self._leader_until is not None
            self._leader_until = None
        if not was_leader:
            return
        reading_done = False
        try:
            lease = self._read()
            reading_done = True
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.config.identity:
                return
            spec = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1}
            spec["renewTime"] = _micro_time(self._wall_clock())
            self._put({**lease, "spec": spec})
        except Exception as exc:
            self._refused("update" if reading_done else "get", exc)
            log.warning("leader election: could not release the lease: %s", _short(exc))

    # ------------------------------------------------------------------- helpers

    def _expired(self, spec: Obj, received: float) -> bool:
        self._observed_duration = float(
            spec.get("leaseDurationSeconds") or self.config.lease_duration
        )
        return received - self._observed_at >= self._observed_duration

    def _timeout(self) -> tuple[float, float]:
        return (self.config.retry_period, self.config.retry_period)

    def _read(self) -> Obj:
        response = self._api.read_namespaced_lease(
            self.config.name,
            self.config.namespace,
            _preload_content=False,
            _request_timeout=self._timeout(),
        )
        result: Obj = json.loads(response.data)
        return result

    def _put(self, lease: Obj) -> Obj:
        response = self._api.replace_namespaced_lease(
            self.config.name,
            self.config.namespace,
            lease,
            _preload_content=False,
            _request_timeout=self._timeout(),
        )
        result: Obj = json.loads(response.data)
        return result

    def _spec(self, *, transitions: int, acquired: str | None) -> Obj:
        now = _micro_time(self._wall_clock())
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": math.ceil(self.config.lease_duration),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _create(self) -> None:
        sent = self._clock()
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": self._spec(transitions=0, acquired=None),
        }
        try:
            self._api.create_namespaced_lease(
                self.config.namespace,
                body,
                _preload_content=False,
                _request_timeout=self._timeout(),
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 409:
                log.info("leader election: lost the race to create the lease: %s", _short(exc))
            else:
                self._refused("create", exc)
                self._failure("cannot create the lease", exc)
            return
        self._became_leader(sent)

    def _write(self, lease: Obj, *, taking_over: bool) -> None:
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0) + (1 if taking_over else 0)
        acquired = None if taking_over else spec.get("acquireTime")
        sent = self._clock()
        body = {**lease, "spec": self._spec(transitions=transitions, acquired=acquired)}
        try:
            self._put(body)
        except Exception as exc:
            if getattr(exc, "status", None) == 409:
                log.info("leader election: another candidate wrote the lease first")
                with self._lock:
                    self._leader_until = None
            else:
                self._refused("update", exc)
                self._failure("cannot write the lease", exc)
            return  # authority (if any) runs out at the previous deadline
        if taking_over:
            self._became_leader(sent)
        else:
            with self._lock:
                until = self._leader_until
                if until is None or self._clock() >= until:
                    self._term += 1  # authority had lapsed: whatever ran meanwhile is unknown
                self._leader_until = sent + self.config.renew_deadline

    def _refused(self, verb: str, exc: Exception) -> None:
        """Tell ``on_refused`` of a request on the Lease the API server refused (403)."""
        if self.on_refused is not None and getattr(exc, "status", None) == 403:
            self.on_refused(verb, LEASES, False)

    def _failure(self, what: str, exc: Exception) -> None:
        """One failed request: logged at the start of a streak, then once a minute."""
        self._failed = True
        self._failures += 1
        now = self._clock()
        last = self._failure_logged_at
        if last is None or now - last >= FAILURE_LOG_INTERVAL:
            self._failure_logged_at = now
            again = "" if self._failures == 1 else f" ({self._failures} failed attempts so far)"
            log.warning("leader election: %s: %s%s", what, _short(exc), again)

    def _settle(self) -> None:
        """After a step: a streak of failures that has ended is logged as ended."""
        if self._failed or not self._failures:
            return
        log.info(
            "leader election: the lease is reachable again after %d failed attempt%s",
            self._failures,
            "" if self._failures == 1 else "s",
        )
        self._failures, self._failure_logged_at = 0, None

    def _became_leader(self, sent: float) -> None:
        with self._lock:
            self._term += 1
            self._leader_until = sent + self.config.renew_deadline
        self.transitions += 1
        log.info("leader election: %s is now the leader", self.config.identity)


def _short(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    return f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
