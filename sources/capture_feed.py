"""The replay feed of one source partition: a capture file read as if it were that subscription.

Records come from the process's shared pass over the file (``capture_demux``), already filtered
like the live subscription: successful, non-vote transactions holding one of the partition's
programs among their combined account keys, plus block meta and slot updates. With ``speed > 0``
each block meta is released at ``speed`` x real time, paced by its block time; as the slot's
transactions are released with its block meta, the whole stream follows that pace.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Any

from protos import geyser_pb2
from solflow.domain.programs import Program
from solflow.domain.stream import MALFORMED_UPDATE, Gap
from sources.capture_demux import join_pass, leave_pass
from sources.metrics import PartitionMetrics

_UPDATE_TYPE = geyser_pb2.SubscribeUpdate


class CaptureFeed:
    """Replays ``path`` for partition ``name``; ``take`` returns parsed updates, then ``EndOfStream``."""

    def __init__(self, path: Path, name: str, programs: Sequence[Program], speed: float, metrics: PartitionMetrics):
        self._demux, self._subscriber = join_pass(path, name, programs)  # CaptureError naming the file
        self._queue = self._subscriber.queue
        self._speed = speed
        self._metrics = metrics
        self._reported = (0, 0, 0, 0)  # transactions, block metas, slots, malformed records counted so far
        self._pace_origin: tuple[float, int] | None = None  # (monotonic, block time) of the first block meta
        self._closed = False
        self.wake_at: datetime | None = None

    @property
    def buffered(self) -> int:
        return len(self._queue)

    @property
    def dropped(self) -> int:
        return 0

    def start(self) -> None:
        """Nothing runs in the background: records are read inside ``take``."""

    @property
    def newest_slot(self) -> int:
        return self._subscriber.newest_slot

    def take(self, max_items: int) -> list[Any]:
        queue = self._queue
        if not queue:
            self._demux.fill(self._subscriber)
        if self._speed:
            taken = self._take_paced(max_items)
        else:
            taken = [queue.popleft() for _ in range(min(len(queue), max_items))]
        self._count(taken)
        return taken

    def _take_paced(self, max_items: int) -> list[Any]:
        queue = self._queue
        self.wake_at = None
        taken: list[Any] = []
        while queue and len(taken) < max_items:
            update = queue[0]
            if type(update) is _UPDATE_TYPE and update.HasField("block_meta") and not self._is_due(update.block_meta):
                break
            taken.append(queue.popleft())
        return taken

    def drain(self) -> list[Any]:
        """What this partition's share of the pass already holds; nothing more is read."""
        taken = list(self._queue)
        self._queue.clear()
        self._count(taken)
        self.close()
        return taken

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            leave_pass(self._demux, self._subscriber)

    def _is_due(self, meta: Any) -> bool:
        """Whether a block meta may go now; if not, ``wake_at`` says when."""
        if not meta.HasField("block_time"):
            return True
        now = monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, meta.block_time.timestamp)
            return True
        origin_clock, origin_time = self._pace_origin
        due = origin_clock + (meta.block_time.timestamp - origin_time) / self._speed
        if due <= now:
            return True
        self.wake_at = datetime.now(UTC) + timedelta(seconds=due - now)
        return False

    def _count(self, taken: list[Any]) -> None:
        """Bring the partition's metrics up to what the shared pass routed to it; records that were
        not ``SubscribeUpdate``s become a ``Gap`` in ``taken``."""
        subscriber = self._subscriber
        now = (subscriber.transactions, subscriber.block_metas, subscriber.slots, subscriber.malformed)
        if now != self._reported:
            metrics = self._metrics
            for counter, count, reported in zip(
                (metrics.transactions, metrics.block_metas, metrics.slots, metrics.malformed), now, self._reported
            ):
                if count != reported:
                    counter.inc(count - reported)
            malformed = now[3] - self._reported[3]
            if malformed:
                newest = subscriber.newest_slot if subscriber.newest_slot >= 0 else None
                taken.append(Gap(subscriber.name, None, None, malformed, MALFORMED_UPDATE, newest))
            self._reported = now
