"""The replay feed of one source partition: a capture file read as if it were that subscription.

Applies the live filter (successful, non-vote transactions whose combined account keys hold one
of the partition's programs) plus block meta and slot updates, so replay yields the same items as
a live run. Five partitions read the same file, so a transaction is parsed only when the raw
bytes hold one of the partition's 32-byte program ids; other records are classified by their
first top-level field without parsing. With ``speed > 0`` block metas are released at
``speed`` x real time, paced by their block times.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from time import monotonic
from typing import Any, Iterator, Sequence

from google.protobuf.message import DecodeError

from protos import geyser_pb2
from solflow.programs import Program
from sources.capture import CaptureError, CaptureReader
from sources.live import EndOfStream
from sources.metrics import PartitionMetrics

log = logging.getLogger(__name__)
_parse_update = geyser_pb2.SubscribeUpdate.FromString

RECORDS_PER_TAKE = 8_192  # bounds the time one next_batch spends skipping other programs' records

_FIELD_FILTERS = 1
_FIELD_SLOT = 3
_FIELD_BLOCK_META = 7
_FIELD_CREATED_AT = 11
_WIRE_VARINT = 0
_WIRE_LENGTH = 2


def update_field(raw: bytes) -> int:
    """Field number of a serialized ``SubscribeUpdate``'s oneof member (0 if none), read from the
    tags alone: ``filters`` and ``created_at`` are skipped, any other field is the member."""
    size = len(raw)
    pos = 0
    while pos < size:
        tag, pos = _varint(raw, pos)
        field, wire = tag >> 3, tag & 7
        if field != _FIELD_FILTERS and field != _FIELD_CREATED_AT:
            return field
        if wire == _WIRE_LENGTH:
            length, pos = _varint(raw, pos)
            pos += length
        elif wire == _WIRE_VARINT:
            _, pos = _varint(raw, pos)
        else:
            return 0
    return 0


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = raw[pos]
    pos += 1
    if value < 0x80:
        return value, pos
    value &= 0x7F
    shift = 7
    while pos < len(raw):
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    return value, pos


class CaptureFeed:
    """Reads ``path`` for one partition; ``take`` returns parsed updates, then ``EndOfStream``."""

    def __init__(self, path: Path, programs: Sequence[Program], speed: float, metrics: PartitionMetrics):
        self._path = path
        self._reader = CaptureReader(path)  # CaptureError (naming the file) if missing or not a capture
        self._records: Iterator[bytes] = iter(self._reader)
        self._ids = tuple(program.id_bytes for program in programs)
        self._speed = speed
        self._metrics = metrics
        self._pace_origin: tuple[float, int] | None = None  # (monotonic, block time) of the first block meta
        self._held: tuple[float, Any] | None = None  # a block meta waiting for its moment
        self._ended = False
        self.wake_at: datetime | None = None
        self.newest_slot = -1

    @property
    def buffered(self) -> int:
        return 0

    @property
    def dropped(self) -> int:
        return 0

    def start(self) -> None:
        """Nothing runs in the background: records are read inside ``take``."""

    def take(self, max_items: int) -> list[Any]:
        if self._ended:
            return []
        out: list[Any] = []
        if self._held is not None:
            due, update = self._held
            if monotonic() < due:
                return out
            self._held = None
            self.wake_at = None
            out.append(update)
        read = 0
        try:
            for raw in self._records:
                read += 1
                if self._wanted(raw):
                    update = self._parse(raw)
                    if update is not None:
                        kind = update.WhichOneof("update_oneof")
                        if self._accept(kind, update):
                            if kind == "block_meta" and self._speed and self._hold_until_due(update):
                                return out
                            out.append(update)
                if len(out) >= max_items or read >= RECORDS_PER_TAKE:
                    return out
        except CaptureError as exc:
            self._finish(out, exc)
            return out
        self._finish(out, None)
        return out

    def close(self) -> None:
        self._reader.close()

    def _wanted(self, raw: bytes) -> bool:
        for program_id in self._ids:
            if program_id in raw:
                return True
        field = update_field(raw)
        return field == _FIELD_BLOCK_META or field == _FIELD_SLOT

    def _parse(self, raw: bytes) -> Any:
        try:
            return _parse_update(raw)
        except DecodeError as exc:
            self._metrics.malformed.inc()
            log.error("%s: record %d is not a SubscribeUpdate (%s); skipped", self._path, self._reader.count, exc)
            return None

    def _accept(self, kind: str | None, update: Any) -> bool:
        """The live subscription's filter: successful non-vote transactions of these programs."""
        metrics = self._metrics
        if kind == "transaction":
            info = update.transaction.transaction
            if info.is_vote or info.meta.HasField("err") or not self._touches_programs(info):
                return False
            slot = update.transaction.slot
            metrics.transactions.inc()
        elif kind == "block_meta":
            slot = update.block_meta.slot
            metrics.block_metas.inc()
        elif kind == "slot":
            slot = update.slot.slot
            metrics.slots.inc()
        else:
            return False
        if slot > self.newest_slot:
            self.newest_slot = slot
        return True

    def _touches_programs(self, info: Any) -> bool:
        keys = info.transaction.message.account_keys
        meta = info.meta
        for program_id in self._ids:
            if program_id in keys or program_id in meta.loaded_writable_addresses or program_id in meta.loaded_readonly_addresses:
                return True
        return False

    def _hold_until_due(self, update: Any) -> bool:
        meta = update.block_meta
        if not meta.HasField("block_time"):
            return False
        block_time = meta.block_time.timestamp
        now = monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, block_time)
            return False
        origin_clock, origin_time = self._pace_origin
        due = origin_clock + (block_time - origin_time) / self._speed
        if due <= now:
            return False
        self._held = (due, update)
        self.wake_at = datetime.now(timezone.utc) + timedelta(seconds=due - now)
        return True

    def _finish(self, out: list[Any], error: CaptureError | None) -> None:
        self._ended = True
        self._reader.close()
        out.append(EndOfStream(error))
