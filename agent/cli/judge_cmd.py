"""`autonomic judge`: judge a canary against its baseline from two CSV files.

The files are replayed interval by interval through the same incremental judge the
daemon runs, so the printed time to verdict is the one the daemon would have reached.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import InputError

if TYPE_CHECKING:
    from agent.csvio import Table
    from forecasting.canary import MetricSpec, Verdict

__all__ = ["register", "run_judge"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "judge",
        help="judge a canary against its baseline from two CSV files",
        description=(
            "Judge a canary against its baseline. Each CSV has a timestamp column and one "
            "column per metric, on the same step and with the same number of rows (row i of "
            "one file is paired with row i of the other). The run is replayed in time order "
            "as the daemon would judge it."
        ),
    )
    parser.add_argument("--baseline", required=True, type=Path, help="baseline CSV")
    parser.add_argument("--canary", required=True, type=Path, help="canary CSV")
    parser.add_argument(
        "--spec",
        type=Path,
        help="YAML spec: metrics: {name: {kind, direction, tolerance, critical, ...}}; "
        "without it every column is continuous and an increase is a regression",
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="analysis length; still unclear at this point means inconclusive "
        "(default: the span of the files)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="error budget for a wrong rollback or a wrong promotion (default 0.01)",
    )
    parser.add_argument(
        "--min-promote",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="promote no earlier than this (rollbacks are never held back; default 0)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="treat empty or NaN cells as missing intervals instead of an error",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    verdict = run_judge(
        baseline=args.baseline,
        canary=args.canary,
        spec_path=args.spec,
        max_duration=args.max_duration,
        alpha=args.alpha,
        allow_missing=args.allow_missing,
        min_promote=args.min_promote,
    )
    print(f"verdict: {verdict.decision.value}  (confidence {verdict.confidence:.2f})")
    if verdict.decided_after_seconds is None:
        print(f"decided after: not decided (data end at {verdict.elapsed_seconds:g} s)")
    else:
        print(f"decided after: {verdict.decided_after_seconds:g} s")
    print(verdict.sentence)
    for finding in verdict.metrics:
        print(f"  - [{finding.status.value}] {finding.sentence}")
    if args.json:
        print(json.dumps(verdict.to_dict(), sort_keys=True))
    return 0


def load_spec(path: Path) -> tuple[MetricSpec, ...]:
    """Read and validate a YAML spec; every error names the file and the field."""
    import yaml

    from forecasting.canary import CanarySpecError, parse_spec

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the spec: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML: {exc}") from exc
    try:
        return parse_spec(raw)
    except CanarySpecError as exc:
        raise InputError(f"{path}: {exc.field}: {exc.message}") from exc


def _step(table: Table) -> float:
    ts = table.timestamps
    if len(ts) < 2:
        return 60.0
    step = ts[1] - ts[0]
    for i in range(1, len(ts)):
        gap = ts[i] - ts[i - 1]
        if gap <= 0:
            raise InputError(f"{table.path}: row {i + 1}: timestamps must increase")
        if not math.isclose(gap, step, rel_tol=1e-6, abs_tol=1e-6):
            raise InputError(
                f"{table.path}: row {i + 1}: the step changes from {step:g} s to {gap:g} s; "
                "both files must be on one regular step (fill gaps with empty cells and "
                "pass --allow-missing)"
            )
    return step


def _check_tables(
    baseline: Table, canary: Table, specs: tuple[MetricSpec, ...], allow_missing: bool
) -> float:
    from forecasting.canary import MetricKind

    if len(baseline.timestamps) != len(canary.timestamps):
        raise InputError(
            f"{baseline.path} has {len(baseline.timestamps)} rows but {canary.path} has "
            f"{len(canary.timestamps)}: baseline and canary must cover the same intervals"
        )
    b_step, c_step = _step(baseline), _step(canary)
    if not math.isclose(b_step, c_step, rel_tol=1e-6):
        raise InputError(
            f"{baseline.path} is on a {b_step:g} s step but {canary.path} on {c_step:g} s: "
            "both must use the same step"
        )
    for table in (baseline, canary):
        for spec in specs:
            for column in spec.columns:
                if column not in table.columns:
                    raise InputError(
                        f"{table.path}: no column {column!r} (needed by metric {spec.name!r}); "
                        f"the columns are {sorted(table.columns)}"
                    )
                values = table.columns[column]
                for i, value in enumerate(values):
                    where = f"{table.path}: row {i + 1} (t={table.timestamps[i]:g}), {column!r}"
                    if math.isnan(value):
                        if allow_missing:
                            continue
                        raise InputError(
                            f"{where}: missing or NaN value; fill it in, or pass "
                            "--allow-missing to treat it as a missing interval"
                        )
                    if math.isinf(value):
                        raise InputError(f"{where}: infinite value")
                    counts = spec.kind is MetricKind.RATIO
                    if value < 0 and (counts or not spec.allow_negative):
                        what = "count" if counts else "value (a latency or gauge)"
                        raise InputError(
                            f"{where}: negative {what} {value:g}; "
                            + (
                                "counts cannot be negative"
                                if counts
                                else "set allow_negative: true in the spec if it can be"
                            )
                        )
                if counts and spec.cumulative:
                    _check_counter(table, column, values)
    return b_step


def _check_counter(table: Table, column: str, values: list[float]) -> None:
    previous = math.nan
    for i, value in enumerate(values):
        if math.isnan(value):
            continue
        if value < previous:
            raise InputError(
                f"{table.path}: row {i + 1} (t={table.timestamps[i]:g}), {column!r}: the "
                f"counter went down from {previous:g} to {value:g} (a reset); give "
                "per-interval counts (cumulative: false) or cut the run at the reset"
            )
        previous = value


def run_judge(
    *,
    baseline: Path,
    canary: Path,
    spec_path: Path | None = None,
    max_duration: float | None = None,
    alpha: float | None = None,
    allow_missing: bool = False,
    min_promote: float = 0.0,
) -> Verdict:
    """Read, validate and replay the two files; return the verdict after the replay."""
    from agent.csvio import read_table
    from forecasting.canary import (
        CanaryDataError,
        CanaryJudge,
        CanarySpecError,
        Interval,
        JudgeSettings,
        default_specs,
    )

    base_table = read_table(baseline)
    canary_table = read_table(canary)
    if spec_path is not None:
        specs = load_spec(spec_path)
    else:
        if set(base_table.columns) != set(canary_table.columns):
            raise InputError(
                f"{baseline} has columns "
                f"{sorted(base_table.columns)} but {canary} has {sorted(canary_table.columns)}; "
                "without a spec both files must have the same metric columns"
            )
        specs = default_specs(list(base_table.columns))
    step = _check_tables(base_table, canary_table, specs, allow_missing)
    span = base_table.timestamps[-1] - base_table.timestamps[0] + step
    if max_duration is not None and not (math.isfinite(max_duration) and max_duration > 0):
        raise InputError(f"--max-duration must be a positive number of seconds, not {max_duration}")
    try:
        settings = JudgeSettings(
            alpha=0.01 if alpha is None else alpha,
            max_duration_seconds=span if max_duration is None else max_duration,
            step_seconds=step,
            min_promote_seconds=min_promote,
        )
    except CanarySpecError as exc:
        flags = {
            "alpha": "--alpha",
            "min_promote_seconds": "--min-promote",
            "max_duration_seconds": "--max-duration",
        }
        raise InputError(f"{flags.get(exc.field, exc.field)}: {exc.message}") from exc
    judge = CanaryJudge(specs, settings)
    columns = sorted({c for s in specs for c in s.columns})
    verdict = None
    for i, ts in enumerate(base_table.timestamps):
        interval = Interval(
            timestamp=ts,
            baseline={c: base_table.columns[c][i] for c in columns},
            canary={c: canary_table.columns[c][i] for c in columns},
        )
        try:
            verdict = judge.update(interval)
        except CanaryDataError as exc:
            raise InputError(f"row {i + 1} (t={ts:g}): {exc}") from exc
        if verdict.final:
            break
    assert verdict is not None  # read_table refuses files without rows
    return verdict
