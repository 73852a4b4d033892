"""The contextual detector: has this value, in this context, been seen before?

An idea from the Contextual Anomaly Detector (CAD OSE, M. Smirnov, NAB 2016), written afresh
here. Each value is quantised into a few levels over the range learnt so far; a level becomes
a set of "facts" (one per bit of its binary code, so that neighbouring levels share facts).
The memory learns *contexts*: a left part (facts active one step ago: the previous level's
facts plus "neurons", the contexts that were most reliably confirmed one step ago) paired
with a right part (the facts of the value that followed). At each step:

- the contexts whose left part is fully present are *selected*, and those whose right part
  is also present now are *active* (they predicted this value);
- if this (previous facts, current facts) pair was never seen, it is stored, and partial
  overlaps with earlier such pairs are stored as new, more general contexts.

``raw = (1 - active/selected + new/possible) / 2``: high when little of the current input
was predicted and much of it had to be learnt. A raw score at or above ``threshold`` opens a
rest period during which nothing is reported, so one novelty raises one alarm, and a memory
that is still learning (raw scores high) stays silent until it has settled. A reported score
at or above ``report_level`` (an alarm, though below ``threshold``) is followed by a shorter
silence of ``report_rest`` points, so that a run of middling novelties raises one alarm too.

Unlike the original, which quantises over the whole file's minimum and maximum, the range
here is learnt online: it expands to any value outside it (by ``margin`` of the new span, so
that small drifts do not keep re-quantising), and after the warm-up an expansion clears the
memory, because every learnt context refers to the old levels. Facts are bits of Python
integers, so the subset tests are single ``&`` operations; the memory is bounded by
``max_contexts`` (reaching it clears the memory, which then relearns).
"""

from __future__ import annotations

import math
from typing import Any

from forecasting.anomaly._state import decode_float, encode_float, require
from forecasting.anomaly.memory import ContextMemory

__all__ = ["ContextDetector", "ContextMemory"]


class ContextDetector:
    """Quantise online, feed the context memory, and gate its raw score with a rest period."""

    __slots__ = (
        "_high",
        "_low",
        "_memory",
        "_quiet",
        "_seen",
        "levels",
        "margin",
        "max_contexts",
        "report_level",
        "report_rest",
        "rest",
        "threshold",
        "value_bits",
        "warmup",
    )

    def __init__(
        self,
        *,
        value_bits: int = 3,
        margin: float = 0.5,
        warmup: int = 150,
        rest: int = 60,
        threshold: float = 0.8,
        max_contexts: int = 20000,
        report_level: float = 0.7,
        report_rest: int = 30,
    ) -> None:
        self.value_bits = value_bits
        self.levels = (1 << value_bits) - 1
        self.margin = margin
        self.warmup = warmup
        self.rest = rest
        self.threshold = threshold
        self.max_contexts = max_contexts
        self.report_level = report_level
        self.report_rest = report_rest
        self._memory = ContextMemory(sensor_bits=2 * value_bits)
        self._low = math.nan
        self._high = math.nan
        self._seen = 0
        self._quiet = 0  # consecutive raw scores below the threshold

    def _facts(self, value: float) -> int:
        """The value's level as facts: bit k of the level sets fact 2k (0) or 2k+1 (1)."""
        low, high = self._low, self._high
        levels = self.levels
        span = high - low
        position = (value - low) * levels / span if span > 0 and math.isfinite(span) else 0.0
        level = levels if position >= levels else (int(position) if position > 0 else 0)
        facts = 0
        for k in range(self.value_bits):
            facts |= 1 << (2 * k + ((level >> k) & 1))
        return facts

    def _widen(self, value: float) -> bool:
        """Take ``value`` into the range; True when the range had to grow."""
        low, high = self._low, self._high
        if math.isnan(low):
            self._low = self._high = value
            return False
        if low <= value <= high:
            return False
        span = max(high, value) - min(low, value)
        extra = self.margin * span if math.isfinite(span) else 0.0
        if value > high:
            widened = value + extra
            self._high = widened if math.isfinite(widened) else value
        if value < low:
            widened = value - extra
            self._low = widened if math.isfinite(widened) else value
        return True

    def update(self, value: float) -> tuple[float, float]:
        """(raw, reported) for a finite value; reported is 0 during warm-up and rest."""
        grew = self._widen(value)
        seen = self._seen = self._seen + 1
        if (grew and seen > self.warmup) or self._memory.size > self.max_contexts:
            # learnt contexts refer to the old levels: start again (a new extreme is news)
            self._memory.clear()
        raw = self._memory.step(self._facts(value))
        quiet = self._quiet
        reported = raw if quiet >= self.rest and seen > self.warmup else 0.0
        quiet = quiet + 1 if raw < self.threshold else 0
        if reported >= self.report_level:  # an alarm: a shorter silence follows it
            quiet = min(quiet, self.rest - self.report_rest)
        self._quiet = quiet
        return raw, reported

    @property
    def size(self) -> int:
        """Contexts in the memory."""
        return self._memory.size

    def state(self) -> dict[str, Any]:
        return {
            "low": encode_float(self._low),
            "high": encode_float(self._high),
            "seen": self._seen,
            "quiet": self._quiet,
            "memory": self._memory.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._low = decode_float(require(state, "low"), "context.low")
        self._high = decode_float(require(state, "high"), "context.high")
        self._seen = int(require(state, "seen"))
        self._quiet = int(require(state, "quiet"))
        self._memory.restore(require(state, "memory"))
