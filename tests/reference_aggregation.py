"""The aggregation as it was before the columnar windows (commit 3ce9db4): a row at every tick at
which a mint's windows changed, per-mint Python state. Kept only as the test oracle the columnar
``solflow.domain.aggregate`` is compared with (tests/test_columnar_oracle.py).

``ReferenceAggregator.advance``/``finish`` return ``("aggregate", row)`` at every change tick and
``("signal", row)`` transitions; rows of the new history are a subset, its current state is each
mint's last reference row, and the signal rows are the same.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush
from math import gcd
from operator import add, itemgetter, sub
from typing import Any

from solflow.domain.bots import BOT_HORIZON_S, MAX_TRADES, is_bot
from solflow.domain.programs import JUPITER_DCA, LAUNCHLAB, MOONSHOT, PUMPSWAP, WSOL_MINT
from solflow.domain.signals import DcaInputs, SignalConfig, evaluate, transitions
from solflow.domain.trade import TradeEvent
from solflow.settings import DEFAULT_WINDOWS

LAMPORTS_PER_SOL = 1_000_000_000
REQUIRED_WINDOWS = (60, 300)  # the signals read the 60 s and 300 s columns

# A trade record: (time, is_buy, sol_lamports or None, slot, tx_index, outer_ix, inner_ix or -1,
# wallet, program, kind). The first three fields are what solflow.bots reads.
R_TIME, R_IS_BUY, R_LAMPORTS, R_SLOT, R_TX, R_OUTER, R_INNER, R_WALLET, R_PROGRAM, R_KIND = range(10)
KIND_OTHER, KIND_SPOT_BUY, KIND_DCA_BUY = 0, 1, 2
TradeRecord = tuple[int, bool, "int | None", int, int, int, int, str, str, int]
_chain_order = itemgetter(R_TIME, R_SLOT, R_TX, R_OUTER, R_INNER)
_spot_of = itemgetter(1)  # of a DCA fill [time, latest spot buy within reach or None]

# Counters of one bucket; each window's running sums use the same layout.
BUYS, SELLS, BUY_LAMPORTS, SELL_LAMPORTS, SOL_TRADES, DCA_BUYS, SPOT_BUYS, LAST_ANY, LAST_BUY, LAST_SELL = range(10)
_COUNTERS = 10
_RECORDS = _COUNTERS  # a bucket's trade records, kept until it leaves the bot horizon

# A wallet's state: [last buy bucket, last sell bucket, records within the bot horizon (or None),
# then per rated window: (records already out of that window, bot trades counted for the wallet)].
_LAST_BUY_AT, _LAST_SELL_AT, _RECENT, _RATED = 0, 1, 2, 3

_METRICS = (
    "net_flow_{}s_sol",
    "buy_count_{}s",
    "sell_count_{}s",
    "buy_volume_{}s_sol",
    "sell_volume_{}s_sol",
    "unique_wallets_{}s",
    "unique_buyers_{}s",
    "unique_sellers_{}s",
    "avg_trade_size_{}s_sol",
    "bot_trades_{}s",
    "bot_wallets_{}s",
    "dca_buys_{}s",
)
_METRIC_TYPES = (float, int, int, float, float, int, int, int, float, int, int, int)
_ROW_KEYS: dict[str, type] = {"mint": str, "ts": int, "last_trade_ts": int, "programs": str, "trades_total": int}


def aggregate_columns(windows: Sequence[int]) -> dict[str, type]:
    """Every key of an aggregate row for these windows, in row order, with its Python type."""
    columns = dict(_ROW_KEYS)
    for window in windows:
        for metric, kind in zip(_METRICS, _METRIC_TYPES):
            columns[metric.format(window)] = kind
    return columns


class WindowLayout:
    """The window lengths and the tick arithmetic shared by every mint of a shard."""

    __slots__ = (
        "windows",
        "cadence_s",
        "dca_match_s",
        "granularity",
        "longest",
        "rated",
        "rated_count",
        "columns",
        "row_template",
        "to_rate",
    )

    def __init__(self, windows: Sequence[int], cadence_s: int, dca_match_s: int):
        windows = tuple(windows)
        if not windows or any(type(w) is not int or w <= 0 for w in windows):
            raise ValueError(f"windows must be positive whole seconds, got {windows}")
        if list(windows) != sorted(set(windows)):
            raise ValueError(f"windows must be strictly increasing, got {windows}")
        missing = [w for w in REQUIRED_WINDOWS if w not in windows]
        if missing:
            raise ValueError(f"windows {windows} lack {missing}: the signals need the 60 s and 300 s windows")
        if type(cadence_s) is not int or cadence_s <= 0:
            raise ValueError(f"cadence must be a positive whole number of seconds, got {cadence_s!r}")
        self.windows = windows
        self.cadence_s = cadence_s
        self.dca_match_s = dca_match_s
        self.granularity = gcd(cadence_s, *windows)
        self.longest = windows[-1]
        # Position among the rated windows (those the bot rules apply to), -1 if not rated.
        rated = [w for w in windows if w <= BOT_HORIZON_S]
        self.rated = tuple(rated.index(w) if w in rated else -1 for w in windows)
        self.rated_count = len(rated)
        self.columns = tuple(aggregate_columns(windows))  # the row's keys, in the order _row fills them
        self.row_template = dict.fromkeys(self.columns)  # filling a copy beats building a dict key by key
        # Scratch space of MintWindows.advance (one shard runs on one thread): per rated window,
        # the wallets whose trades in it changed. Empty between calls.
        self.to_rate: tuple[set[str], ...] = tuple(set() for _ in rated)

    def bucket(self, time: int) -> int:
        """Bucket ``b`` holds times in ``((b - 1) * granularity, b * granularity]``."""
        return -(-time // self.granularity)

    def entry_tick(self, bucket: int) -> int:
        """First tick whose rows include the bucket."""
        return -(-bucket * self.granularity // self.cadence_s) * self.cadence_s


class MintWindows:
    """All window state of one mint; the shard driver owns scheduling and signal bookkeeping."""

    __slots__ = (
        "ids",
        "buckets",
        "positions",
        "sums",
        "pending",
        "wallets",
        "programs",
        "bots",
        "dca_fills",
        "last_spot_time",
        "last_trade_ts",
        "trades_total",
        "due",
        "active_signals",
        "previous_bot_trades",
    )

    def __init__(self, layout: WindowLayout):
        self.ids: list[int] = []  # entered buckets, ascending; the first is in the longest window
        self.buckets: list[list[Any]] = []  # counters (+ records) of each entered bucket
        self.positions = [0] * len(layout.windows)  # per window: index of its oldest bucket
        self.sums = [0] * (_COUNTERS * len(layout.windows))
        self.pending: dict[int, list[Any]] | None = None  # buckets whose tick has not come yet
        self.wallets: dict[str, list[Any]] = {}
        self.programs: dict[str, int] = {}  # program -> latest bucket with its trade
        self.bots = [0] * (2 * layout.rated_count)  # per rated window: bot wallets, bot trades
        self.dca_fills: list[list[Any]] | None = None  # [time, latest spot buy within reach or None]
        self.last_spot_time: int | None = None
        self.last_trade_ts: int | None = None
        self.trades_total = 0
        # Owned by the shard driver, kept here so they are dropped with the mint.
        self.due: int | None = None  # next tick this mint has a row to emit
        self.active_signals = 0
        self.previous_bot_trades: int | None = None

    def add(self, record: TradeRecord, bucket_index: int, layout: WindowLayout) -> int | None:
        """Hold a trade until its bucket's tick; returns that tick if the bucket is new."""
        pending = self.pending
        if pending is None:
            pending = self.pending = {}
        bucket = pending.get(bucket_index)
        created = bucket is None
        if created:
            bucket = pending[bucket_index] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, []]
        lamports = record[R_LAMPORTS]
        if record[R_IS_BUY]:
            bucket[BUYS] += 1
            if lamports is not None:
                bucket[BUY_LAMPORTS] += lamports
                bucket[SOL_TRADES] += 1
        else:
            bucket[SELLS] += 1
            if lamports is not None:
                bucket[SELL_LAMPORTS] += lamports
                bucket[SOL_TRADES] += 1
        kind = record[R_KIND]
        if kind == KIND_SPOT_BUY:
            bucket[SPOT_BUYS] += 1
        elif kind == KIND_DCA_BUY:
            bucket[DCA_BUYS] += 1
        bucket[_RECORDS].append(record)
        return layout.entry_tick(bucket_index) if created else None

    def advance(self, mint: str, tick: int, layout: WindowLayout) -> dict[str, Any]:
        """Bring every window to ``tick`` and return the mint's row there."""
        dirty = layout.to_rate
        pending = self.pending
        if pending:
            last = tick // layout.granularity
            for index in sorted(b for b in pending if b <= last):
                self._enter(index, pending.pop(index), layout, dirty)
            if not pending:
                self.pending = None
        self._evict(tick, layout, dirty)
        for rated, wallets in enumerate(dirty):
            if wallets:
                for wallet in wallets:
                    self._rate(wallet, rated)
                wallets.clear()
        fills = self.dca_fills
        if fills:
            horizon = tick - layout.longest
            expired = 0
            while expired < len(fills) and fills[expired][0] <= horizon:
                expired += 1
            del fills[:expired]
            if not fills:
                self.dca_fills = None
        if len(self.wallets) > 16:
            self._prune_wallets(layout)
        return self._row(mint, tick, layout)

    def next_due(self, layout: WindowLayout) -> int | None:
        """The next tick at which a bucket enters or leaves some window."""
        ids = self.ids
        count = len(ids)
        granularity = layout.granularity
        # Earliest time at which a bucket enters or leaves; rounded up to a tick once at the end.
        earliest = min(self.pending) * granularity if self.pending else None
        for position, window in zip(self.positions, layout.windows):
            if position < count:
                leaves = ids[position] * granularity + window
                if earliest is None or leaves < earliest:
                    earliest = leaves
        if earliest is None:
            return None
        return -(-earliest // layout.cadence_s) * layout.cadence_s

    def latest_pending_time(self) -> int | None:
        """The latest time of a trade held for a tick that has not come yet."""
        pending = self.pending
        if not pending:
            return None
        return max(record[R_TIME] for bucket in pending.values() for record in bucket[_RECORDS])

    def is_empty(self) -> bool:
        """Every window is empty (trades beyond the current tick may still be pending)."""
        return not self.ids

    def restarted(self, layout: WindowLayout) -> MintWindows:
        """A fresh state holding only the pending buckets: what the mint is after idling out."""
        fresh = MintWindows(layout)
        fresh.pending = self.pending
        return fresh

    def dca_inputs(self, tick: int, layout: WindowLayout) -> DcaInputs | None:
        """DCA buys, spot buys and matched DCA buys in the longest window (after ``advance``)."""
        fills = self.dca_fills
        if not fills:
            return None
        horizon = tick - layout.longest
        spots = list(map(_spot_of, fills))
        matched = len(spots) - spots.count(None)
        # A fill's spot buy is at most dca_match_s before it, so only the oldest fills can have
        # a spot buy that already left the longest window.
        limit = horizon + layout.dca_match_s
        for time, spot in fills:
            if time > limit:
                break
            if spot is not None and spot <= horizon:
                matched -= 1
        spot_buys = self.sums[_COUNTERS * (len(layout.windows) - 1) + SPOT_BUYS]
        return DcaInputs(len(fills), spot_buys, matched)

    def _enter(self, index: int, bucket: list[Any], layout: WindowLayout, dirty: tuple[set[str], ...]) -> None:
        self.ids.append(index)
        self.buckets.append(bucket)
        records = bucket[_RECORDS]
        records.sort(key=_chain_order)
        wallets = self.wallets
        programs = self.programs
        rated_slots = [0] * (2 * layout.rated_count)
        for record in records:
            wallet = record[R_WALLET]
            side = 0 if record[R_IS_BUY] else 1  # _LAST_BUY_AT / _LAST_SELL_AT, and LAST_BUY + side
            state = wallets.get(wallet)
            if state is None:
                state = wallets[wallet] = [-1, -1, [record], *rated_slots]
                state[side] = index
                bucket[LAST_BUY + side] += 1
                bucket[LAST_ANY] += 1
            else:
                previous_any = max(state[_LAST_BUY_AT], state[_LAST_SELL_AT])
                previous = state[side]
                if previous != index:
                    if previous >= 0:
                        self._forget_last_seen(previous, LAST_BUY + side)
                    state[side] = index
                    bucket[LAST_BUY + side] += 1
                if previous_any != index:
                    if previous_any >= 0:
                        self._forget_last_seen(previous_any, LAST_ANY)
                    bucket[LAST_ANY] += 1
                if state[_RECENT] is None:
                    state[_RECENT] = [record]
                else:
                    state[_RECENT].append(record)
            for wallets_to_rate in dirty:
                wallets_to_rate.add(wallet)
            programs[record[R_PROGRAM]] = index
            if record[R_KIND] != KIND_OTHER:
                self._match_dca(record[R_TIME], record[R_KIND], layout.dca_match_s)
        self.trades_total += len(records)
        self.last_trade_ts = records[-1][R_TIME]
        sums = self.sums
        sums[:] = map(add, sums, bucket[:_COUNTERS] * (len(sums) // _COUNTERS))  # into every window at once

    def _forget_last_seen(self, index: int, counter: int) -> None:
        """A wallet's latest trade moved on from bucket ``index``: it no longer counts there."""
        ids = self.ids
        if index < ids[0]:
            return  # that bucket already left every window
        position = bisect_left(ids, index)
        self.buckets[position][counter] -= 1
        sums = self.sums
        for window_index, first in enumerate(self.positions):
            if position >= first:
                sums[_COUNTERS * window_index + counter] -= 1

    def _evict(self, tick: int, layout: WindowLayout, dirty: tuple[set[str], ...]) -> None:
        ids, buckets, positions, sums = self.ids, self.buckets, self.positions, self.sums
        count = len(ids)
        granularity = layout.granularity
        for window_index, window in enumerate(layout.windows):
            position = positions[window_index]
            limit = (tick - window) // granularity  # exact; buckets up to here are out of the window
            if position == count or ids[position] > limit:
                continue
            base = _COUNTERS * window_index
            rated = layout.rated[window_index]
            while position < count and ids[position] <= limit:
                bucket = buckets[position]
                sums[base : base + _COUNTERS] = map(sub, sums[base : base + _COUNTERS], bucket)
                if rated >= 0:
                    self._leave_rated(bucket, rated, layout.rated_count, dirty[rated])
                position += 1
            positions[window_index] = position
        gone = positions[-1]  # out of the longest window, hence out of all
        if gone:
            del ids[:gone]
            del buckets[:gone]
            self.positions = [p - gone for p in positions]

    def _leave_rated(self, bucket: list[Any], rated: int, rated_count: int, dirty: set[str]) -> None:
        wallets = self.wallets
        offset = _RATED + 2 * rated
        if rated < rated_count - 1:
            for record in bucket[_RECORDS]:
                wallet = record[R_WALLET]
                wallets[wallet][offset] += 1
                dirty.add(wallet)
            return
        # Leaving the widest rated window: the records are no longer needed anywhere.
        for record in bucket[_RECORDS]:
            wallet = record[R_WALLET]
            state = wallets[wallet]
            recent = state[_RECENT]
            del recent[0]  # chain order: this wallet's oldest record is this one
            if not recent:
                state[_RECENT] = None
            for smaller in range(_RATED, offset, 2):
                state[smaller] -= 1
            dirty.add(wallet)
        bucket[_RECORDS] = None

    def _rate(self, wallet: str, rated: int) -> None:
        state = self.wallets[wallet]
        recent = state[_RECENT]
        offset = _RATED + 2 * rated
        count = len(recent) - state[offset] if recent else 0
        if count > MAX_TRADES:  # rule 1 without copying a long list
            bot_trades = count
        else:
            bot_trades = count if count and is_bot(recent[state[offset] :]) else 0
        before = state[offset + 1]
        if bot_trades != before:
            state[offset + 1] = bot_trades
            self.bots[2 * rated] += (bot_trades > 0) - (before > 0)
            self.bots[2 * rated + 1] += bot_trades - before

    def _match_dca(self, time: int, kind: int, match_s: int) -> None:
        """Records enter in time order, so the latest spot buy is the best match for a DCA buy."""
        fills = self.dca_fills
        if kind == KIND_SPOT_BUY:
            self.last_spot_time = time
            if fills:
                for fill in reversed(fills):
                    if fill[0] < time - match_s:
                        break
                    fill[1] = time
            return
        spot = self.last_spot_time
        matched = spot if spot is not None and spot >= time - match_s else None
        if fills is None:
            self.dca_fills = fills = []
        fills.append([time, matched])

    def _prune_wallets(self, layout: WindowLayout) -> None:
        """Forget wallets whose latest trade left the longest window (amortised O(1))."""
        wallets = self.wallets
        live = self.sums[_COUNTERS * (len(layout.windows) - 1) + LAST_ANY]
        if len(wallets) <= 2 * live + 16:
            return
        if not self.ids:
            self.wallets = {}
            return
        first = self.ids[0]
        self.wallets = {w: s for w, s in wallets.items() if s[_LAST_BUY_AT] >= first or s[_LAST_SELL_AT] >= first}

    def _row(self, mint: str, tick: int, layout: WindowLayout) -> dict[str, Any]:
        first = self.ids[0] if self.ids else None
        programs = sorted(p for p, index in self.programs.items() if first is not None and index >= first)
        values: list[Any] = [mint, tick, self.last_trade_ts, ",".join(programs), self.trades_total]
        sums, bots = self.sums, self.bots
        base = 0
        for rated in layout.rated:
            buys, sells, bought, sold, sol_trades, dca_buys, _, wallets, buyers, sellers = sums[base : base + _COUNTERS]
            base += _COUNTERS
            values += (
                (bought - sold) / LAMPORTS_PER_SOL,
                buys,
                sells,
                bought / LAMPORTS_PER_SOL,
                sold / LAMPORTS_PER_SOL,
                wallets,
                buyers,
                sellers,
                (bought + sold) / (sol_trades * LAMPORTS_PER_SOL) if sol_trades else None,
                bots[2 * rated + 1] if rated >= 0 else None,
                bots[2 * rated] if rated >= 0 else None,
                dca_buys,
            )
        row = layout.row_template.copy()
        row.update(zip(layout.columns, values))
        return row


Row = tuple[str, dict[str, Any]]  # ("aggregate" | "signal", row)

# DCA_CONVICTION's "spot" buys: the AMMs and launchpads a DCA fill can be compared with (the
# original leaves Pump.fun out). A swap executed by a DCA fill itself is not a spot buy.
SPOT_PROGRAMS = frozenset((PUMPSWAP.name, LAUNCHLAB.name, MOONSHOT.name))


@dataclass(frozen=True)
class ReferenceConfig:
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    cadence_s: int = 5
    signals: SignalConfig = field(default_factory=SignalConfig)

    def __post_init__(self) -> None:
        self.layout()  # validates windows and cadence

    def layout(self) -> WindowLayout:
        return WindowLayout(self.windows, self.cadence_s, int(self.signals.dca_conviction_match_window_s))


class ReferenceAggregator:
    """Windows, signals and the event clock of the mints of one shard (see the module docstring)."""

    def __init__(self, config: ReferenceConfig, partitions: Sequence[str]):
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
