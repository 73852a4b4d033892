"""`autonomic simulate` end to end on a compressed scenario: outcomes, not just a run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.sim.report import Summary, summarise, write_html
from agent.sim.run import SimResult, Simulation
from agent.sim.scenario import load_scenario
from remediation.ports import ObjectRef

SHORT = Path(__file__).with_name("short.yaml")


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Simulation, SimResult, Summary]]:
    folder = tmp_path_factory.mktemp("sim")
    simulation = Simulation(load_scenario(SHORT), ledger_path=folder / "ledger.sqlite")
    result = simulation.run()
    yield simulation, result, summarise(result)
    result.ledger.close()


def _writes(result: SimResult, op: str, target: str) -> list[float]:
    return [at for at, o, t in result.writes if o == op and t == target]


def _decisions(result: SimResult, prefix: str) -> list[object]:
    return [d for d in result.ledger.decisions(limit=10_000) if d.decision_type.startswith(prefix)]


def test_crash_looping_rollout_is_rolled_back_once_and_verified(run) -> None:  # type: ignore[no-untyped-def]
    simulation, result, _ = run
    assert len(_writes(result, "rollback", "Deployment/shop/checkout")) == 1
    (decision,) = _decisions(result, "crashloop-after-rollout-rollback")
    assert decision.status == "verified"  # type: ignore[attr-defined]
    checkout = simulation.cluster.workloads[ObjectRef("Deployment", "checkout", "shop")]
    assert checkout.template.image == "shop/checkout:17"


def test_bad_canary_rolled_back_and_good_canary_promoted(run) -> None:  # type: ignore[no-untyped-def]
    _, result, _ = run
    verdicts = {d.proposal["verdict"]: d for d in _decisions(result, "canary/")}  # type: ignore[attr-defined]
    assert set(verdicts) == {"promote", "rollback"}
    assert any("delivery tool promoted shop/search:4" in note for _, note in result.faults)
    (rollback,) = _decisions(result, "canary-rollback")
    assert rollback.status == "verified"  # type: ignore[attr-defined]
    assert len(_writes(result, "rollback", "Deployment/shop/search-canary")) == 1


def test_oom_runbook_raises_the_limit_once_within_bounds(run) -> None:  # type: ignore[no-untyped-def]
    simulation, result, _ = run
    assert len(_writes(result, "patch_resources", "Deployment/shop/cart")) == 1
    cart = simulation.cluster.workloads[ObjectRef("Deployment", "cart", "shop")]
    assert cart.template.limits["memory"] == "576Mi"  # 384Mi x 1.5, under the 2Gi cap
    (decision,) = _decisions(result, "oom-raise-memory-limit")
    assert decision.status == "verified"  # type: ignore[attr-defined]


def test_nodes_are_cordoned_and_drained_one_at_a_time(run) -> None:  # type: ignore[no-untyped-def]
    _, result, _ = run
    drains = sorted((at, target) for at, op, target in result.writes if op == "drain")
    assert [t for _, t in drains] == ["Node/node-b", "Node/node-c"]
    executions = {
        e["target"]: e
        for e in result.ledger.executions(
            ["succeeded", "failed", "undone", "escalated", "verifying", "running"]
        )
    }
    first = executions["Node/node-b"]
    assert first["status"] == "succeeded"
    assert first["updated_at"] <= drains[1][0]  # the second began after the first finished


def test_predictive_scaling_beats_the_hpa_alone(run) -> None:  # type: ignore[no-untyped-def]
    _, _, summary = run
    frontend = next(r for r in summary.scaling if r["workload"] == "frontend")
    assert frontend["under_minutes"] < frontend["under_minutes_hpa"]


def test_no_action_runs_twice(run) -> None:  # type: ignore[no-untyped-def]
    _, result, summary = run
    assert summary.duplicate_writes == 0
    keys = [(i.execution_key, i.step) for i in result.ledger.intents()]
    assert len(keys) == len(set(keys))
    assert all(i.status != "pending" for i in result.ledger.intents())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def short_cli_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `simulate --days 0.2 --report` through the CLI, shared by the tests that
    only read its output and report (each used to run the same command, ~7 s apiece)."""
    report = tmp_path_factory.mktemp("short-cli") / "report.html"
    done = _cli("--scenario", str(SHORT), "--days", "0.2", "--report", str(report))
    return done, report


def test_cli_writes_a_report_with_plots(
    short_cli_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, report = short_cli_run
    assert done.returncode == 0, done.stderr
    assert "Scaling (under-provisioned minutes" in done.stdout
    text = report.read_text()
    assert text.count("<svg") >= 5 and "<polyline" in text


def test_a_short_run_says_which_faults_it_left_out_and_charts_only_its_window(
    short_cli_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # 0.2 days (4.8 h) of a scenario whose faults start at 4 h: six of seven come later.
    done, report = short_cli_run
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "day  0.2  bad rollout of shop/checkout:18 on checkout" in out
    assert (
        "(6 of the scenario's 7 faults come after the simulated 0.2 days and were not "
        "injected; the first is at day 0.25: run more days (--days) to see them)"
    ) in out
    text = report.read_text()
    assert "7 faults come after the simulated 0.2 days and were not injected" in text
    # Every chart is drawn over the simulated window, not over the detector's history.
    assert ">day -" not in text
    assert text.count(">day 0<") == text.count("<svg")
    # The report invites `autonomic explain ID`: each decision row shows its id.
    assert "<th>decision id</th>" in text


def test_a_run_with_no_fault_and_no_decision_says_so(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    calm = tmp_path / "calm.yaml"
    lines = SHORT.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "faults:")
    kept = [line for line in lines[start + 1 :] if not line.lstrip().startswith("- {at:")]
    calm.write_text("\n".join([*lines[:start], "  faults: []", *kept]) + "\n")
    done = _cli("--scenario", str(calm), "--days", "0.05", "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert "Remediations and canary verdicts\n  none\n" in done.stdout
    assert "Faults injected\n  none\n" in done.stdout
    assert "come after the simulated" not in done.stdout
    text = report.read_text()
    assert "No remediation or canary decision in this run." in text
    assert "<tr><td colspan=3>None.</td></tr>" in text


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s.replace("capacityPerPod: 80", "capacityPerPod: -1"),
            r"short-bad.yaml:\d+: spec.workloads\[3\].capacityPerPod",
        ),
        (
            lambda s: s.replace("type: surge", "type: meteor"),
            r"short-bad.yaml:\d+: spec.faults\[6\]",
        ),
        (lambda s: s.replace("days: 1.25", "days: 1.25\n  dayz: 2"), r"spec.dayz: unknown key"),
        (
            lambda s: s.replace("trace: nasa, scale: 1,", "trace: nope, scale: 1,"),
            r"short-bad.yaml:\d+: spec.workloads\[\d\].trace: workload '\w+' uses trace "
            r"'nope', which is not defined \(spec.traces names: nasa\)",
        ),
    ],
)
def test_bad_scenarios_name_file_line_and_field(tmp_path: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "short-bad.yaml"
    bad.write_text(edit(SHORT.read_text()))
    report = tmp_path / "report.html"
    done = _cli("--scenario", str(bad), "--report", str(report))
    assert done.returncode == 2
    assert __import__("re").search(expected, done.stderr), done.stderr
    assert not report.exists()  # nothing half-run


def test_bad_traces_are_clear_errors_and_nothing_runs(tmp_path: Path) -> None:
    garbage = tmp_path / "trace.csv"
    garbage.write_text("timestamp,requests\n2026-01-01T00:00:00Z,5\n2026-01-01T00:01:00Z,lots\n")
    text = SHORT.read_text().replace(
        '{name: nasa, builtin: nasa-http, start: "1995-07-10T00:00:00"}',
        f"{{name: nasa, file: {garbage}}}",
    )
    scenario = tmp_path / "garbage.yaml"
    scenario.write_text(text)
    report = tmp_path / "report.html"
    done = _cli("--scenario", str(scenario), "--report", str(report))
    assert (
        done.returncode == 2
        and "trace.csv:3: column 'requests': 'lots' is not a number" in done.stderr
    )
    missing = tmp_path / "missing.yaml"
    missing.write_text(text.replace(str(garbage), str(tmp_path / "nowhere.csv")))
    done = _cli("--scenario", str(missing), "--report", str(report))
    assert done.returncode == 2 and "does not exist" in done.stderr
    gap = SHORT.read_text().replace('start: "1995-07-10T00:00:00"', 'start: "1995-07-28T00:00:00"')
    gapped = tmp_path / "gap.yaml"
    gapped.write_text(gap)
    done = _cli("--scenario", str(gapped), "--report", str(report))
    assert done.returncode == 2 and "minutes missing" in done.stderr
    assert not report.exists()


@pytest.mark.browser
def test_report_renders_its_plots_in_a_real_browser(
    tmp_path: Path, short_cli_run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run should have installed it")
        pytest.skip("chromium is not installed here (run .ci/run to install it)")
    done, report = short_cli_run
    assert done.returncode == 0, done.stderr
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") >= 5 and "<polyline" in dom.stdout
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [chromium, *flags, "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and shot.exists()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank page is ~5 KB


def test_interactive_answers_come_from_the_terminal(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    ledger = tmp_path / "ledger.sqlite"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "simulate",
            "--quiet",
            "--interactive",
            "--scenario",
            str(SHORT),
            "--days",
            "0.3",
            "--report",
            str(report),
            "--ledger",
            str(ledger),
        ],
        input="r\n" * 50,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Autonomic asks" in done.stderr
    from agent.ledger import open_ledger

    opened = open_ledger(f"sqlite:///{ledger}", 0)
    answered = [q for q in opened.questions(status=None) if q.answered_by == "terminal"]
    opened.close()
    assert answered and all(q.status == "rejected" for q in answered)


# --- fault bands over each fault's real span -------------------------------------------


def _span(result: SimResult, starts: str) -> tuple[float, float | None, str]:
    (span,) = [s for s in result.fault_spans if s.note.startswith(starts)]
    return (
        span.start - result.start,
        None if span.end is None else span.end - result.start,
        span.ended,
    )


def test_each_fault_spans_what_it_lasted(run) -> None:  # type: ignore[no-untyped-def]
    _, result, _ = run
    surge = _span(result, "surge x2.5 on frontend")
    assert surge == (21 * 3600, 21 * 3600 + 50 * 60, "its 50 min passed")
    node = _span(result, "node node-b NotReady")
    assert node == (12 * 3600, 15 * 3600, "its 3 h passed")
    # The good canary ends when the delivery tool promotes it, inside its 70 minutes.
    start, end, why = _span(result, "good canary shop/search:4")
    (promoted,) = [at for at, note in result.faults if note.startswith("delivery tool promoted")]
    assert start == 10 * 3600 and end == promoted - result.start < 10 * 3600 + 70 * 60
    assert why == "the delivery tool promoted it"
    # The bad canary, rolled back, stays until its window ends (as a delivery tool keeps it).
    assert _span(result, "bad canary shop/search:5") == (
        17 * 3600,
        18 * 3600,
        "its 1 h window ended",
    )
    # The bad rollout ends when it is rolled back: the rollback's write.
    (rollback,) = [
        at
        for at, op, target in result.writes
        if (op, target) == ("rollback", "Deployment/shop/checkout")
    ]
    start, end, why = _span(result, "bad rollout of shop/checkout:18")
    assert start == 4 * 3600 and end is not None and rollback - result.start <= end
    assert end - (rollback - result.start) <= 60  # seen within a tick or two of the write
    assert why == "shop/checkout:18 was rolled back"
    # A leak never stops.
    assert _span(result, "memory leak")[1] is None


def _band_width(text: str, starts: str) -> float:
    """The width, in pixels, of the band whose hover text starts with ``starts``, on the
    workload's own chart (the first such band in the report)."""
    found = re.search(
        r'<rect x="[\d.]+" y="\d+" width="([\d.]+)" height="\d+" fill="#ffdd99" '
        rf'opacity="0.45"><title>{re.escape(starts)}',
        text,
    )
    assert found is not None, starts
    return float(found.group(1))


def test_the_report_draws_each_band_over_that_span(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, result, summary = run
    report = tmp_path / "report.html"
    write_html(result, summary, report, peak_mb=1.0)
    text = report.read_text()
    plot = 1100 - 70 - 20  # the chart's width less its margins
    per_second = plot / result.seconds
    assert _band_width(text, "surge x2.5 on frontend") == pytest.approx(50 * 60 * per_second, 0.01)
    node = _band_width(text, "node node-b NotReady")
    assert node == pytest.approx(3 * 3600 * per_second, 0.01)
    leak = _band_width(text, "memory leak")
    assert leak == pytest.approx((result.seconds - 6 * 3600) * per_second, 0.01)
    assert "surge x2.5 on frontend: day 0.88 to day 0.91 (its 50 min passed)</title>" in text
    assert "from its start to the end of the run (raising the limit does not stop a leak)" in text
