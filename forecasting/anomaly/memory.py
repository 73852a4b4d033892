"""A compact ``ContextMemory``: the contextual detector's memory as flat arrays.

Same public API, same ``state()`` / ``restore()`` format and the same raw scores, bit for
bit, as the first implementation, which lives only in the tests as the reference
(``tests/unit/anomaly/context_reference.py``; the tests feed both the same fact streams,
and states saved by either restore into the other). What differs is how the memory is
held, because a detector lives as long as the daemon and the memory keeps learning
contexts until ``max_contexts`` (20,000 by default) clears it: on the NASA trace an
earlier compact class (per left part a tuple of Python ints) held ~9,000 contexts in
~990 KB after ten days of one-minute points, so a thousand series would outgrow the
daemon's memory limit within days. This one held the same memory in ~390 KB with its
left parts as Python integers; restored, ~214 KB then and ~142 KB with them as fact
positions (tracemalloc, as ``test_the_memory_holds_few_bytes_per_context`` measures).

- **Contexts are rows of numpy arrays**, indexed by context id (creation order): left
  part id (uint16 while the ids fit, then int32), right part (the sensor facts, uint8
  while they fit), confirmation count (uint16 while no count can pass it, then int32),
  observed-or-derived (uint8) and place among the neurons (int16 while the places fit,
  then int32; -1 when not a neuron; a neuron's fact is ``sensor_bits + place``, the
  order in which contexts became neurons): 8 bytes a context. The arrays grow by an
  eighth.
- **Left parts** are the bit positions of their fact masks, ascending, all in one flat
  ``array`` (16 bits a position while they fit, then 32) with each left part's start
  alongside: ~26 bytes a left part of 11 facts. As Python integers they cost ~60, since
  neuron facts lie far above the sensor facts (a mask with a fact at bit 400 is a
  ~80-byte integer): three days of one-minute points leave ~800 left parts a series, so
  the integers were ~40 MB of a thousand series' memory. A mask is found by a 32-bit
  digest of its hash in a sorted ``array`` of digests with the left ids alongside (8
  bytes a left part; equal digests are told apart by comparing the masks). Whether a
  pair is held is read from the columns: the step's own pair is among its active
  contexts if held, and generalisation looks among the contexts of its candidates' left
  parts.
- **One step is vectorised**: the left parts within the previous fact set are marked
  (their ids come from a scan of the masks, cached per fact set), the contexts under
  marked left parts are *selected*, those whose right part lies within the sensor facts
  *active*; the active ids are then put in the reference's order (left part id, then
  creation), which decides which contexts win ties for neuron places. Generalisation
  filters the observed contexts of the qualifying left parts the same way and stores the
  new pairs in the reference's order, so context ids match.
- The subset scans are vectorised over the flat positions: a left part lies within a
  fact set when all its positions are set in it (a count per left part, from one
  cumulative sum).
- The scan cache holds the covered left ids as 4-byte cells and is dropped when it holds
  more than ``CACHE_CELLS`` ids in all (it only saves time).
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_left
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from forecasting.anomaly._state import pack, require, unpack

__all__ = ["CACHE_CELLS", "ContextMemory"]

CACHE_CELLS = 1 << 12  # covered-left ids the scan cache may hold (16 KB at most)
_MIN_ROWS = 64  # rows allocated at first, and the least a column grows by
_INT32_MAX = (1 << 31) - 1
_UINT16_IDS = 1 << 16  # left ids a uint16 column holds (0 .. 65535)
_INT16_IDS = 1 << 15  # neuron places an int16 column holds beside -1 (0 .. 32767)
_UINT16_COUNT = 0xFFFF  # counts a uint16 column holds while they are below this
_UINT16_POS = 0xFFFF  # the highest fact position a uint16 column of positions holds
_WHICH_BITS = 64  # facts a group may have for its overlaps to be found in one uint64 each

IntArray = npt.NDArray[np.int32]
_POWER = (1).__lshift__  # position -> its fact's bit
_FEW = 24  # left parts a scan checks one by one (below this, numpy's set-up costs more)


def _bits_of(mask: int) -> list[int]:
    """Positions of the set bits of ``mask``, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _digest(mask: int) -> int:
    """32 well-mixed bits of ``hash(mask)`` (a multiplicative hash: masks that differ only
    in high bits, or only in low ones, still spread)."""
    return (hash(mask) * 0x9E3779B97F4A7C15 >> 32) & 0xFFFFFFFF


def _room(column: npt.NDArray[Any], rows: int) -> npt.NDArray[Any]:
    """``column``, or a copy grown by an eighth (at least to ``rows``) when it holds fewer
    than ``rows`` rows."""
    if rows <= column.shape[0]:
        return column
    grown = np.zeros(
        max(rows, column.shape[0] + max(column.shape[0] // 8, _MIN_ROWS)), column.dtype
    )
    grown[: column.shape[0]] = column
    return grown


def _positions(
    masks: list[int], encoded: tuple[bytes, npt.NDArray[Any]] | None = None
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int32]]:
    """The fact positions of every mask, ascending, one mask after the other, and where
    each mask's positions start (one more entry than masks: the end). ``encoded``: the
    masks already as little-endian bytes one after the other, and each one's length."""
    if encoded is None:
        sizes = [(m.bit_length() + 7) // 8 for m in masks]
        data = b"".join(m.to_bytes(n, "little") for m, n in zip(masks, sizes, strict=True))
        lengths = np.array(sizes, dtype=np.int64)
    else:
        data, lengths = encoded[0], encoded[1].astype(np.int64)
    raw = np.frombuffer(data, dtype=np.uint8)
    # the masks are sparse: only their non-zero bytes are opened into bits
    full = np.flatnonzero(raw)
    row, col = np.nonzero(np.unpackbits(raw[full][:, None], axis=1, bitorder="little"))
    bits = full[row] * 8 + col  # ascending: by byte, then by bit in it
    firsts = np.cumsum(lengths) - lengths  # each mask's first byte
    owner = np.searchsorted(firsts + lengths, full[row], side="right")
    pos = bits - firsts[owner] * 8
    starts = np.zeros(len(masks) + 1, dtype=np.int32)
    np.cumsum(np.bincount(owner, minlength=len(masks)), out=starts[1:])
    wide = bool(pos.shape[0]) and int(pos.max()) > _UINT16_POS
    return pos.astype(np.int32 if wide else np.uint16), starts


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
        "_count_bound",
        "_group",
        "_hash_lids",
        "_hashes",
        "_left",
        "_low",
        "_neuron",
        "_neurons",
        "_nlefts",
        "_npos",
        "_pos",
        "_right",
        "_shift",
        "_size",
        "_slot",
        "_starts",
        "_top",
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
        # left mask -> left id, as _digest(mask) in ascending order and the ids alongside
        # (8 bytes a left part; a dict and the ids as Python ints cost ~60)
        self._hashes = array("I")
        self._hash_lids = array("i")
        # left part ``lid``'s fact positions, ascending: _pos[_starts[lid]:_starts[lid + 1]]
        # (both with room to grow: ``_npos`` positions and ``_nlefts`` left parts held)
        self._pos: npt.NDArray[Any] = np.zeros(_MIN_ROWS, dtype=np.uint16)
        self._starts: npt.NDArray[np.int32] = np.zeros(_MIN_ROWS, dtype=np.int32)
        self._npos = self._nlefts = 0
        self._top = 0  # the highest position held
        self._shift = max(self.offset, 1)  # right parts lie below this bit
        self._low = (1 << self._shift) - 1
        self._allocate(0)
        self._zero_lids = array("i")  # left ids holding an observed context, in order
        self._zero_left = bytearray()  # per left id: 1 when it is in ``_zero_lids``
        self._neurons = 0  # contexts that became neurons
        self._group = 0  # facts active one step ago
        self._cache: dict[int, tuple[int, array[int]]] = {}  # lid of group -> (scanned, ids)
        self._cached = 0  # ids held in the cache

    def _allocate(self, rows: int, lefts: int = 0, neurons: int = 0, counts: int = 0) -> None:
        """Empty context arrays with room for ``rows`` contexts, ``lefts`` left parts,
        ``neurons`` neurons and counts up to ``counts`` (the id and count columns are 16
        bits wide while their values fit)."""
        rows = max(rows, _MIN_ROWS)
        self._size = 0
        self._left: npt.NDArray[Any] = np.zeros(
            rows, dtype=np.uint16 if lefts <= _UINT16_IDS else np.int32
        )
        self._right: npt.NDArray[Any] = np.zeros(rows, dtype=self._right_type())
        # A count grows by at most one a step: ``_count_bound`` (the largest count at the
        # start plus the steps since) bounds them all, and the column widens before a
        # count could pass 16 bits.
        self._count: npt.NDArray[Any] = np.zeros(
            rows, dtype=np.uint16 if counts < _UINT16_COUNT else np.int32
        )
        self._count_bound = counts
        self._zero: npt.NDArray[np.uint8] = np.zeros(rows, dtype=np.uint8)
        # per context: its place among the neurons (fact offset + place), or -1
        self._neuron: npt.NDArray[Any] = np.full(
            rows, -1, dtype=np.int16 if neurons <= _INT16_IDS else np.int32
        )

    def _right_type(self) -> type[np.unsignedinteger[Any]] | type[np.int64]:
        return np.uint8 if self._shift <= 8 else np.int64

    def _grow(self) -> None:
        # by an eighth: a restored memory is sized to its contexts, and growing it by half
        # left a third of every column empty (the copies stay amortised: geometric)
        rows = self._left.shape[0]
        rows += max(rows // 8, _MIN_ROWS)
        for name in ("_left", "_right", "_count", "_zero", "_neuron"):
            old = getattr(self, name)
            new = np.full(rows, -1 if name == "_neuron" else 0, dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    @property
    def size(self) -> int:
        return self._size

    @property
    def _lefts(self) -> int:
        """How many left parts are held."""
        return self._nlefts

    def _mask(self, lid: int) -> int:
        """Left part ``lid``'s fact mask."""
        first, last = self._starts[lid : lid + 2].tolist()
        # distinct powers of two: their sum is their union (and a loop in C)
        return sum(map(_POWER, self._pos[first:last].tolist()))

    def _append_left(self, left: int) -> None:
        """Store the positions of a new left part's facts (its id: the next one)."""
        bits = _bits_of(left)
        start, end = self._npos, self._npos + len(bits)
        if bits and bits[-1] > self._top:
            self._top = bits[-1]
            if self._top > _UINT16_POS and self._pos.dtype == np.uint16:
                self._pos = self._pos.astype(np.int32)  # positions beyond 16 bits from here
        self._pos = _room(self._pos, end)
        self._pos[start:end] = bits
        self._npos = end
        self._nlefts += 1
        self._starts = _room(self._starts, self._nlefts + 1)
        self._starts[self._nlefts] = end

    def _within(self, group: int, first: int, last: int) -> npt.NDArray[np.intp]:
        """Per left part ``first`` .. ``last - 1``: how many of its facts lie in ``group``."""
        return self._overlaps(_bits_of(group), first, last, which=False)[0]

    def _overlaps(
        self, bits: list[int], first: int, last: int, *, which: bool
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint64] | None]:
        """Per left part ``first`` .. ``last - 1``: how many of its facts lie in the fact
        set whose positions are ``bits`` (ascending), and with ``which``, which of them: a
        mask over ``bits`` (bit i for ``bits[i]``; None when the set has more than 64
        facts)."""
        starts = self._starts[first : last + 1]
        base, end = int(starts[0]), int(starts[-1])
        if last <= first or end == base:
            return np.zeros(last - first, dtype=np.intp), np.zeros(last - first, np.uint64)
        pos = self._pos[base:end]
        size = max(self._top, bits[-1] if bits else 0) + 1
        ends = starts - base
        inside = np.zeros(size, dtype=np.bool_)
        inside[bits] = True
        hits = np.zeros(pos.shape[0] + 1, dtype=np.intp)
        np.cumsum(inside[pos], out=hits[1:])
        counts = hits[ends[1:]] - hits[ends[:-1]]
        if not which or len(bits) > _WHICH_BITS:
            return counts, None
        # distinct powers of two summed per left part (a running sum that may wrap
        # around 2**64: the differences are still exact, as each part's own sum fits)
        weight = np.zeros(size, dtype=np.uint64)
        weight[bits] = np.left_shift(np.uint64(1), np.arange(len(bits), dtype=np.uint64))
        sums = np.zeros(pos.shape[0] + 1, dtype=np.uint64)
        np.cumsum(weight[pos], out=sums[1:])
        return counts, sums[ends[1:]] - sums[ends[:-1]]

    def _lengths(self, first: int, last: int) -> npt.NDArray[np.intp]:
        """How many facts each left part ``first`` .. ``last - 1`` has."""
        return np.diff(self._starts[first : last + 1]).astype(np.intp)

    def _widen(self, facts: int) -> None:
        """Make room for right parts up to ``facts`` (only for fact sets above
        ``sensor_bits``, which the detector never produces)."""
        shift = max(self._shift, facts.bit_length())
        if shift == self._shift:
            return
        self._shift, self._low = shift, (1 << shift) - 1
        if self._right.dtype != self._right_type():
            self._right = self._right.astype(self._right_type())

    def _left_id(self, left: int) -> int:
        lid = self._find(left)
        if lid < 0:
            lid = self._lefts
            if lid == _UINT16_IDS and self._left.dtype == np.uint16:
                self._left = self._left.astype(np.int32)  # ids beyond 16 bits from here
            self._hashes.insert(self._slot, _digest(left))
            self._hash_lids.insert(self._slot, lid)
            self._append_left(left)
            self._zero_left.append(0)
        return lid

    def _find(self, left: int) -> int:
        """The id of left part ``left``, or -1 (then ``_slot`` is where its hash goes)."""
        wanted = _digest(left)
        hashes = self._hashes
        i = self._slot = bisect_left(hashes, wanted)
        while i < len(hashes) and hashes[i] == wanted:  # equal hashes: compare the masks
            lid = self._hash_lids[i]
            if self._mask(lid) == left:
                return lid
            i += 1
        return -1

    def _add(self, lid: int, right: int, zero: bool) -> int:
        """Store the new context ``lid -> right``; its id."""
        cid = self._size
        if cid == self._left.shape[0]:
            self._grow()
        self._left[cid] = lid
        self._right[cid] = right
        self._count[cid] = 0
        self._zero[cid] = zero
        self._neuron[cid] = -1
        self._size = cid + 1
        return cid

    def _observed(self, lid: int) -> None:
        if not self._zero_left[lid]:
            self._zero_left[lid] = 1
            self._zero_lids.append(lid)

    def _covered(self, key: int, group: int) -> array[int]:
        """Left ids whose facts all lie in ``group`` (cached under ``key``, the group's own
        left id; extended as the memory grows), ascending."""
        total = self._lefts
        entry = self._cache.get(key)
        if entry is None:
            start = 0
            covered: array[int] = array("I")
        else:
            start, covered = entry
            if start == total:
                return covered
        before = len(covered)
        if total - start < _FEW:
            for lid in range(start, total):
                mask = self._mask(lid)
                if mask & group == mask:
                    covered.append(lid)
        else:
            inside = self._within(group, start, total)
            whole = np.flatnonzero(inside == self._lengths(start, total)) + start
            covered.frombytes(whole.astype(np.uint32).tobytes())
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
        key = self._left_id(group)
        size = self._size  # the contexts before this step's: the predictions
        lids = self._left[:size]
        marked = np.zeros(self._lefts, dtype=np.bool_)
        covered = self._covered(key, group)
        marked[np.frombuffer(covered, dtype=np.uint32)] = True
        selected_rows = marked[lids]
        selected = int(selected_rows.sum())
        absent = ~sensor & self._low  # a right part is within sensor iff it has none of these
        hits = (selected_rows & ((self._right[:size] & absent) == 0)).nonzero()[0]
        found = hits.shape[0]
        if found > 1:  # the reference's order: left part id, then creation
            hits = hits[lids[hits].argsort(kind="stable")]
        # The pair (group, sensor), if held, is among the hits (its left part is the
        # group, its right part the sensor): a derived pair now observed whole is marked
        # so (marking an observed one again is a no-op); a pair not held is new.
        same = hits[(lids[hits] == key) & (self._right[hits] == sensor)] if found else hits
        novel = not same.shape[0]
        newest = self._add(key, sensor, True) if novel else -1
        self._observed(key)
        if found:
            self._zero[same] = 1
        share_new = self._generalise(group, sensor, newest) if novel else 0.0
        self._count_bound += 1
        if self._count_bound >= _UINT16_COUNT and self._count.dtype == np.uint16:
            self._count = self._count.astype(np.int32)
        count = self._count
        count[hits] += 1
        share_active = found / selected if selected else 0.0
        if found > self.max_neurons:  # stable: ties keep the earlier context
            hits = hits[count[hits].argsort(kind="stable")[-self.max_neurons :]]
        places = self._neuron[hits].tolist()
        offset = self.offset
        for cid, place in zip(hits.tolist(), places, strict=True):
            if place < 0:
                place = self._neurons
                if place == _INT16_IDS and self._neuron.dtype == np.int16:
                    self._neuron = self._neuron.astype(np.int32)
                self._neuron[cid] = place
                self._neurons = place + 1
            sensor |= 1 << (offset + place)
        self._group = sensor
        return (1.0 - share_active + share_new) / 2.0

    def _generalise(self, group: int, sensor: int, newest: int) -> float:
        """Store the overlaps of this new pair with earlier observed pairs; the share of the
        candidate contexts that were really new."""
        total = self._lefts
        rank = np.full(total, -1, dtype=np.int64)  # place in _zero_lids of a usable left part
        whole = np.zeros(total, dtype=np.bool_)
        zero_lids = np.frombuffer(self._zero_lids.tobytes(), dtype=np.int32)
        # per observed left part, its facts within the group: the overlap is usable when it
        # is not empty and holds at most ``max_left`` facts (the left part of a new pair)
        bits = _bits_of(group)
        counts, which = self._overlaps(bits, 0, total, which=True)
        inside = counts[zero_lids]
        usable = (inside > 0) & (inside <= self.max_left)
        usable_lids = zero_lids[usable]
        rank[usable_lids] = np.flatnonzero(usable)
        whole[usable_lids] = inside[usable] == self._lengths(0, total)[usable_lids]
        lefts: dict[int, int] = {}  # usable left id -> its overlap with the group
        spread: dict[int, int] = {}  # an overlap as a mask over ``bits`` -> the overlap
        small = which.tolist() if which is not None else None
        powers = [1 << b for b in bits]
        candidates: dict[tuple[int, int], None] = {}
        if usable_lids.shape[0]:
            size = self._size
            lids = self._left[:size]
            rights = self._right[:size]
            places = rank[lids]
            overlap = rights & sensor
            keep = (places >= 0) & (self._zero[:size] != 0) & (overlap != 0)
            keep &= ~(whole[lids] & (overlap == rights))
            keep[newest] = False
            rows = np.flatnonzero(keep)
            rows = rows[np.argsort(places[rows], kind="stable")]  # _zero_lids order, then age
            for lid, right in zip(lids[rows].tolist(), overlap[rows].tolist(), strict=True):
                left = lefts.get(lid)
                if left is None:
                    if small is None:
                        left = self._mask(lid) & group
                    else:
                        over = small[lid]
                        left = spread.get(over, -1)
                        if left < 0:
                            left, rest = 0, over
                            while rest:
                                low = rest & -rest
                                left |= powers[low.bit_length() - 1]
                                rest ^= low
                            spread[over] = left
                    lefts[lid] = left
                candidates[(left, right)] = None
        added = 1  # the observed pair
        if candidates:
            found: dict[int, int] = {}  # left mask -> id, for this call (lefts repeat)
            pairs = []
            for left, right in candidates:
                lid = found.get(left, -1)
                if lid < 0:
                    lid = found[left] = self._left_id(left)
                pairs.append((lid, right))
            # the pairs already held, among the contexts of these left parts
            size = self._size
            wanted = np.zeros(self._lefts, dtype=np.bool_)
            wanted[list(found.values())] = True
            rows = np.flatnonzero(wanted[self._left[:size]])
            held = set(zip(self._left[rows].tolist(), self._right[rows].tolist(), strict=True))
            for lid, right in pairs:  # distinct: distinct left masks have distinct ids
                if (lid, right) not in held:
                    self._add(lid, right, False)
                    added += 1
        candidates[(group, sensor)] = None
        return added / len(candidates)

    # -- persistence -------------------------------------------------------------------
    def _neuron_order(self) -> npt.NDArray[np.intp]:
        """Ids of the contexts that became neurons, in the order they became neurons."""
        places = self._neuron[: self._size]
        neurons = np.flatnonzero(places >= 0)
        return neurons[places[neurons].argsort()]

    def state(self, *, packed: bool = True) -> dict[str, Any]:
        """The memory as JSON values: packed columns (``format`` 2, what the detector
        saves), or with ``packed=False`` the list form the first implementation saved
        (left parts as bit positions, contexts as [right, id] pairs per left part)."""
        if packed:
            return self._packed_state()
        size = self._size
        lids = self._left[:size]
        order = np.argsort(lids, kind="stable")  # by left part, then creation
        ends = np.cumsum(np.bincount(lids, minlength=self._lefts)).tolist()
        rights = self._right[:size][order].tolist()
        ids = order.tolist()
        pairs, start = [], 0
        for end in ends:
            pairs.append([[rights[i], ids[i]] for i in range(start, end)])
            start = end
        neurons = self._neuron_order()
        return {
            "left": [
                self._pos[first:last].tolist()
                for first, last in itertools.pairwise(self._starts[: self._nlefts + 1].tolist())
            ],
            "pairs": pairs,
            "count": self._count[:size].tolist(),
            "zero": self._zero[:size].tolist(),
            "zero_lids": self._zero_lids.tolist(),
            "neurons": [[c, self.offset + i] for i, c in enumerate(neurons.tolist())],
            "group": _bits_of(self._group),
        }

    def _packed_state(self) -> dict[str, Any]:
        size = self._size
        raw, lengths = self._mask_bytes()
        return {
            "format": 2,
            "left_bytes": pack(raw),  # each mask, little-endian
            "left_lengths": pack(lengths),
            "context_left": pack(self._left[:size].astype(np.int32)),
            "context_right": pack(self._right[:size]),
            "count": pack(self._count[:size].astype(np.int32)),
            "zero": pack(self._zero[:size]),
            "zero_lids": pack(np.frombuffer(self._zero_lids, dtype=np.int32).astype(np.int64)),
            "neurons": pack(self._neuron_order().astype(np.int32)),
            "group": _bits_of(self._group),
        }

    def _mask_bytes(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32]]:
        """Every left part's mask as little-endian bytes, one after the other (as
        ``int.to_bytes`` writes them: as many bytes as the highest fact needs), and how many
        bytes each takes."""
        pos = self._pos[: self._npos].astype(np.int64)
        starts = self._starts[: self._nlefts + 1].astype(np.int64)
        counts = np.diff(starts)
        lengths = np.zeros(counts.shape[0], dtype=np.int64)
        filled = counts > 0
        lengths[filled] = (
            pos[starts[1:][filled] - 1] // 8 + 1
        )  # positions ascend: the last is the highest
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        owner = np.repeat(np.arange(counts.shape[0]), counts)
        raw = np.bincount(
            offsets[owner] + pos // 8, weights=1 << (pos % 8), minlength=int(lengths.sum())
        )
        return raw.astype(np.uint8), lengths.astype(np.int32)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from ``state()`` in either form; ``ValueError`` names a bad field and
        leaves the memory empty."""
        self.clear()
        try:
            packed = isinstance(state, dict) and state.get("format") == 2
            self._fill(_packed_parts(state) if packed else _list_parts(state, self.offset))
        except ValueError:
            self.clear()
            raise

    def _fill(self, parts: _Parts) -> None:
        """Check what both state forms must satisfy, then take the parts in."""
        lefts, owner, rights = parts.lefts, parts.owner, parts.rights
        contexts = len(parts.counts)
        if len(set(lefts)) != len(lefts):
            raise ValueError("context.left names a left part twice")
        if any(len(column) != contexts for column in (owner, rights, parts.zero)):
            raise ValueError("context columns must have one row per context")
        if contexts and not (owner.min() >= 0 and owner.max() < len(lefts)):
            raise ValueError("context.left refers to an unknown left part")
        if contexts and rights.min() < 0:
            raise ValueError("context.right holds a negative fact set")
        if contexts and not (parts.counts.min() >= 0 and parts.counts.max() <= _INT32_MAX):
            raise ValueError("context.count must hold counts from 0 to 2**31 - 1")
        if contexts and parts.zero.max() > 1:
            raise ValueError("context.zero must hold 0 or 1")
        widest = int(rights.max()).bit_length() if contexts else 0
        if len(np.unique(owner.astype(np.int64) << widest | rights)) != contexts:
            raise ValueError("context columns hold one pair twice")
        if not all(0 <= lid < len(lefts) for lid in parts.zero_lids):
            raise ValueError("context.zero_lids refers to an unknown left part")
        if len(set(parts.zero_lids)) != len(parts.zero_lids):
            raise ValueError("context.zero_lids names a left part twice")
        if not all(0 <= cid < contexts for cid in parts.neurons):
            raise ValueError("context.neurons refers to an unknown context")
        if len(set(parts.neurons)) != len(parts.neurons):
            raise ValueError("context.neurons names a context twice")
        self._widen((1 << widest) - 1)
        most = int(parts.counts.max()) if contexts else 0
        self._allocate(contexts, len(lefts), len(parts.neurons), most)
        digests = [_digest(mask) for mask in lefts]
        by_hash = sorted(range(len(lefts)), key=digests.__getitem__)
        self._hashes = array("I", [digests[lid] for lid in by_hash])
        self._hash_lids = array("i", by_hash)
        self._pos, self._starts = _positions(lefts, parts.encoded)
        self._npos, self._nlefts = len(self._pos), len(lefts)
        self._top = int(self._pos.max()) if self._npos else 0
        self._size = contexts
        self._left[:contexts] = owner
        self._right[:contexts] = rights
        self._count[:contexts] = parts.counts
        self._zero[:contexts] = parts.zero
        self._zero_lids = array("i", parts.zero_lids)
        self._zero_left = bytearray(len(lefts))
        for lid in parts.zero_lids:
            self._zero_left[lid] = 1
        self._neuron[parts.neurons] = np.arange(len(parts.neurons), dtype=np.int32)
        self._neurons = len(parts.neurons)
        self._group = parts.group


class _Parts(NamedTuple):
    """A saved memory, decoded from either form, not yet checked as a whole."""

    lefts: list[int]  # masks by left part id
    owner: npt.NDArray[np.int64]  # per context: its left part id
    rights: npt.NDArray[np.int64]  # per context: its right part
    counts: npt.NDArray[np.int64]
    zero: npt.NDArray[np.int64]
    zero_lids: list[int]
    neurons: list[int]  # context ids in the order they became neurons
    group: int
    encoded: tuple[bytes, npt.NDArray[Any]] | None = None  # lefts as saved, when packed


def _list_parts(state: dict[str, Any], offset: int) -> _Parts:
    """The first implementation's form: bit lists, [right, id] pairs per left part."""
    lefts = [_mask_of(p, "context.left") for p in require(state, "left")]
    raw_pairs = require(state, "pairs")
    count = require(state, "count")
    zero = require(state, "zero")
    if not (isinstance(raw_pairs, list) and len(raw_pairs) == len(lefts)):
        raise ValueError("context.pairs must hold one list per left part")
    if not (isinstance(count, list) and isinstance(zero, list) and len(count) == len(zero)):
        raise ValueError("context.count and context.zero must be lists of equal length")
    contexts = len(count)
    owner = [-1] * contexts
    rights = [0] * contexts
    for lid, entries in enumerate(raw_pairs):
        for r, c in entries:
            right, cid = int(r), int(c)
            if not 0 <= cid < contexts:
                raise ValueError("context.pairs refers to an unknown context")
            if owner[cid] >= 0:
                raise ValueError("context.pairs names a context twice")
            owner[cid], rights[cid] = lid, right
    if any(o < 0 for o in owner):
        raise ValueError("context.pairs leaves a context without a left part")
    if any(r < 0 for r in rights):
        raise ValueError("context.pairs holds a negative fact set")
    neurons = []
    for place, (c, b) in enumerate(require(state, "neurons")):
        if int(b) != offset + place:  # as every memory numbers them
            raise ValueError("context.neurons must hold fact positions in order")
        neurons.append(int(c))
    counts = [int(c) for c in count]
    if any(not 0 <= c <= _INT32_MAX for c in counts):  # before numpy sees a huge int
        raise ValueError("context.count must hold counts from 0 to 2**31 - 1")
    return _Parts(
        lefts,
        np.array(owner, dtype=np.int64),
        np.array(rights, dtype=np.int64),
        np.array(counts, dtype=np.int64),
        np.array([1 if z else 0 for z in zero], dtype=np.int64),
        [int(i) for i in require(state, "zero_lids")],
        neurons,
        _mask_of(require(state, "group"), "context.group"),
    )


def _packed_parts(state: dict[str, Any]) -> _Parts:
    """The packed form (``format`` 2)."""
    raw = unpack(require(state, "left_bytes"), "context.left_bytes", ("|u1",)).tobytes()
    lengths = unpack(require(state, "left_lengths"), "context.left_lengths", ("<i4",))
    if (lengths < 0).any() or int(lengths.sum()) != len(raw):
        raise ValueError("context.left_lengths must split context.left_bytes exactly")
    lefts, start = [], 0
    for length in lengths.tolist():
        lefts.append(int.from_bytes(raw[start : start + length], "little"))
        start += length
    return _Parts(
        lefts,
        unpack(require(state, "context_left"), "context.left", ("<i4",)).astype(np.int64),
        unpack(require(state, "context_right"), "context.right", ("|u1", "<i8")).astype(np.int64),
        unpack(require(state, "count"), "context.count", ("<i4",)).astype(np.int64),
        unpack(require(state, "zero"), "context.zero", ("|u1",)).astype(np.int64),
        unpack(require(state, "zero_lids"), "context.zero_lids", ("<i8",)).tolist(),
        unpack(require(state, "neurons"), "context.neurons", ("<i4",)).tolist(),
        _mask_of(require(state, "group"), "context.group"),
        (raw, lengths),
    )
