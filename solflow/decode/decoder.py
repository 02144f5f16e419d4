"""TransactionDecoder: one Yellowstone transaction in, the tracked programs' trades (and other events) out.

Match → decode → check: find the invocations of tracked programs (precomputed program-id bytes against
the combined account keys), attach their events (self-CPI first, ``Program data:`` logs only for
invocations without any), let each program's decoder turn events into TradeEvent / ProgramEvent, fall
back to balance deltas for trade instructions without a decodable event, then cross-check token
amounts against balance changes. Malformed input never raises: it is counted in ``stats`` and the
last messages are kept in ``recent_errors``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from typing import Any

from solflow.decode.anchor import Invocation, attach_log_events, find_invocations
from solflow.decode.context import ProgramDecoder, TxContext
from solflow.decode.crosscheck import cross_check
from solflow.decode.errors import DecodeError
from solflow.decode.events import ProgramEvent
from solflow.decode.fallback import balance_delta_trade
from solflow.decode.registry import DECODERS
from solflow.decode.stats import UNATTRIBUTED, DecodeStats, ProgramCounters
from solflow.programs import BY_NAME, PROGRAM_NAMES
from solflow.trade import TradeEvent

# What malformed protobuf content can raise while it is read (beyond our own DecodeError).
_MALFORMED = (DecodeError, ValueError, IndexError, KeyError, struct.error, AttributeError, TypeError)
_RECENT_ERRORS = 100


class TransactionDecoder:
    """Decodes ``SubscribeUpdateTransactionInfo`` messages for the listed programs only."""

    def __init__(self, programs: Iterable[str] = PROGRAM_NAMES) -> None:
        names = tuple(dict.fromkeys(programs))
        unknown = [name for name in names if name not in DECODERS]
        if unknown:
            raise ValueError(f"unknown program(s) {', '.join(unknown)}; known: {', '.join(DECODERS)}")
        self.programs = names
        self._by_key: dict[bytes, ProgramDecoder] = {BY_NAME[name].id_bytes: DECODERS[name] for name in names}
        self.stats = DecodeStats(names)
        self.recent_errors: deque[str] = deque(maxlen=_RECENT_ERRORS)

    def decode(self, info: Any, slot: int, block_time: int | None) -> list[TradeEvent]:
        """Trades of the listed programs, in (outer_ix_index, inner_ix_index) order."""
        return self._decode(info, slot, block_time, with_program_events=False)  # type: ignore[return-value]

    def decode_events(self, info: Any, slot: int, block_time: int | None) -> list[TradeEvent | ProgramEvent]:
        """Trades and non-trade events (create, create_pool, migrate, dca_open, dca_close), in order."""
        return self._decode(info, slot, block_time, with_program_events=True)

    def _decode(self, info: Any, slot: int, block_time: int | None, *, with_program_events: bool) -> list:
        try:
            message = info.transaction.message
            keys = list(message.account_keys)
            meta = info.meta
            keys += meta.loaded_writable_addresses
            keys += meta.loaded_readonly_addresses
        except _MALFORMED as exc:
            self._error(self.stats[UNATTRIBUTED], "transaction", exc)
            return []
        by_key = self._by_key
        tracked = {index: decoder for index, key in enumerate(keys) if (decoder := by_key.get(key)) is not None}
        if not tracked:
            return []
        touched = {decoder.program.name: self.stats[decoder.program.name] for decoder in tracked.values()}
        for counters in touched.values():
            counters.transactions += 1
        if not info.HasField("meta"):
            for counters in touched.values():
                self._error(counters, "transaction", DecodeError("transaction update has no meta"))
            return []
        if meta.HasField("err"):
            for counters in touched.values():
                counters.failed_transactions += 1
            return []
        try:
            tx = TxContext(info, keys, slot, block_time)
            return self._events(tx, tracked, with_program_events)
        except _MALFORMED as exc:
            for counters in touched.values():
                self._error(counters, "transaction", exc)
            return []

    def _events(self, tx: TxContext, tracked: dict[int, ProgramDecoder], with_program_events: bool) -> list:
        invocations, orphans = find_invocations(tx.instructions, tx.groups, tracked)
        for decoder in orphans:
            self._error(self.stats[decoder.program.name], tx, DecodeError("self-CPI event with no emitting invocation"))
        tx.invocations = invocations
        if any(not invocation.events for invocation in invocations):
            for decoder in attach_log_events(tx, invocations):
                self._error(self.stats[decoder.program.name], tx, DecodeError("Program data: line is not base64"))
        found: list[tuple[tuple[int, int], TradeEvent | ProgramEvent]] = []
        from_events: list[TradeEvent] = []
        for invocation in invocations:
            decoder = invocation.decoder
            counters = self.stats[decoder.program.name]
            traded = False
            for site in invocation.events:
                try:
                    event = decoder.decode_event(site, tx)
                except _MALFORMED as exc:
                    self._error(counters, tx, exc)
                    continue
                if event is None:
                    continue
                position = site.inner_ix_index if site.inner_ix_index is not None else invocation.position
                if type(event) is TradeEvent:
                    traded = True
                    from_events.append(event)
                    found.append(((invocation.outer_index, position), event))
                elif with_program_events:
                    found.append(((invocation.outer_index, position), event))
            if not traded and _is_trade(invocation):
                self._fallback(invocation, tx, counters, found)
        if from_events:
            self._cross_check(from_events, tx)
        for _, event in found:
            if type(event) is TradeEvent:
                self.stats[event.program].trades += 1
        if len(found) > 1:
            found.sort(key=lambda item: item[0])
        return [event for _, event in found]

    def _fallback(self, invocation: Invocation, tx: TxContext, counters: ProgramCounters, found: list) -> None:
        try:
            trade = balance_delta_trade(invocation, tx)
        except _MALFORMED as exc:
            self._error(counters, tx, exc)
            return
        counters.fallbacks += 1
        found.append(((invocation.outer_index, invocation.position), trade))

    def _cross_check(self, trades: list[TradeEvent], tx: TxContext) -> None:
        try:
            outcomes = cross_check(trades, tx.balances, tx.fee_payer)
        except _MALFORMED as exc:
            for program in dict.fromkeys(trade.program for trade in trades):
                self._error(self.stats[program], tx, exc)
            outcomes = ["unverifiable"] * len(trades)
        for trade, outcome in zip(trades, outcomes):
            if outcome == "disagree":
                self.stats[trade.program].cross_check_disagreements += 1
            elif outcome == "unverifiable":
                self.stats[trade.program].cross_check_unverifiable += 1

    def _error(self, counters: ProgramCounters, where: TxContext | str, exc: Exception) -> None:
        counters.errors += 1
        if isinstance(where, TxContext):
            try:
                where = where.signature
            except DecodeError:
                where = "transaction without a valid signature"
        self.recent_errors.append(f"{where}: {exc}")


def _is_trade(invocation: Invocation) -> bool:
    decoder = invocation.decoder
    if invocation.data[:8] in decoder.trade_instructions:
        return True
    return any(site.data[:8] in decoder.trade_events for site in invocation.events)
