"""History rows and Parquet files at a mainnet-like rate: ``python -m solflow.bench.mainnet`` prints JSON.

A synthetic market trades ``--rate`` times a second (default 500) for ``--seconds`` of chain time
(default one hour) across the five programs: a pool of ``--mints`` active mints traded by Zipf-like
popularity, one mint retiring and a new one listing every second (so windows fill and, once the clock
runs on past the longest window, empty), 50,000 wallets of which a few trade like bots, one DCA fill
in fifty. The trades go, one simulated second per batch, through the project's own pieces as the flow
uses them: a ``ShardAggregator`` (default windows and tick) and ``ParquetDatasetSink`` partitions --
trades keyed by program, aggregates and signals -- written without recovery, like a plain run. After
the trades, the clock runs past the longest window, so every mint writes its final row.

Measured: history rows per trade (the contract bounds them by trades + mints), and Parquet files
across all datasets per hour traded (rounded up; the hours of the final rows count in the files
only). The file count does not depend on the duration within an hour: a file holds an hour.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from sinks.parquet import DATASETS, ParquetDatasetSink
from solflow.bench.mints import synthetic_trade
from solflow.domain.aggregate import AggregationConfig, ShardAggregator
from solflow.domain.programs import JUPITER_DCA, PROGRAMS, Program
from solflow.domain.trade import TradeEvent

START_TIME = 1_764_000_000
PARTITION = "bench"
WALLETS = 50_000
BOTS = 200
DCA_SHARE = 50  # one DCA fill in this many trades


def run(rate: int, seconds: int, mints: int, seed: int, out: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    config = AggregationConfig()
    aggregator = ShardAggregator(config, [PARTITION])
    sinks = _sinks(out)
    pool = [f"mint{index:07d}" for index in range(mints)]
    listed = mints
    weights = [1.0 / (rank + 1) for rank in range(mints)]
    cumulative = [sum(weights[: rank + 1]) for rank in range(mints)]
    wallets = [f"wallet{index:06d}" for index in range(WALLETS)]
    programs = [program for program in PROGRAMS if program is not JUPITER_DCA]
    trades = history = 0
    traded: set[str] = set()
    started = time.perf_counter()
    for second in range(seconds):
        now = START_TIME + second
        batch = []
        for index in range(rate):
            mint = pool[_pick(rng, cumulative)]
            bot = rng.random() < 0.1
            wallet = wallets[rng.randrange(BOTS)] if bot else wallets[rng.randrange(BOTS, WALLETS)]
            program = JUPITER_DCA if index % DCA_SHARE == 0 else programs[rng.randrange(len(programs))]
            batch.append(_trade(trades + index, now, mint, wallet, program, rng))
            traded.add(mint)
        trades += rate
        for trade in batch:
            aggregator.add_trade(trade)
        by_program: dict[str, list[TradeEvent]] = {}
        for trade in batch:
            by_program.setdefault(trade.program, []).append(trade)
        for name, program_trades in by_program.items():
            sinks["trades"][name].write_batch(program_trades)
        history += _write(aggregator.advance(PARTITION, now), sinks)
        pool[rng.randrange(mints)] = f"mint{listed:07d}"  # a mint retires, a new one lists
        listed += 1
    end = START_TIME + seconds + config.windows[-1] + 2 * config.tick_s
    emitted = aggregator.advance(PARTITION, end)
    history += _write(emitted, sinks)
    _close(sinks)
    # Files hold an hour of chain time each: per hour traded, rounded up (the final rows' hours count
    # in the files, not in the hours).
    hours = -(-seconds // 3600)
    files = {dataset: sum(1 for _ in (out / dataset).glob("date=*/*.parquet")) for dataset in DATASETS}
    return {
        "rate": rate,
        "seconds": seconds,
        "trades": trades,
        "mints": aggregator.new_runs,
        "distinct_mints": len(traded),
        "history_rows": history,
        "rows_per_trade": round(history / trades, 4),
        "within_bound": history <= trades + aggregator.new_runs,
        "hours": hours,
        "files": files,
        "files_per_hour": round(sum(files.values()) / hours, 2),
        "seconds_taken": round(time.perf_counter() - started, 1),
    }


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    """An index with probability proportional to its weight (bisection over the running sums)."""
    target = rng.random() * cumulative[-1]
    low, high = 0, len(cumulative) - 1
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] < target:
            low = middle + 1
        else:
            high = middle
    return low


def _trade(index: int, now: int, mint: str, wallet: str, program: Program, rng: random.Random) -> TradeEvent:
    direction = "buy" if program is JUPITER_DCA or rng.random() < 0.55 else "sell"
    amounts = (rng.randrange(1_000_000, 10_000_000_000), rng.randrange(10_000_000, 5_000_000_000))
    return synthetic_trade(index, now, mint, wallet, direction, program, amounts, per_slot=200)


def _sinks(out: Path) -> dict[str, dict[str, Any]]:
    names = [program.name for program in PROGRAMS]
    trades = ParquetDatasetSink(out, "trades", partitions=names, recovery=False)
    aggregates = ParquetDatasetSink(out, "aggregates", recovery=False)
    signals = ParquetDatasetSink(out, "signals", recovery=False)
    return {
        "trades": {name: trades.build_part("parquet_trades", name, None) for name in names},
        "aggregates": {"part-000": aggregates.build_part("parquet_aggregates", "part-000", None)},
        "signals": {"part-000": signals.build_part("parquet_signals", "part-000", None)},
    }


def _write(emitted: Any, sinks: dict[str, dict[str, Any]]) -> int:
    if emitted.history:
        sinks["aggregates"]["part-000"].write_batch(emitted.history)
    if emitted.signals:
        sinks["signals"]["part-000"].write_batch(emitted.signals)
    return sum(map(len, emitted.history))


def _close(sinks: dict[str, dict[str, Any]]) -> None:
    for partitions in sinks.values():
        for partition in partitions.values():
            partition.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m solflow.bench.mainnet", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="trades per second of chain time (default 500)")
    parser.add_argument("--seconds", type=int, default=3600, help="seconds of chain time traded (default 3600)")
    parser.add_argument("--mints", type=int, default=2000, help="mints trading at any time (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="solflow-mainnet-") as work:
        print(json.dumps(run(args.rate, args.seconds, args.mints, args.seed, Path(work))))


if __name__ == "__main__":
    main()
