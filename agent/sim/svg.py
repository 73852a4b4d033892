"""Small, dependency-free SVG charts for the simulation report."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Chart", "Line", "Marker", "Span"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


@dataclass
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = PALETTE[0]
    width: float = 1.5
    dashed: bool = False
    step: bool = False


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
    width: int = 1100
    height: int = 300
    x_origin: float = 0.0  # x values are seconds; ticks are shown in days from here
    y_min: float | None = None
    y_max: float | None = None

    def render(self) -> str:
        left, right, top, bottom = 70, 20, 34, 40
        w, h = self.width - left - right, self.height - top - bottom
        xs = [x for line in self.lines for x in line.xs] + [m.x for m in self.markers]
        ys = [y for line in self.lines for y in line.ys if math.isfinite(y)]
        ys += [m.y for m in self.markers if math.isfinite(m.y)]
        if not xs:
            return f"<p>{html.escape(self.title)}: no data</p>"
        x0, x1 = min(xs), max(xs)
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
        for i in range(6):  # horizontal grid and y ticks
            value = y0 + (y1 - y0) * i / 5
            y = sy(value)
            out.append(
                f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            )
            out.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                f"{_fmt(value)}</text>"
            )
        day0 = math.floor((x0 - self.x_origin) / 86400)
        day1 = math.ceil((x1 - self.x_origin) / 86400)
        for day in range(day0, day1 + 1):
            x = self.x_origin + day * 86400
            if x0 <= x <= x1:
                out.append(
                    f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" '
                    f'y2="{top + h}" class="grid"/>'
                )
                out.append(
                    f'<text x="{sx(x):.1f}" y="{top + h + 16}" class="tick" '
                    f'text-anchor="middle">day {day}</text>'
                )
        out.append(
            f'<text x="16" y="{top + h / 2:.0f}" class="axis" transform="rotate(-90 16 '
            f'{top + h / 2:.0f})" text-anchor="middle">{html.escape(self.y_label)}</text>'
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
        legend_x = left + 8
        for line in self.lines:
            out.append(
                f'<rect x="{legend_x}" y="{top + 6}" width="14" height="3" fill="{line.color}"/>'
            )
            out.append(
                f'<text x="{legend_x + 18}" y="{top + 11}" class="legend">'
                f"{html.escape(line.label)}</text>"
            )
            legend_x += 26 + 7 * len(line.label)
        out.append("</svg>")
        return "\n".join(out)


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
        y = max(chunk) if stride > 1 else chunk[0]
        x = xs[i]
        if line.step and previous_y is not None:
            parts.append(f"{sx(x):.1f},{sy(previous_y):.1f}")  # type: ignore[operator]
        parts.append(f"{sx(x):.1f},{sy(y):.1f}")  # type: ignore[operator]
        previous_y = y
    return " ".join(parts)
