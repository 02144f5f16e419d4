"""The bounded hand-off between a reader thread and ``next_batch``, and the ledger of what it dropped.

With ``overflow="drop"`` a full buffer refuses the update (the reader records it in a
``DropLedger``, which becomes a ``Gap``), so the reader keeps pace with the server. With
``overflow="block"`` the reader waits for room instead, which stops reading the gRPC stream: the
server's per-stream queue then fills and it ends the stream with ``INTERNAL "lagged to send an
update"``, after which the reader reconnects and replays from its resume slot (if the server
still has it). Control items (end of stream, replay gaps) are never refused.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class UpdateBuffer:
    """Single-producer, single-consumer FIFO bounded at ``capacity`` data items."""

    def __init__(self, capacity: int, block_when_full: bool = False):
        self._items: deque[Any] = deque()
        self._capacity = capacity
        self._block = block_when_full
        self._room = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: Any) -> bool:
        """Append ``item``; ``False`` when it was dropped (full, drop mode) or the buffer closed."""
        items = self._items
        if len(items) < self._capacity:
            items.append(item)
            return True
        if not self._block:
            return False
        with self._room:
            while len(items) >= self._capacity and not self._closed:
                self._room.wait(0.1)
        if self._closed:
            return False
        items.append(item)
        return True

    def put_control(self, item: Any) -> None:
        self._items.append(item)

    def drain(self, max_items: int) -> list[Any]:
        items = self._items
        taken = [items.popleft() for _ in range(min(len(items), max_items))]
        if self._block and taken:
            with self._room:
                self._room.notify()
        return taken

    def close(self) -> None:
        """Release a producer waiting for room (it drops what it holds)."""
        with self._room:
            self._closed = True
            self._room.notify_all()


class DropLedger:
    """Counts dropped updates and the slot range they came from, until ``take`` hands them on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: int | None = None
        self._last: int | None = None
        self._count = 0
        self.total = 0

    def record(self, slot: int | None) -> int:
        """Note one dropped update; returns the running total."""
        with self._lock:
            if slot is not None:
                self._first = slot if self._first is None else min(self._first, slot)
                self._last = slot if self._last is None else max(self._last, slot)
            self._count += 1
            self.total += 1
            return self.total

    def take(self) -> tuple[int | None, int | None, int] | None:
        """``(first_slot, last_slot, count)`` dropped since the last call, or ``None``."""
        if not self._count:
            return None
        with self._lock:
            pending = (self._first, self._last, self._count)
            self._first = self._last = None
            self._count = 0
        return pending
