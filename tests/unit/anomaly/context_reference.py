"""The first ContextMemory, kept as the reference the compact one must match bit for bit.

``forecasting.anomaly.memory.ContextMemory`` replaced it in the detector (same scores, same
``state()``, about half the memory); this copy exists only so that the tests can compare the
two on random and real streams.
"""

from __future__ import annotations

from typing import Any

from forecasting.anomaly._state import require
from forecasting.anomaly.memory import _bits_of, _mask_of  # the state format's helpers


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
