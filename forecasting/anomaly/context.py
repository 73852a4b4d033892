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

__all__ = ["ContextDetector", "ContextMemory"]


def _bits_of(mask: int) -> list[int]:
    """Positions of the set bits of ``mask``, ascending."""
    out = []
    position = 0
    while mask:
        low = mask & -mask
        position = low.bit_length() - 1
        out.append(position)
        mask ^= low
    return out


def _mask_of(positions: Any, field: str) -> int:
    if not isinstance(positions, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in positions
    ):
        raise ValueError(f"state field {field!r} must be a list of bit positions")
    mask = 0
    for p in positions:
        mask |= 1 << p
    return mask


class ContextMemory:
    """Contexts learnt from a stream of fact sets (each fact set a bit mask)."""

    __slots__ = (
        "_cache",
        "_count",
        "_group",
        "_left_ids",
        "_left_mask",
        "_links",
        "_neuron_bit",
        "_pairs",
        "_zero",
        "_zero_lids",
        "_zero_set",
        "max_left",
        "max_neurons",
        "offset",
    )

    def __init__(self, *, sensor_bits: int, max_left: int = 7, max_neurons: int = 15) -> None:
        self.offset = sensor_bits  # neuron facts live above the sensor facts
        self.max_left = max_left
        self.max_neurons = max_neurons
        self.clear()

    def clear(self) -> None:
        self._left_ids: dict[int, int] = {}  # left mask -> left id
        self._left_mask: list[int] = []
        self._links: list[dict[int, int]] = []  # per left id: right mask -> context id
        self._pairs: list[list[tuple[int, int]]] = []  # per left id: (right mask, context id)
        self._count: list[int] = []  # per context: how often it was confirmed
        self._zero: list[bool] = []  # per context: observed whole, not derived
        self._zero_lids: list[int] = []  # left ids holding an observed context
        self._zero_set: set[int] = set()
        self._neuron_bit: dict[int, int] = {}  # context id -> its fact position
        self._group = 0  # facts active one step ago
        self._cache: dict[int, list[Any]] = {}  # left facts -> [left ids scanned, covered ids]

    @property
    def size(self) -> int:
        return len(self._count)

    def _store(self, left: int, right: int, zero: bool) -> tuple[int, bool]:
        lid = self._left_ids.get(left)
        if lid is None:
            lid = len(self._left_mask)
            self._left_ids[left] = lid
            self._left_mask.append(left)
            self._links.append({})
            self._pairs.append([])
        links = self._links[lid]
        cid = links.get(right)
        created = cid is None
        if cid is None:
            cid = len(self._count)
            links[right] = cid
            self._pairs[lid].append((right, cid))
            self._count.append(0)
            self._zero.append(zero)
        elif zero:
            self._zero[cid] = True
        if zero and lid not in self._zero_set:
            self._zero_set.add(lid)
            self._zero_lids.append(lid)
        return cid, created

    def _covered(self, group: int) -> list[int]:
        """Left ids whose facts all lie in ``group`` (cached; extended as the memory grows)."""
        total = len(self._left_mask)
        entry = self._cache.get(group)
        if entry is None:
            entry = [0, []]
            self._cache[group] = entry
        start: int = entry[0]
        if start < total:
            covered: list[int] = entry[1]
            masks = self._left_mask
            for lid in range(start, total):
                mask = masks[lid]
                if mask & group == mask:
                    covered.append(lid)
            entry[0] = total
        result: list[int] = entry[1]
        return result

    def step(self, sensor: int) -> float:
        """Feed the current fact set; return the raw anomaly in [0, 1] (then learn)."""
        group = self._group
        if not group:
            self._group = sensor
            return 1.0
        newest, novel = self._store(group, sensor, True)
        count, pairs = self._count, self._pairs
        active: list[int] = []
        selected = 0
        for lid in self._covered(group):
            candidates = pairs[lid]
            selected += len(candidates)
            for right, cid in candidates:
                if right & sensor == right:
                    active.append(cid)
        share_new = 0.0
        if novel:  # the stored pair itself is not a prediction
            selected -= 1
            active.remove(newest)
            share_new = self._generalise(group, sensor, newest)
        for cid in active:
            count[cid] += 1
        share_active = len(active) / selected if selected else 0.0
        if len(active) > self.max_neurons:
            active.sort(key=count.__getitem__)  # stable: ties keep the older context first
            active = active[-self.max_neurons :]
        bits = self._neuron_bit
        offset = self.offset
        for cid in active:
            bit = bits.get(cid)
            if bit is None:
                bit = bits[cid] = offset + len(bits)
            sensor |= 1 << bit
        self._group = sensor
        return (1.0 - share_active + share_new) / 2.0

    def _generalise(self, group: int, sensor: int, newest: int) -> float:
        """Store the overlaps of this new pair with earlier observed pairs; the share of the
        candidate contexts that were really new."""
        candidates: dict[tuple[int, int], None] = {}
        max_left = self.max_left
        masks, pairs, zero = self._left_mask, self._pairs, self._zero
        for lid in self._zero_lids:
            mask = masks[lid]
            left = mask & group
            if not left or left.bit_count() > max_left:
                continue
            whole = left == mask
            for right_mask, cid in pairs[lid]:
                if cid == newest or not zero[cid]:
                    continue
                right = right_mask & sensor
                if not right or (whole and right == right_mask):
                    continue
                candidates[(left, right)] = None
        added = 1  # the observed pair
        for left, right in candidates:
            added += self._store(left, right, False)[1]
        candidates[(group, sensor)] = None
        return added / len(candidates)

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "left": [_bits_of(m) for m in self._left_mask],
            "pairs": [[[r, c] for r, c in p] for p in self._pairs],
            "count": list(self._count),
            "zero": [int(z) for z in self._zero],
            "zero_lids": list(self._zero_lids),
            "neurons": [[c, b] for c, b in self._neuron_bit.items()],
            "group": _bits_of(self._group),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.clear()
        lefts = [_mask_of(p, "context.left") for p in require(state, "left")]
        raw_pairs = require(state, "pairs")
        count = require(state, "count")
        zero = require(state, "zero")
        if not (isinstance(raw_pairs, list) and len(raw_pairs) == len(lefts)):
            raise ValueError("context.pairs must hold one list per left part")
        if not (isinstance(count, list) and isinstance(zero, list) and len(count) == len(zero)):
            raise ValueError("context.count and context.zero must be lists of equal length")
        self._count = [int(c) for c in count]
        self._zero = [bool(z) for z in zero]
        for lid, (mask, entries) in enumerate(zip(lefts, raw_pairs, strict=True)):
            self._left_ids[mask] = lid
            self._left_mask.append(mask)
            pairs = [(int(r), int(c)) for r, c in entries]
            if any(not 0 <= c < len(self._count) for _, c in pairs):
                raise ValueError("context.pairs refers to an unknown context")
            self._pairs.append(pairs)
            self._links.append(dict(pairs))
        self._zero_lids = [int(i) for i in require(state, "zero_lids")]
        self._zero_set = set(self._zero_lids)
        self._neuron_bit = {int(c): int(b) for c, b in require(state, "neurons")}
        self._group = _mask_of(require(state, "group"), "context.group")


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
