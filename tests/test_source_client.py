"""The gRPC client layer: endpoints, request wire format, channel options that must take effect, recording."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from bytewax.testing import run_main
from test_source_support import RequestSpy, make_chain, settings_for, source_flow

from protos import geyser_pb2
from solflow.domain.programs import PROGRAM_NAMES, PUMPSWAP
from solflow.server.replay import ReplayServer
from sources.capture import CaptureWriter, iter_updates
from sources.geyser_client import (
    GeyserError,
    RequestStream,
    channel_options,
    open_channel,
    parse_endpoint,
    ping_request,
    record_stream,
    subscribe,
    subscribe_request,
)
from sources.live import backoff_delay
from sources.metrics import serve_metrics


def test_endpoints_strip_the_scheme_and_pick_tls_and_port():
    secure = parse_endpoint("https://geyser.example.com")
    assert (secure.target, secure.secure) == ("geyser.example.com:443", True)
    assert secure.display == "https://geyser.example.com:443"
    plain = parse_endpoint("http://127.0.0.1:10000/")
    assert (plain.target, plain.secure) == ("127.0.0.1:10000", False)
    assert parse_endpoint("http://[::1]:5").target == "[::1]:5"


@pytest.mark.parametrize(
    "url",
    [
        "https://host.example/abc-secret-123",
        "https://user:abc-secret-123@host.example",
        "https://host.example?token=abc-secret-123",
    ],
)
def test_an_endpoint_with_path_query_or_credentials_is_refused_without_echoing_them(url):
    with pytest.raises(GeyserError) as raised:
        parse_endpoint(url)
    assert "abc-secret-123" not in str(raised.value) and "X_TOKEN" in str(raised.value)


def test_a_ping_answer_holds_only_the_ping():
    assert ping_request(1).SerializeToString() == bytes.fromhex("4a020801")  # reference §4.1 wire example


def test_resubscribing_sets_from_slot_on_the_wire():
    request = subscribe_request([PUMPSWAP], "processed", from_slot=0)
    assert request.HasField("from_slot") and request.from_slot == 0
    assert request.HasField("commitment") and request.commitment == geyser_pb2.PROCESSED
    again = geyser_pb2.SubscribeRequest.FromString(request.SerializeToString())
    assert again.HasField("from_slot") and again.transactions["pumpswap"].HasField("vote")


class _ByteCountingProxy:
    """A TCP relay on 127.0.0.1 counting the bytes the server sends to the client."""

    def __init__(self, target_port: int):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = target_port
        self.to_client = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            threading.Thread(target=self._relay, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, client, True), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                if counted:
                    self.to_client += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        self._listener.close()


def _one_update_server(update: geyser_pb2.SubscribeUpdate, compression: grpc.Compression | None = None):
    """A real grpcio ``geyser.Geyser/Subscribe`` that answers the first request with ``update``."""

    def subscribe_handler(requests: Iterator[geyser_pb2.SubscribeRequest], context) -> Iterator[Any]:
        next(requests)
        yield update

    handler = grpc.stream_stream_rpc_method_handler(
        subscribe_handler, geyser_pb2.SubscribeRequest.FromString, geyser_pb2.SubscribeUpdate.SerializeToString
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(2), compression=compression, options=[("grpc.max_send_message_length", -1)]
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("geyser.Geyser", {"Subscribe": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _receive_all(port: int, compression: str | None = None) -> list:
    channel = open_channel(parse_endpoint(f"http://127.0.0.1:{port}"), compression)
    requests = RequestStream(subscribe_request([PUMPSWAP], "confirmed"))
    try:
        return list(subscribe(channel, requests, None))
    finally:
        requests.close()
        channel.close()


def _big_update(log_bytes: int) -> geyser_pb2.SubscribeUpdate:
    update = geyser_pb2.SubscribeUpdate()
    update.transaction.slot = 7
    update.transaction.transaction.meta.log_messages.append("Program log: " + "a" * log_bytes)
    return update


def test_updates_larger_than_grpcios_4_mib_default_are_received():
    server, port = _one_update_server(_big_update(5 * 1024 * 1024))
    try:
        received = _receive_all(port)
    finally:
        server.stop(0)
    assert len(received) == 1 and len(received[0].transaction.transaction.meta.log_messages[0]) > 5 * 1024 * 1024


def test_compression_is_off_by_default_and_gzip_when_asked():
    assert ("grpc.compression_enabled_algorithms_bitset", 1) in channel_options()
    server, port = _one_update_server(_big_update(1_000_000), grpc.Compression.Gzip)
    proxy = _ByteCountingProxy(port)
    try:
        received = _receive_all(proxy.port, "gzip")
        assert len(received) == 1 and len(received[0].transaction.transaction.meta.log_messages[0]) > 1_000_000
        assert proxy.to_client < 100_000  # 1 MB of "a" arrived gzipped
        # Identity only: this channel has gzip switched off, so a server that gzips anyway is refused
        with pytest.raises(grpc.RpcError) as refused:
            _receive_all(proxy.port)
        assert "gzip" in (refused.value.details() or "")
    finally:
        proxy.close()
        server.stop(0)


class _Recorder:
    def __init__(self, writer: CaptureWriter, on_write: Callable[[], None] | None = None):
        self._writer = writer
        self._on_write = on_write

    def write(self, update: geyser_pb2.SubscribeUpdate) -> None:
        self._writer.write(update)
        if self._on_write:
            self._on_write()


def test_record_stream_writes_every_transaction_and_block_meta_until_the_stream_ends(tmp_path: Path):
    chain = make_chain(12)
    server = ReplayServer(chain.updates, x_token="record-token")
    port = server.start()
    path = tmp_path / "recorded.capture"
    try:
        with CaptureWriter(path, source="test") as writer:
            count = record_stream(f"http://127.0.0.1:{port}", "record-token", 30.0, writer)
    finally:
        server.stop()
    recorded = list(iter_updates(path))
    assert count == len(recorded) == len(chain.expected_for(PROGRAM_NAMES)) + len(chain.slots)
    recorded_txs = sorted(
        (u.transaction.slot, u.transaction.transaction.signature) for u in recorded if u.HasField("transaction")
    )
    assert recorded_txs == chain.expected_for(PROGRAM_NAMES)
    assert sorted(u.block_meta.slot for u in recorded if u.HasField("block_meta")) == chain.slots


def test_record_stream_stops_after_the_given_seconds_and_answers_pings(tmp_path: Path, monkeypatch):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(400)
    server = ReplayServer(chain.updates, rate=200.0, ping_interval_s=0.05)
    port = server.start()
    written: list[int] = []
    try:
        with CaptureWriter(tmp_path / "r.capture", source="test") as writer:
            count = record_stream(f"http://127.0.0.1:{port}", None, 0.6, _Recorder(writer, lambda: written.append(1)))
    finally:
        server.stop()
    assert count == len(written) > 0
    assert count < len(chain.updates)  # cut by time, not by the end of the chain
    assert len(spy.subscriptions) == 1 and spy.pings
    assert [r.ping.id for r in spy.pings] == list(range(1, len(spy.pings) + 1))


def test_record_stream_with_a_wrong_token_names_the_status_not_the_token(tmp_path: Path):
    server = ReplayServer(make_chain(2).updates, x_token="the-right-one-55")
    port = server.start()
    try:
        with CaptureWriter(tmp_path / "r.capture", source="test") as writer, pytest.raises(GeyserError) as raised:
            record_stream(f"http://127.0.0.1:{port}", "the-wrong-one-66", 5.0, writer)
    finally:
        server.stop()
    message = str(raised.value)
    assert "UNAUTHENTICATED" in message and f"127.0.0.1:{port}" in message
    assert "the-right-one-55" not in message and "the-wrong-one-66" not in message


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap_with_jitter():
    for failures, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0), (500, 30.0)]:
        delays = [backoff_delay(failures, 0.5, 30.0) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered: reconnecting clients do not move in lockstep


def test_metrics_are_served_once_per_process_on_127_0_0_1(tmp_path: Path):
    chain = make_chain(3, programs=[PUMPSWAP])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(replay_path=chain.write(tmp_path / "m.capture"), programs=("pumpswap",), metrics_port=port)
    run_main(source_flow(settings, []))
    run_main(source_flow(settings, []))  # a second source in the same process: no second server
    served = serve_metrics(port)  # this port, unless an earlier test in this process asked first
    assert served is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'solflow_source_updates_received_total{partition="pumpswap",type="transaction"}' in text
    assert 'solflow_source_last_processed_slot{partition="pumpswap"}' in text
