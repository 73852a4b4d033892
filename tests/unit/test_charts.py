"""The SVG charts: standalone files that parse, numeric axes, bands, dots and legends."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from agent.charts import Band, Chart, Line, Marker, _nice_ticks

NS = "{http://www.w3.org/2000/svg}"


def parse(chart: Chart) -> ET.Element:
    return ET.fromstring(chart.document().split("\n", 1)[1])


def texts(root: ET.Element, cls: str) -> list[str]:
    return [el.text or "" for el in root.iter(f"{NS}text") if el.get("class") == cls]


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 6162, [0, 1000, 2000, 3000, 4000, 5000, 6000]),
        (0, 1, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-3, 3, [-3, -2, -1, 0, 1, 2, 3]),
        (5, 5, [5]),
    ],
)
def test_ticks_are_round_numbers_covering_the_range(
    lo: float, hi: float, expected: list[float]
) -> None:
    assert _nice_ticks(lo, hi) == expected


def test_value_axis_document_has_style_ticks_label_and_one_dot_per_point() -> None:
    chart = Chart(
        "frontier",
        "minutes",
        lines=[Line("hpa", [40_000, 46_000, 53_000], [5_706, 3_027, 1_462], dots=True)],
        markers=[Marker(46_517, 5, "oracle", shape="square")],
        x_axis="value",
        x_label="replica-hours",
    )
    text = chart.document()
    assert text.startswith('<?xml version="1.0"')
    root = parse(chart)
    assert root.find(f"{NS}style") is not None
    assert "40,000" in texts(root, "tick") and "50,000" in texts(root, "tick")
    assert "day 0" not in texts(root, "tick")
    assert "replica-hours" in texts(root, "axis")
    dots = [c for c in root.iter(f"{NS}circle") if c.get("class") == "dot"]
    assert len(dots) == 3
    assert dots[0].findtext(f"{NS}title") == "hpa: 40,000, 5,706"
    # the lowest y value is drawn lowest (SVG y grows downwards)
    assert float(dots[2].get("cy", "0")) > float(dots[0].get("cy", "0"))
    assert len([r for r in root.iter(f"{NS}rect") if r.get("class") == "marker"]) == 1


def test_days_axis_keeps_day_ticks() -> None:
    chart = Chart("load", "rps", lines=[Line("rps", [0.0, 86_400.0, 172_800.0], [1, 2, 3])])
    assert texts(parse(chart), "tick").count("day 1") == 1


def test_band_is_one_polygon_around_the_finite_points() -> None:
    chart = Chart(
        "forecast",
        "rps",
        bands=[Band("95 %", [0, 1, 2, 3], [1, 2, float("nan"), 1], [3, 4, 5, 3])],
        x_axis="value",
    )
    polygons = [p for p in parse(chart).iter(f"{NS}polygon") if p.get("class") == "band"]
    assert len(polygons) == 1
    assert len(polygons[0].get("points", "").split()) == 6  # 3 finite points, up and back


def test_legend_wraps_and_can_sit_at_the_bottom() -> None:
    lines = [Line(f"a rather long legend entry {i}", [0, 1], [0, 1]) for i in range(6)]
    top = Chart("t", "y", lines=lines, x_axis="value", width=500)
    bottom = Chart("t", "y", lines=lines, x_axis="value", width=500, legend="bottom")
    top_y = {
        float(t.get("y", "0")) for t in parse(top).iter(f"{NS}text") if t.get("class") == "legend"
    }
    bottom_y = {
        float(t.get("y", "0"))
        for t in parse(bottom).iter(f"{NS}text")
        if t.get("class") == "legend"
    }
    assert len(top_y) > 1  # wrapped onto several rows
    assert len(bottom_y) == len(top_y) and min(bottom_y) > max(top_y)


def test_nothing_to_plot_and_bad_options_are_errors() -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        Chart("empty", "y").document()
    with pytest.raises(ValueError, match="x_axis"):
        Chart("t", "y", lines=[Line("a", [0, 1], [0, 1])], x_axis="log").render()
    with pytest.raises(ValueError, match="legend"):
        Chart("t", "y", lines=[Line("a", [0, 1], [0, 1])], legend="left").render()


def test_thinning_keeps_peaks_or_dips_as_asked() -> None:
    xs = list(range(6000))
    ys = [10.0] * 6000
    ys[3001] = 1.0  # one short dip
    ys[4501] = 50.0  # one short peak

    def drawn(keep: str) -> list[float]:
        chart = Chart("t", "y", lines=[Line("l", xs, ys, keep=keep)], x_axis="value")
        chart.y_min, chart.y_max = 0.0, 50.0
        root = parse(chart)
        polyline = next(root.iter(f"{NS}polyline"))
        points = polyline.get("points", "").split()
        assert len(points) <= 1600
        return sorted({float(p.split(",")[1]) for p in points})

    low, high = drawn("min"), drawn("max")
    # SVG y grows downwards: the dip is the largest y, the peak the smallest
    assert len(low) == 2 and len(high) == 2
    assert max(low) > max(high)  # only "min" kept the dip
    assert min(high) < min(low)  # only "max" kept the peak
