"""Raydium LaunchLab / LetsBonk (LanM…): TradeEvent → trade (and ``curve_completed`` when it leaves the
pool in ``Migrate``); PoolCreateEvent → ``token_created``; ``migrate_to_amm`` / ``migrate_to_cpswap``
→ ``migrated`` (they emit no event). Layouts: ``solflow.domain.decode.idl.launchlab``.

The TradeEvent changed in the middle, so its layout is chosen by length: 138 bytes (mid-2025, no
``creator_fee``) or the current one (147, or longer with fields appended since). ``amount_in`` on a
buy / ``amount_out`` on a sell are trader-side (fees included / deducted); token amounts are pool
side (Token-2022 transfer fees are not in them). The event names neither trader nor mints: they are
the instruction's ``payer``, ``base_token_mint`` and ``quote_token_mint``; the pool is ``pool_state``.

Reserves are reported as pump.fun's events report them: the event's ``virtual_base`` /
``virtual_quote`` are the curve's constants and ``real_base_after`` is what it has sold, so the
pricing reserves after the trade are ``virtual_base − real_base_after`` and ``virtual_quote +
real_quote_after``, and the tokens still for sale ``total_base_sell − real_base_after``.
"""

from __future__ import annotations

from collections.abc import Callable

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, Invocation
from solflow.domain.decode.context import (
    ProgramDecoder,
    Record,
    TradeAccounts,
    TxContext,
    instruction_site,
)
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.idl.launchlab import TABLE
from solflow.domain.lifecycle import CurveCompleted, LifecycleEvent, Migrated, TokenCreated
from solflow.domain.programs import LAUNCHLAB
from solflow.domain.trade import TradeEvent

TRADE = TABLE.event_named("TradeEvent")
POOL_CREATE = TABLE.event_named("PoolCreateEvent")
_BUY, _SELL = 0, 1  # TradeDirection
_MIGRATE = 1  # PoolStatus: Fund, Migrate, Trade

# what a trade needs; the fees are the fields between amount_out and trade_direction (3 or 4 of them)
_TRADE_FIELDS = TRADE.select(
    "pool_state total_base_sell virtual_base virtual_quote real_base_after real_quote_after amount_in amount_out "
    "protocol_fee platform_fee creator_fee share_fee trade_direction pool_status"
)
_FIRST = 8  # the fees' position
_ENUMS = {
    layout: (layout["trade_direction"], layout["pool_status"])
    for layout in (_TRADE_FIELDS.layout, *_TRADE_FIELDS.variants.values())
}

_TRADE_NAMES = ("buy_exact_in", "buy_exact_out", "sell_exact_in", "sell_exact_out")
_TRADE_IX = TABLE.instruction_named("buy_exact_in")  # the four share their accounts
_PAYER, _BASE_MINT, _QUOTE_MINT = (_TRADE_IX.account(name) for name in ("payer", "base_token_mint", "quote_token_mint"))
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    TABLE.instruction_named(name).discriminator: TradeAccounts(trader=_PAYER, mint=_BASE_MINT, quote_mint=_QUOTE_MINT)
    for name in _TRADE_NAMES
}
_CREATE_IX = TABLE.instruction_named(
    "initialize"
)  # initialize_v2 and initialize_with_token_2022 agree up to quote_mint
_POOL_CREATE_INSTRUCTIONS = {
    TABLE.instruction_named(name).discriminator
    for name in ("initialize", "initialize_v2", "initialize_with_token_2022")
}
_CREATE_BASE_MINT, _CREATE_QUOTE_MINT, _CREATE_TOKEN_PROGRAM = (
    _CREATE_IX.account(name) for name in ("base_mint", "quote_mint", "base_token_program")
)
_MIGRATIONS = {
    ix.discriminator: (
        ix.account("base_mint"),
        ix.account("quote_mint"),
        ix.account("pool_state"),
        ix.account(pool),
        ix.account(program),
    )
    for ix, pool, program in (
        (TABLE.instruction_named("migrate_to_amm"), "amm_pool", "amm_program"),
        (TABLE.instruction_named("migrate_to_cpswap"), "cpswap_pool", "cpswap_program"),
    )
}


def _trade(site: EventSite, tx: TxContext) -> TradeEvent:
    layout, values, trailing = _TRADE_FIELDS.decode(site.data)
    if trailing:
        tx.note_trailing(site, TRADE.name, trailing)
    pool, total_base_sell, virtual_base, virtual_quote, real_base, real_quote, amount_in, amount_out = values[:_FIRST]
    direction_at, _ = _ENUMS[layout]
    direction = values[direction_at]
    if direction not in (_BUY, _SELL):
        raise DecodeError(f"LaunchLab TradeEvent trade_direction {direction} is neither Buy (0) nor Sell (1)")
    invocation = site.invocation
    if invocation.discriminator not in TRADE_INSTRUCTIONS:
        raise DecodeError(
            f"LaunchLab TradeEvent under unknown instruction {invocation.discriminator.hex()}: payer and mints unknown"
        )
    is_buy = direction == _BUY
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=tx.account(invocation, _PAYER),
        mint=tx.account(invocation, _BASE_MINT),
        quote_mint=tx.account(invocation, _QUOTE_MINT),
        token_amount=amount_out if is_buy else amount_in,
        quote_amount=amount_in if is_buy else amount_out,
        fee=sum(values[_FIRST:direction_at]),
        pool=pubkey_text(pool),
        reserves=(virtual_base - real_base, virtual_quote + real_quote, total_base_sell - real_base, real_quote),
    )


def _completed(site: EventSite, tx: TxContext, trade: TradeEvent) -> CurveCompleted | None:
    """The trade that sold the curve out leaves the pool in ``Migrate``: trading stops until migration."""
    layout, values, _ = _TRADE_FIELDS.decode(site.data)
    if values[_ENUMS[layout][1]] != _MIGRATE:
        return None
    return tx.lifecycle(
        CurveCompleted, site, mint=trade.mint, curve=trade.pool, user=trade.trader, quote_mint=trade.quote_mint
    )


def _pool_create(site: EventSite, tx: TxContext) -> TokenCreated:
    invocation = site.invocation
    if invocation.discriminator not in _POOL_CREATE_INSTRUCTIONS:
        raise DecodeError(f"LaunchLab PoolCreateEvent under unknown instruction {invocation.discriminator.hex()}")
    pool_state, creator, _, (decimals, name, symbol, uri), (_, curve), *_ = tx.fields(site, POOL_CREATE)
    return tx.lifecycle(
        TokenCreated,
        site,
        mint=tx.account(invocation, _CREATE_BASE_MINT),
        name=name,
        symbol=symbol,
        uri=uri,
        creator=pubkey_text(creator),
        decimals=decimals,
        supply=curve[0],  # every curve type starts with the supply
        quote_mint=tx.account(invocation, _CREATE_QUOTE_MINT),
        curve=pubkey_text(pool_state),
        token_program=tx.account(invocation, _CREATE_TOKEN_PROGRAM),
    )


def decode_instruction(invocation: Invocation, tx: TxContext) -> LifecycleEvent | None:
    """``migrate_to_amm`` / ``migrate_to_cpswap``: the token leaves the curve for a Raydium pool."""
    base_mint, quote_mint, pool_state, pool, program = _MIGRATIONS[invocation.discriminator]
    return tx.lifecycle(
        Migrated,
        instruction_site(invocation),
        mint=tx.account(invocation, base_mint),
        curve=tx.account(invocation, pool_state),
        user=tx.account(invocation, 0),
        pool=tx.account(invocation, pool),
        target_program=tx.account(invocation, program),
        base_amount=None,
        quote_amount=None,
        fee=None,
        quote_mint=tx.account(invocation, quote_mint),
    )


HANDLERS: dict[bytes, Callable[[EventSite, TxContext], Record | None]] = {
    TRADE.discriminator: _trade,
    POOL_CREATE.discriminator: _pool_create,
}

DECODER = ProgramDecoder(
    program=LAUNCHLAB,
    table=TABLE,
    handlers=HANDLERS,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({TRADE.discriminator}),
    decode_instruction=decode_instruction,
    lifecycle_instructions=frozenset(_MIGRATIONS),
    trade_lifecycle=_completed,
)
