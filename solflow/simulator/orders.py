"""Jupiter DCA orders over time: opened by a user, filled by the keeper every cycle, closed at the end.

Most orders buy a token with SOL; some buy with USDC, some sell a token for SOL. The keeper's route
is priced like the token's spot market, give or take. Orders buying a quote asset (USDC, the xStock)
with SOL fill at its market price: they are the stream's own SOL/USD and xStock rates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solflow.simulator import jupiter_dca
from solflow.simulator.common import SOL, USDC, Asset, Outcome
from solflow.simulator.listings import LAMPORTS_PER_SOL, USDC_PER_SOL, XSTOCK_PER_SOL

if TYPE_CHECKING:
    from solflow.simulator.market import Market, SimulatedUpdate

FAILED_FILL_SHARE = 0.03


def new_order(
    market: Market, token: Asset, *, side: str | None = None, cycles: int = 4, cycle_s: int = 60
) -> jupiter_dca.Dca:
    """An order on `token`: `side` is "sol" (buy with SOL), "usdc" (buy with USDC) or "sell" (for SOL)."""
    rng = market.rng
    user = market.new_wallet(f"dca-user/{market.label()}", rng.uniform(20, 100))
    if side is None:
        roll = rng.random()
        side = "sol" if roll < 0.75 else "usdc" if roll < 0.9 else "sell"
    if side == "sol":
        inp, out, deposit = SOL, token, int(rng.uniform(0.3, 1.2) * cycles * LAMPORTS_PER_SOL)
    elif side == "usdc":
        inp, out, deposit = USDC, token, int(rng.uniform(50, 200) * cycles * 10**USDC.decimals)
        market.open_user_account(user, USDC, deposit)
    else:
        inp, out, deposit = token, SOL, 10**token.decimals * rng.randrange(100_000, 5_000_000)
        market.open_user_account(user, token, deposit)
    for asset in (inp, out):
        _open_keeper_accounts(market, asset)
    return jupiter_dca.new_dca(
        market.keyring, user, inp, out, deposit, cycles, cycle_s, market.block_time, market.label()
    )


def open_order(market: Market, dca: jupiter_dca.Dca) -> SimulatedUpdate:
    return market.transaction(dca.user, "jupiter_dca.open", lambda b: jupiter_dca.open_dca(b, dca))


def fill(market: Market, dca: jupiter_dca.Dca, outcome: Outcome | None = None) -> SimulatedUpdate | None:
    if dca.remaining <= 0:
        return None
    gross_out = _route_out(market, dca, min(dca.per_cycle, dca.remaining))
    if outcome is None:
        outcome = "failed" if market.rng.random() < FAILED_FILL_SHARE else "ok"
    return market.transaction(
        market.keeper,
        "jupiter_dca.fill",
        lambda b: jupiter_dca.fill(b, dca, market.keeper, market.amm, gross_out, outcome),
    )


def close(market: Market, dca: jupiter_dca.Dca) -> SimulatedUpdate:
    return market.transaction(dca.user, "jupiter_dca.close", lambda b: jupiter_dca.close_dca(b, dca))


def schedule(
    market: Market,
    token: Asset,
    *,
    delay_ms: int,
    first_fill_ms: int,
    cycle_s: int,
    cycles: int,
    side: str | None = None,
) -> None:
    """Open an order after `delay_ms`, fill it every `cycle_s` from `first_fill_ms` on, then close it."""
    dca = new_order(market, token, side=side, cycles=cycles, cycle_s=cycle_s)

    def open_now() -> SimulatedUpdate:
        built = open_order(market, dca)
        if built.events:  # opened (a failed transaction carries no events)
            for cycle in range(cycles):
                market.at(first_fill_ms + cycle * cycle_s * 1_000, lambda: fill(market, dca))
            market.at(
                first_fill_ms + cycles * cycle_s * 1_000 + market.rng.randrange(5_000, 60_000),
                lambda: close(market, dca),
            )
        return built

    market.at(delay_ms, open_now)


def _open_keeper_accounts(market: Market, asset) -> None:
    ledger = market.ledger
    keyring = market.keyring
    for owner, amount in ((market.keeper, 0), (market.amm, 10 ** (asset.decimals + 7))):
        account = keyring.ata(owner, asset.mint, asset.program)
        if account not in ledger.tokens:
            ledger.open_token_account(account, owner, asset.mint, asset.program, asset.decimals, amount)
    authority, fee_account = jupiter_dca.fee_accounts(keyring, asset)
    if fee_account not in ledger.tokens:
        ledger.open_token_account(fee_account, authority, asset.mint, asset.program, asset.decimals, 0)


def _route_out(market: Market, dca: jupiter_dca.Dca, in_amount: int) -> int:
    token = dca.output if not dca.output.is_sol else dca.input
    if token is USDC or token is market.xstock:  # a quote asset: its market price, within half a percent
        per_sol = USDC_PER_SOL if token is USDC else XSTOCK_PER_SOL
        tokens_per_sol = 10**token.decimals * per_sol * market.rng.uniform(0.995, 1.005)
    else:
        tokens_per_sol = 10**token.decimals * market.rng.uniform(20_000, 40_000)
    if dca.input.is_sol:
        return max(int(in_amount / LAMPORTS_PER_SOL * tokens_per_sol), 1)
    if dca.input is USDC:
        return max(int(in_amount / 10**USDC.decimals / USDC_PER_SOL * tokens_per_sol), 1)
    return max(int(in_amount / tokens_per_sol * LAMPORTS_PER_SOL), 1)
