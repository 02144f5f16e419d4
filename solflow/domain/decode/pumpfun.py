"""Pump.fun bonding curve (6EF8…): TradeEvent → trade; CreateEvent, CompleteEvent and the migration
event → lifecycle records. Layouts: ``solflow.domain.decode.idl.pumpfun``.

``sol_amount`` (or ``quote_amount`` for a non-SOL quote) is the pool side: a buyer pays it plus
``fee + creator_fee + cashback``, a seller gets it minus them (cashback, on cashback coins, takes
the creator fee's place and goes to the trader's volume accumulator, not to the trader).
``buyback_fee`` and ``holder_rewards`` are parts of ``fee``, never added to it. The layout before
May 2025 has no fee fields: the fee is then what the trade paid the instruction's fee recipient, a
buy's System transfers to it, otherwise the recipient's lamport gain (``_legacy_protocol_fees``).
The event's reserves are the curve's after the trade.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from solflow.domain.decode.accounts import pubkey_text
from solflow.domain.decode.anchor import EventSite, Invocation
from solflow.domain.decode.balances import lamport_delta
from solflow.domain.decode.context import (
    SYSTEM_PROGRAM_KEY,
    ProgramDecoder,
    Record,
    TradeAccounts,
    TxContext,
    quote_mint_text,
)
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.idl.pumpfun import TABLE
from solflow.domain.decode.layout import InstructionLayout
from solflow.domain.lifecycle import CurveCompleted, Migrated, TokenCreated
from solflow.domain.programs import PUMPFUN, WSOL_MINT
from solflow.domain.trade import TradeEvent

TRADE = TABLE.event_named("TradeEvent")
CREATE = TABLE.event_named("CreateEvent")
COMPLETE = TABLE.event_named("CompleteEvent")
MIGRATION = TABLE.event_named("CompletePumpAmmMigrationEvent")
TRADE_EVENT = TRADE.discriminator

# what a trade needs; a field the event's layout does not have yet is None
_TRADE_FIELDS = TRADE.select(
    "mint sol_amount token_amount is_buy user timestamp virtual_sol_reserves virtual_token_reserves "
    "real_sol_reserves real_token_reserves fee creator_fee cashback quote_mint quote_amount "
    "virtual_quote_reserves real_quote_reserves"
)
_LEGACY_FIELDS = TRADE.select("sol_amount is_buy fee")
_C = CREATE.layout
_CREATOR, _SUPPLY, _TOKEN_PROGRAM, _CREATE_QUOTE = (
    _C["creator"],
    _C["token_total_supply"],
    _C["token_program"],
    _C["quote_mint"],
)
_COMPLETE_QUOTE = COMPLETE.layout["quote_mint"]
_MIGRATION_QUOTE = MIGRATION.layout["quote_mint"]

_SYSTEM_TRANSFER = struct.Struct("<IQ")  # System program instruction kind (u32), lamports
_SYSTEM_TRANSFER_KIND = 2
_LEGACY_FEES_MEMO = "pumpfun.legacy_fees"


class _TradeInstruction:
    """Where a trade instruction keeps the trader, mints, curve and fee recipient."""

    __slots__ = ("accounts", "curve", "fee_recipient")

    def __init__(self, instruction: InstructionLayout, mint: str, quote_mint: str | None) -> None:
        self.accounts = TradeAccounts(
            trader=instruction.account("user"),
            mint=instruction.account(mint),
            quote_mint=None if quote_mint is None else instruction.account(quote_mint),
        )
        self.curve = instruction.account("bonding_curve")
        self.fee_recipient = instruction.account("fee_recipient")


_TRADES: dict[bytes, _TradeInstruction] = {
    TABLE.instruction_named(name).discriminator: _TradeInstruction(TABLE.instruction_named(name), mint, quote)
    for name, mint, quote in (
        ("buy", "mint", None),
        ("sell", "mint", None),
        ("buy_exact_sol_in", "mint", None),
        ("buy_v2", "base_mint", "quote_mint"),
        ("sell_v2", "base_mint", "quote_mint"),
        ("buy_exact_quote_in_v2", "base_mint", "quote_mint"),
    )
}
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {disc: ix.accounts for disc, ix in _TRADES.items()}
_MIGRATIONS = {
    TABLE.instruction_named(name).discriminator: TABLE.instruction_named(name).account("pump_amm")
    for name in ("migrate", "migrate_v2")
}


def _trade(site: EventSite, tx: TxContext) -> TradeEvent:
    (
        mint,
        sol_amount,
        token_amount,
        is_buy,
        user,
        timestamp,
        virtual_sol,
        virtual_token,
        real_sol,
        real_token,
        fee,
        creator_fee,
        cashback,
        quote_key,
        quote_amount_field,
        virtual_quote_field,
        real_quote_field,
    ) = tx.fields(site, _TRADE_FIELDS)
    invocation = site.invocation
    quote_mint = WSOL_MINT
    event_quote = sol_amount
    virtual_quote, real_quote = virtual_sol, real_sol
    total_fee: int | None
    if fee is not None:
        total_fee = fee + creator_fee + (cashback or 0)
        if quote_key is not None:
            quote_mint = quote_mint_text(quote_key)
            if quote_mint != WSOL_MINT:
                event_quote = quote_amount_field
                virtual_quote, real_quote = virtual_quote_field, real_quote_field
    else:
        total_fee = _legacy_protocol_fee(site, tx)
    if total_fee is None:  # fee recipient unknown: the pool-side amount is all we know
        quote_amount = event_quote
    elif is_buy:
        quote_amount = event_quote + total_fee
    else:
        quote_amount = event_quote - total_fee
        if quote_amount < 0:
            raise DecodeError(f"pump.fun sell of {event_quote} pays {total_fee} in fees: more than it received")
    layout = _TRADES.get(invocation.discriminator)
    return tx.trade(
        site,
        direction="buy" if is_buy else "sell",
        trader=pubkey_text(user),
        mint=pubkey_text(mint),
        quote_mint=quote_mint,
        token_amount=token_amount,
        quote_amount=quote_amount,
        fee=total_fee,
        pool=None if layout is None else tx.account(invocation, layout.curve),
        event_time=timestamp,
        reserves=(virtual_token, virtual_quote, real_token, real_quote),
    )


def _legacy_protocol_fee(site: EventSite, tx: TxContext) -> int | None:
    if tx.memo is None:
        tx.memo = {}
    fees = tx.memo.get(_LEGACY_FEES_MEMO)
    if fees is None:
        fees = tx.memo[_LEGACY_FEES_MEMO] = _legacy_protocol_fees(tx)
    return fees.get((site.invocation.outer_index, site.inner_ix_index))


def _legacy_protocol_fees(tx: TxContext) -> dict[tuple[int, int | None], int | None]:
    """Protocol fee of every trade in the layout without fee fields, keyed by event position.

    A buy's fee is its System transfers to the fee recipient. The rest of what a recipient gained
    (sells, and buys whose transfers are not available as raw instructions) is shared among those
    trades in proportion to ``sol_amount``: exact for one trade, within a lamport for several.
    """
    fees: dict[tuple[int, int | None], int | None] = {}
    shared: dict[int, list[tuple[tuple[int, int | None], int]]] = {}
    for invocation in tx.invocations:
        if invocation.decoder.program is not PUMPFUN:
            continue
        legacy = []
        for site in invocation.events:
            if site.data[:8] == TRADE_EVENT:
                values, _ = _LEGACY_FIELDS.read(site.data)
                if values[2] is None:  # no fee field: the layout before May 2025
                    legacy.append((site, values))
        if not legacy:
            continue
        recipient = _fee_recipient(invocation)
        for site, values in legacy:
            key = (invocation.outer_index, site.inner_ix_index)
            sol_amount, is_buy, _ = values
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
    layout = _TRADES.get(invocation.discriminator)
    if layout is None or layout.fee_recipient >= len(invocation.accounts):
        return None
    return invocation.accounts[layout.fee_recipient]


def _children(tx: TxContext, invocation: Invocation) -> list[Any]:
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


def _all_instructions(tx: TxContext) -> list[Any]:
    everything = list(tx.instructions)
    for group in tx.groups.values():
        everything.extend(group)
    return everything


def _transfers_to(tx: TxContext, recipient: int, instructions: list[Any]) -> int | None:
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


def _create(site: EventSite, tx: TxContext) -> TokenCreated:
    values = tx.fields(site, CREATE)
    name, symbol, uri, mint, bonding_curve, user = values[:6]
    creator = values[_CREATOR]
    token_program = values[_TOKEN_PROGRAM]
    quote = values[_CREATE_QUOTE]
    return tx.lifecycle(
        TokenCreated,
        site,
        event_time=values[_C["timestamp"]],
        mint=pubkey_text(mint),
        name=name,
        symbol=symbol,
        uri=uri,
        creator=pubkey_text(creator if creator is not None else user),
        decimals=None,  # not in the event: the decoder reads it from the token balances
        supply=values[_SUPPLY],
        quote_mint=quote_mint_text(quote),
        curve=pubkey_text(bonding_curve),
        token_program=None if token_program is None else pubkey_text(token_program),
    )


def _complete(site: EventSite, tx: TxContext) -> CurveCompleted:
    values = tx.fields(site, COMPLETE)
    user, mint, bonding_curve, timestamp = values[:4]
    quote = values[_COMPLETE_QUOTE]
    return tx.lifecycle(
        CurveCompleted,
        site,
        event_time=timestamp,
        mint=pubkey_text(mint),
        curve=pubkey_text(bonding_curve),
        user=pubkey_text(user),
        quote_mint=quote_mint_text(quote),
    )


def _migration(site: EventSite, tx: TxContext) -> Migrated:
    values = tx.fields(site, MIGRATION)
    user, mint, mint_amount, sol_amount, migration_fee, bonding_curve, timestamp, pool = values[:8]
    quote = values[_MIGRATION_QUOTE]
    invocation = site.invocation
    target = _MIGRATIONS.get(invocation.discriminator)
    return tx.lifecycle(
        Migrated,
        site,
        event_time=timestamp,
        mint=pubkey_text(mint),
        curve=pubkey_text(bonding_curve),
        user=pubkey_text(user),
        pool=pubkey_text(pool),
        target_program=None if target is None else tx.account(invocation, target),
        base_amount=mint_amount,
        quote_amount=sol_amount,
        fee=migration_fee,
        quote_mint=quote_mint_text(quote),
    )


HANDLERS: dict[bytes, Callable[[EventSite, TxContext], Record | None]] = {
    TRADE.discriminator: _trade,
    CREATE.discriminator: _create,
    COMPLETE.discriminator: _complete,
    MIGRATION.discriminator: _migration,
}


DECODER = ProgramDecoder(
    program=PUMPFUN,
    table=TABLE,
    handlers=HANDLERS,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({TRADE_EVENT}),
)
