"""A token's price, market cap and bonding-curve progress, from the numbers its trades carry.

Price (quote units per whole token) of one trade, best source first:

1. the curve's pricing reserves after the trade (pump.fun, LaunchLab: ``virtual_quote / virtual_base``);
2. the pool's reserves after the trade (PumpSwap: ``real_quote / real_base``);
3. what was paid for what was received (``quote_amount / token_amount``; Moonshot, Jupiter DCA and
   trades rebuilt from balance changes: fees included, so slightly off the market price).

Each ratio is taken with both mints' decimals and computed from the exact integers (one rounding).
A trade without decimals, or with an empty side, has no price. Prices stay in their quote: a
USDC-quoted trade prices the token in USDC. SOL and USD are reached through rates: USD stablecoins
count as 1 USD, SOL at ``SOLFLOW_SOL_USD`` (fixed) or at the stream's own latest SOL/stablecoin trade,
another quote token (an xStock) at the stream's own latest trade of it against SOL (``sol_rate_of``);
where the rate is unknown the value is None, never 0.

Bonding progress is the share of the curve's tokens already sold, ``1 - tokens_left / tokens_for_sale``
(``tokens_left`` is the trade's ``real_base_reserves``), clamped to [0, 1]:

* pump.fun sells 793,100,000 of each token's 1,000,000,000 on its curve (its ``Global`` account's
  ``initial_real_token_reserves``, 6 decimals), the same for every curve;
* a LaunchLab constant-product curve is configured per pool so that it ends at the price its
  migration pool opens at: with supply ``S`` and ``D`` = the curve's virtual-only tokens (the trade's
  ``virtual_base_reserves - real_base_reserves``, constant over the curve's life), the tokens for sale
  are ``T = (S - 2D + sqrt(S² + 4D²)) / 2`` (from ``V·Q = (V - T)(Q + F)`` and ``(Q + F)/(V - T) =
  F/(S - T)``; it gives 793,100,000 and 800,000,000 for the real pools in the fixtures). ``S`` is
  the token's supply where known, else LaunchLab's standard 1,000,000,000 tokens.

Other programs have no curve (PumpSwap is an AMM; Moonshot's events carry no reserves): progress None.
"""

from __future__ import annotations

from math import isqrt

from solflow.domain.programs import JUPITER_DCA, LAUNCHLAB, PUMPFUN, WSOL_MINT
from solflow.domain.trade import TradeEvent

USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDT_MINT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
USD_MINTS = frozenset((USDC_MINT, USDT_MINT))  # stablecoins counted at 1 USD

PUMPFUN_TOKENS_FOR_SALE = 793_100_000_000_000  # raw units (6 decimals)
PUMPFUN_SUPPLY = 1_000_000_000_000_000  # every pump.fun token is minted whole at creation
STANDARD_SUPPLY_TOKENS = 1_000_000_000  # LaunchLab's standard launch, whole tokens
CURVE_PROGRAMS = frozenset((PUMPFUN.name, LAUNCHLAB.name))
_POW10: tuple[int, ...] = tuple(10**exponent for exponent in range(19))  # a mint has 0-18 decimals


def ratio_price(quote_raw: int, base_raw: int, quote_decimals: int, token_decimals: int) -> float | None:
    """``quote_raw / base_raw`` in whole units of each, or None when either side is empty."""
    if base_raw <= 0 or quote_raw <= 0:
        return None
    # int / int is rounded once, however large the integers.
    return (quote_raw * _POW10[token_decimals]) / (base_raw * _POW10[quote_decimals])


def trade_price(trade: TradeEvent) -> float | None:
    """The token's price after ``trade``, in its quote per whole token (see the module docstring)."""
    token_decimals, quote_decimals = trade.token_decimals, trade.quote_decimals
    if token_decimals is None or quote_decimals is None:
        return None
    base, quote = trade.virtual_base_reserves, trade.virtual_quote_reserves
    if base is None or quote is None:
        base, quote = trade.real_base_reserves, trade.real_quote_reserves
    if base is None or quote is None:
        base, quote = trade.token_amount_raw, trade.quote_amount_raw
    return ratio_price(quote, base, quote_decimals, token_decimals)


def launchlab_tokens_for_sale(virtual_only: int, supply: int) -> int:
    """Tokens a LaunchLab constant curve sells (raw), from its virtual-only tokens ``D`` and the supply ``S``."""
    return (supply - 2 * virtual_only + isqrt(supply * supply + 4 * virtual_only * virtual_only)) // 2


def curve_progress(
    program: str,
    real_base: int | None,
    virtual_base: int | None,
    supply: int | None,
    decimals: int | None,
) -> float | None:
    """Share of the curve's tokens sold after a trade of ``program`` with these reserves, in [0, 1];
    None for a program without a curve or a trade without reserves."""
    if real_base is None:
        return None
    if program == PUMPFUN.name:
        for_sale = PUMPFUN_TOKENS_FOR_SALE
    elif program == LAUNCHLAB.name and virtual_base is not None:
        if supply is None:
            if decimals is None:
                return None
            supply = STANDARD_SUPPLY_TOKENS * _POW10[decimals]
        for_sale = launchlab_tokens_for_sale(virtual_base - real_base, supply)
    else:
        return None
    if for_sale <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - real_base / for_sale))


def market_cap(price: float | None, supply: int | None, decimals: int | None) -> float | None:
    """``price`` times the supply in whole tokens; None when any is unknown."""
    if price is None or supply is None or decimals is None:
        return None
    return price * (supply / _POW10[decimals])


def price_change(now: float | None, then: float | None) -> float | None:
    """Relative change from ``then`` to ``now`` (0.25 = +25 %), None without both."""
    if now is None or then is None or then <= 0:
        return None
    return now / then - 1.0


def sol_rate_of(trade: TradeEvent) -> tuple[str, float] | None:
    """``(asset, SOL per whole unit of it)`` as a trade between SOL and another asset shows it (either
    way round), where that asset can be a quote: a USD stablecoin, or a token a Jupiter DCA order
    swaps against SOL at the aggregator's market (launch curves trade only their own new tokens).
    None for any other trade."""
    if trade.quote_mint == WSOL_MINT and trade.mint != WSOL_MINT:
        asset, inverted = trade.mint, False
    elif trade.mint == WSOL_MINT and trade.quote_mint != WSOL_MINT:
        asset, inverted = trade.quote_mint, True
    else:
        return None
    if asset not in USD_MINTS and trade.program != JUPITER_DCA.name:
        return None
    price = trade_price(trade)
    if price is None:
        return None
    return asset, (1.0 / price if inverted else price)


def in_sol(
    value: float | None, quote_mint: str | None, sol_usd: float | None, sol_per_unit: float | None
) -> float | None:
    """A price (or amount) in ``quote_mint`` units expressed in SOL, where the rate is known: a USD
    stablecoin at ``sol_usd`` (USD per SOL), another token at ``sol_per_unit`` (SOL per whole unit)."""
    if value is None or quote_mint is None:
        return None
    if quote_mint == WSOL_MINT:
        return value
    if quote_mint in USD_MINTS:
        return value / sol_usd if sol_usd is not None and sol_usd > 0 else None
    return value * sol_per_unit if sol_per_unit is not None and sol_per_unit > 0 else None


def in_usd(
    value: float | None, quote_mint: str | None, sol_usd: float | None, sol_per_unit: float | None
) -> float | None:
    """A price (or amount) in ``quote_mint`` units expressed in USD, where the rates are known."""
    if value is None or quote_mint is None:
        return None
    if quote_mint in USD_MINTS:
        return value
    if sol_usd is None or sol_usd <= 0:
        return None
    value_sol = in_sol(value, quote_mint, sol_usd, sol_per_unit)
    return None if value_sol is None else value_sol * sol_usd
