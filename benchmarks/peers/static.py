"""Static-threshold analysis as in a Flagger canary (or an Argo AnalysisTemplate).

Every interval one check per metric compares the canary's value with a fixed
``thresholdRange`` (for example request-success-rate >= 99 %, request-duration <= X ms).
A failed check, including "no values found" when the canary served nothing, adds to a
counter that is cumulative for the whole run; reaching ``threshold`` failed checks rolls
back; surviving ``iterations`` intervals promotes. There is no baseline and no
inconclusive state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["StaticCheck", "StaticVerdict", "judge_run"]


@dataclass(frozen=True)
class StaticCheck:
    name: str
    minimum: float = -math.inf
    maximum: float = math.inf


@dataclass(frozen=True)
class StaticVerdict:
    decision: str  # promote | rollback
    decided_after_seconds: float
    failed_checks: int

    @property
    def confidence(self) -> float:
        """A phase carries no probability; read as certainty by the benchmark."""
        return 1.0


def judge_run(
    canary: Mapping[str, Sequence[float]],
    checks: Sequence[StaticCheck],
    *,
    step_seconds: float,
    iterations: int = 10,
    threshold: int = 5,
) -> StaticVerdict:
    failed = 0
    for i in range(iterations):
        for check in checks:
            series = canary[check.name]
            value = series[i] if i < len(series) else math.nan
            if math.isnan(value) or not check.minimum <= value <= check.maximum:
                failed += 1
        if failed >= threshold:
            return StaticVerdict("rollback", (i + 1) * step_seconds, failed)
    return StaticVerdict("promote", iterations * step_seconds, failed)
