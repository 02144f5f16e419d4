"""The outputs' columns: one name per quantity across JSONL, SQLite and Parquet, and what each means.

A column is ``(name, kind)``. Kinds and how each output stores them:

====== =============================== ======================= ========================= ===========
kind   meaning                         Parquet (Polars dtype)  SQLite                    JSONL
====== =============================== ======================= ========================= ===========
str    text                            String                  TEXT                      string
int    signed 64-bit integer           Int64                   INTEGER                   number
u64    raw token / quote amount        UInt64                  INTEGER (exact TEXT above number
                                                               2**63 - 1, see sinks.sqlite)
float  decimal-adjusted amount, score  Float64                 REAL                      number
bool   flag                            Boolean                 INTEGER 0/1               true/false
time   chain time, unix seconds        Datetime(ms, UTC)       INTEGER (unix s)          number (s)
====== =============================== ======================= ========================= ===========

Every column may be null except the identifying ones (``mint``, ``signature``, ``ts`` ...), which the
producers always fill. Aggregate columns are derived from the configured windows, so a run with
``SOLFLOW_WINDOWS=60,600`` gets ``net_flow_600s_sol`` and no ``net_flow_300s_sol``.

``MEANINGS`` says what every name means, wherever it appears: ``docs/schema.md`` is generated from
it and from the writers' own schemas (``python -m sinks.dictionary``), and a test fails when a
column has no meaning or the document is stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

Column = tuple[str, str]

TRADE_COLUMNS: tuple[Column, ...] = (
    ("signature", "str"),
    ("slot", "int"),
    ("tx_index", "int"),
    ("block_time", "time"),
    ("program", "str"),
    ("program_id", "str"),
    ("direction", "str"),
    ("trader", "str"),
    ("fee_payer", "str"),
    ("mint", "str"),
    ("quote_mint", "str"),
    ("token_amount_raw", "u64"),
    ("token_decimals", "int"),
    ("quote_amount_raw", "u64"),
    ("quote_decimals", "int"),
    ("fee_amount_raw", "u64"),
    ("outer_ix_index", "int"),
    ("inner_ix_index", "int"),
    ("via", "str"),
    ("pool", "str"),
    ("is_dca", "bool"),
    ("decode_source", "str"),
    # Decimal-adjusted: the raw amounts scaled by their mint's own decimals (TradeEvent properties).
    ("token_amount", "float"),
    ("quote_amount", "float"),
    ("fee_amount", "float"),
    # The pool's or curve's reserves after the trade, raw units (null where the event has none).
    ("virtual_base_reserves", "u64"),
    ("virtual_quote_reserves", "u64"),
    ("real_base_reserves", "u64"),
    ("real_quote_reserves", "u64"),
)

AGGREGATE_KEY_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("ts", "time"),  # event-time tick the row describes
    ("last_trade_ts", "time"),
    ("programs", "str"),  # sorted program names seen in the longest window, comma-joined
    ("trades_total", "int"),
)

# Per-window metric columns; "{w}" is the window length in seconds.
WINDOW_METRIC_COLUMNS: tuple[Column, ...] = (
    ("net_flow_{w}s_sol", "float"),
    ("buy_count_{w}s", "int"),
    ("sell_count_{w}s", "int"),
    ("buy_volume_{w}s_sol", "float"),
    ("sell_volume_{w}s_sol", "float"),
    ("unique_wallets_{w}s", "int"),
    ("unique_buyers_{w}s", "int"),
    ("unique_sellers_{w}s", "int"),
    ("avg_trade_size_{w}s_sol", "float"),
    ("bot_trades_{w}s", "int"),
    ("bot_wallets_{w}s", "int"),
    ("dca_buys_{w}s", "int"),
)

# A mint's price columns, after the window metrics (``solflow.domain.tokens.Enrichment``).
PRICE_COLUMNS: tuple[Column, ...] = (
    ("quote_mint", "str"),
    ("price", "float"),
    ("price_sol", "float"),
    ("price_usd", "float"),
    ("market_cap", "float"),
    ("market_cap_sol", "float"),
    ("market_cap_usd", "float"),
    ("bonding_progress", "float"),
    ("price_change_300s", "float"),
    ("price_change_3600s", "float"),
)

SIGNAL_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("signal_type", "str"),
    ("window_seconds", "int"),
    ("severity", "int"),
    ("score", "float"),
    ("details", "str"),  # the signal's details dict as compact JSON
    ("ts", "time"),  # event time of the row that turned the signal on or off
    ("state", "str"),  # "on" | "off"
)

# token_metadata (SQLite) and the Parquet dataset tokens/: one row per mint (Parquet: per change).
TOKEN_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("token_name", "str"),
    ("token_symbol", "str"),
    ("token_uri", "str"),
    ("token_decimals", "int"),
    ("supply_raw", "u64"),
    ("creator", "str"),
    ("launch_program", "str"),
    ("curve", "str"),
    ("quote_mint", "str"),
    ("created_slot", "int"),
    ("created_ts", "time"),
    ("graduated", "bool"),
    ("migrated_slot", "int"),
    ("migrated_ts", "time"),
    ("amm_pool", "str"),
    ("first_seen_ts", "time"),
    ("rpc_slot", "int"),
    ("ts", "time"),
)

DCA_BUCKET_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("minute", "time"),
    ("dca_buys", "int"),
    ("dca_buy_volume_sol", "float"),
)

SUMMARY_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("persistence_score", "int"),
    ("pattern_tag", "str"),
    ("confidence", "str"),
    ("appearance_24h", "int"),
    ("appearance_72h", "int"),
    ("ts", "time"),
)

# What each name means wherever it appears ("{w}": a window length in seconds). One entry per name:
# the same quantity never has two names, and a name never means two things.
MEANINGS: dict[str, str] = {
    # trades
    "signature": "base58 transaction signature",
    "slot": "slot of the transaction",
    "tx_index": "position of the transaction in its block",
    "block_time": "chain time of the trade: the block's time, else the event's own timestamp (or another of the"
    " slot's), else estimated at 400 ms a slot from the partition's nearest slot with a known time, else null"
    " (never the local clock)",
    "program": "SolFlow program name: pumpswap, pumpfun, launchlab, moonshot, jupiter_dca",
    "program_id": "base58 id of the program that made the trade",
    "direction": "buy or sell, of the traded token (`mint`)",
    "trader": "the wallet the program records as trading (event `user` / `sender`, LaunchLab `payer`)",
    "fee_payer": "the transaction's fee payer",
    "mint": "the traded token's mint",
    "quote_mint": "the mint the token is paid for or priced in (the WSOL mint for SOL): a trade's quote; in"
    " aggregates the unit of `price` and `market_cap`; in token_metadata the quote of its launch curve",
    "token_amount_raw": "tokens bought or sold, raw integer units (exact)",
    "token_decimals": "decimals of `mint`; null when unknown",
    "token_amount": "`token_amount_raw / 10**token_decimals`; null when the decimals are unknown",
    "quote_amount_raw": "quote paid on a buy (fees included) or received on a sell (fees deducted), raw integer"
    " units of `quote_mint` (exact)",
    "quote_decimals": "decimals of `quote_mint`; null when unknown",
    "quote_amount": "`quote_amount_raw / 10**quote_decimals` (SOL for SOL-quoted trades, USDC for USDC ...)",
    "fee_amount_raw": "the trade's total fee in raw units of `quote_mint`; null when the program does not say",
    "fee_amount": "`fee_amount_raw / 10**quote_decimals`",
    "outer_ix_index": "index of the top-level instruction the trade came from",
    "inner_ix_index": "index of the inner (CPI) instruction within it; null for a top-level instruction",
    "via": "the program that called the DEX (a router or aggregator); null for a direct call",
    "pool": "the pool, bonding curve or DCA account traded against",
    "is_dca": "a Jupiter DCA fill",
    "decode_source": "what the amounts were read from: cpi_event, log_event or balance_delta",
    "virtual_base_reserves": "a bonding curve's virtual token reserves after the trade, raw units: it prices at"
    " `virtual_quote_reserves / virtual_base_reserves`; null for pools and where the event has none",
    "virtual_quote_reserves": "a bonding curve's virtual quote reserves after the trade, raw units of `quote_mint`",
    "real_base_reserves": "tokens the curve still has for sale, or the pool holds, after the trade (raw units)",
    "real_quote_reserves": "quote the curve has raised, or the pool holds, after the trade (raw units of `quote_mint`)",
    # aggregates (history: a row per mint and tick with a trade, and a final row; SQLite: current state)
    "ts": "the event-time tick the row describes (a multiple of SOLFLOW_AGG_TICK); in token_aggregates and"
    " token_metadata the tick of the mint's latest change, in token_signal_summary the scoring time",
    "last_trade_ts": "block time of the mint's latest trade counted so far",
    "programs": "sorted program names with a trade in the longest window, comma-joined",
    "trades_total": "trades counted since the mint's windows were last all empty",
    "first_ts": "tick at which the mint's first window run in this database began",
    "net_flow_{w}s_sol": "SOL bought minus SOL sold in the window (SOL-quoted trades)",
    "buy_count_{w}s": "buys in the window, any quote",
    "sell_count_{w}s": "sells in the window, any quote",
    "buy_volume_{w}s_sol": "SOL paid by buyers in the window",
    "sell_volume_{w}s_sol": "SOL received by sellers in the window",
    "unique_wallets_{w}s": "distinct traders in the window",
    "unique_buyers_{w}s": "distinct traders with a buy in the window",
    "unique_sellers_{w}s": "distinct traders with a sell in the window",
    "avg_trade_size_{w}s_sol": "(buy + sell volume) / SOL-quoted trades in the window; null without any",
    "bot_trades_{w}s": "trades of wallets rated bots over the window; null for windows over 300 s",
    "bot_wallets_{w}s": "wallets rated bots over the window; null for windows over 300 s",
    "dca_buys_{w}s": "Jupiter DCA buys in the window",
    "price": "the token's price after its latest trade at or before `ts`, in `quote_mint` per whole token: from"
    " the curve's or pool's reserves where the event gives them, else quote amount / token amount",
    "price_sol": "`price` in SOL: SOL-quoted as is, another quote at its latest rate the stream showed (SOL/USDC"
    " trades, or SOLFLOW_SOL_USD when a number, for a USD stablecoin; Jupiter DCA fills against SOL for a token);"
    " null while no rate is known, never 0",
    "price_usd": "`price` in USD (a USD stablecoin quote, or `price_sol` at SOLFLOW_SOL_USD); null when the rate is"
    " unknown, never 0",
    "market_cap": "`price` × `supply_raw` / 10**`token_decimals`, in `quote_mint`; null while the supply is unknown",
    "market_cap_sol": "`market_cap` in SOL, at the rate of `price_sol`; null when not convertible",
    "market_cap_usd": "`market_cap` in USD; null when the rate is unknown, never 0",
    "bonding_progress": "share of the bonding curve's tokens sold (pump.fun, LaunchLab), 0-1; 1 once the curve"
    " completed or the token graduated; null without a curve",
    "price_change_{w}s": "relative change of `price` over the window: now / at the tick W seconds earlier - 1"
    " (0.25 = +25 %), same quote; null without a price then",
    # token metadata
    "token_name": "the token's name (its creation event, else its Metaplex or Token-2022 metadata over RPC)",
    "token_symbol": "the token's symbol (as `token_name`)",
    "token_uri": "the token's metadata URI (as `token_name`)",
    "supply_raw": "total supply, raw units: the creation event's, pump.fun's fixed 1,000,000,000 tokens, or the"
    " mint account's over RPC; null when unknown",
    "creator": "the wallet that created the token",
    "launch_program": "the launchpad the token started on: pumpfun, launchlab or moonshot (its creation, or a"
    " curve trade); null when only seen on an AMM",
    "curve": "the token's bonding curve account (pump.fun curve, LaunchLab pool state, Moonshot curve)",
    "created_slot": "slot of the token's creation; null when it was created before SolFlow saw it",
    "created_ts": "chain time of the token's creation; null when it was created before SolFlow saw it",
    "graduated": "the token migrated off its curve (a migration event); false while it trades on a curve; null"
    " when unknown",
    "migrated_slot": "slot of the token's migration",
    "migrated_ts": "chain time of the token's migration",
    "amm_pool": "the AMM pool the token trades on: where it migrated to, or its PumpSwap pool",
    "first_seen_ts": "chain time of the first trade or event of the token SolFlow saw (the scorer's lifetime"
    " counts from it)",
    "rpc_slot": "slot at which the RPC read the accounts that filled names or supply; null when no RPC answer was used",
    # DCA minutes and the persistence scorer
    "minute": "start of the minute (chain time)",
    "dca_buys": "Jupiter DCA buys of the mint in the minute",
    "dca_buy_volume_sol": "SOL paid by the minute's SOL-quoted DCA buys",
    "persistence_score": "0-9: how persistently SOL flows in (reference §11)",
    "pattern_tag": "ACCUMULATION, MOMENTUM, DISTRIBUTION, WASHOUT or NOISE",
    "confidence": "HIGH, MEDIUM or LOW",
    "appearance_24h": "the mint's signals that turned on in the 24 h before `ts`",
    "appearance_72h": "the mint's signals that turned on in the 72 h before `ts`",
    # signals
    "signal_type": "BREAKOUT, FOCUSED, SURGE, BOT_DROPOFF or DCA_CONVICTION",
    "window_seconds": "the window the signal reads",
    "severity": "1-5; null on an off row",
    "score": "the signal's score; null on an off row",
    "details": "the signal's inputs as compact JSON text; {} on an off row",
    "state": "on when the signal starts firing, off when it stops",
    "id": "row number",
    # gaps and run_stats (SQLite only)
    "partition": "source partition (subscription) that lost updates",
    "first_slot": "first slot of the gap; null when unknown",
    "last_slot": "last slot of the gap; null when unknown",
    "count": "updates lost; null when unknown",
    "reason": "buffer_full, out_of_range or replay_unsupported",
    "detected_at_slot": "slot at which the gap was noticed",
    "name": "counter name; nested counters are dotted (`trades_by_program.pumpswap`)",
    "value": "the counter's value in the latest run",
    # the original system's JSONL keys (first in every line, for its readers)
    "timestamp": "= `block_time`",
    "program_name": "the original's program name: PumpSwap, PumpFun, BonkSwap, Moonshot, JupiterDCA",
    "action": "BUY or SELL (= `direction`)",
    "sol_amount": "= `quote_amount` when the quote is SOL; null for any other quote",
    "user_account": "= `trader`",
    "discriminator": "hex of the 8-byte discriminator of the program event the trade was decoded from;"
    " 0000000000000000 for a trade recovered from balance changes",
}


_WINDOW_NAME = re.compile(r"(?<=_)\d+s(?=_sol$|$)")  # the "300s" of net_flow_300s_sol


def meaning(name: str) -> str:
    """What the column ``name`` means (a window column by its template); KeyError when undocumented."""
    template = _WINDOW_NAME.sub("{w}s", name, count=1)
    return MEANINGS[template if template in MEANINGS else name]


def window_metric_columns(windows: Iterable[int]) -> tuple[Column, ...]:
    """Metric columns for these windows, grouped by metric then window (``net_flow_60s_sol``, ``net_flow_300s_sol``, ...)."""
    ordered = sorted(set(windows))
    return tuple((name.format(w=w), kind) for name, kind in WINDOW_METRIC_COLUMNS for w in ordered)


def aggregate_columns(windows: Iterable[int]) -> tuple[Column, ...]:
    """Every column of an aggregate row produced with these windows."""
    return AGGREGATE_KEY_COLUMNS + window_metric_columns(windows) + PRICE_COLUMNS


def row_packer(columns: Sequence[Column], what: str) -> Callable[[Mapping[str, Any]], tuple]:
    """A function turning a row dict into its values in ``columns`` order (the sinks' row tuples);
    it raises ``RowShapeError`` unless the row's keys are exactly the columns' names."""
    names = [name for name, _ in columns]
    expected = frozenset(names)
    size = len(expected)
    pick = itemgetter(*names)

    def pack(row: Mapping[str, Any]) -> tuple:
        # Every column picked and no more keys than columns: exactly the schema's keys, checked
        # without building key sets (this runs once per aggregate row).
        try:
            values = pick(row)
        except KeyError:
            values = ()
        if len(row) != size or len(values) != size:
            check_row_keys(row, expected, what)
        return values

    return pack


class RowShapeError(ValueError):
    """A row handed to a sink does not have the columns the sink's schema expects."""


def check_row_keys(row: Mapping[str, Any], expected: frozenset[str], what: str) -> None:
    """Raise ``RowShapeError`` naming the missing and unexpected keys, so no value is dropped unnoticed."""
    if row.keys() == expected:
        return
    missing = sorted(expected - row.keys())
    unexpected = sorted(row.keys() - expected)
    raise RowShapeError(f"{what} row has missing keys {missing} and unexpected keys {unexpected}")
