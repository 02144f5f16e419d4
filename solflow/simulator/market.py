"""Market: who trades which mint, when, on which program — and the slots the trades land in.

Slots advance every 400 ms (a few are skipped, as on mainnet); each slot carries a handful of
tracked-program transactions followed by its block meta and a slot status update. Background flow
picks mints with a heavy-tailed (Zipf-like) popularity and wallets with a heavy-tailed activity, and
mixes in what real traffic has: failed transactions, router and bot programs, relayed fee payers,
Jito tips, legacy and v0 messages, older and newer event layouts, every trade instruction variant,
launches, curves selling out and migrating, liquidity deposits and withdrawals, bundles and round
trips, and a few trades whose event cannot be decoded. Scripted episodes (`episodes`) add the
patterns signals key on.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator

from protos import geyser_pb2
from protos import solana_storage_pb2 as storage
from solflow.domain.programs import PROGRAM_NAMES
from solflow.domain.trade import TradeEvent
from solflow.simulator import episodes, keys, launchlab, listings, moonshot, pumpfun, pumpswap, spl, wire
from solflow.simulator.common import SOL, USDC, Asset, Outcome, fill_logs
from solflow.simulator.keys import b58
from solflow.simulator.listings import LAMPORTS_PER_SOL, USDC_PER_SOL, XSTOCK_PER_SOL, Listing
from solflow.simulator.tx import TxBuilder
from solflow.simulator.world import World

SLOT_MS = 400
SKIPPED_SLOT_RATE = 0.04
TRANSACTIONS_PER_SLOT = 5.0
REFERENCE_SLOT = 380_000_000  # mainnet slot near REFERENCE_TIME
REFERENCE_TIME = 1_764_000_000
VERSIONED_SHARE = 0.65
TIP_SHARE = 0.12
ROUTED_SHARE = 0.12
FAILED_SHARE = 0.04
UNDECODABLE_SHARE = 0.015
RELAYED_SHARE = 0.02
VARIANT_SHARE = 0.15  # the program's other instruction for the trade (exact-in / exact-out)
NEWER_LAYOUT_SHARE = 0.02  # events with fields of a program version newer than SolFlow's tables
LIQUIDITY_SHARE = 0.02  # of PumpSwap picks: a deposit or withdrawal instead of a trade

Action = Callable[[], "SimulatedUpdate | None"]


class SimulatedUpdate:
    """One update of the simulated stream and the ground truth about it.

    `raw` is the serialized `SubscribeUpdate`; `update` parses it on first use. `expected` lists the
    trades a correct decoder finds in a transaction update (as `TradeEvent`s, in decoder order),
    `kind` says what the simulator built ("pumpfun.buy", "jupiter_dca.fill", "block_meta", "slot", …)
    and `events` the lifecycle records it carries, by kind (token_created, migrated, dca_opened, …).
    """

    __slots__ = ("raw", "expected", "kind", "events", "_update")

    def __init__(
        self, raw: bytes, expected: list[TradeEvent] | None = None, kind: str = "", events: tuple[str, ...] = ()
    ):
        self.raw = raw
        self.expected = expected if expected is not None else []
        self.kind = kind
        self.events = events
        self._update: geyser_pb2.SubscribeUpdate | None = None

    @property
    def update(self) -> geyser_pb2.SubscribeUpdate:
        if self._update is None:
            self._update = geyser_pb2.SubscribeUpdate.FromString(self.raw)
        return self._update

    def __repr__(self) -> str:
        return f"SimulatedUpdate(kind={self.kind!r}, expected={len(self.expected)} trades, {len(self.raw)} bytes)"


class Market:
    def __init__(
        self,
        seed: int,
        start_time: int,
        programs: tuple[str, ...] = PROGRAM_NAMES,
        *,
        scale: int = 4_000,
        transactions_per_slot: float = TRANSACTIONS_PER_SLOT,
        episodes_on: bool = True,
    ):
        unknown = [p for p in programs if p not in PROGRAM_NAMES]
        if unknown or not programs:
            raise ValueError(f"unknown program(s) {unknown}; expected some of {', '.join(PROGRAM_NAMES)}")
        self.world = World(seed)
        self.rng = self.world.rng
        self.keyring = self.world.keyring
        self.ledger = self.world.ledger
        self.programs = programs
        self.rate = transactions_per_slot
        self.start_time = start_time
        self.slot = max(REFERENCE_SLOT + (start_time - REFERENCE_TIME) * 1000 // SLOT_MS, 1)
        self.skipped = 0
        self.elapsed_ms = 0
        self.block_time = start_time
        self.tx_index = 0
        self._parent_slot = self.slot - 1
        self._parent_hash = b58(self.keyring.fresh("parent-blockhash"))
        self._agenda: list[tuple[int, int, Action]] = []
        self._sequence = itertools.count()
        self._labels = itertools.count()
        self.listings: list[Listing] = []
        self._populate(scale)
        if episodes_on:
            episodes.schedule_recurring(self)

    def label(self) -> int:
        """A fresh number for naming keys."""
        return next(self._labels)

    # ----- set-up --------------------------------------------------------------------------

    def _populate(self, scale: int) -> None:
        rng = self.rng
        self.wallets = [self.keyring.fresh(f"wallet/{i}") for i in range(min(300 + scale // 8, 25_000))]
        self._wallet_weights = list(itertools.accumulate(1 / (i + 1) ** 1.05 for i in range(len(self.wallets))))
        self.routers = (keys.PHOTON_ROUTER_PROGRAM, *(self.keyring.fresh(f"bot-program/{i}") for i in range(3)))
        self.xstock = Asset(self.keyring.fresh("xstock-mint"), 8, keys.TOKEN_2022_PROGRAM)
        self.keeper = self.new_wallet("dca-keeper", 500)
        self.amm = self.keyring.fresh("amm/pool")
        self.migration_authority = self.new_wallet("pumpfun/migration-authority", 500)
        self._open_fee_accounts()
        shares = {"pumpfun": 0.45, "pumpswap": 0.3, "launchlab": 0.15, "moonshot": 0.1}
        venues = [venue for venue in shares if venue in self.programs]
        count = min(40 + scale // 100, 3_000)
        for venue in venues:
            for _ in range(max(3, round(count * shares[venue] / sum(shares[v] for v in venues)))):
                self.listings.append(listings.existing(self, venue))
        if not self.listings:  # DCA alone: orders on tokens that trade elsewhere
            self.listings = [Listing(listings.new_asset(self, 6), "elsewhere", None) for _ in range(5)]
        rng.shuffle(self.listings)
        self.popular = list(self.listings)
        self._popular_weights = list(itertools.accumulate(1 / (i + 1) ** 1.1 for i in range(len(self.popular))))

    def _open_fee_accounts(self) -> None:
        """Fee recipients' token accounts: they exist long before any simulated trade pays into them."""
        keyring, ledger = self.keyring, self.ledger
        for number in range(8):
            recipient, account = pumpswap.fee_recipient(keyring, number)
            ledger.open_token_account(account, recipient, SOL.mint, SOL.program, SOL.decimals, 0)
            pump_recipient = pumpfun.fee_recipient(keyring, number)
            ledger.open_token_account(
                keyring.ata(pump_recipient, USDC.mint, USDC.program),
                pump_recipient,
                USDC.mint,
                USDC.program,
                USDC.decimals,
                0,
            )
            self.world.share(recipient, account, pump_recipient)
        buyback = keyring.fresh("pumpfun/buyback-fee-recipient")
        ledger.open_token_account(
            keyring.ata(buyback, USDC.mint, USDC.program), buyback, USDC.mint, USDC.program, USDC.decimals, 0
        )
        self.world.share(*moonshot.fee_accounts(keyring))
        platform = keyring.fresh("launchlab/letsbonk-platform")
        for asset in (SOL, USDC, self.xstock):
            ledger.open_token_account(
                keyring.ata(platform, asset.mint, asset.program), platform, asset.mint, asset.program, asset.decimals, 0
            )

    def new_wallet(self, label: str, sol: float) -> bytes:
        wallet = self.keyring.fresh(label)
        self.ledger.lamports[wallet] = int(sol * LAMPORTS_PER_SOL) + self.rng.randrange(LAMPORTS_PER_SOL)
        return wallet

    def _fund(self, wallet: bytes) -> None:
        if wallet not in self.ledger.lamports:
            sol = min(self.rng.lognormvariate(math.log(15), 1.2), 5_000) + 1
            self.ledger.lamports[wallet] = int(sol * LAMPORTS_PER_SOL)

    def open_user_account(self, user: bytes, asset: Asset, amount: int) -> None:
        account = self.keyring.ata(user, asset.mint, asset.program)
        if account not in self.ledger.tokens:
            self.ledger.open_token_account(account, user, asset.mint, asset.program, asset.decimals, amount)

    def add_listing(self, listing: Listing) -> None:
        self.listings.append(listing)

    # ----- the clock -------------------------------------------------------------------------

    def at(self, delay_ms: int, action: Action) -> None:
        heapq.heappush(self._agenda, (self.elapsed_ms + max(delay_ms, 0), next(self._sequence), action))

    def run(self, transactions: int) -> Iterator[SimulatedUpdate]:
        produced = 0
        while produced < transactions:
            self.next_slot()
            wanted = max(0, round(self.rng.gauss(self.rate, math.sqrt(self.rate))))
            made = 0
            while self._agenda and self._agenda[0][0] <= self.elapsed_ms and produced < transactions:
                built = heapq.heappop(self._agenda)[2]()
                if built is not None:
                    produced += 1
                    made += 1
                    yield built
            attempts = 0
            while made < wanted and produced < transactions and attempts < wanted * 4:
                attempts += 1
                built = self._background()
                if built is not None:
                    produced += 1
                    made += 1
                    yield built
            yield from self.close_slot()

    def next_slot(self) -> None:
        step = 1
        while self.rng.random() < SKIPPED_SLOT_RATE:
            step += 1
        self._parent_slot = self.slot
        self.slot += step
        self.skipped += step - 1
        self.elapsed_ms += step * SLOT_MS
        self.block_time = self.start_time + self.elapsed_ms // 1000
        self.tx_index = self.rng.randrange(0, 40)

    def _created_at(self, delay_ms: int) -> bytes:
        """The `created_at` field: when the simulated server saw the update."""
        millis = self.start_time * 1000 + self.elapsed_ms + delay_ms
        stamp = b"\x08" + wire.varint(millis // 1000)
        if millis % 1000:
            stamp += b"\x10" + wire.varint(millis % 1000 * 1_000_000)
        return b"\x5a" + wire.SMALL[len(stamp)] + stamp

    def close_slot(self) -> Iterator[SimulatedUpdate]:
        blockhash = self.rng.randbytes(32)
        self.world.add_blockhash(blockhash)
        hash_text = b58(blockhash)
        meta = geyser_pb2.SubscribeUpdateBlockMeta(
            slot=self.slot,
            blockhash=hash_text,
            block_time=storage.UnixTimestamp(timestamp=self.block_time),
            block_height=storage.BlockHeight(block_height=self.slot - 24_000_000 - self.skipped),
            parent_slot=self._parent_slot,
            parent_blockhash=self._parent_hash,
            executed_transaction_count=self.tx_index + self.rng.randrange(200, 1_200),
            entries_count=self.rng.randrange(40, 90),
        )
        self._parent_hash = hash_text
        yield SimulatedUpdate(
            geyser_pb2.SubscribeUpdate(block_meta=meta).SerializeToString() + self._created_at(450), kind="block_meta"
        )
        slot = geyser_pb2.SubscribeUpdateSlot(
            slot=self.slot, parent=self._parent_slot, status=geyser_pb2.SLOT_CONFIRMED
        )
        yield SimulatedUpdate(
            geyser_pb2.SubscribeUpdate(slot=slot).SerializeToString() + self._created_at(800), kind="slot"
        )

    # ----- building transactions -------------------------------------------------------------

    def transaction(
        self,
        fee_payer: bytes,
        kind: str,
        body: Callable[[TxBuilder], None],
        *,
        co_signers: tuple[bytes, ...] = (),
        versioned: bool | None = None,
        tip: bool | None = None,
    ) -> SimulatedUpdate:
        """Build one transaction in the current slot: compute budget, `body`, maybe a Jito tip."""
        rng = self.rng
        if versioned is None:
            versioned = rng.random() < VERSIONED_SHARE
        b = TxBuilder(self.world, fee_payer, self.block_time, versioned=versioned, co_signers=co_signers)
        b.compute_budget(
            rng.choice((120_000, 200_000, 300_000, 400_000, 600_000, 1_000_000)),
            int(rng.lognormvariate(math.log(50_000), 1.5)) + 1,
        )
        body(b)
        if tip if tip is not None else rng.random() < TIP_SHARE:
            spl.system_transfer(b, fee_payer, rng.choice(keys.JITO_TIP_ACCOUNTS), rng.randrange(10_000, 2_000_000))
        self.tx_index += rng.randrange(1, 30)
        info, trades = b.finish(self.slot, self.tx_index, self.block_time)
        body_bytes = wire.length_delimited(b"\x0a", info) + b"\x10" + wire.varint(self.slot)
        raw = wire.length_delimited(b"\x22", body_bytes) + self._created_at(rng.randrange(5, 350))
        return SimulatedUpdate(raw, trades, kind, () if b.halted else tuple(b.lifecycle))

    def affordable(self, wallet: bytes, lamports: int) -> int:
        """How much of `lamports` the wallet can spend, keeping a reserve for fees and rent."""
        return min(lamports, (self.ledger.balance(wallet) - 50_000_000) // 2)

    @staticmethod
    def quote_budget(listing: Listing, lamports: int) -> int:
        """`lamports` worth of the listing's quote token."""
        quote = listing.quote
        if quote is USDC:
            return lamports * USDC_PER_SOL // 1_000
        if not quote.is_sol:  # an xStock
            return int(lamports * XSTOCK_PER_SOL) // 10
        return lamports

    def ensure_quote_account(self, wallet: bytes, listing: Listing, amount: int) -> None:
        """A wallet buying with USDC or an xStock holds some (it got them elsewhere)."""
        quote = listing.quote
        if quote.is_sol:
            return
        account = self.keyring.ata(wallet, quote.mint, quote.program)
        found = self.ledger.tokens.get(account)
        if found is None:
            self.ledger.open_token_account(account, wallet, quote.mint, quote.program, quote.decimals, amount * 20)
        elif found.amount < amount:
            found.amount += amount * 20

    def trade(
        self,
        listing: Listing,
        wallet: bytes,
        *,
        is_buy: bool,
        lamports: int = 0,
        token_amount: int = 0,
        outcome: Outcome = "ok",
        via: bytes | None = None,
        legacy_layout: bool = False,
        tip: bool | None = None,
        versioned: bool | None = None,
        fee_payer: bytes | None = None,
        kind: str | None = None,
        filler: bytes | None = None,
        keep_wsol: bool | None = None,
        variant: bool = False,
        newer: bool = False,
    ) -> SimulatedUpdate | None:
        """One spot trade of `listing` by `wallet`: a buy spending `lamports` (worth of the quote), or a
        sell of `token_amount`. None when there is nothing to trade (an empty wallet, a sold-out curve).
        A buy that would sell a LetsBonk pool or a Moonshot curve out completes it instead."""
        self._fund(wallet)
        venue, market = listing.venue, listing.market
        if venue == "pumpfun" and listings.curve_exhausted(self, market):
            if listings.can_migrate(self, listing):
                return listings.migrate(self, listing)
            listings.retire(listing)
        if listing.venue == "elsewhere" or (venue == "launchlab" and market.completed):
            return None
        spend = 0
        if is_buy:
            lamports = self.affordable(wallet, lamports)
            if lamports < 1_000_000:
                return None
            spend = self.quote_budget(listing, lamports)
            if listings.completes(listing, spend):
                return listings.complete(self, listing)
            self.ensure_quote_account(wallet, listing, spend)
        elif token_amount <= 0:
            return None
        if keep_wsol is None:
            keep_wsol = not is_buy and outcome == "ok" and self.rng.random() < 0.1

        def body(b: TxBuilder) -> None:
            if filler is not None:
                fill_logs(b, filler, 600)
            _trade_instructions(
                b, listing, wallet, is_buy, spend, token_amount, outcome, via, legacy_layout, keep_wsol, variant, newer
            )

        payer = fee_payer or wallet
        if payer != wallet:
            self._fund(payer)
        built = self.transaction(
            payer,
            kind or f"{venue}.{'buy' if is_buy else 'sell'}",
            body,
            co_signers=(wallet,) if payer != wallet else (),
            tip=tip,
            versioned=versioned,
        )
        self.track_holder(listing, wallet)
        return built

    def round_trip(self, listing: Listing, wallet: bytes, lamports: int) -> SimulatedUpdate | None:
        """Buy and sell the same tokens in one transaction (two trades)."""
        if listing.venue not in ("pumpfun", "pumpswap") or self._sold_out(listing):
            return None
        self._fund(wallet)
        spend = self.quote_budget(listing, self.affordable(wallet, lamports))
        if spend < 1_000_000 or not listing.quote.is_sol:
            return None

        def body(b: TxBuilder) -> None:
            market = listing.market
            if listing.venue == "pumpfun":
                amount = pumpfun.tokens_for(b, market, spend)
                pumpfun.trade(b, market, wallet, is_buy=True, token_amount=amount)
                pumpfun.trade(b, market, wallet, is_buy=False, token_amount=amount)
            else:
                amount = pumpswap.quote_for_spend(b, market, spend)
                pumpswap.swap(b, market, wallet, is_buy=True, base_amount=amount)
                pumpswap.swap(b, market, wallet, is_buy=False, base_amount=amount)

        built = self.transaction(wallet, f"{listing.venue}.round_trip", body)
        self.track_holder(listing, wallet)
        return built

    def bundle(self, listing: Listing, buyers: list[bytes], lamports: int) -> SimulatedUpdate | None:
        """Several signers each buy in their own instruction of one transaction (one trade each)."""
        buyers = list(dict.fromkeys(buyers))
        if listing.venue != "pumpfun" or not listing.quote.is_sol or len(buyers) < 2 or self._sold_out(listing):
            return None
        for buyer in buyers:
            self._fund(buyer)
        spends = [self.affordable(buyer, lamports) for buyer in buyers]
        if min(spends) < 1_000_000:
            return None

        def body(b: TxBuilder) -> None:
            for buyer, spend in zip(buyers, spends):
                pumpfun.trade(
                    b, listing.market, buyer, is_buy=True, token_amount=pumpfun.tokens_for(b, listing.market, spend)
                )

        built = self.transaction(buyers[0], "pumpfun.bundle", body, co_signers=tuple(buyers[1:]))
        for buyer in buyers:
            self.track_holder(listing, buyer)
        return built

    def _sold_out(self, listing: Listing) -> bool:
        return listing.venue == "pumpfun" and listings.curve_exhausted(self, listing.market)

    def track_holder(self, listing: Listing, wallet: bytes) -> None:
        if self.holding(listing, wallet) > 0:
            listing.holders.add(wallet)
        else:
            listing.holders.discard(wallet)

    def holding(self, listing: Listing, wallet: bytes) -> int:
        found = self.ledger.tokens.get(self.keyring.ata(wallet, listing.asset.mint, listing.asset.program))
        return 0 if found is None else found.amount

    # ----- background flow -------------------------------------------------------------------

    def _background(self) -> SimulatedUpdate | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.025 and "pumpfun" in self.programs:
            return listings.launch_pumpfun(self)
        if roll < 0.03 and "launchlab" in self.programs:
            return listings.launch_launchlab(self, legacy_layout=rng.random() < 0.25)
        if roll < 0.032 and "moonshot" in self.programs:
            return listings.launch_moonshot(self)
        listing = self._pick_listing()
        if listing.venue == "elsewhere" or listing.busy_until_ms > self.elapsed_ms:
            return None
        if listing.venue == "pumpswap" and rng.random() < LIQUIDITY_SHARE:
            return listings.change_liquidity(self, listing)
        variant = rng.random()
        if variant < UNDECODABLE_SHARE * (3 if listing.venue == "moonshot" else 1):
            return self._undecodable_trade(listing)
        if variant < UNDECODABLE_SHARE + 0.005:
            return self.round_trip(listing, self._pick_wallet(), self._size())
        if variant < UNDECODABLE_SHARE + 0.008:
            return self.bundle(listing, [self._pick_wallet() for _ in range(rng.randrange(2, 5))], self._size())
        outcome: Outcome = "failed" if rng.random() < FAILED_SHARE else "ok"
        via = rng.choice(self.routers) if rng.random() < ROUTED_SHARE else None
        legacy_layout = self._legacy_layout(listing)
        variant, newer = rng.random() < VARIANT_SHARE, rng.random() < NEWER_LAYOUT_SHARE
        if listing.holders and rng.random() < 0.45:
            wallet = listing.holders.pick(rng)
            held = self.holding(listing, wallet)
            amount = held if rng.random() < 0.4 else held * rng.choice((25, 50, 75)) // 100
            return self.trade(
                listing,
                wallet,
                is_buy=False,
                token_amount=amount,
                outcome=outcome,
                via=via,
                legacy_layout=legacy_layout,
                variant=variant,
                newer=newer,
            )
        relayer = self.new_wallet(f"relayer/{self.label()}", 2) if rng.random() < RELAYED_SHARE else None
        return self.trade(
            listing,
            self._pick_wallet(),
            is_buy=True,
            lamports=self._size(),
            outcome=outcome,
            via=via,
            legacy_layout=legacy_layout,
            fee_payer=relayer,
            variant=variant,
            newer=newer,
        )

    def _pick_listing(self) -> Listing:
        rng = self.rng
        if rng.random() < 0.7:
            return rng.choices(self.popular, cum_weights=self._popular_weights)[0]
        return rng.choice(self.listings)

    def _pick_wallet(self) -> bytes:
        return self.rng.choices(self.wallets, cum_weights=self._wallet_weights)[0]

    def _size(self) -> int:
        sol = min(max(self.rng.lognormvariate(math.log(0.25), 1.1), 0.005), 25.0)
        return int(sol * LAMPORTS_PER_SOL)

    def _legacy_layout(self, listing: Listing) -> bool:
        if listing.venue == "pumpfun":
            return not listing.market.usdc and self.rng.random() < 0.08
        return listing.venue == "launchlab" and self.rng.random() < 0.25

    def _undecodable_trade(self, listing: Listing) -> SimulatedUpdate | None:
        """A trade whose event a decoder cannot read: an unknown event, or Moonshot logs cut short.

        Built so the trader's own balance changes are the trade: the trader pays the fee, already
        holds the token account, and nothing else moves its SOL.
        """
        if not listing.plain or not listing.holders:
            return None
        rng = self.rng
        wallet = listing.holders.pick(rng)
        if self.keyring.ata(wallet, SOL.mint, SOL.program) in self.ledger.tokens:
            return None  # closing a WSOL account it already had would refund rent into the trade
        outcome: Outcome = "truncated_log" if listing.venue == "moonshot" and rng.random() < 0.8 else "unknown_event"
        filler = rng.choice(self.routers[1:]) if outcome == "truncated_log" else None
        kind = f"{listing.venue}.{outcome}"
        if rng.random() < 0.5:
            return self.trade(
                listing,
                wallet,
                is_buy=True,
                lamports=self._size(),
                outcome=outcome,
                tip=False,
                filler=filler,
                kind=kind,
            )
        return self.trade(
            listing,
            wallet,
            is_buy=False,
            token_amount=self.holding(listing, wallet) // 2,
            outcome=outcome,
            tip=False,
            filler=filler,
            kind=kind,
        )


def _trade_instructions(
    b: TxBuilder,
    listing: Listing,
    wallet: bytes,
    is_buy: bool,
    spend: int,
    token_amount: int,
    outcome: Outcome,
    via: bytes | None,
    legacy_layout: bool,
    keep_wsol: bool,
    variant: bool,
    newer: bool,
) -> None:
    market = listing.market
    venue = listing.venue
    if venue == "launchlab":
        launchlab.trade(
            b,
            market,
            wallet,
            is_buy=is_buy,
            amount_in=spend if is_buy else token_amount,
            outcome=outcome,
            via=via,
            legacy_layout=legacy_layout,
            variant=variant,
        )
    elif venue == "pumpfun":
        amount = pumpfun.tokens_for(b, market, spend) if is_buy else token_amount
        if amount > 0:
            pumpfun.trade(
                b,
                market,
                wallet,
                is_buy=is_buy,
                token_amount=amount,
                outcome=outcome,
                via=via,
                legacy_layout=legacy_layout,
                variant=variant,
                newer=newer,
            )
    elif venue == "pumpswap":
        amount = pumpswap.quote_for_spend(b, market, spend) if is_buy else token_amount
        if amount > 0:
            pumpswap.swap(
                b,
                market,
                wallet,
                is_buy=is_buy,
                base_amount=amount,
                outcome=outcome,
                via=via,
                keep_wsol=keep_wsol,
                variant=variant,
                newer=newer,
            )
    else:
        amount = moonshot.tokens_for(market, spend) if is_buy else token_amount
        if amount > 0:
            moonshot.trade(b, market, wallet, is_buy=is_buy, token_amount=amount, outcome=outcome, via=via)
