"""TxContext: one transaction as the program decoders see it, and ProgramDecoder, the shape they share.

A program decoder is a table entry: its layout table (``solflow.domain.decode.idl``), which
instructions are trades (and where the fallback finds the trader and mints among their accounts),
which events are trade events, ``handlers``, which turn one event of a kind into a TradeEvent or a
LifecycleEvent (the table's other events are only read for their length), ``decode_instruction`` for the
lifecycle steps a program records only as an instruction, and ``trade_lifecycle`` for those a trade
event carries along.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from solders.pubkey import Pubkey
from solders.signature import Signature

from solflow.domain.decode.accounts import AccountKeys, pubkey_text
from solflow.domain.decode.anchor import EventSite, Invocation
from solflow.domain.decode.balances import TokenBalances
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.layout import EventLayout, ProgramLayouts
from solflow.domain.lifecycle import LifecycleEvent, LifecycleSource
from solflow.domain.programs import SOL_DECIMALS, WSOL_MINT, Program
from solflow.domain.trade import DecodeSource, Direction, TradeEvent

SYSTEM_PROGRAM_KEY = bytes(32)  # 11111111111111111111111111111111, also pump.fun's "SOL" quote mint
WSOL_KEY = bytes(Pubkey.from_string(WSOL_MINT))

Record = TradeEvent | LifecycleEvent
L = TypeVar("L", bound=LifecycleEvent)


class TradeAccounts(NamedTuple):
    """Positions, among a trade instruction's accounts, of what the balance-delta fallback needs."""

    trader: int
    mint: int
    quote_mint: int | None  # None: the quote is SOL


class Trailing(NamedTuple):
    """An event with bytes after the newest layout SolFlow knows (a newer program version)."""

    program: str
    event: str
    outer_ix_index: int
    inner_ix_index: int | None
    size: int  # the event's bytes, discriminator included
    trailing: int


class ProgramDecoder(NamedTuple):
    program: Program
    table: ProgramLayouts
    handlers: Mapping[bytes, Callable[[EventSite, TxContext], Record | None]]  # event discriminator -> decoder
    trade_instructions: Mapping[bytes, TradeAccounts]  # instruction discriminator -> fallback accounts
    trade_events: frozenset[bytes]  # event discriminators that carry a trade
    decode_instruction: Callable[[Invocation, TxContext], LifecycleEvent | None] | None = None
    lifecycle_instructions: frozenset[bytes] = frozenset()  # what ``decode_instruction`` reads
    # a lifecycle step a trade event also reports (LaunchLab's curve completing with a trade)
    trade_lifecycle: Callable[[EventSite, TxContext, TradeEvent], LifecycleEvent | None] | None = None
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
        "trailing",
        "_signature",
        "_fee_payer",
        "_balances",
        "_via",
    )

    def __init__(
        self,
        info: Any,
        keys: list[bytes],
        slot: int,
        block_time: int | None,
        groups: dict[int, Any],
        invocations: list[Invocation],
    ) -> None:
        """``groups``: the inner instructions by top-level index; ``invocations``: of the tracked programs."""
        self.info = info
        self.message = info.transaction.message
        self.meta = info.meta
        self.keys = AccountKeys(keys)
        self.instructions = self.message.instructions
        self.groups = groups
        self.slot = slot
        self.block_time = block_time
        self.invocations = invocations
        self.memo: dict[str, Any] | None = None  # results a decoder computes once for all the tx's events
        self.trailing: list[Trailing] | None = None  # events longer than their newest known layout
        # what every record of the transaction repeats, computed for the first one
        self._signature: str | None = None
        self._fee_payer: str | None = None
        self._balances: TokenBalances | None = None
        self._via: dict[int, str | None] = {}

    @property
    def signature(self) -> str:
        if self._signature is None:
            self._signature = signature_text(self.info)
        return self._signature

    @property
    def fee_payer(self) -> str:
        if self._fee_payer is None:
            self._fee_payer = self.keys.text(0)
        return self._fee_payer

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
        outer = invocation.outer_index
        top = self._via.get(outer)
        if top is None:
            top = self._via[outer] = self.keys.text(self.instructions[outer].program_id_index)
        return None if top == invocation.decoder.program.program_id else top

    def fields(self, site: EventSite, event: EventLayout) -> tuple[Any, ...]:
        """The event's values in its newest layout the bytes contain (``event.layout`` order, or the
        variant's when its length picks one); bytes beyond that layout are noted in ``trailing``."""
        values, trailing = event.read(site.data)
        if trailing:
            self.note_trailing(site, event.name, trailing)
        return values

    def note_trailing(self, site: EventSite, event: str, trailing: int) -> None:
        if self.trailing is None:
            self.trailing = []
        invocation = site.invocation
        self.trailing.append(
            Trailing(
                invocation.decoder.program.name,
                event,
                invocation.outer_index,
                site.inner_ix_index,
                len(site.data),
                trailing,
            )
        )

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
        reserves: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None),
    ) -> TradeEvent:
        """``reserves``: (virtual base, virtual quote, real base, real quote) after the trade."""
        invocation = site.invocation
        decoder = invocation.decoder
        program = decoder.program
        source: DecodeSource = site.source  # type: ignore[assignment]
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
            source,
            *reserves,
        )

    def lifecycle(self, cls: type[L], site: EventSite, event_time: int | None = None, **fields: Any) -> L:
        """A ``cls`` record found at ``site`` (an event, or an instruction's own site)."""
        invocation = site.invocation
        program = invocation.decoder.program
        source: LifecycleSource = site.source  # type: ignore[assignment]
        return cls(
            signature=self.signature,
            slot=self.slot,
            tx_index=self.info.index,
            block_time=self.block_time if self.block_time is not None else event_time,
            program=program.name,
            program_id=program.program_id,
            fee_payer=self.fee_payer,
            outer_ix_index=invocation.outer_index,
            inner_ix_index=site.inner_ix_index,
            via=self.via(invocation),
            decode_source=source,
            **fields,
        )


def signature_text(info: Any) -> str:
    """Base58 of the transaction's signature (the update's, else the message's first)."""
    raw = info.signature or (info.transaction.signatures[0] if info.transaction.signatures else b"")
    if len(raw) != 64:
        raise DecodeError(f"transaction signature has {len(raw)} bytes, expected 64")
    return str(Signature.from_bytes(raw))


def instruction_site(invocation: Invocation) -> EventSite:
    """Where a record taken from the instruction itself (no event) is found."""
    return EventSite(invocation, b"", invocation.inner_index, "instruction")


def quote_mint_text(raw: bytes | None) -> str:
    """Quote mint as output: the default key (pump.fun's 2026 "SOL"), WSOL, and none at all (a layout
    from before non-SOL quotes) are all WSOL's mint."""
    return WSOL_MINT if raw is None or raw in (SYSTEM_PROGRAM_KEY, WSOL_KEY) else pubkey_text(raw)


def optional_text(raw: bytes | None) -> str | None:
    return None if raw is None else pubkey_text(raw)
