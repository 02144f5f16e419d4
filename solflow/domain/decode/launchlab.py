"""Raydium LaunchLab / LetsBonk (LanM…): TradeEvent → trade; PoolCreateEvent → create.

The TradeEvent changed in the middle, so the layout is chosen by length: 138 bytes (mid-2025:
``… protocol_fee, platform_fee, share_fee, trade_direction, pool_status``) or 147 (current: adds
``creator_fee`` before ``share_fee`` and ``exact_in`` at the end). ``amount_in`` on a buy / ``amount_out``
on a sell are trader-side (fees included / deducted); token amounts are pool-side (Token-2022 transfer
fees are not in them). The event names neither trader nor mints: they are the instruction's ``payer``,
``base_token_mint`` and ``quote_token_mint``; the pool is the event's ``pool_state``.
"""

from __future__ import annotations

import struct

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, discriminator
from solflow.domain.decode.borsh import BorshReader
from solflow.domain.decode.context import ProgramDecoder, TradeAccounts, TxContext
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import ProgramEvent
from solflow.domain.programs import LAUNCHLAB
from solflow.domain.trade import TradeEvent

TRADE_EVENT = discriminator("event", "TradeEvent")
POOL_CREATE_EVENT = discriminator("event", "PoolCreateEvent")

# pool_state, (total_base_sell, virtual and real reserves), amount_in, amount_out, fees…, direction
_TRADE_MID_2025 = struct.Struct("<32s56xQQQQQB1x")  # protocol, platform, share fee
_TRADE_CURRENT = struct.Struct("<32s56xQQQQQQB2x")  # protocol, platform, creator, share fee
_LAYOUTS = {8 + _TRADE_MID_2025.size: _TRADE_MID_2025, 8 + _TRADE_CURRENT.size: _TRADE_CURRENT}
_BUY, _SELL = 0, 1

_PAYER, _BASE_TOKEN_MINT, _QUOTE_TOKEN_MINT = 0, 9, 10
_TRADE_ACCOUNTS = TradeAccounts(trader=_PAYER, mint=_BASE_TOKEN_MINT, quote_mint=_QUOTE_TOKEN_MINT)
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    discriminator("global", name): _TRADE_ACCOUNTS
    for name in ("buy_exact_in", "buy_exact_out", "sell_exact_in", "sell_exact_out")
}
_POOL_CREATE_INSTRUCTIONS = {
    discriminator("global", name) for name in ("initialize", "initialize_v2", "initialize_with_token_2022")
}
_CREATE_BASE_MINT, _CREATE_QUOTE_MINT, _CREATE_PLATFORM_CONFIG = 6, 7, 3


def decode_event(site: EventSite, tx: TxContext) -> TradeEvent | ProgramEvent | None:
    disc = site.data[:8]
    if disc == TRADE_EVENT:
        return _trade(site, tx)
    if disc == POOL_CREATE_EVENT:
        return _pool_create(site, tx)
    return None


def _trade(site: EventSite, tx: TxContext) -> TradeEvent:
    data = site.data
    layout = _LAYOUTS.get(len(data))
    if layout is None:
        raise DecodeError(f"LaunchLab TradeEvent of {len(data)} bytes matches no known layout (138 or 147)")
    pool, amount_in, amount_out, *fees, direction = layout.unpack_from(data, 8)
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
        mint=tx.account(invocation, _BASE_TOKEN_MINT),
        quote_mint=tx.account(invocation, _QUOTE_TOKEN_MINT),
        token_amount=amount_out if is_buy else amount_in,
        quote_amount=amount_in if is_buy else amount_out,
        fee=sum(fees),
        pool=pubkey_text(pool),
    )


def _pool_create(site: EventSite, tx: TxContext) -> ProgramEvent:
    invocation = site.invocation
    if invocation.discriminator not in _POOL_CREATE_INSTRUCTIONS:
        raise DecodeError(f"LaunchLab PoolCreateEvent under unknown instruction {invocation.discriminator.hex()}")
    reader = BorshReader(site.data, 8)
    pool_state = pubkey_text(reader.pubkey())
    creator = pubkey_text(reader.pubkey())
    reader.skip(32 + 1)  # config, base_mint_param.decimals
    details = {
        "pool_state": pool_state,
        "name": reader.string(),
        "symbol": reader.string(),
        "platform_config": tx.account(invocation, _CREATE_PLATFORM_CONFIG),
    }
    return tx.program_event(
        site,
        "create",
        trader=creator,
        mint=tx.account(invocation, _CREATE_BASE_MINT),
        quote_mint=tx.account(invocation, _CREATE_QUOTE_MINT),
        details=details,
    )


DECODER = ProgramDecoder(
    program=LAUNCHLAB,
    decode_event=decode_event,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({TRADE_EVENT}),
)
