"""TxBuilder: assembles one transaction the way the runtime would record it.

Programs are entered and exited like real invocations: each top-level instruction and each CPI is
recorded (CPIs flattened per top-level instruction with their stack height), `invoke [n]` /
`consumed … of … compute units` / `success` log lines are written in order, lamport and token
movements are tracked, and `finish` compiles the message (static keys ordered like the Solana
compiler, v0 keys loaded through address lookup tables), the meta (fee, balances, token balances,
inner instructions, logs, error) and the expected trades. A failed instruction stops execution:
later instructions stay in the message but leave no logs, and only the fee is charged.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from solders.signature import Signature

from protos import solana_storage_pb2 as storage
from solflow.domain.programs import BY_ID, WSOL_MINT
from solflow.domain.trade import DecodeSource, Direction, TradeEvent
from solflow.simulator import keys, wire
from solflow.simulator.keys import b58
from solflow.simulator.ledger import TokenAccount

if TYPE_CHECKING:
    from solflow.simulator.world import World

SIGNER = 1
WRITABLE = 2
ROLE_FLAGS = {"r": 0, "w": WRITABLE, "s": SIGNER, "S": SIGNER | WRITABLE}

LOG_LIMIT_BYTES = 10_000  # the runtime's per-transaction log budget
LAMPORTS_PER_SIGNATURE = 5_000
DEFAULT_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000
EVENT_IX_TAG = bytes.fromhex("e445a52e51cb9a1d")  # Anchor's emit_cpi! instruction prefix
INSTRUCTION_ERROR = 8
CUSTOM_ERROR = 25

_NATIVE_PROGRAMS = {keys.SYSTEM_PROGRAM, keys.COMPUTE_BUDGET_PROGRAM}
_COMPUTE_LIMIT = struct.Struct("<BI")
_COMPUTE_PRICE = struct.Struct("<BQ")
_ERROR = struct.Struct("<IBII")


@dataclass(slots=True)
class ExpectedTrade:
    """A trade the transaction contains, minus what only the finished transaction knows."""

    program_id: bytes
    direction: Direction
    trader: bytes
    mint: bytes
    quote_mint: bytes
    token_amount_raw: int
    token_decimals: int
    quote_amount_raw: int
    quote_decimals: int
    fee_amount_raw: int | None
    outer_ix_index: int
    inner_ix_index: int | None
    via: bytes | None
    pool: bytes | None
    is_dca: bool
    decode_source: DecodeSource
    reserves: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None)  # after the trade


class LookupTable:
    """An address lookup table: addresses keep the index they were first given."""

    CAPACITY = 256

    def __init__(self, address: bytes):
        self.address = address
        self._index: dict[bytes, int] = {}

    def index_of(self, account: bytes) -> int | None:
        found = self._index.get(account)
        if found is None and len(self._index) < self.CAPACITY:
            found = self._index[account] = len(self._index)
        return found


class TxBuilder:
    def __init__(
        self, world: World, fee_payer: bytes, block_time: int, *, versioned: bool, co_signers: Sequence[bytes] = ()
    ):
        self.world = world
        self.block_time = block_time
        self.fee_payer = fee_payer
        self.versioned = versioned
        self._signers = [fee_payer, *co_signers]
        self._flags: dict[bytes, int] = {s: SIGNER | WRITABLE for s in self._signers}
        self._instructions: list[tuple[bytes, Sequence[bytes], bytes]] = []
        self._inner: list[list[tuple[bytes, Sequence[bytes], bytes, int]]] = []
        self._logs: list[str] = []
        self._lamports: dict[bytes, int] = {}
        self._token_delta: dict[bytes, int] = {}
        self._created: dict[bytes, TokenAccount] = {}
        self._closed: set[bytes] = set()
        self._stack: list[tuple[_ProgramLines, int]] = []
        self._unit_limit: int | None = None
        self._unit_price = 0
        self._remaining = 0
        self._consumed = 0
        self._error: tuple[int, int] | None = None
        self._halted_depth = 0
        self._expected: list[ExpectedTrade] = []
        self.lifecycle: list[str] = []  # kinds of the lifecycle records the transaction carries

    # ----- instructions and invocations -------------------------------------------------------

    @property
    def outer_index(self) -> int:
        return len(self._instructions) - 1

    @property
    def log_bytes(self) -> int:
        return sum(map(len, self._logs))

    @property
    def halted(self) -> bool:
        return self._error is not None

    def compute_budget(self, unit_limit: int, micro_lamports_per_unit: int) -> None:
        self._unit_limit = unit_limit
        self._unit_price = micro_lamports_per_unit
        self._remaining = unit_limit
        for data in (_COMPUTE_LIMIT.pack(2, unit_limit), _COMPUTE_PRICE.pack(3, micro_lamports_per_unit)):
            self.call(keys.COMPUTE_BUDGET_PROGRAM, (), "", data, 150)

    def enter(self, program: bytes, accounts: Sequence[bytes], roles: str, data: bytes) -> int:
        """Invoke `program`: a top-level instruction when nothing runs, else a CPI of the running one.

        Returns the instruction's index: the top-level position, or the position in the top-level
        instruction's flattened inner-instruction list.
        """
        if self._error is not None:
            if self._halted_depth == 0:
                self._add_instruction(program, accounts, roles, data)
            self._halted_depth += 1
            return -1
        stack = self._stack
        depth = len(stack) + 1
        if depth == 1:
            self._add_instruction(program, accounts, roles, data)
            if self._unit_limit is None:
                self._remaining = max(self._remaining, 0) + DEFAULT_UNITS_PER_INSTRUCTION
            position = len(self._instructions) - 1
        else:
            inner = self._inner[-1]
            inner.append((program, accounts, data, depth))
            position = len(inner) - 1
        lines = _lines(program)
        self._log(lines.invoke[depth])
        stack.append((lines, self._remaining))
        return position

    def exit(self, own_units: int = 0, returned: bytes | None = None) -> None:
        if self._error is not None:
            self._halted_depth = max(self._halted_depth - 1, 0)
            return
        lines, at_entry = self._stack.pop()
        self._remaining -= own_units
        self._consumed += own_units
        if not lines.native:
            self._log(f"{lines.consumed}{at_entry - self._remaining} of {at_entry} compute units")
        if returned is not None:
            self._log(f"Program return: {lines.name} {base64.b64encode(returned).decode()}")
        self._log(lines.success)

    def call(
        self,
        program: bytes,
        accounts: Sequence[bytes],
        roles: str,
        data: bytes,
        own_units: int,
        message: str | None = None,
        returned: bytes | None = None,
    ) -> int:
        """`enter`, one `Program log:` line, `exit`: an invocation that makes no CPIs of its own."""
        if self._error is not None:
            position = self.enter(program, accounts, roles, data)
            self.exit(own_units, returned)
            return position
        depth = len(self._stack) + 1
        if depth == 1:
            self._add_instruction(program, accounts, roles, data)
            position = len(self._instructions) - 1
            if self._unit_limit is None:
                self._remaining = max(self._remaining, 0) + DEFAULT_UNITS_PER_INSTRUCTION
        else:
            inner = self._inner[-1]
            inner.append((program, accounts, data, depth))
            position = len(inner) - 1
        lines = _lines(program)
        logs = self._logs
        logs.append(lines.invoke[depth])
        if message is not None:
            logs.append("Program log: " + message)
        at_entry = self._remaining
        self._remaining = at_entry - own_units
        self._consumed += own_units
        if not lines.native:
            logs.append(f"{lines.consumed}{own_units} of {at_entry} compute units")
        if returned is not None:
            logs.append(f"Program return: {lines.name} {base64.b64encode(returned).decode()}")
        logs.append(lines.success)
        return position

    def _spend(self, units: int) -> None:
        self._remaining -= units
        self._consumed += units

    def fail(self, code: int, reason: Iterable[str], own_units: int) -> None:
        """The running program returns custom error `code`; every caller fails with it."""
        for line in reason:
            self.log(line)
        self._spend(own_units)
        message = f"custom program error: {code:#x}"
        while self._stack:
            lines, at_entry = self._stack.pop()
            self._log(f"{lines.consumed}{at_entry - self._remaining} of {at_entry} compute units")
            self._log(f"Program {lines.name} failed: {message}")
            self._halted_depth += 1
        self._error = (len(self._instructions) - 1, code)

    def _add_instruction(self, program: bytes, accounts: Sequence[bytes], roles: str, data: bytes) -> None:
        flags = self._flags
        flags.setdefault(program, 0)
        for account, role in zip(accounts, roles):
            flags[account] = flags.get(account, 0) | ROLE_FLAGS[role]
        self._instructions.append((program, accounts, data))
        self._inner.append([])

    # ----- logs --------------------------------------------------------------------------------

    def log(self, message: str) -> None:
        self._log("Program log: " + message)

    def log_data(self, payload: bytes) -> None:
        self._log("Program data: " + base64.b64encode(payload).decode())

    def _log(self, line: str) -> None:
        if self._error is None:
            self._logs.append(line)

    def emit_cpi_event(self, program: bytes, event_authority: bytes, event: bytes) -> int:
        """Anchor `emit_cpi!`: the program invokes itself with the event as instruction data."""
        return self.call(program, (event_authority,), "", EVENT_IX_TAG + event, self.world.rng.randrange(1_900, 2_100))

    # ----- balances ----------------------------------------------------------------------------

    def lamport_balance(self, account: bytes) -> int:
        return self.world.ledger.balance(account) + self._lamports.get(account, 0)

    def move_lamports(self, source: bytes, destination: bytes, amount: int) -> None:
        lamports = self._lamports
        lamports[source] = lamports.get(source, 0) - amount
        lamports[destination] = lamports.get(destination, 0) + amount

    def token_account(self, account: bytes) -> TokenAccount | None:
        if account in self._closed:
            return None
        return self._created.get(account) or self.world.ledger.tokens.get(account)

    def token_amount(self, account: bytes) -> int:
        found = self.token_account(account)
        return 0 if found is None else found.amount + self._token_delta.get(account, 0)

    def move_tokens(self, source: bytes, destination: bytes, amount: int, mint: bytes, withheld: int = 0) -> None:
        """Move `amount`; `withheld` of it stays withheld in the destination (Token-2022 transfer fee)."""
        for account in (source, destination):
            found = self.token_account(account)
            if found is None or found.mint != mint:
                raise ValueError(f"simulator bug: {b58(account)} is not a {b58(mint)} token account")
        delta = self._token_delta
        delta[source] = delta.get(source, 0) - amount
        delta[destination] = delta.get(destination, 0) + amount - withheld
        if mint == keys.WSOL:  # a native-mint account's lamports are its token amount plus rent
            self.move_lamports(source, destination, amount)

    def mint_tokens(self, account: bytes, amount: int) -> None:
        self._token_delta[account] = self._token_delta.get(account, 0) + amount

    def new_account(self, account: bytes) -> None:
        """`account` is created by this transaction: it held no lamports before."""
        self.world.ledger.lamports.setdefault(account, 0)

    def open_token_account(self, account: bytes, owner: bytes, mint: bytes, program: bytes, decimals: int) -> None:
        self.new_account(account)
        self._created[account] = TokenAccount(mint, owner, program, decimals, 0)
        self._closed.discard(account)

    def close_token_account(self, account: bytes, destination: bytes) -> None:
        self.move_lamports(account, destination, self.lamport_balance(account))
        self._closed.add(account)

    # ----- expectations ------------------------------------------------------------------------

    def expect(self, trade: ExpectedTrade) -> None:
        if self._error is None:
            self._expected.append(trade)

    def expect_lifecycle(self, kind: str) -> None:
        """The transaction carries a lifecycle record of ``kind`` (token_created, migrated, ...)."""
        if self._error is None:
            self.lifecycle.append(kind)

    # ----- compile -----------------------------------------------------------------------------

    def finish(self, slot: int, tx_index: int, block_time: int) -> tuple[bytes, list[TradeEvent]]:
        """The encoded `SubscribeUpdateTransactionInfo` and the trades it contains; updates the ledger."""
        world = self.world
        signatures = [world.rng.randbytes(64) for _ in self._signers]
        ordered, lookups, loaded_writable, loaded_readonly = self._order_keys()
        combined = ordered + loaded_writable + loaded_readonly
        position = {account: i for i, account in enumerate(combined)}

        fee = self._fee()
        ledger = world.ledger
        error = self._error
        failed = error is not None
        deltas = {self.fee_payer: -fee} if failed else self._lamports
        if not failed:
            deltas[self.fee_payer] = deltas.get(self.fee_payer, 0) - fee
        known, balance = ledger.lamports, ledger.balance
        pre_balances = [known[a] if a in known else balance(a) for a in combined]
        post_balances = [pre + deltas.get(a, 0) for a, pre in zip(combined, pre_balances)]
        numbers = storage.TransactionStatusMeta(
            fee=fee,
            pre_balances=pre_balances,
            post_balances=post_balances,
            compute_units_consumed=self._consumed,
        ).SerializeToString()
        try:
            message = self._message(ordered, lookups, position)
            inner = self._inner_instructions(position)
        except KeyError as missing:
            raise ValueError(
                f"simulator bug: {b58(missing.args[0])} is used by an instruction but not a transaction account"
            ) from None
        transaction = b"\x0a\x40" + b"\x0a\x40".join(signatures) + b"\x12" + wire.varint(len(message)) + message
        meta = [numbers, inner, _encode_logs(self._logs)]
        meta.extend(self._token_balances(combined, failed))
        meta.append(wire.repeated_bytes(b"\x62", loaded_writable))
        meta.append(wire.repeated_bytes(b"\x6a", loaded_readonly))
        if error is not None:
            outer, code = error
            meta.append(
                wire.length_delimited(
                    b"\x0a", wire.length_delimited(b"\x0a", _ERROR.pack(INSTRUCTION_ERROR, outer, CUSTOM_ERROR, code))
                )
            )
        info = b"".join(
            (
                b"\x0a\x40",
                signatures[0],
                wire.length_delimited(b"\x1a", transaction),
                wire.length_delimited(b"\x22", b"".join(meta)),
                b"\x28",
                wire.varint(tx_index),
            )
        )

        for account, post in zip(combined, post_balances):
            ledger.lamports[account] = post
        if not failed:
            self._commit_tokens()
        trades = [] if failed else self._trades(str(Signature.from_bytes(signatures[0])), slot, tx_index, block_time)
        return info, trades

    def _message(self, ordered: list[bytes], lookups: list[bytes], position: dict[bytes, int]) -> bytes:
        flags = self._flags
        readonly_unsigned = sum(1 for a in ordered if not flags[a] & WRITABLE)
        header = b"\x08" + _SMALL[len(self._signers)]
        if readonly_unsigned:
            header += b"\x18" + _SMALL[readonly_unsigned]
        parts = [
            b"\x0a",
            _SMALL[len(header)],
            header,
            b"\x12\x20",
            b"\x12\x20".join(ordered),
            b"\x1a\x20",
            self.world.recent_blockhash(),
        ]
        for program, accounts, data in self._instructions:
            indexes = bytes([position[a] for a in accounts])
            body = b"".join(
                (
                    _index_field(position[program]),
                    b"\x12",
                    _SMALL[len(indexes)],
                    indexes,
                    b"\x1a",
                    _SMALL[len(data)],
                    data,
                )
            )
            parts += (b"\x22", _SMALL[len(body)], body)
        if self.versioned:
            parts.append(b"\x28\x01")
            for lookup in lookups:
                parts += (b"\x32", _SMALL[len(lookup)], lookup)
        return b"".join(parts)

    def _inner_instructions(self, position: dict[bytes, int]) -> bytes:
        groups = []
        for outer, inner in enumerate(self._inner):
            if not inner:
                continue
            parts = [_index_field(outer)]
            for program, accounts, data, height in inner:
                indexes = bytes([position[a] for a in accounts])
                body = b"".join(
                    (
                        _index_field(position[program]),
                        b"\x12",
                        _SMALL[len(indexes)],
                        indexes,
                        b"\x1a",
                        _SMALL[len(data)],
                        data,
                        b"\x20",
                        _SMALL[height],
                    )
                )
                parts += (b"\x12", _SMALL[len(body)], body)
            group = b"".join(parts)
            groups.append(b"\x2a" + wire.varint(len(group)) + group)
        return b"".join(groups)

    def _order_keys(self) -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
        flags = self._flags
        signers = self._signers
        others = sorted(a for a, f in flags.items() if not f & SIGNER)
        loadable: dict[bytes, tuple[int, int]] = {}
        if self.versioned:
            invoked = {program for program, _, _ in self._instructions}
            shared = self.world.shared_accounts
            tables = self.world.lookup_tables
            for account in others:
                table_no = shared.get(account)
                if table_no is not None and account not in invoked:
                    index = tables[table_no].index_of(account)
                    if index is not None:
                        loadable[account] = (table_no, index)
        static = [a for a in others if a not in loadable] if loadable else others
        ordered = (
            list(signers) + [a for a in static if flags[a] & WRITABLE] + [a for a in static if not flags[a] & WRITABLE]
        )
        lookups: list[bytes] = []
        loaded_writable: list[bytes] = []
        loaded_readonly: list[bytes] = []
        if loadable:
            by_table: dict[int, tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]] = {}
            for account, (table_no, index) in loadable.items():
                writable, readonly = by_table.setdefault(table_no, ([], []))
                (writable if flags[account] & WRITABLE else readonly).append((index, account))
            for table_no in sorted(by_table):
                writable, readonly = by_table[table_no]
                writable.sort()
                readonly.sort()
                writable_indexes = bytes([i for i, _ in writable])
                readonly_indexes = bytes([i for i, _ in readonly])
                lookups.append(
                    b"".join(
                        (
                            b"\x0a\x20",
                            self.world.lookup_tables[table_no].address,
                            b"\x12",
                            _SMALL[len(writable_indexes)],
                            writable_indexes,
                            b"\x1a",
                            _SMALL[len(readonly_indexes)],
                            readonly_indexes,
                        )
                    )
                )
                loaded_writable.extend(a for _, a in writable)
                loaded_readonly.extend(a for _, a in readonly)
        return ordered, lookups, loaded_writable, loaded_readonly

    def _fee(self) -> int:
        limit = self._unit_limit
        if limit is None:
            limit = min(DEFAULT_UNITS_PER_INSTRUCTION * len(self._instructions), MAX_COMPUTE_UNITS)
        priority = -(-limit * self._unit_price // 1_000_000)
        return LAMPORTS_PER_SIGNATURE * len(self._signers) + priority

    def _token_balances(self, combined: list[bytes], failed: bool) -> tuple[bytes, bytes]:
        ledger_tokens = self.world.ledger.tokens
        created, closed, delta = self._created, self._closed, self._token_delta
        pre: list[bytes] = []
        post: list[bytes] = []
        for index, account in enumerate(combined):
            before = ledger_tokens.get(account)
            change = delta.get(account, 0)
            if before is not None:
                entry = _token_balance(index, before, before.amount)
                pre += (b"\x3a", _SMALL[len(entry)], entry)
                if failed or (not change and account not in closed):
                    post += (b"\x42", _SMALL[len(entry)], entry)
                    continue
            if failed or account in closed:
                continue
            after = created.get(account) or before
            if after is not None:
                entry = _token_balance(index, after, after.amount + change)
                post += (b"\x42", _SMALL[len(entry)], entry)
        return b"".join(pre), b"".join(post)

    def _commit_tokens(self) -> None:
        tokens = self.world.ledger.tokens
        for account, created in self._created.items():
            tokens[account] = created
        for account, delta in self._token_delta.items():
            found = tokens.get(account)
            if found is not None:
                found.amount += delta
        for account in self._closed:
            tokens.pop(account, None)

    def _trades(self, signature: str, slot: int, tx_index: int, block_time: int) -> list[TradeEvent]:
        fee_payer = b58(self.fee_payer)
        trades = []
        for e in self._expected:
            program_id = b58(e.program_id)
            trades.append(
                TradeEvent(
                    signature=signature,
                    slot=slot,
                    tx_index=tx_index,
                    block_time=block_time,
                    program=BY_ID[program_id].name,
                    program_id=program_id,
                    direction=e.direction,
                    trader=b58(e.trader),
                    fee_payer=fee_payer,
                    mint=b58(e.mint),
                    quote_mint=WSOL_MINT if e.quote_mint == keys.WSOL else b58(e.quote_mint),
                    token_amount_raw=e.token_amount_raw,
                    token_decimals=e.token_decimals,
                    quote_amount_raw=e.quote_amount_raw,
                    quote_decimals=e.quote_decimals,
                    fee_amount_raw=e.fee_amount_raw,
                    outer_ix_index=e.outer_ix_index,
                    inner_ix_index=e.inner_ix_index,
                    via=None if e.via is None else b58(e.via),
                    pool=None if e.pool is None else b58(e.pool),
                    is_dca=e.is_dca,
                    decode_source=e.decode_source,
                    virtual_base_reserves=e.reserves[0],
                    virtual_quote_reserves=e.reserves[1],
                    real_base_reserves=e.reserves[2],
                    real_quote_reserves=e.reserves[3],
                )
            )
        trades.sort(key=lambda trade: trade.key)
        return trades


class _ProgramLines:
    """The log lines a program's invocations write, formatted once per program."""

    __slots__ = ("name", "native", "invoke", "consumed", "success")

    def __init__(self, program: bytes):
        self.name = name = b58(program)
        self.native = program in _NATIVE_PROGRAMS  # native programs log no compute units
        self.invoke = tuple(f"Program {name} invoke [{depth}]" for depth in range(6))
        self.consumed = f"Program {name} consumed "
        self.success = f"Program {name} success"


_PROGRAM_LINES: dict[bytes, _ProgramLines] = {}
_SMALL = wire.SMALL
_LOG_TRUNCATED = wire.length_delimited(b"\x32", b"Log truncated")
_LOG_ENTRIES: dict[str, bytes] = {}  # wire-encoded log lines seen before


def _encode_logs(lines: list[str]) -> bytes:
    """`log_messages` as the runtime keeps them: once LOG_LIMIT_BYTES are used up, `Log truncated`
    and nothing more."""
    if sum(map(len, lines)) >= LOG_LIMIT_BYTES:
        used = 0
        for count, line in enumerate(lines):
            used += len(line)
            if used >= LOG_LIMIT_BYTES:
                return _encode_lines(lines[:count]) + _LOG_TRUNCATED
    return _encode_lines(lines)


def _encode_lines(lines: list[str]) -> bytes:
    entries = _LOG_ENTRIES
    encoded: list[bytes | None] = list(map(entries.get, lines))
    if None in encoded:
        for position, entry in enumerate(encoded):
            if entry is None:
                line = lines[position]
                entry = encoded[position] = b"\x32" + _SMALL[len(line)] + line.encode()
                if len(line) < 120 and len(entries) < 20_000:  # the fixed lines recur in every transaction
                    entries[line] = entry
    return b"".join(cast("list[bytes]", encoded))  # every None was filled above


def _lines(program: bytes) -> _ProgramLines:
    found = _PROGRAM_LINES.get(program)
    if found is None:
        found = _PROGRAM_LINES[program] = _ProgramLines(program)
    return found


_INDEX_FIELDS = [b""] + [b"\x08" + wire.varint(i) for i in range(1, 256)]


def _index_field(index: int) -> bytes:
    return _INDEX_FIELDS[index] if index < 256 else b"\x08" + wire.varint(index)


@lru_cache(maxsize=1 << 16)
def _text(raw: bytes) -> bytes:
    """A key as a length-prefixed base58 string field payload."""
    text = b58(raw).encode()
    return wire.varint(len(text)) + text


def _token_balance(index: int, account: TokenAccount, amount: int) -> bytes:
    """An encoded `TokenBalance` (the message body; the caller adds the pre/post field tag)."""
    cached = account.encoded_amount
    if cached is not None and cached[0] == amount:
        return _index_field(index) + cached[1]
    fixed = account.encoded
    if fixed is None:
        fixed = account.encoded = (
            b"\x12" + _text(account.mint),
            b"\x22" + _text(account.owner) + b"\x2a" + _text(account.program),
        )
    amount_field = _ui_amount(amount, account.decimals)
    body = b"".join((fixed[0], b"\x1a", _SMALL[len(amount_field)], amount_field, fixed[1]))
    account.encoded_amount = (amount, body)  # one transaction's post balance is often the next one's pre
    return _index_field(index) + body


def _ui_amount(amount: int, decimals: int) -> bytes:
    """An encoded `UiTokenAmount`."""
    whole, fraction = divmod(amount, 10**decimals)
    text = str(whole)
    if fraction:
        text += "." + str(fraction).rjust(decimals, "0").rstrip("0")
    parts = [wire.double(b"\x09", amount / 10**decimals)] if amount else []
    parts.append(b"\x10" + wire.varint(decimals))
    raw = str(amount).encode()
    parts.append(b"\x1a" + wire.varint(len(raw)) + raw)
    parts.append(b"\x22" + wire.varint(len(text)) + text.encode())
    return b"".join(parts)
