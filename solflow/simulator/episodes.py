"""Scripted episodes: the patterns the aggregation and signals must notice, recurring through the run.

* breakout: 8–13 fresh wallets buy one quiet mint 12–17 times within 40 s, ~0.7–1.6 SOL each (net
  inflow well over 5 SOL in 60 s from ≥ 5 wallets, buy ratio 1, and far above the mint's 5-minute
  average: BREAKOUT and SURGE), while DCA orders on the same mint fill (DCA_CONVICTION);
* focused: 2–3 wallets accumulate one quiet mint, 2–3 buys each over ~2.5 minutes (FOCUSED);
* bot: one wallet trades a popular mint every ~0.4–1.3 s, alternating buy and sell of identical
  amounts, 14–23 times, half the time through a router (every bot rule; BOT_DROPOFF when it stops);
* graduation, in turn on each launchpad: the pump.fun curve that raised most sells out to a whale
  (CompleteEvent) and moves to PumpSwap seconds later; a LetsBonk pool sells out and migrates to a
  Raydium CPMM pool; a Moonshot curve sells out and its backend migrates it;
* DCA: a new order on a popular mint every 20–60 s; and from the start, orders buying USDC and the
  xStock with SOL, renewed as they end: the stream's own rates of the quote assets.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from solflow.simulator import listings as venues
from solflow.simulator import orders
from solflow.simulator.common import USDC
from solflow.simulator.listings import LAMPORTS_PER_SOL, Listing, can_migrate, migrate

if TYPE_CHECKING:
    from solflow.simulator.market import Market, SimulatedUpdate

SPOT_VENUES = ("pumpswap", "launchlab", "moonshot")  # what DCA_CONVICTION counts as spot


def schedule_recurring(market: Market) -> None:
    programs = market.programs
    if any(venue in programs for venue in SPOT_VENUES):
        market.at(8_000, lambda: breakout(market))
        market.at(30_000, lambda: focused(market))
    if any(listing.venue != "elsewhere" for listing in market.listings):
        market.at(15_000, lambda: bot(market))
    if "jupiter_dca" in programs:
        market.at(3_000, lambda: dca_order(market))
        market.at(500, lambda: quote_asset_orders(market))
    market.at(45_000, lambda: graduation(market, 0))


def _quiet_listing(market: Market) -> Listing | None:
    """A plain spot mint nobody scripted lately, from the less popular half: a quiet past."""
    candidates = [
        listing
        for listing in market.listings
        if listing.venue in SPOT_VENUES and listing.plain and listing.busy_until_ms <= market.elapsed_ms
    ]
    if not candidates:
        return None
    return market.rng.choice(candidates[len(candidates) // 2 :] or candidates)


def _fresh_wallets(market: Market, count: int) -> list[bytes]:
    episode = market.label()
    return [market.new_wallet(f"episode/{episode}/{i}", market.rng.uniform(20, 80)) for i in range(count)]


def breakout(market: Market) -> None:
    rng = market.rng
    market.at(rng.randrange(90_000, 130_000), lambda: breakout(market))
    listing = _quiet_listing(market)
    if listing is None:
        return
    listing.busy_until_ms = market.elapsed_ms + 100_000
    kind = f"{listing.venue}.breakout"
    buyers = _fresh_wallets(market, rng.randrange(8, 14))
    for i in range(rng.randrange(12, 18)):
        wallet, size = buyers[i % len(buyers)], int(rng.uniform(0.7, 1.6) * LAMPORTS_PER_SOL)
        market.at(
            rng.randrange(0, 40_000),
            partial(market.trade, listing, wallet, is_buy=True, lamports=size, kind=kind),
        )
    seller = buyers[0]
    market.at(
        rng.randrange(70_000, 90_000),
        lambda: market.trade(
            listing, seller, is_buy=False, token_amount=market.holding(listing, seller) // 2, kind=kind
        ),
    )
    if "jupiter_dca" in market.programs:
        for _ in range(2):
            orders.schedule(
                market,
                listing.asset,
                delay_ms=rng.randrange(0, 3_000),
                first_fill_ms=rng.randrange(8_000, 30_000),
                cycle_s=rng.choice((15, 20, 30)),
                cycles=rng.randrange(2, 5),
            )


def focused(market: Market) -> None:
    rng = market.rng
    market.at(rng.randrange(120_000, 180_000), lambda: focused(market))
    listing = _quiet_listing(market)
    if listing is None:
        return
    listing.busy_until_ms = market.elapsed_ms + 200_000
    kind = f"{listing.venue}.focused"
    for wallet in _fresh_wallets(market, rng.randrange(2, 4)):
        for _ in range(rng.randrange(2, 4)):
            size = int(rng.uniform(0.8, 1.8) * LAMPORTS_PER_SOL)
            market.at(
                rng.randrange(0, 150_000),
                partial(market.trade, listing, wallet, is_buy=True, lamports=size, kind=kind),
            )


def bot(market: Market) -> None:
    rng = market.rng
    market.at(rng.randrange(80_000, 140_000), lambda: bot(market))
    popular = market.popular[: max(len(market.popular) // 3, 1)]
    candidates = [listing for listing in popular if listing.plain]
    if not candidates:
        return
    listing = rng.choice(candidates)
    wallet = market.new_wallet(f"bot/{market.label()}", 200)
    router = rng.choice(market.routers) if rng.random() < 0.5 else None
    size = rng.choice((100_000_000, 250_000_000, 500_000_000))
    kind = f"{listing.venue}.bot"
    at_ms = 0
    for i in range(rng.randrange(14, 24)):
        at_ms += rng.randrange(400, 1_300)
        if i % 2 == 0:
            market.at(at_ms, lambda: market.trade(listing, wallet, is_buy=True, lamports=size, via=router, kind=kind))
        else:
            market.at(
                at_ms,
                lambda: market.trade(
                    listing, wallet, is_buy=False, via=router, kind=kind, token_amount=market.holding(listing, wallet)
                ),
            )


def graduation(market: Market, turn: int) -> SimulatedUpdate | None:
    market.at(market.rng.randrange(60_000, 90_000), lambda: graduation(market, turn + 1))
    venue = ("pumpfun", "launchlab", "moonshot")[turn % 3]
    if venue not in market.programs:
        return None
    if venue == "pumpfun":
        return _pumpfun_graduation(market) if "pumpswap" in market.programs else None
    open_sales = [
        listing
        for listing in market.listings
        if listing.venue == venue
        and listing.plain
        and not getattr(listing.market, "completed", False)
        and listing.busy_until_ms <= market.elapsed_ms
    ]
    if not open_sales:
        return None
    return venues.complete(market, market.rng.choice(open_sales))


def _pumpfun_graduation(market: Market) -> SimulatedUpdate | None:
    curves = [
        listing
        for listing in market.listings
        if can_migrate(market, listing) and listing.busy_until_ms <= market.elapsed_ms
    ]
    if not curves:
        return None
    listing = max(curves, key=lambda listing: market.ledger.balance(listing.market.key))
    whale = market.new_wallet(f"whale/{market.label()}", 200)
    built = market.trade(listing, whale, is_buy=True, lamports=150 * LAMPORTS_PER_SOL, tip=False, outcome="ok")

    def graduate() -> SimulatedUpdate | None:
        return migrate(market, listing) if can_migrate(market, listing) else None

    listing.busy_until_ms = market.elapsed_ms + 30_000  # nobody else trades the sold-out curve
    market.at(market.rng.randrange(2_000, 10_000), graduate)
    return built


def dca_order(market: Market) -> None:
    rng = market.rng
    market.at(rng.randrange(20_000, 60_000), lambda: dca_order(market))
    traded = [listing for listing in market.popular[:20] if listing.venue != "elsewhere"]
    listing = rng.choice(traded or market.listings)
    orders.schedule(
        market,
        listing.asset,
        delay_ms=0,
        first_fill_ms=rng.randrange(20_000, 60_000),
        cycle_s=rng.choice((60, 120, 300)),
        cycles=rng.randrange(3, 8),
    )


QUOTE_ORDER_CYCLES, QUOTE_ORDER_CYCLE_S = 6, 60


def quote_asset_orders(market: Market) -> None:
    """SOL spent on USDC and on the xStock, a fill a minute; renewed when they end."""
    market.at(QUOTE_ORDER_CYCLES * QUOTE_ORDER_CYCLE_S * 1_000, lambda: quote_asset_orders(market))
    for token in (USDC, market.xstock):
        orders.schedule(
            market,
            token,
            delay_ms=0,
            first_fill_ms=market.rng.randrange(2_000, 6_000),
            cycle_s=QUOTE_ORDER_CYCLE_S,
            cycles=QUOTE_ORDER_CYCLES,
            side="sol",
        )
