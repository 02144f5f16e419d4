"""Rolling windows of a shard's mints on event time, held as columns, and the aggregate rows they give.

Time is chain time (unix seconds), never the local clock. A trade at time ``t`` is in window ``W``
at tick ``T`` iff ``T - W < t <= T``. Ticks are multiples of ``tick_s``; the shard driver
(``solflow.domain.aggregate``) decides which ticks to process.

Aggregate row (the Parquet/SQLite writers and the analysis CLI use these names):

=========================== ======= ===============================================================
key                         type    meaning
=========================== ======= ===============================================================
``mint``                    str     token mint
``ts``                      int     the tick (unix s, a multiple of the tick) the row describes
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

State, per shard and in columns: each mint has a *slot*, a row of the ``sums`` array holding every
window's counters (``_COUNTERS`` per window). Trades land in buckets of ``granularity`` seconds (the
gcd of the tick and the windows, 5 s by default), so bucket boundaries coincide with every window
boundary at every tick. When a bucket's tick comes, the bucket becomes a *group*: the slots of the
mints that traded in it and their counters, as arrays. Entering adds a group's counters to every
window of its mints with one array operation; a group leaving a window subtracts them from that
window with another -- per tick the work is one operation per group and window, whatever the number
of mints, and nothing is recomputed over trades. Distinct wallets are counted per (mint, wallet)
*pair* with the bucket of its latest trade: a group counts the pairs whose latest trade it holds,
and when a pair trades again the older group's count drops by one. Trades within the bot horizon
(300 s) are kept per pair for the bot rules; older groups are counters only. A mint whose windows
are all empty frees its slot (its pairs went with their last groups).

Adding a per-mint column (say the latest price): give the trade record a field (``R_*``), keep the
mint's value in a slot array of ``ShardWindows`` (created in ``_reset``, listed in ``_SLOT_ARRAYS``
so it grows, snapshots and restores with the others, set in ``_enter`` from the bucket's latest
trade as ``last_trade`` is), give ``RowBlock`` a field filled in ``rows`` (``concat`` and ``take``
follow its fields), and name it in ``_ROW_KEYS`` and ``RowBlock.columns``; then give it a type in
``AGGREGATE_KEY_COLUMNS`` and a meaning in ``MEANINGS`` (``sinks/schema.py``), which the Parquet and
SQLite schemas follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from math import gcd
from operator import itemgetter
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from solflow.domain.bots import BOT_HORIZON_S, MAX_TRADES, MIN_TRADES_IDENTICAL, is_bot
from solflow.domain.signals import DcaInputs
from solflow.domain.tokens import ENRICHMENT_COLUMNS, NO_ENRICHMENT, Enrichment

DEFAULT_WINDOWS = (60, 300, 900, 3600, 7200, 14400)  # the original system's windows, seconds
DEFAULT_TICK_S = 5  # the aggregation tick, seconds
LAMPORTS_PER_SOL = 1_000_000_000
REQUIRED_WINDOWS = (60, 300)  # the signals read the 60 s and 300 s columns

Ints = npt.NDArray[np.int64]

# A trade as the windows see it: (time, is_buy, SOL lamports or None, slot, tx_index, outer_ix,
# inner_ix or -1, wallet, program, kind, mint). The first three fields are what solflow.domain.bots
# reads; the next four are the chain order. Before the shard times it, the time may be None.
R_TIME: Final = 0
R_IS_BUY: Final = 1
R_LAMPORTS: Final = 2
R_SLOT: Final = 3
R_TX: Final = 4
R_OUTER: Final = 5
R_INNER: Final = 6
R_WALLET: Final = 7
R_PROGRAM: Final = 8
R_KIND: Final = 9
R_MINT: Final = 10
KIND_OTHER, KIND_SPOT_BUY, KIND_DCA_BUY = 0, 1, 2
TradeRecord = tuple[int, bool, int | None, int, int, int, int, str, str, int, str]
IncomingRecord = tuple[int | None, bool, int | None, int, int, int, int, str, str, int, str]
chain_order = itemgetter(R_TIME, R_SLOT, R_TX, R_OUTER, R_INNER)
_spot_of = itemgetter(1)  # of a DCA fill [time, latest spot buy within reach or None]

# Counters of one group row; each window's sums use the same layout.
BUYS, SELLS, BUY_LAMPORTS, SELL_LAMPORTS, SOL_TRADES, DCA_BUYS, SPOT_BUYS, U_ANY, U_BUY, U_SELL = range(10)
_COUNTERS = 10
MIN_RATED = MIN_TRADES_IDENTICAL  # every bot rule but the first needs at least this many trades

# A pair's state (a list): its slot, the buckets of its latest trade / buy / sell and its row in
# those groups, its trades within the bot horizon (chain order), its key in the pair table, then per
# rated window: (trades already out of that window, bot trades counted for the pair).
P_SLOT, P_LAST_ANY, P_LAST_BUY, P_LAST_SELL, P_ROW_ANY, P_ROW_BUY, P_ROW_SELL, P_RECENT, P_KEY = range(9)
_P_RATED = 9

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
_METRIC_TYPES: tuple[type, ...] = (float, int, int, float, float, int, int, int, float, int, int, int)
_ROW_KEYS: dict[str, type] = {"mint": str, "ts": int, "last_trade_ts": int, "programs": str, "trades_total": int}
# The mint's price columns (``solflow.domain.tokens.Enrichment``), after the window metrics.
PRICE_COLUMN_TYPES: dict[str, type] = {name: str if name == "quote_mint" else float for name in ENRICHMENT_COLUMNS}


def aggregate_columns(windows: Sequence[int]) -> dict[str, type]:
    """Every key of an aggregate row for these windows, in row order, with its Python type."""
    columns = dict(_ROW_KEYS)
    for window in windows:
        for metric, kind in zip(_METRICS, _METRIC_TYPES):
            columns[metric.format(window)] = kind
    columns.update(PRICE_COLUMN_TYPES)
    return columns


def rated_positions(windows: Sequence[int]) -> tuple[int, ...]:
    """Per window, its position among the rated windows (those the bot rules apply to), -1 if not rated."""
    rated = [w for w in windows if w <= BOT_HORIZON_S]
    return tuple(rated.index(w) if w in rated else -1 for w in windows)


class WindowLayout:
    """The window lengths and the tick arithmetic shared by every mint of a shard."""

    __slots__ = ("columns", "dca_match_s", "granularity", "longest", "rated", "rated_count", "tick_s", "windows")

    def __init__(self, windows: Sequence[int], tick_s: int, dca_match_s: int):
        windows = tuple(windows)
        if not windows or any(type(w) is not int or w <= 0 for w in windows):
            raise ValueError(f"windows must be positive whole seconds, got {windows}")
        if list(windows) != sorted(set(windows)):
            raise ValueError(f"windows must be strictly increasing, got {windows}")
        missing = [w for w in REQUIRED_WINDOWS if w not in windows]
        if missing:
            raise ValueError(f"windows {windows} lack {missing}: the signals need the 60 s and 300 s windows")
        if type(tick_s) is not int or tick_s <= 0:
            raise ValueError(f"the tick must be a positive whole number of seconds, got {tick_s!r}")
        self.windows: tuple[int, ...] = windows
        self.tick_s = tick_s
        self.dca_match_s = dca_match_s
        self.granularity = gcd(tick_s, *windows)
        self.longest = windows[-1]
        self.rated = rated_positions(windows)
        self.rated_count = sum(1 for r in self.rated if r >= 0)
        self.columns = tuple(aggregate_columns(windows))

    def __reduce__(self) -> tuple[type[WindowLayout], tuple[tuple[int, ...], int, int]]:
        return WindowLayout, (self.windows, self.tick_s, self.dca_match_s)  # the rest follows from them

    def bucket(self, time: int) -> int:
        """Bucket ``b`` holds times in ``((b - 1) * granularity, b * granularity]``."""
        return -(-time // self.granularity)

    def tick_of(self, time: int) -> int:
        """The tick whose interval ``(T - tick, T]`` holds ``time``."""
        return -(-time // self.tick_s) * self.tick_s

    def column(self, window: int, counter: int) -> int:
        """Column of ``counter`` for ``window`` in a sums row."""
        return self.windows.index(window) * _COUNTERS + counter


@dataclass(frozen=True, slots=True)
class RowBlock:
    """Aggregate rows as columns: what the shard's state holds, converted into row values only when
    written (``columns``), so a block is cheap to build, to concatenate and to send to a sink."""

    mints: list[str]
    ts: Ints
    last_trade_ts: Ints
    trades_total: Ints
    programs: list[str]
    first_ts: Ints  # tick at which the mint's current run of non-empty windows began
    sums: Ints  # (rows, windows * _COUNTERS)
    bots: Ints  # (rows, 2 * rated windows): bot wallets, bot trades
    # per row, its mint's price columns (solflow.domain.tokens); empty: every price column null
    prices: list[Enrichment] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.mints)

    def with_prices(self, prices: list[Enrichment]) -> RowBlock:
        return replace(self, prices=prices)

    @staticmethod
    def concat(blocks: Sequence[RowBlock]) -> RowBlock:
        if len(blocks) == 1:
            return blocks[0]
        values: list[Any] = []
        for name in _BLOCK_FIELDS:
            parts = [getattr(block, name) for block in blocks]
            if name == "prices" and any(parts) and not all(parts):  # some blocks without: null prices
                parts = [part or [NO_ENRICHMENT] * len(block) for part, block in zip(parts, blocks)]
            values.append([v for part in parts for v in part] if type(parts[0]) is list else np.concatenate(parts))
        return RowBlock(*values)

    def take(self, rows: Sequence[int] | Ints) -> RowBlock:
        """The rows at these positions."""
        index = np.asarray(rows, dtype=np.int64)
        positions = index.tolist()
        values: list[Any] = []
        for name in _BLOCK_FIELDS:
            column = getattr(self, name)
            if type(column) is list:
                values.append([column[i] for i in positions] if column else column)  # empty prices stay empty
            else:
                values.append(column[index])
        return RowBlock(*values)

    def fits(self, windows: Sequence[int]) -> bool:
        """Whether the rows hold the counters of as many windows (and rated windows) as ``windows``."""
        rated = sum(1 for r in rated_positions(windows) if r >= 0)
        return bool(self.sums.shape[1] == len(windows) * _COUNTERS and self.bots.shape[1] == 2 * rated)

    def columns(self, windows: Sequence[int]) -> dict[str, tuple[Any, npt.NDArray[np.bool_] | None]]:
        """Every aggregate column in row order: (values, null mask or None). Values are numpy arrays
        (int64 or float64) or, for ``mint`` and ``programs``, lists of str."""
        out: dict[str, tuple[Any, npt.NDArray[np.bool_] | None]] = {
            "mint": (self.mints, None),
            "ts": (self.ts, None),
            "last_trade_ts": (self.last_trade_ts, None),
            "programs": (self.programs, None),
            "trades_total": (self.trades_total, None),
        }
        sums, bots = self.sums, self.bots
        for index, (window, rated) in enumerate(zip(windows, rated_positions(windows))):
            base = index * _COUNTERS
            bought, sold = sums[:, base + BUY_LAMPORTS], sums[:, base + SELL_LAMPORTS]
            sol_trades = sums[:, base + SOL_TRADES]
            no_sol = sol_trades == 0
            # int64 -> float64 is exact below 2**53 lamports, so each quotient is rounded once, as
            # Python's int / int would round it.
            average = (bought + sold).astype(np.float64) / np.where(no_sol, 1, sol_trades * LAMPORTS_PER_SOL)
            unrated = np.ones(len(self), dtype=np.bool_) if rated < 0 else None
            values: tuple[tuple[Any, npt.NDArray[np.bool_] | None], ...] = (
                ((bought - sold) / LAMPORTS_PER_SOL, None),
                (sums[:, base + BUYS], None),
                (sums[:, base + SELLS], None),
                (bought / LAMPORTS_PER_SOL, None),
                (sold / LAMPORTS_PER_SOL, None),
                (sums[:, base + U_ANY], None),
                (sums[:, base + U_BUY], None),
                (sums[:, base + U_SELL], None),
                (average, no_sol if no_sol.any() else None),
                (bots[:, 2 * rated + 1] if rated >= 0 else np.zeros(len(self), dtype=np.int64), unrated),
                (bots[:, 2 * rated] if rated >= 0 else np.zeros(len(self), dtype=np.int64), unrated),
                (sums[:, base + DCA_BUYS], None),
            )
            for metric, value in zip(_METRICS, values):
                out[metric.format(window)] = value
        if self.prices and len(self.prices) != len(self):
            raise ValueError(f"{len(self)} rows with {len(self.prices)} price rows")
        prices = self.prices or [NO_ENRICHMENT] * len(self)
        for name, column in zip(ENRICHMENT_COLUMNS, zip(*prices) if prices else [()] * len(ENRICHMENT_COLUMNS)):
            out[name] = (list(column), None)
        return out

    def dicts(self, windows: Sequence[int]) -> list[dict[str, Any]]:
        """The rows as dicts of Python values (None for nulls), in ``aggregate_columns`` order."""
        lists = []
        columns = self.columns(windows)
        for values, nulls in columns.values():
            as_list = values if isinstance(values, list) else values.tolist()
            if nulls is not None:
                as_list = [None if null else value for value, null in zip(as_list, nulls.tolist())]
            lists.append(as_list)
        return [dict(zip(columns, row)) for row in zip(*lists)]


_BLOCK_FIELDS = tuple(f.name for f in fields(RowBlock))  # every field: a list (str) or an array by row


class _Group:
    """One entered bucket: its mints' slots and counters, its trades until they leave the widest
    rated window, and its pairs until it leaves the longest window."""

    __slots__ = ("bucket", "counters", "pairs", "records", "slots")

    def __init__(
        self, bucket: int, slots: Ints, counters: Ints, records: list[tuple[list[Any], TradeRecord]], pairs: list[Any]
    ):
        self.bucket = bucket
        self.slots = slots
        self.counters = counters  # (len(slots), _COUNTERS); the U_* columns drop as pairs trade again
        self.records: list[tuple[list[Any], TradeRecord]] | None = records  # (pair state, trade), chain order
        self.pairs: list[list[Any]] | None = pairs  # pair states whose latest trade this group held on entry


class TickChanges(NamedTuple):
    """What one processed tick did: the slots of the mints that changed, of those with a trade
    entering and of those whose windows emptied (ascending)."""

    changed: Ints
    entered: Ints
    emptied: Ints


_NO_SLOTS: Ints = np.zeros(0, dtype=np.int64)
# ShardWindows' arrays indexed by mint slot (grown together).
_SLOT_ARRAYS = (
    "sums",
    "bots",
    "last_trade",
    "trades_total",
    "first_tick",
    "last_bucket",
    "last_change",
    "active",
    "previous_bot_trades",
    "dirty",
    "has_fills",
    "dca_changed",
)


class ShardWindows:
    """Window state of every mint of one shard, in columns (see the module docstring)."""

    def __init__(self, layout: WindowLayout):
        self.layout = layout
        self.new_runs = 0  # mints that started a run of non-empty windows (the run summary's count)
        self._reset()

    def _reset(self, capacity: int = 64) -> None:
        """Empty, with room for ``capacity`` mints."""
        layout = self.layout
        width = len(layout.windows) * _COUNTERS
        self.slot_of: dict[str, int] = {}
        self.mints: list[str] = []  # by slot ("" for a free slot)
        self.free: list[int] = []
        self.sums: Ints = np.zeros((capacity, width), dtype=np.int64)
        self.bots: Ints = np.zeros((capacity, 2 * layout.rated_count), dtype=np.int64)
        self.last_trade: Ints = np.zeros(capacity, dtype=np.int64)
        self.trades_total: Ints = np.zeros(capacity, dtype=np.int64)
        self.first_tick: Ints = np.zeros(capacity, dtype=np.int64)
        self.last_bucket: Ints = np.zeros(capacity, dtype=np.int64)  # the mint's newest entered bucket
        self.last_change: Ints = np.zeros(capacity, dtype=np.int64)  # tick of its latest change
        # Kept here for the shard driver, so they follow the slots: firing signals (bit set), the
        # previous change's bot_trades_300s (-1: none yet), a change not yet sent as current state.
        self.active: Ints = np.zeros(capacity, dtype=np.int64)
        self.previous_bot_trades: Ints = np.zeros(capacity, dtype=np.int64)
        self.dirty: npt.NDArray[np.bool_] = np.zeros(capacity, dtype=np.bool_)
        self.has_fills: npt.NDArray[np.bool_] = np.zeros(capacity, dtype=np.bool_)  # DCA fills held
        # DCA_CONVICTION's inputs (fills, their matches, spot buys in the longest window) may have
        # changed since the shard driver last read them: a spot or DCA buy entered, or a group left
        # the longest window.
        self.dca_changed: npt.NDArray[np.bool_] = np.zeros(capacity, dtype=np.bool_)
        self.programs: list[dict[str, int]] = []  # by slot: program -> bucket of its latest trade
        # DCA_CONVICTION's inputs by slot: its DCA fills in the longest window in time order, each
        # [time, latest spot buy within the match window or None], and its latest spot buy.
        self.dca_fills: dict[int, list[list[Any]]] = {}
        self.last_spot: dict[int, int] = {}
        self.pairs: dict[tuple[str, str], list[Any]] = {}
        self.groups: list[_Group] = []  # entered groups still in the longest window, oldest first
        self._by_bucket: dict[int, _Group] = {}  # the same groups by bucket
        self.positions = [0] * len(layout.windows)  # per window: index of its oldest group in `groups`
        # Scratch of one tick (a shard runs on one thread): per rated window, the pairs to rate again.
        self._to_rate: tuple[dict[int, list[Any]], ...] = tuple({} for _ in range(layout.rated_count))
        self._window_offsets: Ints = np.arange(len(layout.windows), dtype=np.int64) * _COUNTERS

    def __len__(self) -> int:
        return len(self.slot_of)

    def __getstate__(self) -> dict[str, Any]:
        # Slot arrays only as far as slots were ever used (capacity doubles ahead of need).
        used = len(self.mints)
        state = {name: value for name, value in self.__dict__.items() if name not in ("_to_rate", "_window_offsets")}
        for name in _SLOT_ARRAYS:
            state[name] = state[name][:used]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        capacity = max(64, len(state["mints"]))
        for name in _SLOT_ARRAYS:
            state[name] = _grown(state[name], capacity)
        self.__dict__.update(state)
        self._to_rate = tuple({} for _ in range(self.layout.rated_count))
        self._window_offsets = np.arange(len(self.layout.windows), dtype=np.int64) * _COUNTERS

    # ------------------------------------------------------------------ ticks

    def next_tick(self, pending_tick: int | None) -> int | None:
        """The next tick at which a group enters (``pending_tick``) or leaves some window."""
        layout, groups = self.layout, self.groups
        earliest = pending_tick
        tick_s, granularity = layout.tick_s, layout.granularity
        count = len(groups)
        for position, window in zip(self.positions, layout.windows):
            if position < count:
                leaves = -(-(groups[position].bucket * granularity + window) // tick_s) * tick_s
                if earliest is None or leaves < earliest:
                    earliest = leaves
        return earliest

    def process(self, tick: int, buckets: Sequence[tuple[int, list[TradeRecord]]]) -> TickChanges:
        """Bring every window to ``tick``: enter ``buckets`` (index, trades; ascending), then
        evict what left each window. The caller frees emptied mints with ``release`` once it has
        read their last row."""
        changed: list[Ints] = []
        entered: list[Ints] = []
        for bucket, records in buckets:
            slots = self._enter(bucket, records, tick)
            entered.append(slots)
        left_longest = self._evict(tick, changed)
        self._rate_pairs()
        changed += entered
        emptied = _NO_SLOTS
        if left_longest:
            candidates = _union(left_longest)
            limit = (tick - self.layout.longest) // self.layout.granularity
            emptied = candidates[self.last_bucket[candidates] <= limit]
        if not changed:
            return TickChanges(_NO_SLOTS, _NO_SLOTS, emptied)
        changed_slots = _union(changed)
        self.last_change[changed_slots] = tick
        return TickChanges(changed_slots, _union(entered) if entered else _NO_SLOTS, emptied)

    def rows(self, slots: Ints, ts: Ints) -> RowBlock:
        """The rows of these mints as their state is now, stamped ``ts`` (per row): the tick of the
        row's latest change, so its programs are those with a trade in the longest window then."""
        mints, programs = self.mints, self.programs
        layout = self.layout
        names, joined = [], []
        for slot, stamp in zip(slots.tolist(), ts.tolist()):
            names.append(mints[slot])
            limit = (stamp - layout.longest) // layout.granularity  # newest bucket out of the window
            joined.append(",".join(sorted(p for p, bucket in programs[slot].items() if bucket > limit)))
        return RowBlock(
            names,
            ts,
            self.last_trade[slots],
            self.trades_total[slots],
            joined,
            self.first_tick[slots],
            self.sums[slots],
            self.bots[slots],
        )

    def release(self, slots: Ints) -> None:
        """Free the slots of mints whose windows are all empty."""
        for slot in slots.tolist():
            del self.slot_of[self.mints[slot]]
            self.mints[slot] = ""
            self.programs[slot] = {}
            self.dca_fills.pop(slot, None)
            self.last_spot.pop(slot, None)
            self.dirty[slot] = False
            self.has_fills[slot] = False
            self.dca_changed[slot] = False
            self.free.append(slot)
        if not self.slot_of and not self.groups:  # every mint idled out: give the memory back
            self._reset()

    # ------------------------------------------------------------------ signal inputs

    def dca_inputs(self, slot: int, tick: int) -> DcaInputs | None:
        """DCA buys, spot buys and matched DCA buys in the longest window at ``tick``."""
        fills = self.dca_fills.get(slot)
        if not fills:
            return None
        layout = self.layout
        horizon = tick - layout.longest
        expired = 0
        while expired < len(fills) and fills[expired][0] <= horizon:
            expired += 1
        if expired:
            del fills[:expired]
        if not fills:
            self.has_fills[slot] = False
            return None
        spots = list(map(_spot_of, fills))
        matched = len(spots) - spots.count(None)
        # A fill's spot buy is at most dca_match_s before it, so only the oldest fills can have a
        # spot buy that already left the longest window.
        limit = horizon + layout.dca_match_s
        for time, spot in fills:
            if time > limit:
                break
            if spot is not None and spot <= horizon:
                matched -= 1
        spot_buys = int(self.sums[slot, (len(layout.windows) - 1) * _COUNTERS + SPOT_BUYS])
        return DcaInputs(len(fills), spot_buys, matched)

    # ------------------------------------------------------------------ entering

    def _slot(self, mint: str, tick: int) -> int:
        """The mint's slot, a fresh one (zeroed counters) if its windows were empty."""
        if self.free:
            slot = self.free.pop()
            self.mints[slot] = mint
        else:
            slot = len(self.mints)
            if slot == len(self.last_trade):
                self._grow()
            self.mints.append(mint)
            self.programs.append({})
        self.slot_of[mint] = slot
        self.trades_total[slot] = 0
        self.first_tick[slot] = tick
        self.active[slot] = 0
        self.previous_bot_trades[slot] = -1
        self.new_runs += 1
        return slot

    def _grow(self) -> None:
        capacity = 2 * len(self.last_trade)
        for name in _SLOT_ARRAYS:
            setattr(self, name, _grown(getattr(self, name), capacity))

    def _enter(self, bucket: int, records: list[TradeRecord], tick: int) -> Ints:
        layout = self.layout
        records.sort(key=chain_order)
        groups = self.groups
        count = len(groups)
        # The oldest bucket still in each window: an older pair bucket is out of it already.
        first_in = [groups[p].bucket if p < count else bucket for p in self.positions]
        by_bucket = self._by_bucket
        windows_count = len(layout.windows)
        width = windows_count * _COUNTERS
        slot_of, pairs, programs = self.slot_of, self.pairs, self.programs
        rated_dicts = self._to_rate
        rows: dict[int, int] = {}
        slots: list[int] = []
        counters: list[list[int]] = []
        last_times: list[int] = []
        entered_records: list[tuple[list[Any], TradeRecord]] = []
        entered_pairs: list[list[Any]] = []
        # A pair whose latest trade moves here from an older group no longer counts there: per move,
        # the flat sums index of its counter (first window) and the bucket it moved from.
        moved_at: list[int] = []
        moved_from: list[int] = []
        rated_slots = [0] * (2 * layout.rated_count)
        for record in records:
            mint = record[R_MINT]
            slot = slot_of.get(mint)
            if slot is None:
                slot = self._slot(mint, tick)
            row = rows.get(slot)
            if row is None:
                row = rows[slot] = len(slots)
                slots.append(slot)
                counters.append([0] * _COUNTERS)
                last_times.append(0)
            counter = counters[row]
            lamports = record[R_LAMPORTS]
            is_buy = record[R_IS_BUY]
            side = 0 if is_buy else 1
            counter[BUYS + side] += 1
            if lamports is not None:
                counter[BUY_LAMPORTS + side] += lamports
                counter[SOL_TRADES] += 1
            kind = record[R_KIND]
            if kind == KIND_SPOT_BUY:
                counter[SPOT_BUYS] += 1
            elif kind == KIND_DCA_BUY:
                counter[DCA_BUYS] += 1
            last_times[row] = record[R_TIME]  # chain order: the latest time comes last
            wallet = record[R_WALLET]
            pair = pairs.get((mint, wallet))
            if pair is None:
                pair = pairs[(mint, wallet)] = [slot, -1, -1, -1, 0, 0, 0, [record], (mint, wallet), *rated_slots]
            else:
                recent = pair[P_RECENT]
                if recent is None:
                    pair[P_RECENT] = [record]
                else:
                    recent.append(record)
            previous = pair[P_LAST_ANY]
            if previous != bucket:
                if previous >= 0:
                    older = by_bucket.get(previous)
                    if older is not None:  # still in the longest window: it counts the pair no more
                        older.counters[pair[P_ROW_ANY], U_ANY] -= 1
                        moved_at.append(slot * width + U_ANY)
                        moved_from.append(previous)
                pair[P_LAST_ANY] = bucket
                pair[P_ROW_ANY] = row
                counter[U_ANY] += 1
                entered_pairs.append(pair)
            previous = pair[P_LAST_BUY + side]
            if previous != bucket:
                if previous >= 0:
                    older = by_bucket.get(previous)
                    if older is not None:
                        older.counters[pair[P_ROW_BUY + side], U_BUY + side] -= 1
                        moved_at.append(slot * width + U_BUY + side)
                        moved_from.append(previous)
                pair[P_LAST_BUY + side] = bucket
                pair[P_ROW_BUY + side] = row
                counter[U_BUY + side] += 1
            entered_records.append((pair, record))
            for to_rate in rated_dicts:
                to_rate[id(pair)] = pair
            programs[slot][record[R_PROGRAM]] = bucket
            if kind != KIND_OTHER:
                self._match_dca(slot, record[R_TIME], kind)
        slot_array = np.array(slots, dtype=np.int64)
        counter_array = np.array(counters, dtype=np.int64)
        sums = self.sums  # after the loop: a new mint may have grown the arrays
        # Into every window at once: the rows seen as (windows, counters), the counters broadcast.
        sums.reshape(len(sums), windows_count, _COUNTERS)[slot_array] += counter_array[:, None, :]
        if moved_at:
            # Windows still holding the older group count the pair there and here: once too often.
            held = np.array(moved_from)[:, None] >= np.array(first_in)[None, :]
            offsets = np.array(moved_at)[:, None] + self._window_offsets[None, :]
            np.subtract.at(sums.reshape(-1), offsets[held], 1)
        self.trades_total[slot_array] += counter_array[:, BUYS] + counter_array[:, SELLS]
        self.last_trade[slot_array] = last_times
        self.last_bucket[slot_array] = bucket
        group = _Group(bucket, slot_array, counter_array, entered_records, entered_pairs)
        groups.append(group)
        by_bucket[bucket] = group
        return slot_array

    def _match_dca(self, slot: int, time: int, kind: int) -> None:
        """Trades enter in chain order, so the latest spot buy is the best match for a DCA buy."""
        match_s = self.layout.dca_match_s
        fills = self.dca_fills.get(slot)
        if kind == KIND_SPOT_BUY:
            self.last_spot[slot] = time
            if fills:  # without fills a spot buy changes nothing DCA_CONVICTION reads
                self.dca_changed[slot] = True
                for fill in reversed(fills):
                    if fill[0] < time - match_s:
                        break
                    fill[1] = time
            return
        spot = self.last_spot.get(slot)
        if fills is None:
            fills = self.dca_fills[slot] = []
        fills.append([time, spot if spot is not None and spot >= time - match_s else None])
        self.has_fills[slot] = True
        self.dca_changed[slot] = True

    # ------------------------------------------------------------------ leaving

    def _evict(self, tick: int, changed: list[Ints]) -> list[Ints]:
        """Subtract every group that left a window; returns the slots of groups that left the
        longest window (hence every window)."""
        layout = self.layout
        groups, positions, sums = self.groups, self.positions, self.sums
        count = len(groups)
        granularity = layout.granularity
        left_longest: list[Ints] = []
        last = len(layout.windows) - 1
        for index, window in enumerate(layout.windows):
            position = positions[index]
            limit = (tick - window) // granularity  # exact; buckets up to here are out of the window
            if position == count or groups[position].bucket > limit:
                continue
            base = index * _COUNTERS
            rated = layout.rated[index]
            while position < count and groups[position].bucket <= limit:
                group = groups[position]
                sums[group.slots, base : base + _COUNTERS] -= group.counters
                changed.append(group.slots)
                if rated >= 0:
                    self._leave_rated(group, rated)
                if index == last:
                    left_longest.append(group.slots)
                    self.dca_changed[group.slots] = True
                    self._forget_pairs(group)
                position += 1
            positions[index] = position
        gone = positions[-1]
        if gone:
            for group in groups[:gone]:
                del self._by_bucket[group.bucket]
            del groups[:gone]
            self.positions = [p - gone for p in positions]
        return left_longest

    def _leave_rated(self, group: _Group, rated: int) -> None:
        records = group.records
        if records is None:
            return
        to_rate = self._to_rate[rated]
        offset = _P_RATED + 2 * rated
        if rated < self.layout.rated_count - 1:
            for pair, _ in records:
                pair[offset] += 1
                to_rate[id(pair)] = pair
            return
        # Leaving the widest rated window: the trades are no longer needed anywhere.
        for pair, _ in records:
            recent = pair[P_RECENT]
            del recent[0]  # chain order: the pair's oldest trade is this one
            if not recent:
                pair[P_RECENT] = None
            for smaller in range(_P_RATED, offset, 2):
                pair[smaller] -= 1
            to_rate[id(pair)] = pair
        group.records = None

    def _forget_pairs(self, group: _Group) -> None:
        """Pairs whose latest trade was in this group have no trade in any window any more."""
        bucket, pairs = group.bucket, self.pairs
        for pair in group.pairs or ():
            if pair[P_LAST_ANY] == bucket:
                del pairs[pair[P_KEY]]
        group.pairs = None

    def _rate_pairs(self) -> None:
        bots = self.bots
        for rated, to_rate in enumerate(self._to_rate):
            if not to_rate:
                continue
            offset = _P_RATED + 2 * rated
            for pair in to_rate.values():
                recent = pair[P_RECENT]
                out = pair[offset]
                count = len(recent) - out if recent else 0
                if count > MAX_TRADES:  # rule 1 without copying a long list
                    bot_trades = count
                else:  # no rule fires on fewer trades than MIN_RATED
                    bot_trades = count if count >= MIN_RATED and is_bot(recent[out:]) else 0
                before = pair[offset + 1]
                if bot_trades != before:
                    pair[offset + 1] = bot_trades
                    slot = pair[P_SLOT]
                    bots[slot, 2 * rated] += (bot_trades > 0) - (before > 0)
                    bots[slot, 2 * rated + 1] += bot_trades - before
            to_rate.clear()


def _union(parts: list[Ints]) -> Ints:
    """The slots of several groups, each listed once (a group's own slots are distinct)."""
    return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))


def _grown(array: npt.NDArray[Any], capacity: int) -> npt.NDArray[Any]:
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown
