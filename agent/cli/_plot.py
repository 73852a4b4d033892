"""What the commands' ``--plot FILE.svg`` share: the flag, the time axis, and writing the file.

The pictures are ``agent.charts`` charts written as standalone SVG files. Each command
says where it wrote one on stderr, so its own output (CSV, JSON, tables) is unchanged.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import InputError

if TYPE_CHECKING:
    from agent.charts import Chart

__all__ = [
    "TimeAxis",
    "add_plot_flag",
    "check_outputs",
    "check_plot_path",
    "thin_band",
    "time_axis",
    "write_plot",
]

_REAL_DATES_FROM = 1e8  # epoch seconds (1973): smaller timestamps are offsets, not dates
_UNITS = ((3 * 3600.0, 60.0, "minutes"), (3 * 86400.0, 3600.0, "hours"))


def add_plot_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.svg",
        help=f"also draw {what} as a picture in FILE.svg (a standalone SVG file)",
    )


def check_plot_path(path: Path | None) -> None:
    """Fail before any work when the plot clearly cannot be written there."""
    from agent.cli._outputs import check_output_file

    if path is not None:
        check_output_file(path, "--plot", "plot.svg", devices=True)


def check_outputs(
    inputs: Sequence[Path | None], outputs: Sequence[tuple[str, Path | None]]
) -> None:
    """Fail before anything is written when an output would be written over an input
    (the same file under any name) or two outputs name one file. ``outputs`` are
    (flag, path) pairs; a path of None is an output not asked for."""
    from agent.cli._context import refuse_overwriting_inputs

    given = [(flag, path) for flag, path in outputs if path is not None]
    for _, path in given:
        refuse_overwriting_inputs(path, *inputs)
    for i, (flag, path) in enumerate(given):
        for other_flag, other in given[i + 1 :]:
            if _same_file(path, other):
                raise InputError(
                    f"{other}: given to both {flag} and {other_flag}; one would be written "
                    "over the other: choose two paths"
                )


def _same_file(first: Path, second: Path) -> bool:
    """Whether two output paths are one regular file (a device such as /dev/null may
    take both)."""
    if first.exists() and second.exists():
        return first.is_file() and os.path.samefile(first, second)
    return first.resolve() == second.resolve()


def write_plot(chart: Chart, path: Path) -> None:
    """Write ``chart`` as an SVG file and say where on stderr."""
    try:
        text = chart.document()
    except ValueError as exc:
        raise InputError(f"{path}: nothing to plot ({exc})") from exc
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write the plot: {exc.strerror or exc}") from exc
    print(f"autonomic: plot written to {path}", file=sys.stderr)


@dataclass(frozen=True)
class TimeAxis:
    """Seconds to a readable number on the x axis: minutes, hours or days from ``origin``."""

    origin: float
    unit: float
    unit_name: str  # "minutes", "hours" or "days"
    label: str

    def __call__(self, t: float) -> float:
        return (t - self.origin) / self.unit

    def all(self, times: Iterable[float]) -> list[float]:
        return [self(float(t)) for t in times]


def time_axis(origin: float, span: float, since: str) -> TimeAxis:
    """Minutes for up to three hours, hours for up to three days, days beyond.

    ``since`` names the origin ("the trace start"); a real date is added in brackets.
    """
    unit, name = 86400.0, "days"
    for longest, seconds, unit_name in _UNITS:
        if span <= longest:
            unit, name = seconds, unit_name
            break
    label = f"{name} {since}"
    if math.isfinite(origin) and origin >= _REAL_DATES_FROM:
        try:
            moment = datetime.fromtimestamp(origin, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
        else:
            label += f" ({moment:%Y-%m-%d %H:%M} UTC)"
    return TimeAxis(origin, unit, name, label)


def thin_band(
    xs: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    most: int = 1500,
) -> tuple[list[float], list[float], list[float]]:
    """At most about ``most`` points of a band, keeping its envelope (lowest low, highest
    high per chunk) so that thinning never narrows it; non-finite bounds are dropped."""
    stride = max(1, len(xs) // most)
    out_x: list[float] = []
    out_lo: list[float] = []
    out_hi: list[float] = []
    for i in range(0, len(xs), stride):
        pairs = [
            (lo, hi)
            for lo, hi in zip(lows[i : i + stride], highs[i : i + stride], strict=True)
            if math.isfinite(lo) and math.isfinite(hi)
        ]
        if pairs:
            out_x.append(float(xs[i]))
            out_lo.append(min(lo for lo, _ in pairs))
            out_hi.append(max(hi for _, hi in pairs))
    return out_x, out_lo, out_hi
