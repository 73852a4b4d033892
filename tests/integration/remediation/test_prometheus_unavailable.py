"""A runbook's PromQL read that Prometheus could not answer (down, timed out, an error)
was said as ``NoData: no data for precondition Q``, the same as a query that returned no
series: the on-call went looking for a missing metric while Prometheus was down. Through
the real adapter (against a real Prometheus, stopped for "down", or a closed port on
127.0.0.1), each is now said as what it was, in ``why``, the metric and the log; and a
verification that could not read Prometheus for its whole window fails as
``PrometheusUnavailable``, not ``VerificationInconclusive: no data``."""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path

import pytest

from agent.adapters.prometheus import PrometheusReader
from agent.cli import main
from agent.metrics_port import runbook_query
from remediation.planning import ASKED_AGAIN
from tests.harness.remote_write import remote_write
from tests.harness.servers import free_port, openmetrics, prometheus_server
from tests.integration.remediation.rig import (
    RUNBOOKS,
    KubeRig,
    build_rig,
    seed_web_mid_rollout,
    submit_error_ratio_up,
)

RUNBOOK = "error-rate-pause-rollout"
TRAFFIC = 'sum(rate(http_requests_total{namespace="shop", deployment="web"}[5m]))'
UNAVAILABLE = "nothing is done until Prometheus answers" + ASKED_AGAIN


def _error_ratio_up(rig: KubeRig) -> None:
    rig.clock.advance(60)
    submit_error_ratio_up(rig)


def _handled(rig: KubeRig) -> tuple[str, str]:
    _error_ratio_up(rig)
    (handled,) = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    return handled.reason_code, handled.message


def _read_from(rig: KubeRig, url: str, timeout: float = 2.0) -> None:
    rig.engine.query = runbook_query(PrometheusReader(url, timeout=timeout), rig.clock.now)


def _counted(rig: KubeRig, reason: str) -> float:
    counter = rig.decisions.metrics.runbook_outcomes
    value = counter.labels(runbook=RUNBOOK, outcome="skipped", reason=reason)._value.get()
    return float(value)


def test_a_precondition_prometheus_does_not_answer_is_not_no_data(
    rig: KubeRig,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    _read_from(rig, url)
    seed_web_mid_rollout(rig)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        code, message = _handled(rig)
    assert code == "PrometheusUnavailable"
    assert message == (
        f"precondition {TRAFFIC} could not be read: cannot connect to Prometheus at {url}; "
        f"{UNAVAILABLE}"
    )
    assert _counted(rig, "PrometheusUnavailable") == 1 and _counted(rig, "NoData") == 0
    said = [r.getMessage() for r in caplog.records if "held back on" in r.getMessage()]
    assert said == [
        f"runbook {RUNBOOK} held back on Deployment/shop/web: {message} "
        "[skipped PrometheusUnavailable]"
    ]
    capsys.readouterr()
    assert main(["why", "shop/web", "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"]) == 0
    out = capsys.readouterr().out
    assert f"{RUNBOOK}  skipped PrometheusUnavailable" in out
    assert f"cannot connect to Prometheus at {url}" in out and "no data" not in out
    assert rig.writes() == [] and rig.decisions_of(RUNBOOK) == []


def test_a_precondition_prometheus_does_not_answer_in_time_names_the_timeout(
    rig: KubeRig,
) -> None:
    """A server that takes the connection and never answers (a hung Prometheus)."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        _read_from(rig, url, timeout=0.3)
        seed_web_mid_rollout(rig)
        code, message = _handled(rig)
    assert code == "PrometheusUnavailable"
    assert message == (
        f"precondition {TRAFFIC} could not be read: Prometheus at {url} did not answer "
        f"within 0.3 s; {UNAVAILABLE}"
    )


@pytest.mark.prometheus
def test_no_series_is_no_data_and_a_stopped_prometheus_is_not(
    rig: KubeRig, prometheus_binaries: None
) -> None:
    """A real Prometheus that holds no ``http_requests_total``: no data, said as what
    the query answered; the same Prometheus stopped: not read, said as such."""
    with prometheus_server(openmetrics([("up", {"job": "x"}, [(rig.clock.now(), 1.0)])])) as server:
        _read_from(rig, server.url)
        seed_web_mid_rollout(rig)
        assert _handled(rig) == (
            "NoData",
            f"no data for precondition {TRAFFIC}: the query returned no series (is the "
            "metric scraped, and do its labels match?)",
        )
        server.stop()
        code, message = _handled(rig)
    assert code == "PrometheusUnavailable"
    assert message == (
        f"precondition {TRAFFIC} could not be read: cannot connect to Prometheus at "
        f"{server.url}; {UNAVAILABLE}"
    )


@pytest.mark.prometheus
def test_a_query_prometheus_rejects_says_to_fix_the_query(
    tmp_path: Path, prometheus_binaries: None
) -> None:
    """A precondition Prometheus refuses (``rate`` of an instant vector: HTTP 400) is no
    outage and no missing metric: the runbook's query is wrong."""
    source = (RUNBOOKS / f"{RUNBOOK}.yaml").read_text()
    bad = 'rate(http_requests_total{namespace="{{namespace}}", deployment="{{name}}"})'
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / f"{RUNBOOK}.yaml").write_text(
        re.sub(
            r"query: 'sum\(rate\(http_requests_total[^\n]*\[5m\]\)\)'", f"query: '{bad}'", source
        )
    )
    rig = build_rig(tmp_path, runbooks=[folder])
    try:
        with prometheus_server(openmetrics([("up", {}, [(rig.clock.now(), 1.0)])])) as server:
            _read_from(rig, server.url)
            seed_web_mid_rollout(rig)
            code, message = _handled(rig)
    finally:
        rig.close()
    query = 'rate(http_requests_total{namespace="shop", deployment="web"})'
    assert code == "QueryRejected"
    assert message.startswith(
        f"precondition {query} could not be read: Prometheus rejected {query!r} (HTTP 400): "
    ), message
    assert message.endswith("; fix the query in the runbook"), message


def test_a_verification_prometheus_never_answered_says_so(rig: KubeRig) -> None:
    """Acted (the precondition read while Prometheus answered), then Prometheus down for
    the whole verification window: the failure names it, not "no data"."""
    rig.promql.set("http_requests_total", 40.0)
    seed_web_mid_rollout(rig)
    _error_ratio_up(rig)
    (handled,) = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert (handled.outcome, handled.route) == ("decided", "auto")
    url = f"http://127.0.0.1:{free_port()}"
    _read_from(rig, url)
    rig.run(13 * 60)
    (decision,) = rig.decisions_of(RUNBOOK)
    (why,) = [
        f["detail"]["why"]
        for f in rig.ledger.feedback_for(decision.id)
        if f["kind"] == "verification"
    ]
    assert why.startswith(
        "PrometheusUnavailable: not verified within the window: sum(rate(http_requests_total"
    ), why
    assert f"could not be read: cannot connect to Prometheus at {url}" in why
    assert "no data" not in why
    # Undone and escalated all the same, but an outage is no verdict on the runbook: its
    # track record does not count it wrong.
    (outcome,) = [
        f["outcome"] for f in rig.ledger.feedback_for(decision.id) if f["kind"] == "verification"
    ]
    assert outcome == "inconclusive"
    assert rig.ledger.get_decision(decision.id).status in ("undone", "failed")  # type: ignore[union-attr]


@pytest.mark.prometheus
def test_a_precondition_is_not_taken_from_a_prometheus_that_stopped_storing(
    tmp_path: Path, prometheus_binaries: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A real Prometheus whose remote writes stopped 200 s ago still answers a 5-minute
    rate from the samples it holds, stamped now, as if current: the precondition passed
    on it and the rollout was paused on old numbers. Now Prometheus is asked when it last
    stored a sample, and the precondition is not read, said as such; once it stores
    again, the same read is taken."""
    now = time.time()
    rig = build_rig(tmp_path, start=now - 60)  # ``_error_ratio_up`` moves it to now
    try:
        with prometheus_server(openmetrics([("up", {}, [(now - 7200, 1.0)])])) as server:
            labels = {"__name__": "http_requests_total", "namespace": "shop", "deployment": "web"}
            old = [(now - 260, 0.0), (now - 230, 3000.0), (now - 200, 6000.0)]
            remote_write(server.url, [(labels, old)])
            _read_from(rig, server.url)
            seed_web_mid_rollout(rig)
            with caplog.at_level(logging.INFO, logger="autonomic"):
                code, message = _handled(rig)
            assert code == "PrometheusFrozen", message
            assert message.startswith(
                f"precondition {TRAFFIC} could not be read: Prometheus has stored no new "
                "sample since "
            ), message
            assert "(its scrapes or remote writes have stopped)" in message
            assert rig.writes() == [] and rig.decisions_of(RUNBOOK) == []
            # Storing again, the rate over its 5 minutes is read and the runbook acts.
            rig.clock.advance(30)  # past the 10 s the ingestion answer is kept
            later = rig.clock.now() + 60  # where ``_handled`` reads
            remote_write(server.url, [(labels, [(later - 60, 9000.0), (later - 30, 12000.0)])])
            code, message = _handled(rig)
    finally:
        rig.close()
    assert code != "PrometheusFrozen", message
    assert rig.decisions_of(RUNBOOK), message
