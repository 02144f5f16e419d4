"""TxContext: one transaction as the program decoders see it, and ProgramDecoder, the shape they share.

A program decoder is a table entry: which instructions are trades (and where the fallback finds the
trader and mints among their accounts), which events are trade events, and ``decode_event``, which
turns one event into a TradeEvent, a ProgramEvent, or None for events SolFlow does not report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from solders.pubkey import Pubkey
from solders.signature import Signature

from solflow.domain.decode.accounts import AccountKeys, pubkey_text
from solflow.domain.decode.anchor import EventSite, Invocation
from solflow.domain.decode.balances import TokenBalances
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import EventKind, ProgramEvent
from solflow.domain.programs import SOL_DECIMALS, WSOL_MINT, Program
from solflow.domain.trade import Direction, TradeEvent

SYSTEM_PROGRAM_KEY = bytes(32)  # 11111111111111111111111111111111, also pump.fun's "SOL" quote mint
WSOL_KEY = bytes(Pubkey.from_string(WSOL_MINT))


class TradeAccounts(NamedTuple):
    """Positions, among a trade instruction's accounts, of what the balance-delta fallback needs."""

    trader: int
    mint: int
    quote_mint: int | None  # None: the quote is SOL


class ProgramDecoder(NamedTuple):
    program: Program
    decode_event: Callable[[EventSite, TxContext], TradeEvent | ProgramEvent | None]
    trade_instructions: Mapping[bytes, TradeAccounts]  # instruction discriminator -> fallback accounts
    trade_events: frozenset[bytes]  # event discriminators that carry a trade
    is_dca: bool = False
    log_events: bool = False  # events are written only as ``Program data:`` log lines


class TxContext:
    __slots__ = (
        "info",
        "message",
        "meta",
        "keys",
        "instructions",
        "groups",
        "slot",
        "block_time",
        "invocations",
        "memo",
        "_signature",
        "_balances",
    )

    def __init__(self, info: Any, keys: list[bytes], slot: int, block_time: int | None) -> None:
        self.info = info
        self.message = info.transaction.message
        self.meta = info.meta
        self.keys = AccountKeys(keys)
        self.instructions = self.message.instructions
        self.groups: dict[int, Any] = {g.index: g.instructions for g in self.meta.inner_instructions}
        self.slot = slot
        self.block_time = block_time
        self.invocations: list[Invocation] = []  # set by the decoder once found
        self.memo: dict[str, Any] | None = None  # results a decoder computes once for all the tx's events
        self._signature: str | None = None
        self._balances: TokenBalances | None = None

    @property
    def signature(self) -> str:
        if self._signature is None:
            raw = self.info.signature or (
                self.info.transaction.signatures[0] if self.info.transaction.signatures else b""
            )
            if len(raw) != 64:
                raise DecodeError(f"transaction signature has {len(raw)} bytes, expected 64")
            self._signature = str(Signature.from_bytes(raw))
        return self._signature

    @property
    def fee_payer(self) -> str:
        return self.keys.text(0)

    @property
    def balances(self) -> TokenBalances:
        """Token balance changes of every mint (the balance-delta fallback's view)."""
        if self._balances is None:
            self._balances = TokenBalances(self.meta)
        return self._balances

    def account(self, invocation: Invocation, position: int) -> str:
        return self.keys.account_text(invocation.accounts, position)

    def via(self, invocation: Invocation) -> str | None:
        """The top-level program when it is not the event's program (router, aggregator, migrate)."""
        if invocation.inner_index is None:
            return None
        top = self.keys.text(self.instructions[invocation.outer_index].program_id_index)
        return None if top == invocation.decoder.program.program_id else top

    def trade(
        self,
        site: EventSite,
        *,
        direction: Direction,
        trader: str,
        mint: str,
        quote_mint: str,
        token_amount: int,
        quote_amount: int,
        fee: int | None,
        pool: str | None,
        event_time: int | None = None,
    ) -> TradeEvent:
        invocation = site.invocation
        decoder = invocation.decoder
        program = decoder.program
        # positional, in TradeEvent's field order (keywords cost measurably on this path)
        return TradeEvent(
            self.signature,
            self.slot,
            self.info.index,
            self.block_time if self.block_time is not None else event_time,
            program.name,
            program.program_id,
            direction,
            trader,
            self.fee_payer,
            mint,
            quote_mint,
            token_amount,
            None,  # token_decimals: filled in with the balance cross-check, which reads them anyway
            quote_amount,
            SOL_DECIMALS if quote_mint == WSOL_MINT else None,
            fee,
            invocation.outer_index,
            site.inner_ix_index,
            self.via(invocation),
            pool,
            decoder.is_dca,
            site.source,  # type: ignore[arg-type]
        )

    def program_event(
        self,
        site: EventSite,
        kind: EventKind,
        *,
        trader: str,
        mint: str | None,
        quote_mint: str | None,
        details: dict[str, Any],
    ) -> ProgramEvent:
        invocation = site.invocation
        program = invocation.decoder.program
        return ProgramEvent(
            kind=kind,
            program=program.name,
            program_id=program.program_id,
            signature=self.signature,
            slot=self.slot,
            block_time=self.block_time,
            outer_ix_index=invocation.outer_index,
            inner_ix_index=site.inner_ix_index,
            trader=trader,
            fee_payer=self.fee_payer,
            mint=mint,
            quote_mint=quote_mint,
            via=self.via(invocation),
            details=details,
        )


def quote_mint_text(raw: bytes) -> str:
    """Quote mint as output: the default key (pump.fun's 2026 "SOL") and WSOL are both WSOL's mint."""
    return WSOL_MINT if raw in (SYSTEM_PROGRAM_KEY, WSOL_KEY) else pubkey_text(raw)
