"""Jupiter DCA (DCA2…): Filled → trade (``is_dca``); Opened → ``dca_opened``; Closed → ``dca_closed``.
Layouts: ``solflow.domain.decode.idl.jupiter_dca``.

A fill swaps ``inAmount`` of the input mint for ``outAmount`` of the output mint (``outAmount`` is what
the DCA account received, after the fee). Orientation: input WSOL → a buy of the output mint paid in
SOL; output WSOL → a sell of the input mint for SOL; otherwise a buy of the output mint quoted in the
input mint. The trader is the DCA owner (``userKey``), the pool the DCA account. Fee handling: the
event's ``fee`` is reported as ``fee_amount_raw`` only when ``feeMint`` is the quote mint (then it is
already out of ``quote_amount_raw``, as on a sell for SOL); a fee taken in the traded token (the usual
case on a buy) is not a quote amount, so ``fee_amount_raw`` is None and ``token_amount_raw`` is net of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite
from solflow.domain.decode.context import ProgramDecoder, Record, TradeAccounts, TxContext, quote_mint_text
from solflow.domain.decode.idl.jupiter_dca import TABLE
from solflow.domain.lifecycle import DcaClosed, DcaOpened
from solflow.domain.programs import JUPITER_DCA, WSOL_MINT
from solflow.domain.trade import TradeEvent

FILLED = TABLE.event_named("Filled")
OPENED = TABLE.event_named("Opened")
CLOSED = TABLE.event_named("Closed")

_FILL_IX = TABLE.instruction_named("fulfillFlashFill")  # fulfillDlmmFill has the same accounts
_FILL_ACCOUNTS = TradeAccounts(
    trader=_FILL_IX.account("dca"), mint=_FILL_IX.account("outputMint"), quote_mint=_FILL_IX.account("inputMint")
)
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    TABLE.instruction_named(name).discriminator: _FILL_ACCOUNTS for name in ("fulfillFlashFill", "fulfillDlmmFill")
}


def _filled(site: EventSite, tx: TxContext) -> TradeEvent:
    user, dca, input_key, output_key, in_amount, out_amount, fee_key, fee = tx.fields(site, FILLED)
    input_mint = quote_mint_text(input_key)
    output_mint = quote_mint_text(output_key)
    fee_mint = quote_mint_text(fee_key)
    if output_mint == WSOL_MINT and input_mint != WSOL_MINT:
        is_buy, mint, quote_mint, token_amount, quote_amount = False, input_mint, output_mint, in_amount, out_amount
    else:
        is_buy, mint, quote_mint, token_amount, quote_amount = True, output_mint, input_mint, out_amount, in_amount
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=pubkey_text(user),
        mint=mint,
        quote_mint=quote_mint,
        token_amount=token_amount,
        quote_amount=quote_amount,
        fee=fee if fee_mint == quote_mint else None,
        pool=pubkey_text(dca),
    )


def _order(values: tuple[Any, ...]) -> dict[str, Any]:
    user, dca, deposited, input_mint, output_mint, frequency, per_cycle, created_at = values[:8]
    return {
        "dca": pubkey_text(dca),
        "user": pubkey_text(user),
        "input_mint": pubkey_text(input_mint),
        "output_mint": pubkey_text(output_mint),
        "in_deposited": deposited,
        "in_amount_per_cycle": per_cycle,
        "cycle_frequency": frequency,
        "created_at": created_at,
    }


def _opened(site: EventSite, tx: TxContext) -> DcaOpened:
    return tx.lifecycle(DcaOpened, site, **_order(tx.fields(site, OPENED)))


def _closed(site: EventSite, tx: TxContext) -> DcaClosed:
    values = tx.fields(site, CLOSED)
    in_withdrawn, out_withdrawn, unfilled, user_closed = values[8:12]
    return tx.lifecycle(
        DcaClosed,
        site,
        **_order(values),
        total_in_withdrawn=in_withdrawn,
        total_out_withdrawn=out_withdrawn,
        unfilled_amount=unfilled,
        user_closed=user_closed,
    )


HANDLERS: dict[bytes, Callable[[EventSite, TxContext], Record | None]] = {
    FILLED.discriminator: _filled,
    OPENED.discriminator: _opened,
    CLOSED.discriminator: _closed,
}

DECODER = ProgramDecoder(
    program=JUPITER_DCA,
    table=TABLE,
    handlers=HANDLERS,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({FILLED.discriminator}),
    is_dca=True,
)
