"""build_transaction: one transaction of a chosen program and shape, for tests.

Each kind sets up what it needs on a fresh simulated chain (a market with reserves, a funded wallet
holding the token, an open DCA order), then builds exactly that transaction and returns it with its
expected trades. Preparatory transactions are built in earlier slots and not returned.

    >>> from solflow.simulator import build_transaction
    >>> built = build_transaction("pumpfun", "buy_legacy_layout")
    >>> built.expected[0].fee_amount_raw > 0
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from solflow.simulator import listings, orders
from solflow.simulator.common import SOL, USDC, Outcome
from solflow.simulator.listings import LAMPORTS_PER_SOL, Listing
from solflow.simulator.market import Market, SimulatedUpdate

DEFAULT_START_TIME = 1_764_000_000


@dataclass(frozen=True)
class _Spot:
    """A spot trade shape: the trade's options and the market it needs."""

    is_buy: bool = True
    trade: dict[str, Any] = field(default_factory=dict)
    market: dict[str, Any] = field(default_factory=dict)
    holder: bool = False  # the trader must already hold the token


_COMMON_SPOT = {
    "buy": _Spot(),
    "sell": _Spot(is_buy=False, holder=True),
    "routed": _Spot(trade={"via": "router"}),
    "routed_sell": _Spot(is_buy=False, trade={"via": "router"}, holder=True),
    "failed": _Spot(trade={"outcome": "failed"}),
    "failed_sell": _Spot(is_buy=False, trade={"outcome": "failed"}, holder=True),
    "unknown_event": _Spot(trade={"outcome": "unknown_event", "tip": False}, holder=True),
    "unknown_event_sell": _Spot(is_buy=False, trade={"outcome": "unknown_event", "tip": False}, holder=True),
    "relayed": _Spot(trade={"fee_payer": "relayer"}),
}
_SPOT: dict[str, dict[str, _Spot]] = {
    "pumpfun": {
        **_COMMON_SPOT,
        "buy_legacy_layout": _Spot(trade={"legacy_layout": True}, market={"quote": SOL}),
        "sell_legacy_layout": _Spot(is_buy=False, trade={"legacy_layout": True}, market={"quote": SOL}, holder=True),
        "buy_usdc": _Spot(market={"quote": USDC}),
        "sell_usdc": _Spot(is_buy=False, market={"quote": USDC}, holder=True),
        "buy_token_2022": _Spot(market={"token_2022": True, "quote": SOL}),
        "buy_exact_sol_in": _Spot(trade={"variant": True}, market={"quote": SOL}),
        "buy_exact_quote_in_v2": _Spot(trade={"variant": True}, market={"quote": USDC}),
        "newer_layout": _Spot(trade={"newer": True}, market={"quote": SOL}),
    },
    "pumpswap": {
        **_COMMON_SPOT,
        "sell_keep_wsol": _Spot(is_buy=False, trade={"keep_wsol": True}, holder=True),
        "buy_token_2022": _Spot(market={"token_2022": True}),
        "buy_exact_quote_in": _Spot(trade={"variant": True}),
        "newer_layout_sell": _Spot(is_buy=False, trade={"newer": True}, holder=True),
    },
    "launchlab": {
        **_COMMON_SPOT,
        "buy_legacy_layout": _Spot(trade={"legacy_layout": True}),
        "sell_legacy_layout": _Spot(is_buy=False, trade={"legacy_layout": True}, holder=True),
        "buy_xstock": _Spot(market={"quote": "xstock"}),
        "sell_xstock": _Spot(is_buy=False, market={"quote": "xstock"}, holder=True),
        "buy_token_2022": _Spot(market={"token_2022": True}),
        "buy_transfer_fee": _Spot(market={"transfer_fee_bps": 300}),
        "sell_transfer_fee": _Spot(is_buy=False, market={"transfer_fee_bps": 300}, holder=True),
        "buy_exact_out": _Spot(trade={"variant": True}),
        "sell_exact_out": _Spot(is_buy=False, trade={"variant": True}, holder=True),
    },
    "moonshot": {
        **_COMMON_SPOT,
        "truncated_log": _Spot(trade={"outcome": "truncated_log", "tip": False, "filler": "bot"}, holder=True),
        "truncated_log_sell": _Spot(
            is_buy=False, trade={"outcome": "truncated_log", "tip": False, "filler": "bot"}, holder=True
        ),
    },
}
_OTHER: dict[str, tuple[str, ...]] = {
    "pumpfun": ("create", "create_v2", "create_usdc", "complete", "migrate", "round_trip", "bundle"),
    "pumpswap": ("create_pool", "deposit", "withdraw", "round_trip"),
    "launchlab": ("create", "create_legacy_layout", "create_xstock", "complete", "migrate"),
    "moonshot": ("create", "migrate"),
    "jupiter_dca": ("fill", "fill_sell", "fill_usdc", "failed", "open", "close"),
}
KINDS: dict[str, tuple[str, ...]] = {
    program: tuple(_SPOT.get(program, {})) + other for program, other in _OTHER.items()
}


def build_transaction(
    program: str,
    kind: str,
    *,
    seed: int = 0,
    start_time: int = DEFAULT_START_TIME,
    sol: float = 0.5,
    versioned: bool | None = None,
) -> SimulatedUpdate:
    """One transaction of `program` shaped as `kind` (see `KINDS`), spending about `sol` SOL."""
    if program not in KINDS:
        raise ValueError(f"unknown program {program!r}; expected one of {', '.join(KINDS)}")
    if kind not in KINDS[program]:
        raise ValueError(f"unknown {program} kind {kind!r}; expected one of {', '.join(KINDS[program])}")
    market = Market(seed, start_time, scale=0, episodes_on=False)
    market.next_slot()
    lamports = int(sol * LAMPORTS_PER_SOL)
    spot = _SPOT.get(program, {}).get(kind)
    if spot is not None:
        return _spot(market, program, kind, spot, lamports, versioned)
    if program == "jupiter_dca":
        return _dca(market, kind, lamports)
    return _other(market, program, kind, lamports)


def _spot(market: Market, venue: str, kind: str, spot: _Spot, lamports: int, versioned: bool | None) -> SimulatedUpdate:
    options = dict(spot.market)
    if options.get("quote") == "xstock":
        options["quote"] = market.xstock
    listing = listings.existing(market, venue, **options)
    wallet = market.new_wallet("trader", 100)
    trade = dict(spot.trade)
    if trade.get("via") == "router":
        trade["via"] = market.routers[0]
    if trade.get("filler") == "bot":
        trade["filler"] = market.routers[1]
    if trade.get("fee_payer") == "relayer":
        trade["fee_payer"] = market.new_wallet("relayer", 2)
    if spot.holder:
        market.trade(listing, wallet, is_buy=True, lamports=lamports, tip=False, outcome="ok", keep_wsol=False)
        market.next_slot()
    amount: dict[str, Any] = (
        {"lamports": lamports} if spot.is_buy else {"token_amount": market.holding(listing, wallet) // 2}
    )
    built = market.trade(
        listing, wallet, is_buy=spot.is_buy, kind=f"{venue}.{kind}", versioned=versioned, **amount, **trade
    )
    if built is None:
        raise ValueError(f"{venue} {kind}: the simulated market had nothing to trade")
    return built


def _other(market: Market, program: str, kind: str, lamports: int) -> SimulatedUpdate:
    if program == "pumpfun" and kind.startswith("create"):
        return listings.launch_pumpfun(market, token_2022=kind == "create_v2", usdc=kind == "create_usdc")
    if program == "pumpfun" and kind == "complete":
        listing = listings.existing(market, "pumpfun", quote=SOL)
        whale = market.new_wallet("whale", 200)
        built = market.trade(
            listing, whale, is_buy=True, lamports=150 * LAMPORTS_PER_SOL, tip=False, kind=f"{program}.{kind}"
        )
        assert built is not None
        return built
    if program == "launchlab" and kind.startswith("create"):
        return listings.launch_launchlab(
            market,
            quote=market.xstock if kind == "create_xstock" else SOL,
            legacy_layout=kind == "create_legacy_layout",
        )
    if program in ("launchlab", "moonshot") and kind in ("complete", "migrate"):
        listing = (
            listings.existing(market, program, quote=SOL)
            if program == "launchlab"
            else listings.existing(market, program)
        )
        completed = listings.complete(market, listing)
        if program == "moonshot" or kind == "complete":
            assert completed is not None
            return completed
        market.next_slot()
        return listings.migrate_launchlab(market, listing)
    if program == "moonshot":
        return listings.launch_moonshot(market)
    if kind in ("deposit", "withdraw"):
        listing = listings.existing(market, "pumpswap")
        provider = market.new_wallet("provider", 100)
        market.open_user_account(provider, listing.asset, 10**12)
        listing.holders.add(provider)
        deposited = listings.change_liquidity(market, listing)
        if kind == "deposit":
            assert deposited is not None
            return deposited
        market.next_slot()
        withdrawn = listings.change_liquidity(market, listing, withdraw=True)
        assert withdrawn is not None
        return withdrawn
    if kind in ("migrate", "create_pool"):
        listing = listings.existing(market, "pumpfun", quote=SOL)
        market.ledger.lamports[listing.market.key] += 80 * LAMPORTS_PER_SOL  # a curve that completed
        return listings.migrate(market, listing)
    listing = listings.existing(market, program, quote=SOL)
    built = (
        market.round_trip(listing, market.new_wallet("trader", 100), lamports)
        if kind == "round_trip"
        else market.bundle(listing, [market.new_wallet(f"bundler/{i}", 50) for i in range(4)], lamports)
    )
    if built is None:
        raise ValueError(f"{program} {kind}: the simulated market had nothing to trade")
    return built


def _dca(market: Market, kind: str, lamports: int) -> SimulatedUpdate:
    listing: Listing = listings.existing(market, "pumpswap")
    side = {"fill_sell": "sell", "fill_usdc": "usdc"}.get(kind, "sol")
    dca = orders.new_order(market, listing.asset, side=side, cycles=3, cycle_s=60)
    opened = orders.open_order(market, dca)
    if kind == "open":
        return opened
    market.next_slot()
    outcome: Outcome = "failed" if kind == "failed" else "ok"
    filled = orders.fill(market, dca, outcome)
    if filled is None:
        raise ValueError(f"jupiter_dca {kind}: the simulated order had nothing left to fill")
    if kind != "close":
        return filled
    market.next_slot()
    return orders.close(market, dca)
