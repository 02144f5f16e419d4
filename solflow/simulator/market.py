"""Market: who trades which mint, when, on which program — and the slots the trades land in.

Slots advance every 400 ms (a few are skipped, as on mainnet); each slot carries a handful of
tracked-program transactions followed by its block meta and a slot status update. Background flow
picks mints with a heavy-tailed (Zipf-like) popularity and wallets with a heavy-tailed activity;
scripted episodes add what the aggregation must notice: breakouts and surges (many fresh wallets
buying one quiet mint within a minute, with DCA fills on it), focused accumulation (two or three
wallets), bots (one wallet trading every second, alternating sides with identical amounts), pump.fun
launches and migrations, LetsBonk launches and DCA orders being opened, filled and closed.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

from google.protobuf.timestamp_pb2 import Timestamp

from protos import geyser_pb2, solana_storage_pb2 as storage
from solflow.programs import PROGRAM_NAMES
from solflow.simulator import jupiter_dca, keys, launchlab, moonshot, pumpfun, pumpswap, spl
from solflow.simulator.common import SOL, USDC, Asset, Outcome, fill_logs
from solflow.simulator.keys import b58
from solflow.simulator.tx import TxBuilder
from solflow.trade import TradeEvent

SLOT_MS = 400
SKIPPED_SLOT_RATE = 0.04
TRANSACTIONS_PER_SLOT = 5.0
REFERENCE_SLOT = 380_000_000  # mainnet slot near REFERENCE_TIME
REFERENCE_TIME = 1_764_000_000
LAMPORTS_PER_SOL = 1_000_000_000
USDC_PER_SOL = 150
XSTOCK = "xstock"

Action = Callable[[], "SimulatedUpdate | None"]


@dataclass(frozen=True, slots=True)
class SimulatedUpdate:
    """One update of the simulated stream and the ground truth about it."""

    update: geyser_pb2.SubscribeUpdate
    expected: list[TradeEvent] = field(default_factory=list)  # the trades a decoder must find
    kind: str = ""  # what the simulator built: "pumpfun.buy", "block_meta", "slot", …
    events: tuple[str, ...] = ()  # non-trade events in the transaction: create, migrate, dca_open, …


@dataclass(eq=False)
class Listing:
    """A mint and the venue it trades on now (pump.fun curves move to PumpSwap when they migrate)."""

    asset: Asset
    venue: str
    market: object
    holders: dict[bytes, None] = field(default_factory=dict)  # ordered set: wallets holding the token
    busy_until_ms: int = 0  # an episode owns this mint until then


class Market:
    def __init__(self, seed: int, start_time: int, programs: tuple[str, ...] = PROGRAM_NAMES,
                 scale: int = 4_000, transactions_per_slot: float = TRANSACTIONS_PER_SLOT):
        from solflow.simulator.world import World

        unknown = [p for p in programs if p not in PROGRAM_NAMES]
        if unknown or not programs:
            raise ValueError(f"unknown programs {unknown}; expected some of {', '.join(PROGRAM_NAMES)}")
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
        self.dcas: list[jupiter_dca.Dca] = []
        self._setup(scale)

    # ----- set-up --------------------------------------------------------------------------

    def _setup(self, scale: int) -> None:
        rng = self.rng
        self.wallets = [self.keyring.fresh(f"wallet/{i}") for i in range(min(300 + scale // 8, 25_000))]
        self._wallet_weights = list(itertools.accumulate(1 / (i + 1) ** 1.05 for i in range(len(self.wallets))))
        self.routers = (keys.PHOTON_ROUTER_PROGRAM, *(self.keyring.fresh(f"bot-program/{i}") for i in range(3)))
        self.xstock = Asset(self.keyring.fresh("xstock-mint"), 8, keys.TOKEN_2022_PROGRAM)
        self.keeper = self._new_wallet("dca-keeper", 500)
        self.amm = self.keyring.fresh("amm/pool")
        self.migration_authority = self._new_wallet("pumpfun/migration-authority", 500)
        self._open_fee_accounts()
        venues = [v for v in ("pumpfun", "pumpswap", "launchlab", "moonshot") if v in self.programs]
        shares = {"pumpfun": 0.45, "pumpswap": 0.3, "launchlab": 0.15, "moonshot": 0.1}
        count = min(40 + scale // 100, 3_000)
        for venue in venues:
            for _ in range(max(3, round(count * shares[venue] / sum(shares[v] for v in venues)))):
                self.listings.append(self._existing_listing(venue))
        if not self.listings:  # DCA alone: orders on tokens that trade elsewhere
            self.listings = [Listing(self._new_asset(6), "elsewhere", None) for _ in range(5)]
        rng.shuffle(self.listings)
        self._popular = list(self.listings)
        self._popular_weights = list(itertools.accumulate(1 / (i + 1) ** 1.1 for i in range(len(self._popular))))
        self._schedule_recurring()

    def _open_fee_accounts(self) -> None:
        keyring = self.keyring
        for number in range(8):
            recipient, account = pumpswap.fee_recipient(keyring, number)
            self.ledger.open_token_account(account, recipient, SOL.mint, SOL.program, 9, 0)
            pump_recipient = pumpfun.fee_recipient(keyring, number)
            self.ledger.open_token_account(keyring.ata(pump_recipient, USDC.mint, USDC.program), pump_recipient,
                                           USDC.mint, USDC.program, 6, 0)
            self.world.share(recipient, account, pump_recipient)
        buyback = keyring.fresh("pumpfun/buyback-fee-recipient")
        self.ledger.open_token_account(keyring.ata(buyback, USDC.mint, USDC.program), buyback, USDC.mint,
                                       USDC.program, 6, 0)
        dex_fee, helio_fee, config = moonshot.fee_accounts(keyring)
        self.world.share(dex_fee, helio_fee, config)
        for asset in (SOL, USDC, self.xstock):
            platform = keyring.fresh("launchlab/letsbonk-platform")
            self.ledger.open_token_account(keyring.ata(platform, asset.mint, asset.program), platform, asset.mint,
                                           asset.program, asset.decimals, 0)

    def _new_wallet(self, label: str, sol: float) -> bytes:
        wallet = self.keyring.fresh(label)
        self.ledger.lamports[wallet] = int(sol * LAMPORTS_PER_SOL) + self.rng.randrange(LAMPORTS_PER_SOL)
        return wallet

    def _fund(self, wallet: bytes) -> None:
        if wallet not in self.ledger.lamports:
            sol = min(self.rng.lognormvariate(math.log(15), 1.2), 5_000) + 1
            self.ledger.lamports[wallet] = int(sol * LAMPORTS_PER_SOL)

    def _new_asset(self, decimals: int, token_2022: bool = False, transfer_fee_bps: int = 0) -> Asset:
        mint = self.keyring.fresh(f"mint/{next(self._labels)}")
        return Asset(mint, decimals, keys.TOKEN_2022_PROGRAM if token_2022 else keys.TOKEN_PROGRAM, transfer_fee_bps)

    def _existing_listing(self, venue: str) -> Listing:
        """A market that already traded before the simulation starts: its accounts hold reserves."""
        rng = self.rng
        ledger = self.ledger
        creator = self.keyring.fresh(f"creator/{next(self._labels)}")
        if venue == "pumpfun":
            usdc = rng.random() < 0.06
            asset = self._new_asset(pumpfun.DECIMALS, token_2022=rng.random() < 0.3)
            curve = pumpfun.new_curve(self.keyring, asset, creator, USDC if usdc else SOL,
                                      cashback=rng.random() < 0.2)
            raised = int(rng.uniform(0.5, 60) * (LAMPORTS_PER_SOL if not usdc else USDC_PER_SOL * 1_000_000))
            virtual_quote = (pumpfun.INITIAL_VIRTUAL_USDC if usdc else pumpfun.INITIAL_VIRTUAL_SOL)
            sold = pumpfun.INITIAL_VIRTUAL_TOKENS - pumpfun.INITIAL_VIRTUAL_TOKENS * virtual_quote // (
                virtual_quote + raised)
            ledger.open_token_account(curve.base_vault, curve.key, asset.mint, asset.program, asset.decimals,
                                      pumpfun.TOTAL_SUPPLY - sold)
            if usdc:
                ledger.lamports[curve.key] = pumpfun.CURVE_RENT
                ledger.open_token_account(curve.quote_vault, curve.key, USDC.mint, USDC.program, 6, raised)
            else:
                ledger.lamports[curve.key] = pumpfun.CURVE_RENT + raised
            self._open_creator_vaults(curve)
            return Listing(asset, venue, curve)
        if venue == "pumpswap":
            asset = self._new_asset(6, token_2022=rng.random() < 0.2)
            pool = pumpswap.new_pool(self.keyring, asset, self.keyring.fresh(f"pool-creator/{next(self._labels)}"),
                                     creator)
            self._open_pool_accounts(pool, int(rng.uniform(60, 2_000) * LAMPORTS_PER_SOL),
                                     int(rng.uniform(50, 250) * 10**6 * 10**6))
            return Listing(asset, venue, pool)
        if venue == "launchlab":
            roll = rng.random()
            quote = self.xstock if roll < 0.15 else SOL
            fee_bps = rng.choice((100, 300)) if 0.15 <= roll < 0.27 else 0
            asset = self._new_asset(launchlab.DECIMALS, token_2022=fee_bps > 0 or rng.random() < 0.3,
                                    transfer_fee_bps=fee_bps)
            virtual_quote = 30 * LAMPORTS_PER_SOL if quote is SOL else 1_500_000_000
            pool = launchlab.new_pool(self.keyring, asset, quote, creator, virtual_quote)
            raised = int(virtual_quote * rng.uniform(0.02, 1.5))
            pool.real_quote = raised
            pool.real_base = launchlab.VIRTUAL_BASE - launchlab.VIRTUAL_BASE * virtual_quote // (virtual_quote + raised)
            ledger.open_token_account(pool.base_vault, keys.LAUNCHLAB_AUTHORITY, asset.mint, asset.program,
                                      asset.decimals, launchlab.SUPPLY - pool.real_base)
            ledger.open_token_account(pool.quote_vault, keys.LAUNCHLAB_AUTHORITY, quote.mint, quote.program,
                                      quote.decimals, raised)
            ledger.open_token_account(pool.creator_fee_vault, keys.LAUNCHLAB_AUTHORITY, quote.mint, quote.program,
                                      quote.decimals, 0)
            return Listing(asset, venue, pool)
        asset = self._new_asset(moonshot.DECIMALS)
        curve = moonshot.new_curve(self.keyring, asset)
        curve.sold = int(moonshot.CURVE_TOKENS * rng.uniform(0.01, 0.5))
        ledger.open_token_account(curve.token_account, curve.key, asset.mint, asset.program, asset.decimals,
                                  moonshot.CURVE_TOKENS - curve.sold)
        return Listing(asset, venue, curve)

    def _open_creator_vaults(self, curve: pumpfun.BondingCurve) -> None:
        if curve.usdc:
            vault_account = self.keyring.ata(curve.creator_vault, USDC.mint, USDC.program)
            self.ledger.open_token_account(vault_account, curve.creator_vault, USDC.mint, USDC.program, 6, 0)

    def _open_pool_accounts(self, pool: pumpswap.Pool, quote: int, base: int) -> None:
        ledger = self.ledger
        ledger.open_token_account(pool.base_vault, pool.key, pool.base.mint, pool.base.program, pool.base.decimals,
                                  base)
        ledger.open_token_account(pool.quote_vault, pool.key, SOL.mint, SOL.program, 9, quote)
        self._open_pool_creator_vault(pool)

    def _open_pool_creator_vault(self, pool: pumpswap.Pool) -> None:
        if pool.creator_vault not in self.ledger.tokens:
            self.ledger.open_token_account(pool.creator_vault, pool.creator_vault_authority, SOL.mint, SOL.program,
                                           9, 0)

    # ----- the clock -------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self.elapsed_ms

    def at(self, delay_ms: int, action: Action) -> None:
        heapq.heappush(self._agenda, (self.elapsed_ms + max(delay_ms, 0), next(self._sequence), action))

    def run(self, transactions: int) -> Iterator[SimulatedUpdate]:
        produced = 0
        while produced < transactions:
            self._next_slot()
            wanted = self._transactions_this_slot()
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
            yield from self._close_slot()

    def _next_slot(self) -> None:
        step = 1
        while self.rng.random() < SKIPPED_SLOT_RATE:
            step += 1
        self._parent_slot = self.slot
        self.slot += step
        self.skipped += step - 1
        self.elapsed_ms += step * SLOT_MS
        self.block_time = self.start_time + self.elapsed_ms // 1000
        self.tx_index = self.rng.randrange(0, 40)

    def _transactions_this_slot(self) -> int:
        rate = self.rate
        return max(0, round(self.rng.gauss(rate, math.sqrt(rate))))

    def _created_at(self, delay_ms: int) -> Timestamp:
        millis = (self.start_time * 1000 + self.elapsed_ms + delay_ms)
        return Timestamp(seconds=millis // 1000, nanos=(millis % 1000) * 1_000_000)

    def _close_slot(self) -> Iterator[SimulatedUpdate]:
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
        yield SimulatedUpdate(geyser_pb2.SubscribeUpdate(block_meta=meta, created_at=self._created_at(450)),
                              kind="block_meta")
        slot = geyser_pb2.SubscribeUpdateSlot(slot=self.slot, parent=self._parent_slot,
                                              status=geyser_pb2.SLOT_CONFIRMED)
        yield SimulatedUpdate(geyser_pb2.SubscribeUpdate(slot=slot, created_at=self._created_at(800)), kind="slot")

    # ----- building transactions -------------------------------------------------------------

    def transaction(self, fee_payer: bytes, kind: str, body: Callable[[TxBuilder], None], *,
                    co_signers: tuple[bytes, ...] = (), versioned: bool | None = None, tip: bool | None = None,
                    events: tuple[str, ...] = ()) -> SimulatedUpdate:
        rng = self.rng
        if versioned is None:
            versioned = rng.random() < 0.65
        b = TxBuilder(self.world, fee_payer, self.block_time, versioned=versioned, co_signers=co_signers)
        b.compute_budget(rng.choice((120_000, 200_000, 300_000, 400_000, 600_000, 1_000_000)),
                         int(rng.lognormvariate(math.log(50_000), 1.5)) + 1)
        body(b)
        if tip if tip is not None else rng.random() < 0.12:
            spl.system_transfer(b, fee_payer, rng.choice(keys.JITO_TIP_ACCOUNTS), rng.randrange(10_000, 2_000_000))
        self.tx_index += rng.randrange(1, 30)
        info, trades = b.finish(self.slot, self.tx_index, self.block_time)
        update = geyser_pb2.SubscribeUpdate(
            transaction=geyser_pb2.SubscribeUpdateTransaction(transaction=info, slot=self.slot),
            created_at=self._created_at(rng.randrange(5, 350)),
        )
        return SimulatedUpdate(update, trades, kind, () if b.halted else events)

    def _spend(self, wallet: bytes, lamports: int) -> int:
        """How much of `lamports` the wallet can afford, keeping a reserve for fees and rent."""
        return min(lamports, (self.ledger.balance(wallet) - 50_000_000) // 2)

    def _quote_budget(self, listing: Listing, lamports: int) -> int:
        quote = self._quote_asset(listing)
        if quote is USDC:
            return lamports * USDC_PER_SOL // 1_000
        if quote is self.xstock:
            return lamports // 20
        return lamports

    @staticmethod
    def _quote_asset(listing: Listing) -> Asset:
        market = listing.market
        if isinstance(market, (pumpfun.BondingCurve, pumpswap.Pool, launchlab.Pool)):
            return market.quote
        return SOL

    def _ensure_quote_account(self, wallet: bytes, listing: Listing, amount: int) -> None:
        quote = self._quote_asset(listing)
        if quote.is_sol:
            return
        account = self.keyring.ata(wallet, quote.mint, quote.program)
        found = self.ledger.tokens.get(account)
        if found is None:
            self.ledger.open_token_account(account, wallet, quote.mint, quote.program, quote.decimals, amount * 20)
        elif found.amount < amount:
            found.amount += amount * 20  # the wallet bought more of the quote token elsewhere

    def trade(self, listing: Listing, wallet: bytes, *, is_buy: bool, lamports: int = 0, token_amount: int = 0,
              outcome: Outcome = "ok", via: bytes | None = None, legacy_layout: bool = False,
              tip: bool | None = None, versioned: bool | None = None, fee_payer: bytes | None = None,
              kind: str | None = None, filler: bytes | None = None) -> SimulatedUpdate | None:
        """One spot trade of `listing` by `wallet` (buy spending `lamports`, or sell `token_amount`)."""
        self._fund(wallet)
        venue = listing.venue
        market = listing.market
        spend = 0
        if venue == "pumpfun" and self._curve_exhausted(market):
            return self.migrate(listing) if self._can_migrate(listing) else None
        if is_buy:
            lamports = self._spend(wallet, lamports)
            if lamports < 1_000_000:
                return None
            spend = self._quote_budget(listing, lamports)
            self._ensure_quote_account(wallet, listing, spend)
        elif token_amount <= 0:
            return None
        payer = fee_payer or wallet

        def body(b: TxBuilder) -> None:
            if filler is not None:
                fill_logs(b, filler, 300)
            if venue == "pumpfun":
                amount = pumpfun.tokens_for(b, market, spend) if is_buy else token_amount
                if amount > 0:
                    pumpfun.trade(b, market, wallet, is_buy=is_buy, token_amount=amount, outcome=outcome, via=via,
                                  legacy_layout=legacy_layout)
            elif venue == "pumpswap":
                amount = pumpswap.quote_for_spend(b, market, spend) if is_buy else token_amount
                if amount > 0:
                    pumpswap.swap(b, market, wallet, is_buy=is_buy, base_amount=amount, outcome=outcome, via=via,
                                  keep_wsol=not is_buy and outcome == "ok" and self.rng.random() < 0.1)
            elif venue == "launchlab":
                launchlab.trade(b, market, wallet, is_buy=is_buy, amount_in=spend if is_buy else token_amount,
                                outcome=outcome, via=via, legacy_layout=legacy_layout)
            else:
                amount = moonshot.tokens_for(market, spend) if is_buy else token_amount
                if amount > 0:
                    moonshot.trade(b, market, wallet, is_buy=is_buy, token_amount=amount, outcome=outcome, via=via)

        name = kind or f"{venue}.{'buy' if is_buy else 'sell'}"
        co_signers = (wallet,) if payer != wallet else ()
        if payer != wallet:
            self._fund(payer)
        built = self.transaction(payer, name, body, co_signers=co_signers, tip=tip, versioned=versioned)
        self._track_holder(listing, wallet)
        return built

    def _can_migrate(self, listing: Listing) -> bool:
        curve = listing.market
        raised = self.ledger.balance(curve.key) - pumpfun.CURVE_RENT
        return ("pumpswap" in self.programs and not curve.usdc and not curve.migrated
                and raised > pumpfun.POOL_MIGRATION_FEE + LAMPORTS_PER_SOL)

    def _curve_exhausted(self, curve: pumpfun.BondingCurve) -> bool:
        vault = self.ledger.tokens[curve.base_vault]
        return vault.amount - pumpfun.MIGRATION_RESERVE < pumpfun.INITIAL_REAL_TOKENS // 50

    def _track_holder(self, listing: Listing, wallet: bytes) -> None:
        account = self.keyring.ata(wallet, listing.asset.mint, listing.asset.program)
        found = self.ledger.tokens.get(account)
        if found is not None and found.amount > 0:
            listing.holders[wallet] = None
        else:
            listing.holders.pop(wallet, None)

    def holding(self, listing: Listing, wallet: bytes) -> int:
        found = self.ledger.tokens.get(self.keyring.ata(wallet, listing.asset.mint, listing.asset.program))
        return 0 if found is None else found.amount

    # ----- background flow -------------------------------------------------------------------

    def _pick_listing(self) -> Listing:
        rng = self.rng
        if rng.random() < 0.7:
            return rng.choices(self._popular, cum_weights=self._popular_weights)[0]
        return rng.choice(self.listings)

    def _pick_wallet(self) -> bytes:
        return self.rng.choices(self.wallets, cum_weights=self._wallet_weights)[0]

    def _size(self) -> int:
        sol = min(max(self.rng.lognormvariate(math.log(0.25), 1.1), 0.005), 25.0)
        return int(sol * LAMPORTS_PER_SOL)

    def _background(self) -> SimulatedUpdate | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.025 and "pumpfun" in self.programs:
            return self.launch_pumpfun()
        if roll < 0.03 and "launchlab" in self.programs:
            return self.launch_launchlab()
        listing = self._pick_listing()
        if listing.venue == "elsewhere" or listing.busy_until_ms > self.elapsed_ms:
            return None
        outcome: Outcome = "ok"
        variant = rng.random()
        if variant < 0.04:
            outcome = "failed"
        elif variant < 0.055:
            return self._fallback_trade(listing)
        if listing.holders and rng.random() < 0.45:
            wallet = rng.choice(list(listing.holders))
            held = self.holding(listing, wallet)
            amount = held if rng.random() < 0.4 else held * rng.choice((25, 50, 75)) // 100
            return self.trade(listing, wallet, is_buy=False, token_amount=amount, outcome=outcome,
                              via=self._maybe_router(), legacy_layout=self._legacy_layout(listing))
        wallet = self._pick_wallet()
        relayer = self._new_wallet(f"relayer/{next(self._labels)}", 2) if rng.random() < 0.02 else None
        return self.trade(listing, wallet, is_buy=True, lamports=self._size(), outcome=outcome,
                          via=self._maybe_router(), legacy_layout=self._legacy_layout(listing), fee_payer=relayer)

    def _maybe_router(self) -> bytes | None:
        return self.rng.choice(self.routers) if self.rng.random() < 0.12 else None

    def _legacy_layout(self, listing: Listing) -> bool:
        share = {"pumpfun": 0.08, "launchlab": 0.25}.get(listing.venue, 0)
        if listing.venue == "pumpfun" and listing.market.usdc:
            return False
        return self.rng.random() < share

    def _fallback_trade(self, listing: Listing) -> SimulatedUpdate | None:
        """A trade whose event a decoder cannot read: an unknown event, or Moonshot logs cut short.

        Built so the trader's own balance changes are the trade: the trader pays the fee, already
        holds the token account, and nothing else moves its SOL.
        """
        if listing.venue not in ("pumpfun", "pumpswap", "launchlab", "moonshot") or not listing.holders:
            return None
        if listing.asset.transfer_fee_bps or not self._quote_asset(listing).is_sol:
            return None
        rng = self.rng
        wallet = rng.choice(list(listing.holders))
        if self.keyring.ata(wallet, SOL.mint, SOL.program) in self.ledger.tokens:
            return None  # closing a WSOL account it already had would refund rent into the trade
        outcome: Outcome = "truncated_log" if listing.venue == "moonshot" and rng.random() < 0.7 else "unknown_event"
        filler = rng.choice(self.routers[1:]) if outcome == "truncated_log" else None
        if rng.random() < 0.5:
            return self.trade(listing, wallet, is_buy=True, lamports=self._size(), outcome=outcome, tip=False,
                              filler=filler, kind=f"{listing.venue}.{outcome}")
        return self.trade(listing, wallet, is_buy=False, token_amount=self.holding(listing, wallet) // 2,
                          outcome=outcome, tip=False, filler=filler, kind=f"{listing.venue}.{outcome}")

    # ----- launches and migrations -----------------------------------------------------------

    def launch_pumpfun(self, *, token_2022: bool | None = None, usdc: bool = False,
                       initial_buy: int | None = None) -> SimulatedUpdate:
        rng = self.rng
        creator = self._new_wallet(f"dev/{next(self._labels)}", rng.uniform(2, 30))
        if token_2022 is None:
            token_2022 = rng.random() < 0.5
        asset = self._new_asset(pumpfun.DECIMALS, token_2022=token_2022)
        curve = pumpfun.new_curve(self.keyring, asset, creator, USDC if usdc else SOL, cashback=rng.random() < 0.2)
        self._open_creator_vaults(curve)
        listing = Listing(asset, "pumpfun", curve)
        if usdc:
            self._ensure_quote_account(creator, listing, 10**9)
        symbol = _symbol(rng)
        spend = self._spend(creator, initial_buy if initial_buy is not None else
                            int(rng.uniform(0.1, 3) * LAMPORTS_PER_SOL))
        if usdc:
            spend = spend * USDC_PER_SOL // 1_000

        def body(b: TxBuilder) -> None:
            pumpfun.create(b, curve, creator, f"{symbol} coin", symbol)
            amount = pumpfun.tokens_for(b, curve, spend)
            pumpfun.trade(b, curve, creator, is_buy=True, token_amount=amount)

        built = self.transaction(creator, "pumpfun.create", body, co_signers=(asset.mint,), events=("create",))
        self.listings.append(listing)
        self._track_holder(listing, creator)
        return built

    def launch_launchlab(self, *, quote: Asset = SOL, legacy_layout: bool | None = None,
                         transfer_fee_bps: int = 0) -> SimulatedUpdate:
        rng = self.rng
        creator = self._new_wallet(f"bonk-dev/{next(self._labels)}", rng.uniform(2, 30))
        asset = self._new_asset(launchlab.DECIMALS, token_2022=transfer_fee_bps > 0,
                                transfer_fee_bps=transfer_fee_bps)
        virtual_quote = 30 * LAMPORTS_PER_SOL if quote is SOL else 1_500_000_000
        pool = launchlab.new_pool(self.keyring, asset, quote, creator, virtual_quote)
        if pool.creator_fee_vault not in self.ledger.tokens:
            self.ledger.open_token_account(pool.creator_fee_vault, keys.LAUNCHLAB_AUTHORITY, quote.mint,
                                           quote.program, quote.decimals, 0)
        listing = Listing(asset, "launchlab", pool)
        if legacy_layout is None:
            legacy_layout = rng.random() < 0.25
        spend = self._quote_budget(listing, self._spend(creator, int(rng.uniform(0.2, 2) * LAMPORTS_PER_SOL)))
        self._ensure_quote_account(creator, listing, spend)
        symbol = _symbol(rng)

        def body(b: TxBuilder) -> None:
            launchlab.initialize(b, pool, creator, f"{symbol} bonk", symbol, legacy_layout)
            launchlab.trade(b, pool, creator, is_buy=True, amount_in=spend, legacy_layout=legacy_layout)

        built = self.transaction(creator, "launchlab.create", body, co_signers=(asset.mint,), events=("create",))
        self.listings.append(listing)
        self._track_holder(listing, creator)
        return built

    def migrate(self, listing: Listing) -> SimulatedUpdate:
        curve = listing.market
        pool = pumpswap.new_pool(self.keyring, listing.asset, keys.pda(keys.PUMPFUN_PROGRAM, b"pool-authority",
                                                                       listing.asset.mint), curve.creator)

        def body(b: TxBuilder) -> None:
            pumpfun.migrate(b, curve, pool, self.migration_authority)

        built = self.transaction(self.migration_authority, "pumpfun.migrate", body,
                                 events=("migrate", "create_pool"))
        if not built.update.transaction.transaction.meta.HasField("err"):
            curve.migrated = True
            listing.venue, listing.market = "pumpswap", pool
            self._open_pool_creator_vault(pool)
        return built

    # ----- recurring episodes ------------------------------------------------------------------

    def _schedule_recurring(self) -> None:
        spot = [v for v in ("pumpswap", "launchlab", "moonshot") if v in self.programs]
        if spot:
            self.at(8_000, self._breakout_episode)
            self.at(30_000, self._focused_episode)
        if self.listings and any(lst.venue != "elsewhere" for lst in self.listings):
            self.at(15_000, self._bot_episode)
        if "jupiter_dca" in self.programs:
            self.at(3_000, self._dca_episode)
        if "pumpfun" in self.programs and "pumpswap" in self.programs:
            self.at(45_000, self._migration_episode)

    def _quiet_listing(self, venues: tuple[str, ...]) -> Listing | None:
        candidates = [lst for lst in self.listings if lst.venue in venues and lst.busy_until_ms <= self.elapsed_ms
                      and not lst.asset.transfer_fee_bps and self._quote_asset(lst).is_sol]
        if not candidates:
            return None
        # The least popular half: a breakout should stand out against a quiet past.
        return self.rng.choice(candidates[len(candidates) // 2:] or candidates)

    def _episode_wallets(self, count: int) -> list[bytes]:
        episode = next(self._labels)
        return [self._new_wallet(f"episode/{episode}/{i}", self.rng.uniform(20, 80)) for i in range(count)]

    def _breakout_episode(self) -> None:
        """Many fresh wallets pile into one quiet mint within a minute; DCA orders fill alongside."""
        rng = self.rng
        self.at(rng.randrange(90_000, 130_000), self._breakout_episode)
        listing = self._quiet_listing(tuple(v for v in ("pumpswap", "launchlab", "moonshot") if v in self.programs))
        if listing is None:
            return None
        listing.busy_until_ms = self.elapsed_ms + 100_000
        buyers = self._episode_wallets(rng.randrange(8, 14))
        for i in range(rng.randrange(12, 18)):
            wallet = buyers[i % len(buyers)]
            size = int(rng.uniform(0.7, 1.6) * LAMPORTS_PER_SOL)
            self.at(rng.randrange(0, 40_000), lambda w=wallet, s=size: self.trade(
                listing, w, is_buy=True, lamports=s, kind=f"{listing.venue}.breakout"))
        seller = buyers[0]
        self.at(rng.randrange(70_000, 90_000), lambda: self.trade(
            listing, seller, is_buy=False, token_amount=self.holding(listing, seller) // 2,
            kind=f"{listing.venue}.breakout"))
        if "jupiter_dca" in self.programs:
            for _ in range(2):
                self._open_dca_on(listing, delay_ms=rng.randrange(0, 3_000), first_fill_ms=rng.randrange(8_000, 30_000),
                                  cycle_s=rng.choice((15, 20, 30)), cycles=rng.randrange(2, 5))
        return None

    def _focused_episode(self) -> None:
        """Two or three wallets accumulate one quiet mint over a few minutes, without bot patterns."""
        rng = self.rng
        self.at(rng.randrange(120_000, 180_000), self._focused_episode)
        listing = self._quiet_listing(tuple(v for v in ("pumpswap", "launchlab", "moonshot") if v in self.programs))
        if listing is None:
            return None
        listing.busy_until_ms = self.elapsed_ms + 200_000
        for wallet in self._episode_wallets(rng.randrange(2, 4)):
            for _ in range(rng.randrange(2, 4)):
                size = int(rng.uniform(0.8, 1.8) * LAMPORTS_PER_SOL)
                self.at(rng.randrange(0, 150_000), lambda w=wallet, s=size: self.trade(
                    listing, w, is_buy=True, lamports=s, kind=f"{listing.venue}.focused"))
        return None

    def _bot_episode(self) -> None:
        """A bot wallet trades one mint every second or so: alternating sides, identical amounts."""
        rng = self.rng
        self.at(rng.randrange(80_000, 140_000), self._bot_episode)
        candidates = [lst for lst in self._popular[: max(len(self._popular) // 3, 1)]
                      if lst.venue != "elsewhere" and self._quote_asset(lst).is_sol and not lst.asset.transfer_fee_bps]
        if not candidates:
            return None
        listing = rng.choice(candidates)
        bot = self._new_wallet(f"bot/{next(self._labels)}", 200)
        router = rng.choice(self.routers) if rng.random() < 0.5 else None
        size = rng.choice((100_000_000, 250_000_000, 500_000_000))
        start = 0
        for i in range(rng.randrange(14, 24)):
            start += rng.randrange(400, 1_300)
            if i % 2 == 0:
                self.at(start, lambda: self.trade(listing, bot, is_buy=True, lamports=size, via=router,
                                                  kind=f"{listing.venue}.bot"))
            else:
                self.at(start, lambda: self.trade(listing, bot, is_buy=False,
                                                  token_amount=self.holding(listing, bot), via=router,
                                                  kind=f"{listing.venue}.bot"))
        return None

    def _migration_episode(self) -> SimulatedUpdate | None:
        self.at(self.rng.randrange(150_000, 240_000), self._migration_episode)
        curves = [lst for lst in self.listings if lst.venue == "pumpfun" and self._can_migrate(lst)
                  and lst.busy_until_ms <= self.elapsed_ms]
        if not curves:
            return None
        richest = max(curves, key=lambda lst: self.ledger.balance(lst.market.key))
        return self.migrate(richest)

    def _dca_episode(self) -> None:
        """A new DCA order on a traded mint every so often: mostly SOL→token, some token→SOL and USDC."""
        rng = self.rng
        self.at(rng.randrange(20_000, 60_000), self._dca_episode)
        spot = [lst for lst in self._popular[:20] if lst.venue != "elsewhere" or len(self.listings) <= 5]
        listing = rng.choice(spot or self.listings)
        self._open_dca_on(listing, delay_ms=0, first_fill_ms=rng.randrange(20_000, 60_000),
                          cycle_s=rng.choice((60, 120, 300)), cycles=rng.randrange(3, 8))
        return None

    def _open_dca_on(self, listing: Listing, *, delay_ms: int, first_fill_ms: int, cycle_s: int,
                     cycles: int) -> None:
        rng = self.rng
        user = self._new_wallet(f"dca-user/{next(self._labels)}", rng.uniform(20, 100))
        roll = rng.random()
        if roll < 0.75:
            inp, out, deposit = SOL, listing.asset, int(rng.uniform(0.3, 1.2) * cycles * LAMPORTS_PER_SOL)
        elif roll < 0.9:
            inp, out, deposit = USDC, listing.asset, int(rng.uniform(50, 200) * cycles * 10**6)
            self._open_user_account(user, USDC, deposit)
        else:
            inp, out = listing.asset, SOL
            deposit = 10**listing.asset.decimals * rng.randrange(100_000, 5_000_000)
            self._open_user_account(user, inp, deposit)
        dca = jupiter_dca.new_dca(self.keyring, user, inp, out, deposit, cycles, cycle_s, self.block_time + delay_ms // 1000,
                                  next(self._labels))
        for asset in (inp, out):
            self._open_keeper_accounts(asset)

        def open_order() -> SimulatedUpdate:
            built = self.transaction(user, "jupiter_dca.open", lambda b: jupiter_dca.open_dca(b, dca),
                                     events=("dca_open",))
            if not built.update.transaction.transaction.meta.HasField("err"):
                self.dcas.append(dca)
                for cycle in range(cycles):
                    self.at(first_fill_ms + cycle * cycle_s * 1_000, lambda: self._fill(dca))
                self.at(first_fill_ms + cycles * cycle_s * 1_000 + rng.randrange(5_000, 60_000),
                        lambda: self._close(dca))
            return built

        self.at(delay_ms, open_order)

    def _open_user_account(self, user: bytes, asset: Asset, amount: int) -> None:
        account = self.keyring.ata(user, asset.mint, asset.program)
        if account not in self.ledger.tokens:
            self.ledger.open_token_account(account, user, asset.mint, asset.program, asset.decimals, amount)

    def _open_keeper_accounts(self, asset: Asset) -> None:
        for owner, amount in ((self.keeper, 0), (self.amm, 10**(asset.decimals + 7))):
            account = self.keyring.ata(owner, asset.mint, asset.program)
            if account not in self.ledger.tokens:
                self.ledger.open_token_account(account, owner, asset.mint, asset.program, asset.decimals, amount)
        authority, fee_account = jupiter_dca.fee_accounts(self.keyring, asset)
        if fee_account not in self.ledger.tokens:
            self.ledger.open_token_account(fee_account, authority, asset.mint, asset.program, asset.decimals, 0)

    def _fill(self, dca: jupiter_dca.Dca, outcome: Outcome = "ok") -> SimulatedUpdate | None:
        if dca.remaining <= 0:
            return None
        in_amount = min(dca.per_cycle, dca.remaining)
        gross_out = self._dca_quote(dca, in_amount)
        if outcome == "ok" and self.rng.random() < 0.03:
            outcome = "failed"
        return self.transaction(self.keeper, "jupiter_dca.fill",
                                lambda b: jupiter_dca.fill(b, dca, self.keeper, self.amm, gross_out, outcome))

    def _dca_quote(self, dca: jupiter_dca.Dca, in_amount: int) -> int:
        """What the keeper's route returns: priced like the token's spot market, give or take."""
        rng = self.rng
        token = dca.output if not dca.output.is_sol else dca.input
        per_sol_tokens = 10**token.decimals * rng.uniform(20_000, 40_000)
        if dca.input.is_sol:
            return max(int(in_amount / LAMPORTS_PER_SOL * per_sol_tokens), 1)
        if dca.input is USDC:
            return max(int(in_amount / 10**6 / USDC_PER_SOL * per_sol_tokens), 1)
        return max(int(in_amount / per_sol_tokens * LAMPORTS_PER_SOL), 1)

    def _close(self, dca: jupiter_dca.Dca) -> SimulatedUpdate:
        built = self.transaction(dca.user, "jupiter_dca.close", lambda b: jupiter_dca.close_dca(b, dca),
                                 events=("dca_close",))
        if dca in self.dcas:
            self.dcas.remove(dca)
        return built


def _symbol(rng) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randrange(3, 6)))
