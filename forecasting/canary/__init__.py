"""Canary judging: is the canary worse than its baseline, better, or not yet clear?

Public surface: ``CanaryJudge`` (incremental, ``update(interval) -> Verdict``),
``judge_run`` (batch), the spec types and ``parse_spec``, and the verdict values.
"""

from forecasting.canary.evidence import CanaryDataError
from forecasting.canary.judge import CanaryJudge, Interval, judge_run
from forecasting.canary.spec import (
    MIN_ALPHA,
    CanarySpecError,
    Direction,
    JudgeSettings,
    MetricKind,
    MetricSpec,
    Tolerance,
    default_specs,
    parse_spec,
)
from forecasting.canary.verdict import Decision, MetricFinding, MetricStatus, Verdict

__all__ = [
    "MIN_ALPHA",
    "CanaryDataError",
    "CanaryJudge",
    "CanarySpecError",
    "Decision",
    "Direction",
    "Interval",
    "JudgeSettings",
    "MetricFinding",
    "MetricKind",
    "MetricSpec",
    "MetricStatus",
    "Tolerance",
    "Verdict",
    "default_specs",
    "judge_run",
    "parse_spec",
]
