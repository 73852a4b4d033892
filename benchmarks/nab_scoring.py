"""NAB v1.1 scoring, re-implemented from the published rules (numenta/NAB ``nab/sweeper.py``).

The rules, as NAB applies them:

- The probationary period of a file is ``min(floor(0.15 * rows), 0.15 * 5000)`` rows; those
  rows are dropped before scoring (neither true nor false positives).
- A row inside a labelled window scores, if detected, ``S(-(right - i + 1) / width) * tp /
  S(-1)`` where ``S(x) = 2 * sigmoid(-5x) - 1``. Only the best (earliest) detection in a
  window counts; an undetected window costs ``-fn``.
- A detection outside every window costs ``fp * S(|prevRight - i| / (prevWidth - 1))`` after
  a window (``S`` is -1 beyond 3 window widths) and ``-fp`` before the first window.
- A row is a detection when ``anomaly_score >= threshold``. One threshold per detector and
  profile is chosen to maximise the total over all files (every distinct score is a
  candidate, plus 1.1 which detects nothing).
- Normalised score: ``100 * (raw - null) / (perfect - null)`` where ``null`` is the score of
  the detector that detects nothing (``-fn * windows``) and ``perfect = tp * windows``.

Everything here is vectorised with numpy so a full corpus sweep takes well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class LabelledFile:
    """One NAB file: its rows' window membership and per-row sweep scores (per profile)."""

    name: str
    rows: int
    probation: int
    windows: tuple[tuple[int, int], ...]  # inclusive row index ranges


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """NAB's scaled sigmoid: 2 * sigmoid(-5 x) - 1, clamped to -1 beyond 3 widths."""
    value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position > 3.0, -1.0, value)


def probation_length(rows: int) -> int:
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000))


def window_ids(file: LabelledFile) -> IntArray:
    """Per row: the window index (0..), -1 outside every window, -2 in the probation period."""
    ids = np.full(file.rows, -1, dtype=np.int64)
    for k, (left, right) in enumerate(file.windows):
        ids[left : right + 1] = k
    ids[: file.probation] = -2
    return ids


def sweep_scores(file: LabelledFile, profile: Profile) -> FloatArray:
    """The NAB weight each row would earn if it were a detection."""
    rows = np.arange(file.rows, dtype=np.float64)
    weight = np.full(file.rows, -profile.fp)  # before any window: a flat false positive
    max_tp = float(scaled_sigmoid(np.array([-1.0]))[0])
    previous_right: int | None = None
    previous_width = 0.0
    edges = [*file.windows, (file.rows, file.rows)]
    for k, (left, right) in enumerate(edges):
        # rows between the previous window's right edge and this window's left edge
        start = 0 if previous_right is None else previous_right + 1
        if previous_right is not None and left > start:
            gap = rows[start:left]
            position = np.abs(previous_right - gap) / (previous_width - 1.0)
            weight[start:left] = scaled_sigmoid(position) * profile.fp
        if k == len(file.windows):
            break
        width = float(right - left + 1)
        inside = rows[left : right + 1]
        position = -(right - inside + 1.0) / width
        weight[left : right + 1] = scaled_sigmoid(position) * profile.tp / max_tp
        previous_right, previous_width = right, width
    return weight


@dataclass(frozen=True)
class SweepResult:
    threshold: float
    raw: float
    null: float
    perfect: float
    detected_windows: int
    false_positive_rows: int

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


class Corpus:
    """Pre-computed per-row weights for every file and profile, ready for fast sweeps."""

    def __init__(self, files: Sequence[LabelledFile], profiles: Sequence[Profile]) -> None:
        self.files = list(files)
        self.profiles = list(profiles)
        self._ids: list[IntArray] = []
        offset = 0
        for file in self.files:
            ids = window_ids(file)
            self._ids.append(np.where(ids >= 0, ids + offset, ids))
            offset += len(file.windows)
        self.total_windows = offset
        self._weights = {
            p.name: np.concatenate([sweep_scores(f, p) for f in self.files]) for p in self.profiles
        }
        self._all_ids = np.concatenate(self._ids) if self._ids else np.zeros(0, np.int64)

    def subset(self, names: Sequence[str]) -> Corpus:
        keep = set(names)
        return Corpus([f for f in self.files if f.name in keep], self.profiles)

    def _flatten(self, scores: dict[str, FloatArray]) -> FloatArray:
        parts = []
        for file in self.files:
            values = np.asarray(scores[file.name], dtype=np.float64)
            if values.shape[0] != file.rows:
                raise ValueError(f"{file.name}: {values.shape[0]} scores for {file.rows} rows")
            parts.append(np.nan_to_num(values, nan=0.0))
        return np.concatenate(parts)

    def sweep(
        self, scores: dict[str, FloatArray], profile: Profile, threshold: float | None = None
    ) -> SweepResult:
        """Best threshold over all files (or the score at a fixed ``threshold``)."""
        flat = self._flatten(scores)
        weights = self._weights[profile.name]
        ids = self._all_ids
        scorable = ids != -2
        flat, weights, ids = flat[scorable], weights[scorable], ids[scorable]
        order = np.argsort(-flat, kind="stable")
        s, w, k = flat[order], weights[order], ids[order]
        null = -profile.fn * self.total_windows
        perfect = profile.tp * self.total_windows
        # each step's score change: an outside detection adds its (negative) weight; an
        # inside detection raises its window's part to the running maximum
        delta = np.where(k == -1, w, 0.0)
        inside = np.flatnonzero(k >= 0)
        if inside.size:
            kin = k[inside]
            by_window = np.argsort(kin, kind="stable")
            positions = inside[by_window]
            kw = kin[by_window]
            ww = w[positions]
            starts = np.r_[0, np.flatnonzero(np.diff(kw)) + 1]
            running = np.empty_like(ww)
            for a, b in zip(starts, [*starts[1:], len(kw)], strict=True):
                running[a:b] = np.maximum.accumulate(ww[a:b])
            previous = np.empty_like(running)
            previous[:] = running
            previous[1:] = running[:-1]
            previous[starts] = -profile.fn
            delta[positions] = running - previous
        total = null + np.cumsum(delta)
        # the score for threshold s[j] includes every row with score >= s[j]: group ends
        group_end = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1] if len(s) else np.r_[[]]
        group_end = group_end.astype(np.int64)
        candidates_thr = np.r_[1.1, s[group_end]]
        candidates_raw = np.r_[null, total[group_end]]
        if threshold is None:
            best = int(np.argmax(candidates_raw))
        else:
            eligible = np.flatnonzero(candidates_thr >= threshold)
            best = int(eligible[-1])
        chosen = float(candidates_thr[best])
        detected = s >= chosen if best > 0 else np.zeros(len(s), bool)
        hit_windows = int(np.unique(k[detected & (k >= 0)]).size)
        false_rows = int(np.count_nonzero(detected & (k == -1)))
        return SweepResult(
            chosen, float(candidates_raw[best]), null, perfect, hit_windows, false_rows
        )


def average_precision(scores: dict[str, FloatArray], corpus: Corpus) -> float:
    """Threshold-free: point-wise average precision (PR-AUC) with window rows as positives.

    Probationary rows are dropped, as in NAB. A detector that ranks in-window rows above
    out-of-window rows on the whole corpus (one ranking for all files) scores 1.
    """
    flat = corpus._flatten(scores)
    ids = corpus._all_ids
    keep = ids != -2
    s, positive = flat[keep], ids[keep] >= 0
    order = np.argsort(-s, kind="stable")
    hits = positive[order]
    if not hits.any():
        return float("nan")
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float(precision[hits].sum() / hits.sum())


def window_recall_at_fp(scores: dict[str, FloatArray], corpus: Corpus, fp_rate: float) -> float:
    """Fraction of windows with a detection at the threshold giving ``fp_rate`` of outside rows."""
    flat = corpus._flatten(scores)
    ids = corpus._all_ids
    keep = ids != -2
    s, k = flat[keep], ids[keep]
    outside = np.sort(s[k == -1])[::-1]
    if not outside.size:
        return float("nan")
    cut = outside[min(int(fp_rate * outside.size), outside.size - 1)]
    hit = np.unique(k[(s > cut) & (k >= 0)]).size
    return hit / corpus.total_windows
