"""A compact ``ContextMemory``: the contextual detector's memory in fewer bytes.

Same public API, same ``state()`` / ``restore()`` format and the same raw scores, bit for
bit, as the first implementation, which now lives only in the tests as the reference
(``tests/unit/anomaly/context_reference.py``; the tests feed both the same fact streams,
and states saved by either restore into the other). What changed is only how the memory
is held:

- a left part's contexts are one tuple of ints, each ``cid << shift | right`` (the right
  part's facts are the sensor facts, below ``shift``), instead of a dict *and* a list of
  (right, cid) tuples holding the same pairs twice; the subset test "right within sensor"
  becomes ``not entry & ~sensor``;
- observed-or-derived is a byte per context, the left parts that hold an observed
  context a byte flag per left part (not a set), and the neurons a list of fact
  positions per context (not a dict); confirmation counts and neuron positions stay
  Python lists, because the step loop indexes them for every active context and
  CPython indexes a list much faster than an ``array`` (an ``array`` of counts made
  the detector ~20 % slower);
- the cache of which left parts a fact set covers is keyed by the left part's id (the
  group is always a stored left part) instead of a second big-int key, holds the covered
  ids as 4-byte cells, and is dropped when it holds more than ``CACHE_CELLS`` ids in all
  (it only saves time: the covered ids are rescanned when missing).

A restored memory of the cycle benchmark's warmed series (3 days of one-minute points,
~2,200 contexts on average) holds ~305 KB instead of ~640 KB (tracemalloc).
"""

from __future__ import annotations

from array import array
from typing import Any

from forecasting.anomaly._state import require

__all__ = ["CACHE_CELLS", "ContextMemory"]

CACHE_CELLS = 1 << 14  # covered-left ids the scan cache may hold (64 KB at most)


def _bits_of(mask: int) -> list[int]:
    """Positions of the set bits of ``mask``, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
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
        "_cached",
        "_count",
        "_group",
        "_left_ids",
        "_left_mask",
        "_low",
        "_neuron_bit",
        "_neurons",
        "_pairs",
        "_shift",
        "_zero",
        "_zero_left",
        "_zero_lids",
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
        # per left id: its contexts in creation order, each ``cid << shift | right mask``
        self._pairs: list[tuple[int, ...]] = []
        self._shift = max(self.offset, 1)  # right masks lie below this bit
        self._low = (1 << self._shift) - 1
        self._count: list[int] = []  # per context: how often it was confirmed
        self._zero = bytearray()  # per context: 1 when observed whole, not derived
        self._zero_lids = array("q")  # left ids holding an observed context
        self._zero_left = bytearray()  # per left id: 1 when it is in ``_zero_lids``
        self._neuron_bit: list[int] = []  # per context: its fact position as a neuron, or -1
        self._neurons = array("q")  # contexts that became neurons, in order
        self._group = 0  # facts active one step ago
        self._cache: dict[int, tuple[int, array[int]]] = {}  # lid of group -> (scanned, ids)
        self._cached = 0  # ids held in the cache

    @property
    def size(self) -> int:
        return len(self._count)

    def _widen(self, facts: int) -> None:
        """Make room for right masks up to ``facts`` (only for fact sets above
        ``sensor_bits``, which the detector never produces)."""
        shift = max(self._shift, facts.bit_length())
        if shift == self._shift:
            return
        old, low = self._shift, self._low
        self._pairs = [tuple((e >> old) << shift | (e & low) for e in p) for p in self._pairs]
        self._shift, self._low = shift, (1 << shift) - 1

    def _store(self, left: int, right: int, zero: bool) -> tuple[int, int, bool]:
        """(left id, context id, created) of the context ``left -> right``."""
        lid = self._left_ids.get(left)
        if lid is None:
            lid = len(self._left_mask)
            self._left_ids[left] = lid
            self._left_mask.append(left)
            self._pairs.append(())
            self._zero_left.append(0)
        entries = self._pairs[lid]
        low = self._low
        for entry in entries:
            if entry & low == right:
                cid = entry >> self._shift
                if zero:
                    self._zero[cid] = 1
                created = False
                break
        else:
            cid = len(self._count)
            self._pairs[lid] = (*entries, cid << self._shift | right)
            self._count.append(0)
            self._zero.append(zero)
            self._neuron_bit.append(-1)
            created = True
        if zero and not self._zero_left[lid]:
            self._zero_left[lid] = 1
            self._zero_lids.append(lid)
        return lid, cid, created

    def _covered(self, key: int, group: int) -> array[int]:
        """Left ids whose facts all lie in ``group`` (cached under ``key``, the group's own
        left id; extended as the memory grows)."""
        total = len(self._left_mask)
        entry = self._cache.get(key)
        if entry is None:
            start = 0
            covered: array[int] = array("I")
        else:
            start, covered = entry
            if start == total:
                return covered
        masks = self._left_mask
        before = len(covered)
        for lid in range(start, total):
            mask = masks[lid]
            if mask & group == mask:
                covered.append(lid)
        self._cached += len(covered) - before
        if self._cached > CACHE_CELLS:  # a bound on the bytes, not on the answers
            self._cache = {}
            self._cached = len(covered)
        self._cache[key] = (total, covered)
        return covered

    def step(self, sensor: int) -> float:
        """Feed the current fact set; return the raw anomaly in [0, 1] (then learn)."""
        group = self._group
        if not group:
            self._group = sensor
            return 1.0
        if sensor >> self._shift:
            self._widen(sensor)
        key, newest, novel = self._store(group, sensor, True)
        count, pairs, shift = self._count, self._pairs, self._shift
        absent = ~sensor & self._low  # a right part is within sensor iff it has none of these
        active: list[int] = []
        selected = 0
        for lid in self._covered(key, group):
            entries = pairs[lid]
            selected += len(entries)
            for entry in entries:
                if not entry & absent:
                    active.append(entry >> shift)
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
        for cid in active:
            bit = bits[cid]
            if bit < 0:
                bit = bits[cid] = self.offset + len(self._neurons)
                self._neurons.append(cid)
            sensor |= 1 << bit
        self._group = sensor
        return (1.0 - share_active + share_new) / 2.0

    def _generalise(self, group: int, sensor: int, newest: int) -> float:
        """Store the overlaps of this new pair with earlier observed pairs; the share of the
        candidate contexts that were really new."""
        candidates: dict[tuple[int, int], None] = {}
        max_left = self.max_left
        masks, pairs, zero = self._left_mask, self._pairs, self._zero
        shift, low = self._shift, self._low
        for lid in self._zero_lids:
            mask = masks[lid]
            left = mask & group
            if not left or left.bit_count() > max_left:
                continue
            whole = left == mask
            for entry in pairs[lid]:
                cid = entry >> shift
                if cid == newest or not zero[cid]:
                    continue
                right_mask = entry & low
                right = right_mask & sensor
                if not right or (whole and right == right_mask):
                    continue
                candidates[(left, right)] = None
        added = 1  # the observed pair
        for left, right in candidates:
            added += self._store(left, right, False)[2]
        candidates[(group, sensor)] = None
        return added / len(candidates)

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        shift, low, bits = self._shift, self._low, self._neuron_bit
        return {
            "left": [_bits_of(m) for m in self._left_mask],
            "pairs": [[[e & low, e >> shift] for e in p] for p in self._pairs],
            "count": list(self._count),
            "zero": list(self._zero),
            "zero_lids": self._zero_lids.tolist(),
            "neurons": [[c, bits[c]] for c in self._neurons],
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
        contexts = len(count)
        self._count = [int(c) for c in count]
        self._zero = bytearray(bool(z) for z in zero)
        self._neuron_bit = [-1] * contexts
        pairs = [[(int(r), int(c)) for r, c in entries] for entries in raw_pairs]
        if any(not 0 <= c < contexts for p in pairs for _, c in p):
            raise ValueError("context.pairs refers to an unknown context")
        if any(r < 0 for p in pairs for r, _ in p):
            raise ValueError("context.pairs holds a negative fact set")
        widest = max((r.bit_length() for p in pairs for r, _ in p), default=0)
        self._shift = max(self._shift, widest)
        self._low = (1 << self._shift) - 1
        shift = self._shift
        for lid, (mask, entries) in enumerate(zip(lefts, pairs, strict=True)):
            self._left_ids[mask] = lid
            self._left_mask.append(mask)
            self._pairs.append(tuple(c << shift | r for r, c in entries))
        self._zero_left = bytearray(len(lefts))
        zero_lids = [int(i) for i in require(state, "zero_lids")]
        if any(not 0 <= i < len(lefts) for i in zero_lids):
            raise ValueError("context.zero_lids refers to an unknown left part")
        self._zero_lids = array("q", zero_lids)
        for lid in zero_lids:
            self._zero_left[lid] = 1
        for c, b in require(state, "neurons"):
            cid, bit = int(c), int(b)
            if not 0 <= cid < contexts or bit < 0:
                raise ValueError("context.neurons must pair known contexts with fact positions")
            if self._neuron_bit[cid] < 0:
                self._neurons.append(cid)
            self._neuron_bit[cid] = bit
        self._group = _mask_of(require(state, "group"), "context.group")
