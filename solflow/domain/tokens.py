"""What an aggregation shard knows about its tokens besides their windows: metadata, price, market cap,
bonding progress, DCA minutes and signal appearances -- all applied in event-time order at the
shard's ticks, so every output is a function of the chain data.

Facts come in three kinds:

* ``TokenTrade`` -- what a trade says about its token (price after it, curve reserves, decimals,
  venue, a DCA buy), made by ``token_trade`` on the reading worker;
* lifecycle records (``solflow.domain.lifecycle``): ``TokenCreated``, ``CurveCompleted``,
  ``Migrated`` and ``PoolCreated`` (for its base mint);
* ``SolUsdPoint`` -- what one whole unit of an asset that can be a quote is worth in SOL, as a trade of
  the stream shows it (``pricing.sol_rate_of``: SOL/stablecoin trades, DCA fills against SOL), sent
  to every shard.

A fact belongs to the tick that holds its time (tick ``T`` covers ``(T - tick_s, T]``) and is applied
when the shard processes that tick (``advance``), facts of a tick in chain order (time, slot,
transaction, instruction). A fact for a tick already processed (late, or without a time) is
applied at the next tick. ``enrichment`` then gives a mint's price columns as of that tick and
``take_metadata_rows`` the ``token_metadata`` rows of every mint whose metadata changed at each
tick -- both depend only on the facts and their times, never on batching, worker count or restarts.

Metadata, by source (a later source only fills what is still unknown):

1. the creation (``TokenCreated``): name, symbol, uri, creator, decimals, supply, launch program,
   curve, quote mint, created slot and time; ``Migrated``: graduated, migration slot, time and pool;
   ``PoolCreated``: the PumpSwap pool;
2. what trades and migrations reveal: decimals, the launch program and curve (a pump.fun, LaunchLab
   or Moonshot curve trade), the PumpSwap pool, the supply of a pump.fun token (the program mints
   exactly 1,000,000,000 at creation), graduated = false while it trades on a curve;
3. the token's accounts, read over JSON-RPC (``SOLFLOW_RPC_URL``) for a mint first seen without a
   name or supply. How that answer enters a deterministic flow: the lookup is *asked for* as soon as
   the mint's first fact arrives, but its answer is *applied as a fact at a fixed event time* --
   the tick ``RPC_LAG_S`` seconds of chain time after the mint was first seen (or the end of the
   input, if sooner). When the shard reaches that tick it takes the answer from ``resolve``, which
   waits for it if it is not there yet (a live stream is normally 30 s behind its lookups, so only a
   fast replay waits). The answer carries the slot it was read at (``rpc_slot``). So the outputs are
   a function of the chain data plus the recorded answers, identical at any worker count and after
   a restart (a restored shard has the answers it applied; lookups still pending are asked again).
   A lookup that fails (RPC down, unknown account) applies nothing.

Price: the trade's price (``solflow.domain.pricing``) in the mint's pricing quote -- SOL once the
mint has traded against SOL, else the quote it first traded in. ``price_change_{300,3600}s`` compare
it with the price at the tick that many seconds earlier (the last trade at or before it, same quote).
A price in another quote reaches SOL at the latest rate of that quote the stream showed (a USD
stablecoin at ``SOLFLOW_SOL_USD`` when it is a number); the USD columns of a price in SOL or another
token need SOL/USD from ``SOLFLOW_SOL_USD`` (a number, or ``stream``). A rate not renewed for
``keep_s`` is forgotten.

A token's trading state (price, quote, progress) is forgotten ``keep_s`` seconds of event time after
its last fact (the aggregation forgets its windows after the longest window); what it was learned to
be (its metadata: name, supply, launch, graduation, first sight) is kept ``metadata_keep_s`` longer
(the retention, as ``token_metadata`` keeps it), so a mint that trades again after a quiet spell is
still named, priced to a market cap and graduated. Its signal times are kept 72 h for
``appearance_72h``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, NamedTuple

from solflow.domain.lifecycle import CurveCompleted, LifecycleEvent, Migrated, PoolCreated, TokenCreated
from solflow.domain.pricing import (
    CURVE_PROGRAMS,
    PUMPFUN_SUPPLY,
    USD_MINTS,
    curve_progress,
    in_sol,
    in_usd,
    market_cap,
    price_change,
    sol_rate_of,
    trade_price,
)
from solflow.domain.programs import LAUNCHLAB, MOONSHOT, PUMPFUN, PUMPSWAP, WSOL_MINT
from solflow.domain.scorer import SPANS_S
from solflow.domain.token_accounts import TokenAccountFacts
from solflow.domain.trade import TradeEvent

RPC_LAG_S = 30
PRICE_CHANGE_WINDOWS = (300, 3600)
DCA_BUCKET_S = 60
LAUNCH_PROGRAMS = frozenset((PUMPFUN.name, LAUNCHLAB.name, MOONSHOT.name))
_SIGNAL_KEEP_S = max(SPANS_S)
_PRUNE_EVERY_S = 60
_FOREVER = 2**63  # a tick no input reaches

Resolver = Callable[[Sequence[str]], Mapping[str, TokenAccountFacts | None]]


class TokenTrade(NamedTuple):
    """What one trade says about its token."""

    time: int | None
    slot: int
    tx_index: int
    outer: int
    inner: int
    mint: str
    program: str
    quote_mint: str
    price: float | None
    decimals: int | None
    real_base: int | None
    virtual_base: int | None
    pool: str | None
    dca_buy: bool
    sol_raw: int | None  # the quote amount of a SOL-quoted trade, lamports


class SolUsdPoint(NamedTuple):
    """A point of the stream's SOL rates: one whole unit of ``asset`` is worth ``sol`` SOL, as a trade
    shows it (a SOL/stablecoin trade: SOL/USD); for every shard."""

    time: int | None
    slot: int
    tx_index: int
    outer: int
    inner: int
    asset: str
    sol: float


Fact = TokenTrade | SolUsdPoint | LifecycleEvent
_TOKEN_LIFECYCLE = (TokenCreated, CurveCompleted, Migrated, PoolCreated)


def token_trade(trade: TradeEvent) -> TokenTrade:
    inner = trade.inner_ix_index
    return TokenTrade(
        trade.block_time,
        trade.slot,
        trade.tx_index,
        trade.outer_ix_index,
        -1 if inner is None else inner,
        trade.mint,
        trade.program,
        trade.quote_mint,
        trade_price(trade),
        trade.token_decimals,
        trade.real_base_reserves,
        trade.virtual_base_reserves,
        trade.pool,
        trade.is_dca and trade.direction == "buy",
        trade.quote_amount_raw if trade.quote_mint == WSOL_MINT else None,
    )


def sol_usd_point(trade: TradeEvent) -> SolUsdPoint | None:
    """The rate of a quote asset the trade shows, as a fact (``pricing.sol_rate_of``)."""
    rate = sol_rate_of(trade)
    if rate is None:
        return None
    inner = trade.inner_ix_index
    return SolUsdPoint(
        trade.block_time, trade.slot, trade.tx_index, trade.outer_ix_index, -1 if inner is None else inner, *rate
    )


def is_token_lifecycle(record: object) -> bool:
    """Whether a lifecycle record is one the token state reads."""
    return isinstance(record, _TOKEN_LIFECYCLE)


def fact_mint(fact: TokenTrade | TradeEvent | LifecycleEvent) -> str:
    """The mint a trade or lifecycle record is about (a pool's base mint)."""
    if isinstance(fact, PoolCreated):
        return fact.base_mint
    return fact.mint  # type: ignore[union-attr]  # every other kind the book reads has one


@dataclass(slots=True)
class TokenMetadata:
    """A ``token_metadata`` row (``ts``: the tick of its latest change)."""

    mint: str
    token_name: str | None = None
    token_symbol: str | None = None
    token_uri: str | None = None
    token_decimals: int | None = None
    supply_raw: int | None = None
    creator: str | None = None
    launch_program: str | None = None
    curve: str | None = None
    quote_mint: str | None = None
    created_slot: int | None = None
    created_ts: int | None = None
    graduated: bool | None = None
    migrated_slot: int | None = None
    migrated_ts: int | None = None
    amm_pool: str | None = None
    first_seen_ts: int | None = None
    rpc_slot: int | None = None
    ts: int | None = None

    def as_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


METADATA_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TokenMetadata))
_values: Callable[[TokenMetadata], tuple[Any, ...]] = attrgetter(*METADATA_COLUMNS)
_NAME_AT, _SUPPLY_AT = METADATA_COLUMNS.index("token_name"), METADATA_COLUMNS.index("supply_raw")


class Enrichment(NamedTuple):
    """A mint's price columns in an aggregate row."""

    quote_mint: str | None
    price: float | None
    price_sol: float | None
    price_usd: float | None
    market_cap: float | None
    market_cap_sol: float | None
    market_cap_usd: float | None
    bonding_progress: float | None
    price_change_300s: float | None
    price_change_3600s: float | None


ENRICHMENT_COLUMNS: tuple[str, ...] = Enrichment._fields
NO_ENRICHMENT = Enrichment(*(None,) * len(Enrichment._fields))


class _Token:
    __slots__ = (
        "completed",
        "enriched",
        "last_seen",
        "lookup_due",
        "meta",
        "pool_created_ts",
        "price",
        "price_ticks",
        "prices",
        "progress",
        "quote",
    )

    def __init__(self, mint: str, first_seen: int):
        self.meta = TokenMetadata(mint, first_seen_ts=first_seen)
        self.last_seen = first_seen
        self.quote: str | None = None  # the pricing quote
        self.price: float | None = None
        self.price_ticks: list[int] = []  # one entry per tick with a price, oldest first ...
        self.prices: list[tuple[str, float]] = []  # ... its quote and latest price
        self.progress: float | None = None
        self.completed = False
        self.pool_created_ts: int | None = None
        self.lookup_due: int | None = None  # the tick an RPC answer is applied at
        # its Enrichment, the rates it used and the first tick it no longer holds at (see
        # ``TokenBook.enrichment``); None once a fact of the token was applied
        self.enriched: tuple[Enrichment, _Rates, int] | None = None

    def next_price_then(self, tick: int, window: int) -> int:
        """The first tick after ``tick`` at which the price ``window`` seconds earlier may differ
        (the next price entry enters the window's past; ``_FOREVER`` if none)."""
        ticks = self.price_ticks
        index = bisect_right(ticks, tick - window)
        return ticks[index] + window if index < len(ticks) else _FOREVER

    def price_at(self, tick: int, quote: str) -> float | None:
        """The latest price in ``quote`` at or before ``tick``."""
        index = bisect_right(self.price_ticks, tick)
        while index > 0:
            index -= 1
            entry_quote, price = self.prices[index]
            if entry_quote == quote:
                return price
        return None

    def record_price(self, tick: int, quote: str, price: float, horizon: int) -> None:
        ticks, prices = self.price_ticks, self.prices
        if ticks and ticks[-1] == tick and prices[-1][0] == quote:
            prices[-1] = (quote, price)
        else:
            ticks.append(tick)
            prices.append((quote, price))
        # keep the last entry at or before the horizon: it is the price "then" for the longest change
        drop = 0
        while drop + 1 < len(ticks) and ticks[drop + 1] <= horizon:
            drop += 1
        if drop:
            del ticks[:drop], prices[:drop]


class _Dormant(NamedTuple):
    """What is kept of a quiet token: its metadata and launch facts, not its trading state (plain
    values: a shard's snapshot pickles every one of them)."""

    meta: tuple[Any, ...]  # the TokenMetadata fields, in order
    completed: bool
    pool_created_ts: int | None
    last_seen: int

    @classmethod
    def of(cls, token: _Token) -> _Dormant:
        return cls(_values(token.meta), token.completed, token.pool_created_ts, token.last_seen)

    def restore(self, token: _Token) -> None:
        token.meta = TokenMetadata(*self.meta)
        token.completed = self.completed
        token.pool_created_ts = self.pool_created_ts

    def named(self) -> bool:
        return self.meta[_NAME_AT] is not None and self.meta[_SUPPLY_AT] is not None


@dataclass(frozen=True)
class TokenConfig:
    tick_s: int = 5
    keep_s: int = 14_400  # forget a token's trading state this long after its last fact (>= the longest window)
    metadata_keep_s: int | None = 7 * 86_400  # ... and its metadata this much later (None: never)
    sol_usd: float | None = None  # a fixed SOL price in USD
    sol_usd_from_stream: bool = False  # else, for the USD columns: the latest SOL/stablecoin trade's
    rpc: bool = False  # look up mints first seen without a name or supply
    rpc_lag_s: int = RPC_LAG_S


class TokenBook:
    """The token state of one shard (see the module docstring)."""

    def __init__(self, config: TokenConfig):
        self.config = config
        self._tokens: dict[str, _Token] = {}
        self._dormant: dict[str, _Dormant] = {}  # quiet mints' metadata, kept for ``metadata_keep_s``
        self._pending: dict[int, list[Fact]] = {}  # tick -> facts to apply then
        self._last_tick: int | None = None
        self._stream_sol_usd: float | None = None  # USD per SOL, the latest SOL/stablecoin trade's
        self._rates: dict[str, tuple[float, int]] = {}  # asset -> (SOL per unit, tick of that rate)
        self._lookups_wanted: list[str] = []  # asked for since the last take_lookups
        self._asked: set[str] = set()  # mints a lookup was asked for and not yet applied or dropped
        self._arriving: set[str] = set()  # new mints whose first fact is held, not applied yet
        self._due: dict[int, list[str]] = {}  # tick -> mints whose RPC answer applies then
        self._metadata_rows: list[dict[str, Any]] = []
        self._dca: dict[tuple[str, int], list[int]] = {}  # (mint, minute) -> [buys, lamports]
        self._dca_changed: set[tuple[str, int]] = set()
        self._signals: dict[str, list[int]] = {}  # mint -> times its signals turned on (72 h)
        self._next_prune: int | None = None

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, mint: object) -> bool:
        return mint in self._tokens

    @property
    def last_tick(self) -> int | None:
        return self._last_tick

    def metadata(self, mint: str) -> TokenMetadata | None:
        token = self._tokens.get(mint)
        return None if token is None else token.meta

    def add(self, fact: Fact) -> None:
        """Hold ``fact`` for the tick of its time."""
        time = fact.time if isinstance(fact, (TokenTrade, SolUsdPoint)) else fact.block_time
        last = self._last_tick
        tick_s = self.config.tick_s
        if time is None:
            tick = (last if last is not None else 0) + tick_s
        else:
            tick = -(-time // tick_s) * tick_s
            if last is not None and tick <= last:
                tick = last + tick_s
        self._pending.setdefault(tick, []).append(fact)
        if self.config.rpc and not isinstance(fact, SolUsdPoint):
            mint = fact_mint(fact)
            if mint not in self._tokens and mint not in self._arriving:
                self._arriving.add(mint)  # the first fact of a new mint decides; it is applied later
                if not isinstance(fact, TokenCreated) and mint not in self._asked and not self._named(mint):
                    self._asked.add(mint)
                    self._lookups_wanted.append(mint)

    def take_lookups(self) -> list[str]:
        """Mints to look up over RPC, asked for since the last call (ask at once: answers apply later)."""
        wanted, self._lookups_wanted = self._lookups_wanted, []
        return wanted

    def next_tick(self) -> int | None:
        """The earliest tick with something to apply."""
        pending = min(self._pending, default=None)
        due = min(self._due, default=None)
        if pending is None or (due is not None and due < pending):
            return due
        return pending

    def advance(self, tick: int, resolve: Resolver | None = None) -> list[str]:
        """Apply everything due at or before ``tick``, tick by tick; the mints whose price columns or
        metadata changed since the last call."""
        changed: dict[str, None] = {}
        while True:
            due = self.next_tick()
            if due is None or due > tick:
                break
            changed.update(dict.fromkeys(self._apply_tick(due, resolve)))
        if self._last_tick is None or tick > self._last_tick:
            self._last_tick = tick
        self._prune(tick)
        return list(changed)

    def finish(self, tick: int | None, resolve: Resolver | None = None) -> list[str]:
        """End of input: every held fact is applied at its tick (through ``tick`` at least), and every
        lookup still waiting is applied at the last one -- the input never reaches its due tick."""
        target = max((t for t in (tick, self._last_tick, *self._pending) if t is not None), default=None)
        if target is None:
            return []
        changed = self.advance(target, resolve)
        waiting = sorted(mint for mints in self._due.values() for mint in mints)
        self._due.clear()
        if waiting:
            changed += [m for m in self._apply_answers(target, waiting, resolve) if m not in changed]
        return changed

    def enrichment(self, mint: str) -> Enrichment:
        """``mint``'s price columns as of the last applied tick."""
        return self.enrichments((mint,))[0]

    def enrichments(self, mints: Sequence[str]) -> list[Enrichment]:
        """The price columns of each of ``mints`` as of the last applied tick.

        They change only with the token's facts, the rates of its quote, or when a price change's "price
        then" moves (the tick reaches a later price entry plus the change's window), so each token
        keeps its last answer until one of those happens (most mints asked for merely had a bucket
        leave a window)."""
        tick = self._last_tick
        if tick is None:
            return [NO_ENRICHMENT] * len(mints)
        tokens = self._tokens
        answers = []
        for mint in mints:
            token = tokens.get(mint)
            if token is None:
                answers.append(NO_ENRICHMENT)
                continue
            rates = self._rates_for(token.quote)
            cached = token.enriched
            if cached is not None and tick < cached[2] and cached[1] == rates:
                answers.append(cached[0])
                continue
            enrichment = _enrichment(token, tick, rates)
            until = _FOREVER
            if token.quote is not None:
                for window in PRICE_CHANGE_WINDOWS:
                    until = min(until, token.next_price_then(tick, window))
            token.enriched = (enrichment, rates, until)
            answers.append(enrichment)
        return answers

    def _rates_for(self, quote: str | None) -> _Rates:
        """The rates a price in ``quote`` is converted with: SOL/USD for reaching SOL (a fixed one, else
        the stream's), SOL/USD for the USD columns (fixed, or the stream's when asked for), SOL per unit
        of the quote when it is another token."""
        fixed = self.config.sol_usd
        to_sol = fixed if fixed is not None else self._stream_sol_usd
        to_usd = fixed if fixed is not None else self._stream_sol_usd if self.config.sol_usd_from_stream else None
        if quote is None or quote == WSOL_MINT or quote in USD_MINTS:
            return _Rates(to_sol, to_usd, None)
        rate = self._rates.get(quote)
        return _Rates(to_sol, to_usd, None if rate is None else rate[0])

    def take_metadata_rows(self) -> list[dict[str, Any]]:
        """``token_metadata`` rows of the changes applied since the last call, in tick order."""
        rows, self._metadata_rows = self._metadata_rows, []
        return rows

    def take_dca_rows(self) -> list[dict[str, Any]]:
        """``dca_activity_buckets`` rows of the minutes that changed since the last call: the DCA buys
        and their SOL volume so far (a minute is complete once a later tick was applied)."""
        rows = []
        for key in sorted(self._dca_changed):
            buys, lamports = self._dca[key]
            rows.append({"mint": key[0], "minute": key[1], "dca_buys": buys, "dca_buy_volume_sol": lamports / 1e9})
        self._dca_changed.clear()
        return rows

    def record_signal(self, mint: str, ts: int) -> None:
        """A signal of ``mint`` turned on at ``ts`` (for the scorer's appearance counts)."""
        self._signals.setdefault(mint, []).append(ts)

    def signal_times(self, mint: str) -> Sequence[int]:
        return self._signals.get(mint, ())

    def first_seen(self, mint: str) -> int | None:
        token = self._tokens.get(mint)
        return None if token is None else token.meta.first_seen_ts

    def launch_time(self, mint: str) -> int | None:
        """When the token's trading pair was created: its creation, else its migration to a pool,
        else the creation of its PumpSwap pool."""
        token = self._tokens.get(mint)
        if token is None:
            return None
        meta = token.meta
        for time in (meta.created_ts, meta.migrated_ts, token.pool_created_ts):
            if time is not None:
                return time
        return None

    def _apply_tick(self, tick: int, resolve: Resolver | None) -> list[str]:
        facts = self._pending.pop(tick, [])
        facts.sort(key=_chain_order)
        before: dict[str, tuple[Any, ...]] = {}
        touched: dict[str, None] = {}  # in chain order of their first fact
        for fact in facts:
            if isinstance(fact, SolUsdPoint):
                self._rates[fact.asset] = (fact.sol, tick)
                if fact.asset in USD_MINTS:
                    self._stream_sol_usd = 1.0 / fact.sol
                continue
            mint = fact_mint(fact)
            token = self._tokens.get(mint)
            if token is None:
                time = fact.time if isinstance(fact, TokenTrade) else fact.block_time
                token = self._tokens[mint] = _Token(mint, time if time is not None else tick)
                self._arriving.discard(mint)
                dormant = self._dormant.pop(mint, None)
                if dormant is not None:
                    dormant.restore(token)
                before[mint] = () if dormant is None else _values(token.meta)
            elif mint not in before:
                before[mint] = _values(token.meta)
            touched[mint] = None
            token.last_seen = tick
            token.enriched = None
            if isinstance(fact, TokenTrade):
                self._apply_trade(token, fact, tick)
            else:
                _apply_lifecycle(token, fact)
        for mint in touched:
            self._maybe_lookup(self._tokens[mint], tick)
        answered = self._due.pop(tick, None)
        changed = list(touched)
        if answered:
            changed += self._apply_answers(tick, answered, resolve, before)
        self._metadata_changes(tick, before)
        if self._last_tick is None or tick > self._last_tick:
            self._last_tick = tick
        return changed

    def _apply_trade(self, token: _Token, fact: TokenTrade, tick: int) -> None:
        meta = token.meta
        program = fact.program
        if meta.token_decimals is None and fact.decimals is not None:
            meta.token_decimals = fact.decimals
        if program in LAUNCH_PROGRAMS:
            if meta.launch_program is None:
                meta.launch_program = program
            if meta.curve is None:
                meta.curve = fact.pool
            if meta.quote_mint is None:
                meta.quote_mint = fact.quote_mint
            if meta.graduated is None:
                meta.graduated = False
            if program == PUMPFUN.name and meta.supply_raw is None and meta.launch_program == PUMPFUN.name:
                meta.supply_raw = PUMPFUN_SUPPLY
        elif program == PUMPSWAP.name and meta.amm_pool is None:
            meta.amm_pool = fact.pool
        if program in CURVE_PROGRAMS and fact.real_base is not None:
            progress = curve_progress(program, fact.real_base, fact.virtual_base, meta.supply_raw, meta.token_decimals)
            if progress is not None:
                token.progress = progress
        if fact.price is not None and (token.quote is None or fact.quote_mint in (token.quote, WSOL_MINT)):
            token.quote = fact.quote_mint
            token.price = fact.price
            token.record_price(tick, fact.quote_mint, fact.price, tick - max(PRICE_CHANGE_WINDOWS))
        if fact.dca_buy and fact.time is not None:
            key = (fact_mint(fact), fact.time // DCA_BUCKET_S * DCA_BUCKET_S)
            bucket = self._dca.setdefault(key, [0, 0])
            bucket[0] += 1
            bucket[1] += fact.sol_raw or 0
            self._dca_changed.add(key)

    def _named(self, mint: str) -> bool:
        """A quiet mint whose name and supply are known (no lookup needed when it trades again)."""
        dormant = self._dormant.get(mint)
        return dormant is not None and dormant.named()

    def _maybe_lookup(self, token: _Token, tick: int) -> None:
        meta = token.meta
        if not self.config.rpc or token.lookup_due is not None:
            return
        if meta.token_name is not None and meta.supply_raw is not None:
            self._asked.discard(meta.mint)
            return
        lag = self.config.rpc_lag_s
        first = meta.first_seen_ts if meta.first_seen_ts is not None else tick
        token.lookup_due = -(-(first + lag) // self.config.tick_s) * self.config.tick_s
        if token.lookup_due <= tick:
            token.lookup_due = tick + self.config.tick_s
        self._due.setdefault(token.lookup_due, []).append(meta.mint)
        if meta.mint not in self._asked:  # a restored shard asks again
            self._asked.add(meta.mint)
            self._lookups_wanted.append(meta.mint)

    def _apply_answers(
        self,
        tick: int,
        mints: list[str],
        resolve: Resolver | None,
        before: dict[str, tuple[Any, ...]] | None = None,
    ) -> list[str]:
        present = [mint for mint in mints if mint in self._tokens]
        for mint in mints:
            self._asked.discard(mint)
        if not present or resolve is None:
            return []
        answers = resolve(present)
        track = before if before is not None else {}
        changed = []
        for mint in present:
            facts = answers.get(mint)
            token = self._tokens[mint]
            if facts is None:
                continue
            if mint not in track:
                track[mint] = _values(token.meta)
            token.enriched = None
            if _apply_account_facts(token, facts):
                changed.append(mint)
        if before is None:
            self._metadata_changes(tick, track)
        return changed

    def _metadata_changes(self, tick: int, before: dict[str, tuple[Any, ...]]) -> None:
        for mint in sorted(before):
            token = self._tokens.get(mint)
            if token is None:
                continue
            meta = token.meta
            if _values(meta) != before[mint]:
                meta.ts = tick
                self._metadata_rows.append(meta.as_row())

    def _prune(self, tick: int) -> None:
        if self._next_prune is not None and tick < self._next_prune:
            return
        self._next_prune = tick + _PRUNE_EVERY_S
        keep_after = tick - self.config.keep_s
        for mint in [m for m, token in self._tokens.items() if token.last_seen < keep_after]:
            token = self._tokens.pop(mint)
            self._dormant[mint] = _Dormant.of(token)
            if token.lookup_due is not None:
                due = self._due.get(token.lookup_due)
                if due is not None and mint in due:
                    due.remove(mint)
                    if not due:
                        del self._due[token.lookup_due]
            self._asked.discard(mint)
        if self.config.metadata_keep_s is not None:
            metadata_after = keep_after - self.config.metadata_keep_s
            for mint in [m for m, dormant in self._dormant.items() if dormant.last_seen < metadata_after]:
                del self._dormant[mint]
        for asset in [a for a, (_, seen) in self._rates.items() if seen < keep_after]:
            del self._rates[asset]
        signals_after = tick - _SIGNAL_KEEP_S
        for mint in list(self._signals):
            times = [t for t in self._signals[mint] if t > signals_after]
            if times:
                self._signals[mint] = times
            else:
                del self._signals[mint]
        minute_floor = tick - 2 * DCA_BUCKET_S
        for key in [k for k in self._dca if k[1] < minute_floor and k not in self._dca_changed]:
            del self._dca[key]


class _Rates(NamedTuple):
    to_sol: float | None  # USD per SOL, for a USD stablecoin quote's SOL values
    to_usd: float | None  # USD per SOL, for the USD columns
    sol_per_unit: float | None  # SOL per whole unit of the token's quote, when it is another token


def _enrichment(token: _Token, tick: int, rates: _Rates) -> Enrichment:
    """A token's price columns at ``tick``."""
    meta, quote, price = token.meta, token.quote, token.price
    cap = market_cap(price, meta.supply_raw, meta.token_decimals)
    progress = 1.0 if token.completed or meta.graduated else token.progress
    changes = [
        price_change(price, token.price_at(tick - window, quote)) if quote is not None else None
        for window in PRICE_CHANGE_WINDOWS
    ]
    return Enrichment(
        quote,
        price,
        in_sol(price, quote, rates.to_sol, rates.sol_per_unit),
        in_usd(price, quote, rates.to_usd, rates.sol_per_unit),
        cap,
        in_sol(cap, quote, rates.to_sol, rates.sol_per_unit),
        in_usd(cap, quote, rates.to_usd, rates.sol_per_unit),
        progress,
        *changes,
    )


def _chain_order(fact: Fact) -> tuple[int, int, int, int, int]:
    if isinstance(fact, (TokenTrade, SolUsdPoint)):
        return (fact.time if fact.time is not None else 0, fact.slot, fact.tx_index, fact.outer, fact.inner)
    inner = fact.inner_ix_index
    time = fact.block_time if fact.block_time is not None else 0
    return (time, fact.slot, fact.tx_index, fact.outer_ix_index, -1 if inner is None else inner)


def _apply_lifecycle(token: _Token, event: LifecycleEvent) -> None:
    meta = token.meta
    if isinstance(event, TokenCreated):
        meta.token_name, meta.token_symbol, meta.token_uri = event.name, event.symbol, event.uri
        meta.creator = event.creator
        if event.decimals is not None:
            meta.token_decimals = event.decimals
        if event.supply is not None:
            meta.supply_raw = event.supply
        meta.launch_program = event.program
        meta.curve = event.curve or meta.curve
        meta.quote_mint = event.quote_mint or meta.quote_mint
        meta.created_slot, meta.created_ts = event.slot, event.block_time
        if meta.graduated is None:
            meta.graduated = False
    elif isinstance(event, CurveCompleted):
        token.completed = True
        meta.curve = meta.curve or event.curve
    elif isinstance(event, Migrated):
        token.completed = True
        meta.graduated = True
        meta.migrated_slot, meta.migrated_ts = event.slot, event.block_time
        meta.amm_pool = event.pool or meta.amm_pool
        meta.launch_program = meta.launch_program or event.program
        meta.curve = meta.curve or event.curve
        if meta.launch_program == PUMPFUN.name and meta.supply_raw is None:
            meta.supply_raw = PUMPFUN_SUPPLY  # minted whole at creation; a migration burns none
    elif isinstance(event, PoolCreated):
        if token.pool_created_ts is None:
            token.pool_created_ts = event.block_time
        meta.amm_pool = meta.amm_pool or event.pool


_ACCOUNT_COLUMNS = (
    ("name", "token_name"),
    ("symbol", "token_symbol"),
    ("uri", "token_uri"),
    ("decimals", "token_decimals"),
    ("supply", "supply_raw"),
)


def _apply_account_facts(token: _Token, facts: TokenAccountFacts) -> bool:
    meta = token.meta
    filled = False
    for fact, column in _ACCOUNT_COLUMNS:
        value = getattr(facts, fact)
        if value is not None and getattr(meta, column) is None:
            setattr(meta, column, value)
            filled = True
    if filled:
        meta.rpc_slot = facts.slot
    return filled
