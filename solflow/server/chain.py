"""A capture held as the replay server's chain: indexed updates, slot lookup, looping and pacing.

Each update is parsed once at load. Its body is kept serialized without ``filters`` and
``created_at`` (each stream adds its own), next to the facts transaction filters match on.
Positions are absolute indexes: with looping, index ``i`` is update ``i % len(chain)`` of cycle
``i // len(chain)``, whose slots, block heights and block times are shifted forward by whole
capture spans so they keep increasing.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from protos import geyser_pb2

KIND_TRANSACTION = "transaction"
KIND_BLOCK_META = "block_meta"
KIND_SLOT = "slot"
SERVED_KINDS = (KIND_TRANSACTION, KIND_BLOCK_META, KIND_SLOT)


@dataclass(frozen=True, slots=True)
class TxFacts:
    """What transaction filters look at: vote/failed flags, first signature, combined key set."""

    is_vote: bool
    failed: bool
    signature: bytes
    keys: frozenset[bytes]  # static + loaded writable + loaded read-only, raw 32-byte keys


@dataclass(frozen=True, slots=True)
class _Spans:
    slots: int
    block_heights: int
    block_times: int


class Chain:
    """The served updates in capture order (``SubscribeUpdate`` messages or their bytes).

    Updates of kinds the server does not serve (pings, pongs, stored transaction statuses, kinds
    outside the project's schema) are counted in ``skipped`` and left out.
    """

    def __init__(self, updates: Iterable[geyser_pb2.SubscribeUpdate | bytes]):
        self.kinds: list[str] = []
        self.slots: list[int] = []
        self.bodies: list[bytes] = []
        self.facts: list[TxFacts | None] = []
        self.slot_statuses: dict[int, int] = {}  # local index of a slot update -> its SlotStatus
        self.skipped: Counter[str] = Counter()
        heights: list[int] = []
        times: list[int] = []
        for position, item in enumerate(updates):
            try:
                update = _parsed(item)
            except DecodeError as exc:
                raise ValueError(f"update #{position} is not a SubscribeUpdate: {exc}") from None
            kind = update.WhichOneof("update_oneof")
            if kind not in SERVED_KINDS:
                self.skipped[kind or "unknown"] += 1
                continue
            payload = getattr(update, kind)
            self.kinds.append(kind)
            self.slots.append(payload.slot)
            self.facts.append(_tx_facts(payload) if kind == KIND_TRANSACTION else None)
            if kind == KIND_SLOT:
                self.slot_statuses[len(self.kinds) - 1] = payload.status
            elif kind == KIND_BLOCK_META:
                if payload.HasField("block_height"):
                    heights.append(payload.block_height.block_height)
                if payload.HasField("block_time"):
                    times.append(payload.block_time.timestamp)
            if update.filters or update.HasField("created_at"):
                update.ClearField("filters")
                update.ClearField("created_at")
                self.bodies.append(update.SerializeToString())
            else:
                self.bodies.append(item if isinstance(item, bytes) else update.SerializeToString())
        if not self.kinds:
            raise ValueError("capture holds no transaction, block meta or slot updates to serve")
        self.first_slot = min(self.slots)
        self.last_slot = max(self.slots)
        self._spans = _Spans(
            slots=self.last_slot - self.first_slot + 1,
            block_heights=max(heights) - min(heights) + 1 if heights else 0,
            block_times=max(times) - min(times) + 1 if times else 0,
        )
        self._running_max: list[int] = []
        highest = self.first_slot
        for slot in self.slots:
            highest = max(highest, slot)
            self._running_max.append(highest)
        self._status_bodies: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self.kinds)

    def counts(self) -> Counter[str]:
        return Counter(self.kinds)

    def highest_slot(self, published: int) -> int | None:
        """The highest slot among the first ``published`` updates (the head slot)."""
        if published <= 0:
            return None
        cycle, local = divmod(published - 1, len(self.kinds))
        return self._running_max[local] + cycle * self._spans.slots

    def first_index_at_or_after(self, slot: int) -> int:
        """Absolute index of the first update whose slot is ≥ ``slot`` (looping chain)."""
        cycle = max(0, (slot - self.first_slot) // self._spans.slots)
        local = bisect_left(self._running_max, slot - cycle * self._spans.slots)
        return cycle * len(self.kinds) + local

    def body(self, index: int) -> bytes:
        cycle, local = divmod(index, len(self.kinds))
        if cycle == 0:
            return self.bodies[local]
        return self._shifted(self.bodies[local], cycle)

    def status_body(self, index: int) -> bytes:
        """The ``transaction_status`` update derived from the transaction at ``index``."""
        local = index % len(self.kinds)
        body = self._status_bodies.get(local)
        if body is None:
            tx = geyser_pb2.SubscribeUpdate.FromString(self.bodies[local]).transaction
            status = geyser_pb2.SubscribeUpdate()
            status.transaction_status.slot = tx.slot
            facts = self.facts[local]
            assert facts is not None, "status bodies are derived from transaction updates only"
            status.transaction_status.signature = facts.signature
            status.transaction_status.is_vote = tx.transaction.is_vote
            status.transaction_status.index = tx.transaction.index
            if tx.transaction.meta.HasField("err"):
                status.transaction_status.err.CopyFrom(tx.transaction.meta.err)
            body = self._status_bodies[local] = status.SerializeToString()
        cycle = index // len(self.kinds)
        return body if cycle == 0 else self._shifted(body, cycle)

    def _shifted(self, body: bytes, cycle: int) -> bytes:
        update = geyser_pb2.SubscribeUpdate.FromString(body)
        slots = cycle * self._spans.slots
        kind = update.WhichOneof("update_oneof")
        if kind == KIND_TRANSACTION:
            update.transaction.slot += slots
            info = update.transaction.transaction
            info.signature = looped_signature(info.signature, cycle)
            if info.transaction.signatures:
                info.transaction.signatures[0] = info.signature
        elif kind == "transaction_status":
            update.transaction_status.slot += slots
        elif kind == KIND_SLOT:
            update.slot.slot += slots
            if update.slot.HasField("parent"):
                update.slot.parent += slots
        elif kind == KIND_BLOCK_META:
            meta = update.block_meta
            meta.slot += slots
            if meta.parent_slot:
                meta.parent_slot += slots
            if meta.HasField("block_height"):
                meta.block_height.block_height += cycle * self._spans.block_heights
            if meta.HasField("block_time"):
                meta.block_time.timestamp += cycle * self._spans.block_times
        return update.SerializeToString()


def looped_signature(signature: bytes, cycle: int) -> bytes:
    """A transaction's signature in the ``cycle``-th repetition of a looping chain: a chain never
    holds one signature twice, so each repetition's transactions are new ones."""
    if cycle == 0 or len(signature) < 4:
        return signature
    return signature[:-4] + (int.from_bytes(signature[-4:], "big") ^ cycle).to_bytes(4, "big")


def published_count(now: float, clock_start: float, rate: float) -> int:
    """How many updates of a chain paced at ``rate`` updates/s are out at wall time ``now``."""
    return max(0, math.floor((now - clock_start) * rate))


def publish_time(index: int, clock_start: float, rate: float) -> float:
    """Wall time at which update ``index`` of a paced chain comes out."""
    return clock_start + (index + 1) / rate


def _parsed(item: geyser_pb2.SubscribeUpdate | bytes) -> geyser_pb2.SubscribeUpdate:
    if isinstance(item, bytes):
        return geyser_pb2.SubscribeUpdate.FromString(item)
    copy = geyser_pb2.SubscribeUpdate()
    copy.CopyFrom(item)
    return copy


def _tx_facts(tx: geyser_pb2.SubscribeUpdateTransaction) -> TxFacts:
    info = tx.transaction
    meta = info.meta
    signature = info.signature or (info.transaction.signatures[0] if info.transaction.signatures else b"")
    keys = frozenset(info.transaction.message.account_keys).union(
        meta.loaded_writable_addresses, meta.loaded_readonly_addresses
    )
    return TxFacts(is_vote=info.is_vote, failed=meta.HasField("err"), signature=signature, keys=keys)
