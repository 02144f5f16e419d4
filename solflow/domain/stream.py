"""What the Yellowstone source hands the dataflow: transactions, slot clocks and gaps.

A partition releases a slot's transactions once the slot is complete (its block meta arrived),
each tagged with the block time, then one ``SlotClock`` for that slot. Event time in the dataflow
advances only through ``SlotClock`` items, so results never depend on the local clock.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class TxUpdate(NamedTuple):
    partition: str
    slot: int
    block_time: int | None  # from the slot's block meta; None when the stream never carried it
    info: Any  # geyser_pb2.SubscribeUpdateTransactionInfo


class SlotClock(NamedTuple):
    partition: str
    slot: int
    block_time: int | None


MALFORMED_UPDATE = "malformed_update"  # a message that is not a SubscribeUpdate: skipped, counted, a gap


class Gap(NamedTuple):
    """Updates a partition could not deliver: dropped on a full buffer, or lost to a replay window."""

    partition: str
    first_slot: int | None
    last_slot: int | None
    # Updates dropped; None when unknown (slots skipped on OUT_OF_RANGE). The field shadows tuple.count,
    # which nothing calls on a Gap.
    count: int | None  # type: ignore[assignment]
    reason: str  # "buffer_full" | "out_of_range" | "replay_unsupported" | "replay_ended" | MALFORMED_UPDATE | ...
    detected_at_slot: int | None


class SourceEnded(NamedTuple):
    """A partition's input ended (its last item): the decode step hands on what it still holds."""

    partition: str


# Where a partition's next run continues: every slot up to the first handed on in full, of the later
# slots those listed, nothing of the others (``sources.slots.SlotAssembler.position``).
SlotPosition = tuple[int, tuple[int, ...]]


class SourceStopped(NamedTuple):
    """A partition ended before its input did: a stop was requested (a signal) or a source failed.

    ``position``: where the next run of this partition continues (a slot still open at the stop is
    not handed on); None: nothing was handed on."""

    partition: str
    reason: str  # "signal" | "error"
    last_slot: int | None  # the last slot it handed on
    position: SlotPosition | None = None
