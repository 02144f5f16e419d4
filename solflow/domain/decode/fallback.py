"""Balance-delta trades: for a trade instruction that left no decodable event (unknown event layout,
truncated log), rebuild the trade from the trader's balance changes.

The trader, mint and quote mint come from the instruction's accounts (``TradeAccounts``). Token amount
= the trader's token change of the mint (its sign gives the direction); quote amount = the trader's
change of the quote mint, for SOL its lamports plus WSOL (the transaction fee added back when the
trader paid it). A trader without a token change (a router's authority) is read through the fee
payer's changes, as the cross-check does. Such a trade is approximate (other flows of the owner land
in it) and has no fee.
"""

from __future__ import annotations

from solflow.domain.decode.anchor import EventSite, Invocation
from solflow.domain.decode.balances import lamport_delta
from solflow.domain.decode.context import TxContext
from solflow.domain.decode.errors import DecodeError
from solflow.domain.programs import WSOL_MINT
from solflow.domain.trade import TradeEvent


def balance_delta_trade(invocation: Invocation, tx: TxContext) -> TradeEvent:
    decoder = invocation.decoder
    layout = decoder.trade_instructions.get(invocation.discriminator)
    if layout is None:
        raise DecodeError(
            f"{decoder.program.name} trade event could not be decoded and its instruction "
            f"{invocation.discriminator.hex()} has no known account layout"
        )
    if layout.trader >= len(invocation.accounts):
        raise DecodeError(
            f"{decoder.program.name} trade instruction has {len(invocation.accounts)} accounts, "
            f"needs the trader #{layout.trader}"
        )
    trader_index = invocation.accounts[layout.trader]
    trader = tx.keys.text(trader_index)
    mint = tx.account(invocation, layout.mint)
    quote_mint = WSOL_MINT if layout.quote_mint is None else tx.account(invocation, layout.quote_mint)
    if decoder.is_dca and mint == WSOL_MINT:  # a DCA whose output is SOL sells its input
        mint, quote_mint = quote_mint, mint
    balances = tx.balances
    owner, owner_index = trader, trader_index
    token_delta = balances.delta(owner, mint)
    if token_delta == 0 and trader_index != 0:
        owner, owner_index = tx.fee_payer, 0
        token_delta = balances.delta(owner, mint)
    if token_delta == 0:
        raise DecodeError(
            f"{decoder.program.name} trade instruction without a decodable event moved none of "
            f"{mint} for {trader} or the fee payer"
        )
    quote_delta = balances.delta(owner, quote_mint)
    if quote_mint == WSOL_MINT:
        quote_delta += lamport_delta(tx.meta, owner_index)
        if owner_index == 0:
            quote_delta += tx.meta.fee
    is_buy = token_delta > 0
    quote_amount = -quote_delta if is_buy else quote_delta
    if quote_amount < 0:
        raise DecodeError(
            f"{decoder.program.name} balance changes contradict a trade: token {token_delta:+}, quote {quote_delta:+}"
        )
    site = EventSite(invocation, b"", invocation.inner_index, "balance_delta")
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=trader,
        mint=mint,
        quote_mint=quote_mint,
        token_amount=abs(token_delta),
        quote_amount=quote_amount,
        fee=None,
        pool=None,
    )
