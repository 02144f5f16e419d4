"""The shard-level aggregation driver: many mints' windows, one event clock, rows at fixed ticks.

``ShardAggregator`` receives a shard's trades and every partition's clock. Ticks are multiples of
``tick_s`` (``SOLFLOW_AGG_TICK``); tick ``T`` describes the interval ``(T - tick_s, T]`` and is
processed once the watermark -- the minimum over all partitions of their latest clock -- is past
``T`` (every partition has reached a later second, so no trade at ``<= T`` can still arrive from
any of them). Processing a tick enters the trades of its interval and evicts what left each window
(``solflow.domain.windows``); a mint *changes* at a tick when a trade of it entered or a bucket of
it left some window. What comes out (``Emitted``):

* **history**: one aggregate row per mint per tick at which a trade of that mint entered, stamped
  with the tick, plus one final (all-empty) row at the tick its windows emptied -- at most trades +
  mint runs rows, however long the windows;
* **current state**: the row of each mint that changed, as of its latest change (``current_rows``,
  called as often as a caller wants the state refreshed), and every final row as it happens;
* **signals**: evaluated (``solflow.domain.signals``) at every tick at which the mint changed, so a
  bucket merely leaving a window may switch a signal on or off; on/off rows stamped with the tick.

A mint whose windows are all empty is forgotten after its final row (its later trades start a new
run, with ``trades_total`` from zero). Rows depend only on the trades and their times, not on how
input was batched or interleaved, on replay speed, worker count or restarts.

Untimed and late trades:

* a trade without a time is timed at the current watermark (held until there is one);
* a trade at or before the last processed tick is *late*: it is counted as if it happened one second
  after that tick (so it shows up at the next tick and stays for the full length of each window)
  and counted in ``late_trades``.

At the end of a bounded input (``finish``) every held trade is flushed: ticks are processed up to
the one holding the latest clock or trade, so the last trades of a replay reach the rows and signals.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solflow.domain.enrich import EnrichConfig, Enricher, ScoreBatch
from solflow.domain.lifecycle import LifecycleEvent
from solflow.domain.programs import JUPITER_DCA, LAUNCHLAB, MOONSHOT, PUMPSWAP, WSOL_MINT
from solflow.domain.signals import SignalConfig, evaluate, transitions
from solflow.domain.tokens import SolUsdPoint, TokenTrade, token_trade
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import (
    BUY_LAMPORTS,
    BUYS,
    DEFAULT_TICK_S,
    DEFAULT_WINDOWS,
    KIND_DCA_BUY,
    KIND_OTHER,
    KIND_SPOT_BUY,
    LAMPORTS_PER_SOL,
    R_TIME,
    SELL_LAMPORTS,
    SELLS,
    SPOT_BUYS,
    U_ANY,
    IncomingRecord,
    Ints,
    RowBlock,
    ShardWindows,
    TickChanges,
    TradeRecord,
    WindowLayout,
)

# DCA_CONVICTION's "spot" buys: the AMMs and launchpads a DCA fill can be compared with (the
# original leaves Pump.fun out). A swap executed by a DCA fill itself is not a spot buy.
SPOT_PROGRAMS = frozenset((PUMPSWAP.name, LAUNCHLAB.name, MOONSHOT.name))


def trade_record(trade: TradeEvent) -> IncomingRecord:
    """What the windows keep of a trade (see ``solflow.domain.windows.TradeRecord``); the time is
    the block time, or None (timed by the shard)."""
    is_buy = trade.direction == "buy"
    if is_buy and trade.is_dca:
        kind = KIND_DCA_BUY
    elif is_buy and trade.program in SPOT_PROGRAMS and trade.via != JUPITER_DCA.program_id:
        kind = KIND_SPOT_BUY
    else:
        kind = KIND_OTHER
    inner = trade.inner_ix_index
    return (
        trade.block_time,
        is_buy,
        trade.quote_amount_raw if trade.quote_mint == WSOL_MINT else None,
        trade.slot,
        trade.tx_index,
        trade.outer_ix_index,
        -1 if inner is None else inner,
        trade.trader,
        trade.program,
        kind,
        trade.mint,
    )


@dataclass(frozen=True)
class AggregationConfig:
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    tick_s: int = DEFAULT_TICK_S
    signals: SignalConfig = field(default_factory=SignalConfig)

    def __post_init__(self) -> None:
        self.layout()  # validates windows and tick

    def layout(self) -> WindowLayout:
        return WindowLayout(self.windows, self.tick_s, int(self.signals.dca_conviction_match_window_s))


@dataclass
class Emitted:
    """What processing some ticks gave: history rows, final rows (current state of mints that
    emptied) and signal rows, each in tick order; with an ``Enricher``, also ``token_metadata`` and
    ``dca_activity_buckets`` rows, score batches and alerts."""

    history: list[RowBlock] = field(default_factory=list)
    finals: list[RowBlock] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    dca: list[dict[str, Any]] = field(default_factory=list)
    scores: list[ScoreBatch] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def history_block(self) -> RowBlock | None:
        return RowBlock.concat(self.history) if self.history else None

    def finals_block(self) -> RowBlock | None:
        return RowBlock.concat(self.finals) if self.finals else None


class ShardAggregator:
    """Windows, signals and the event clock of the mints of one shard (see the module docstring)."""

    def __init__(self, config: AggregationConfig, partitions: Sequence[str], enricher: Enricher | None = None):
        self.config = config
        self._enricher = enricher
        self._layout = config.layout()
        self._partitions = _checked_partitions(partitions)
        self._clocks: dict[str, int] = {}
        self._max_clock: int | None = None
        self._watermark: int | None = None
        self._last_tick: int | None = None
        self._windows = ShardWindows(self._layout)
        self._pending: dict[int, list[TradeRecord]] = {}  # bucket -> trades waiting for its tick
        self._waiting: list[IncomingRecord] = []  # untimed trades that arrived before any watermark
        self._signal_columns = _SignalColumns(self._layout)
        self.late_trades = 0
        self.untimed_trades = 0

    @property
    def watermark(self) -> int | None:
        return self._watermark

    @property
    def last_tick(self) -> int | None:
        """The latest tick processed (every row up to it has been returned)."""
        return self._last_tick

    @property
    def is_empty(self) -> bool:
        """No mint state and no held trade: the shard could be discarded without losing anything."""
        return not len(self._windows) and not self._pending and not self._waiting

    @property
    def new_runs(self) -> int:
        """Mints that started a run of non-empty windows so far (a mint idling out and coming back
        counts again)."""
        return self._windows.new_runs

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def enricher(self) -> Enricher | None:
        return self._enricher

    def add_trade(self, trade: TradeEvent) -> None:
        self.add_record(trade_record(trade))
        if self._enricher is not None:
            self._enricher.add(token_trade(trade))

    def add_fact(self, fact: TokenTrade | SolUsdPoint | LifecycleEvent) -> None:
        """A fact for the token state (needs an ``Enricher``)."""
        assert self._enricher is not None, "facts need an Enricher"
        self._enricher.add(fact)

    def add_record(self, record: IncomingRecord) -> None:
        time = record[R_TIME]
        last_tick = self._last_tick
        if time is None:
            self.untimed_trades += 1
            if self._watermark is None:
                self._waiting.append(record)
                return
            time = self._watermark
            if last_tick is not None and time <= last_tick:
                time = last_tick + 1
        elif last_tick is not None and time <= last_tick:
            self.late_trades += 1
            time = last_tick + 1
        bucket = self._layout.bucket(time)
        timed = _timed(record, time)
        held = self._pending.get(bucket)
        if held is None:
            self._pending[bucket] = [timed]
        else:
            held.append(timed)

    def advance(self, partition: str, block_time: int) -> Emitted:
        """Record ``partition``'s clock; process every tick the watermark passed.

        A clock ``t`` promises that the partition's later trades have ``block_time >= t`` (several
        slots share a second), so tick ``T`` needs every partition's clock to be ``> T``.
        """
        clocks = self._clocks
        if partition not in self._partitions:
            raise ValueError(f"unknown partition {partition!r}; this shard expects {', '.join(self._partitions)}")
        previous = clocks.get(partition)
        if previous is not None and block_time <= previous:
            return Emitted()
        clocks[partition] = block_time
        if self._max_clock is None or block_time > self._max_clock:
            self._max_clock = block_time
        if len(clocks) < len(self._partitions):
            return Emitted()
        watermark = min(clocks.values())
        if watermark == self._watermark:
            return Emitted()
        self._watermark = watermark
        self._place_waiting(watermark)
        tick = self._layout.tick_s
        return self._process_through((watermark - 1) // tick * tick)

    def finish(self) -> Emitted:
        """End of input: no trade can follow, so every held trade reaches the rows.

        Processes every tick up to the one holding the latest time seen -- the latest clock of any
        partition or the latest held trade, whichever is later. Untimed trades still waiting are
        timed at that time; with no time at all (no clock, no timed trade) they stay uncounted.
        """
        latest = self._max_clock
        for records in self._pending.values():
            held = max(record[R_TIME] for record in records)
            if latest is None or held > latest:
                latest = held
        if latest is None:
            return Emitted()
        if self._watermark is None or latest > self._watermark:
            self._watermark = latest
        self._place_waiting(latest)
        emitted = self._process_through(self._layout.tick_of(latest))
        enricher = self._enricher
        if enricher is not None and self._last_tick is not None:
            final = self._last_tick
            self._refresh(final, enricher.finish(final))
            self._take_rows(emitted)
            emitted.scores.append(enricher.score_batch(final, self._windows, final=True))
        return emitted

    def current_rows(self) -> RowBlock | None:
        """The current state of every mint that changed since the last call, each stamped with the
        tick of its latest change."""
        windows = self._windows
        slots = np.flatnonzero(windows.dirty)
        if not len(slots):
            return None
        windows.dirty[slots] = False
        rows = windows.rows(slots, windows.last_change[slots])
        return rows if self._enricher is None else self._enricher.attach(rows)

    def snapshot(self) -> bytes:
        """The whole shard as immutable bytes for Bytewax recovery."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(
        cls,
        config: AggregationConfig,
        snapshot: bytes,
        partitions: Sequence[str] | None = None,
        enrich: EnrichConfig | None = None,
    ) -> ShardAggregator:
        """Resume from ``snapshot()``; thresholds, partitions and the enrichment settings may change,
        windows and tick not."""
        aggregator = pickle.loads(snapshot)
        if not isinstance(aggregator, cls):
            raise ValueError(f"recovery state is a {type(aggregator).__name__}, not a ShardAggregator snapshot")
        saved = aggregator.config
        if (saved.windows, saved.tick_s) != (config.windows, config.tick_s):
            raise ValueError(
                f"recovery state was built with windows {saved.windows} and tick {saved.tick_s} s, "
                f"but the settings now say windows {config.windows} and tick {config.tick_s} s; "
                "restore those settings or start with a fresh recovery directory"
            )
        aggregator.config = config
        if partitions is not None:
            aggregator._partitions = _checked_partitions(partitions)
            aggregator._clocks = {p: t for p, t in aggregator._clocks.items() if p in aggregator._partitions}
        if enrich is not None and aggregator._enricher is not None:
            aggregator._enricher.reconfigure(enrich)
        return aggregator

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_layout", "_signal_columns")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._layout = self._windows.layout
        self._signal_columns = _SignalColumns(self._layout)

    def _place_waiting(self, time: int) -> None:
        waiting, self._waiting = self._waiting, []
        for record in waiting:
            self.add_record(_timed(record, time))

    def _process_through(self, target: int) -> Emitted:
        out = Emitted()
        if self._last_tick is not None and target <= self._last_tick:
            return out
        layout, windows, pending, enricher = self._layout, self._windows, self._pending, self._enricher
        granularity = layout.granularity
        while True:
            first = min(pending) if pending else None
            tick = windows.next_tick(None if first is None else layout.tick_of(first * granularity))
            if tick is None or tick > target:
                break
            touched: list[str] = []
            if enricher is not None:  # the token facts up to the tick go first, as its trades do
                self._score(tick, out)
                touched = enricher.advance(tick)
            due = sorted(bucket for bucket in pending if bucket * granularity <= tick)
            changes = windows.process(tick, [(bucket, pending.pop(bucket)) for bucket in due])
            self._tick_done(tick, changes, touched, out)
        if enricher is not None:
            self._score(target + 1, out)
            self._refresh(target, enricher.advance(target))
            self._take_rows(out)
        self._last_tick = target
        return out

    def _tick_done(self, tick: int, changes: TickChanges, touched: list[str], out: Emitted) -> None:
        windows, enricher = self._windows, self._enricher
        entered, emptied = changes.entered, changes.emptied
        changed = changes.changed
        if enricher is not None:
            mints = windows.mints
            enricher.price([mints[slot] for slot in changed.tolist()])
            self._refresh(tick, touched)
        history = np.concatenate((entered, emptied)) if len(emptied) else entered
        if len(history):
            self._add_rows(out.history, windows.rows(history, np.full(len(history), tick, dtype=np.int64)))
        if len(emptied):
            self._add_rows(out.finals, windows.rows(emptied, np.full(len(emptied), tick, dtype=np.int64)))
        if len(changed):
            windows.dirty[changed] = True
            if enricher is None:
                self._signals(tick, changed, out.signals)
            else:
                signals: list[dict[str, Any]] = []
                self._signals(tick, changed, signals)
                kept, alerts = enricher.signals(tick, signals)
                out.signals += kept
                out.alerts += alerts
        if len(emptied):
            if enricher is not None:
                enricher.forget([windows.mints[slot] for slot in emptied.tolist()])
            windows.release(emptied)

    def _add_rows(self, blocks: list[RowBlock], rows: RowBlock) -> None:
        """Rows with their price columns, less those of blocked mints (with an ``Enricher``)."""
        attached = rows if self._enricher is None else self._enricher.attach(rows)
        if attached is not None:
            blocks.append(attached)

    def _refresh(self, tick: int, mints: Sequence[str]) -> None:
        """The token facts of ``mints`` changed at ``tick``: their current state (and price columns)
        is as of ``tick``, windows unchanged since their last change."""
        enricher, windows = self._enricher, self._windows
        assert enricher is not None
        slot_of = windows.slot_of
        present = [mint for mint in mints if mint in slot_of]
        if present:
            enricher.price(present)
            slots = [slot_of[mint] for mint in present]
            windows.dirty[slots] = True
            windows.last_change[slots] = tick

    def _score(self, before: int, out: Emitted) -> None:
        """Score batches of the 60 s boundaries before tick ``before``, each as of its boundary."""
        enricher = self._enricher
        assert enricher is not None
        boundaries = enricher.boundaries(before)
        if len(boundaries) > 1 and not len(self._windows):
            # Nothing to score at any of them (no mint has a window): the latest says how far the
            # shard got, which is all the scorer needs -- a quiet day is one batch, not 1,440.
            boundaries = boundaries[-1:]
        for boundary in boundaries:
            self._refresh(boundary, enricher.advance(boundary))
            out.scores.append(enricher.score_batch(boundary, self._windows))

    def _take_rows(self, out: Emitted) -> None:
        assert self._enricher is not None
        tokens, dca = self._enricher.take_rows()
        out.tokens += tokens
        out.dca += dca

    def _signals(self, tick: int, slots: Ints, out: list[dict[str, Any]]) -> None:
        windows, columns, config = self._windows, self._signal_columns, self.config.signals
        sums, bots = windows.sums[slots], windows.bots[slots]
        previous = windows.previous_bot_trades[slots]
        active = windows.active[slots]
        nf60 = (sums[:, columns.buy_lamports_60] - sums[:, columns.sell_lamports_60]) / LAMPORTS_PER_SOL
        nf300 = (sums[:, columns.buy_lamports_300] - sums[:, columns.sell_lamports_300]) / LAMPORTS_PER_SOL
        # Each signal needs at least one of these; most changed mints meet none and are not evaluated.
        maybe = (
            (active != 0)
            | (nf60 > min(config.breakout_min_net_flow_60s, config.surge_min_net_flow_60s))
            | (nf300 > config.focused_min_net_flow_300s)
            | ((previous >= config.bot_dropoff_min_previous_bot_trades) & (previous > 0))
        )
        # DCA_CONVICTION gives the same answer as at the mint's previous check unless its inputs changed.
        maybe |= (sums[:, columns.spot_buys_longest] > 0) & windows.has_fills[slots] & windows.dca_changed[slots]
        for index in np.flatnonzero(maybe).tolist():
            slot = int(slots[index])
            values = sums[index]
            row = {
                "net_flow_60s_sol": float(nf60[index]),
                "net_flow_300s_sol": float(nf300[index]),
                "buy_count_60s": int(values[columns.buys_60]),
                "sell_count_60s": int(values[columns.sells_60]),
                "buy_count_300s": int(values[columns.buys_300]),
                "sell_count_300s": int(values[columns.sells_300]),
                "unique_wallets_300s": int(values[columns.wallets_300]),
                "bot_trades_300s": int(bots[index, columns.bot_trades_300]),
            }
            before = int(previous[index])
            hits = evaluate(row, None if before < 0 else before, windows.dca_inputs(slot, tick), config)
            now_active, rows = transitions(windows.mints[slot], tick, int(active[index]), hits)
            if rows:
                windows.active[slot] = now_active
                out.extend(rows)
        windows.previous_bot_trades[slots] = bots[:, columns.bot_trades_300]
        windows.dca_changed[slots] = False


class _SignalColumns:
    """Where the values the signals read sit in a sums row and a bots row."""

    def __init__(self, layout: WindowLayout):
        self.buy_lamports_60 = layout.column(60, BUY_LAMPORTS)
        self.sell_lamports_60 = layout.column(60, SELL_LAMPORTS)
        self.buy_lamports_300 = layout.column(300, BUY_LAMPORTS)
        self.sell_lamports_300 = layout.column(300, SELL_LAMPORTS)
        self.buys_60 = layout.column(60, BUYS)
        self.sells_60 = layout.column(60, SELLS)
        self.buys_300 = layout.column(300, BUYS)
        self.sells_300 = layout.column(300, SELLS)
        self.wallets_300 = layout.column(300, U_ANY)
        self.spot_buys_longest = layout.column(layout.longest, SPOT_BUYS)
        self.bot_trades_300 = 2 * layout.rated[layout.windows.index(300)] + 1


def _timed(record: IncomingRecord, time: int) -> TradeRecord:
    if record[R_TIME] == time:
        return record  # type: ignore[return-value]  # its time is ``time``, so not None
    return (time, *record[1:])


def _checked_partitions(partitions: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(partitions))
    if not names:
        raise ValueError("a shard needs at least one partition to take its event clock from")
    return names
