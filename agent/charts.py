"""Small, dependency-free SVG charts: the simulation report, the CLI's ``--plot`` files and
the benchmark plots.

A ``Chart`` renders either a fragment for an HTML page that carries ``CSS`` itself
(``render()``) or a standalone ``.svg`` file with the style embedded (``document()``).
The x axis is time (seconds, ticks in days from ``x_origin``) or plain numbers
(``x_axis="value"``, with ``x_label``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["CSS", "PALETTE", "Band", "Chart", "Line", "Marker", "Span"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")

CSS = """
svg.chart { border: 1px solid #eee; margin: 6px 0 14px; background: #fff; }
svg .title { font-size: 14px; font-weight: 600; } svg .tick { font-size: 11px; fill: #555; }
svg .axis { font-size: 12px; fill: #333; } svg .legend { font-size: 12px; fill: #333; }
svg .grid { stroke: #eee; }
"""


@dataclass
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = PALETTE[0]
    width: float = 1.5
    dashed: bool = False
    step: bool = False
    dots: bool = False  # a dot on every point (for a few points, such as a sweep)
    # A long line is thinned to about 1,500 points; each kept point shows its chunk's
    # "max" (peaks stay visible: load) or "min" (dips stay visible: ready capacity).
    keep: str = "max"


@dataclass
class Band:
    """A shaded area between ``lows`` and ``highs`` (for example a prediction interval)."""

    label: str
    xs: Sequence[float]
    lows: Sequence[float]
    highs: Sequence[float]
    color: str = PALETTE[0]
    opacity: float = 0.2


@dataclass
class Marker:
    x: float
    y: float
    label: str
    color: str = "#d62728"
    shape: str = "circle"  # circle | triangle | square


@dataclass
class Span:
    x0: float
    x1: float
    label: str
    color: str = "#ffdd99"


@dataclass
class Chart:
    title: str
    y_label: str
    lines: list[Line] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    width: int = 1100
    height: int = 300
    x_origin: float = 0.0  # x values are seconds; ticks are shown in days from here
    y_min: float | None = None
    y_max: float | None = None
    x_axis: str = "days"  # "days": x in seconds, ticks in days; "value": numeric ticks
    x_label: str = ""
    x_min: float | None = None
    x_max: float | None = None
    x_ticks: Sequence[float] | None = None  # explicit ticks for a "value" axis
    legend: str = "top"  # "top" or "bottom" of the plot area

    def document(self) -> str:
        """A standalone SVG file: the chart with its style embedded and a white background."""
        body = self.render()
        if not body.startswith("<svg"):
            raise ValueError(f"{self.title}: nothing to plot")
        head, rest = body.split("\n", 1)
        style = f"<style>{CSS}</style>"
        background = '<rect width="100%" height="100%" fill="#fff"/>'
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{head}\n{style}\n{background}\n{rest}\n'

    def render(self) -> str:
        if self.x_axis not in ("days", "value"):
            raise ValueError(f"x_axis is 'days' or 'value', not {self.x_axis!r}")
        if self.legend not in ("top", "bottom"):
            raise ValueError(f"legend is 'top' or 'bottom', not {self.legend!r}")
        for line in self.lines:
            if line.keep not in ("max", "min"):
                raise ValueError(f"line {line.label!r}: keep is 'max' or 'min', not {line.keep!r}")
        left, right, top = 70, 20, 34
        bottom = 40 if self.x_axis == "days" and not self.x_label else 54
        w, h = self.width - left - right, self.height - top - bottom
        xs = [x for line in self.lines for x in line.xs] + [m.x for m in self.markers]
        ys = [y for line in self.lines for y in line.ys if math.isfinite(y)]
        ys += [m.y for m in self.markers if math.isfinite(m.y)]
        for band in self.bands:
            xs += list(band.xs)
            ys += [y for y in (*band.lows, *band.highs) if math.isfinite(y)]
        if not xs:
            return f"<p>{html.escape(self.title)}: no data</p>"
        x0 = self.x_min if self.x_min is not None else min(xs)
        x1 = self.x_max if self.x_max is not None else max(xs)
        y0 = self.y_min if self.y_min is not None else min(0.0, min(ys, default=0.0))
        y1 = self.y_max if self.y_max is not None else max(ys, default=1.0) * 1.08
        if x1 <= x0:
            x1 = x0 + 1
        if y1 <= y0:
            y1 = y0 + 1

        def sx(x: float) -> float:
            return left + (x - x0) / (x1 - x0) * w

        def sy(y: float) -> float:
            y = min(max(y, y0), y1)
            return top + h - (y - y0) / (y1 - y0) * h

        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{html.escape(self.title)}">',
            f'<text x="{left}" y="20" class="title">{html.escape(self.title)}</text>',
        ]
        for span in self.spans:
            out.append(
                f'<rect x="{sx(span.x0):.1f}" y="{top}" '
                f'width="{max(sx(span.x1) - sx(span.x0), 1):.1f}" '
                f'height="{h}" fill="{span.color}" opacity="0.45"><title>{html.escape(span.label)}'
                "</title></rect>"
            )
        for value in _nice_ticks(y0, y1):  # horizontal grid and y ticks
            y = sy(value)
            out.append(
                f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            )
            out.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                f"{_fmt(value)}</text>"
            )
        for x, text in self._x_ticks(x0, x1):
            out.append(
                f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{top + h}" class="grid"/>'
            )
            out.append(
                f'<text x="{sx(x):.1f}" y="{top + h + 16}" class="tick" '
                f'text-anchor="middle">{text}</text>'
            )
        if self.x_label:
            out.append(
                f'<text x="{left + w / 2:.0f}" y="{top + h + 36}" class="axis" '
                f'text-anchor="middle">{html.escape(self.x_label)}</text>'
            )
        out.append(
            f'<text x="16" y="{top + h / 2:.0f}" class="axis" transform="rotate(-90 16 '
            f'{top + h / 2:.0f})" text-anchor="middle">{html.escape(self.y_label)}</text>'
        )
        for band in self.bands:
            outline = [
                (x, lo, hi)
                for x, lo, hi in zip(band.xs, band.lows, band.highs, strict=False)
                if math.isfinite(lo) and math.isfinite(hi)
            ]
            if outline:
                upper = [f"{sx(x):.1f},{sy(hi):.1f}" for x, _, hi in outline]
                lower = [f"{sx(x):.1f},{sy(lo):.1f}" for x, lo, _ in reversed(outline)]
                out.append(
                    f'<polygon points="{" ".join(upper + lower)}" fill="{band.color}" '
                    f'opacity="{band.opacity}" stroke="none" class="band"><title>'
                    f"{html.escape(band.label)}</title></polygon>"
                )
        for line in self.lines:
            points = _points(line, sx, sy)
            if points:
                dash = ' stroke-dasharray="5 3"' if line.dashed else ""
                out.append(
                    f'<polyline class="series" fill="none" stroke="{line.color}" '
                    f'stroke-width="{line.width}"{dash} points="{points}"><title>'
                    f"{html.escape(line.label)}</title></polyline>"
                )
            if line.dots:
                for x, y in zip(line.xs, line.ys, strict=False):
                    if math.isfinite(x) and math.isfinite(y):
                        out.append(
                            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" '
                            f'fill="{line.color}" class="dot"><title>{html.escape(line.label)}: '
                            f"{_fmt(x)}, {_fmt(y)}</title></circle>"
                        )
        for m in self.markers:
            x, y = sx(m.x), sy(m.y)
            label = html.escape(m.label)
            if m.shape == "triangle":
                shape = (
                    f'<polygon points="{x:.1f},{y - 6:.1f} {x - 5:.1f},{y + 4:.1f} '
                    f'{x + 5:.1f},{y + 4:.1f}" fill="{m.color}"'
                )
            elif m.shape == "square":
                shape = (
                    f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{m.color}"'
                )
            else:
                shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{m.color}"'
            out.append(f'{shape} class="marker"><title>{label}</title></{_tag(m.shape)}>')
        placed: list[tuple[float, int, Line]] = []  # x, row, line
        legend_x, row = left + 8.0, 0
        for line in self.lines:
            advance = 32 + 7.5 * len(line.label)
            if legend_x > left + 8 and legend_x + advance > left + w:
                legend_x, row = left + 8.0, row + 1  # wrap onto a new row
            placed.append((legend_x, row, line))
            legend_x += advance
        rows = placed[-1][1] + 1 if placed else 0
        for legend_x, row, line in placed:
            if self.legend == "bottom":
                legend_y = top + h - 12 - 16 * (rows - 1 - row)
            else:
                legend_y = top + 6 + 16 * row
            out.append(
                f'<rect x="{legend_x:.0f}" y="{legend_y}" width="14" height="3" '
                f'fill="{line.color}"/>'
            )
            out.append(
                f'<text x="{legend_x + 18:.0f}" y="{legend_y + 5}" class="legend">'
                f"{html.escape(line.label)}</text>"
            )
        out.append("</svg>")
        return "\n".join(out)

    def _x_ticks(self, x0: float, x1: float) -> list[tuple[float, str]]:
        if self.x_axis == "days":
            day0 = math.floor((x0 - self.x_origin) / 86400)
            day1 = math.ceil((x1 - self.x_origin) / 86400)
            ticks = [(self.x_origin + day * 86400, f"day {day}") for day in range(day0, day1 + 1)]
            return [(x, text) for x, text in ticks if x0 <= x <= x1]
        values = _nice_ticks(x0, x1) if self.x_ticks is None else list(self.x_ticks)
        return [(x, _fmt(x)) for x in values if x0 <= x <= x1]


def _nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    candidates = [m * magnitude for m in (0.5, 1, 2, 2.5, 5, 10)]
    spacing = min(candidates, key=lambda c: abs((hi - lo) / c - (count - 1)))
    first = math.ceil(lo / spacing) * spacing
    ticks = []
    value = first
    while value <= hi + spacing * 1e-9:
        ticks.append(round(value, 12))
        value += spacing
    return ticks


def _tag(shape: str) -> str:
    return {"triangle": "polygon", "square": "rect"}.get(shape, "circle")


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}"


def _points(line: Line, sx: object, sy: object) -> str:
    xs, ys = list(line.xs), list(line.ys)
    stride = max(1, len(xs) // 1500)  # enough points for the eye, small files
    parts = []
    previous_y: float | None = None
    for i in range(0, len(xs), stride):
        chunk = [y for y in ys[i : i + stride] if math.isfinite(y)]
        if not chunk:
            continue
        y = (min(chunk) if line.keep == "min" else max(chunk)) if stride > 1 else chunk[0]
        x = xs[i]
        if line.step and previous_y is not None:
            parts.append(f"{sx(x):.1f},{sy(previous_y):.1f}")  # type: ignore[operator]
        parts.append(f"{sx(x):.1f},{sy(y):.1f}")  # type: ignore[operator]
        previous_y = y
    return " ".join(parts)
