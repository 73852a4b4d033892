"""The simulation's summary and report say of each fault until when it acted and what
ended it, and the report's anomaly charts cover the whole run, with the unit of what they
plot.

Before, the summary's and the report's "Faults injected" gave only each fault's start
(what ended it was in the report's hover text alone); an anomaly chart drew only its
first 400 anomalous points, so the end of a busy week was drawn bare (the default week's
cart latency had no dot after day 5.4), and its y axis was labelled "value"."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from agent.sim.report import Summary, terminal_summary, write_html
from agent.sim.run import FaultSpan, SimResult
from agent.sim.scenario import load_scenario

START = 1_700_006_400.0
DAY = 86400.0


def _result(**fields: Any) -> SimResult:
    default = Path(str(resources.files("agent").joinpath("data/scenarios/default.yaml")))
    values: dict[str, Any] = {
        "scenario": load_scenario(default),
        "start": START,
        "seconds": 7 * DAY,
        "wall_seconds": 1.0,
        "ledger_url": "sqlite:///l.sqlite",
        "timelines": {},
        "capacity_per_pod": {},
        "faults": [],
        "anomaly_points": {},
        "thresholds": [],
        "writes": [],
        "events": [],
        "ledger": None,
        "traces": {},
    }
    values.update(fields)
    return SimResult(**values)


def _summary() -> Summary:
    return Summary([], [], {}, [], {}, [], Counter(), 0)


def test_each_fault_is_listed_with_until_when_it_acted_and_what_ended_it(
    tmp_path: Path,
) -> None:
    rollout, leak, node = (
        "bad rollout of c:2 on checkout",
        "memory leak 1 MiB/h on cart",
        ("node n1 NotReady for 3 h"),
    )
    result = _result(
        faults=[
            (START + 0.5 * DAY, rollout),
            (START + 0.55 * DAY, "delivery tool promoted s:4 on search"),  # no span
            (START + 3 * DAY, leak),
            (START + 6.95 * DAY, node),
        ],
        fault_spans=[
            FaultSpan(START + 0.5 * DAY, rollout, START + 0.6 * DAY, "c:2 was rolled back"),
            FaultSpan(START + 3 * DAY, leak, None, "a leak never stops"),
            FaultSpan(START + 6.95 * DAY, node, START + 7.1 * DAY, "its 3 h passed"),
        ],
    )
    text = terminal_summary(result, _summary(), peak_mb=1.0)
    faults = text.split("Faults injected")[1].split("\n\n")[0].splitlines()[1:]
    assert faults == [
        "  day  0.5  bad rollout of c:2 on checkout",
        "            until day 0.60: c:2 was rolled back",
        "  day  0.6  delivery tool promoted s:4 on search",
        "  day  3.0  memory leak 1 MiB/h on cart",
        "            until day 7.00: a leak never stops",
        "  day  7.0  node n1 NotReady for 3 h",
        "            until day 7.00: still on at the end of the run",
    ]
    # The report's table of faults says the same, in a column of its own.
    report = tmp_path / "r.html"
    write_html(result, _summary(), report, peak_mb=1.0)
    table = report.read_text().split("<h2>Faults injected</h2>")[1].split("</table>")[0]
    assert re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table) == [
        ("day 0.50", rollout, "day 0.60: c:2 was rolled back"),
        ("day 0.55", "delivery tool promoted s:4 on search", ""),
        ("day 3.00", leak, "day 7.00: a leak never stops"),
        ("day 6.95", node, "day 7.00: still on at the end of the run"),
    ]


def test_an_anomaly_chart_draws_the_whole_run_with_its_unit(tmp_path: Path) -> None:
    # 1,008 anomalous points, one every 10 minutes of the week.
    points = [
        (START + 600.0 * i, 60.0, 50.0, 40.0, 55.0, "spike") for i in range(int(7 * DAY / 600))
    ]
    result = _result(
        anomaly_points={
            "cart-latency{deployment=cart,namespace=shop}": points,
            "cart-errors{deployment=cart,namespace=shop}": [
                (START + 60.0, 0.2, 0.0, 0.0, 0.01, "spike")
            ],
        }
    )
    report = tmp_path / "r.html"
    write_html(result, _summary(), report, peak_mb=1.0)
    charts = {
        re.search(r"<text[^>]*>anomalies: ([\w-]+)", svg).group(1): svg  # type: ignore[union-attr]
        for svg in re.findall(r"<svg.*?</svg>", report.read_text(), re.S)
        if "anomalies: " in svg
    }
    latency, errors = charts["cart-latency"], charts["cart-errors"]
    days = [float(d) for d in re.findall(r"<title>spike at day ([\d.]+)</title>", latency)]
    assert len(days) == 336 and days[0] == 0.0 and days[-1] > 6.9  # every 3rd, to the end
    assert "(every 3rd of 1008 anomalous points drawn)" in latency
    assert ">latency (ms)<" in latency and ">value<" not in latency
    assert ">error ratio (errors / requests)<" in errors and "every" not in errors
