"""Slot assembly for one source partition: hold transactions per slot, release complete slots, dedup.

A slot is complete when its block meta arrives, when a slot status at or above the subscription's
commitment arrives, when the stream has moved ``RELEASE_DISTANCE_SLOTS`` past it, or when the
stream ends. Released as the slot's transactions in arrival order, then one ``SlotClock``. Replays
after a reconnect overlap what was already seen: transactions are deduplicated by
(slot, signature) for the last ``RESUME_WINDOW_SLOTS`` slots. ``position`` is where a restarted
run resumes: before the oldest slot still open (it comes again in full), skipping the slots after
it that were already released. Plain Python, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from solflow.domain.stream import SlotClock, SlotPosition, TxUpdate

RELEASE_DISTANCE_SLOTS = 32
RESUME_WINDOW_SLOTS = 300  # well past any server's from_slot replay store (150 by default)

_SLOT_DEAD = 6
_HIGHEST_COMMITMENT_STATUS = 2  # SLOT_PROCESSED 0, SLOT_CONFIRMED 1, SLOT_FINALIZED 2


class _ReleasedSlot:
    __slots__ = ("block_time", "signatures", "dead")

    def __init__(self, block_time: int | None, signatures: set[bytes], dead: bool = False):
        self.block_time = block_time
        self.signatures = signatures
        self.dead = dead


class SlotAssembler:
    """Turns one partition's updates (any order, with replays) into ``TxUpdate``/``SlotClock`` items.

    >>> out = []
    >>> assembler = SlotAssembler("pumpswap", commitment_level=1)
    >>> assembler.push(update, out)  # doctest: +SKIP

    Counters: ``released_transactions``, ``duplicates`` (replayed updates dropped),
    ``resumed_skipped`` (updates at or below the resume slot), ``dead_discarded`` (transactions of
    slots that died, never on chain).
    """

    def __init__(
        self, partition: str, commitment_level: int, resume_slot: int | None = None, released_after: Iterable[int] = ()
    ):
        """``resume_slot`` and ``released_after``: a resumed run's ``position`` -- every slot up to
        ``resume_slot`` and the listed later ones were handed on before."""
        self._partition = partition
        self._commitment_level = commitment_level
        self._skip_through = -1 if resume_slot is None else resume_slot
        self._skip_slots = frozenset(released_after)
        self._open: dict[int, dict[bytes, Any]] = {}  # slot -> signature -> info, in arrival order
        self._released: dict[int, _ReleasedSlot] = {}  # roughly in slot order; pruned from the front
        self.newest_slot = -1
        self.max_released_slot = -1  # the highest slot whose SlotClock was emitted
        self.released_transactions = 0
        self.duplicates = 0
        self.resumed_skipped = 0
        self.dead_discarded = 0

    @property
    def held_transactions(self) -> int:
        return sum(len(txs) for txs in self._open.values())

    def push(self, update: Any, out: list) -> None:
        """Feed one ``SubscribeUpdate``; released items are appended to ``out``."""
        kind = update.WhichOneof("update_oneof")
        if kind == "transaction":
            tx = update.transaction
            self.add_transaction(tx.slot, tx.transaction, out)
        elif kind == "block_meta":
            meta = update.block_meta
            self.add_block_meta(meta.slot, meta.block_time.timestamp if meta.HasField("block_time") else None, out)
        elif kind == "slot":
            self.add_slot_status(update.slot.slot, update.slot.status, out)

    def add_transaction(self, slot: int, info: Any, out: list) -> None:
        if slot <= self._skip_through or slot in self._skip_slots:
            self.resumed_skipped += 1
            return
        signature = info.signature
        held = self._open.get(slot)
        if held is not None:
            if signature in held:
                self.duplicates += 1
            else:
                held[signature] = info
            return
        released = self._released.get(slot)
        if released is not None:
            if signature in released.signatures:
                self.duplicates += 1
            elif released.dead:
                self.dead_discarded += 1
            else:
                # A straggler for a slot released early (by distance): late, but never lost.
                released.signatures.add(signature)
                self.released_transactions += 1
                out.append(TxUpdate(self._partition, slot, released.block_time, info))
            return
        if slot <= self.newest_slot - RELEASE_DISTANCE_SLOTS:
            self.released_transactions += 1
            out.append(TxUpdate(self._partition, slot, None, info))
            self._released[slot] = _ReleasedSlot(None, {signature})
            return
        self._open[slot] = {signature: info}
        self._advance(slot, out)

    def add_block_meta(self, slot: int, block_time: int | None, out: list) -> None:
        if slot <= self._skip_through or slot in self._skip_slots:
            self.resumed_skipped += 1
            return
        held = self._open.pop(slot, None)
        released = self._released.get(slot)
        if held is not None:
            self._release(slot, held, block_time, out)
        elif released is None:
            if slot > self.newest_slot - RESUME_WINDOW_SLOTS:
                self._release(slot, {}, block_time, out)  # a quiet slot still advances event time
        elif released.block_time is None and block_time is not None and not released.dead:
            released.block_time = block_time
            out.append(SlotClock(self._partition, slot, block_time))
        else:
            self.duplicates += 1
        self._advance(slot, out)

    def add_slot_status(self, slot: int, status: int, out: list) -> None:
        if slot <= self._skip_through or slot in self._skip_slots:
            self.resumed_skipped += 1
            return
        if status == _SLOT_DEAD:
            held = self._open.pop(slot, None)
            if held is not None:
                self.dead_discarded += len(held)
                self._released[slot] = _ReleasedSlot(None, set(held), dead=True)
        elif self._commitment_level <= status <= _HIGHEST_COMMITMENT_STATUS:
            held = self._open.pop(slot, None)
            if held is not None:
                self._release(slot, held, None, out)
        self._advance(slot, out)

    def finish(self, out: list) -> None:
        """The stream ended: every held slot is as complete as it will get."""
        for slot in sorted(self._open):
            self._release(slot, self._open.pop(slot), None, out)

    def position(self) -> SlotPosition | None:
        """Where a restarted run resumes: ``(slot, released after it)`` -- every slot up to ``slot``
        was handed on, and of the later ones those listed. The oldest open slot is not among them,
        so its transactions come again in full instead of only the rest; None before any release."""
        if self._open:
            base = min(self._open) - 1
        elif self.max_released_slot >= 0:
            base = self.max_released_slot
        else:
            return None if self._skip_through < 0 else (self._skip_through, tuple(sorted(self._skip_slots)))
        after = {slot for slot in self._released if slot > base}
        after.update(slot for slot in self._skip_slots if slot > base)
        return base, tuple(sorted(after))

    def _release(self, slot: int, held: dict[bytes, Any], block_time: int | None, out: list) -> None:
        partition = self._partition
        for info in held.values():
            out.append(TxUpdate(partition, slot, block_time, info))
        out.append(SlotClock(partition, slot, block_time))
        self.released_transactions += len(held)
        if slot > self.max_released_slot:
            self.max_released_slot = slot
        self._released[slot] = _ReleasedSlot(block_time, set(held))

    def _advance(self, slot: int, out: list) -> None:
        if slot <= self.newest_slot:
            return
        self.newest_slot = slot
        stale_below = slot - RELEASE_DISTANCE_SLOTS
        if self._open and min(self._open) <= stale_below:
            for stale in sorted(s for s in self._open if s <= stale_below):
                self._release(stale, self._open.pop(stale), None, out)
        forget_below = slot - RESUME_WINDOW_SLOTS
        released = self._released
        while released:
            oldest = next(iter(released))
            if oldest >= forget_below:
                break
            del released[oldest]


class ResumePoint:
    """Where a reconnect resumes (``from_slot``) so that no slot received only partly is missed.

    The last slot whose block meta arrived is complete (the server sends a slot's transactions
    before its block meta); a slot with transactions but no block meta yet is open. Resuming from
    the oldest open slot, else the last complete one, re-receives a little (deduplicated later)
    and misses nothing. Open slots left ``RELEASE_DISTANCE_SLOTS`` behind count as complete, as in
    ``SlotAssembler``.
    """

    def __init__(self, start_slot: int | None = None):
        self._start_slot = start_slot
        self._complete: int | None = None
        self._open: set[int] = set()
        self._newest = -1

    def saw_transaction(self, slot: int) -> None:
        if self._complete is None or slot > self._complete:
            self._open.add(slot)
        self._advance(slot)

    def saw_block_meta(self, slot: int) -> None:
        self._open.discard(slot)
        if self._complete is None or slot > self._complete:
            self._complete = slot
        self._advance(slot)

    def saw_slot(self, slot: int) -> None:
        self._advance(slot)

    def forget_before(self, slot: int) -> None:
        """After a replay was refused: resume no earlier than ``slot`` (what the stream now serves)."""
        self._open = {s for s in self._open if s >= slot}
        if self._complete is not None and self._complete < slot:
            self._complete = None
        if self._start_slot is not None and self._start_slot < slot:
            self._start_slot = None

    def skip_to(self, slot: int) -> None:
        """Resume at ``slot`` whatever was seen before it (the slots before it are given up)."""
        self._open = {s for s in self._open if s >= slot}
        self._complete = None
        self._start_slot = slot
        self._newest = -1

    @property
    def from_slot(self) -> int | None:
        if self._open:
            return min(self._open)
        if self._complete is not None:
            return self._complete
        if self._newest >= 0:
            return self._newest
        return self._start_slot

    def _advance(self, slot: int) -> None:
        if slot > self._newest:
            self._newest = slot
            if self._open:
                self._open = {s for s in self._open if s > slot - RELEASE_DISTANCE_SLOTS}
