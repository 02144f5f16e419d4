"""Terminal tables (rich) of the analysis results; ``--json`` prints the results' ``as_json`` instead.

SOL amounts of aggregate rows are shown to 4 decimals; a trade's token and quote amounts exactly,
from their raw integers and decimals. Times are UTC. A column a window does not have (bot ratings
beyond 300 s) shows "–".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import polars as pl
from rich.console import Group, JustifyMethod
from rich.table import Table
from rich.text import Text

from solflow.analysis.outputs import format_utc
from solflow.analysis.recent import RecentSignals
from solflow.analysis.times import format_window
from solflow.analysis.top import TopMints
from solflow.analysis.trace import MintTrace
from solflow.domain.programs import WSOL_MINT

__all__ = ["exact_amount", "recent_table", "signals_table", "top_table", "trace_view"]

_MISSING = "–"


def top_table(result: TopMints) -> Table:
    window = format_window(result.window)
    table = Table(
        title=f"Top mints by {result.by.replace('_', ' ')} in {window} at {format_utc(result.at)} UTC",
        caption=None if result.rows.height else "no mint traded in this window at this time",
    )
    table.add_column("#", justify="right")
    table.add_column("mint", no_wrap=True)
    for header in ("net flow SOL", "buys", "sells", "bought SOL", "sold SOL", "wallets", "bots", "DCA buys"):
        table.add_column(header, justify="right")
    table.add_column("last trade (UTC)")
    table.add_column("active signals")
    for rank, row in enumerate(result.rows.iter_rows(named=True), start=1):
        table.add_row(
            str(rank),
            row["mint"],
            _sol(row["net_flow_sol"], signed=True),
            _count(row["buy_count"]),
            _count(row["sell_count"]),
            _sol(row["buy_volume_sol"]),
            _sol(row["sell_volume_sol"]),
            _count(row["unique_wallets"]),
            _count(row["bot_wallets"]),
            _count(row["dca_buys"]),
            _time(row["last_trade_ts"]),
            ", ".join(row["active_signals"]),
        )
    return table


def trace_view(trace: MintTrace, limit: int) -> Group:
    """Summary line, then the latest ``limit`` trades and window rows (0: all), then every signal."""
    trades, history = trace.trades, trace.history
    return Group(
        Text(_trace_summary(trace)),
        _trades_table(_latest(trades, limit), trades.height),
        _history_table(_latest(history, limit), history.height, trace.windows),
        signals_table(trace.signals, title=f"Signals ({trace.signals.height})"),
    )


def signals_table(signals: pl.DataFrame, title: str) -> Table:
    table = Table(title=title, caption=None if signals.height else "none")
    for header in ("time (UTC)", "state", "signal", "mint", "severity", "score", "details"):
        justify: JustifyMethod = "right" if header in ("severity", "score") else "left"
        table.add_column(header, no_wrap=header == "mint", justify=justify)
    for row in signals.iter_rows(named=True):
        table.add_row(
            _time(row["ts"]),
            Text(row["state"], style="bold green" if row["state"] == "on" else "dim"),
            row["signal_type"],
            row["mint"],
            _count(row["severity"]),
            _MISSING if row["score"] is None else f"{row['score']:.3f}",
            Text(_details(row["details"])),
        )
    return table


def recent_table(result: RecentSignals) -> Table:
    return signals_table(
        result.rows,
        title=f"Signals since {format_utc(result.since)} UTC (data up to {format_utc(result.latest_tick)} UTC)",
    )


def exact_amount(raw: int | None, decimals: int | None) -> str:
    """A raw integer amount in UI units, exactly: ``exact_amount(1500000, 6) == "1.5"``."""
    if raw is None:
        return _MISSING
    if decimals is None:
        return f"{raw:,} raw"
    whole, fraction = divmod(raw, 10**decimals)
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{whole:,}.{digits}" if digits else f"{whole:,}"


def _trace_summary(trace: MintTrace) -> str:
    trades = trace.trades
    lines = [f"mint {trace.mint}"]
    if trades.height:
        programs = ", ".join(sorted(set(trades.get_column("program"))))
        buys = trades.filter(pl.col("direction") == "buy").height
        sol = trades.filter(pl.col("quote_mint") == WSOL_MINT)
        bought = cast("int", sol.filter(pl.col("direction") == "buy").get_column("quote_amount_raw").sum())
        sold = cast("int", sol.filter(pl.col("direction") == "sell").get_column("quote_amount_raw").sum())
        times = trades.get_column("block_time").drop_nulls()
        first, last = cast("int | None", times.min()), cast("int | None", times.max())
        span = f", {_time(first)} – {_time(last)} UTC" if times.len() else ""
        lines.append(
            f"{trades.height} trades ({buys} buys, {trades.height - buys} sells) on {programs}{span};"
            f" SOL bought {exact_amount(bought, 9)}, sold {exact_amount(sold, 9)}"
        )
    lines.append(f"{trace.history.height} window rows, {trace.signals.height} signal changes")
    return "\n".join(lines)


def _trades_table(trades: pl.DataFrame, total: int) -> Table:
    table = Table(title=_shown("Trades", trades.height, total))
    for header in ("time (UTC)", "program", "side", "trader", "tokens", "quote", "signature"):
        table.add_column(header, justify="right" if header in ("tokens", "quote") else "left")
    for row in trades.iter_rows(named=True):
        quote = "SOL" if row["quote_mint"] == WSOL_MINT else row["quote_mint"][:4] + "…"
        table.add_row(
            _time(row["block_time"]),
            row["program"] + (" (DCA)" if row["is_dca"] else ""),
            Text(row["direction"], style="green" if row["direction"] == "buy" else "red"),
            row["trader"],
            exact_amount(row["token_amount_raw"], row["token_decimals"]),
            f"{exact_amount(row['quote_amount_raw'], row['quote_decimals'])} {quote}",
            row["signature"],
        )
    return table


def _history_table(history: pl.DataFrame, total: int, windows: Iterable[int]) -> Table:
    windows = tuple(windows)
    table = Table(title=_shown("Window history", history.height, total))
    table.add_column("tick (UTC)")
    for w in windows:
        table.add_column(f"net flow {format_window(w)}", justify="right")
    for w in windows:
        table.add_column(f"buys/sells {format_window(w)}", justify="right")
    for row in history.iter_rows(named=True):
        flows = [_sol(row[f"net_flow_{w}s_sol"], signed=True) for w in windows]
        counts = [f"{row[f'buy_count_{w}s']}/{row[f'sell_count_{w}s']}" for w in windows]
        table.add_row(_time(row["ts"]), *flows, *counts)
    return table


def _latest(frame: pl.DataFrame, limit: int) -> pl.DataFrame:
    return frame.tail(limit) if limit else frame


def _shown(title: str, shown: int, total: int) -> str:
    return f"{title} ({total})" if shown == total else f"{title} (latest {shown} of {total}; --limit 0 shows all)"


def _details(details: str | None) -> str:
    decoded: dict[str, Any] = json.loads(details) if details else {}
    return ", ".join(f"{key}={value}" for key, value in decoded.items())


def _sol(value: float | None, signed: bool = False) -> str:
    if value is None:
        return _MISSING
    return f"{value:+,.4f}" if signed else f"{value:,.4f}"


def _count(value: int | None) -> str:
    return _MISSING if value is None else f"{value:,}"


def _time(ts: int | None) -> str:
    return _MISSING if ts is None else format_utc(ts)
