"""Autonomic's own logs and metrics.

Logs are JSON, one object a line, and every line written while a decision is being
handled carries its ``decision_id`` (a context variable set by ``decision_context``).

Metric names are a contract with the shipped Grafana dashboard (docs/deploy.md).
Each daemon gets its own ``CollectorRegistry``, so tests and simulations never share
counters.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from remediation.digits import ascii_digits

__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "Metrics",
    "TextFormatter",
    "configure_logging",
    "decision_context",
    "log",
    "reason_label",
]

_decision_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "decision_id", default=None
)
log = logging.getLogger("autonomic")


@contextlib.contextmanager
def decision_context(decision_id: str) -> Iterator[None]:
    token = _decision_id.set(decision_id)
    try:
        yield
    finally:
        _decision_id.reset(token)


LOG_FORMATS = ("json", "text")
_CONTEXT_KEYS = ("reason", "target", "loop", "route", "runbook")


def _entry(record: logging.LogRecord) -> dict[str, Any]:
    """What a log line says, in either format: time (UTC), level, logger, message, and the
    decision and context the record carries."""
    entry: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
    }
    decision_id = getattr(record, "decision_id", None) or _decision_id.get()
    if decision_id:
        entry["decision_id"] = decision_id
    for key in _CONTEXT_KEYS:
        value = getattr(record, key, None)
        if value is not None:
            entry[key] = value
    return entry


class OptionalGauge(Collector):
    """A gauge without labels that is absent until set, and absent again once cleared
    (a labelled gauge's ``clear`` removes its series; a plain ``Gauge`` would stay at its
    last value, or 0, on a replica that no longer keeps it current). A collector of its
    own, through prometheus_client's public ``Collector`` interface only."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self._value: float | None = None
        registry.register(self)

    def set(self, value: float) -> None:
        self._value = float(value)

    def clear(self) -> None:
        self._value = None

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(self._name, self._documentation)]

    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily(self._name, self._documentation)
        value = self._value
        if value is not None:
            family.add_metric([], value)
        return [family]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log collectors in a cluster expect."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """A line for a person at a terminal: ``time LEVEL logger: message [key=value ...]``,
    the traceback below it."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record)
        context = " ".join(
            f"{key}={entry[key]}" for key in ("decision_id", *_CONTEXT_KEYS) if key in entry
        )
        line = f"{entry['time']} {record.levelname:<7} {entry['logger']}: {entry['message']}" + (
            f" [{context}]" if context else ""
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", stream: Any = None, fmt: str = "json") -> None:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger = logging.getLogger("autonomic")  # every module logs as autonomic.<part>
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    # A library's warning that reaches the root logger with no handler on its way (one
    # with a NullHandler, urllib3 or slack_sdk, asked for silence and keeps it) used to
    # go to Python's last resort, as bare text among the JSON lines: it goes through the
    # same format, at WARNING and above, whatever --log-level says.
    libraries = _LibraryHandler(stream or sys.stderr)
    libraries.setFormatter(handler.formatter)
    libraries.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _LibraryHandler)]
    root.addHandler(libraries)


class _LibraryHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler for the libraries' records (one at a time: a second
    ``configure_logging`` replaces it, and leaves any other handler, pytest's, alone).
    It takes what Python's last resort would have written: records no handler below the
    root saw."""

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger.parent is not None:  # up to, not incl., root
            if logger.handlers:
                return False
            if not logger.propagate:
                return False
            logger = logger.parent
        return bool(super().filter(record))


# The error codes Slack documents for the Web API methods the daemon calls
# (chat.postMessage, chat.update, chat.postEphemeral, usergroups.users.list,
# conversations.history, auth.test, apps.connections.open) and for every method. A
# reason ``Slack:<code>`` is a label value only for these: the code is whatever Slack
# (or a proxy in its place) put in its answer, so any other is counted as
# ``Slack:other`` (the log line names it), not as a series of its own.
SLACK_ERROR_CODES = frozenset(
    {
        # any method
        "access_denied",
        "accesslimited",
        "account_inactive",
        "deprecated_endpoint",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "fatal_error",
        "internal_error",
        "invalid_arg_name",
        "invalid_arguments",
        "invalid_array_arg",
        "invalid_auth",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "invalid_json",
        "is_bot",
        "json_not_object",
        "method_deprecated",
        "missing_post_type",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "not_authed",
        "org_login_required",
        "ratelimited",
        "request_timeout",
        "service_unavailable",
        "team_access_not_granted",
        "team_added_to_org",
        "token_expired",
        "token_revoked",
        "two_factor_setup_required",
        "upgrade_required",
        # posting and updating
        "as_user_not_supported",
        "attachment_payload_limit_exceeded",
        "cant_update_message",
        "cannot_reply_to_message",
        "channel_not_found",
        "duplicate_channel_not_found",
        "duplicate_message_not_found",
        "edit_window_closed",
        "external_channel_migrating",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "is_archived",
        "is_inactive",
        "message_limit_exceeded",
        "message_not_found",
        "messages_tab_disabled",
        "metadata_must_be_sent_from_app",
        "metadata_too_large",
        "msg_too_long",
        "no_text",
        "not_in_channel",
        "rate_limited",
        "restricted_action",
        "restricted_action_non_threadable_channel",
        "restricted_action_read_only_channel",
        "restricted_action_thread_locked",
        "restricted_action_thread_only_channel",
        "too_many_attachments",
        "update_failed",
        "user_not_in_channel",
        # user groups, history, Socket Mode
        "invalid_cursor",
        "invalid_ts_latest",
        "invalid_ts_oldest",
        "no_such_subteam",
        "paid_teams_only",
        "plan_upgrade_required",
    }
)
_SLACK = "Slack:"


def reason_label(reason: str) -> str:
    """``reason`` as a label value: a reason code the daemon's code names is itself; one
    that carries Slack's error code (``Slack:<code>``) is itself for a code Slack
    documents (``SLACK_ERROR_CODES``) or an HTTP status it answered with (``Slack:HTTP
    404``), else ``Slack:other``: a label must take a bounded set of values."""
    if not reason.startswith(_SLACK):
        return reason
    code = reason[len(_SLACK) :]
    if code in SLACK_ERROR_CODES:
        return reason
    status = code.removeprefix("HTTP ")
    if status != code and len(status) == 3 and ascii_digits(status, 3):
        return reason
    return f"{_SLACK}other"


class Metrics:
    """The daemon's own metrics, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.loop_duration = Histogram(
            "autonomic_loop_duration_seconds",
            "Wall time of one run of a daemon loop.",
            ["loop"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.decisions = Counter(
            "autonomic_decisions",
            "Decisions by kind (job), decision type, route taken and outcome.",
            ["kind", "decision_type", "route", "outcome"],
            registry=r,
        )
        self.runbook_outcomes = Counter(
            "autonomic_runbook_outcomes",
            "What became of each runbook whose trigger accepted a signal, each cycle: "
            "decided, duplicate, skipped, denied or no-match, by reason code.",
            ["runbook", "outcome", "reason"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "autonomic_runbook_breaker_open",
            "1 while a runbook's circuit breaker is open (it acts on no target until it "
            "half-opens), 0 while closed or half-open; set by the leader each remediation "
            "cycle.",
            ["runbook"],
            registry=r,
        )
        self.errors = Counter(
            "autonomic_errors", "Errors by kind (reason code).", ["kind"], registry=r
        )
        self.leader = Gauge("autonomic_leader", "1 while this replica holds the lease.", registry=r)
        self.jobs_stuck = Counter(
            "autonomic_jobs_stuck",
            "Runs of a job that acts found stuck: running past their bound while this "
            "replica led. Each makes the replica shut down and exit, to be restarted.",
            ["loop"],
            registry=r,
        )
        self.alertmanager_alerts = Counter(
            "autonomic_alertmanager_alerts",
            "Alerts in Alertmanager's deliveries to this replica, by what became of them: "
            "accepted (stored for the next remediation cycle), duplicate (stored before), "
            "standby (answered 503: not the leader), unstored (answered 503: the ledger "
            "could not store them), dropped (after the first 10,000 of one delivery), "
            "truncated (left out of the delivery by Alertmanager: the receiver's max_alerts).",
            ["result"],
            registry=r,
        )
        self.http_refused = Counter(
            "autonomic_http_connections_refused",
            "Connections to the HTTP server beyond server.maxConnections (that many being "
            "served), by what they got: busy (a 503 with Retry-After) or dropped (closed "
            "unanswered: too many waiting, or the request's head did not arrive within 2 s). "
            "The liveness and readiness probes are answered beyond the cap and not counted.",
            ["reason"],
            registry=r,
        )
        self.canary_refused = Counter(
            "autonomic_canary_calls_refused",
            "Calls to /canary/verdict and /canary/flagger refused for canary.token: "
            "missing (401: no token sent) or wrong (403: another token).",
            ["reason"],
            registry=r,
        )
        self.read_refused = Counter(
            "autonomic_read_calls_refused",
            "Calls to GET /approvals, /alerts and /scaling refused for server.readToken: "
            "missing (401: no bearer token) or wrong (401: another token or scheme).",
            ["reason"],
            registry=r,
        )
        self.alertmanager_refused = Counter(
            "autonomic_alertmanager_refused",
            "Alertmanager's deliveries this replica refused with a 4xx, which Alertmanager "
            "does not retry (their alerts are lost), by reason: unauthorized (missing or "
            "wrong bearer token), too_large (over alertmanager.maxBodyBytes), media_type "
            "(not application/json), invalid (not a version-4 payload, or a body cut short).",
            ["reason"],
            registry=r,
        )
        self.alerts_pending = Gauge(
            "autonomic_alerts_pending",
            "Alerts the webhook stored that no remediation cycle has handled yet, as the "
            "leader counted them at its last cycle (0 on a standby).",
            registry=r,
        )
        self.alerts_pending_age = Gauge(
            "autonomic_alerts_pending_oldest_age_seconds",
            "Seconds since the oldest alert not handled yet was first delivered, at the "
            "leader's last remediation cycle (0 when none waits, and on a standby).",
            registry=r,
        )
        self.alerts_given_up = Counter(
            "autonomic_alerts_given_up",
            "Stored alerts this replica gave up on after they failed to be handled at 5 "
            "cycles in a row (marked handled; no runbook ran for them; the log names each).",
            registry=r,
        )
        self.automation_rate = Gauge(
            "autonomic_automation_rate",
            "Share of recent actionable decisions executed without asking.",
            ["decision_type"],
            registry=r,
        )
        self.human_corrections = Counter(
            "autonomic_human_corrections",
            "Decisions a person said were wrong: rejected, undone, or marked wrong with "
            "autonomic feedback --wrong.",
            ["decision_type"],
            registry=r,
        )
        self.undo_requests = Counter(
            "autonomic_undo_requests",
            "People's requests to undo an action (autonomic undo, Slack's Undo button), "
            "counted by the leader as each is settled: undone, partly-undone, refused or "
            "expired.",
            ["outcome"],
            registry=r,
        )
        self.answer_seconds = Histogram(
            "autonomic_answer_seconds",
            "Time from a question to its answer.",
            registry=r,
            buckets=(10, 30, 60, 120, 300, 600, 900, 1800, 3600),
        )
        self.calibration_error = Gauge(
            "autonomic_calibration_error",
            "Expected calibration error of stated confidence vs outcomes.",
            ["decision_type"],
            registry=r,
        )
        self.threshold = Gauge(
            "autonomic_threshold",
            "Current routing thresholds.",
            ["decision_type", "band"],
            registry=r,
        )
        self.ready = Gauge("autonomic_ready", "1 when the daemon is ready.", registry=r)
        self.paused = Gauge(
            "autonomic_paused",
            "1 while a person's pause (autonomic pause) holds: nothing new is done to the "
            "cluster; read from the ledger at each remediation cycle, on every replica.",
            registry=r,
        )
        self.scaling_floor = Gauge(
            "autonomic_scaling_recommended_replicas",
            "The floor (HPA minReplicas, or replicas without an HPA) the scaling loop "
            "recommends now, whether or not it acts on it.",
            ["workload"],
            registry=r,
        )
        self.scaling_forecast_peak = Gauge(
            "autonomic_scaling_forecast_peak",
            "Upper-quantile forecast of the load over the lead time (NaN when reactive).",
            ["workload"],
            registry=r,
        )
        # The live model's accuracy as its latest drift check measured it: absent until
        # the model has been checked (again after a refit), like the check itself.
        self.scaling_forecast_mase = Gauge(
            "autonomic_scaling_forecast_mase",
            "The live forecast model's recent one-step MASE (its error over a naive forecast's), "
            "as its latest drift check measured it; NaN before any outcome arrived.",
            ["workload"],
            registry=r,
        )
        self.scaling_forecast_coverage = Gauge(
            "autonomic_scaling_forecast_coverage",
            "Share of recent values inside the live model's level% forecast interval, as its "
            "latest drift check measured it; NaN before any outcome arrived.",
            ["workload", "level"],
            registry=r,
        )
        self.scaling_predictive = Gauge(
            "autonomic_scaling_predictive",
            "1 while the forecast is trusted for a workload, 0 while it is reactive.",
            ["workload"],
            registry=r,
        )
        self.scaling_capacity = Gauge(
            "autonomic_scaling_capacity_per_pod",
            "The load one ready pod carries, as the floor is sized with it (annotated, or "
            "learned from the HPA's readings).",
            ["workload"],
            registry=r,
        )
        self.scaling_startup = Gauge(
            "autonomic_scaling_startup_seconds",
            "The pod start-up time the lead is built from (annotated, measured from the "
            "workload's pods, or the 60 s default).",
            ["workload"],
            registry=r,
        )
        self.scaling_held = Gauge(
            "autonomic_scaling_held",
            "1 while the scaling loop holds a workload (no decision, no write; the floor "
            "stays where it is), labelled with the reason code; absent when not held.",
            ["workload", "reason"],
            registry=r,
        )
        self.anomaly_series = Gauge(
            "autonomic_anomaly_series", "Series the anomaly loop keeps a detector for.", registry=r
        )
        self.anomaly_query_scoring = Gauge(
            "autonomic_anomaly_query_scoring",
            "1 when the anomaly query's last read returned fresh series to score; 0 when "
            "it failed, every series was stale, or it returned none (the log says which, once).",
            ["query"],
            registry=r,
        )
        self.anomaly_series_below_volume = Gauge(
            "autonomic_anomaly_series_below_volume",
            "Series of the anomaly query whose newest point was under its minVolume (or had "
            "no volume read): their points are not scored; absent for a query without one.",
            ["query"],
            registry=r,
        )
        self.anomaly_series_warming = Gauge(
            "autonomic_anomaly_series_warming",
            "Series of the anomaly query whose last point scored could not open an incident "
            "because its detector was warming up (new series) or re-warming after a gap.",
            ["query"],
            registry=r,
        )
        self.anomaly_contexts = Gauge(
            "autonomic_anomaly_contexts",
            "Contexts the contextual detectors have learnt, summed over series: what the "
            "anomaly loop's memory grows with (each detector starts afresh at its limit).",
            registry=r,
        )
        self.anomaly_open_series = Gauge(
            "autonomic_anomaly_open_series",
            "Series of a workload with an open anomaly incident (leader; after each anomaly "
            "cycle); absent for a workload with none.",
            ["workload"],
            registry=r,
        )
        # The canary judge's current reading, per canary being judged (leader only);
        # the series of a canary whose analysis ended are removed.
        self.canary_verdict = Gauge(
            "autonomic_canary_verdict",
            "1 for the judge's current verdict on a canary (promote, rollback, continue, "
            "inconclusive); absent for the other verdicts and once its analysis ended.",
            ["canary", "verdict"],
            registry=r,
        )
        self.canary_confidence = Gauge(
            "autonomic_canary_confidence",
            "The judge's calibrated confidence in its current verdict on a canary.",
            ["canary"],
            registry=r,
        )
        self.canary_metric_difference = Gauge(
            "autonomic_canary_metric_difference",
            "Canary minus baseline for one of the judge's metrics, as the judge estimates "
            "it: relative (0.2 = 20 % higher) or in the metric's units, as the metric is "
            "configured; NaN while there is too little data.",
            ["canary", "metric"],
            registry=r,
        )
        self.canary_metric_status = Gauge(
            "autonomic_canary_metric_status",
            "1 for what one of the judge's metrics shows now (regressed, within_tolerance, "
            "undecided, no_data); absent for the other statuses. dry_run is true for a "
            "metric judged only to be reported (it never moves the verdict), else false.",
            ["canary", "metric", "status", "dry_run"],
            registry=r,
        )
        # The metrics source itself: the loops absorb a failed read (scaling holds, the
        # anomaly query goes degraded), so an outage shows here, not in autonomic_errors.
        self.prometheus_failures = Counter(
            "autonomic_prometheus_request_failures",
            "Requests to Prometheus that failed, by reason (PrometheusDown, "
            "PrometheusTimeout, PrometheusHTTP<status>, MalformedResponse, ...).",
            ["reason"],
            registry=r,
        )
        self.prometheus_last_success = Gauge(
            "autonomic_prometheus_last_success_timestamp_seconds",
            "Unix time of the last request Prometheus answered (0 until the first).",
            registry=r,
        )
        self.prometheus_clock_offset = Gauge(
            "autonomic_prometheus_clock_offset_seconds",
            "Prometheus's clock minus this daemon's, in seconds, as last measured (0 until "
            "the first measurement); ages of samples are taken on Prometheus's clock.",
            registry=r,
        )
        self.prometheus_clock_offset_spread = Gauge(
            "autonomic_prometheus_clock_offset_spread_seconds",
            "How far apart the recent measurements of Prometheus's clock are, in seconds: "
            "more than a second or two means the URL leads to several Prometheus servers "
            "whose clocks differ (an HA pair behind one Service).",
            registry=r,
        )
        # Slack: the approvals channel absorbs a failed call (the question waits in the
        # ledger, a failed update is logged), so a revoked token or a lost channel shows here.
        self.slack_failures = Counter(
            "autonomic_slack_request_failures",
            "Slack Web API calls that failed after their retries, by method and reason "
            "(Slack:<error code> such as Slack:token_revoked or Slack:not_in_channel, "
            "SlackRateLimited, SlackUnavailable, SlackUnreachable, SlackNoAnswer, SlackMalformed).",
            ["method", "reason"],
            registry=r,
        )
        # Socket Mode's connection is known only to slack-sdk's client, which reconnects by
        # itself: an outage shows here (and in one warning when it is lost).
        self.slack_socket_connected = OptionalGauge(
            "autonomic_slack_socket_connected",
            "1 while the leader's Slack Socket Mode connection is up, 0 while it leads "
            "without one (Slack answers are not received); absent on a standby and with "
            "slack.receive: http.",
            registry=r,
        )
        # The Kubernetes adapter: an object it could not read is left out of a listing
        # (the loops go on without it), so it shows here and in one warning line.
        self.kube_objects_unread = Counter(
            "autonomic_kube_objects_unread",
            "Kubernetes objects left out of a listing because the API server sent them in "
            "a shape that cannot be read, by kind: one per object per listing, so an "
            "object that stays unreadable counts again at every pass that lists its kind.",
            ["kind"],
            registry=r,
        )
        # Every request the API server refused (403), counted where it is refused: the
        # caches' lists and watches (which only log otherwise), reads, writes, Events,
        # evictions and the Lease. The label values are a closed set
        # (``kubernetes.refusal_labels``), each exported at 0 from the start.
        self.kube_permission_denied = Counter(
            "autonomic_kube_permission_denied",
            "Requests the Kubernetes API server refused (403 Forbidden), by verb and "
            "resource (as kubectl names it: deployments.apps/scale); optional is true for "
            "a list or watch of a kind the daemon works without (Argo Rollouts, volume "
            "expansion, drain planning), false otherwise.",
            ["verb", "resource", "optional"],
            registry=r,
        )
        # process_resident_memory_bytes, CPU seconds, open fds (from /proc; nothing elsewhere)
        ProcessCollector(registry=r)
        # What only the leader keeps current, by workload, canary, query, runbook or
        # decision type: a replica that stops leading drops them (``standby``), so that
        # what it set while it led is not exported for ever beside the new leader's.
        self.leader_only: tuple[Gauge | OptionalGauge, ...] = (
            self.breaker_open,
            self.automation_rate,
            self.calibration_error,
            self.threshold,
            self.scaling_floor,
            self.scaling_forecast_peak,
            self.scaling_forecast_mase,
            self.scaling_forecast_coverage,
            self.scaling_predictive,
            self.scaling_capacity,
            self.scaling_startup,
            self.scaling_held,
            self.anomaly_query_scoring,
            self.anomaly_series_below_volume,
            self.anomaly_series_warming,
            self.anomaly_open_series,
            self.canary_verdict,
            self.canary_confidence,
            self.canary_metric_difference,
            self.canary_metric_status,
            self.slack_socket_connected,
        )

    def kube_refused(self, verb: str, resource: str, optional: bool) -> None:
        """A request the API server refused (403): the adapters' ``on_refused``."""
        self.kube_permission_denied.labels(
            verb=verb, resource=resource, optional=str(optional).lower()
        ).inc()

    def expect_kube_refusals(self, labels: Iterable[tuple[str, str, bool]]) -> None:
        """Export each (verb, resource, optional) at 0 before any refusal: a series born at
        1 would show Prometheus no increase, and the first refusal would not alert."""
        for verb, resource, optional in labels:
            self.kube_permission_denied.labels(
                verb=verb, resource=resource, optional=str(optional).lower()
            )

    def standby(self) -> None:
        """On a replica that does not lead: the leader-only series removed, and the
        leader's counts (alerts waiting, series watched) at 0."""
        for gauge in self.leader_only:
            gauge.clear()
        self.alerts_pending.set(0)
        self.alerts_pending_age.set(0)
        self.anomaly_series.set(0)

    @contextlib.contextmanager
    def time_loop(self, loop: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.loop_duration.labels(loop=loop).observe(time.perf_counter() - started)
