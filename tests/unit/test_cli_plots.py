"""``--plot FILE.svg`` on forecast, replay, calibration and detect: the SVG says what the
command computed, and the command's own output is the same with or without it."""

from __future__ import annotations

import csv
import io
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from agent.charts import Chart, Line
from agent.cli import main
from agent.cli._plot import thin_band, time_axis, write_plot
from agent.errors import InputError
from tests.unit.learning.test_calibration_cmd import small_ledger

SVG = "{http://www.w3.org/2000/svg}"


def _svg(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return root


def _title(element: ET.Element) -> str:
    child = element.find(f"{SVG}title")
    return "" if child is None or child.text is None else child.text


def _chart_title(root: ET.Element) -> str:
    for text in root.iter(f"{SVG}text"):
        if text.get("class") == "title":
            return text.text or ""
    raise AssertionError("no chart title")


def _classed(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == name]


def _series_lines(root: ET.Element) -> dict[str, ET.Element]:
    return {_title(e): e for e in _classed(root, "series")}


def _spans(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}rect") if _title(e).startswith(prefix)]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# forecast


def _forecast_csv(path: Path, n: int = 120, constant: bool = False) -> Path:
    rows = []
    for i in range(n):
        value = 50.0 if constant else 100 + 30 * math.sin(2 * math.pi * i / 24) + (i % 5)
        rows.append(f"{1_700_000_000 + 3600 * i},{value:.3f}")
    path.write_text("timestamp,rps\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("levels", [None, "50,80,99"])
def test_forecast_plot_has_history_mean_and_a_band_per_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], levels: str | None
) -> None:
    series = _forecast_csv(tmp_path / "load.csv")
    argv = ["forecast", str(series), "--horizon", "6"]
    argv += ["--levels", levels] if levels else []
    code, plain, _ = _run(argv, capsys)
    assert code == 0
    plot = tmp_path / "forecast.svg"
    code, out, err = _run([*argv, "--plot", str(plot)], capsys)
    assert code == 0
    assert out == plain  # the CSV is untouched
    assert err.strip().splitlines()[-1] == f"autonomic: plot written to {plot}"
    root = _svg(plot)
    expected = [int(v) for v in (levels or "80,95").split(",")]
    bands = _classed(root, "band")
    assert sorted(_title(b) for b in bands) == sorted(f"{v} % interval" for v in expected)
    lines = _series_lines(root)
    assert {"history", "forecast mean"} <= set(lines)
    mean = lines["forecast mean"]
    assert mean.get("stroke-dasharray")  # dashed
    assert len(mean.get("points", "").split()) == 6  # one point per forecast step
    history_points = lines["history"].get("points", "").split()
    assert len(history_points) == 24  # 3 x horizon, at least 24 steps
    # the forecast is to the right of the history
    last_history_x = float(history_points[-1].split(",")[0])
    assert all(float(p.split(",")[0]) > last_history_x for p in mean.get("points", "").split())
    model = next(iter(csv.DictReader(io.StringIO(plain))))["model"]
    assert model in _chart_title(root)


def test_forecast_plot_title_names_the_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = _forecast_csv(tmp_path / "flat.csv", n=60, constant=True)
    plot = tmp_path / "flat.svg"
    code, _, err = _run(["forecast", str(series), "--horizon", "3", "--plot", str(plot)], capsys)
    assert code == 0
    assert "fallback" in err
    assert "fallback: " in _chart_title(_svg(plot))


# replay


def _trace(path: Path, values: np.ndarray) -> Path:
    rows = [
        f"{1_700_000_000 + 60 * i},{'' if np.isnan(v) else f'{v:.3f}'}"
        for i, v in enumerate(values)
    ]
    path.write_text("timestamp,load\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("policy", ["hpa", "oracle"])
def test_replay_plot_shades_the_under_provisioned_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str
) -> None:
    values = np.concatenate([np.full(120, 50.0), np.full(120, 150.0)])
    trace = _trace(tmp_path / "trace.csv", values)
    argv = ["replay", str(trace), "--startup", "120", "--capacity", "10", "--policy", policy]
    argv += ["--warmup", "0", "--json"]
    code, plain, _ = _run(argv, capsys)
    assert code == 0
    plot = tmp_path / f"{policy}.svg"
    code, out, err = _run([*argv, "--plot", str(plot)], capsys)
    assert code == 0
    assert out == plain  # the text and the JSON last are untouched
    assert f"plot written to {plot}" in err
    report = json.loads(out.strip().splitlines()[-1])
    root = _svg(plot)
    lines = _series_lines(root)
    assert set(lines) == {
        "load in pods needed (load / capacity)",
        "ready pods",
        "all pods (starting included)",
    }
    spans = _spans(root, "under-provisioned")
    markers = _classed(root, "marker")
    if policy == "oracle":
        assert report["under_provisioned_minutes"] == 0
        assert spans == [] and markers == []
    else:
        assert report["under_provisioned_minutes"] > 0
        assert len(spans) == len(markers) >= 1
        # the spans' minutes add up to the reported under-provisioned minutes
        shaded = sum(float(_title(s).split()[1]) for s in spans)
        assert shaded == pytest.approx(report["under_provisioned_minutes"])
        # ...and sit where the load steps up (minute 120 of 240: the middle of the x axis)
        x_min, x_max = 70.0, 1100.0 - 20.0
        middle = float(spans[0].get("x", "0"))
        assert abs((middle - x_min) / (x_max - x_min) - 0.5) < 0.02
    assert f"{report['under_provisioned_minutes']:.2f} min" in _chart_title(root)
    assert _spans(root, "warm-up") == []  # --warmup 0


def test_replay_plot_of_a_warm_up_shades_it_grey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _trace(tmp_path / "trace.csv", np.full(240, 70.0))
    plot = tmp_path / "warm.svg"
    argv = ["replay", str(trace), "--startup", "60", "--capacity", "10", "--policy", "hpa"]
    assert _run([*argv, "--plot", str(plot)], capsys)[0] == 0
    assert len(_spans(_svg(plot), "warm-up")) == 1  # default warm-up: half the trace


# calibration


def test_calibration_plot_is_a_reliability_diagram(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = small_ledger(tmp_path / "small.sqlite")
    capsys.readouterr()
    code, plain, _ = _run(["calibration", "--ledger", url, "--json"], capsys)
    assert code == 0
    report = json.loads(plain)
    plot = tmp_path / "reliability.svg"
    code, out, err = _run(["calibration", "--ledger", url, "--json", "--plot", str(plot)], capsys)
    assert code == 0
    assert out == plain
    assert f"plot written to {plot}" in err
    root = _svg(plot)
    dots = _classed(root, "marker")
    assert len(dots) == len(report["bins"]) >= 2  # a dot per non-empty bin
    counts = sorted(int(_title(d).split(": ")[1].split()[0]) for d in dots)
    assert counts == sorted(b["count"] for b in report["bins"])
    lines = _series_lines(root)
    diagonal = lines["perfect calibration"]
    assert diagonal.get("stroke-dasharray")
    (x0, y0), (x1, y1) = (map(float, p.split(",")) for p in diagonal.get("points", "").split())
    assert x1 > x0 and y1 < y0  # from (0, 0) bottom left to (1, 1) top right
    # each dot sits at (stated, observed) on the 0..1 axes of the diagonal
    for dot, b in zip(
        sorted(dots, key=lambda d: float(d.get("cx", "0"))),
        sorted(report["bins"], key=lambda b: b["mean_confidence"]),
        strict=True,
    ):
        assert float(dot.get("cx", "0")) == pytest.approx(
            x0 + b["mean_confidence"] * (x1 - x0), abs=0.2
        )
        assert float(dot.get("cy", "0")) == pytest.approx(
            y0 + b["observed_rate"] * (y1 - y0), abs=0.2
        )
    assert f"ECE {report['ece']:.3f}" in _chart_title(root)


def test_calibration_plot_of_an_empty_ledger_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.ledger import open_ledger

    plot = tmp_path / "empty.svg"
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    open_ledger(url, 0.0).close()  # a ledger the daemon created, with nothing in it yet
    assert _run(["calibration", "--ledger", url, "--plot", str(plot)], capsys)[0] == 0
    root = _svg(plot)
    assert _classed(root, "marker") == []
    assert "no actionable decisions" in _chart_title(root)


# detect


def _detect_csv(path: Path) -> Path:
    rows = []
    for i in range(600):
        value = 100 + 10 * math.sin(i / 20)
        if i in (300, 450):
            value += 80
        rows.append(f"{1_700_000_000 + 60 * i},{value:.4f}")
    path.write_text("timestamp,latency\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_detect_plot_marks_every_flagged_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = _detect_csv(tmp_path / "in.csv")
    code, plain, plain_err = _run(["detect", str(series)], capsys)
    assert code == 0
    plot = tmp_path / "detect.svg"
    code, out, err = _run(["detect", str(series), "--plot", str(plot)], capsys)
    assert code == 0
    assert out == plain
    assert err.startswith(plain_err) and f"plot written to {plot}" in err
    flagged = [r for r in csv.DictReader(io.StringIO(plain)) if float(r["anomaly_score"]) >= 0.69]
    assert len(flagged) >= 2
    root = _svg(plot)
    markers = _classed(root, "marker")
    assert len(markers) == len(flagged)
    assert sorted(_title(m).split()[0] for m in markers) == sorted(r["reason"] for r in flagged)
    assert len(_classed(root, "band")) == 1
    assert set(_series_lines(root)) == {"latency"}
    assert f"{len(flagged)} of 600 rows flagged" in _chart_title(root)


# errors and helpers


@pytest.mark.parametrize("command", ["forecast", "replay", "detect", "calibration"])
def test_unwritable_plot_path_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    data = _forecast_csv(tmp_path / "load.csv")
    argv = {
        "forecast": ["forecast", str(data), "--horizon", "3"],
        "replay": ["replay", str(data), "--startup", "60", "--capacity", "50", "--policy", "hpa"],
        "detect": ["detect", str(data)],
        "calibration": ["calibration", "--ledger", f"sqlite:///{tmp_path / 'l.sqlite'}"],
    }[command]
    missing = tmp_path / "no" / "such" / "dir" / "x.svg"
    code, out, err = _run([*argv, "--plot", str(missing)], capsys)
    assert code == 2
    assert f"autonomic: error: --plot {missing}: the folder {missing.parent} does not exist" in err
    assert "Traceback" not in err and out == ""  # failed before doing any work
    code, _, err = _run([*argv, "--plot", str(tmp_path)], capsys)
    assert code == 2 and f"--plot {tmp_path}: is a directory; give a file such as" in err


def test_write_plot_reports_write_failures_and_empty_charts(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to plot"):
        write_plot(Chart("empty", "y"), tmp_path / "empty.svg")
    assert not (tmp_path / "empty.svg").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    chart = Chart("diagonal", "y", [Line("l", [0.0, 1.0], [0.0, 1.0])])
    with pytest.raises(InputError, match=r"a-file/x\.svg: cannot write the plot"):
        write_plot(chart, blocker / "x.svg")


def test_time_axis_units_and_band_thinning_keep_the_envelope() -> None:
    assert time_axis(0.0, 3600.0, "since t0").unit_name == "minutes"
    assert time_axis(0.0, 86400.0, "since t0").unit_name == "hours"
    days = time_axis(1_700_000_000.0, 30 * 86400.0, "since the trace start")
    assert days.unit_name == "days" and "(2023-11-14 22:13 UTC)" in days.label
    assert days(1_700_000_000.0 + 86400.0) == pytest.approx(1.0)
    xs = [float(i) for i in range(10_000)]
    lows = [0.0] * 10_000
    highs = [1.0] * 10_000
    lows[4321], highs[8765] = -5.0, 9.0
    highs[7] = math.nan
    tx, tl, th = thin_band(xs, lows, highs)
    assert len(tx) <= 1500 * 2 and len(tx) == len(tl) == len(th)
    assert min(tl) == -5.0 and max(th) == 9.0
