"""How likely an anomaly incident is to be real, from the score of the point that opened it.

The detector's ``confidence`` is ``1 - tail``: how rare the point's raw score is for its
own series. It is a test statistic, not the probability that something is wrong: a series
scored at one-minute steps makes 1,440 points a day, so a one-in-ten-thousand tail would
come by chance about once a week even if the tail were exact (on white noise, measured: 0.3
incidents a day), and every incident opens at a confidence of 0.9999 or
more whatever its chance of being real. Measured on NAB's labelled files
(``benchmarks/anomaly_calibration_RESULTS.md``), 40 % of the incidents the daemon's rules
open there (95 of 237) open inside a labelled anomaly window.

``IncidentCalibration`` maps the opening point's ``score`` to the share of incidents at
that score that were real: an isotonic (non-decreasing) step function fitted by pooling
adjacent violators, each step shrunk towards the overall share by ``prior`` incidents'
worth so that a step fitted on a few incidents does not claim 0 or 1. ``NAB`` is the map
fitted on every incident the daemon's rules open on NAB v1.1's 58 files (outside NAB's
probationary period; real = opened inside a labelled window); its held-out quality, by
five-fold cross-validation over files, is in the results file. It is the share on that
corpus, where about one row in ten lies in a window: a cluster whose series are quieter
or noisier has another base rate, and the runbooks' track records correct for it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["NAB", "IncidentCalibration"]


@dataclass(frozen=True)
class IncidentCalibration:
    """A non-decreasing step function of the score: ``probabilities[i]`` for scores at or
    above ``edges[i]`` (and below the next edge); below the first edge, the first step."""

    edges: tuple[float, ...]
    probabilities: tuple[float, ...]
    incidents: int  # how many incidents it was fitted on

    def __post_init__(self) -> None:
        if not self.edges or len(self.edges) != len(self.probabilities):
            raise ValueError(
                f"need as many edges as probabilities, at least one: got {len(self.edges)} "
                f"edges and {len(self.probabilities)} probabilities"
            )
        if list(self.edges) != sorted(self.edges) or len(set(self.edges)) != len(self.edges):
            raise ValueError(f"edges must increase: {self.edges}")
        if list(self.probabilities) != sorted(self.probabilities):
            raise ValueError(f"probabilities must not decrease: {self.probabilities}")
        if not all(0.0 <= p <= 1.0 for p in self.probabilities):
            raise ValueError(f"probabilities must be within [0, 1]: {self.probabilities}")

    def probability(self, score: float) -> float:
        """The share of incidents opened at this score that were real."""
        if math.isnan(score):
            return self.probabilities[0]
        index = bisect.bisect_right(self.edges, score) - 1
        return self.probabilities[max(index, 0)]

    @classmethod
    def fit(
        cls, scores: Sequence[float], real: Sequence[bool], *, prior: float = 2.0
    ) -> IncidentCalibration:
        """Isotonic regression of ``real`` on ``scores`` (pool adjacent violators), each
        block's share shrunk towards the overall share by ``prior`` incidents' worth."""
        if len(scores) != len(real) or not scores:
            raise ValueError(
                f"need as many outcomes as scores, at least one: got {len(scores)} scores "
                f"and {len(real)} outcomes"
            )
        pairs = sorted(zip(scores, real, strict=True), key=lambda p: p[0])
        overall = sum(r for _, r in pairs) / len(pairs)
        # blocks of equal scores first: [lowest score, right, count]
        blocks: list[list[float]] = []
        for score, right in pairs:
            if blocks and blocks[-1][0] == score:
                blocks[-1][1] += right
                blocks[-1][2] += 1
            else:
                blocks.append([score, float(right), 1.0])
        pooled: list[list[float]] = []
        for block in blocks:
            pooled.append(block)
            # pool while the block before is as real as this one or more
            while (
                len(pooled) > 1 and pooled[-2][1] * pooled[-1][2] >= pooled[-1][1] * pooled[-2][2]
            ):
                last = pooled.pop()
                pooled[-1][1] += last[1]
                pooled[-1][2] += last[2]
        edges: list[float] = []
        shares: list[float] = []
        for lowest, real_count, count in pooled:
            share = round((real_count + prior * overall) / (count + prior), 3)
            if shares and share <= shares[-1]:
                continue  # shrunk and rounded to the step below it: one step
            edges.append(lowest)
            shares.append(share)
        return cls(tuple(edges), tuple(shares), len(pairs))


# Fitted by ``benchmarks/anomaly_calibration.py --data ../shared/data/nab`` on every
# incident the daemon's rules open on NAB v1.1 (the detector's defaults); regenerate it
# with that command when the detector's scores change.
NAB = IncidentCalibration(
    edges=(
        0.6904761904761905,
        0.6926244882930161,
        0.6999577963623127,
        0.804985754985755,
        0.9042857142857144,
        0.9442768411712511,
    ),
    probabilities=(0.134, 0.201, 0.261, 0.361, 0.600, 0.647),
    incidents=236,
)
