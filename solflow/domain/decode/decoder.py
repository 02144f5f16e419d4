"""TransactionDecoder: one Yellowstone transaction in, the tracked programs' trades (and lifecycle records) out.

Match → decode → check: find the invocations of tracked programs (precomputed program-id bytes against
the combined account keys), attach their events (self-CPI first; ``Program data:`` logs for programs
that only log, and for trade instructions without a self-CPI event), let each program's decoder turn
events into TradeEvents (and, asked for, LifecycleEvents), fall back to balance deltas for trade
instructions without a decodable event, then fill in decimals and cross-check token amounts against
balance changes. Events are read by the program's layout table: bytes after the newest known layout
are counted (``trailing``), never a reason to fall back; events no layout knows are counted as
unknown. Malformed input never raises: it is counted in ``stats`` and the last messages are kept in
``recent_errors``.

Three entry points share that path: ``decode`` (trades only, the flow's hot path), ``decode_all``
(trades and lifecycle records, in order) and ``inspect`` (``decode_all`` plus what was unknown,
trailing or disagreeing in that transaction, for ``solflow decode``).
"""

from __future__ import annotations

import contextlib
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from solflow.domain.decode.anchor import Invocation, attach_log_events, find_invocations
from solflow.domain.decode.balances import TokenBalances
from solflow.domain.decode.context import ProgramDecoder, Record, Trailing, TxContext, signature_text
from solflow.domain.decode.crosscheck import candidate_owners, cross_check
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.fallback import balance_delta_trade
from solflow.domain.decode.registry import DECODERS
from solflow.domain.decode.stats import UNATTRIBUTED, DecodeStats, ProgramCounters
from solflow.domain.lifecycle import TokenCreated
from solflow.domain.programs import BY_NAME, PROGRAM_NAMES
from solflow.domain.trade import TradeEvent

# What malformed protobuf content can raise while it is read (beyond our own DecodeError).
_MALFORMED = (DecodeError, ValueError, IndexError, KeyError, struct.error, AttributeError, TypeError)
_RECENT_ERRORS = 100


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event of a tracked program whose discriminator no layout of that program has."""

    program: str
    discriminator: str  # hex
    outer_ix_index: int
    inner_ix_index: int | None
    size: int  # bytes, discriminator included


@dataclass(slots=True)
class TransactionReport:
    """What ``inspect`` found in one transaction besides its records."""

    signature: str | None = None  # None when the update has no valid one
    records: list[Record] = field(default_factory=list)
    unknown_events: list[UnknownEvent] = field(default_factory=list)
    trailing: list[Trailing] = field(default_factory=list)
    cross_checked: int = 0  # trades whose token amount was compared with a balance change
    disagreements: int = 0  # ... and did not match it
    errors: list[str] = field(default_factory=list)


class TransactionDecoder:
    """Decodes ``SubscribeUpdateTransactionInfo`` messages for the listed programs only.

    >>> decoder = TransactionDecoder(["pumpfun"])
    >>> trades = decoder.decode(info, slot, block_time)  # doctest: +SKIP
    >>> records = decoder.decode_all(info, slot, block_time)  # trades and lifecycle  # doctest: +SKIP
    """

    def __init__(self, programs: Iterable[str] = PROGRAM_NAMES) -> None:
        names = tuple(dict.fromkeys(programs))
        unknown = [name for name in names if name not in DECODERS]
        if unknown:
            raise ValueError(f"unknown program(s) {', '.join(unknown)}; known: {', '.join(DECODERS)}")
        self.programs = names
        self._by_key: dict[bytes, ProgramDecoder] = {BY_NAME[name].id_bytes: DECODERS[name] for name in names}
        self.stats = DecodeStats(names)
        self.recent_errors: deque[str] = deque(maxlen=_RECENT_ERRORS)
        self._report: TransactionReport | None = None  # set while ``inspect`` runs

    def take_stats(self) -> DecodeStats:
        """The counters so far; counting starts again from zero."""
        taken = self.stats
        self.stats = DecodeStats(self.programs)
        return taken

    def decode(self, info: Any, slot: int, block_time: int | None) -> list[TradeEvent]:
        """Trades of the listed programs, in (outer_ix_index, inner_ix_index) order."""
        return self._decode(info, slot, block_time, False)  # type: ignore[return-value]

    def decode_all(self, info: Any, slot: int, block_time: int | None) -> list[Record]:
        """Trades and lifecycle records of the listed programs, in (outer_ix_index, inner_ix_index) order."""
        return self._decode(info, slot, block_time, True)

    def inspect(self, info: Any, slot: int, block_time: int | None) -> TransactionReport:
        """``decode_all``'s records plus the transaction's unknown events, events with trailing bytes,
        cross-check outcomes and errors."""
        report = self._report = TransactionReport()
        try:
            report.records = self._decode(info, slot, block_time, True)
        finally:
            self._report = None
        with contextlib.suppress(*_MALFORMED):
            report.signature = signature_text(info)
        return report

    def _decode(self, info: Any, slot: int, block_time: int | None, lifecycle: bool) -> list[Record]:
        try:
            message = info.transaction.message
            meta = info.meta
            keys = list(message.account_keys)
            if not keys:  # every transaction has a fee payer
                raise DecodeError("transaction update without account keys (no message?)")
            if meta.loaded_writable_addresses or meta.loaded_readonly_addresses:
                keys += meta.loaded_writable_addresses
                keys += meta.loaded_readonly_addresses
            if not info.HasField("meta"):  # without it even the loaded keys are unknown
                raise DecodeError("transaction update has no meta")
        except _MALFORMED as exc:
            self._unattributed_error(exc)
            return []
        by_key = self._by_key
        present = by_key.keys() & set(keys)
        if not present:
            self._check_dangling(info, len(keys))
            return []
        tracked = {keys.index(key): by_key[key] for key in present}
        counters = self.stats.programs
        touched = [counters[decoder.program.name] for decoder in tracked.values()]
        for program_counters in touched:
            program_counters.transactions += 1
        if meta.HasField("err"):
            for program_counters in touched:
                program_counters.failed_transactions += 1
            return []
        try:
            groups = {g.index: g.instructions for g in meta.inner_instructions}
            invocations, orphans = find_invocations(message.instructions, groups, tracked)
            if not invocations:  # the programs' keys are there but none of them ran: nothing more to read
                self._check_unseen(info, tracked, counters)
                return []
            tx = TxContext(info, keys, slot, block_time, groups, invocations)
            return self._events(tx, orphans, counters, lifecycle)
        except _MALFORMED as exc:
            for program_counters in touched:
                self._error(program_counters, "transaction", exc)
            return []

    def _events(
        self,
        tx: TxContext,
        orphans: list[ProgramDecoder],
        counters: dict[str, ProgramCounters],
        lifecycle: bool,
    ) -> list[Record]:
        invocations = tx.invocations
        for decoder in orphans:
            self._error(counters[decoder.program.name], tx, DecodeError("self-CPI event with no emitting invocation"))
        quiet = [invocation for invocation in invocations if not invocation.events and _may_log(invocation)]
        if quiet:
            for decoder in attach_log_events(tx, quiet):
                self._error(counters[decoder.program.name], tx, DecodeError("Program data: line is not base64"))
        found: list[tuple[int, int, Record]] = []
        from_events: list[TradeEvent] = []
        for invocation in invocations:
            decoder = invocation.decoder
            trade_events = decoder.trade_events
            traded = False
            if lifecycle and invocation.discriminator in decoder.lifecycle_instructions:
                self._instruction_record(invocation, tx, counters[decoder.program.name], found)
            for site in invocation.events:
                kind = site.data[:8]
                if kind not in trade_events:
                    if kind not in decoder.table.events:
                        self._unknown_event(site.invocation, site.data, site.inner_ix_index, counters)
                        continue
                    if not lifecycle:
                        continue
                try:
                    handler = decoder.handlers.get(kind)
                    if handler is None:  # a known event SolFlow does not report: read for its length only
                        tx.fields(site, decoder.table.events[kind])
                        continue
                    event = handler(site, tx)
                except _MALFORMED as exc:
                    self._error(counters[decoder.program.name], tx, exc)
                    continue
                if event is None:
                    continue
                inner = site.inner_ix_index
                position = invocation.position if inner is None else inner
                if type(event) is TradeEvent:
                    traded = True
                    from_events.append(event)
                    found.append((invocation.outer_index, position, event))
                    if lifecycle and decoder.trade_lifecycle is not None:
                        record = decoder.trade_lifecycle(site, tx, event)
                        if record is not None:
                            found.append((invocation.outer_index, position, record))
                elif lifecycle:
                    found.append((invocation.outer_index, position, event))
            if not traded and _is_trade(invocation):
                trade = self._fallback(invocation, tx, counters[decoder.program.name])
                if trade is not None:
                    found.append((invocation.outer_index, invocation.position, trade))
        if tx.trailing is not None:
            self._count_trailing(tx.trailing)
        if not found:
            return []
        if len(found) > 1:
            found.sort(key=_position)
        records = [item[2] for item in found]
        trades = records if len(from_events) == len(records) else [r for r in records if type(r) is TradeEvent]
        if trades:
            self._check(trades, from_events, tx, counters)  # type: ignore[arg-type]
        if lifecycle and len(trades) < len(records):
            self._complete_lifecycle(records, tx, counters)
        return records

    def _instruction_record(
        self, invocation: Invocation, tx: TxContext, counters: ProgramCounters, found: list[tuple[int, int, Record]]
    ) -> None:
        decode = invocation.decoder.decode_instruction
        if decode is None:
            return
        try:
            record = decode(invocation, tx)
        except _MALFORMED as exc:
            self._error(counters, tx, exc)
            return
        if record is not None:
            found.append((invocation.outer_index, invocation.position, record))

    def _unknown_event(
        self, invocation: Invocation, data: bytes, inner: int | None, counters: dict[str, ProgramCounters]
    ) -> None:
        program = invocation.decoder.program.name
        counters[program].unknown_events += 1
        if self._report is not None:
            self._report.unknown_events.append(
                UnknownEvent(program, data[:8].hex(), invocation.outer_index, inner, len(data))
            )

    def _count_trailing(self, trailing: list[Trailing]) -> None:
        for note in trailing:
            self.stats.add_trailing(note.program, note.event, note.trailing)
        if self._report is not None:
            self._report.trailing.extend(trailing)

    def _complete_lifecycle(self, records: list[Record], tx: TxContext, counters: dict[str, ProgramCounters]) -> None:
        """Count the lifecycle records; fill in what a creation's event left out from the transaction's
        token balances: every account of a mint created here is in them, so their total is its supply."""
        balances: TokenBalances | None = None
        for record in records:
            if type(record) is TradeEvent:
                continue
            counters[record.program].lifecycle_events += 1
            if type(record) is TokenCreated and None in (record.decimals, record.supply, record.token_program):
                try:
                    if balances is None:
                        balances = TokenBalances(tx.meta)
                    if record.decimals is None:
                        record.decimals = balances.decimals.get(record.mint)
                    if record.supply is None:
                        record.supply = balances.issued(record.mint)
                    if record.token_program is None:
                        record.token_program = balances.token_program(record.mint)
                except _MALFORMED as exc:
                    self._error(counters[record.program], tx, exc)

    def _check_unseen(
        self, info: Any, tracked: dict[int, ProgramDecoder], counters: dict[str, ProgramCounters]
    ) -> None:
        """A tracked program's key without an instruction of it is fine (an account passed along), unless
        the logs say it ran or the inner instructions were not recorded: then its events are invisible."""
        meta = info.meta
        for decoder in tracked.values():
            program_id = decoder.program.program_id
            invoked = f"Program {program_id} invoke ["
            if meta.inner_instructions_none:
                problem = f"inner instructions not recorded: calls of {program_id} cannot be seen"
            elif any(line.startswith(invoked) for line in meta.log_messages):
                problem = f"{program_id} ran (per the logs) but no instruction of it is recorded"
            else:
                continue
            self._error(counters[decoder.program.name], _described(info), DecodeError(problem))

    def _fallback(self, invocation: Invocation, tx: TxContext, counters: ProgramCounters) -> TradeEvent | None:
        try:
            trade = balance_delta_trade(invocation, tx)
        except _MALFORMED as exc:
            self._error(counters, tx, exc)
            return None
        counters.fallbacks += 1
        return trade

    def _check(
        self,
        trades: list[TradeEvent],
        from_events: list[TradeEvent],
        tx: TxContext,
        counters: dict[str, ProgramCounters],
    ) -> None:
        """Count the trades, fill in their decimals and cross-check the event-decoded ones."""
        for trade in trades:
            counters[trade.program].trades += 1
        mints = {trade.mint for trade in trades}
        mints.update(trade.quote_mint for trade in trades if trade.quote_decimals is None)
        try:
            fee_payer = tx.fee_payer
            balances = TokenBalances(tx.meta, mints, candidate_owners(from_events, fee_payer))
        except _MALFORMED as exc:
            for program in dict.fromkeys(trade.program for trade in trades):
                self._error(counters[program], tx, exc)
            for trade in from_events:
                counters[trade.program].cross_check_unverifiable += 1
            return
        decimals = balances.decimals
        for trade in trades:
            trade.token_decimals = decimals.get(trade.mint)
            if trade.quote_decimals is None:
                trade.quote_decimals = decimals.get(trade.quote_mint)
        if not from_events:
            return
        report = self._report
        for trade, outcome in zip(from_events, cross_check(from_events, balances, fee_payer)):
            if outcome == "disagree":
                counters[trade.program].cross_check_disagreements += 1
            elif outcome == "unverifiable":
                counters[trade.program].cross_check_unverifiable += 1
            if report is not None and outcome != "unverifiable":
                report.cross_checked += 1
                report.disagreements += outcome == "disagree"

    def _check_dangling(self, info: Any, key_count: int) -> None:
        """No tracked key is fine for an unrelated transaction, but not when an instruction refers past
        the key list: the missing keys (e.g. dropped loaded addresses) may have been a tracked program."""
        instructions = list(info.transaction.message.instructions)
        for group in info.meta.inner_instructions:
            instructions.extend(group.instructions)
        for instruction in instructions:
            accounts = instruction.accounts
            index = max(instruction.program_id_index, max(accounts) if accounts else 0)
            if index >= key_count:
                self._unattributed_error(
                    DecodeError(
                        f"instruction refers to account index {index} but the transaction has {key_count} keys"
                        " (loaded addresses missing?)"
                    )
                )
                return

    def _unattributed_error(self, exc: Exception) -> None:
        # a partition decodes for its one program, so an update it cannot read was meant for that program
        owner = self.programs[0] if len(self.programs) == 1 else UNATTRIBUTED
        self._error(self.stats[owner], "transaction", exc)

    def _error(self, counters: ProgramCounters, where: TxContext | str, exc: Exception) -> None:
        counters.errors += 1
        if isinstance(where, TxContext):
            where = _described(where.info)
        message = f"{where}: {exc}"
        self.recent_errors.append(message)
        if self._report is not None:
            self._report.errors.append(message)


def _described(info: Any) -> str:
    """How an error names its transaction: the signature, if it has a valid one."""
    try:
        return signature_text(info)
    except _MALFORMED:
        return "transaction without a valid signature"


def _position(item: tuple[int, int, Any]) -> tuple[int, int]:
    return item[0], item[1]


def _may_log(invocation: Invocation) -> bool:
    """Whether a ``Program data:`` line may carry this invocation's events: the program writes them
    only as logs, or it is a trade instruction that left no self-CPI event."""
    decoder = invocation.decoder
    return decoder.log_events or invocation.discriminator in decoder.trade_instructions


def _is_trade(invocation: Invocation) -> bool:
    decoder = invocation.decoder
    if invocation.discriminator in decoder.trade_instructions:
        return True
    return any(site.data[:8] in decoder.trade_events for site in invocation.events)
