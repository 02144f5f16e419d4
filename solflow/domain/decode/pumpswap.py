"""PumpSwap AMM (pAMM…): BuyEvent / SellEvent → trade; CreatePoolEvent, DepositEvent, WithdrawEvent →
lifecycle records. Layouts: ``solflow.domain.decode.idl.pumpswap``.

``user_quote_amount_in`` / ``user_quote_amount_out`` are trader-side (fees included on a buy, deducted
on a sell); the fee is ``lp_fee + protocol_fee + coin_creator_fee + cashback`` (``buyback_fee`` and
``holder_rewards`` are parts of these). The events carry the pool but not the mints: those are the
instruction's ``base_mint`` / ``quote_mint``. Their pool reserves are from before the swap; after it
the pool holds ``base ∓ base amount`` and ``quote ± the quote amount with the LP fee`` (protocol and
creator fees leave the pool).
"""

from __future__ import annotations

from collections.abc import Callable

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite
from solflow.domain.decode.context import ProgramDecoder, Record, TradeAccounts, TxContext, quote_mint_text
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.idl.pumpswap import TABLE
from solflow.domain.decode.layout import EventLayout
from solflow.domain.lifecycle import LiquidityDeposit, LiquidityWithdraw, PoolCreated
from solflow.domain.programs import PUMPSWAP
from solflow.domain.trade import TradeEvent

BUY = TABLE.event_named("BuyEvent")
SELL = TABLE.event_named("SellEvent")
CREATE_POOL = TABLE.event_named("CreatePoolEvent")
DEPOSIT = TABLE.event_named("DepositEvent")
WITHDRAW = TABLE.event_named("WithdrawEvent")


# what a trade needs, in the same positions for both: the quote that moved in or out of the pool
# (LP fee included) and what the user paid or received
_SWAP_FIELDS = (
    "timestamp {base} pool_base_token_reserves pool_quote_token_reserves lp_fee protocol_fee {pool_quote} "
    "{user_quote} pool user coin_creator_fee cashback"
)
_BUY_FIELDS = BUY.select(
    _SWAP_FIELDS.format(
        base="base_amount_out", pool_quote="quote_amount_in_with_lp_fee", user_quote="user_quote_amount_in"
    )
)
_SELL_FIELDS = SELL.select(
    _SWAP_FIELDS.format(
        base="base_amount_in", pool_quote="quote_amount_out_without_lp_fee", user_quote="user_quote_amount_out"
    )
)

_TRADE_INSTRUCTIONS = [TABLE.instruction_named(name) for name in ("buy", "sell", "buy_exact_quote_in")]
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    ix.discriminator: TradeAccounts(
        trader=ix.account("user"), mint=ix.account("base_mint"), quote_mint=ix.account("quote_mint")
    )
    for ix in _TRADE_INSTRUCTIONS
}
_QUOTE_MINT = _TRADE_INSTRUCTIONS[0].account("quote_mint")  # the same position in all three
_LIQUIDITY_INSTRUCTIONS = {
    ix.discriminator: (ix.account("base_mint"), ix.account("quote_mint"))
    for ix in (TABLE.instruction_named("deposit"), TABLE.instruction_named("withdraw"))
}


def _buy(site: EventSite, tx: TxContext) -> TradeEvent:
    return _swap(site, tx, _BUY_FIELDS, is_buy=True)


def _sell(site: EventSite, tx: TxContext) -> TradeEvent:
    return _swap(site, tx, _SELL_FIELDS, is_buy=False)


def _swap(site: EventSite, tx: TxContext, fields: EventLayout, *, is_buy: bool) -> TradeEvent:
    invocation = site.invocation
    accounts = TRADE_INSTRUCTIONS.get(invocation.discriminator)
    if accounts is None:
        raise DecodeError(f"PumpSwap event under unknown instruction {invocation.discriminator.hex()}: mints unknown")
    (
        timestamp,
        base_amount,
        pool_base,
        pool_quote,
        lp_fee,
        protocol_fee,
        pool_quote_change,
        user_quote,
        pool,
        user,
        creator_fee,
        cashback,
    ) = tx.fields(site, fields)
    if is_buy:
        base_after, quote_after = pool_base - base_amount, pool_quote + pool_quote_change
    else:
        base_after, quote_after = pool_base + base_amount, pool_quote - pool_quote_change
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=pubkey_text(user),
        mint=tx.account(invocation, accounts.mint),
        quote_mint=tx.account(invocation, _QUOTE_MINT),
        token_amount=base_amount,
        quote_amount=user_quote,
        fee=lp_fee + protocol_fee + (creator_fee or 0) + (cashback or 0),
        pool=pubkey_text(pool),
        event_time=timestamp,
        reserves=(None, None, base_after, quote_after),
    )


def _create_pool(site: EventSite, tx: TxContext) -> PoolCreated:
    values = tx.fields(site, CREATE_POOL)
    layout = CREATE_POOL.layout
    coin_creator = values[layout["coin_creator"]]
    return tx.lifecycle(
        PoolCreated,
        site,
        event_time=values[layout["timestamp"]],
        pool=pubkey_text(values[layout["pool"]]),
        base_mint=pubkey_text(values[layout["base_mint"]]),
        quote_mint=quote_mint_text(values[layout["quote_mint"]]),
        creator=pubkey_text(values[layout["creator"]]),
        base_amount=values[layout["base_amount_in"]],
        quote_amount=values[layout["quote_amount_in"]],
        lp_mint=pubkey_text(values[layout["lp_mint"]]),
        coin_creator=None if coin_creator is None else pubkey_text(coin_creator),
    )


def _liquidity(
    site: EventSite, tx: TxContext, event: EventLayout, cls: type[LiquidityDeposit] | type[LiquidityWithdraw]
) -> LiquidityDeposit | LiquidityWithdraw:
    invocation = site.invocation
    mints = _LIQUIDITY_INSTRUCTIONS.get(invocation.discriminator)
    if mints is None:
        raise DecodeError(f"PumpSwap {event.name} under unknown instruction {invocation.discriminator.hex()}")
    values = tx.fields(site, event)
    layout = event.layout
    deposit = cls is LiquidityDeposit
    return tx.lifecycle(
        cls,
        site,
        event_time=values[layout["timestamp"]],
        pool=pubkey_text(values[layout["pool"]]),
        user=pubkey_text(values[layout["user"]]),
        base_mint=tx.account(invocation, mints[0]),
        quote_mint=tx.account(invocation, mints[1]),
        base_amount=values[layout["base_amount_in" if deposit else "base_amount_out"]],
        quote_amount=values[layout["quote_amount_in" if deposit else "quote_amount_out"]],
        lp_amount=values[layout["lp_token_amount_out" if deposit else "lp_token_amount_in"]],
        lp_supply=values[layout["lp_mint_supply"]],
    )


def _deposit(site: EventSite, tx: TxContext) -> Record:
    return _liquidity(site, tx, DEPOSIT, LiquidityDeposit)


def _withdraw(site: EventSite, tx: TxContext) -> Record:
    return _liquidity(site, tx, WITHDRAW, LiquidityWithdraw)


HANDLERS: dict[bytes, Callable[[EventSite, TxContext], Record | None]] = {
    BUY.discriminator: _buy,
    SELL.discriminator: _sell,
    CREATE_POOL.discriminator: _create_pool,
    DEPOSIT.discriminator: _deposit,
    WITHDRAW.discriminator: _withdraw,
}

DECODER = ProgramDecoder(
    program=PUMPSWAP,
    table=TABLE,
    handlers=HANDLERS,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({BUY.discriminator, SELL.discriminator}),
)
