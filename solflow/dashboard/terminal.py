"""``solflow top --watch``: the dashboard's ranking in a terminal, redrawn after every commit.

The view is ``view.read_tokens`` (the same ranking, names, prices, bonding progress and signals as
the web page) rendered in 80 columns: the token column and the signal codes give way first.
With ``--json`` it prints one JSON document per change instead (a stream for scripts).
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from solflow.analysis.outputs import format_utc
from solflow.analysis.render import SIGNAL_CODES, short
from solflow.dashboard.view import Query, read_tokens
from solflow.dashboard.watch import PipelineWatcher

__all__ = ["live_view", "watch"]

POLL_INTERVAL_S = 0.25
_MISSING = "–"


def live_view(answer: Mapping[str, Any], ranked_by: str, wide: bool = False) -> RenderableType:
    """The header lines and the ranking table of one ``read_tokens`` answer (plus ``meta``);
    ``wide``: whole mint addresses, as wide as the terminal allows."""
    counts = answer.get("counts", {})
    chain_time = answer.get("chain_time")
    status = answer.get("status", "waiting")
    header = Text.assemble(
        ("SolFlow ", "bold"),
        (status.upper(), {"live": "bold green", "stale": "bold yellow"}.get(status, "dim")),
        f"  chain {format_utc(chain_time)} UTC" if chain_time is not None else "  no data yet",
        f"  lag {_duration(answer.get('lag_s'))}",
    )
    facts = Text(
        f"{counts.get('active', 0)} mints, {counts.get('signals_1h', 0)} signals in 1 h,"
        f" {counts.get('blocked', 0)} blocked, {counts.get('followed', 0)} followed; by {ranked_by}",
        style="dim",
    )
    if status == "waiting":
        return Group(header, Text(answer.get("problem") or "waiting for data", style="yellow"))
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("token", no_wrap=True, overflow="ellipsis", min_width=6, max_width=None if wide else 12, ratio=1)
    for header_text in ("price", "mcap", "bond", "1m", "5m", "1h", "b/s", "wal"):
        table.add_column(header_text, justify="right", no_wrap=True)
    table.add_column("sig", no_wrap=True, overflow="ellipsis", min_width=3, max_width=11, ratio=1)
    table.add_column("sc", justify="right", no_wrap=True)
    for rank, token in enumerate(answer.get("tokens", []), start=answer.get("offset", 0) + 1):
        table.add_row(
            ("*" if token["followed"] else "") + str(rank),
            Text(token["name"] or token["symbol"] or short(token["mint"], wide)),
            _price(token["price_sol"]),
            _sol(token["market_cap_sol"]),
            "AMM" if token["graduated"] else _percent(token["bonding_progress"]),
            _flow(token["nf_60"]),
            _flow(token["nf_300"]),
            _flow(token["nf_3600"]),
            f"{_count(token['buys_300'])}/{_count(token['sells_300'])}",
            _count(token["wallets_300"]) + ("b" if token["bot_wallets_300"] else ""),
            " ".join(SIGNAL_CODES.get(s["type"], s["type"]) for s in token["signals"]),
            _MISSING if token["score"] is None else str(token["score"]),
        )
    legend = Text("SOL; flows 1m/5m/1h net; b/s, wal(b: bots) in 5 m; * followed; sc persistence", style="dim")
    return Group(header, facts, table, legend)


def watch(
    watcher: PipelineWatcher,
    query: Query,
    ranked_by: str,
    *,
    json_lines: bool,
    wide: bool,
    console: Console,
    stream: TextIO,
) -> int:
    """Redraw (or print a JSON line) after every change until SIGINT/SIGTERM; exit status 0."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if json_lines:
            _each_change(watcher, query, stop, lambda answer: _print_line(answer, stream))
        else:
            from rich.live import Live

            with Live(console=console, auto_refresh=False, transient=False) as live:
                _each_change(
                    watcher, query, stop, lambda answer: live.update(live_view(answer, ranked_by, wide), refresh=True)
                )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        watcher.close()
    return 0


def _each_change(
    watcher: PipelineWatcher, query: Query, stop: threading.Event, show: Callable[[dict[str, Any]], None]
) -> None:
    sent: Any = None
    while not stop.is_set():
        if watcher.poll():
            answer = watcher.meta() | watcher.read(lambda db, control: read_tokens(db, control, query, watcher.history))
            content = {k: v for k, v in answer.items() if k not in ("lag_s", "last_commit_age_s")}
            if content != sent:
                sent = content
                show(answer)
        stop.wait(POLL_INTERVAL_S)


def _print_line(answer: dict[str, Any], stream: TextIO) -> None:
    stream.write(json.dumps(answer, separators=(",", ":"), allow_nan=False) + "\n")
    stream.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return _MISSING
    s = abs(int(seconds))
    sign = "-" if seconds < 0 else ""
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{sign}{s // size}{unit}"
    return f"{sign}{s}s"


def _price(value: float | None) -> str:
    if value is None:
        return _MISSING
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


def _sol(value: float | None) -> str:
    if value is None:
        return _MISSING
    for suffix, size in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.1f}"


def _flow(value: float | None) -> Text:
    if value is None:
        return Text(_MISSING)
    text = f"{value / 1000:+.1f}k" if abs(value) >= 1000 else f"{value:+.2f}"
    return Text(text, style="green" if value > 0 else "red" if value < 0 else "")


def _percent(value: float | None) -> str:
    return _MISSING if value is None else f"{round(100 * value)}%"


def _count(value: int | None) -> str:
    return _MISSING if value is None else str(value)
