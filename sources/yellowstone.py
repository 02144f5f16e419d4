"""``YellowstoneSource``: the Bytewax input of SolFlow, one partition per Yellowstone subscription.

Layout ``per_program`` (default) gives one subscription and partition per program, named after
it; ``single`` gives one partition ``"all"`` with a named filter per program. Each partition
reads a live Geyser stream (``settings.geyser_url``) through a background reader, or replays
``settings.replay_path`` when no URL is set, and emits per complete slot its ``TxUpdate``s then
one ``SlotClock``, plus a ``Gap`` for anything it knows it lost (``solflow.domain.stream``).
When a stop is requested (SIGTERM, or another partition's feed failed for good: ``solflow.run_control``)
or its own feed fails, a partition hands on every complete slot received -- not the slots still
open, which the next run (``-r``, or ``SOLFLOW_APPEND=on``) reads again in full -- then a
``SourceStopped`` with its position, and ends: the dataflow drains instead of crashing. At the end
of its input it hands on everything, held slots included, and a ``SourceEnded`` last (the decode
step releases what it holds for that partition).

The resume state is a position (``SlotAssembler.position``): the slot before the oldest one still
open, and the later slots already handed on. A restarted flow (``-r``) resubscribes from the slot
after it, or skips up to it when replaying, and skips the listed ones; the open slot comes again
in full. So a stop leaves the slots still open to the next run instead of handing on their part,
which that run would complete only with their rest. An appending run (``SOLFLOW_APPEND=on``) starts
its partitions (``start``) at the positions a stopped run recorded, else after the last slot
written, as a resumed run starts at its snapshot's. ``SOLFLOW_OVERFLOW=block`` trades dropped
updates for backpressure, at the risk of the server cutting a slow stream as "lagged" (then it
reconnects and replays from where it was, if the server still holds those slots).

>>> flow = Dataflow("solflow")  # doctest: +SKIP
>>> items = op.input("yellowstone", flow, YellowstoneSource(Settings.from_env()))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any, Protocol

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from protos import geyser_pb2
from solflow import run_control
from solflow.domain.programs import BY_NAME, Program
from solflow.domain.stream import Gap, SlotClock, SlotPosition, SourceEnded, SourceStopped, TxUpdate
from solflow.settings import Settings
from sources.capture_feed import CaptureFeed
from sources.geyser_client import COMMITMENT_LEVELS
from sources.live import EndOfStream, LiveFeed
from sources.metrics import PartitionMetrics, serve_metrics
from sources.slots import SlotAssembler
from sources.worker_thread import keep_thread_state

log = logging.getLogger(__name__)

SourceItem = TxUpdate | SlotClock | Gap | SourceStopped | SourceEnded
SINGLE_PARTITION = "all"
# In a multi-process run every batch costs messages between the processes (run reports, shard
# inputs, progress): 1,024 updates a batch instead of 256 took 7 % less CPU in two processes, the
# same in one (BENCHMARKS.md).
MAX_UPDATES_PER_BATCH = 1024
IDLE_POLL = timedelta(milliseconds=10)
PROGRESS_LOG_EVERY = 10_000

_UPDATE_TYPE = geyser_pb2.SubscribeUpdate


@dataclass(frozen=True, slots=True)
class Subscription:
    """One partition: its name and the programs its subscription filters on."""

    name: str
    programs: tuple[Program, ...]


def subscriptions(settings: Settings) -> list[Subscription]:
    programs = tuple(BY_NAME[name] for name in settings.programs)
    if settings.layout == "single":
        return [Subscription(SINGLE_PARTITION, programs)]
    return [Subscription(program.name, (program,)) for program in programs]


class _Feed(Protocol):
    """What a partition reads from: ``LiveFeed`` (gRPC) or ``CaptureFeed`` (replay)."""

    @property
    def newest_slot(self) -> int: ...

    @property
    def buffered(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    @property
    def wake_at(self) -> datetime | None: ...

    def start(self) -> None: ...

    def take(self, max_items: int) -> list[Any]: ...

    def drain(self) -> list[Any]:
        """Stop reading and hand over what was already received."""
        ...

    def close(self) -> None: ...


# (slot, slots after it already handed on): see ``SlotAssembler.position``; a bare slot from an older snapshot.
SourceState = SlotPosition | int | None


class YellowstoneSource(FixedPartitionedSource[SourceItem, SourceState]):
    """Yellowstone gRPC (or capture replay) input; partitions are fixed by ``settings.layout``."""

    def __init__(self, settings: Settings, start: Mapping[str, SourceState] | None = None):
        """``start``: each partition's position when no snapshot resumes it (an appending run)."""
        self._settings = settings
        self._start = start or {}
        self._subscriptions = {sub.name: sub for sub in subscriptions(settings)}

    @override
    def list_parts(self) -> list[str]:
        keep_thread_state()  # the first callback on every worker thread
        return list(self._subscriptions)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: SourceState) -> _YellowstonePartition:
        if self._settings.metrics_port is not None:
            serve_metrics(self._settings.metrics_port, self._settings.metrics_addr)
        if resume_state is None:
            resume_state = self._start.get(for_part)
        return _YellowstonePartition(self._settings, self._subscriptions[for_part], resume_state)


class _YellowstonePartition(StatefulSourcePartition[SourceItem, SourceState]):
    def __init__(self, settings: Settings, subscription: Subscription, resume_state: SourceState):
        name = subscription.name
        self._name = name
        self._metrics = PartitionMetrics(name)
        resume_slot, released_after = resume_state if isinstance(resume_state, tuple) else (resume_state, ())
        commitment = COMMITMENT_LEVELS[settings.commitment]
        self._assembler = SlotAssembler(name, commitment, resume_slot, released_after)
        self._handed_slot = resume_slot
        self._feed: _Feed
        if settings.geyser_url:
            start_slot = None if resume_slot is None else resume_slot + 1
            self._feed = LiveFeed(settings, name, subscription.programs, self._metrics, start_slot)
        else:
            self._feed = CaptureFeed(
                settings.replay_path, name, subscription.programs, settings.replay_speed, self._metrics
            )
        self._ended = False
        self._wake: datetime | None = None
        self._duplicates_reported = 0
        self._dead_reported = 0
        self._updates = 0
        self._released_txs = 0
        self._progress = (monotonic(), 0, 0)  # time, updates, released transactions at the last log line
        self._feed.start()
        if resume_slot is not None:
            log.info("partition %s: resuming after slot %d", name, resume_slot)

    @override
    def next_batch(self) -> Iterable[SourceItem]:
        if self._ended:
            raise StopIteration()
        stopping = run_control.stop_requested()
        items = self._feed.drain() if stopping else self._feed.take(MAX_UPDATES_PER_BATCH)
        out: list[Any] = []
        push = self._assembler.push
        updates = 0
        for item in items:
            if type(item) is _UPDATE_TYPE:
                push(item, out)
                updates += 1
            elif type(item) is Gap:
                out.append(item)
                self._metrics.gap(item.reason)
            elif type(item) is EndOfStream:
                if item.error is not None:
                    run_control.fail(item.error)  # reported once the dataflow has drained
                    stopping = True
                else:
                    self._ended = True
        if stopping:  # (a stop ends the feed too: its end is no end of input)
            self._leave_open_slots()
            self._ended = True
        elif self._ended:
            # Everything received is handed on, held slots included (as complete as they will get).
            self._assembler.finish(out)
        self._account(updates)
        if stopping:
            reason = "signal" if run_control.failure() is None else "error"
            out.append(SourceStopped(self._name, reason, self._handed_slot, self._assembler.position()))
        elif self._ended:
            out.append(SourceEnded(self._name))
        if self._ended and not out:
            raise StopIteration()
        if items:
            self._wake = None
        else:
            self._wake = self._feed.wake_at or datetime.now(UTC) + IDLE_POLL
        return out

    @override
    def next_awake(self) -> datetime | None:
        return self._wake

    @override
    def snapshot(self) -> SourceState:
        return self._assembler.position()

    @override
    def close(self) -> None:
        self._feed.close()

    def _leave_open_slots(self) -> None:
        """A stop: the slots still open stay unreleased -- the position (snapshotted with ``-r``, in
        ``run_stats`` for ``SOLFLOW_APPEND=on``) is before them, so the next run reads them again in full."""
        held = self._assembler.held_transactions
        position = self._assembler.position()
        if held and position is not None:  # (the summary line says where the next run continues)
            log.debug(
                "partition %s: %d transaction(s) of slots still open at the stop are left to the next run"
                " (-r, or SOLFLOW_APPEND=on), which reads again from slot %d",
                self._name,
                held,
                position[0] + 1,
            )

    def _account(self, updates: int) -> None:
        assembler = self._assembler
        metrics = self._metrics
        if assembler.max_released_slot >= 0:
            self._handed_slot = assembler.max_released_slot
            metrics.last_slot.set(self._handed_slot)
        feed = self._feed
        metrics.buffer_depth.set(feed.buffered)
        if self._handed_slot is not None and feed.newest_slot >= 0:
            metrics.slot_lag.set(max(0, feed.newest_slot - self._handed_slot))
        duplicates = assembler.duplicates + assembler.resumed_skipped
        if duplicates != self._duplicates_reported:
            metrics.replayed.inc(duplicates - self._duplicates_reported)
            self._duplicates_reported = duplicates
        if assembler.dead_discarded != self._dead_reported:
            discarded = assembler.dead_discarded - self._dead_reported
            metrics.dead_slot_transactions.inc(discarded)
            log.warning("partition %s: discarded %d transaction(s) of dead slots", self._name, discarded)
            self._dead_reported = assembler.dead_discarded
        if not updates:
            return
        self._released_txs = assembler.released_transactions
        self._updates += updates
        if self._updates - self._progress[1] >= PROGRESS_LOG_EVERY:
            self._log_progress()

    def _log_progress(self) -> None:
        now = monotonic()
        then, updates_then, txs_then = self._progress
        elapsed = max(now - then, 1e-9)
        log.info(
            "partition %s: %d updates (%.0f/s), %d transactions released (%.0f/s), last slot %s, "
            "buffer %d, %d duplicates, %d dropped",
            self._name,
            self._updates,
            (self._updates - updates_then) / elapsed,
            self._released_txs,
            (self._released_txs - txs_then) / elapsed,
            self._handed_slot,
            self._feed.buffered,
            self._assembler.duplicates,
            self._feed.dropped,
        )
        self._progress = (now, self._updates, self._released_txs)
