"""Per-mint rolling windows on event time, and the aggregate row they produce.

Time is chain time (unix seconds from ``TradeEvent.block_time``), never the local clock. A trade at
time ``t`` is in window ``W`` at tick ``T`` iff ``T - W < t <= T``. Rows are produced only at ticks
(multiples of the cadence) by ``solflow.aggregate.ShardAggregator``.

Aggregate row schema (a plain dict; the Parquet/SQLite writers and the analysis CLI use these names):

=========================== ======= ===============================================================
key                         type    meaning
=========================== ======= ===============================================================
``mint``                    str     token mint
``ts``                      int     the tick (unix s, a multiple of the cadence) the row describes
``last_trade_ts``           int     time of the latest trade counted so far
``programs``                str     sorted program names with a trade in the longest window, comma-
                                    joined ("" once the windows are empty)
``trades_total``            int     trades counted since the mint's windows were last all empty
=========================== ======= ===============================================================

and for every window ``W`` (seconds; default 60, 300, 900, 3600, 7200, 14400):

=========================== ======= ===============================================================
``net_flow_{W}s_sol``       float   SOL bought minus SOL sold (quote amounts, fees as paid/received)
``buy_count_{W}s``          int     buys, any quote
``sell_count_{W}s``         int     sells, any quote
``buy_volume_{W}s_sol``     float   gross SOL paid by buyers
``sell_volume_{W}s_sol``    float   gross SOL received by sellers
``unique_wallets_{W}s``     int     distinct traders
``unique_buyers_{W}s``      int     distinct traders with a buy
``unique_sellers_{W}s``     int     distinct traders with a sell
``avg_trade_size_{W}s_sol`` float   (buy + sell volume) / SOL-quoted trades; None without any
``bot_trades_{W}s``         int     trades of bot wallets (``solflow.domain.bots``), rated over W itself;
                                    None for W > 300 s (``bots.BOT_HORIZON_S``)
``bot_wallets_{W}s``        int     wallets rated bots; None for W > 300 s
``dca_buys_{W}s``           int     buys with ``is_dca`` (Jupiter DCA fills)
=========================== ======= ===============================================================

Trades quoted in something other than SOL (USDC, xStocks ...) count in trade counts, wallets, bot
ratings and ``dca_buys`` but not in any SOL amount, and not in ``avg_trade_size`` (neither numerator
nor denominator). SOL amounts are summed as integer lamports and converted only in the row.

State: trades land in buckets of ``granularity`` seconds (the gcd of cadence and windows, 5 s by
default), so bucket boundaries coincide with every window boundary at every tick. Each window keeps
running sums over its buckets and a position: a bucket entering adds its counters to every window,
a bucket leaving subtracts them -- O(windows) per bucket, nothing recomputed over trades. Distinct
wallets are counted with per-wallet last-seen buckets (a bucket counts the wallets whose latest
trade it holds). Only trades within the bot horizon (300 s) are kept individually, for the bot rules;
older buckets are just counters, and a mint whose windows are all empty is dropped by the caller.
"""

from __future__ import annotations

import pickle
from bisect import bisect_left
from collections.abc import Sequence
from math import gcd
from operator import add, itemgetter, sub
from typing import Any

from solflow.domain.bots import BOT_HORIZON_S, MAX_TRADES, is_bot
from solflow.domain.signals import DcaInputs

DEFAULT_WINDOWS = (60, 300, 900, 3600, 7200, 14400)  # the original system's windows, seconds
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
        "frozen",
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
        # Owned by the shard driver, kept here so they are dropped and snapshotted with the mint.
        self.due: int | None = None  # next tick this mint has a row to emit
        self.active_signals = 0
        self.previous_bot_trades: int | None = None
        self.frozen: bytes | None = None  # this state pickled, until the next change

    def freeze(self) -> bytes:
        """This state as bytes, pickled again only if it changed since the last call."""
        if self.frozen is None:
            self.frozen = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        return self.frozen

    @staticmethod
    def thaw(frozen: bytes) -> MintWindows:
        windows = pickle.loads(frozen)
        windows.frozen = frozen
        return windows

    def __getstate__(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__[:-1])

    def __setstate__(self, state: tuple) -> None:
        for name, value in zip(self.__slots__, state):
            setattr(self, name, value)
        self.frozen = None

    def add(self, record: TradeRecord, bucket_index: int, layout: WindowLayout) -> int | None:
        """Hold a trade until its bucket's tick; returns that tick if the bucket is new."""
        self.frozen = None
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
        self.frozen = None  # the shard driver's fields change only along with add() or advance()
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
