"""Live mode against the real replay server on 127.0.0.1: restarts, drops, pings, stalls, auth, replay gaps."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest
from bytewax.testing import cluster_main
from test_source_support import (
    FIRST_SLOT,
    FlowThread,
    RequestSpy,
    clocks,
    delivered_txs,
    gaps,
    make_chain,
    metric,
    poll,
    settings_for,
    source_flow,
    wait_for,
)

from protos import geyser_pb2
from solflow import run_control
from solflow.domain.programs import PROGRAM_NAMES, PUMPFUN, PUMPSWAP
from solflow.domain.stream import Gap, SourceStopped, TxUpdate
from solflow.server.replay import ReplayServer
from sources.geyser_client import BLOCKS_META_FILTER, GeyserError
from sources.yellowstone import YellowstoneSource

TWO = (PUMPSWAP, PUMPFUN)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def exactly_once(items: list, partition: str, expected: list) -> None:
    got = delivered_txs(items, partition)
    assert len(got) == len(set(got)), f"{partition}: {len(got) - len(set(got))} duplicates"
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{partition}: {len(missing)} transactions lost, first {missing[:2]}"
    assert sorted(got) == expected


def test_server_restarted_ten_times_mid_stream_delivers_every_transaction_exactly_once():
    chain = make_chain(500, txs_per_program=2, programs=TWO)  # 4,000 updates
    rate, window = 800.0, 1_000
    # the chain starts just after both partitions subscribed, so the server sends each of them all of it
    server = ReplayServer(
        chain.updates, rate=rate, replay_window_slots=window, ping_interval_s=0.2, clock_start=time.time() + 1.0
    )
    port = server.start()

    def reconnects() -> float:
        return sum(metric("solflow_source_reconnects_total", partition=p.name) for p in TWO)

    reconnects_before = reconnects()
    settings = settings_for(url(port), programs=("pumpswap", "pumpfun"))
    out: list = []
    flow = FlowThread(source_flow(settings, out))
    try:
        for _ in range(10):
            seen = len(out)
            wait_for(lambda seen=seen: len(out) >= seen + 40, what="progress before a restart")
            server.stop()
            server = ReplayServer(
                chain.updates,
                port=port,
                rate=rate,
                replay_window_slots=window,
                ping_interval_s=0.2,
                clock_start=server.clock_start,
            )
            server.start()
        flow.join()
    finally:
        server.stop()
    for program in TWO:
        exactly_once(out, program.name, chain.expected_for([program.name]))
    assert not gaps(out)
    # each restart came after fresh progress, so it cut at least one open stream (a partition
    # waiting out its backoff at that moment never sees that restart)
    assert reconnects() >= reconnects_before + 10


def test_slow_consumer_with_a_tiny_buffer_drops_records_each_drop_as_a_gap_and_keeps_going(caplog):
    chain = make_chain(150, txs_per_program=3, programs=TWO)
    server = ReplayServer(chain.updates)  # unpaced: the server sends as fast as the client reads
    port = server.start()
    dropped_before = metric("solflow_source_updates_dropped_total", partition="pumpswap")
    out: list = []

    def slow(item):
        time.sleep(0.0005)
        return item

    settings = settings_for(url(port), programs=("pumpswap",), buffer_size=4)
    try:
        with caplog.at_level(logging.WARNING, logger="sources.live"):
            flow = FlowThread(source_flow(settings, out, slow))
            flow.join()
    finally:
        server.stop()
    buffer_gaps = [g for g in gaps(out) if g.reason == "buffer_full"]
    dropped = metric("solflow_source_updates_dropped_total", partition="pumpswap") - dropped_before
    assert dropped > 0 and buffer_gaps
    assert sum(g.count for g in buffer_gaps) == dropped
    # exact accounting: every update sent was delivered or counted in a gap
    expected = chain.expected_for(["pumpswap"])
    got = delivered_txs(out)
    assert len(got) == len(set(got)) and set(got) <= set(expected)
    metas_delivered = sum(1 for c in clocks(out) if c.block_time is not None)
    assert (len(expected) - len(got)) + (len(chain.slots) - metas_delivered) == dropped
    for slot, _ in set(expected) - set(got):
        assert any(g.first_slot <= slot <= g.last_slot for g in buffer_gaps)
    # the run went on after the first drop (and ended only with the stream: join() returned)
    first_gap = next(i for i, item in enumerate(out) if type(item) is Gap)
    assert any(type(item) is TxUpdate for item in out[first_gap:])
    assert any("dropped" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_server_pings_are_answered_with_ping_only_requests_and_never_reset_the_filters(monkeypatch):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(16, programs=[PUMPSWAP])
    server = ReplayServer(chain.updates, rate=100.0, ping_interval_s=0.04)
    port = server.start()
    pongs_before = metric("solflow_source_updates_received_total", partition="pumpswap", type="pong")
    out: list = []
    try:
        FlowThread(source_flow(settings_for(url(port), programs=("pumpswap",)), out)).join()
    finally:
        server.stop()
    assert len(spy.subscriptions) == 1, "a request other than a ping replaced the filters"
    assert len(spy.pings) >= 5
    for n, request in enumerate(spy.pings, start=1):
        assert [fd.name for fd, _ in request.ListFields()] == ["ping"]
        assert request.ping.id == n
    pongs = metric("solflow_source_updates_received_total", partition="pumpswap", type="pong") - pongs_before
    # the server echoed the answers (a last one may cross the end of the stream)
    assert len(spy.pings) - 1 <= pongs <= len(spy.pings)
    exactly_once(out, "pumpswap", chain.expected_for(["pumpswap"]))  # data kept flowing throughout


def test_a_stalled_server_is_detected_by_the_watchdog_and_the_stream_resumes(monkeypatch):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(60, programs=TWO)
    server = ReplayServer(chain.updates, rate=300.0, replay_window_slots=1_000, ping_interval_s=0.05)
    port = server.start()
    reconnects_before = metric("solflow_source_reconnects_total", partition="pumpfun")
    settings = settings_for(url(port), programs=("pumpfun",), stall_timeout_s=0.4)
    out: list = []
    flow = FlowThread(source_flow(settings, out))
    try:
        wait_for(lambda: len(delivered_txs(out)) >= 10, what="first transactions")
        server.stall()
        wait_for(lambda: len(spy.subscriptions) >= 2, what="a resubscription after the stall")
        server.resume()
        flow.join()
    finally:
        server.stop()
    assert metric("solflow_source_reconnects_total", partition="pumpfun") > reconnects_before
    resubscribed = spy.subscriptions[1]
    assert resubscribed.HasField("from_slot") and resubscribed.from_slot >= FIRST_SLOT
    exactly_once(out, "pumpfun", chain.expected_for(["pumpfun"]))


def test_a_wrong_token_is_one_clear_error_that_never_shows_a_token(caplog):
    right, wrong = "right-token-4f1d9a", "wrong-token-77c2e0"
    chain = make_chain(5, programs=[PUMPSWAP])
    server = ReplayServer(chain.updates, x_token=right)
    port = server.start()
    refused: list = []
    try:
        with caplog.at_level(logging.DEBUG):
            FlowThread(source_flow(settings_for(url(port), programs=("pumpswap",), x_token=wrong), refused)).join()
            error = run_control.failure()
            run_control.reset()
        accepted: list = []
        FlowThread(source_flow(settings_for(url(port), programs=("pumpswap",), x_token=right), accepted)).join()
    finally:
        server.stop()
    # The source stops the run instead of raising inside the dataflow (a Rust panic banner).
    assert refused == [SourceStopped("pumpswap", "error", None)]
    assert isinstance(error, GeyserError)
    message = str(error)
    assert "UNAUTHENTICATED" in message and url(port) in message and "X_TOKEN" in message
    for text in (message, caplog.text):
        assert right not in text and wrong not in text
    assert sorted(delivered_txs(accepted)) == chain.expected_for(["pumpswap"])


def test_a_wrong_token_in_a_bytewax_run_is_one_line_without_the_token(tmp_path, repo_root):
    right, wrong = "right-token-0b7e51", "wrong-token-c3d9f2"
    server = ReplayServer(make_chain(3, programs=[PUMPSWAP]).updates, x_token=right)
    port = server.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOLFLOW_")},
        "GEYSER_URL": url(port),
        "X_TOKEN": wrong,
        "SOLFLOW_PROGRAMS": "pumpswap",
        "SOLFLOW_OUT": str(tmp_path / "out"),
        "RUST_BACKTRACE": "0",
        "NO_COLOR": "1",
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "bytewax.run", "flows.solflow"],
            cwd=repo_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert line.startswith("solflow: error: partition pumpswap: Yellowstone endpoint")
    assert "UNAUTHENTICATED" in line and "X_TOKEN" in line
    assert run.stdout.startswith("solflow run stopped: 0 transactions")
    for stream in (run.stdout, run.stderr):
        assert right not in stream and wrong not in stream


@pytest.mark.parametrize(("window", "reason"), [(20, "out_of_range"), (0, "replay_unsupported")])
def test_a_refused_replay_is_recorded_as_a_gap_and_streaming_continues_live(monkeypatch, window, reason):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(300, programs=[PUMPSWAP])  # ~5 updates a slot
    rate = 200.0
    server = ReplayServer(chain.updates, rate=rate, replay_window_slots=window, clock_start=time.time() - 2.5)
    port = server.start()
    resume = FIRST_SLOT + 3  # a restarted flow whose last slot is long out of the window
    source = YellowstoneSource(settings_for(url(port), programs=("pumpswap",)))
    part = source.build_part("yellowstone", "pumpswap", resume)
    try:
        items = poll(part, lambda items: len([c for c in clocks(items)]) >= 5)
    finally:
        part.close()
        server.stop()
    assert spy.subscriptions[0].from_slot == resume + 1
    assert not spy.subscriptions[1].HasField("from_slot")
    gap = items[0]
    assert type(gap) is Gap and gap.reason == reason and gap.count is None
    assert gap.first_slot == resume + 1 and gap.last_slot > resume + 50  # the head had moved on
    assert gap.detected_at_slot == gap.last_slot
    after = [t for t in delivered_txs(items[1:])]
    last_clock = max(c.slot for c in clocks(items))
    expected = [t for t in chain.expected_for(["pumpswap"]) if gap.last_slot < t[0] <= last_clock]
    assert expected and set(expected) <= set(after)
    assert part.snapshot() == (last_clock, ())


def test_subscriptions_follow_the_layout_with_explicit_vote_and_failed(monkeypatch):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(3, programs=TWO)
    server = ReplayServer(chain.updates)
    port = server.start()
    try:
        for layout in ("per_program", "single"):
            settings = settings_for(url(port), programs=("pumpswap", "pumpfun"), layout=layout, commitment="finalized")
            FlowThread(source_flow(settings, [])).join()
    finally:
        server.stop()
    per_program, single = spy.subscriptions[:2], spy.subscriptions[2]
    assert sorted(list(r.transactions) for r in per_program) == [["pumpfun"], ["pumpswap"]]
    assert sorted(single.transactions) == ["pumpfun", "pumpswap"]
    for request in [*per_program, single]:
        assert request.HasField("commitment") and request.commitment == geyser_pb2.FINALIZED
        assert list(request.blocks_meta) == [BLOCKS_META_FILTER]
        assert not request.HasField("from_slot")
        for name, tx_filter in request.transactions.items():
            program = PUMPSWAP if name == "pumpswap" else PUMPFUN
            assert tx_filter.HasField("vote") and tx_filter.vote is False
            assert tx_filter.HasField("failed") and tx_filter.failed is False
            assert list(tx_filter.account_required) == [program.program_id]
            assert not tx_filter.account_include and not tx_filter.account_exclude


def test_a_resumed_partition_subscribes_from_the_slot_after_its_snapshot(monkeypatch):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(60, programs=[PUMPSWAP])
    server = ReplayServer(chain.updates, rate=2_000.0, replay_window_slots=1_000, clock_start=time.time() + 0.2)
    port = server.start()
    source = YellowstoneSource(settings_for(url(port), programs=("pumpswap",)))
    resume = FIRST_SLOT + 30
    part = source.build_part("yellowstone", "pumpswap", resume)
    try:
        assert part.snapshot() == (resume, ())  # (an older snapshot's bare slot reads as this position)
        items = poll(part, lambda items: False)  # to the end of the stream
    finally:
        part.close()
        server.stop()
    assert spy.subscriptions[0].from_slot == resume + 1
    assert sorted(delivered_txs(items)) == [t for t in chain.expected_for(["pumpswap"]) if t[0] > resume]
    assert part.snapshot() == (max(chain.slots), ())


def test_block_overflow_applies_backpressure_and_a_lagged_cut_is_replayed_without_loss(caplog):
    # ~10 MB of transactions: more than gRPC buffers in the flow-control windows of a fresh stream
    chain = make_chain(100, programs=[PUMPSWAP], log_bytes=48_000)
    server = ReplayServer(chain.updates, rate=3_000.0, max_queue=30, replay_window_slots=1_000)
    port = server.start()
    reconnects_before = metric("solflow_source_reconnects_total", partition="pumpswap")
    out: list = []
    stream_was_cut = threading.Event()

    def stuck_until_cut(item):
        # A consumer that stops: the full buffer blocks the reader, the server's queue fills
        # and it cuts the stream as "lagged"; only then does the consumer go on.
        if not stream_was_cut.is_set():
            wait_for(lambda: server.subscriber_count == 0, what="the server cutting the blocked stream")
            stream_was_cut.set()
        return item

    settings = settings_for(url(port), programs=("pumpswap",), buffer_size=2, overflow="block")
    try:
        with caplog.at_level(logging.WARNING, logger="sources.live"):
            FlowThread(source_flow(settings, out, stuck_until_cut)).join()
    finally:
        server.stop()
    assert "lagged to send an update" in caplog.text
    assert metric("solflow_source_reconnects_total", partition="pumpswap") > reconnects_before
    assert not gaps(out)
    exactly_once(out, "pumpswap", chain.expected_for(["pumpswap"]))


def test_partitions_spread_over_workers_each_read_their_own_subscription_once(monkeypatch):
    spy = RequestSpy(monkeypatch)
    chain = make_chain(20)
    server = ReplayServer(chain.updates)
    port = server.start()
    out: list = []
    try:
        cluster_main(source_flow(settings_for(url(port)), out), [], 0, worker_count_per_proc=2)
    finally:
        server.stop()
    assert sorted(name for r in spy.subscriptions for name in r.transactions) == sorted(PROGRAM_NAMES)
    for name in PROGRAM_NAMES:
        exactly_once(out, name, chain.expected_for([name]))


def test_six_brief_cuts_each_resume_within_five_seconds_at_the_initial_backoff():
    chain = make_chain(3000, txs_per_program=1, programs=[PUMPSWAP])  # ~4 updates a slot
    server = ReplayServer(chain.updates, rate=400.0, replay_window_slots=1000, ping_interval_s=0.5)
    port = server.start()
    # The defaults users run with: 0.5 s initial delay doubling up to 30 s.
    settings = settings_for(url(port), programs=("pumpswap",), backoff_initial_s=0.5, backoff_max_s=30.0)
    part = YellowstoneSource(settings).build_part("yellowstone", "pumpswap", None)
    resumed_after: list[float] = []
    try:
        items = poll(part, lambda items: len(delivered_txs(items)) >= 10)
        for _ in range(6):
            wait_for(lambda: server.subscriber_count == 1, what="a subscription to cut")
            head = server.head_slot
            assert server.cut() == 1 and head is not None
            cut_at = time.monotonic()
            # Data from the new connection: slots the server published after the cut.
            items += poll(part, lambda new, head=head: any(slot > head for slot, _ in delivered_txs(new)), timeout=30)
            resumed_after.append(time.monotonic() - cut_at)
    finally:
        part.close()
        server.stop()
    assert max(resumed_after) < 5, f"data flowed again after {resumed_after} s"
    got = delivered_txs(items)
    assert len(got) == len(set(got)), "the overlap replayed after each cut is delivered once"
    assert not gaps(items)


def test_an_update_over_the_receive_limit_skips_its_slot_as_a_gap_and_streaming_goes_on():
    chain = make_chain(60, txs_per_program=2, programs=[PUMPSWAP])
    big_slot = FIRST_SLOT + 20
    server = ReplayServer(chain.updates, rate=400.0, oversized_slots=[big_slot], oversized_bytes=2 << 20)
    port = server.start()
    settings = settings_for(
        url(port), programs=("pumpswap",), grpc_max_message_mb=1, backoff_initial_s=0.5, backoff_max_s=30.0
    )
    part = YellowstoneSource(settings).build_part("yellowstone", "pumpswap", None)
    started = time.monotonic()
    try:
        items = poll(part, lambda items: any(c.slot == chain.slots[-1] for c in clocks(items)), timeout=60)
    finally:
        part.close()
        server.stop()
    assert time.monotonic() - started < 60
    [gap] = gaps(items)
    assert (gap.first_slot, gap.last_slot, gap.reason) == (big_slot, big_slot, "oversized_update")
    got = set(delivered_txs(items))
    expected = set(chain.expected_for(["pumpswap"]))
    assert got <= expected
    assert {slot for slot, _ in expected - got} == {big_slot}, "only the oversized update's slot is missing"
