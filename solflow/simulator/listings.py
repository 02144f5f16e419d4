"""Where mints trade: markets that existed before the simulation, new launches, curves that sell out,
migrations, and liquidity providers.

A pre-existing market's accounts (curve lamports, vault balances) are opened in the ledger directly,
consistent with the reserves its price curve implies; launches and migrations are transactions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from solflow.simulator import keys, launchlab, moonshot, pumpfun, pumpswap
from solflow.simulator.common import SOL, USDC, Asset
from solflow.simulator.tx import TxBuilder

if TYPE_CHECKING:
    from solflow.simulator.market import Market, SimulatedUpdate

LAMPORTS_PER_SOL = 1_000_000_000
USDC_PER_SOL = 150
XSTOCK_PER_SOL = 0.5
XSTOCK_VIRTUAL_QUOTE = 1_500_000_000  # 15 xStock units (8 decimals), about 30 SOL
SOL_VIRTUAL_QUOTE = 30 * LAMPORTS_PER_SOL


class Holders:
    """The wallets holding a token: O(1) to add, drop, or pick one at random."""

    __slots__ = ("_wallets", "_position")

    def __init__(self) -> None:
        self._wallets: list[bytes] = []
        self._position: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._wallets)

    def add(self, wallet: bytes) -> None:
        if wallet not in self._position:
            self._position[wallet] = len(self._wallets)
            self._wallets.append(wallet)

    def discard(self, wallet: bytes) -> None:
        position = self._position.pop(wallet, None)
        if position is not None:
            last = self._wallets.pop()
            if last != wallet:
                self._wallets[position] = last
                self._position[last] = position

    def pick(self, rng) -> bytes:
        return self._wallets[rng.randrange(len(self._wallets))]


@dataclass(eq=False)
class Listing:
    """A mint and the venue it trades on now (pump.fun curves move to PumpSwap when they migrate)."""

    asset: Asset
    venue: str  # pumpfun | pumpswap | launchlab | moonshot | elsewhere (only DCA orders trade it)
    # The venue's state (pumpfun.BondingCurve, pumpswap.Pool, launchlab.Pool, moonshot.Curve; None
    # elsewhere): `venue` says which, so code dispatching on the venue uses it as that type.
    market: Any
    holders: Holders = field(default_factory=Holders)
    busy_until_ms: int = 0  # an episode owns this mint until then

    @property
    def quote(self) -> Asset:
        market = self.market
        if isinstance(market, (pumpfun.BondingCurve, pumpswap.Pool, launchlab.Pool)):
            return market.quote
        return SOL

    @property
    def plain(self) -> bool:
        """SOL-quoted, no transfer fee: the trader's balance changes are exactly the trade."""
        return self.venue != "elsewhere" and self.quote.is_sol and not self.asset.transfer_fee_bps


def new_asset(market: Market, decimals: int, token_2022: bool = False, transfer_fee_bps: int = 0) -> Asset:
    mint = market.keyring.fresh(f"mint/{market.label()}")
    program = keys.TOKEN_2022_PROGRAM if token_2022 or transfer_fee_bps else keys.TOKEN_PROGRAM
    return Asset(mint, decimals, program, transfer_fee_bps)


def existing(
    market: Market,
    venue: str,
    *,
    quote: Asset | None = None,
    token_2022: bool | None = None,
    transfer_fee_bps: int | None = None,
) -> Listing:
    """A market that already traded before the simulation starts: its accounts hold its reserves.

    Unset options are drawn at random (USDC pump.fun curves, xStock-quoted LetsBonk pools,
    Token-2022 mints, transfer-fee mints each take a share).
    """
    rng = market.rng
    creator = market.keyring.fresh(f"creator/{market.label()}")
    if token_2022 is None:
        token_2022 = rng.random() < 0.3
    if venue == "pumpfun":
        if quote is None:
            quote = USDC if rng.random() < 0.06 else SOL
        return _existing_curve(market, creator, quote, token_2022)
    if venue == "pumpswap":
        asset = new_asset(market, 6, token_2022=token_2022)
        pool = pumpswap.new_pool(market.keyring, asset, market.keyring.fresh(f"pool-creator/{market.label()}"), creator)
        open_pool_accounts(
            market, pool, int(rng.uniform(60, 2_000) * LAMPORTS_PER_SOL), int(rng.uniform(50, 250) * 10**12)
        )
        return Listing(asset, venue, pool)
    if venue == "launchlab":
        roll = rng.random()
        if quote is None:
            quote = market.xstock if roll < 0.15 else SOL
        if transfer_fee_bps is None:
            transfer_fee_bps = rng.choice((100, 300)) if 0.15 <= roll < 0.27 else 0
        return _existing_launchlab_pool(market, creator, quote, token_2022, transfer_fee_bps)
    asset = new_asset(market, moonshot.DECIMALS)
    curve = moonshot.new_curve(market.keyring, asset)
    curve.sold = int(moonshot.CURVE_TOKENS * rng.uniform(0.01, 0.5))
    market.ledger.open_token_account(
        curve.token_account, curve.key, asset.mint, asset.program, asset.decimals, moonshot.CURVE_TOKENS - curve.sold
    )
    return Listing(asset, "moonshot", curve)


def _existing_curve(market: Market, creator: bytes, quote: Asset, token_2022: bool) -> Listing:
    rng = market.rng
    ledger = market.ledger
    usdc = quote is USDC
    asset = new_asset(market, pumpfun.DECIMALS, token_2022=token_2022)
    curve = pumpfun.new_curve(market.keyring, asset, creator, quote, cashback=rng.random() < 0.2)
    raised = int(rng.uniform(0.5, 60) * (USDC_PER_SOL * 10**6 if usdc else LAMPORTS_PER_SOL))
    virtual_quote = pumpfun.INITIAL_VIRTUAL_USDC if usdc else pumpfun.INITIAL_VIRTUAL_SOL
    sold = pumpfun.INITIAL_VIRTUAL_TOKENS - pumpfun.INITIAL_VIRTUAL_TOKENS * virtual_quote // (virtual_quote + raised)
    ledger.open_token_account(
        curve.base_vault, curve.key, asset.mint, asset.program, asset.decimals, pumpfun.TOTAL_SUPPLY - sold
    )
    if usdc:
        ledger.lamports[curve.key] = pumpfun.CURVE_RENT
        ledger.open_token_account(curve.usdc_vault, curve.key, USDC.mint, USDC.program, USDC.decimals, raised)
    else:
        ledger.lamports[curve.key] = pumpfun.CURVE_RENT + raised
    open_creator_vaults(market, curve)
    return Listing(asset, "pumpfun", curve)


def _existing_launchlab_pool(
    market: Market, creator: bytes, quote: Asset, token_2022: bool, transfer_fee_bps: int
) -> Listing:
    ledger = market.ledger
    asset = new_asset(market, launchlab.DECIMALS, token_2022=token_2022, transfer_fee_bps=transfer_fee_bps)
    virtual_quote = SOL_VIRTUAL_QUOTE if quote.is_sol else XSTOCK_VIRTUAL_QUOTE
    pool = launchlab.new_pool(market.keyring, asset, quote, creator, virtual_quote)
    raised = int(virtual_quote * market.rng.uniform(0.02, 1.5))
    pool.real_quote = raised
    pool.real_base = launchlab.VIRTUAL_BASE - launchlab.VIRTUAL_BASE * virtual_quote // (virtual_quote + raised)
    ledger.open_token_account(
        pool.base_vault,
        keys.LAUNCHLAB_AUTHORITY,
        asset.mint,
        asset.program,
        asset.decimals,
        launchlab.SUPPLY - pool.real_base,
    )
    ledger.open_token_account(
        pool.quote_vault, keys.LAUNCHLAB_AUTHORITY, quote.mint, quote.program, quote.decimals, raised
    )
    open_creator_fee_vault(market, pool)
    return Listing(asset, "launchlab", pool)


def open_creator_vaults(market: Market, curve: pumpfun.BondingCurve) -> None:
    """A USDC curve's creator collects fees in a USDC account (SOL curves: the vault's lamports)."""
    if curve.usdc:
        account = market.keyring.ata(curve.creator_vault, USDC.mint, USDC.program)
        market.ledger.open_token_account(account, curve.creator_vault, USDC.mint, USDC.program, USDC.decimals, 0)


def open_creator_fee_vault(market: Market, pool: launchlab.Pool) -> None:
    if pool.creator_fee_vault not in market.ledger.tokens:
        quote = pool.quote
        market.ledger.open_token_account(
            pool.creator_fee_vault, keys.LAUNCHLAB_AUTHORITY, quote.mint, quote.program, quote.decimals, 0
        )


def open_pool_accounts(market: Market, pool: pumpswap.Pool, quote: int, base: int) -> None:
    ledger = market.ledger
    pool.lp_supply = math.isqrt(base * quote)
    ledger.open_token_account(pool.base_vault, pool.key, pool.base.mint, pool.base.program, pool.base.decimals, base)
    ledger.open_token_account(pool.quote_vault, pool.key, SOL.mint, SOL.program, SOL.decimals, quote)
    open_pool_creator_vault(market, pool)


def open_pool_creator_vault(market: Market, pool: pumpswap.Pool) -> None:
    if pool.creator_vault not in market.ledger.tokens:
        market.ledger.open_token_account(
            pool.creator_vault, pool.creator_vault_authority, SOL.mint, SOL.program, SOL.decimals, 0
        )


def launch_pumpfun(market: Market, *, token_2022: bool | None = None, usdc: bool = False) -> SimulatedUpdate:
    """`create` / `create_v2` and the creator's first buy, in one transaction signed by the new mint."""
    rng = market.rng
    creator = market.new_wallet(f"dev/{market.label()}", rng.uniform(2, 30))
    if token_2022 is None:
        token_2022 = rng.random() < 0.5
    asset = new_asset(market, pumpfun.DECIMALS, token_2022=token_2022)
    quote = USDC if usdc else SOL
    curve = pumpfun.new_curve(market.keyring, asset, creator, quote, cashback=rng.random() < 0.2)
    open_creator_vaults(market, curve)
    listing = Listing(asset, "pumpfun", curve)
    spend = market.quote_budget(listing, market.affordable(creator, int(rng.uniform(0.1, 3) * LAMPORTS_PER_SOL)))
    market.ensure_quote_account(creator, listing, spend)
    symbol = _symbol(market)

    def body(b: TxBuilder) -> None:
        pumpfun.create(b, curve, creator, f"{symbol} coin", symbol)
        pumpfun.trade(b, curve, creator, is_buy=True, token_amount=pumpfun.tokens_for(b, curve, spend))

    built = market.transaction(
        creator,
        "pumpfun.create",
        body,
        co_signers=(asset.mint,),
    )
    market.add_listing(listing)
    market.track_holder(listing, creator)
    return built


def launch_launchlab(
    market: Market, *, quote: Asset = SOL, legacy_layout: bool | None = None, transfer_fee_bps: int = 0
) -> SimulatedUpdate:
    """`initialize_v2` of a LetsBonk pool and the creator's first buy, signed by the new mint."""
    rng = market.rng
    creator = market.new_wallet(f"bonk-dev/{market.label()}", rng.uniform(2, 30))
    asset = new_asset(market, launchlab.DECIMALS, transfer_fee_bps=transfer_fee_bps)
    virtual_quote = SOL_VIRTUAL_QUOTE if quote.is_sol else XSTOCK_VIRTUAL_QUOTE
    pool = launchlab.new_pool(market.keyring, asset, quote, creator, virtual_quote)
    open_creator_fee_vault(market, pool)
    listing = Listing(asset, "launchlab", pool)
    if legacy_layout is None:
        legacy_layout = rng.random() < 0.25
    spend = market.quote_budget(listing, market.affordable(creator, int(rng.uniform(0.2, 2) * LAMPORTS_PER_SOL)))
    market.ensure_quote_account(creator, listing, spend)
    symbol = _symbol(market)

    def body(b: TxBuilder) -> None:
        launchlab.initialize(b, pool, creator, f"{symbol} bonk", symbol, legacy_layout)
        launchlab.trade(b, pool, creator, is_buy=True, amount_in=spend, legacy_layout=legacy_layout)

    built = market.transaction(
        creator,
        "launchlab.create",
        body,
        co_signers=(asset.mint,),
    )
    market.add_listing(listing)
    market.track_holder(listing, creator)
    return built


def can_migrate(market: Market, listing: Listing) -> bool:
    curve = listing.market
    if listing.venue != "pumpfun" or curve.usdc or curve.migrated or "pumpswap" not in market.programs:
        return False
    raised = market.ledger.balance(curve.key) - pumpfun.CURVE_RENT
    return raised > pumpfun.POOL_MIGRATION_FEE + LAMPORTS_PER_SOL


def curve_exhausted(market: Market, curve: pumpfun.BondingCurve) -> bool:
    left = market.ledger.tokens[curve.base_vault].amount - pumpfun.MIGRATION_RESERVE
    return left < pumpfun.COMPLETE_BELOW


def completes(listing: Listing, spend: int) -> bool:
    """Whether a buy spending `spend` would take a LetsBonk pool or Moonshot curve past its sale."""
    if listing.venue == "launchlab":
        return launchlab.buy_amount_out(listing.market, spend) >= launchlab.unsold(listing.market)
    if listing.venue == "moonshot":
        return moonshot.tokens_for(listing.market, spend) >= moonshot.unsold(listing.market)
    return False


def retire(listing: Listing) -> None:
    """A completed curve or pool whose liquidity moved to an AMM SolFlow does not track."""
    listing.venue = "elsewhere"


def complete(market: Market, listing: Listing) -> SimulatedUpdate | None:
    """A LetsBonk pool or Moonshot curve sells out. LetsBonk: a buyer takes every token left (the pool
    stops trading) and Raydium migrates it to a CPMM pool a few seconds later. Moonshot: its backend
    migrates the curve at once. Either way SolFlow stops following the mint."""
    if listing.venue == "moonshot":
        authority = market.new_wallet("moonshot/backend-authority", 5)
        built = market.transaction(
            authority,
            "moonshot.migrate",
            lambda b: moonshot.migrate_funds(b, listing.market, authority, market.keyring.fresh("moonshot/migration")),
        )
        retire(listing)
        return built
    pool = listing.market
    whale = market.new_wallet(f"bonk-whale/{market.label()}", 5)
    cost = launchlab.completion_cost(pool)
    if pool.quote.is_sol:
        market.ledger.lamports[whale] += cost
    else:
        market.ensure_quote_account(whale, listing, cost)
    built = market.transaction(
        whale,
        "launchlab.complete",
        lambda b: launchlab.trade(b, pool, whale, is_buy=True, amount_in=0, complete=True),
    )
    market.track_holder(listing, whale)
    if pool.completed:
        market.at(market.rng.randrange(2_000, 12_000), lambda: migrate_launchlab(market, listing))
    return built


def migrate_launchlab(market: Market, listing: Listing) -> SimulatedUpdate:
    migrator = market.new_wallet("launchlab/migrator", 20)
    built = market.transaction(
        migrator, "launchlab.migrate", lambda b: launchlab.migrate_to_cpswap(b, listing.market, migrator)
    )
    retire(listing)
    return built


def launch_moonshot(market: Market) -> SimulatedUpdate:
    """`tokenMint` and the creator's first buy, signed by the new mint."""
    rng = market.rng
    creator = market.new_wallet(f"moon-dev/{market.label()}", rng.uniform(2, 20))
    asset = new_asset(market, moonshot.DECIMALS)
    curve = moonshot.new_curve(market.keyring, asset)
    listing = Listing(asset, "moonshot", curve)
    spend = market.affordable(creator, int(rng.uniform(0.1, 2) * LAMPORTS_PER_SOL))
    symbol = _symbol(market)

    def body(b: TxBuilder) -> None:
        moonshot.token_mint(b, curve, creator, f"{symbol} moon", symbol)
        moonshot.trade(b, curve, creator, is_buy=True, token_amount=moonshot.tokens_for(curve, spend))

    built = market.transaction(creator, "moonshot.create", body, co_signers=(asset.mint,))
    market.add_listing(listing)
    market.track_holder(listing, creator)
    return built


def change_liquidity(market: Market, listing: Listing, withdraw: bool | None = None) -> SimulatedUpdate | None:
    """A PumpSwap liquidity provider: one that holds LP tokens withdraws some (half the time, or when
    `withdraw`), else a holder of the token deposits half of it with the matching SOL."""
    rng = market.rng
    if withdraw is None:
        withdraw = rng.random() < 0.5
    if withdraw and not listing.market.providers:  # someone else's pool, where a provider may leave
        provided = [other for other in market.listings if other.venue == "pumpswap" and other.market.providers]
        listing = rng.choice(provided) if provided else listing
    pool = listing.market
    if pool.providers and withdraw:
        provider = rng.choice(sorted(pool.providers))
        lp_amount = pool.providers[provider] * rng.choice((25, 50, 100)) // 100
        deposit = False
    elif listing.holders:
        provider = listing.holders.pick(rng)
        base_reserve = market.ledger.tokens[pool.base_vault].amount
        lp_amount = market.holding(listing, provider) // 2 * pool.lp_supply // base_reserve
        quote_needed = lp_amount * market.ledger.tokens[pool.quote_vault].amount // pool.lp_supply + 1
        if market.affordable(provider, quote_needed) < quote_needed:
            return None
        deposit = True
    else:
        return None
    if lp_amount <= 0:
        return None
    built = market.transaction(
        provider,
        f"pumpswap.{'deposit' if deposit else 'withdraw'}",
        lambda b: pumpswap.liquidity(b, pool, provider, deposit=deposit, lp_amount=lp_amount),
    )
    market.track_holder(listing, provider)
    return built


def migrate(market: Market, listing: Listing) -> SimulatedUpdate:
    """pump.fun `migrate`: the curve's reserves seed a PumpSwap pool, where the mint trades from now on."""
    curve = listing.market
    pool_authority = keys.pda(keys.PUMPFUN_PROGRAM, b"pool-authority", listing.asset.mint)
    pool = pumpswap.new_pool(market.keyring, listing.asset, pool_authority, curve.creator)
    built = market.transaction(
        market.migration_authority,
        "pumpfun.migrate",
        lambda b: pumpfun.migrate(b, curve, pool, market.migration_authority),
    )
    if built.events:  # the migration went through
        curve.migrated = True
        listing.venue, listing.market = "pumpswap", pool
        open_pool_creator_vault(market, pool)
    return built


def _symbol(market: Market) -> str:
    rng = market.rng
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randrange(3, 6)))
