"""PumpSwap AMM (pAMM…): BuyEvent / SellEvent → trade; CreatePoolEvent → create_pool.

``user_quote_amount_in`` / ``user_quote_amount_out`` are trader-side (fees included on a buy, deducted
on a sell); the fee is ``lp_fee + protocol_fee + coin_creator_fee (+ cashback)``. Layouts grew at the
end (312 bytes before coin creators, 360 in June 2025, 393 in October 2025, longer in 2026). The
events carry the pool but not the mints: those are the instruction's ``base_mint`` / ``quote_mint``.
"""

from __future__ import annotations

import struct

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, discriminator
from solflow.domain.decode.borsh import BorshReader
from solflow.domain.decode.context import ProgramDecoder, TradeAccounts, TxContext, quote_mint_text
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import ProgramEvent
from solflow.domain.programs import PUMPSWAP
from solflow.domain.trade import TradeEvent

BUY_EVENT = discriminator("event", "BuyEvent")
SELL_EVENT = discriminator("event", "SellEvent")
CREATE_POOL_EVENT = discriminator("event", "CreatePoolEvent")

# timestamp, base amount, (limit, 4 reserves, pool-side quote), lp_fee, protocol_fee, user quote amount,
# pool, user, (user base/quote accounts, protocol fee recipient and its account)
_SWAP_BASE = struct.Struct("<qQ48x8xQ8xQ8xQ32s32s128x")
_COIN_CREATOR_FEE = struct.Struct("<40xQ")  # coin_creator, coin_creator_fee_basis_points, coin_creator_fee
# buy only: track_volume … last_update_timestamp (October 2025), then min_base_amount_out, then ix_name
_BUY_EXTRA_FIELDS = (33, 8)
_CASHBACK = struct.Struct("<8xQ")  # cashback_fee_basis_points, cashback
_CREATE_POOL = struct.Struct("<q2x32s32s32s2xQQ41x32s96x")

_TRADE_ACCOUNTS = TradeAccounts(trader=1, mint=3, quote_mint=4)
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    discriminator("global", "buy"): _TRADE_ACCOUNTS,
    discriminator("global", "sell"): _TRADE_ACCOUNTS,
    discriminator("global", "buy_exact_quote_in"): _TRADE_ACCOUNTS,
}


def decode_event(site: EventSite, tx: TxContext) -> TradeEvent | ProgramEvent | None:
    disc = site.data[:8]
    if disc == BUY_EVENT:
        return _swap(site, tx, is_buy=True)
    if disc == SELL_EVENT:
        return _swap(site, tx, is_buy=False)
    if disc == CREATE_POOL_EVENT:
        return _create_pool(site, tx)
    return None


def _swap(site: EventSite, tx: TxContext, *, is_buy: bool) -> TradeEvent:
    invocation = site.invocation
    layout = TRADE_INSTRUCTIONS.get(invocation.discriminator)
    if layout is None:
        raise DecodeError(f"PumpSwap event under unknown instruction {invocation.discriminator.hex()}: mints unknown")
    reader = BorshReader(site.data, 8)
    timestamp, base_amount, lp_fee, protocol_fee, user_quote_amount, pool, user = reader.unpack(_SWAP_BASE)
    fee = lp_fee + protocol_fee
    if reader.remaining:
        fee += reader.unpack(_COIN_CREATOR_FEE)[0]
    if is_buy:
        for size in _BUY_EXTRA_FIELDS:
            if reader.remaining:
                reader.skip(size)
        if reader.remaining:
            reader.string()  # ix_name
    if reader.remaining:
        fee += reader.unpack(_CASHBACK)[0]
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=pubkey_text(user),
        mint=tx.account(invocation, layout.mint),
        quote_mint=tx.account(invocation, layout.quote_mint),  # type: ignore[arg-type]
        token_amount=base_amount,
        quote_amount=user_quote_amount,
        fee=fee,
        pool=pubkey_text(pool),
        event_time=timestamp,
    )


def _create_pool(site: EventSite, tx: TxContext) -> ProgramEvent:
    reader = BorshReader(site.data, 8)
    _, creator, base_mint, quote_mint, base_in, quote_in, pool = reader.unpack(_CREATE_POOL)
    details: dict[str, object] = {"pool": pubkey_text(pool), "base_amount_in": base_in, "quote_amount_in": quote_in}
    if reader.remaining:
        details["coin_creator"] = pubkey_text(reader.pubkey())
    return tx.program_event(
        site,
        "create_pool",
        trader=pubkey_text(creator),
        mint=pubkey_text(base_mint),
        quote_mint=quote_mint_text(quote_mint),
        details=details,
    )


DECODER = ProgramDecoder(
    program=PUMPSWAP,
    decode_event=decode_event,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({BUY_EVENT, SELL_EVENT}),
)
