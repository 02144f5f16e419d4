"""Jupiter DCA (DCA2…): Filled → trade (``is_dca``); Opened → dca_open; Closed → dca_close.

A fill swaps ``inAmount`` of the input mint for ``outAmount`` of the output mint (``outAmount`` is what
the DCA account received, after the fee). Orientation: input WSOL → a buy of the output mint paid in
SOL; output WSOL → a sell of the input mint for SOL; otherwise a buy of the output mint quoted in the
input mint. The trader is the DCA owner (``userKey``), the pool the DCA account. Fee handling: the
event's ``fee`` is reported as ``fee_amount_raw`` only when ``feeMint`` is the quote mint (then it is
already out of ``quote_amount_raw``, as on a sell for SOL); a fee taken in the traded token (the usual
case on a buy) is not a quote amount, so ``fee_amount_raw`` is None and ``token_amount_raw`` is net of it.
"""

from __future__ import annotations

import struct

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, discriminator
from solflow.domain.decode.context import ProgramDecoder, TradeAccounts, TxContext, quote_mint_text
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import ProgramEvent
from solflow.domain.programs import JUPITER_DCA, WSOL_MINT
from solflow.domain.trade import TradeEvent

FILLED_EVENT = discriminator("event", "Filled")
OPENED_EVENT = discriminator("event", "Opened")
CLOSED_EVENT = discriminator("event", "Closed")

# userKey, dcaKey, inputMint, outputMint, inAmount, outAmount, feeMint, fee
_FILLED = struct.Struct("<32s32s32s32sQQ32sQ")
# userKey, dcaKey, inDeposited, inputMint, outputMint, cycleFrequency, inAmountPerCycle, createdAt
_OPENED = struct.Struct("<32s32sQ32s32sqQq")
_CLOSED_TAIL = struct.Struct("<QQQ?")  # totalInWithdrawn, totalOutWithdrawn, unfilledAmount, userClosed

_FILL_ACCOUNTS = TradeAccounts(trader=1, mint=3, quote_mint=2)  # dca, outputMint, inputMint
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    discriminator("global", "fulfill_flash_fill"): _FILL_ACCOUNTS,
    discriminator("global", "fulfill_dlmm_fill"): _FILL_ACCOUNTS,
}


def decode_event(site: EventSite, tx: TxContext) -> TradeEvent | ProgramEvent | None:
    disc = site.data[:8]
    if disc == FILLED_EVENT:
        return _filled(site, tx)
    if disc == OPENED_EVENT:
        return _opened_or_closed(site, tx, "dca_open")
    if disc == CLOSED_EVENT:
        return _opened_or_closed(site, tx, "dca_close")
    return None


def _filled(site: EventSite, tx: TxContext) -> TradeEvent:
    if len(site.data) < 8 + _FILLED.size:
        raise DecodeError(f"Jupiter DCA Filled event of {len(site.data)} bytes is shorter than {8 + _FILLED.size}")
    user, dca, input_key, output_key, in_amount, out_amount, fee_key, fee = _FILLED.unpack_from(site.data, 8)
    input_mint = quote_mint_text(input_key)
    output_mint = quote_mint_text(output_key)
    fee_mint = quote_mint_text(fee_key)
    if output_mint == WSOL_MINT and input_mint != WSOL_MINT:
        direction, mint, quote_mint, token_amount, quote_amount = "sell", input_mint, output_mint, in_amount, out_amount
    else:
        direction, mint, quote_mint, token_amount, quote_amount = "buy", output_mint, input_mint, out_amount, in_amount
    return tx.trade(
        site,
        direction=direction,  # type: ignore[arg-type]
        trader=pubkey_text(user),
        mint=mint,
        quote_mint=quote_mint,
        token_amount=token_amount,
        quote_amount=quote_amount,
        fee=fee if fee_mint == quote_mint else None,
        pool=pubkey_text(dca),
    )


def _opened_or_closed(site: EventSite, tx: TxContext, kind: str) -> ProgramEvent:
    data = site.data
    if len(data) < 8 + _OPENED.size:
        raise DecodeError(f"Jupiter DCA {kind} event of {len(data)} bytes is shorter than {8 + _OPENED.size}")
    user, dca, deposited, input_key, output_key, frequency, per_cycle, _ = _OPENED.unpack_from(data, 8)
    details: dict[str, object] = {
        "dcaKey": pubkey_text(dca),
        "inputMint": pubkey_text(input_key),
        "outputMint": pubkey_text(output_key),
        "inDeposited": deposited,
        "inAmountPerCycle": per_cycle,
        "cycleFrequency": frequency,
    }
    if kind == "dca_close":
        if len(data) < 8 + _OPENED.size + _CLOSED_TAIL.size:
            raise DecodeError(f"Jupiter DCA Closed event of {len(data)} bytes is truncated")
        in_withdrawn, out_withdrawn, unfilled, user_closed = _CLOSED_TAIL.unpack_from(data, 8 + _OPENED.size)
        details.update(
            totalInWithdrawn=in_withdrawn,
            totalOutWithdrawn=out_withdrawn,
            unfilledAmount=unfilled,
            userClosed=user_closed,
        )
    return tx.program_event(
        site,
        kind,
        trader=pubkey_text(user),
        mint=None,
        quote_mint=None,  # type: ignore[arg-type]
        details=details,
    )


DECODER = ProgramDecoder(
    program=JUPITER_DCA,
    decode_event=decode_event,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({FILLED_EVENT}),
    is_dca=True,
)
