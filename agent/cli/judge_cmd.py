"""`autonomic judge`: judge a canary against its baseline from two CSV files.

The files are replayed interval by interval through the same incremental judge the
daemon runs, so the printed time to verdict is the one the daemon would have reached. An
interval the judge refuses is skipped, as the daemon skips it, and named on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli._numbers import number_arg
from agent.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.csvio import Table
    from forecasting.canary import MetricSpec, Verdict

__all__ = ["EXIT_CODES", "register", "run_judge"]

# The verdict is the exit status, so that a CI step running the judge fails on anything
# but a promotion, as Kayenta's or an Argo analysis's would. 1 is left to a crash and 2 to
# a bad input (every command's code for an error), so neither is read as a verdict.
EXIT_CODES = {"promote": 0, "rollback": 3, "inconclusive": 4, "continue": 5}

# The intervals skipped (data the judge refuses) that are each named on stderr; the rest
# are counted in one more line, so a file with a bad column does not flood the terminal.
MAX_SKIP_NOTES = 10


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "judge",
        help="judge a canary against its baseline from two CSV files",
        description=(
            "Judge a canary against its baseline. Each CSV has a timestamp column and one "
            "column per metric, on one regular step. The two files must cover the same "
            "intervals: the same number of rows, and row i of one file has the timestamp of "
            "row i of the other (to within 1% of the step), since the judge compares the "
            "two sides over the same window; files that are shifted or cover different "
            "windows are refused, naming the first line where they differ (leave a cell "
            "empty and pass --allow-missing for an interval one side lacks). The run is "
            "replayed in time order as the daemon would judge it: an interval whose data "
            "the judge refuses (a negative value, an infinite one such as a +Inf p99 beyond "
            "its histogram's largest bucket, more events than trials, a counter reset) "
            "is skipped as the daemon skips it, and named on stderr with its file and line. "
            "An interval refused at or after --max-duration decides the run there on the "
            "intervals judged, as the daemon decides it: inconclusive, reason NoData, when "
            "the judge refused every one, and a note says how many; files that end before "
            "--max-duration with every interval refused are 'continue', as the daemon "
            "answers while no interval is judged. A cell that is not a number, or files "
            "that do not match, are errors."
        ),
        epilog=(
            "Exit status: 0 promote, 3 rollback, 4 inconclusive (a person must decide), "
            "5 continue (the files ended before a verdict and before --max-duration), "
            "2 a bad input. A CI step running the judge therefore fails unless the verdict "
            "is promote; --json prints the verdict whatever it is."
        ),
    )
    parser.add_argument("--baseline", required=True, type=Path, help="baseline CSV")
    parser.add_argument("--canary", required=True, type=Path, help="canary CSV")
    parser.add_argument(
        "--spec",
        type=Path,
        help="YAML spec: metrics: {name: {kind, direction, tolerance, critical, ...}}, a "
        "ratio metric naming its count columns as numerator and denominator, and a "
        "metric with dry_run: true judged and listed but never moving the verdict, and "
        "spread: true (or a ratio such as 2) also holding a continuous metric's "
        "interval-to-interval spread to the baseline's (give it count: COLUMN, each "
        "side's requests per interval, so a small canary's noisier intervals are allowed "
        "for); "
        "without it every column is continuous and an increase is a regression",
    )
    parser.add_argument(
        "--max-duration",
        type=number_arg,
        default=None,
        metavar="SECONDS",
        help="analysis length; still unclear at this point means inconclusive "
        "(default: the span of the files)",
    )
    parser.add_argument(
        "--alpha",
        type=number_arg,
        default=None,
        help="error budget for a wrong rollback, from 1e-9 up to (not including) 0.5 "
        "(default 0.01)",
    )
    parser.add_argument(
        "--min-promote",
        type=number_arg,
        default=0.0,
        metavar="SECONDS",
        help="promote no earlier than this (rollbacks are never held back; default 0)",
    )
    parser.add_argument(
        "--weigh-persistence",
        action="store_true",
        help="a continuous metric's variance weighs every AR(1) persistence the intervals "
        "cannot yet rule out: fewer false rollbacks when the canary drifts slowly, later "
        "verdicts (the daemon's canary.weighPersistence)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="treat empty or NaN cells as missing intervals instead of an error",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the verdict as one JSON object on stdout (the summary goes to stderr)",
    )
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
        weigh_persistence=args.weigh_persistence,
        note=lambda text: print(f"autonomic: note: {text}", file=sys.stderr),
    )
    # With --json, stdout is the JSON object alone (for jq and scripts); the summary for a
    # person goes to stderr.
    text = sys.stderr if args.json else sys.stdout
    print(f"verdict: {verdict.decision.value}  (confidence {verdict.confidence:.2f})", file=text)
    if verdict.decided_after_seconds is None:
        print(f"decided after: not decided (data end at {verdict.elapsed_seconds:g} s)", file=text)
    else:
        print(f"decided after: {verdict.decided_after_seconds:g} s", file=text)
    print(verdict.sentence, file=text)
    for finding in verdict.metrics:
        status = finding.status.value + (", dry run" if finding.dry_run else "")
        print(f"  - [{status}] {finding.sentence}", file=text)
    if args.json:
        print(json.dumps(verdict.to_dict(), sort_keys=True))
    return EXIT_CODES[verdict.decision.value]


def load_spec(path: Path) -> tuple[tuple[MetricSpec, ...], dict[tuple[str, str], str]]:
    """Read and validate a YAML spec; every error names the file, the line and the field.

    Also returns where each metric's columns are named, ``"FILE:LINE: FIELD"`` by
    (metric, column), so that a column the CSV files lack is reported at its spec line.

    Duplicate keys are refused (a second ``latency:`` would otherwise silently replace
    the first), as in the configuration and the runbooks.
    """
    from agent.yamlsource import YamlSourceError, load_yaml_with_marks
    from forecasting.canary import CanarySpecError, parse_spec

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the spec: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        hint = " (it looks like UTF-16)" if utf16 else ""
        raise InputError(
            f"{path}: not a UTF-8 YAML file{hint}: {exc.reason} at byte {exc.start}; "
            "save the spec as UTF-8 text"
        ) from None
    try:
        raw, lines = load_yaml_with_marks(text)
    except YamlSourceError as exc:
        raise InputError(f"{path}:{exc.line}: {exc.detail}") from None
    try:
        specs = parse_spec(raw)
    except CanarySpecError as exc:
        raise InputError(f"{path}:{lines(exc.path)}: {exc.field}: {exc.message}") from None
    where: dict[tuple[str, str], str] = {}
    for spec in specs:
        if spec.numerator is not None and spec.denominator is not None:
            for part, column in (("numerator", spec.numerator), ("denominator", spec.denominator)):
                line = lines(("metrics", spec.name, part))
                where[spec.name, column] = f"{path}:{line}: metrics.{spec.name}.{part}"
        else:  # the metric's name is its column
            line = lines.key(("metrics", spec.name))
            where[spec.name, spec.name] = f"{path}:{line}: metrics.{spec.name}"
            if spec.count is not None:  # and its request counts, if it names them
                line = lines(("metrics", spec.name, "count"))
                where[spec.name, spec.count] = f"{path}:{line}: metrics.{spec.name}.count"
    return specs, where


def _line(path: Path, index: int) -> int | None:
    """The line of ``path`` holding data row ``index`` (0-based), for a table without lines.

    Blank lines are skipped and a quoted cell may span lines, so the row's index is not
    its line; the file is read again, only when an error needs the line.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader, None)  # the header, line 1
            seen = -1
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                seen += 1
                if seen == index:
                    return reader.line_num
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    return None


def _at(table: Table, index: int) -> str:
    """``FILE:LINE`` of data row ``index`` of ``table`` (the header is line 1)."""
    lines: list[int] = getattr(table, "lines", [])  # read_table records each row's line
    line = lines[index] if index < len(lines) else _line(table.path, index)
    return f"{table.path}:{line}" if line is not None else f"{table.path}: data row {index + 1}"


def _step(table: Table) -> float:
    ts = table.timestamps
    if len(ts) < 2:
        return 60.0
    step = ts[1] - ts[0]
    for i in range(1, len(ts)):
        gap = ts[i] - ts[i - 1]
        if gap <= 0:
            raise InputError(
                f"{_at(table, i)}: the timestamp is not after the previous row's; "
                "timestamps must increase"
            )
        if not math.isclose(gap, step, rel_tol=1e-6, abs_tol=1e-6):
            raise InputError(
                f"{_at(table, i)}: the step changes from {step:g} s to {gap:g} s; "
                "both files must be on one regular step (fill gaps with empty cells and "
                "pass --allow-missing)"
            )
    return step


def _check_aligned(baseline: Table, canary: Table, step: float) -> None:
    """Row i of both files must be the same interval: the judge pairs them."""
    slack = 0.01 * step
    for i, (b_ts, c_ts) in enumerate(zip(baseline.timestamps, canary.timestamps, strict=True)):
        if abs(b_ts - c_ts) > slack:
            raise InputError(
                f"{_at(baseline, i)} is at {_when(b_ts)} but {_at(canary, i)} at "
                f"{_when(c_ts)} ({c_ts - b_ts:+g} s): baseline and canary must cover the same "
                "intervals, row for row, as the judge compares the two over the same window; "
                "export both for one time range"
            )


def _when(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{ts:g}"


def _check_tables(
    baseline: Table,
    canary: Table,
    specs: tuple[MetricSpec, ...],
    allow_missing: bool,
    where: dict[tuple[str, str], str],
) -> float:
    """Check the two tables' shape and cells; return their step.

    Only what no interval can be read from is refused here: rows that differ in number,
    step or timestamp, a column the spec names that a file lacks, a missing cell without
    --allow-missing. Data the judge cannot use (a negative or infinite value, more events
    than trials, a counter that went down) is the judge's to refuse, one interval at a
    time, as it refuses it in the daemon: ``run_judge`` skips that interval and says so.
    """
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
    _check_aligned(baseline, canary, b_step)
    for table in (baseline, canary):
        for spec in specs:
            for column in spec.columns:
                if column not in table.columns:
                    named = where.get((spec.name, column))
                    raise InputError(
                        f"{named}: {table.path} has no column {column!r}; its columns are "
                        f"{sorted(table.columns)}"
                        if named
                        else f"{table.path}: no column {column!r} (needed by metric "
                        f"{spec.name!r}); the columns are {sorted(table.columns)}"
                    )
                for i, value in enumerate(table.columns[column]):
                    if math.isnan(value):
                        if allow_missing:
                            continue
                        raise InputError(
                            f"{_at(table, i)}: column {column!r}: missing or NaN value; fill it "
                            "in, or pass --allow-missing to treat it as a missing interval"
                        )
    return b_step


def run_judge(
    *,
    baseline: Path,
    canary: Path,
    spec_path: Path | None = None,
    max_duration: float | None = None,
    alpha: float | None = None,
    allow_missing: bool = False,
    min_promote: float = 0.0,
    weigh_persistence: bool = False,
    note: Callable[[str], None] | None = None,
) -> Verdict:
    """Read, validate and replay the two files; return the verdict after the replay.

    An interval the judge refuses (a counted metric's data it cannot use: a negative
    value, more events than trials, a counter reset) is skipped with no evidence changed,
    as the daemon skips it, and ``note`` is told which rows and why (the first
    ``MAX_SKIP_NOTES``, then how many more). A refused interval at or after the maximum
    duration decides the run there, as it decides the daemon's analysis
    (``CanaryJudge.conclude``: on the intervals judged, inconclusive ``NoData`` when
    none was); files ending before it with every interval refused are 'continue'
    (``CanaryJudge.so_far``), as the daemon answers with no interval judged yet.
    """
    from agent.csvio import read_table
    from forecasting.canary import (
        MIN_ALPHA,
        CanaryDataError,
        CanaryJudge,
        CanarySpecError,
        Interval,
        JudgeSettings,
        default_specs,
    )

    # the flags first: they need no file, and a bad one is cheaper to hear about early
    if alpha is not None and not MIN_ALPHA <= alpha < 0.5:
        raise InputError(
            f"--alpha must be at least {MIN_ALPHA:g} and below 0.5, got {alpha!r} (it is the "
            "chance of rolling back a canary that is not worse; 0.01 is the default)"
        )
    if max_duration is not None and not (math.isfinite(max_duration) and max_duration > 0):
        raise InputError(f"--max-duration must be a positive number of seconds, not {max_duration}")
    if not (math.isfinite(min_promote) and min_promote >= 0):
        raise InputError(f"--min-promote must be zero or more seconds, not {min_promote}")
    # +Inf cells are the judge's to refuse, interval by interval, as the daemon does
    base_table = read_table(baseline, infinite=True)
    canary_table = read_table(canary, infinite=True)
    if spec_path is not None:
        specs, spec_lines = load_spec(spec_path)
    else:
        spec_lines = {}
        if set(base_table.columns) != set(canary_table.columns):
            raise InputError(
                f"{baseline} has columns "
                f"{sorted(base_table.columns)} but {canary} has {sorted(canary_table.columns)}; "
                "without a spec both files must have the same metric columns"
            )
        specs = default_specs(list(base_table.columns))
    step = _check_tables(base_table, canary_table, specs, allow_missing, spec_lines)
    span = base_table.timestamps[-1] - base_table.timestamps[0] + step
    try:
        settings = JudgeSettings(
            alpha=0.01 if alpha is None else alpha,
            max_duration_seconds=span if max_duration is None else max_duration,
            step_seconds=step,
            min_promote_seconds=min_promote,
            weigh_persistence=weigh_persistence,
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
    skipped: list[str] = []  # "FILE:LINE: why" of each interval the judge refused
    fed = 0  # the intervals given to the judge, judged or refused
    concluded = False  # decided at an interval refused from the maximum duration on
    for i, ts in enumerate(base_table.timestamps):
        interval = Interval(
            timestamp=ts,
            baseline={c: base_table.columns[c][i] for c in columns},
            canary={c: canary_table.columns[c][i] for c in columns},
        )
        fed += 1
        try:
            verdict = judge.update(interval)
        except CanaryDataError as exc:
            # As the daemon's canary loop (and its rebuild after a restart) does: the
            # interval is not judged, no metric's evidence changes, and the run goes on.
            tables = {"baseline": base_table, "canary": canary_table}
            side = tables.get(exc.side or "")
            where = (
                _at(side, i)
                if side is not None
                else f"{_at(base_table, i)} and {_at(canary_table, i)}"
            )
            skipped.append(f"{where}: {exc}")
            if note is not None and len(skipped) <= MAX_SKIP_NOTES:
                note(f"{where}: interval not judged, as the daemon skips it: {exc}")
            # From the maximum duration on, the daemon's canary loop decides at a refused
            # interval on the intervals judged (none: inconclusive, NoData): so here.
            final = judge.conclude()
            if final is None or not final.final:
                continue
            verdict, concluded = final, True
            break
        except ValueError as exc:  # the judge's own arithmetic refusing a value
            raise InputError(
                f"{_at(base_table, i)} and {_at(canary_table, i)}: cannot judge this "
                f"interval: {exc}"
            ) from None
        if verdict.final:
            break
    if note is not None and len(skipped) > MAX_SKIP_NOTES:
        more = len(skipped) - MAX_SKIP_NOTES
        note(
            f"{more} more interval{'s' if more != 1 else ''} not judged, "
            f"{len(skipped)} in all (the last: {skipped[-1]})"
        )
    limit = f"the maximum duration ({settings.max_duration_seconds:g} s)"
    refused = f"all {len(skipped)} intervals" if len(skipped) != 1 else "its one interval"
    if concluded and note is not None:
        judged = fed - len(skipped)
        note(
            f"the judge refused the interval reaching {limit}: decided there on the {judged} "
            f"interval{'s' if judged != 1 else ''} judged, as the daemon decides"
            if judged
            else f"the judge refused {refused} up to {limit}: inconclusive on no data "
            "(NoData), as the daemon ends such an analysis"
        )
    if verdict is None:  # read_table refuses files without rows: every one was refused
        verdict = judge.so_far()
        assert verdict is not None  # at least one interval was fed
        if note is not None:
            note(
                f"the judge refused {refused}, and the files end before {limit}: "
                "continue, as the daemon answers while no interval is judged"
            )
    return verdict
