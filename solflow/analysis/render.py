"""Terminal tables (rich) of the analysis results; ``--json`` prints the results' ``as_json`` instead.

Each table fits 80 columns: addresses shortened to ``Abcd…wxyz`` (a mint shown by its name or symbol
where known, as ``solflow top --watch`` and the dashboard show it), signal types to three letters (a
legend says which), times without a date the title or summary gives, a trade's amounts to a few
decimals, prices to three digits, secondary columns left out. ``wide=True`` (``--wide``) shows every column in full: whole
addresses, dates, a trade's token and quote amounts exactly (from their raw integers and decimals).
SOL amounts of aggregate rows are shown to 4 decimals. Times are UTC. A column a window does not
have (bot ratings beyond 300 s) shows "–".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

import polars as pl
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from solflow.analysis.outputs import format_utc
from solflow.analysis.recent import RecentSignals
from solflow.analysis.times import format_window
from solflow.analysis.top import TopMints
from solflow.analysis.trace import MintTrace
from solflow.domain.programs import WSOL_MINT

__all__ = ["SIGNAL_CODES", "exact_amount", "recent_table", "short", "signals_table", "top_table", "trace_view"]

_MISSING = "–"
SIGNAL_CODES = {"BREAKOUT": "BRK", "FOCUSED": "FOC", "SURGE": "SRG", "BOT_DROPOFF": "BOT", "DCA_CONVICTION": "DCA"}
_NARROW_HISTORY_WINDOWS = 3  # net flow columns of the window history table without --wide
_NARROW_AMOUNT_PLACES = 4  # decimals of a trade's amounts without --wide
_NARROW_TOKEN_WIDTH = 12  # a mint's name, symbol or short address in top without --wide


def top_table(result: TopMints, wide: bool = False) -> Table:
    window = format_window(result.window)
    table = _table(
        f"Top mints by {result.by.replace('_', ' ')} in {window} at {format_utc(result.at)} UTC",
        caption=None if result.rows.height else "no mint traded in this window at this time",
    )
    table.add_column("#", justify="right")
    if wide:
        for header in ("mint", "name", "symbol"):
            table.add_column(header, no_wrap=True)
        headers = ["net SOL", "buys", "sells", "bought SOL", "sold SOL", "wallets", "bots", "DCA"]
        headers += ["price SOL", "mcap SOL", "progress", "score"]
    else:
        table.add_column("token", no_wrap=True, overflow="ellipsis", max_width=_NARROW_TOKEN_WIDTH)
        headers = ["price", "net SOL", "b/s", "wal", "DCA", "mcap", "prog", "scr"]
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    if wide:
        table.add_column("last trade", no_wrap=True)
    table.add_column("active signals" if wide else "sig")
    for rank, row in enumerate(result.rows.iter_rows(named=True), start=1):
        if wide:
            token = [row["mint"], _text(row["token_name"]), _text(row["token_symbol"])]
        else:
            token = [row["token_name"] or row["token_symbol"] or short(row["mint"]), _price(row["price_sol"], 3)]
        volumes = [_sol(row["buy_volume_sol"]), _sol(row["sell_volume_sol"])] if wide else []
        bots = [_count(row["bot_wallets"])] if wide else []
        price = [_price(row["price_sol"])] if wide else []
        last = [_time(row["last_trade_ts"], wide)] if wide else []
        counts = [_count(row["buy_count"]), _count(row["sell_count"])]
        table.add_row(
            str(rank),
            *token,
            _sol(row["net_flow_sol"], signed=True, places=4 if wide else 2),
            *(counts if wide else ["/".join(counts)]),
            *volumes,
            _count(row["unique_wallets"]),
            *bots,
            _count(row["dca_buys"]),
            *price,
            _cap(row["market_cap_sol"], wide),
            _progress(row["bonding_progress"]),
            _count(row["persistence_score"]),
            *last,
            _signal_names(row["active_signals"], wide),
        )
    if not wide and result.rows.height:
        table.caption = (
            _signal_legend()
            + "; price, mcap: in SOL; b/s: buys/sells, wal: wallets; scr: persistence score; sig: signals on"
        )
    return table


def trace_view(trace: MintTrace, limit: int, wide: bool = False) -> Group:
    """Summary line, then the latest ``limit`` trades and window rows (0: all), then every signal."""
    trades, history = trace.trades, trace.history
    return Group(
        Text(_trace_summary(trace)),
        _trades_table(_latest(trades, limit), trades.height, wide),
        _history_table(_latest(history, limit), history.height, trace.windows, wide),
        signals_table(trace.signals, title=f"Signals ({trace.signals.height})", wide=True, with_mint=wide),
    )


def signals_table(signals: pl.DataFrame, title: str, wide: bool = False, with_mint: bool = True) -> Table:
    """Signal transitions; ``wide=False`` shortens the mint and the signal type (a legend follows)."""
    caption = "none" if not signals.height else None if wide else _signal_legend()
    table = _table(title, caption=caption)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("state")
    table.add_column("signal", no_wrap=True)
    if with_mint:
        table.add_column("mint", no_wrap=True)
    table.add_column("sev", justify="right")
    table.add_column("score", justify="right")
    table.add_column("details")
    for row in signals.iter_rows(named=True):
        mint = [short(row["mint"], wide)] if with_mint else []
        table.add_row(
            _time(row["ts"], wide=True),
            Text(row["state"], style="bold green" if row["state"] == "on" else "dim"),
            _signal_names([row["signal_type"]], wide),
            *mint,
            _count(row["severity"]),
            _MISSING if row["score"] is None else f"{row['score']:.3f}",
            Text(_details(row["details"])),
        )
    return table


def recent_table(result: RecentSignals, wide: bool = False) -> Table:
    return signals_table(
        result.rows,
        title=f"Signals since {format_utc(result.since)} UTC (data up to {format_utc(result.latest_tick)} UTC)",
        wide=wide,
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


def short(address: str | None, wide: bool = False) -> str:
    """A base58 address as ``Abcd…wxyz`` (in full with ``wide``), enough to tell rows apart."""
    if address is None:
        return _MISSING
    return address if wide or len(address) <= 11 else f"{address[:4]}…{address[-4:]}"


def _table(title: str, caption: str | None) -> Table:
    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title_justify="left",
        caption_justify="left",
    )


def _trace_summary(trace: MintTrace) -> str:
    trades = trace.trades
    lines = [f"mint {trace.mint}"]
    token = trace.token
    if token is not None:
        name = token["token_name"] or "(no name known)"
        about = [f"{name} ({token['token_symbol']})" if token["token_symbol"] else name]
        if token["launch_program"]:
            launched = f" at {_time(token['created_ts'], True)} UTC" if token["created_ts"] is not None else ""
            about.append(f"launched on {token['launch_program']}{launched}")
        if token["graduated"]:
            about.append(f"graduated at {_time(token['migrated_ts'], True)} UTC")
        lines.append(", ".join(about))
    if trace.history.height:
        latest = trace.history.row(-1, named=True)
        quote = "SOL" if latest["quote_mint"] in (None, WSOL_MINT) else short(latest["quote_mint"])
        in_sol = f" ({_price(latest['price_sol'])} SOL)" if quote != "SOL" and latest["price_sol"] is not None else ""
        lines.append(
            f"price {_price(latest['price'])} {quote}{in_sol}, market cap {_cap(latest['market_cap'], True)} {quote},"
            f" bonding progress {_progress(latest['bonding_progress'])} (at {_time(latest['ts'], True)} UTC)"
        )
    if trace.score is not None:
        score = trace.score
        lines.append(
            f"persistence score {score['persistence_score']} ({score['pattern_tag']}, confidence"
            f" {score['confidence']}; scored at {_time(score['ts'], True)} UTC)"
        )
    if trades.height:
        programs = ", ".join(sorted(set(trades.get_column("program"))))
        buys = trades.filter(pl.col("direction") == "buy").height
        sol = trades.filter(pl.col("quote_mint") == WSOL_MINT)
        bought = cast("int", sol.filter(pl.col("direction") == "buy").get_column("quote_amount_raw").sum())
        sold = cast("int", sol.filter(pl.col("direction") == "sell").get_column("quote_amount_raw").sum())
        times = trades.get_column("block_time").drop_nulls()
        first, last = cast("int | None", times.min()), cast("int | None", times.max())
        lines.append(f"{trades.height} trades ({buys} buys, {trades.height - buys} sells) on {programs}")
        if times.len():
            lines.append(f"from {_time(first, True)} to {_time(last, True)} UTC")
        lines.append(f"SOL bought {exact_amount(bought, 9)}, sold {exact_amount(sold, 9)}")
    lines.append(f"{trace.history.height} window rows, {trace.signals.height} signal changes")
    return "\n".join(lines)


def _trades_table(trades: pl.DataFrame, total: int, wide: bool) -> Table:
    table = _table(_shown("Trades", trades.height, total), caption=None)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("program", no_wrap=True)
    table.add_column("side")
    table.add_column("trader", no_wrap=True)
    table.add_column("tokens", justify="right")
    table.add_column("quote", justify="right", no_wrap=True)
    table.add_column("signature", no_wrap=True)
    for row in trades.iter_rows(named=True):
        quote = "SOL" if row["quote_mint"] == WSOL_MINT else short(row["quote_mint"], wide)
        table.add_row(
            _time(row["block_time"], wide),
            row["program"] + (" (DCA)" if row["is_dca"] else ""),
            Text(row["direction"], style="green" if row["direction"] == "buy" else "red"),
            short(row["trader"], wide),
            _amount(row["token_amount_raw"], row["token_decimals"], wide),
            f"{_amount(row['quote_amount_raw'], row['quote_decimals'], wide)} {quote}",
            short(row["signature"], wide),
        )
    return table


def _history_table(history: pl.DataFrame, total: int, windows: Iterable[int], wide: bool) -> Table:
    windows = tuple(windows)
    flow_windows = windows if wide else windows[:_NARROW_HISTORY_WINDOWS]
    count_windows = windows if wide else windows[:1]
    table = _table(_shown("Window history", history.height, total), caption=None)
    table.add_column("tick (UTC)", no_wrap=True)
    for w in flow_windows:
        table.add_column(f"net {format_window(w)}", justify="right")
    for w in count_windows:
        table.add_column(f"buys/sells {format_window(w)}", justify="right")
    for row in history.iter_rows(named=True):
        flows = [_sol(row[f"net_flow_{w}s_sol"], signed=True) for w in flow_windows]
        counts = [f"{row[f'buy_count_{w}s']}/{row[f'sell_count_{w}s']}" for w in count_windows]
        table.add_row(_time(row["ts"], wide), *flows, *counts)
    return table


def _latest(frame: pl.DataFrame, limit: int) -> pl.DataFrame:
    return frame.tail(limit) if limit else frame


def _shown(title: str, shown: int, total: int) -> str:
    return f"{title} ({total})" if shown == total else f"{title} (latest {shown} of {total}; --limit 0 shows all)"


def _details(details: str | None) -> str:
    decoded: dict[str, Any] = json.loads(details) if details else {}
    return ", ".join(f"{key}={value}" for key, value in decoded.items())


def _signal_names(types: list[str], wide: bool) -> str:
    return ", ".join(types) if wide else " ".join(SIGNAL_CODES.get(t, t) for t in types)


def _signal_legend() -> str:
    return " ".join(f"{code}={name}" for name, code in SIGNAL_CODES.items())


def _amount(raw: int | None, decimals: int | None, wide: bool) -> str:
    """Exact with ``wide``; else rounded to a few decimals (to the unit above a million)."""
    if wide or raw is None or decimals is None:
        return exact_amount(raw, decimals)
    value = Decimal(raw).scaleb(-decimals)
    places = 0 if value >= 1_000_000 else _NARROW_AMOUNT_PLACES
    return f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):,}"


def _sol(value: float | None, signed: bool = False, places: int = 4) -> str:
    if value is None:
        return _MISSING
    return f"{value:+,.{places}f}" if signed else f"{value:,.{places}f}"


def _text(value: str | None, width: int | None = None) -> str:
    if not value:
        return _MISSING
    return value if width is None or len(value) <= width else value[: width - 1] + "…"


def _price(value: float | None, digits: int = 4) -> str:
    return _MISSING if value is None else f"{value:.{digits}g}"


def _cap(value: float | None, wide: bool) -> str:
    if value is None:
        return _MISSING
    return f"{value:,.1f}" if wide or value < 10_000 else f"{value / 1000:,.0f}k"


def _progress(value: float | None) -> str:
    return _MISSING if value is None else f"{value * 100:.0f}%"


def _count(value: int | None) -> str:
    return _MISSING if value is None else f"{value:,}"


def _time(ts: int | None, wide: bool) -> str:
    """Date and time in UTC; the time of day alone in narrow tables, whose title gives the date."""
    if ts is None:
        return _MISSING
    return format_utc(ts) if wide else format_utc(ts)[11:]
