"""``plot_mint``: one mint's flows as a PNG -- net flow per window, buy/sell counts and volume over
event time, with a marker line where each signal turned on (solid) or off (dotted).

The series are the mint's window states at every tick they changed, decays included, rebuilt from
its trades (``solflow.analysis.states``); a state holds until the next, so every series is drawn as
steps. Drawn on a bare ``Figure`` (the Agg canvas): no display, no pyplot state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import polars as pl

from solflow.analysis.outputs import AnalysisError, Outputs
from solflow.analysis.states import state_history
from solflow.analysis.times import format_window
from solflow.analysis.trace import mint_signals
from solflow.domain.signals import SIGNAL_TYPES

__all__ = ["PlotSummary", "plot_mint"]

# Apart from the window lines, which take matplotlib's first six default colours.
_SIGNAL_COLOURS = dict(zip(SIGNAL_TYPES, ("tab:pink", "tab:olive", "tab:cyan", "tab:gray", "black")))
_BUY, _SELL = "tab:green", "tab:red"


@dataclass(frozen=True)
class PlotSummary:
    path: Path
    mint: str
    window: int
    rows: int  # window states drawn
    signals: int  # signal transitions marked
    first_ts: int
    last_ts: int

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "mint": self.mint,
            "window": self.window,
            "rows": self.rows,
            "signals": self.signals,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }


def plot_mint(out: Path | str, mint: str, path: Path, window: int = 300) -> PlotSummary:
    """Write ``mint``'s chart to ``path`` (PNG); counts and volume are those of ``window``.

    >>> plot_mint(Path("out"), "npB9cxTzwUiGt7jk2dXZa52xZve8SgJ8mTgjbNwpump", Path("mint.png"))  # doctest: +SKIP
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise AnalysisError(f"cannot write {path}: directory {path.parent} does not exist")
    outputs = Outputs(out)
    outputs.check_window(window)
    history = state_history(outputs, mint)
    if history.is_empty():
        raise AnalysisError(f"mint {mint!r} has no trades in {outputs.root}")
    signals = mint_signals(outputs, mint)
    _draw(path, mint, history, signals, outputs.windows(), window)
    stamps = history.get_column("ts")  # integer seconds, never null
    first, last = cast("int", stamps.min()), cast("int", stamps.max())
    return PlotSummary(path, mint, window, history.height, signals.height, first, last)


def _draw(
    path: Path, mint: str, history: pl.DataFrame, signals: pl.DataFrame, windows: tuple[int, ...], window: int
) -> None:
    # Imported only now: matplotlib takes a second to load, and only a chart being drawn needs it.
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    times = [_datetime(ts) for ts in history.get_column("ts")]
    figure = Figure(figsize=(12, 9), dpi=100, layout="constrained")
    flow_axes, count_axes, volume_axes = figure.subplots(3, 1, sharex=True)
    # Longer windows often repeat shorter ones' values: draw them first and wider, so each shows.
    for layer, w in enumerate(reversed(windows)):
        flow_axes.step(
            times,
            history.get_column(f"net_flow_{w}s_sol"),
            where="post",
            label=format_window(w),
            color=f"C{len(windows) - 1 - layer}",
            linewidth=1.0 + 0.7 * (len(windows) - 1 - layer),
            zorder=2 + layer,
        )
    flow_axes.axhline(0, color="0.6", linewidth=0.8)
    flow_axes.set_ylabel("net flow (SOL)")
    lines, labels = flow_axes.get_legend_handles_labels()
    flow_axes.legend(lines[::-1], labels[::-1], loc="best", ncols=len(windows), fontsize="small", title="window")

    name = format_window(window)
    count_axes.step(times, history.get_column(f"buy_count_{window}s"), where="post", color=_BUY, label="buys")
    count_axes.step(times, history.get_column(f"sell_count_{window}s"), where="post", color=_SELL, label="sells")
    count_axes.set_ylabel(f"trades in {name}")
    count_axes.legend(loc="best", fontsize="small")

    buy_volume = history.get_column(f"buy_volume_{window}s_sol")
    sell_volume = history.get_column(f"sell_volume_{window}s_sol")
    volume_axes.step(times, buy_volume, where="post", color=_BUY, label="bought")
    volume_axes.step(times, sell_volume, where="post", color=_SELL, label="sold")
    volume_axes.set_ylabel(f"volume in {name} (SOL)")

    marked: dict[str, str] = {}
    for ts, state, signal_type in signals.select("ts", "state", "signal_type").iter_rows():
        colour = _SIGNAL_COLOURS.get(signal_type, "black")
        marked[signal_type] = colour
        for axes in (flow_axes, count_axes, volume_axes):
            axes.axvline(_datetime(ts), color=colour, linestyle="-" if state == "on" else ":", linewidth=1.2)
    handles = volume_axes.get_legend_handles_labels()[0]
    if marked:
        handles += [Line2D([], [], color=colour, label=signal_type) for signal_type, colour in marked.items()]
        handles.append(Line2D([], [], color="0.3", linestyle="-", label="on"))
        handles.append(Line2D([], [], color="0.3", linestyle=":", label="off"))
    volume_axes.legend(handles=handles, loc="best", fontsize="small", ncols=2 if marked else 1)

    locator = AutoDateLocator()
    volume_axes.xaxis.set_major_locator(locator)
    volume_axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    volume_axes.set_xlabel("event time (UTC)")
    for axes in (flow_axes, count_axes, volume_axes):
        axes.grid(True, color="0.9")
    programs = ", ".join(sorted({p for row in history.get_column("programs") for p in row.split(",") if p}))
    counts = f"{history.height} window states · {signals.height} signal changes"
    figure.suptitle(f"{mint}\n{programs or 'no program'} · {counts}")
    figure.savefig(path, format="png")


def _datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
