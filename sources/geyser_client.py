"""Talking to a Yellowstone (Dragon's Mouth) gRPC endpoint: channels, requests, status codes, recording.

Shared by the Yellowstone source and ``solflow capture record``. Everything here follows the
Yellowstone gRPC protocol (``protos/geyser.proto``, a wire-compatible subset of upstream
``yellowstone-grpc-proto/proto/geyser.proto``): TLS for https:// with the system's CA roots, ``x-token`` metadata on
every call (never logged), a 64 MiB receive limit, identity-only compression unless gzip is asked
for, filters with ``vote``/``failed`` explicitly false, ping answers that carry nothing but the
ping, and a request stream that stays open for the life of the call (older servers end the
subscription on a client half-close).
"""

from __future__ import annotations

import logging
import os
import queue
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError

from protos import geyser_pb2
from solflow.domain.programs import BY_NAME, PROGRAM_NAMES, Program
from solflow.settings import Endpoint
from solflow.settings import parse_endpoint as endpoint_of

log = logging.getLogger(__name__)

SUBSCRIBE_METHOD = "/geyser.Geyser/Subscribe"
MAX_RECEIVE_BYTES = 64 * 1024 * 1024
BLOCKS_META_FILTER = "solflow_blocks_meta"
COMMITMENT_LEVELS = {
    "processed": geyser_pb2.PROCESSED,
    "confirmed": geyser_pb2.CONFIRMED,
    "finalized": geyser_pb2.FINALIZED,
}

# grpc_compression_algorithm bits: identity = 1 << 0, deflate = 1 << 1, gzip = 1 << 2.
_IDENTITY_ONLY = 1
_IDENTITY_AND_GZIP = 1 | 4
_KEEPALIVE_TIME_MS = 20_000
_KEEPALIVE_TIMEOUT_MS = 10_000

_FATAL_CODES = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)


class GeyserError(ConnectionError):
    """A Yellowstone endpoint refused or broke the subscription for good; the message names the
    endpoint and the status, never the token."""


@dataclass(frozen=True, slots=True)
class MalformedUpdate:
    """A received message that does not parse as ``SubscribeUpdate`` (kept so the stream survives)."""

    size: int
    problem: str


def parse_endpoint(url: str) -> Endpoint:
    """``solflow.settings.parse_endpoint`` for a URL given on the command line: ``GeyserError``."""
    try:
        return endpoint_of(url)
    except ValueError as exc:
        raise GeyserError(f"GEYSER_URL {exc}") from None


def channel_options(
    compression: str | None = None, max_receive_bytes: int = MAX_RECEIVE_BYTES
) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_receive_bytes),
        ("grpc.compression_enabled_algorithms_bitset", _IDENTITY_AND_GZIP if compression == "gzip" else _IDENTITY_ONLY),
        ("grpc.keepalive_time_ms", _KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


@lru_cache(maxsize=1)
def system_root_certificates() -> bytes | None:
    """The operating system's CA bundle (what ``ssl`` trusts), or ``None`` for grpcio's own roots."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            with open(candidate, "rb") as bundle:
                return bundle.read()
    return None


def open_channel(
    endpoint: Endpoint, compression: str | None = None, max_receive_bytes: int = MAX_RECEIVE_BYTES
) -> grpc.Channel:
    options = channel_options(compression, max_receive_bytes)
    if endpoint.secure:
        credentials = grpc.ssl_channel_credentials(root_certificates=system_root_certificates())
        return grpc.secure_channel(endpoint.target, credentials, options=options)
    return grpc.insecure_channel(endpoint.target, options=options)


def call_metadata(x_token: str | None) -> tuple[tuple[str, str], ...]:
    return (("x-token", x_token),) if x_token else ()


def _decode_update(raw: bytes) -> geyser_pb2.SubscribeUpdate | MalformedUpdate:
    # A deserializer that raises would make grpcio fail the whole call, and a reconnect would
    # replay the same bad message forever: hand it on as a marker instead.
    try:
        return geyser_pb2.SubscribeUpdate.FromString(raw)
    except DecodeError as exc:
        return MalformedUpdate(len(raw), str(exc))


def subscribe(channel: grpc.Channel, requests: Iterator[geyser_pb2.SubscribeRequest], x_token: str | None) -> Any:
    """Open the bidirectional ``Subscribe`` call: iterate it for updates (or ``MalformedUpdate``s),
    ``cancel()`` it to stop."""
    method = channel.stream_stream(
        SUBSCRIBE_METHOD,
        request_serializer=geyser_pb2.SubscribeRequest.SerializeToString,
        response_deserializer=_decode_update,
    )
    return method(requests, metadata=call_metadata(x_token))


def subscribe_request(
    programs: Sequence[Program], commitment: str, from_slot: int | None = None
) -> geyser_pb2.SubscribeRequest:
    """One named transaction filter per program (successful, non-vote, ``account_required``) plus
    block meta, which is the only source of block times."""
    request = geyser_pb2.SubscribeRequest(commitment=COMMITMENT_LEVELS[commitment])
    for program in programs:
        tx_filter = request.transactions[program.name]
        tx_filter.vote = False
        tx_filter.failed = False
        tx_filter.account_required.append(program.program_id)
    request.blocks_meta[BLOCKS_META_FILTER].SetInParent()
    if from_slot is not None:
        request.from_slot = from_slot
    return request


def ping_request(ping_id: int) -> geyser_pb2.SubscribeRequest:
    """A request holding only a ping: answered with a pong, never applied as a filter."""
    return geyser_pb2.SubscribeRequest(ping=geyser_pb2.SubscribeRequestPing(id=ping_id))


class RequestStream:
    """The request side of one ``Subscribe`` call: blocks on a queue for the life of the call.

    Returning from the iterator would half-close the stream, so it only ends after ``close()``,
    which must be called once the call is over to release grpcio's request-consuming thread.
    """

    def __init__(self, first: geyser_pb2.SubscribeRequest):
        self._pending: queue.SimpleQueue[geyser_pb2.SubscribeRequest | None] = queue.SimpleQueue()
        self._pending.put(first)

    def send(self, request: geyser_pb2.SubscribeRequest) -> None:
        self._pending.put(request)

    def close(self) -> None:
        self._pending.put(None)

    def __iter__(self) -> RequestStream:
        return self

    def __next__(self) -> geyser_pb2.SubscribeRequest:
        request = self._pending.get()
        if request is None:
            raise StopIteration
        return request


def is_fatal(code: grpc.StatusCode) -> bool:
    """Statuses that retrying cannot fix (bad token, bad filter, missing method); see reference §9."""
    return code in _FATAL_CODES


def is_oversized(code: grpc.StatusCode | None, details: str | None) -> bool:
    """grpcio refused a message over the channel's receive limit."""
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (details or "")


def replay_gap_reason(code: grpc.StatusCode, details: str | None) -> str | None:
    """The ``Gap`` reason when a ``from_slot`` request was refused, else ``None``."""
    if code == grpc.StatusCode.OUT_OF_RANGE:
        return "out_of_range"
    if code == grpc.StatusCode.INTERNAL and "from_slot is not supported" in (details or ""):
        return "replay_unsupported"
    return None


def describe_status(error: grpc.RpcError, x_token: str | None) -> str:
    """``CODE (details)`` with the token blanked out, should a server ever echo it."""
    code = error.code()
    details = error.details() or ""
    if x_token:
        details = details.replace(x_token, "<x-token>")
    name = code.name if code is not None else "UNKNOWN"
    return f"{name} ({details})" if details else name


class UpdateWriter(Protocol):
    def write(self, update: geyser_pb2.SubscribeUpdate) -> None: ...


def record_stream(
    url: str,
    x_token: str | None,
    seconds: float,
    writer: UpdateWriter,
    programs: Sequence[str] = PROGRAM_NAMES,
    commitment: str = "confirmed",
    from_slot: int | None = None,
    until_slot: int | None = None,
) -> int:
    """Subscribe to ``programs`` for ``seconds`` and ``writer.write`` every data update (transactions,
    block meta, slots; not pings or pongs, which are answered); returns how many were written.
    ``from_slot`` asks the server to replay from that slot; recording ends early at the first update
    past ``until_slot`` (so a gap's slot range can be recorded and replayed to backfill it).

    >>> with CaptureWriter("live.capture", source="mainnet") as w:  # doctest: +SKIP
    ...     record_stream("https://geyser.example.com", token, 60, w)
    """
    endpoint = parse_endpoint(url)
    tracked = [BY_NAME[name] for name in programs]
    channel = open_channel(endpoint)
    requests = RequestStream(subscribe_request(tracked, commitment, from_slot))
    call = subscribe(channel, requests, x_token)
    time_is_up = threading.Event()

    def stop_recording() -> None:
        time_is_up.set()
        call.cancel()

    timer = threading.Timer(seconds, stop_recording)
    timer.start()
    written = 0
    ping_id = 0
    try:
        for update in call:
            if isinstance(update, MalformedUpdate):
                log.error(
                    "%s sent a malformed update (%d bytes, %s); not recorded",
                    endpoint.display,
                    update.size,
                    update.problem,
                )
                continue
            kind = update.WhichOneof("update_oneof")
            if kind == "ping":
                ping_id += 1
                requests.send(ping_request(ping_id))
            elif kind is not None and kind != "pong":
                if until_slot is not None and getattr(update, kind).slot > until_slot:
                    time_is_up.set()
                    break
                writer.write(update)
                written += 1
    except grpc.RpcError as error:
        if not (time_is_up.is_set() and error.code() == grpc.StatusCode.CANCELLED):
            raise GeyserError(f"recording from {endpoint.display} failed: {describe_status(error, x_token)}") from None
    finally:
        timer.cancel()
        requests.close()
        call.cancel()
        channel.close()
    return written
