"""The one forecast contract every model honours.

``fit`` takes a ``Series`` and returns the fitted model (a value, no side effects);
``predict`` returns a ``Forecast`` with the mean and prediction intervals at the
requested levels, plus the model's name and version and, when a fallback was used,
why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from forecasting.series import FloatArray, Series

__all__ = ["FittedModel", "Forecast", "Forecaster"]


@dataclass(frozen=True, eq=False)
class Forecast:
    """``h`` steps ahead of the last observed timestamp.

    ``intervals[level] = (lower, upper)`` for levels such as 80 and 95 (percent).
    """

    timestamps: FloatArray
    mean: FloatArray
    intervals: dict[int, tuple[FloatArray, FloatArray]]
    model: str
    version: str
    fallback_reason: str | None = None
    details: dict[str, float | str] = field(default_factory=dict)

    def upper(self, level: int) -> FloatArray:
        return self.intervals[level][1]

    def lower(self, level: int) -> FloatArray:
        return self.intervals[level][0]


class FittedModel(Protocol):
    """A model fitted to one series."""

    @property
    def name(self) -> str: ...

    def predict(self, horizon: int, levels: tuple[int, ...] = (80, 95)) -> Forecast: ...


class Forecaster(Protocol):
    """A model specification; ``fit`` returns a fitted model and never mutates ``self``."""

    @property
    def name(self) -> str: ...

    def fit(self, series: Series) -> FittedModel: ...
