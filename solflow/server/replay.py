"""``ReplayServer``: a capture served as a Yellowstone ``geyser.Geyser`` endpoint (grpc.aio).

The capture is the chain. With ``rate`` (updates/s) a head position advances with wall time from
``clock_start`` and every stream is pushed what the head publishes, through a queue of
``max_queue`` updates; a stream whose queue is full while more than ``max_queue`` further matching
updates wait behind it is cut with ``INTERNAL "lagged to send an update"``. Without ``rate`` the
whole capture is out at once and each stream pulls it at its client's pace (it never lags).
The server runs its own event loop in a background thread, so callers use plain method calls.

Faults a client must survive, for tests and ``solflow bench soak``: ``cut()`` ends every open stream
with ``UNAVAILABLE`` while the server keeps serving; ``replay_refusal`` makes a ``from_slot`` request
fail with ``OUT_OF_RANGE`` (``"out_of_range"``) or end at once with status OK (``"end"``), as a
server whose replay store moved on; ``oversized_slots`` pads the first transaction of those slots
to ``oversized_bytes``, past a client's receive limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

import solflow
from protos import geyser_pb2
from solflow.server.chain import KIND_BLOCK_META, KIND_SLOT, KIND_TRANSACTION, Chain, publish_time, published_count
from solflow.server.filters import FilterError, FilterSet
from sources.capture import encode_varint

log = logging.getLogger(__name__)

SHUTTING_DOWN = "server is shutting down try again later"
LAGGED = "lagged to send an update"
NO_AUTH = "No valid auth token"
PROTO_VERSION = "12.6.0"

_TICK_S = 0.005  # a paced stream publishes in batches at most this far apart
_PULL_BATCH = 256  # an unpaced stream yields to the event loop after this many updates
_SHUTDOWN_FLUSH_S = 1.0  # how long stop() lets open streams deliver their UNAVAILABLE status
_SERVER_OPTIONS = (
    ("grpc.max_send_message_length", -1),
    ("grpc.so_reuseport", 0),  # a second server on a taken port must fail, not share it
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
)
_PING_BODY = geyser_pb2.SubscribeUpdate(ping=geyser_pb2.SubscribeUpdatePing()).SerializeToString()


class ReplayServer:
    """Serve ``updates_or_path`` (a capture file, or ``SubscribeUpdate`` messages/bytes) over gRPC.

    >>> server = ReplayServer("data/sample.capture", rate=2000)  # doctest: +SKIP
    >>> port = server.start()  # doctest: +SKIP
    """

    def __init__(
        self,
        updates_or_path: str | os.PathLike[str] | Iterable[geyser_pb2.SubscribeUpdate | bytes],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        x_token: str | None = None,
        rate: float | None = None,
        loop: bool = False,
        ping_interval_s: float = 10.0,
        replay_window_slots: int = 150,
        max_queue: int = 100_000,
        clock_start: float | None = None,
        oversized_slots: Iterable[int] = (),
        oversized_bytes: int = 65 << 20,
    ):
        if rate is not None and not rate > 0:
            raise ValueError("rate must be a positive number of updates per second")
        if not ping_interval_s > 0:
            raise ValueError("ping_interval_s must be positive")
        if replay_window_slots < 0:
            raise ValueError("replay_window_slots must be zero (replay disabled) or positive")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.chain = _load_chain(updates_or_path)
        self.host = host
        self.port = port
        self.rate = rate
        self.loop = loop
        self.ping_interval_s = ping_interval_s
        self.replay_window_slots = replay_window_slots
        self.max_queue = max_queue
        self.replay_refusal: str | None = None  # None | "out_of_range" | "end"
        self.oversized_bytes = oversized_bytes
        self._oversized_at = _first_transactions(self.chain, frozenset(oversized_slots))
        self._x_token = x_token
        self._clock_start = clock_start
        self._pulled = 0  # furthest position any unpaced looping stream reached
        self._streams: set[_Stream] = set()
        self._thread: threading.Thread | None = None
        self._aio_loop: asyncio.AbstractEventLoop | None = None
        # asyncio events bind to the loop that first waits on them: the server thread's.
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._stop_requested = asyncio.Event()
        self._stop_grace = 0.0

    # ----------------------------------------------------------------------------- control
    def start(self) -> int:
        """Bind and start serving; returns the bound port."""
        if self._thread is not None:
            raise RuntimeError("ReplayServer.start() called twice")
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(ready),), name="replay-server", daemon=True
        )
        self._thread.start()
        self.port = ready.result()
        return self.port

    def stop(self, grace: float = 0) -> None:
        """End open streams with ``UNAVAILABLE`` where they can still be told, then shut down."""
        if self._thread is None or self._aio_loop is None:
            return
        self._stop_grace = grace
        try:
            self._aio_loop.call_soon_threadsafe(self._stop_requested.set)
        except RuntimeError:  # the loop already finished
            pass
        self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (or ``timeout`` passed); True once stopped."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def stall(self) -> None:
        """Test hook: stop sending anything (pings included) while keeping streams open."""
        self._call_in_loop(self._flowing.clear)

    def resume(self) -> None:
        """Test hook: undo ``stall()``."""
        self._call_in_loop(self._flowing.set)

    def start_clock(self, at: float) -> None:
        """Start the paced chain at Unix time ``at`` (a server built with a far ``clock_start``
        holds every stream until this, so clients that subscribe one by one all see the first slot)."""

        def restart() -> None:
            self._clock_start = at
            for stream in self._streams:
                stream.wake()

        self._call_in_loop(restart)

    def cut(self) -> int:
        """End every open stream with ``UNAVAILABLE`` (a dropped connection); returns how many."""
        streams = [stream for stream in list(self._streams) if not stream.ended]

        def cut_all() -> None:
            for stream in streams:
                stream.abort(grpc.StatusCode.UNAVAILABLE, "stream cut by the server")

        self._call_in_loop(cut_all)
        return len(streams)

    @property
    def subscriber_count(self) -> int:
        """Open subscriptions: a cut stream stops counting even before its status reaches the client."""
        return sum(1 for stream in list(self._streams) if not stream.ended)

    @property
    def head_slot(self) -> int | None:
        """The highest slot published so far."""
        return self.chain.highest_slot(self._published())

    @property
    def clock_start(self) -> float | None:
        """Unix time the paced chain started at (pass it to a restarted server to continue)."""
        return self._clock_start

    def __enter__(self) -> ReplayServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------- the chain
    def _published(self) -> int:
        """How many chain positions are out now (the head index)."""
        if self.rate is None:
            return max(len(self.chain), self._pulled) if self.loop else len(self.chain)
        if self._clock_start is None:
            return 0
        count = published_count(time.time(), self._clock_start, self.rate)
        return count if self.loop else min(count, len(self.chain))

    def _first_available_slot(self) -> int:
        """Oldest slot a ``from_slot`` request is answered from (what ``SubscribeReplayInfo`` says)."""
        head = self.chain.highest_slot(self._published())
        if head is None:
            return self.chain.first_slot
        return max(self.chain.first_slot, head - self.replay_window_slots + 1)

    def _start_clock(self) -> None:
        if self._clock_start is None:
            self._clock_start = time.time()

    def _note_pulled(self, position: int) -> None:
        self._pulled = max(self._pulled, position)

    # ----------------------------------------------------------------------------- serving
    async def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        self._aio_loop = asyncio.get_running_loop()
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        server.add_generic_rpc_handlers((self._handlers(),))
        try:
            if self.port:
                _check_free(self.host, self.port)
            port = server.add_insecure_port(f"{self.host}:{self.port}")
            await server.start()
        except Exception as exc:  # bind failures reach the caller of start()
            ready.set_exception(OSError(f"cannot serve on {self.host}:{self.port}: {exc}"))
            return
        ready.set_result(port)
        await self._stop_requested.wait()
        streams = list(self._streams)
        for stream in streams:
            stream.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
        self._flowing.set()
        if streams:
            await asyncio.wait([s.finished for s in streams], timeout=max(self._stop_grace, _SHUTDOWN_FLUSH_S))
        await server.stop(self._stop_grace)

    def _call_in_loop(self, fn: Callable[[], object]) -> None:
        if self._aio_loop is None:
            raise RuntimeError("ReplayServer is not started")

        async def call() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(call(), self._aio_loop).result()

    def _handlers(self) -> grpc.GenericRpcHandler:
        unary = grpc.unary_unary_rpc_method_handler
        return grpc.method_handlers_generic_handler(
            "geyser.Geyser",
            {
                "Subscribe": grpc.stream_stream_rpc_method_handler(
                    self._subscribe,
                    request_deserializer=geyser_pb2.SubscribeRequest.FromString,
                    response_serializer=_already_serialized,
                ),
                "Ping": unary(self._ping, geyser_pb2.PingRequest.FromString, _serialize),
                "GetSlot": unary(self._get_slot, geyser_pb2.GetSlotRequest.FromString, _serialize),
                "GetVersion": unary(self._get_version, geyser_pb2.GetVersionRequest.FromString, _serialize),
                "SubscribeReplayInfo": unary(
                    self._replay_info, geyser_pb2.SubscribeReplayInfoRequest.FromString, _serialize
                ),
            },
        )

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self._x_token is None:
            return
        sent = dict(context.invocation_metadata() or ()).get("x-token")
        if sent is None or not hmac.compare_digest(sent.encode(), self._x_token.encode()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, NO_AUTH)

    async def _subscribe(
        self, requests: AsyncIterator[geyser_pb2.SubscribeRequest], context: grpc.aio.ServicerContext
    ) -> None:
        await self._authorize(context)
        # Clients (the official TypeScript one among them) wait for response headers before
        # they send their first request, as Yellowstone sends them at once.
        await context.send_initial_metadata(())
        stream = _Stream(self, context)
        self._streams.add(stream)
        try:
            await stream.run(requests)
        finally:
            self._streams.discard(stream)

    async def _ping(
        self, request: geyser_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> geyser_pb2.PongResponse:
        await self._authorize(context)
        return geyser_pb2.PongResponse(count=request.count)

    async def _get_slot(
        self, request: geyser_pb2.GetSlotRequest, context: grpc.aio.ServicerContext
    ) -> geyser_pb2.GetSlotResponse:
        await self._authorize(context)
        head = self.chain.highest_slot(self._published())
        if head is None:
            await context.abort(grpc.StatusCode.INTERNAL, "block is not available yet")
        return geyser_pb2.GetSlotResponse(slot=head)

    async def _get_version(
        self, request: geyser_pb2.GetVersionRequest, context: grpc.aio.ServicerContext
    ) -> geyser_pb2.GetVersionResponse:
        await self._authorize(context)
        version = {
            "version": {
                "package": "solflow-replay-server",
                "version": solflow.version(),
                "proto": PROTO_VERSION,
                "solana": "capture replay",
                "git": "",
                "rustc": "",
                "buildts": "",
            },
            "extra": {"hostname": socket.gethostname()},
        }
        return geyser_pb2.GetVersionResponse(version=json.dumps(version))

    async def _replay_info(
        self, request: geyser_pb2.SubscribeReplayInfoRequest, context: grpc.aio.ServicerContext
    ) -> geyser_pb2.SubscribeReplayInfoResponse:
        await self._authorize(context)
        if self.replay_window_slots == 0:
            return geyser_pb2.SubscribeReplayInfoResponse()
        return geyser_pb2.SubscribeReplayInfoResponse(first_available=self._first_available_slot())


class _Stream:
    """One ``Subscribe`` call: request reader, producer and pinger feed a bounded queue.

    The handler coroutine itself writes the queue to the client; a ``None`` in the queue ends
    the call with ``self._status`` (``None`` = OK).
    """

    def __init__(self, server: ReplayServer, context: grpc.aio.ServicerContext):
        self._server = server
        self._context = context
        self._chain = server.chain
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(server.max_queue)
        self._filters: FilterSet | None = None
        self._position = 0
        self._status: tuple[grpc.StatusCode, str] | None = None
        self.ended = False  # the end (data exhausted or an error status) is decided
        self._aborted = asyncio.Event()
        self._wake = asyncio.Event()  # new filters or position
        self._prefixes: dict[tuple[str, ...], bytes] = {}
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def run(self, requests: AsyncIterator[geyser_pb2.SubscribeRequest]) -> None:
        helpers = [
            asyncio.create_task(self._read_requests(requests)),
            asyncio.create_task(self._produce()),
            asyncio.create_task(self._ping()),
        ]
        for task in helpers:
            task.add_done_callback(self._helper_done)
        try:
            await self._write()
        finally:
            for task in helpers:
                task.cancel()
            self.finished.set_result(None)
        if self._status is not None:
            self._context.set_code(self._status[0])
            self._context.set_details(self._status[1])

    def wake(self) -> None:
        """Recompute what is due (the clock moved); a stream still waiting for its filters stays asleep."""
        if self._filters is not None:
            self._wake.set()

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        """End the call with an error status, dropping whatever is still queued."""
        if self._status is not None:
            return
        self._status = (code, details)
        self.ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._aborted.set()

    async def _write(self) -> None:
        queue, flowing, context = self._queue, self._server._flowing, self._context
        while True:
            message = await queue.get()
            if message is None:
                return
            if not flowing.is_set():
                await _first_of(flowing.wait(), self._aborted.wait())
                if self._aborted.is_set():
                    return
            await context.write(message)

    def _helper_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("replay stream failed", exc_info=task.exception())
        self.abort(grpc.StatusCode.INTERNAL, f"replay server error: {task.exception()}")

    # ----------------------------------------------------------------------------- requests
    async def _read_requests(self, requests: AsyncIterator[geyser_pb2.SubscribeRequest]) -> None:
        async for request in requests:  # a client half-close ends this loop, not the stream
            try:
                filters = FilterSet.from_request(request)
            except FilterError as exc:
                self.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                return
            if request.HasField("ping"):
                pong = geyser_pb2.SubscribeUpdate(pong=geyser_pb2.SubscribeUpdatePong(id=request.ping.id))
                pong.created_at.CopyFrom(_now_timestamp())
                if not await self._push(pong.SerializeToString()):
                    return
                continue
            if not self._apply(filters, request.from_slot if request.HasField("from_slot") else None):
                return

    def _apply(self, filters: FilterSet, from_slot: int | None) -> bool:
        server = self._server
        if server.rate is not None:
            server._start_clock()
        published = server._published()
        if from_slot is not None:
            window = server.replay_window_slots
            if server.replay_refusal == "out_of_range":
                self.abort(grpc.StatusCode.OUT_OF_RANGE, f"broadcast from {from_slot} is not available")
                return False
            if server.replay_refusal == "end":
                self.ended = True
                self._queue.put_nowait(None)
                return False
            if window == 0:
                self.abort(grpc.StatusCode.INTERNAL, "from_slot is not supported")
                return False
            head = self._chain.highest_slot(published)
            if head is not None and from_slot < head - window + 1:
                self.abort(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"broadcast from {from_slot} is not available, last available: {server._first_available_slot()}",
                )
                return False
            self._position = min(self._chain.first_index_at_or_after(from_slot), published)
        elif self._filters is None:
            self._position = published if server.rate is not None else 0
        self._filters = filters
        self._wake.set()
        return True

    # ----------------------------------------------------------------------------- producing
    async def _produce(self) -> None:
        server, chain, flowing = self._server, self._chain, self._server._flowing
        pending: deque[bytes] = deque()  # published and matched, not yet in the queue
        await self._wake.wait()
        while True:
            self._wake.clear()
            if not flowing.is_set():
                await flowing.wait()
            if server.rate is not None:
                pending.extend(self._collect(server._published()))
                clock_start = server.clock_start
                assert clock_start is not None, "a paced stream's first request started the clock"
                due = publish_time(self._position, clock_start, server.rate)
                if not await self._offer(pending, max(due, time.time() + _TICK_S)):
                    return
                if len(pending) > server.max_queue:  # the writer had until now to make room
                    self.abort(grpc.StatusCode.INTERNAL, LAGGED)
                    return
            elif self._current_filters.empty:  # nothing to pull: keep the position for the next filters
                await self._wake.wait()
                continue
            else:
                stop = self._position + _PULL_BATCH
                for message in self._collect(stop if server.loop else min(len(chain), stop)):
                    if not await self._push(message):
                        return
                server._note_pulled(self._position)
            if not server.loop and self._position >= len(chain) and not pending:
                self.ended = True
                await self._queue.put(None)
                return
            await asyncio.sleep(0)

    async def _offer(self, pending: deque[bytes], deadline: float) -> bool:
        """Move ``pending`` into the queue as the writer frees room, until ``deadline`` (the next
        publication) or new filters; False once the call has ended."""
        queue = self._queue
        while pending:
            while pending and not queue.full():
                queue.put_nowait(pending.popleft())
            if not pending:
                break
            try:
                await asyncio.wait_for(queue.put(pending[0]), deadline - time.time())
            except TimeoutError:
                return self._status is None
            pending.popleft()
        if self._status is None and deadline > time.time():
            try:
                await asyncio.wait_for(self._wake.wait(), deadline - time.time())
            except TimeoutError:
                pass
        return self._status is None

    def _collect(self, stop: int) -> list[bytes]:
        """Messages for chain positions up to ``stop`` that match the stream's filters."""
        chain, filters, out = self._chain, self._current_filters, []
        size = len(chain)
        created_at = geyser_pb2.SubscribeUpdate(created_at=_now_timestamp()).SerializeToString()
        while self._position < stop:
            index = self._position
            self._position = index + 1
            kind = chain.kinds[index % size]
            if kind == KIND_TRANSACTION:
                facts = chain.facts[index % size]
                assert facts is not None, "every transaction update has its facts"
                if filters.transactions:
                    names = filters.transaction_names(facts)
                    if names:
                        out.append(self._prefix(names) + self._transaction_body(index) + created_at)
                if filters.transactions_status:
                    names = filters.status_names(facts)
                    if names:
                        out.append(self._prefix(names) + chain.status_body(index) + created_at)
            elif kind == KIND_BLOCK_META:
                if filters.blocks_meta:
                    out.append(self._prefix(filters.blocks_meta) + chain.body(index) + created_at)
            elif kind == KIND_SLOT and filters.slots:
                names = filters.slot_names(chain.slot_statuses[index % size])
                if names:
                    out.append(self._prefix(names) + chain.body(index) + created_at)
        return out

    @property
    def _current_filters(self) -> FilterSet:
        assert self._filters is not None, "producing waits for the first request's filters"
        return self._filters

    def _transaction_body(self, index: int) -> bytes:
        body = self._chain.body(index)
        if index not in self._server._oversized_at:
            return body
        # An unknown length-delimited field (number 2047): parsers skip it, receive limits do not.
        padding = max(0, self._server.oversized_bytes - len(body))
        return body + encode_varint((2047 << 3) | 2) + encode_varint(padding) + bytes(padding)

    def _prefix(self, names: tuple[str, ...]) -> bytes:
        prefix = self._prefixes.get(names)
        if prefix is None:
            prefix = self._prefixes[names] = geyser_pb2.SubscribeUpdate(filters=names).SerializeToString()
        return prefix

    async def _push(self, message: bytes) -> bool:
        """Queue a message once there is room; False once the call has ended."""
        if self._status is not None:
            return False
        await self._queue.put(message)
        return self._status is None

    async def _ping(self) -> None:
        flowing = self._server._flowing
        while self._status is None:
            await asyncio.sleep(self._server.ping_interval_s)
            if not flowing.is_set():
                await flowing.wait()
            ping = geyser_pb2.SubscribeUpdate(created_at=_now_timestamp()).SerializeToString() + _PING_BODY
            try:
                self._queue.put_nowait(ping)
            except asyncio.QueueFull:
                pass  # the client is busy receiving data; the next ping follows


async def _first_of(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _first_transactions(chain: Chain, slots: frozenset[int]) -> frozenset[int]:
    """Chain positions of the first transaction of each of ``slots`` (first pass of the chain)."""
    first: dict[int, int] = {}
    for index, (kind, slot) in enumerate(zip(chain.kinds, chain.slots)):
        if kind == KIND_TRANSACTION and slot in slots:
            first.setdefault(slot, index)
    return frozenset(first.values())


def _now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def _check_free(host: str, port: int) -> None:
    """Fail with the OS's reason before grpc-core would log its own multi-line bind error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(exc.strerror or str(exc)) from None


def _already_serialized(message: bytes) -> bytes:
    return message


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _load_chain(
    updates_or_path: str | os.PathLike[str] | Iterable[geyser_pb2.SubscribeUpdate | bytes],
) -> Chain:
    if isinstance(updates_or_path, (str, os.PathLike)):
        from sources.capture import CaptureError, CaptureReader

        with CaptureReader(updates_or_path) as reader:
            try:
                return Chain(reader)
            except CaptureError:
                raise
            except ValueError as exc:
                raise ValueError(f"{updates_or_path}: {exc}") from None
    return Chain(updates_or_path)
