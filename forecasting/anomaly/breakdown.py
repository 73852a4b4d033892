"""Which label values carry an anomaly incident's movement: a breakdown.

An anomaly query that is one sum (``sum by (namespace, deployment) (...)``) is read again,
when an incident opens, summed by a label too (``pod``, ``route``, ``code``): its parts,
which add up to the series. Each value's mean over the incident's onset (from the point
that opened it to the newest) is set against its mean over the baseline before it; the
values that moved the way the incident did (up for a spike, down for a dip) are ranked by
their share of that movement, which adds up to 1 over them. A value absent from one of
the two windows counts as 0 there, as it does in the sum (a pod gone, a new one).

Several labels are read together (their combinations); each label's parts are the sums
over the others. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Part", "breakdown_words", "rank_parts"]

NONE = "(none)"  # the value of a part that lacks the label


@dataclass(frozen=True)
class Part:
    """One value of a label, and how it moved."""

    label: str
    value: str
    before: float  # its mean over the baseline window
    during: float  # its mean over the onset window
    share: float  # of the movement in the incident's direction, 0 to 1

    def record(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "share": round(self.share, 4),
            "before": self.before,
            "during": self.during,
        }


def _mean(values: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def rank_parts(
    timestamps: np.ndarray[Any, np.dtype[np.float64]],
    parts: Sequence[tuple[Mapping[str, str], np.ndarray[Any, np.dtype[np.float64]]]],
    label: str,
    *,
    baseline_from: float,
    onset_from: float,
    up: bool,
) -> list[Part]:
    """The values of ``label`` among ``parts`` (each its labels and its values at
    ``timestamps``) that moved ``up`` (or down) from the baseline window [``baseline_from``,
    ``onset_from``) to the onset window [``onset_from``, the end], largest share first;
    empty when none did."""
    baseline = (timestamps >= baseline_from) & (timestamps < onset_from)
    onset = timestamps >= onset_from
    summed: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for labels, values in parts:
        value = labels.get(label, NONE)
        if value in summed:
            summed[value] = np.where(
                np.isnan(summed[value]), values, summed[value] + np.nan_to_num(values)
            )
        else:
            summed[value] = np.asarray(values, dtype=np.float64).copy()
    moved: list[tuple[str, float, float, float]] = []
    for value, values in summed.items():
        before, during = _mean(values[baseline]), _mean(values[onset])
        delta = during - before
        if math.isfinite(delta) and (delta > 0 if up else delta < 0):
            moved.append((value, before, during, abs(delta)))
    total = sum(delta for *_, delta in moved)
    if not total > 0:
        return []
    ranked = [
        Part(label, value, before, during, delta / total) for value, before, during, delta in moved
    ]
    return sorted(ranked, key=lambda part: (-part.share, part.value))


def breakdown_words(parts: Sequence[Part], top: int = 3) -> str:
    """A label's ranking in words: "mostly pod web-7f9 (82 %), then web-2c1 (9 %)" when
    one value carries half the movement or more, else "spread over pod: a (34 %), b
    (33 %), c (20 %)"; "" for none."""
    if not parts:
        return ""
    shown = [f"{part.value} ({100 * part.share:.0f} %)" for part in parts[:top]]
    label = parts[0].label
    more = f" and {len(parts) - top} more" if len(parts) > top else ""
    if parts[0].share >= 0.5:
        rest = f", then {', '.join(shown[1:])}" if len(shown) > 1 else ""
        return f"mostly {label} {shown[0]}{rest}{more}"
    return f"spread over {label}: {', '.join(shown)}{more}"
