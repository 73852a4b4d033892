"""M4 hourly benchmark: Autonomic's forecaster against Naive2, seasonal naive and statsforecast.

Usage:
    .venv/bin/python benchmarks/m4.py --data /work/shared/data/traces/m4_hourly \
        [--limit N] [--methods autonomic,autonomic-fleet,naive2,snaive,sf-autoets,sf-mstl] \
        [--arima-limit N] [--workers 2] [--holdout test|validation] [--fleet-lags 672] \
        [--out benchmarks/m4_RESULTS.md]

``autonomic`` forecasts each series alone (``fit_forecast``'s default); ``autonomic-fleet``
fits ``forecasting.pooled``'s model over every training series of the file (twice: once
on everything, once holding out the backtest folds) and chooses per series by backtest.

Scores follow the M4 competition's definitions (M4-methods, ``main.py`` / ``Evaluation``):
sMAPE on the 0-200 scale; MASE scaled by the in-sample MAE of the seasonal naive with
m = 24; OWA = (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2 over the means across
series. Naive2 is the naive forecast of the series seasonally adjusted by classical
multiplicative decomposition, applied only when M4's 90 % autocorrelation test finds
seasonality, reproduced here (its quirks included) and checked against the official
scoreboard in the data folder.

``--holdout validation`` drops the last 48 training points and scores on them instead
of on the test file: that split is the one used to choose Autonomic's defaults, so
the test-file numbers are untouched by that choice.

Interval coverage is the share of the 48 x N test points inside each method's 80 %
and 95 % intervals. Time is CPU seconds (``time.process_time``) per series of the fit
and forecast only, so that other load on a shared machine does not inflate it; the
statsforecast models are JIT-compiled once per worker before timing. BLAS is held to
one thread per process.
"""

# ruff: noqa: E402
from __future__ import annotations

import os

# One BLAS thread per process: the models' matrices are tiny, and a multi-threaded BLAS
# in two worker processes on two cores spends its time spinning (50x slower fits).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import math
import multiprocessing
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from forecasting.forecast import Forecaster

HORIZON = 48
PERIOD = 24
LEVELS = (80, 95)
ALL_METHODS = (
    "autonomic",
    "autonomic-fleet",
    "naive2",
    "snaive",
    "sf-autoets",
    "sf-mstl",
    "sf-autoarima",
)
# The fleet method's pooled model (``forecasting.pooled``): four weeks of lags, the
# weekly cycle to pad short series, chosen on the validation windows (see the results).
FLEET_LAGS = 672
FLEET_PERIOD = 168
FLEET_FOLDS = 3
# Fitted once in the parent before the workers fork: (live pool, backtest pool).
_POOLS: tuple[object, object] | None = None

Row = dict[str, float]


@dataclass(frozen=True)
class Task:
    index: int
    name: str
    train: np.ndarray
    test: np.ndarray
    methods: tuple[str, ...]


def read_m4(path: Path) -> dict[str, np.ndarray]:
    """M4 wide CSV: first column the id, then values, blank after the series ends."""
    out: dict[str, np.ndarray] = {}
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            out[row[0]] = np.array([float(v) for v in row[1:] if v.strip()], dtype=np.float64)
    return out


# --- M4 scoring and the Naive2 benchmark, as the competition defined them ------------


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(
        np.mean(2.0 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))) * 100
    )


def mase(insample: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> float:
    scale = np.mean(np.abs(insample[PERIOD:] - insample[:-PERIOD]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def m4_acf(data: np.ndarray, k: int) -> float:
    m = data.mean()
    return float(np.sum((data[k:] - m) * (data[:-k] - m)) / np.sum((data - m) ** 2))


def m4_seasonal(values: np.ndarray, ppy: int) -> bool:
    """M4's test: |acf(ppy)| beyond 1.645 sqrt((1 + 2 s) / n). (s starts from acf(1)
    unsquared, as in the competition's code.)"""
    s = m4_acf(values, 1)
    for i in range(2, ppy):
        s += m4_acf(values, i) ** 2
    limit = 1.645 * math.sqrt((1 + 2 * s) / values.size)
    return abs(m4_acf(values, ppy)) > limit


def m4_seasonal_indices(values: np.ndarray, ppy: int) -> np.ndarray:
    import pandas as pd

    if not m4_seasonal(values, ppy):
        return np.full(ppy, 100.0)
    frame = pd.Series(values)
    if values.size % 2 == 0:
        ma = frame.rolling(ppy, center=True).mean()
        ma = ma.rolling(2, center=True).mean()
        ma = np.roll(ma.to_numpy(), -1)
    else:
        ma = frame.rolling(ppy, center=True).mean().to_numpy()
    ratios = values * 100 / ma
    ratios = np.hstack((ratios, np.full(ppy - (ratios.size % ppy), np.nan)))
    si = np.nanmean(ratios.reshape(-1, ppy), axis=0)
    indices: np.ndarray = si / (np.sum(si) / (ppy * 100))
    return indices


def naive2(train: np.ndarray, horizon: int) -> np.ndarray:
    si = m4_seasonal_indices(train, PERIOD)
    adjusted = train * 100 / si[np.arange(train.size) % PERIOD]
    future = si[np.arange(train.size, train.size + horizon) % PERIOD]
    forecast: np.ndarray = np.full(horizon, adjusted[-1]) * future / 100
    return forecast


# --- the methods ----------------------------------------------------------------------


def run_method(
    method: str, train: np.ndarray
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]], str]:
    """Mean, intervals per level, and the model that produced them."""
    if method == "naive2":
        return naive2(train, HORIZON), {}, "naive2"
    if method == "autonomic-fleet":
        return _fleet(train)
    if method == "snaive" or method.startswith("autonomic"):
        from forecasting.models import SeasonalNaive, fit_forecast
        from forecasting.series import make_series

        series = make_series(np.arange(train.size, dtype=np.float64) * 3600.0, train, step=3600.0)
        if method == "snaive":
            fc = SeasonalNaive(PERIOD).fit(series).predict(HORIZON, LEVELS)
        else:
            fc = fit_forecast(series, HORIZON, LEVELS, model=_variant(method, train))
        return fc.mean, dict(fc.intervals), fc.version
    from statsforecast.models import MSTL, AutoARIMA, AutoETS

    model: Any  # statsforecast has no type information
    if method == "sf-autoets":
        model = AutoETS(season_length=PERIOD)
    elif method == "sf-mstl":
        model = MSTL(season_length=[PERIOD, 7 * PERIOD], trend_forecaster=AutoETS(model="ZZN"))
    elif method == "sf-autoarima":
        model = AutoARIMA(season_length=PERIOD)
    else:
        raise SystemExit(f"unknown method {method!r}; choose from {', '.join(ALL_METHODS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.forecast(y=train, h=HORIZON, level=list(LEVELS))
    intervals = {lv: (np.asarray(out[f"lo-{lv}"]), np.asarray(out[f"hi-{lv}"])) for lv in LEVELS}
    return np.asarray(out["mean"], dtype=np.float64), intervals, method


def _fleet(
    train: np.ndarray,
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]], str]:
    """Per-series choice by backtest with the fleet's pooled model among the candidates."""
    from forecasting.models import fit_forecast
    from forecasting.pooled import PooledLinear, choose_with_pool
    from forecasting.series import make_series

    assert _POOLS is not None, "the pools are fitted in main() before the workers start"
    live, held = _POOLS
    assert isinstance(live, PooledLinear) and isinstance(held, PooledLinear)
    series = make_series(np.arange(train.size, dtype=np.float64) * 3600.0, train, step=3600.0)
    choice = choose_with_pool(series, live, held, HORIZON, folds=FLEET_FOLDS, levels=LEVELS)
    calibration = choice.selection.calibration
    fc = fit_forecast(series, HORIZON, LEVELS, model=choice.model, calibration=calibration)
    return fc.mean, dict(fc.intervals), fc.version


def fit_fleet_pools(trains: list[np.ndarray], lags: int) -> tuple[object, object, float]:
    """The live and the backtest pool over every training series, and the CPU seconds."""
    from forecasting.pooled import fit_pools

    started = time.process_time()
    live, held = fit_pools(trains, HORIZON, lags, FLEET_PERIOD, folds=FLEET_FOLDS)
    return live, held, time.process_time() - started


def _variant(method: str, train: np.ndarray) -> Forecaster | None:
    """``autonomic`` is the shipped default; ``autonomic:<name>`` tries one model alone."""
    from forecasting.models import Combination, DampedETS, MstlETS, SarimaxFourier, SeasonalNaive

    positive = bool(np.all(train > 0))
    variants: dict[str, Forecaster | None] = {
        "autonomic": None,
        "autonomic:mstl": MstlETS((24, 168), log=positive),
        "autonomic:sarimax": SarimaxFourier((24, 168), log=positive),
        "autonomic:mstl-daily": MstlETS((24,), log=positive),
        "autonomic:ets": DampedETS(24, log=positive),
        "autonomic:combo-week": Combination(
            (SeasonalNaive(24), MstlETS((24, 168), log=positive), DampedETS(24, log=positive))
        ),
        "autonomic:combo3": Combination(
            (SeasonalNaive(24), MstlETS((24,), log=positive), DampedETS(24, log=positive))
        ),
        "autonomic:combo-mean": Combination(
            (SeasonalNaive(24), MstlETS((24,), log=positive), DampedETS(24, log=positive)),
            how="mean",
        ),
        "autonomic:combo5": Combination(
            (
                SeasonalNaive(24),
                SeasonalNaive(168),
                MstlETS((24,), log=positive),
                MstlETS((24, 168), log=positive),
                DampedETS(24, log=positive),
            )
        ),
        "autonomic:combo4": Combination(
            (
                SeasonalNaive(24),
                SeasonalNaive(168),
                MstlETS((24,), log=positive),
                DampedETS(24, log=positive),
            )
        ),
        "autonomic:combo2": Combination(
            (MstlETS((24,), log=positive), DampedETS(24, log=positive)), how="mean"
        ),
    }
    if method not in variants:
        raise SystemExit(f"unknown autonomic variant {method!r}; known: {sorted(variants)}")
    return variants[method]


def _warm_up() -> None:
    """Compile statsforecast's numba code once per worker, outside the timings."""
    try:
        from statsforecast.models import MSTL, AutoETS

        y = 10 + np.sin(np.arange(24 * 15) * 2 * np.pi / 24)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            AutoETS(season_length=24).forecast(y=y, h=4, level=[80])
            MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN")).forecast(
                y=y, h=4, level=[80]
            )
    except ImportError:
        pass


def evaluate(task: Task) -> tuple[int, str, dict[str, Row]]:
    rows: dict[str, Row] = {}
    for method in task.methods:
        started = time.process_time()
        try:
            mean, intervals, model = run_method(method, task.train)
            error = ""
        except Exception as exc:  # a peer crashing on one series is a result to report
            mean, intervals, model, error = np.full(HORIZON, np.nan), {}, "", repr(exc)
        seconds = time.process_time() - started
        row: Row = {"seconds": seconds}
        if error or not np.all(np.isfinite(mean)):
            row["failed"] = 1.0
            mean = naive2(task.train, HORIZON)
        row["smape"] = smape(task.test, mean)
        row["mase"] = mase(task.train, task.test, mean)
        for level, (low, high) in intervals.items():
            inside = (task.test >= low) & (task.test <= high)
            row[f"cov{level}"] = float(inside.mean())
        if method == "autonomic-fleet":
            row["pooled"] = 1.0 if "pooled" in model else 0.0
            row["pooled_alone"] = 1.0 if model.startswith("pooled") else 0.0
        rows[method] = row
        del model
    return task.index, task.name, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with Hourly-train.csv")
    parser.add_argument("--limit", type=int, help="first N series only")
    parser.add_argument(
        "--methods", default=",".join(m for m in ALL_METHODS if m != "sf-autoarima")
    )
    parser.add_argument(
        "--arima-limit",
        type=int,
        default=0,
        help="also run sf-autoarima on the first N series (it takes about a minute each)",
    )
    parser.add_argument(
        "--arima-every",
        type=int,
        default=0,
        help="also run sf-autoarima on every K-th series (0, K, 2K, ...): a systematic "
        "sample; the report then adds a table of every method on those series alone",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--holdout", choices=("test", "validation"), default="test")
    parser.add_argument(
        "--validation-offset",
        type=int,
        default=0,
        help="with --holdout validation, end the validation window this many points earlier",
    )
    parser.add_argument(
        "--fleet-lags",
        type=int,
        default=FLEET_LAGS,
        help=f"lags of the pooled model in autonomic-fleet (default {FLEET_LAGS})",
    )
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    args = parser.parse_args()
    if args.arima_every < 0:
        parser.error(f"--arima-every must be 0 (off) or a positive stride, got {args.arima_every}")
    if args.fleet_lags < 24:
        parser.error(f"--fleet-lags must be at least 24 (a day), got {args.fleet_lags}")

    train_all = read_m4(args.data / "Hourly-train.csv")
    test_all = read_m4(args.data / "Hourly-test.csv")
    names = list(train_all)[: args.limit] if args.limit else list(train_all)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if "naive2" not in methods:
        methods = ("naive2", *methods)
    tasks = []
    for i, name in enumerate(names):
        train, test = train_all[name], test_all[name]
        if args.holdout == "validation":
            end = train.size - args.validation_offset
            train, test = train[: end - HORIZON], train[end - HORIZON : end]
        sampled = i < args.arima_limit or (args.arima_every > 0 and i % args.arima_every == 0)
        chosen = methods + (("sf-autoarima",) if sampled and "sf-autoarima" not in methods else ())
        tasks.append(Task(i, name, train, test, chosen))

    global _POOLS
    pool_seconds = 0.0
    if "autonomic-fleet" in methods:
        # The fleet is every series in the file, cut exactly as its task is cut.
        fleet = []
        for name in train_all:
            train = train_all[name]
            if args.holdout == "validation":
                train = train[: train.size - args.validation_offset - HORIZON]
            fleet.append(train)
        live, held, pool_seconds = fit_fleet_pools(fleet, args.fleet_lags)
        _POOLS = (live, held)
        print(f"[m4] fleet pools fitted in {pool_seconds:.1f} CPU s", file=sys.stderr)

    started = time.time()
    results: dict[str, dict[str, Row]] = {}
    with multiprocessing.get_context("fork").Pool(args.workers, initializer=_warm_up) as pool:
        for done, (_, name, rows) in enumerate(pool.imap_unordered(evaluate, tasks), 1):
            results[name] = rows
            if done % 10 == 0 or done == len(tasks):
                print(
                    f"[m4] {done}/{len(tasks)} series, {time.time() - started:.0f} s",
                    file=sys.stderr,
                )
    elapsed = time.time() - started
    table = summarise(results)
    report = render(table, args, len(names), elapsed)
    arima_names = [n for n, rows in results.items() if "sf-autoarima" in rows]
    if arima_names and len(arima_names) < len(results):
        subset = summarise({n: results[n] for n in arima_names})
        report += (
            f"\nEvery method on the {len(arima_names)} series sf-autoarima ran on "
            "(OWA against Naive2 on those series):\n\n"
            + render(subset, args, len(arima_names), elapsed).split("\n\n", 1)[1]
        )
    if pool_seconds:
        fleet_row = table["autonomic-fleet"]
        report += (
            f"\nautonomic-fleet: the two pooled fits (live and backtest) over "
            f"{len(train_all)} series took {pool_seconds:.1f} CPU s in all, "
            f"{pool_seconds / len(train_all):.4f} s per series, not in its s/series. "
            f"The backtest chose the pooled model alone for {fleet_row['pooled_alone']:.1%} "
            f"of the series and its mean with the per-series default for "
            f"{fleet_row['pooled'] - fleet_row['pooled_alone']:.1%}.\n"
        )
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


def summarise(results: dict[str, dict[str, Row]]) -> dict[str, Row]:
    per_method: dict[str, list[Row]] = {}
    for rows in results.values():
        for method, row in rows.items():
            per_method.setdefault(method, []).append(row)
    table: dict[str, Row] = {}
    for method, method_rows in per_method.items():
        entry: Row = {"n": float(len(method_rows))}
        for key in ("smape", "mase", "seconds", "cov80", "cov95", "pooled", "pooled_alone"):
            values = [r[key] for r in method_rows if key in r]
            entry[key] = float(np.mean(values)) if values else math.nan
        entry["failed"] = float(sum(r.get("failed", 0.0) for r in method_rows))
        table[method] = entry
    # OWA against Naive2 on the same series as the method
    for method, entry in table.items():
        names = [name for name, rows in results.items() if method in rows]
        base_s = np.mean([results[n]["naive2"]["smape"] for n in names])
        base_m = np.mean([results[n]["naive2"]["mase"] for n in names])
        entry["owa"] = float(0.5 * (entry["smape"] / base_s + entry["mase"] / base_m))
        entry["naive2_smape"] = float(base_s)
        entry["naive2_mase"] = float(base_m)
    return table


def render(table: dict[str, Row], args: argparse.Namespace, series: int, elapsed: float) -> str:
    lines = [
        "| method | series | sMAPE | MASE | OWA | cov 80 | cov 95 | s/series | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, e in sorted(table.items(), key=lambda kv: kv[1]["owa"]):
        cov80 = "—" if math.isnan(e["cov80"]) else f"{e['cov80']:.3f}"
        cov95 = "—" if math.isnan(e["cov95"]) else f"{e['cov95']:.3f}"
        lines.append(
            f"| {method} | {int(e['n'])} | {e['smape']:.3f} | {e['mase']:.3f} | {e['owa']:.3f} | "
            f"{cov80} | {cov95} | {e['seconds']:.3f} | {int(e['failed'])} |"
        )
    head = (
        f"M4 hourly, holdout={args.holdout} (offset {args.validation_offset}), "
        f"{series} series, workers={args.workers}, "
        + (f"fleet lags {args.fleet_lags}, " if "autonomic-fleet" in table else "")
        + f"wall {elapsed:.0f} s. OWA of a row is against Naive2 on the same series."
    )
    return head + "\n\n" + "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
