"""Moonshot (MoonC…): TradeEvent → trade; MigrationEvent → ``migrated``; ``tokenMint`` → ``token_created``
(it emits no event). Moonshot writes its events only as ``Program data:`` log lines. Layouts:
``solflow.domain.decode.idl.moonshot``.

``collateralAmount`` is the curve side: a buyer pays it plus ``dexFee + helioFee``, a seller gets it
minus them. The quote is the event's ``costToken`` (WSOL); the mint is the instruction's ``mint``
account; the pool is the event's ``curve``. The events carry no reserves.
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
    quote_mint_text,
)
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.idl.moonshot import TABLE
from solflow.domain.lifecycle import LifecycleEvent, Migrated, TokenCreated
from solflow.domain.programs import MOONSHOT, WSOL_MINT
from solflow.domain.trade import TradeEvent

TRADE = TABLE.event_named("TradeEvent")
MIGRATION = TABLE.event_named("MigrationEvent")
_TRADE_FIELDS = TRADE.select("amount collateralAmount dexFee helioFee curve costToken sender type")
_BUY, _SELL = 0, 1

_TRADE_IX = TABLE.instruction_named("buy")  # buy and sell share their accounts
_TRADE_ACCOUNTS = TradeAccounts(trader=_TRADE_IX.account("sender"), mint=_TRADE_IX.account("mint"), quote_mint=None)
TRADE_INSTRUCTIONS: dict[bytes, TradeAccounts] = {
    TABLE.instruction_named(name).discriminator: _TRADE_ACCOUNTS for name in ("buy", "sell")
}
_TOKEN_MINT = TABLE.instruction_named("tokenMint")
_MIGRATE = TABLE.instruction_named("migrateFunds")


def _trade(site: EventSite, tx: TxContext) -> TradeEvent:
    amount, collateral, dex_fee, helio_fee, curve, cost_token, sender, trade_type = tx.fields(site, _TRADE_FIELDS)
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


def _migration(site: EventSite, tx: TxContext) -> Migrated:
    invocation = site.invocation
    if invocation.discriminator != _MIGRATE.discriminator:
        raise DecodeError(f"Moonshot MigrationEvent under unknown instruction {invocation.discriminator.hex()}")
    tokens_migrated, _, collateral_migrated, fee, _ = tx.fields(site, MIGRATION)
    return tx.lifecycle(
        Migrated,
        site,
        mint=tx.account(invocation, _MIGRATE.account("mint")),
        curve=tx.account(invocation, _MIGRATE.account("curveAccount")),
        user=tx.account(invocation, _MIGRATE.account("backendAuthority")),
        pool=None,  # the target (Raydium or Meteora) is created outside this transaction
        target_program=None,
        base_amount=tokens_migrated,
        quote_amount=collateral_migrated,
        fee=fee,
        quote_mint=WSOL_MINT,
    )


def decode_instruction(invocation: Invocation, tx: TxContext) -> LifecycleEvent | None:
    """``tokenMint``: a new token and its curve; its parameters are the instruction's arguments."""
    args = _TOKEN_MINT.args
    assert args is not None
    (params,), _ = args.decode(invocation.data)
    name, symbol, uri, decimals, _, amount, _, _ = params
    return tx.lifecycle(
        TokenCreated,
        instruction_site(invocation),
        mint=tx.account(invocation, _TOKEN_MINT.account("mint")),
        name=name,
        symbol=symbol,
        uri=uri,
        creator=tx.account(invocation, _TOKEN_MINT.account("sender")),
        decimals=decimals,
        supply=amount,
        quote_mint=WSOL_MINT,  # the only collateral currency
        curve=tx.account(invocation, _TOKEN_MINT.account("curveAccount")),
        token_program=tx.account(invocation, _TOKEN_MINT.account("tokenProgram")),
    )


HANDLERS: dict[bytes, Callable[[EventSite, TxContext], Record | None]] = {
    TRADE.discriminator: _trade,
    MIGRATION.discriminator: _migration,
}

DECODER = ProgramDecoder(
    program=MOONSHOT,
    table=TABLE,
    handlers=HANDLERS,
    trade_instructions=TRADE_INSTRUCTIONS,
    trade_events=frozenset({TRADE.discriminator}),
    decode_instruction=decode_instruction,
    lifecycle_instructions=frozenset({_TOKEN_MINT.discriminator}),
    log_events=True,
)
