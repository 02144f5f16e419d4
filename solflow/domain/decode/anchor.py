"""Anchor events and where they were emitted.

Anchor programs write an event as a self-CPI instruction (data = ``EVENT_IX_TAG`` + 8-byte event
discriminator + Borsh payload) and/or as a ``Program data: <base64>`` log line. Both kinds are tied
to the *invocation* of the program that emitted them: a self-CPI by the inner instruction's program
id and stack height, a log line by following the ``invoke [n]`` / ``success`` / ``failed`` lines.
Discriminators are shared between programs (``TradeEvent``), so attribution never uses them.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING, Any, NamedTuple

from solflow.domain.decode.errors import DecodeError

if TYPE_CHECKING:
    from solflow.domain.decode.accounts import AccountKeys
    from solflow.domain.decode.context import ProgramDecoder, TxContext

EVENT_IX_TAG = bytes.fromhex("e445a52e51cb9a1d")
_PROGRAM = "Program "
_LOG_PREFIX = "Program log: "
_DATA_PREFIX = "Program data: "
_INVOKE = " invoke ["
_SUCCESS = " success"
_FAILED = " failed"
_LOG_TRUNCATED = "Log truncated"


class Invocation:
    """One execution of a tracked program: a top-level instruction (``inner_index`` None) or a CPI."""

    __slots__ = ("decoder", "outer_index", "inner_index", "stack_height", "data", "discriminator", "accounts", "events")

    def __init__(
        self,
        decoder: ProgramDecoder,
        outer_index: int,
        inner_index: int | None,
        stack_height: int,
        data: bytes,
        accounts: bytes,
    ) -> None:
        self.decoder = decoder
        self.outer_index = outer_index
        self.inner_index = inner_index
        self.stack_height = stack_height  # 1 = top level; 0 = not recorded (old data)
        self.data = data
        self.discriminator = data[:8]  # the instruction's Anchor discriminator
        self.accounts = accounts
        self.events: list[EventSite] = []

    @property
    def position(self) -> int:
        return -1 if self.inner_index is None else self.inner_index


class EventSite(NamedTuple):
    """An event's bytes (8-byte discriminator + payload) and where they were found."""

    invocation: Invocation
    data: bytes
    inner_ix_index: int | None  # the self-CPI's index in the outer instruction's inner list; None for logs
    source: str  # "cpi_event" | "log_event"


def find_invocations(
    instructions: Any, groups: dict[int, Any], tracked: dict[int, ProgramDecoder]
) -> tuple[list[Invocation], list[ProgramDecoder]]:
    """Invocations of tracked programs (by program key index) with their self-CPI events attached.

    Returns the invocations in execution order and, per self-CPI event whose emitting invocation
    could not be found (malformed stack heights), its program's decoder.
    """
    invocations: list[Invocation] = []
    orphans: list[ProgramDecoder] = []
    for outer_index, ix in enumerate(instructions):
        decoder = tracked.get(ix.program_id_index)
        top = None
        if decoder is not None:
            top = Invocation(decoder, outer_index, None, 1, ix.data, ix.accounts)
            invocations.append(top)
        group = groups.get(outer_index)
        if not group:
            continue
        in_group: dict[int, Invocation] = {}
        for inner_index, inner in enumerate(group):
            decoder = tracked.get(inner.program_id_index)
            if decoder is None:
                continue
            data = inner.data
            if data.startswith(EVENT_IX_TAG):
                parent = _emitter(group, inner_index, inner.stack_height, decoder, top, in_group)
                if parent is None:
                    orphans.append(decoder)
                else:
                    parent.events.append(EventSite(parent, data[8:], inner_index, "cpi_event"))
            else:
                invocation = Invocation(decoder, outer_index, inner_index, inner.stack_height, data, inner.accounts)
                in_group[inner_index] = invocation
                invocations.append(invocation)
    return invocations, orphans


def _emitter(
    group: Any,
    index: int,
    height: int,
    decoder: ProgramDecoder,
    top: Invocation | None,
    in_group: dict[int, Invocation],
) -> Invocation | None:
    """The invocation that issued the self-CPI at ``index``: the nearest earlier instruction one level up."""
    if height >= 2:
        if height == 2:
            parent = top
        else:
            parent = None
            for k in range(index - 1, -1, -1):
                if group[k].stack_height == height - 1:
                    parent = in_group.get(k)
                    break
    else:  # stack heights not recorded: the latest tracked invocation in this instruction
        parent = next(reversed(in_group.values()), top)
    if parent is None or parent.decoder is not decoder:
        return None
    return parent


def attach_log_events(tx: TxContext, invocations: list[Invocation]) -> list[ProgramDecoder]:
    """Attach ``Program data:`` events to ``invocations`` (those without self-CPI events).

    Returns, per ``Program data:`` line that is not base64, the writing program's decoder. Lines after
    ``Log truncated`` are lost; their invocations end up without events (and trades fall back).
    """
    by_position = {(inv.outer_index, inv.inner_index): inv for inv in invocations}
    instructions = tx.instructions
    keys = tx.keys
    stack: list[Invocation | None] = []
    outer_index = -1
    inner_index = -1
    group: Any = ()
    bad_lines: list[ProgramDecoder] = []
    for line in tx.meta.log_messages:
        if line.startswith(_LOG_PREFIX):
            continue
        if line.startswith(_DATA_PREFIX):
            invocation = stack[-1] if stack else None
            if invocation is not None:
                try:
                    data = binascii.a2b_base64(line[len(_DATA_PREFIX) :])
                except (binascii.Error, ValueError):
                    bad_lines.append(invocation.decoder)
                    continue
                invocation.events.append(EventSite(invocation, data, None, "log_event"))
        elif line.endswith(_SUCCESS) or _FAILED in line:
            if stack:
                stack.pop()
        elif line.endswith("]") and _INVOKE in line:
            program, _, depth_text = line[len(_PROGRAM) : -1].partition(_INVOKE)
            depth = int(depth_text) if depth_text.isdigit() else 0
            if depth <= 1:
                outer_index += 1
                while outer_index < len(instructions) and _program_text(keys, instructions[outer_index]) != program:
                    outer_index += 1
                inner_index = -1
                group = tx.groups.get(outer_index, ())
                del stack[:]
                stack.append(by_position.get((outer_index, None)))
            else:
                inner_index += 1
                while inner_index < len(group) and _program_text(keys, group[inner_index]) != program:
                    inner_index += 1
                del stack[depth - 1 :]
                stack.append(by_position.get((outer_index, inner_index)))
        elif line.startswith(_LOG_TRUNCATED):
            break
    return bad_lines


def _program_text(keys: AccountKeys, ix: Any) -> str | None:
    try:
        return keys.text(ix.program_id_index)
    except DecodeError:
        return None
