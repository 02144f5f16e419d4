"""Pump.fun bonding curve (6EF8…): TradeEvent → trade, CreateEvent → create, migration event → migrate.

TradeEvent layouts grew at the end: 129 bytes (2024 – spring 2025, no fee fields), 258 (October 2025:
fee recipient, fee, creator fee, volume tracking), 358+ (2026: instruction name, cashback, buyback,
shareholders, quote mint and amount). ``sol_amount`` (or ``quote_amount`` for a non-SOL quote) is the
pool side: a buyer pays it plus ``fee + creator_fee + cashback``; a seller gets it minus ``fee +
creator_fee``. ``buyback_fee`` is part of ``fee``. For the 129-byte layout the fee is what the trade paid
the instruction's fee recipient: a buy's System transfers to it; otherwise the recipient's lamport gain
(see ``_legacy_protocol_fees``).
"""

from __future__ import annotations

import struct

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, Invocation, discriminator
from solflow.domain.decode.balances import lamport_delta
from solflow.domain.decode.borsh import BorshReader
from solflow.domain.decode.context import SYSTEM_PROGRAM_KEY, ProgramDecoder, TradeAccounts, TxContext, quote_mint_text
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import ProgramEvent
from solflow.domain.programs import PUMPFUN, WSOL_MINT
from solflow.domain.trade import TradeEvent

TRADE_EVENT = discriminator("event", "TradeEvent")
CREATE_EVENT = discriminator("event", "CreateEvent")
MIGRATION_EVENT = discriminator("event", "CompletePumpAmmMigrationEvent")

# mint, sol_amount, token_amount, is_buy, user, timestamp, 4 reserves: the whole 129-byte layout
_TRADE_BASE = struct.Struct("<32sQQ?32sq32x")
# fee_recipient, fee_basis_points, fee, creator, creator_fee_basis_points, creator_fee
_TRADE_FEES = struct.Struct("<32s8xQ32s8xQ")
# track_volume, total_unclaimed_tokens, total_claimed_tokens, current_sol_volume, last_update_timestamp
_VOLUME_FIELDS = 33
_CASHBACK = struct.Struct("<x8xQ16x")  # mayhem_mode, cashback_fee_basis_points, cashback, buyback bps + fee
_SHAREHOLDER_SIZE = 34  # address, share_bps
_QUOTE = struct.Struct("<32sQ")  # quote_mint, quote_amount
_MIGRATION = struct.Struct("<32s32sQQQ32sq32s")
_CREATE_TAIL = struct.Struct("<q32x32s")  # timestamp, 4 reserves/supply, token_program
_SYSTEM_TRANSFER = struct.Struct("<IQ")  # System program instruction kind (u32), lamports
_SYSTEM_TRANSFER_KIND = 2
_LEGACY_FEES_MEMO = "pumpfun.legacy_fees"

_BONDING_CURVE_SOL = 3
_FEE_RECIPIENT_SOL = 1
_BONDING_CURVE_V2 = 10
_FEE_RECIPIENT_V2 = 6
_SOL_QUOTED = TradeAccounts(trader=6, mint=2, quote_mint=None)
_TOKEN_QUOTED = TradeAccounts(trader=13, mint=1, quote_mint=2)
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    discriminator("global", "buy"): _SOL_QUOTED,
    discriminator("global", "sell"): _SOL_QUOTED,
    discriminator("global", "buy_exact_sol_in"): _SOL_QUOTED,
    discriminator("global", "buy_v2"): _TOKEN_QUOTED,
    discriminator("global", "sell_v2"): _TOKEN_QUOTED,
    discriminator("global", "buy_exact_quote_in_v2"): _TOKEN_QUOTED,
}


def decode_event(site: EventSite, tx: TxContext) -> TradeEvent | ProgramEvent | None:
    disc = site.data[:8]
    if disc == TRADE_EVENT:
        return _trade(site, tx)
    if disc == CREATE_EVENT:
        return _create(site, tx)
    if disc == MIGRATION_EVENT:
        return _migration(site, tx)
    return None


def _trade(site: EventSite, tx: TxContext) -> TradeEvent:
    reader = BorshReader(site.data, 8)
    mint, sol_amount, token_amount, is_buy, user, timestamp = reader.unpack(_TRADE_BASE)
    invocation = site.invocation
    quote_mint = WSOL_MINT
    event_quote = sol_amount
    cashback = 0
    if reader.remaining:
        _, fee, _, creator_fee = reader.unpack(_TRADE_FEES)
        if reader.remaining:
            reader.skip(_VOLUME_FIELDS)
        if reader.remaining:
            reader.string()  # ix_name
            (cashback,) = reader.unpack(_CASHBACK)
            reader.skip_vec(_SHAREHOLDER_SIZE)
            quote_key, quote_amount = reader.unpack(_QUOTE)
            quote_mint = quote_mint_text(quote_key)
            if quote_mint != WSOL_MINT:
                event_quote = quote_amount
        fees = fee + creator_fee
        total_fee: int | None = fees + cashback
    else:
        fees = total_fee = _legacy_protocol_fee(site, tx)
    if total_fee is None:  # fee recipient unknown: the pool-side amount is all we know
        quote_amount_raw = event_quote
    elif is_buy:
        quote_amount_raw = event_quote + fees + cashback
    else:
        quote_amount_raw = event_quote - fees
        if quote_amount_raw < 0:
            raise DecodeError(f"pump.fun sell of {event_quote} pays {fees} in fees: more than it received")
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=pubkey_text(user),
        mint=pubkey_text(mint),
        quote_mint=quote_mint,
        token_amount=token_amount,
        quote_amount=quote_amount_raw,
        fee=total_fee,
        pool=_account(invocation, tx, _BONDING_CURVE_SOL, _BONDING_CURVE_V2),
        event_time=timestamp,
    )


def _account(invocation: Invocation, tx: TxContext, sol_position: int, v2_position: int) -> str | None:
    layout = TRADE_INSTRUCTIONS.get(invocation.discriminator)
    if layout is None:
        return None
    return tx.account(invocation, sol_position if layout is _SOL_QUOTED else v2_position)


def _legacy_protocol_fee(site: EventSite, tx: TxContext) -> int | None:
    if tx.memo is None:
        tx.memo = {}
    fees = tx.memo.get(_LEGACY_FEES_MEMO)
    if fees is None:
        fees = tx.memo[_LEGACY_FEES_MEMO] = _legacy_protocol_fees(tx)
    return fees.get((site.invocation.outer_index, site.inner_ix_index))


def _legacy_protocol_fees(tx: TxContext) -> dict[tuple[int, int | None], int | None]:
    """Protocol fee of every 129-byte-layout trade in the transaction, keyed by event position.

    A buy's fee is its System transfers to the fee recipient. The rest of what a recipient gained
    (sells, and buys whose transfers are not available as raw instructions) is shared among those
    trades in proportion to ``sol_amount``: exact for one trade, within a lamport for several.
    """
    fees: dict[tuple[int, int | None], int | None] = {}
    shared: dict[int, list[tuple[tuple[int, int | None], int]]] = {}
    for invocation in tx.invocations:
        if invocation.decoder.program is not PUMPFUN:
            continue
        legacy = [
            site
            for site in invocation.events
            if site.data[:8] == TRADE_EVENT and len(site.data) == 8 + _TRADE_BASE.size
        ]
        if not legacy:
            continue
        recipient = _fee_recipient(invocation)
        for site in legacy:
            key = (invocation.outer_index, site.inner_ix_index)
            _, sol_amount, _, is_buy, _, _ = _TRADE_BASE.unpack_from(site.data, 8)
            paid = _transfers_to(tx, recipient, _children(tx, invocation)) if is_buy and recipient is not None else None
            if paid is not None:
                fees[key] = paid
            elif recipient is None:
                fees[key] = None
            else:
                shared.setdefault(recipient, []).append((key, sol_amount))
    for recipient, trades in shared.items():
        transferred = _transfers_to(tx, recipient, _all_instructions(tx)) or 0
        remainder = lamport_delta(tx.meta, recipient) - transferred
        total_sol = sum(sol for _, sol in trades)
        for index, (key, sol_amount) in enumerate(trades):
            if remainder < 0:
                fees[key] = None
            elif index == len(trades) - 1 or total_sol == 0:
                fees[key] = remainder
            else:
                fees[key] = share = remainder * sol_amount // total_sol
                remainder -= share
                total_sol -= sol_amount
    return fees


def _fee_recipient(invocation: Invocation) -> int | None:
    layout = TRADE_INSTRUCTIONS.get(invocation.discriminator)
    if layout is None:
        return None
    position = _FEE_RECIPIENT_SOL if layout is _SOL_QUOTED else _FEE_RECIPIENT_V2
    return invocation.accounts[position] if position < len(invocation.accounts) else None


def _children(tx: TxContext, invocation: Invocation) -> list:
    group = tx.groups.get(invocation.outer_index, ())
    if invocation.inner_index is None:
        return list(group)
    height = invocation.stack_height
    children = []
    for inner in group[invocation.inner_index + 1 :]:
        if height and 0 < inner.stack_height <= height:
            break
        children.append(inner)
    return children


def _all_instructions(tx: TxContext) -> list:
    everything = list(tx.instructions)
    for group in tx.groups.values():
        everything.extend(group)
    return everything


def _transfers_to(tx: TxContext, recipient: int, instructions: list) -> int | None:
    """Lamports System-transferred to ``recipient``; None when a System instruction has no raw data
    (a jsonParsed source that only kept the node's parsed form)."""
    keys = tx.keys.raw
    total = 0
    for ix in instructions:
        index = ix.program_id_index
        if index >= len(keys) or keys[index] != SYSTEM_PROGRAM_KEY:
            continue
        data = ix.data
        if not data:
            return None
        if len(data) == _SYSTEM_TRANSFER.size and len(ix.accounts) >= 2 and ix.accounts[1] == recipient:
            kind, lamports = _SYSTEM_TRANSFER.unpack(data)
            if kind == _SYSTEM_TRANSFER_KIND:
                total += lamports
    return total


def _create(site: EventSite, tx: TxContext) -> ProgramEvent:
    reader = BorshReader(site.data, 8)
    name = reader.string()
    symbol = reader.string()
    reader.string()  # uri
    mint = pubkey_text(reader.pubkey())
    details: dict[str, object] = {"name": name, "symbol": symbol, "bonding_curve": pubkey_text(reader.pubkey())}
    user = pubkey_text(reader.pubkey())
    details["user"] = user
    creator: str = user
    quote_mint = WSOL_MINT
    if reader.remaining:
        creator = pubkey_text(reader.pubkey())
        details["creator"] = creator
        if reader.remaining:
            _, token_program = reader.unpack(_CREATE_TAIL)
            details["token_program"] = pubkey_text(token_program)
            if reader.remaining:
                reader.skip(2)  # is_mayhem_mode, is_cashback_enabled
                quote_mint = quote_mint_text(reader.pubkey())
    return tx.program_event(site, "create", trader=creator, mint=mint, quote_mint=quote_mint, details=details)


def _migration(site: EventSite, tx: TxContext) -> ProgramEvent:
    reader = BorshReader(site.data, 8)
    user, mint, mint_amount, sol_amount, migration_fee, _, _, pool = reader.unpack(_MIGRATION)
    quote_mint = quote_mint_text(reader.pubkey()) if reader.remaining else WSOL_MINT
    details = {
        "pool": pubkey_text(pool),
        "mint_amount": mint_amount,
        "sol_amount": sol_amount,
        "pool_migration_fee": migration_fee,
    }
    return tx.program_event(
        site, "migrate", trader=pubkey_text(user), mint=pubkey_text(mint), quote_mint=quote_mint, details=details
    )


DECODER = ProgramDecoder(
    program=PUMPFUN,
    decode_event=decode_event,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({TRADE_EVENT}),
)
