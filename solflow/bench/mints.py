"""Memory of the aggregation with many active mints: ``python -m solflow.bench.mints --mints N`` prints JSON.

Runs in a process of its own so the figure is the aggregation's and not the benchmark's: one
``ShardAggregator`` (default windows) receives three trades per mint -- two buys and a sell by
different wallets, in the same five seconds -- with the mints spread over 50 s of event time; every
tick is emitted as the clock advances, and the resident set size is read with every mint still
active (all windows non-empty).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

import base58

from solflow.domain.aggregate import AggregationConfig, ShardAggregator
from solflow.domain.programs import JUPITER_DCA, PUMPSWAP, WSOL_MINT, Program
from solflow.domain.trade import TradeEvent

PARTITION = "bench"
START_TIME = 1_764_000_000
SPAN_S = 50  # shorter than the shortest window: no mint has emptied any window yet
TICK_S = AggregationConfig().tick_s
TRADES_PER_MINT = 3
WALLETS = 50_000


def rss_mib() -> float:
    """Current resident set size (Linux ``/proc``), else the peak from ``getrusage``."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _keys(rng: random.Random, count: int) -> list[str]:
    return [base58.b58encode(rng.randbytes(32)).decode() for _ in range(count)]


def fill(mints: int, seed: int = 1) -> dict[str, float]:
    """Feed ``mints`` mints' trades into one aggregator; sizes and timings of the result."""
    rng = random.Random(seed)
    baseline = rss_mib()
    mint_keys = _keys(rng, mints)
    wallets = _keys(rng, WALLETS)
    aggregator = ShardAggregator(AggregationConfig(), [PARTITION])
    total = mints * TRADES_PER_MINT
    rows = 0
    clock = START_TIME
    started = time.perf_counter()
    for index in range(total):
        mint_index, nth = divmod(index, TRADES_PER_MINT)
        block_time = START_TIME + mint_index * SPAN_S // mints
        direction = "sell" if nth == TRADES_PER_MINT - 1 else "buy"
        aggregator.add_trade(synthetic_trade(index, block_time, mint_keys[mint_index], rng.choice(wallets), direction))
        if block_time > clock:
            rows += sum(map(len, aggregator.advance(PARTITION, clock).history))
            clock = block_time
    # One tick past the last trade: every mint's trades have entered its windows.
    rows += sum(map(len, aggregator.advance(PARTITION, START_TIME + SPAN_S + TICK_S).history))
    seconds = time.perf_counter() - started
    active = len(aggregator)
    if active != mints:
        raise RuntimeError(f"{active} of {mints} mints are active after the fill")
    return {
        "mints": active,
        "trades": total,
        "rows": rows,
        "trades_per_s": total / seconds,
        "rss_mib": rss_mib(),
        "baseline_rss_mib": baseline,
    }


def synthetic_trade(
    index: int,
    block_time: int,
    mint: str,
    trader: str,
    direction: str,
    program: Program = PUMPSWAP,
    amounts: tuple[int, int] | None = None,
    per_slot: int = 8,
) -> TradeEvent:
    """The ``index``-th trade of a synthetic stream, ``per_slot`` to a slot; ``amounts``: (token,
    lamports) raw, by default growing with the index. A Jupiter DCA trade is a DCA fill."""
    token, lamports = amounts if amounts is not None else (1_000_000 + index, 10_000_000 + index)
    return TradeEvent(
        signature=f"bench{index:012d}",
        slot=380_000_000 + index // per_slot,
        tx_index=index % per_slot,
        block_time=block_time,
        program=program.name,
        program_id=program.program_id,
        direction=direction,  # type: ignore[arg-type]
        trader=trader,
        fee_payer=trader,
        mint=mint,
        quote_mint=WSOL_MINT,
        token_amount_raw=token,
        token_decimals=6,
        quote_amount_raw=lamports,
        quote_decimals=9,
        fee_amount_raw=25_000,
        outer_ix_index=2,
        inner_ix_index=None,
        via=None,
        pool=None,
        is_dca=program is JUPITER_DCA,
        decode_source="cpi_event",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m solflow.bench.mints", description=__doc__.splitlines()[0])
    parser.add_argument("--mints", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(fill(args.mints, args.seed)))


if __name__ == "__main__":
    main()
