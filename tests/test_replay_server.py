"""The replay server against a real grpcio client on 127.0.0.1: filters, pings, replay, auth,
slow consumers, end of data, pacing across restarts, and ``solflow serve`` as a subprocess."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import base58
import grpc
import pytest

from protos import geyser_pb2, geyser_pb2_grpc
from solflow.server.replay import ReplayServer

SOLFLOW = str(Path(sys.executable).with_name("solflow"))  # the installed console script users run
WAIT_S = 20.0  # hang guard for a reply that must come; never a speed requirement

PROGRAM = bytes([7]) * 32
OTHER_PROGRAM = bytes([8]) * 32
LOADED = bytes([9]) * 32  # reached only through an address lookup table
VOTE_PROGRAM = bytes([10]) * 32


def b58(key: bytes) -> str:
    return base58.b58encode(key).decode()


def tx_update(
    slot, index, keys=(PROGRAM,), *, vote=False, failed=False, loaded_writable=(), loaded_readonly=(), logs=()
):
    update = geyser_pb2.SubscribeUpdate()
    update.transaction.slot = slot
    info = update.transaction.transaction
    info.signature = index.to_bytes(4, "little") + bytes(60)
    info.is_vote = vote
    info.index = index
    info.transaction.signatures.append(info.signature)
    message = info.transaction.message
    message.header.num_required_signatures = 1
    message.account_keys.extend([bytes([200]) * 32, *keys])
    message.recent_blockhash = bytes([3]) * 32
    info.meta.fee = 5000
    info.meta.loaded_writable_addresses.extend(loaded_writable)
    info.meta.loaded_readonly_addresses.extend(loaded_readonly)
    info.meta.log_messages.extend(logs)
    if failed:
        info.meta.err.err = bytes.fromhex("0800000002190000007117000000")
    return update


def block_meta(slot):
    update = geyser_pb2.SubscribeUpdate()
    update.block_meta.slot = slot
    update.block_meta.parent_slot = slot - 1
    update.block_meta.blockhash = b58(slot.to_bytes(32, "little"))
    update.block_meta.block_time.timestamp = 1_760_000_000 + slot // 2
    update.block_meta.block_height.block_height = slot + 1000
    return update


def slot_update(slot, status):
    update = geyser_pb2.SubscribeUpdate()
    update.slot.slot = slot
    update.slot.parent = slot - 1
    update.slot.status = status
    return update


def simple_chain(first_slot, slots, txs_per_slot=1):
    """``txs_per_slot`` transactions then a block meta per slot; tx indexes count up from 0."""
    updates, index = [], 0
    for slot in range(first_slot, first_slot + slots):
        for _ in range(txs_per_slot):
            updates.append(tx_update(slot, index))
            index += 1
        updates.append(block_meta(slot))
    return updates


def tx_request(**filters) -> geyser_pb2.SubscribeRequest:
    request = geyser_pb2.SubscribeRequest()
    for name, fields in filters.items():
        request.transactions[name].SetInParent()
        for field, value in fields.items():
            if isinstance(value, list):
                getattr(request.transactions[name], field).extend(value)
            else:
                setattr(request.transactions[name], field, value)
    return request


def tx_index(update) -> int:
    return int.from_bytes(update.transaction.transaction.signature[:4], "little")


class Subscription:
    """A real ``Subscribe`` call: requests go out when ``send`` is called (the request stream stays
    open until ``half_close``), responses are read by a background thread into a queue."""

    def __init__(self, port, metadata=None):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._requests: queue.Queue = queue.Queue()
        self._updates: queue.Queue = queue.Queue()
        self.code = None
        self.details = None
        self.call = geyser_pb2_grpc.GeyserStub(self.channel).Subscribe(self._request_stream(), metadata=metadata)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _request_stream(self):
        while (request := self._requests.get()) is not None:
            yield request

    def _read(self):
        try:
            for update in self.call:
                self._updates.put(update)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            self.code, self.details = exc.code(), exc.details()
        self._updates.put(None)

    def send(self, request):
        self._requests.put(request)

    def half_close(self):
        self._requests.put(None)

    def next(self, skip_pings=True):
        while True:
            update = self._updates.get(timeout=WAIT_S)
            if update is None or not (skip_pings and update.HasField("ping")):
                return update

    def pending(self):
        """Whatever has arrived and not been read yet, without waiting."""
        out = []
        while not self._updates.empty():
            out.append(self._updates.get_nowait())
        return out

    def until_end(self, skip_pings=True):
        """Every update up to the end of the stream; the status is then in ``code``/``details``."""
        out = []
        while (update := self.next(skip_pings)) is not None:
            out.append(update)
        return out

    def close(self):
        self._requests.put(None)
        self.call.cancel()
        self.channel.close()


@pytest.fixture
def serve():
    servers = []

    def start(updates, **options) -> tuple[ReplayServer, int]:
        server = ReplayServer(updates, **options)
        servers.append(server)
        return server, server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def subscribe():
    subscriptions = []

    def open_subscription(port, request=None, metadata=None) -> Subscription:
        subscription = Subscription(port, metadata)
        subscriptions.append(subscription)
        if request is not None:
            subscription.send(request)
        return subscription

    yield open_subscription
    for subscription in subscriptions:
        subscription.close()


# --------------------------------------------------------------------------------- filters
def test_transaction_filters_name_every_match_once_over_the_combined_key_set(serve, subscribe):
    updates = [
        tx_update(100, 0, (PROGRAM,)),
        tx_update(100, 1, (PROGRAM,), failed=True),
        tx_update(100, 2, (VOTE_PROGRAM,), vote=True),
        tx_update(100, 3, (OTHER_PROGRAM,)),
        tx_update(100, 4, (PROGRAM, OTHER_PROGRAM)),
        tx_update(100, 5, (), loaded_readonly=[PROGRAM]),
        tx_update(100, 6, (), loaded_writable=[LOADED]),
        block_meta(100),
    ]
    _, port = serve(updates)
    request = tx_request(
        no_votes={"vote": False},
        only_failed={"failed": True},
        succeeded={"failed": False, "vote": False},
        program={"account_include": [b58(PROGRAM)]},
        not_other={"account_include": [b58(PROGRAM)], "account_exclude": [b58(OTHER_PROGRAM)]},
        both={"account_required": [b58(PROGRAM), b58(OTHER_PROGRAM)]},
        loaded={"account_include": [b58(LOADED)]},
        one_signature={"signature": b58((3).to_bytes(4, "little") + bytes(60))},
    )
    request.blocks_meta["meta"].SetInParent()
    request.transactions_status["status_failed"].failed = True

    received = subscribe(port, request).until_end()

    expected = {
        0: {"no_votes", "succeeded", "program", "not_other"},
        1: {"no_votes", "only_failed", "program", "not_other"},
        2: set(),  # a vote: only filters without vote=false could take it, and none match its keys
        3: {"no_votes", "succeeded", "one_signature"},
        4: {"no_votes", "succeeded", "program", "both"},
        5: {"no_votes", "succeeded", "program", "not_other"},
        6: {"no_votes", "succeeded", "loaded"},
    }
    transactions = [u for u in received if u.HasField("transaction")]
    assert [tx_index(u) for u in transactions] == [i for i in expected if expected[i]]
    for update in transactions:
        assert set(update.filters) == expected[tx_index(update)]
        assert len(update.filters) == len(set(update.filters))
        assert update.HasField("created_at") and update.created_at.seconds > 1_700_000_000
    statuses = [u for u in received if u.HasField("transaction_status")]
    assert [(list(u.filters), u.transaction_status.index) for u in statuses] == [(["status_failed"], 1)]
    assert statuses[0].transaction_status.err.err == updates[1].transaction.transaction.meta.err.err
    metas = [u for u in received if u.HasField("block_meta")]
    assert [(list(u.filters), u.block_meta.slot) for u in metas] == [(["meta"], 100)]
    # the served transaction is the captured one, byte for byte apart from filters/created_at
    assert transactions[0].transaction == updates[0].transaction


def test_filter_with_no_fields_takes_everything_and_slot_filters_follow_status_rules(serve, subscribe):
    statuses = range(7)
    updates = [tx_update(200, 0, vote=True), tx_update(200, 1, failed=True)]
    updates += [slot_update(200, status) for status in statuses]
    _, port = serve(updates)
    request = tx_request(everything={})
    request.slots["default"].SetInParent()
    request.slots["interslot"].interslot_updates = True
    request.slots["at_commitment"].filter_by_commitment = True
    request.commitment = geyser_pb2.CONFIRMED

    received = subscribe(port, request).until_end()

    assert [tx_index(u) for u in received if u.HasField("transaction")] == [0, 1]
    by_status = {u.slot.status: set(u.filters) for u in received if u.HasField("slot")}
    assert by_status == {
        0: {"default", "interslot"},
        1: {"default", "interslot", "at_commitment"},
        2: {"default", "interslot"},
        3: {"interslot"},
        4: {"interslot"},
        5: {"interslot"},
        6: {"interslot"},
    }


@pytest.mark.parametrize(
    "request_change, problem",
    [
        (lambda r: r.transactions["bad"].account_include.append("not-a-key!"), "account_include"),
        (lambda r: r.transactions["short"].account_required.append(b58(bytes(31))), "expected 32"),
        (lambda r: r.transactions["sig"].__setattr__("signature", b58(bytes(32))), "expected 64"),
        (lambda r: r.blocks_meta["x" * 129].SetInParent(), "129 bytes"),
        (lambda r: r.__setattr__("commitment", 7), "commitment"),
    ],
)
def test_invalid_filter_ends_the_stream_with_invalid_argument(serve, subscribe, request_change, problem):
    _, port = serve(simple_chain(100, 3))
    request = tx_request(fine={})
    request_change(request)

    subscription = subscribe(port, request)
    assert subscription.until_end() == []
    assert subscription.code == grpc.StatusCode.INVALID_ARGUMENT
    assert subscription.details.startswith("failed to create filter: ")
    assert problem in subscription.details


# --------------------------------------------------------------------------------- ping / pong
def test_pings_before_filters_pong_echoes_id_and_ping_requests_keep_filters(serve, subscribe):
    _server, port = serve(simple_chain(300, 30), rate=60, ping_interval_s=0.1)
    subscription = subscribe(port)

    first = subscription.next(skip_pings=False)  # no request yet: only pings flow
    assert first.HasField("ping") and list(first.filters) == [] and first.created_at.seconds > 0

    subscription.send(tx_request(mine={"account_include": [b58(PROGRAM)]}))
    assert subscription.next().filters == ["mine"]
    subscription.send(geyser_pb2.SubscribeRequest(ping=geyser_pb2.SubscribeRequestPing(id=42)))
    rest = subscription.until_end(skip_pings=False)

    pongs = [u for u in rest if u.HasField("pong")]
    assert [(u.pong.id, list(u.filters)) for u in pongs] == [(42, [])]
    after_pong = rest[rest.index(pongs[0]) + 1 :]
    transactions = [u for u in after_pong if u.HasField("transaction")]
    assert transactions, "the stream carried no transactions after the ping request"
    assert all(list(u.filters) == ["mine"] for u in transactions)
    assert not any(u.HasField("block_meta") for u in rest)
    assert any(u.HasField("ping") for u in rest)
    assert subscription.code == grpc.StatusCode.OK


def test_stall_stops_everything_until_resume(serve, subscribe):
    server, port = serve(simple_chain(300, 200), rate=100, ping_interval_s=0.05)
    subscription = subscribe(port, tx_request(all={}))
    subscription.next()

    server.stall()
    time.sleep(0.3)  # let whatever was already on the wire arrive
    subscription.pending()
    time.sleep(0.5)
    assert subscription.pending() == [], "the server sent data or pings while stalled"
    assert server.subscriber_count == 1

    server.resume()
    assert subscription.next(skip_pings=False) is not None


# --------------------------------------------------------------------------------- from_slot
def test_from_slot_replays_within_the_window_and_refuses_older_slots(serve, subscribe):
    updates = simple_chain(100, 300)  # slots 100..399, head slot 399, window 150 -> oldest 250
    _, port = serve(updates, replay_window_slots=150)
    stub = geyser_pb2_grpc.GeyserStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    assert stub.GetSlot(geyser_pb2.GetSlotRequest()).slot == 399
    assert stub.SubscribeReplayInfo(geyser_pb2.SubscribeReplayInfoRequest()).first_available == 250

    request = tx_request(all={})
    request.from_slot = 300
    replayed = subscribe(port, request).until_end()
    assert [u.transaction.slot for u in replayed] == list(range(300, 400))

    request.from_slot = 249
    too_old = subscribe(port, request)
    assert too_old.until_end() == []
    assert too_old.code == grpc.StatusCode.OUT_OF_RANGE
    assert too_old.details == "broadcast from 249 is not available, last available: 250"


def test_from_slot_without_replay_window_is_not_supported(serve, subscribe):
    _, port = serve(simple_chain(100, 5), replay_window_slots=0)
    stub = geyser_pb2_grpc.GeyserStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    assert not stub.SubscribeReplayInfo(geyser_pb2.SubscribeReplayInfoRequest()).HasField("first_available")
    request = tx_request(all={})
    request.from_slot = 104

    subscription = subscribe(port, request)
    assert subscription.until_end() == []
    assert (subscription.code, subscription.details) == (grpc.StatusCode.INTERNAL, "from_slot is not supported")


# --------------------------------------------------------------------------------- auth and unary
def test_missing_or_wrong_token_is_unauthenticated_without_echoing_it(serve, subscribe, caplog):
    caplog.set_level(logging.DEBUG)
    token = "s3cret-token-value"
    _, port = serve(simple_chain(100, 3), x_token=token)
    stub = geyser_pb2_grpc.GeyserStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

    for metadata in (None, [("x-token", "wrong-token-value")], [("x-token", token + "x")]):
        subscription = subscribe(port, tx_request(all={}), metadata=metadata)
        assert subscription.until_end() == []
        assert (subscription.code, subscription.details) == (grpc.StatusCode.UNAUTHENTICATED, "No valid auth token")
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetSlot(geyser_pb2.GetSlotRequest(), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "token-value" not in refused.value.details()

    good = [("x-token", token)]
    assert len(subscribe(port, tx_request(all={}), metadata=good).until_end()) == 3
    assert stub.Ping(geyser_pb2.PingRequest(count=9), metadata=good).count == 9
    version = json.loads(stub.GetVersion(geyser_pb2.GetVersionRequest(), metadata=good).version)
    assert version["version"]["proto"] == "12.6.0" and "hostname" in version["extra"]
    assert "token-value" not in caplog.text


# --------------------------------------------------------------------------------- slow consumers
def test_a_client_that_stops_reading_is_cut_with_lagged(serve):
    big_log = "x" * 100_000  # a few hundred of these outgrow every socket and HTTP/2 buffer
    updates = [tx_update(100 + i // 4, i, logs=[big_log]) for i in range(400)]
    server, port = serve(updates, rate=500, max_queue=4)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", -1)])
    keep_open = threading.Event()

    def requests():
        yield tx_request(all={})
        keep_open.wait()

    call = geyser_pb2_grpc.GeyserStub(channel).Subscribe(requests())
    received = [next(call)]  # subscribed; now stop reading
    deadline = time.monotonic() + WAIT_S
    while server.subscriber_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.subscriber_count == 0, "the server never cut the stalled client"

    with pytest.raises(grpc.RpcError) as ended:
        for update in call:
            received.append(update)
    assert ended.value.code() == grpc.StatusCode.INTERNAL
    assert ended.value.details() == "lagged to send an update"
    assert 0 < len(received) < len(updates)
    assert [tx_index(u) for u in received] == list(range(len(received)))  # nothing skipped before the cut
    keep_open.set()
    channel.close()


# --------------------------------------------------------------------------------- end of data, loop
def test_capture_end_closes_the_stream_ok_even_after_a_client_half_close(serve, subscribe):
    updates = simple_chain(500, 40, txs_per_slot=2)
    _, port = serve(updates, rate=400)
    subscription = subscribe(port, tx_request(all={}))
    subscription.half_close()

    received = subscription.until_end()
    assert subscription.code == grpc.StatusCode.OK
    assert [tx_index(u) for u in received] == list(range(80))


def test_an_empty_first_request_does_not_use_up_an_unpaced_capture(serve, subscribe):
    # The official TypeScript client opens the stream with an empty request, then sends its filters.
    _, port = serve(simple_chain(600, 10) + [geyser_pb2.SubscribeUpdate(ping=geyser_pb2.SubscribeUpdatePing())])
    subscription = subscribe(port, geyser_pb2.SubscribeRequest())
    subscription.send(tx_request(all={}))

    assert [tx_index(u) for u in subscription.until_end()] == list(range(10))  # the captured ping is not served
    assert subscription.code == grpc.StatusCode.OK


def test_loop_repeats_the_capture_with_slots_moving_forward(serve, subscribe):
    updates = simple_chain(10, 3)  # slots 10..12, a span of 3 slots
    _, port = serve(updates, loop=True)
    request = tx_request(all={})
    request.blocks_meta["meta"].SetInParent()
    subscription = subscribe(port, request)

    received = [subscription.next() for _ in range(3 * len(updates))]
    slots = [u.transaction.slot if u.HasField("transaction") else u.block_meta.slot for u in received]
    assert slots == [10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18]
    metas = [u.block_meta for u in received if u.HasField("block_meta")]
    assert [m.parent_slot for m in metas] == [s - 1 for s in range(10, 19)]
    assert [m.block_height.block_height for m in metas] == [s + 1000 for s in range(10, 19)]
    # block times 5, 5, 6 (+1_760_000_000) span 2 s, so each cycle moves them 2 s on
    assert [m.block_time.timestamp - 1_760_000_000 for m in metas] == [5, 5, 6, 7, 7, 8, 9, 9, 10]
    # each repetition's transactions are new ones: a chain never holds a signature twice
    infos = [u.transaction.transaction for u in received if u.HasField("transaction")]
    assert len({info.signature for info in infos}) == len(infos)
    assert all(info.transaction.signatures[0] == info.signature for info in infos)


# --------------------------------------------------------------------------------- pacing
def test_rate_paces_the_chain_and_clock_start_continues_it_across_a_restart(serve, subscribe):
    rate, total = 300.0, 150
    updates = simple_chain(1000, total)
    clock_start = time.time()
    first, port = serve(updates, rate=rate, clock_start=clock_start, ping_interval_s=60)
    before = subscribe(port, tx_request(all={}))
    received = [before.next() for _ in range(20)]
    first.stop()
    received += before.until_end()
    assert (before.code, before.details) == (grpc.StatusCode.UNAVAILABLE, "server is shutting down try again later")

    _second, same_port = serve(updates, port=port, rate=rate, clock_start=clock_start, ping_interval_s=60)
    assert same_port == port
    live = subscribe(port, tx_request(all={}))
    resume = tx_request(all={})
    resume.from_slot = received[-1].transaction.slot
    resumed = subscribe(port, resume)

    assert tx_index(live.next()) > tx_index(received[-1])  # the head kept moving while it was down
    after = resumed.until_end()
    assert resumed.code == grpc.StatusCode.OK
    indexes = sorted({tx_index(u) for u in received + after})
    assert indexes == list(range(tx_index(received[0]), total))  # from where it joined the chain, no gap
    for update in received + after:  # never published before its time on the shared clock
        position = 2 * tx_index(update)  # a transaction and a block meta per slot
        published_at = clock_start + (position + 1) / rate
        sent_at = update.created_at.seconds + update.created_at.nanos / 1e9
        assert sent_at >= published_at - 0.001


# --------------------------------------------------------------------------------- CLI
def _write_capture(path, updates):
    from sources.capture import CaptureWriter

    with CaptureWriter(path, source="test_replay_server") as writer:
        for update in updates:
            writer.write(update)


def test_solflow_serve_subprocess_serves_a_capture_until_sigterm(tmp_path, subscribe):
    capture = tmp_path / "small.capture"
    _write_capture(capture, simple_chain(700, 25, txs_per_slot=2))
    process = subprocess.Popen(
        [SOLFLOW, "serve", str(capture), "--port", "0", "--x-token", "tok-123"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "50 transactions" in line and "25 block metas" in line and "tok-123" not in line
        port = int(line.split("127.0.0.1:")[1].split(":")[0])
        subscription = subscribe(port, tx_request(all={}), metadata=[("x-token", "tok-123")])
        assert [tx_index(u) for u in subscription.until_end()] == list(range(50))
        assert subscription.code == grpc.StatusCode.OK
        taken = subprocess.run(
            [SOLFLOW, "serve", str(capture), "--port", str(port)], capture_output=True, text=True, timeout=WAIT_S
        )
        assert taken.returncode == 2
        assert taken.stderr == f"solflow serve: error: cannot serve on 127.0.0.1:{port}: Address already in use\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.communicate()


def test_solflow_serve_reports_a_bad_capture_in_one_line(tmp_path):
    bad = tmp_path / "bad.capture"
    bad.write_bytes(b"definitely not a capture")
    result = subprocess.run(
        [SOLFLOW, "serve", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(bad) in result.stderr and "magic" in result.stderr
