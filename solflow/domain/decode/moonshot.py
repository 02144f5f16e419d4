"""Moonshot (MoonC…): TradeEvent → trade. Moonshot writes it only as a ``Program data:`` log line.

``collateralAmount`` is the curve side: a buyer pays it plus ``dexFee + helioFee``, a seller gets it
minus them. The quote is the event's ``costToken`` (WSOL); the mint is the instruction's ``mint``
account; the pool is the event's ``curve``.
"""

from __future__ import annotations

import struct

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, discriminator
from solflow.domain.decode.context import ProgramDecoder, TradeAccounts, TxContext, quote_mint_text
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import ProgramEvent
from solflow.domain.programs import MOONSHOT
from solflow.domain.trade import TradeEvent

TRADE_EVENT = discriminator("event", "TradeEvent")

# amount, collateralAmount, dexFee, helioFee, (allocation), curve, costToken, sender, type (label follows)
_TRADE = struct.Struct("<QQQQ8x32s32s32sB")
_BUY, _SELL = 0, 1

_TRADE_ACCOUNTS = TradeAccounts(trader=0, mint=6, quote_mint=None)
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    discriminator("global", "buy"): _TRADE_ACCOUNTS,
    discriminator("global", "sell"): _TRADE_ACCOUNTS,
}


def decode_event(site: EventSite, tx: TxContext) -> TradeEvent | ProgramEvent | None:
    if site.data[:8] != TRADE_EVENT:
        return None
    if len(site.data) < 8 + _TRADE.size:
        raise DecodeError(f"Moonshot TradeEvent of {len(site.data)} bytes is shorter than {8 + _TRADE.size}")
    amount, collateral, dex_fee, helio_fee, curve, cost_token, sender, trade_type = _TRADE.unpack_from(site.data, 8)
    if trade_type not in (_BUY, _SELL):
        raise DecodeError(f"Moonshot TradeEvent type {trade_type} is neither Buy (0) nor Sell (1)")
    invocation = site.invocation
    if invocation.discriminator not in TRADE_INSTRUCTIONS:
        raise DecodeError(
            f"Moonshot TradeEvent under unknown instruction {invocation.discriminator.hex()}: mint unknown"
        )
    fee = dex_fee + helio_fee
    is_buy = trade_type == _BUY
    if not is_buy and fee > collateral:
        raise DecodeError(f"Moonshot sell of {collateral} pays {fee} in fees: more than it received")
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=pubkey_text(sender),
        mint=tx.account(invocation, _TRADE_ACCOUNTS.mint),
        quote_mint=quote_mint_text(cost_token),
        token_amount=amount,
        quote_amount=collateral + fee if is_buy else collateral - fee,
        fee=fee,
        pool=pubkey_text(curve),
    )


DECODER = ProgramDecoder(
    program=MOONSHOT,
    decode_event=decode_event,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({TRADE_EVENT}),
    log_events=True,
)
