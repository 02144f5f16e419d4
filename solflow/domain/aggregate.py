"""The shard-level aggregation driver: many mints' windows, one event clock, rows at fixed ticks.

``ShardAggregator`` receives a shard's trades and every partition's clock. Ticks are multiples of
the cadence; tick ``T`` is emitted once the watermark -- the minimum over all partitions of their
latest clock -- is past ``T`` (every partition has reached a later second, so no trade at ``<= T``
can still arrive from any of them). For each tick, in order and mint by mint (sorted), it returns
``("aggregate", row)`` for every mint whose state changed in ``(T - cadence, T]`` -- a trade arrived
in that interval or a trade left some window -- followed by that mint's ``("signal", row)``
transitions (``solflow.domain.signals``). A mint whose windows are all empty emits its all-zero row and is
dropped (if a trade for a later tick is already held, the mint starts afresh with it, exactly as if
that trade had arrived afterwards). Rows depend only on the trades and their times, not on how input
was batched or interleaved, on replay speed, worker count or restarts.

Untimed and late trades:

* a trade without ``block_time`` is timed at the current watermark (held until there is one);
* a trade at or before the last emitted tick is *late*: it is counted as if it happened one second
  after that tick (so it shows up at the next tick and stays for the full length of each window)
  and counted in ``late_trades``.

At the end of a bounded input (``finish``) every held trade is flushed: ticks are emitted up to the
one holding the latest clock or trade, so the last trades of a replay reach the rows and signals.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush
from typing import Any

from solflow.domain.programs import JUPITER_DCA, LAUNCHLAB, MOONSHOT, PUMPSWAP, WSOL_MINT
from solflow.domain.signals import SignalConfig, evaluate, transitions
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import (
    DEFAULT_WINDOWS,
    KIND_DCA_BUY,
    KIND_OTHER,
    KIND_SPOT_BUY,
    MintWindows,
    WindowLayout,
)

Row = tuple[str, dict[str, Any]]  # ("aggregate" | "signal", row)

# DCA_CONVICTION's "spot" buys: the AMMs and launchpads a DCA fill can be compared with (the
# original leaves Pump.fun out). A swap executed by a DCA fill itself is not a spot buy.
SPOT_PROGRAMS = frozenset((PUMPSWAP.name, LAUNCHLAB.name, MOONSHOT.name))


@dataclass(frozen=True)
class AggregationConfig:
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    cadence_s: int = 5
    signals: SignalConfig = field(default_factory=SignalConfig)

    def __post_init__(self) -> None:
        self.layout()  # validates windows and cadence

    def layout(self) -> WindowLayout:
        return WindowLayout(self.windows, self.cadence_s, int(self.signals.dca_conviction_match_window_s))


class ShardAggregator:
    """Windows, signals and the event clock of the mints of one shard (see the module docstring)."""

    def __init__(self, config: AggregationConfig, partitions: Sequence[str]):
        self.config = config
        self._layout = config.layout()
        self._partitions = _checked_partitions(partitions)
        self._clocks: dict[str, int] = {}
        self._max_clock: int | None = None
        self._watermark: int | None = None
        self._last_tick: int | None = None
        self._mints: dict[str, MintWindows] = {}
        self._calendar: dict[int, list[str]] = {}  # tick -> mints due then (may hold stale entries)
        self._ticks: list[int] = []  # heap of the calendar's ticks
        self._waiting: list[TradeEvent] = []  # untimed trades that arrived before any watermark
        self.late_trades = 0
        self.untimed_trades = 0

    @property
    def watermark(self) -> int | None:
        return self._watermark

    @property
    def last_tick(self) -> int | None:
        """The latest tick emitted (every row up to it has been returned)."""
        return self._last_tick

    @property
    def is_empty(self) -> bool:
        """No mint state and no held trade: the shard could be discarded without losing anything."""
        return not self._mints and not self._waiting

    def __len__(self) -> int:
        return len(self._mints)

    def add_trade(self, trade: TradeEvent) -> None:
        time = trade.block_time
        last_tick = self._last_tick
        if time is None:
            self.untimed_trades += 1
            if self._watermark is None:
                self._waiting.append(trade)
                return
            time = self._watermark
            if last_tick is not None and time <= last_tick:
                time = last_tick + 1
        elif last_tick is not None and time <= last_tick:
            self.late_trades += 1
            time = last_tick + 1
        self._place(trade, time)

    def advance(self, partition: str, block_time: int) -> list[Row]:
        """Record ``partition``'s clock; return the rows of every tick the watermark passed.

        A clock ``t`` promises that the partition's later trades have ``block_time >= t`` (several
        slots share a second), so tick ``T`` needs every partition's clock to be ``> T``.
        """
        clocks = self._clocks
        if partition not in self._partitions:
            raise ValueError(f"unknown partition {partition!r}; this shard expects {', '.join(self._partitions)}")
        previous = clocks.get(partition)
        if previous is not None and block_time <= previous:
            return []
        clocks[partition] = block_time
        if self._max_clock is None or block_time > self._max_clock:
            self._max_clock = block_time
        if len(clocks) < len(self._partitions):
            return []
        watermark = min(clocks.values())
        if watermark == self._watermark:
            return []
        self._watermark = watermark
        self._place_waiting(watermark)
        cadence = self._layout.cadence_s
        return self._emit_through((watermark - 1) // cadence * cadence)

    def finish(self) -> list[Row]:
        """End of input: no trade can follow, so every held trade reaches the rows.

        Emits every tick up to the one holding the latest time seen -- the latest clock of any
        partition or the latest held trade, whichever is later. Untimed trades still waiting are
        timed at that time; with no time at all (no clock, no timed trade) they stay uncounted.
        """
        latest = self._max_clock
        for windows in self._mints.values():
            held = windows.latest_pending_time()
            if held is not None and (latest is None or held > latest):
                latest = held
        if latest is None:
            return []
        if self._watermark is None or latest > self._watermark:
            self._watermark = latest
        self._place_waiting(latest)
        cadence = self._layout.cadence_s
        return self._emit_through(-(-latest // cadence) * cadence)

    def snapshot(self) -> bytes:
        """The whole shard as compact, immutable bytes for Bytewax recovery."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(
        cls, config: AggregationConfig, snapshot: bytes, partitions: Sequence[str] | None = None
    ) -> ShardAggregator:
        """Resume from ``snapshot()``; thresholds and partitions may change, windows and cadence not."""
        aggregator = pickle.loads(snapshot)
        if not isinstance(aggregator, cls):
            raise ValueError(f"recovery state is a {type(aggregator).__name__}, not a ShardAggregator snapshot")
        saved = aggregator.config
        if (saved.windows, saved.cadence_s) != (config.windows, config.cadence_s):
            raise ValueError(
                f"recovery state was built with windows {saved.windows} and cadence {saved.cadence_s} s, "
                f"but the settings now say windows {config.windows} and cadence {config.cadence_s} s; "
                "restore those settings or start with a fresh recovery directory"
            )
        aggregator.config = config
        aggregator._layout = config.layout()
        if partitions is not None:
            aggregator._partitions = _checked_partitions(partitions)
            aggregator._clocks = {p: t for p, t in aggregator._clocks.items() if p in aggregator._partitions}
        return aggregator

    def __getstate__(self) -> tuple:
        # Mints are pickled one by one and reused while unchanged: most mints of a shard are
        # quietly decaying and change a few times an hour, while the shard is snapshotted every epoch.
        return (
            self.config,
            self._partitions,
            self._clocks,
            self._max_clock,
            self._watermark,
            self._last_tick,
            {mint: windows.freeze() for mint, windows in self._mints.items()},
            self._waiting,
            self.late_trades,
            self.untimed_trades,
        )

    def __setstate__(self, state: tuple) -> None:
        (
            self.config,
            self._partitions,
            self._clocks,
            self._max_clock,
            self._watermark,
            self._last_tick,
            frozen_mints,
            self._waiting,
            self.late_trades,
            self.untimed_trades,
        ) = state
        self._mints = {mint: MintWindows.thaw(frozen) for mint, frozen in frozen_mints.items()}
        self._layout = self.config.layout()
        self._calendar = {}
        for mint, windows in self._mints.items():
            self._calendar.setdefault(windows.due, []).append(mint)
        self._ticks = list(self._calendar)
        heapify(self._ticks)

    def _place(self, trade: TradeEvent, time: int) -> None:
        is_buy = trade.direction == "buy"
        if is_buy and trade.is_dca:
            kind = KIND_DCA_BUY
        elif is_buy and trade.program in SPOT_PROGRAMS and trade.via != JUPITER_DCA.program_id:
            kind = KIND_SPOT_BUY
        else:
            kind = KIND_OTHER
        inner = trade.inner_ix_index
        record = (
            time,
            is_buy,
            trade.quote_amount_raw if trade.quote_mint == WSOL_MINT else None,
            trade.slot,
            trade.tx_index,
            trade.outer_ix_index,
            -1 if inner is None else inner,
            trade.trader,
            trade.program,
            kind,
        )
        mint = trade.mint
        windows = self._mints.get(mint)
        if windows is None:
            windows = self._mints[mint] = MintWindows(self._layout)
        layout = self._layout
        entry = windows.add(record, layout.bucket(time), layout)
        if entry is not None and (windows.due is None or entry < windows.due):
            self._schedule(mint, windows, entry)

    def _place_waiting(self, time: int) -> None:
        waiting, self._waiting = self._waiting, []
        for trade in waiting:
            self._place(trade, time)

    def _schedule(self, mint: str, windows: MintWindows, tick: int) -> None:
        windows.due = tick
        due_then = self._calendar.get(tick)
        if due_then is None:
            self._calendar[tick] = [mint]
            heappush(self._ticks, tick)
        else:
            due_then.append(mint)

    def _emit_through(self, target: int) -> list[Row]:
        if self._last_tick is not None and target <= self._last_tick:
            return []
        out: list[Row] = []
        ticks, calendar, mints = self._ticks, self._calendar, self._mints
        while ticks and ticks[0] <= target:
            tick = heappop(ticks)
            for mint in sorted(set(calendar.pop(tick))):
                windows = mints.get(mint)
                if windows is not None and windows.due == tick:
                    self._emit(mint, windows, tick, out)
        self._last_tick = target
        return out

    def _emit(self, mint: str, windows: MintWindows, tick: int, out: list[Row]) -> None:
        layout = self._layout
        row = windows.advance(mint, tick, layout)
        out.append(("aggregate", row))
        dca = windows.dca_inputs(tick, layout) if windows.dca_fills else None
        hits = evaluate(row, windows.previous_bot_trades, dca, self.config.signals)
        windows.previous_bot_trades = row["bot_trades_300s"]
        windows.active_signals, signal_rows = transitions(mint, tick, windows.active_signals, hits)
        out.extend(("signal", signal_row) for signal_row in signal_rows)
        if windows.is_empty():
            if not windows.pending:
                del self._mints[mint]
                return
            # Restart exactly as if the mint had been dropped and its later trades arrived afterwards.
            windows = self._mints[mint] = windows.restarted(layout)
        due = windows.next_due(layout)
        assert due is not None  # a non-empty or pending mint has a bucket to enter or to leave
        self._schedule(mint, windows, due)


def _checked_partitions(partitions: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(partitions))
    if not names:
        raise ValueError("a shard needs at least one partition to take its event clock from")
    return names
