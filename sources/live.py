"""The live feed of one source partition: a reader thread on one Yellowstone subscription.

The thread only receives, answers server pings and offers each update to a bounded buffer; all
slot assembly happens in ``next_batch``. It reconnects on any retryable failure with exponential
backoff and jitter -- back to the initial delay once a connection delivered data, so brief blips
never add up -- resubscribing from its ``ResumePoint`` so the replayed overlap (deduplicated
downstream) covers the outage. A watchdog cancels a call on which nothing, not even a ping,
arrived for ``stall_timeout_s``. A refused replay (``OUT_OF_RANGE``, replay unsupported, or a
resumed stream the server simply ends) becomes a ``Gap`` and streaming continues at the head. An
update over the receive limit skips its slot (a ``Gap``) and resubscribes after it. A fatal status
ends the feed with a ``GeyserError``, which stops the run.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any

import grpc

from solflow.domain.programs import Program
from solflow.domain.stream import MALFORMED_UPDATE, Gap
from solflow.settings import Settings
from sources.buffer import DropLedger, UpdateBuffer
from sources.geyser_client import (
    GeyserError,
    MalformedUpdate,
    RequestStream,
    describe_status,
    is_fatal,
    is_oversized,
    open_channel,
    ping_request,
    replay_gap_reason,
    subscribe,
    subscribe_request,
)
from sources.metrics import PartitionMetrics
from sources.slots import ResumePoint

log = logging.getLogger(__name__)

DROP_WARNING_EVERY = 1_000


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """The last item of a feed: ``error`` is set when the feed failed for good."""

    error: Exception | None = None


def backoff_delay(failures: int, initial_s: float, max_s: float) -> float:
    """``initial_s`` doubling per consecutive failure up to ``max_s``, with 50-100 % jitter."""
    return min(max_s, initial_s * 2.0 ** min(failures, 62)) * random.uniform(0.5, 1.0)


class LiveFeed:
    """Reads one subscription in the background; ``take`` hands over what arrived, never blocking."""

    def __init__(
        self,
        settings: Settings,
        partition: str,
        programs: Sequence[Program],
        metrics: PartitionMetrics,
        start_slot: int | None,
    ):
        assert settings.endpoint is not None
        self._endpoint = settings.endpoint
        self._x_token = settings.x_token
        self._compression = settings.grpc_compression
        self._max_receive_mb = settings.grpc_max_message_mb
        self._commitment = settings.commitment
        self._stall_timeout_s = settings.stall_timeout_s
        self._backoff_initial_s = settings.backoff_initial_s
        self._backoff_max_s = settings.backoff_max_s
        self._partition = partition
        self._programs = tuple(programs)
        self._metrics = metrics
        self._capacity = settings.buffer_size
        self._block_when_full = settings.overflow == "block"
        self._buffer = UpdateBuffer(settings.buffer_size, self._block_when_full)
        self._drops = DropLedger()
        self.newest_slot = -1
        self._resume = ResumePoint(start_slot)
        self._replay_supported = True
        self._last_data: tuple[int, bool] | None = None  # (slot, was block meta) of this connection's last update
        self._skipped_slot: int | None = None  # the slot given up for an oversized update
        self._lost_since: tuple[int, str] | None = None  # (from_slot, reason) of a refused replay
        self._ping_id = 0
        self._stop = threading.Event()
        self._call: Any = None
        self._last_activity = monotonic()
        self._waiting_for_room = False
        self._stalled = False
        self._reader = threading.Thread(target=self._run, name=f"yellowstone-{partition}", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name=f"yellowstone-{partition}-watchdog", daemon=True)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        return self._drops.total

    @property
    def wake_at(self) -> None:
        return None

    def start(self) -> None:
        self._reader.start()
        self._watchdog.start()

    def take(self, max_items: int) -> list[Any]:
        items = self._buffer.drain(max_items)
        dropped = self._drops.take()
        if dropped is not None:
            first, last, count = dropped
            items.append(Gap(self._partition, first, last, count, "buffer_full", self.newest_slot))
        return items

    def drain(self) -> list[Any]:
        """Stop reading; everything received so far."""
        self.close()
        return self.take(len(self._buffer))

    def close(self) -> None:
        self._stop.set()
        self._buffer.close()
        call = self._call
        if call is not None:
            call.cancel()
        for thread in (self._reader, self._watchdog):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=5.0)

    def _run(self) -> None:
        error: Exception | None = None
        try:
            self._read_with_reconnects()
        except GeyserError as exc:
            error = exc
        except Exception as exc:  # a bug must reach next_batch, not die with this thread
            log.exception("partition %s: reader crashed", self._partition)
            error = GeyserError(f"partition {self._partition}: Yellowstone reader crashed: {exc!r}")
        self._buffer.put_control(EndOfStream(error))

    def _read_with_reconnects(self) -> None:
        failures = 0
        while not self._stop.is_set():
            ended, delivered = self._read_one_connection()
            if ended or self._stop.is_set():
                return
            failures = 0 if delivered else failures
            delay = backoff_delay(failures, self._backoff_initial_s, self._backoff_max_s)
            failures += 1
            self._metrics.reconnects.inc()
            log.info("partition %s: reconnecting to %s in %.2f s", self._partition, self._endpoint.display, delay)
            self._stop.wait(delay)

    def _next_from_slot(self) -> int | None:
        resume = self._resume.from_slot
        if self._lost_since is not None:
            return None  # a refused replay: read the head, the gap is already noted
        if not self._replay_supported:
            if resume is not None:
                self._lost_since = (resume, "replay_unsupported")
            return None
        return resume

    def _read_one_connection(self) -> tuple[bool, bool]:
        """One subscription until it ends: ``(clean end of data, delivered data)``; raises if fatal."""
        from_slot = self._next_from_slot()
        channel = open_channel(self._endpoint, self._compression, self._max_receive_mb << 20)
        requests = RequestStream(subscribe_request(self._programs, self._commitment, from_slot))
        call = subscribe(channel, requests, self._x_token)
        self._stalled = False
        self._last_activity = monotonic()
        self._call = call
        self._last_data = None
        try:
            for update in call:
                self._last_activity = monotonic()
                self._on_update(update, requests)
            if from_slot is not None and self._last_data is None:
                # A server that cannot replay may just end the stream: that is a refusal too.
                self._refused(from_slot, "replay_ended", "ended the stream")
                return False, False
            if self._lost_since is not None:  # the stream ended before showing where the head was
                first, reason = self._lost_since
                self._buffer.put_control(Gap(self._partition, first, None, None, reason, self._newest_or_none()))
            return True, self._last_data is not None
        except grpc.RpcError as error:
            if not self._stop.is_set():
                self._on_stream_error(error, from_slot)
            return False, self._last_data is not None
        finally:
            self._call = None
            requests.close()
            call.cancel()
            channel.close()

    def _newest_or_none(self) -> int | None:
        return self.newest_slot if self.newest_slot >= 0 else None

    def _refused(self, from_slot: int, reason: str, what: str) -> None:
        log.warning(
            "partition %s: Yellowstone endpoint %s %s instead of replaying from slot %d; continuing at the head",
            self._partition,
            self._endpoint.display,
            what,
            from_slot,
        )
        self._lost_since = (from_slot, reason)
        self._replay_supported = reason != "replay_unsupported"

    def _skip_oversized(self, from_slot: int | None) -> None:
        """Give up the slot whose update is over the receive limit and resubscribe after it."""
        if self._last_data is not None:
            slot, complete = self._last_data
            skipped = slot + 1 if complete else slot
        elif from_slot is not None:
            skipped = from_slot
        else:
            skipped = self.newest_slot + 1
        if self._skipped_slot is not None and skipped <= self._skipped_slot:
            skipped = self._skipped_slot + 1  # that slot was not it: the next one is
        self._skipped_slot = skipped
        log.warning(
            "partition %s: an update of slot %d is over the gRPC receive limit of %d MiB"
            " (SOLFLOW_GRPC_MAX_MESSAGE_MB raises it); the slot is skipped and recorded as a gap",
            self._partition,
            skipped,
            self._max_receive_mb,
        )
        self._resume.skip_to(skipped + 1)
        self._buffer.put_control(
            Gap(self._partition, skipped, skipped, None, "oversized_update", self._newest_or_none())
        )

    def _on_stream_error(self, error: grpc.RpcError, from_slot: int | None) -> None:
        code = error.code()
        status = describe_status(error, self._x_token)
        where = f"partition {self._partition}: Yellowstone endpoint {self._endpoint.display}"
        if self._stalled:
            log.warning("%s sent nothing for %.1f s (not even a ping); reconnecting", where, self._stall_timeout_s)
            return
        if is_oversized(code, error.details()):
            self._skip_oversized(from_slot)
            return
        reason = replay_gap_reason(code, error.details()) if from_slot is not None else None
        if reason is not None and from_slot is not None:
            self._refused(from_slot, reason, f"refused ({status})")
            return
        if is_fatal(code):
            token_refused = code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
            hint = " (check X_TOKEN)" if token_refused else ""
            raise GeyserError(f"{where} refused the subscription: {status}{hint}") from None
        log.warning("%s: stream failed: %s", where, status)

    def _on_update(self, update: Any, requests: RequestStream) -> None:
        if type(update) is MalformedUpdate:
            self._metrics.malformed.inc()
            log.error(
                "partition %s: %s sent a message that is not a SubscribeUpdate (%d bytes: %s); skipped",
                self._partition,
                self._endpoint.display,
                update.size,
                update.problem,
            )
            newest = self.newest_slot if self.newest_slot >= 0 else None
            self._buffer.put_control(Gap(self._partition, None, None, 1, MALFORMED_UPDATE, newest))
            return
        kind = update.WhichOneof("update_oneof")
        self._metrics.received(kind).inc()
        if kind == "transaction":
            slot = update.transaction.slot
            self._note_slot(slot)
            self._resume.saw_transaction(slot)
            self._last_data = (slot, False)
        elif kind == "block_meta":
            slot = update.block_meta.slot
            self._note_slot(slot)
            self._resume.saw_block_meta(slot)
            self._last_data = (slot, True)
        elif kind == "slot":
            slot = update.slot.slot
            self._note_slot(slot)
            self._resume.saw_slot(slot)
            self._last_data = (slot, False)
        else:
            if kind == "ping":
                self._ping_id += 1
                requests.send(ping_request(self._ping_id))
                self._metrics.pings_answered.inc()
            return
        self._offer(update, slot)

    def _note_slot(self, slot: int) -> None:
        if slot > self.newest_slot:
            self.newest_slot = slot
        if self._lost_since is not None:
            first, reason = self._lost_since
            self._lost_since = None
            self._resume.forget_before(slot)
            if slot >= first:
                log.warning(
                    "partition %s: slots %d..%d were not replayed (%s); they may lack transactions",
                    self._partition,
                    first,
                    slot,
                    reason,
                )
                self._buffer.put_control(Gap(self._partition, first, slot, None, reason, slot))

    def _offer(self, update: Any, slot: int) -> None:
        buffer = self._buffer
        if self._block_when_full and len(buffer) >= self._capacity:
            self._waiting_for_room = True
            accepted = buffer.offer(update)
            self._waiting_for_room = False
            self._last_activity = monotonic()
        else:
            accepted = buffer.offer(update)
        if not accepted and not self._stop.is_set():
            total = self._drops.record(slot)
            self._metrics.dropped.inc()
            if total % DROP_WARNING_EVERY == 1:
                log.warning(
                    "partition %s: buffer full (%d updates), dropped %d update(s) so far; "
                    "each drop is recorded as a gap",
                    self._partition,
                    self._capacity,
                    total,
                )

    def _watch(self) -> None:
        interval = min(1.0, self._stall_timeout_s / 4)
        while not self._stop.wait(interval):
            call = self._call
            if call is None or self._waiting_for_room:
                continue
            if monotonic() - self._last_activity > self._stall_timeout_s:
                self._stalled = True
                call.cancel()
