"""Kafka in the middle: the ingest (``SOLFLOW_PUBLISH``) publishes the sample capture to a real
Kafka-protocol broker (Tansu, on a free 127.0.0.1 port) and a cluster member (``SOLFLOW_INPUT``)
aggregates it -- writing exactly what the embedded run writes. Also: the wire format round trip, a
live ingest that never ends the cluster, and settings mistakes as one line.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from components import Component, start_kafka
from test_flow_support import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    assert_ok,
    block_time_span,
    committed_epoch,
    flow_env,
    read_outputs,
    run_flow,
    run_stats,
    sample_capture,
    start_flow,
    summary_lines,
    wait_until,
)

from solflow.bench.flowruns import free_ports
from solflow.domain.decode import DecodeStats
from solflow.domain.stream import Gap, SlotClock, SourceStopped
from solflow.domain.trade import TradeEvent
from solflow.server.replay import ReplayServer
from solflow.wire import End, SlotReport, WireError, decode, encode, parse_kafka_url

_topics = itertools.count()


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Component]:
    broker = start_kafka(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


def topic_url(kafka: Component) -> str:
    """A fresh topic for each use: the broker outlives the tests of this module."""
    return f"kafka://{kafka.address}/trades-{next(_topics)}"


@pytest.fixture(scope="module")
def embedded_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The single-process run of the sample capture: its outputs directory and summary line."""
    out = tmp_path_factory.mktemp("embedded")
    result = run_flow(flow_env(out, sample_capture(), SOLFLOW_LEGACY="both"))
    assert_ok(result)
    [summary] = summary_lines(result.stdout)
    return out, summary


@pytest.fixture(scope="module")
def embedded(embedded_out: tuple[Path, str]) -> tuple[dict[str, Any], str]:
    """The single-process run's outputs and summary line."""
    return read_outputs(embedded_out[0]), embedded_out[1]


def comparable(outputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs as rows; JSONL lines sorted (a cluster writes a program's trades in Kafka's order)."""
    return {name: sorted(data.splitlines()) if name.startswith("jsonl.") else data for name, data in outputs.items()}


def without_timing(summary: str) -> str:
    """The summary without what depends on the wall clock: the timing, and how often the current
    state was refreshed (``sqlite_token_aggregates`` counts refreshes)."""
    return re.sub(r"sqlite_token_aggregates \d+", "", summary.rsplit(";", 1)[0])


def test_wire_messages_round_trip() -> None:
    trade = TradeEvent(
        signature="5" * 88, slot=7, tx_index=3, block_time=None, program="pumpfun", program_id="P" * 44,
        direction="sell", trader="T" * 44, fee_payer="F" * 44, mint="M" * 44, quote_mint="Q" * 44,
        token_amount_raw=2**64 - 1, token_decimals=6, quote_amount_raw=10**9, quote_decimals=9,
        fee_amount_raw=None, outer_ix_index=2, inner_ix_index=None, via=None, pool="L" * 44, is_dca=False,
        decode_source="cpi_event", virtual_base_reserves=2**63,
    )  # fmt: skip
    stats = DecodeStats(("pumpfun",))
    stats["pumpfun"].trades = 4
    stats.add_trailing("pumpfun", "TradeEvent", 16)
    items = [
        trade,
        SlotClock("pumpfun", 7, 1_700_000_000),
        SlotClock("pumpfun", 8, None),
        Gap("pumpfun", 9, 12, None, "out_of_range", 13),
        SourceStopped("pumpfun", "signal", 12),
        End(),
    ]
    for item in items:
        assert decode(encode("pumpfun", (7, 1), item)) == ("pumpfun", (7, 1), item)
    source, at, report = decode(encode("pumpfun", (8, 2), SlotReport("pumpfun", 5, 1, stats)))
    assert (source, at) == ("pumpfun", (8, 2)) and isinstance(report, SlotReport)
    assert (report.transactions, report.slots, report.stats.as_dict(), report.stats.trailing) == (
        5, 1, stats.as_dict(), {"pumpfun.TradeEvent": [1, 16]}
    )  # fmt: skip
    for junk in (b"not json", b'{"kind":"trade","source":"pumpfun","at":[1,2]}', None, b'{"kind":"x"}'):
        with pytest.raises(WireError, match="not a SolFlow message"):
            decode(junk)


def test_the_ingest_publishes_every_source_through_one_producer(kafka: Component) -> None:
    """One client, so no two of the ingest's requests race to append to one topic partition (the test
    broker, like some Kafka-protocol brokers, can lose one of two such writes)."""
    from sinks.kafka import KafkaPublishSink

    sink = KafkaPublishSink(parse_kafka_url(topic_url(kafka)), 2, ["pumpfun", "pumpswap"])
    parts = [sink.build_part("kafka", source, None) for source in ("pumpfun", "pumpswap")]
    try:
        assert parts[0]._producer is parts[1]._producer
    finally:
        for part in parts:
            part.close()


def test_a_slot_sent_again_in_another_order_is_taken_once_by_trade_key(kafka: Component) -> None:
    """An ingest that published one trade of a slot and was restarted sends the whole slot again, now
    in another order and at other positions (a live stream need not repeat its order): the member
    takes each trade once -- by position alone it would take the first trade twice and lose the second."""
    from confluent_kafka import Producer

    from sinks.kafka import producer_config
    from solflow.kafka_topics import ensure_topics
    from sources.kafka import KafkaTradeSource

    target = parse_kafka_url(topic_url(kafka))
    assert ensure_topics(target, 1) == 1
    first = TradeEvent(
        signature="5" * 88, slot=10, tx_index=0, block_time=1_700_000_000, program="pumpfun", program_id="P" * 44,
        direction="buy", trader="T" * 44, fee_payer="T" * 44, mint="M" * 44, quote_mint="Q" * 44,
        token_amount_raw=1_000, token_decimals=6, quote_amount_raw=10**9, quote_decimals=9, fee_amount_raw=None,
        outer_ix_index=0, inner_ix_index=None, via=None, pool=None, is_dca=False, decode_source="cpi_event",
    )  # fmt: skip
    second = dataclasses.replace(first, signature="6" * 88, tx_index=1, direction="sell")
    sent = [
        ((9, 1), first),  # the first run, stopped hard after this message
        ((9, 1), second),  # the restarted ingest, from its snapshot: the slot again, in another order
        ((9, 2), first),
        ((10, 0), SlotClock("pumpfun", 10, 1_700_000_000)),
        ((10, 1), End()),
    ]
    producer = Producer(producer_config(target))
    for at, item in sent:
        producer.produce(target.topic, encode("pumpfun", at, item), partition=0)
    assert producer.flush(30) == 0

    source = KafkaTradeSource(target, ["pumpfun"], 1, 60)
    part = source.build_part("input", f"0-{target.topic}", None)
    taken: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                taken += part.next_batch()
            except StopIteration:
                break
            assert time.monotonic() < deadline, "the partition never saw the end marker"
    finally:
        part.close()
    trades = [item for key, item in taken if key == "pumpfun"]
    assert sorted(trade.signature for trade in trades) == sorted([first.signature, second.signature])
    [shard_input] = [item for key, item in taken if key != "pumpfun"]
    assert len(shard_input.records) == 2


def test_positions_only_grow_when_slots_are_released_out_of_order(kafka: Component) -> None:
    """A slot released late (a straggler, block meta after the slot went out) never takes a position
    back: a member would drop every message after it as published already."""
    from confluent_kafka import Consumer, TopicPartition

    from sinks.kafka import KafkaPublishSink
    from solflow.kafka_topics import ensure_topics

    target = parse_kafka_url(topic_url(kafka))
    assert ensure_topics(target, 2) == 2
    part = KafkaPublishSink(target, 2, ["pumpfun"]).build_part("kafka", "pumpfun", None)
    late = SlotClock("pumpfun", 8, 1_700_000_000)
    part.write_batch([SlotClock("pumpfun", 9, 1_700_000_001), SlotClock("pumpfun", 10, 1_700_000_001), late])
    part.write_batch([SlotClock("pumpfun", 11, 1_700_000_002), End()])
    assert part.snapshot() == (11, 2)
    part.close()
    consumer = Consumer({"bootstrap.servers": target.bootstrap, "group.id": "t", "enable.partition.eof": True})
    consumer.assign([TopicPartition(target.topic, 0, 0)])
    found: list[tuple[Any, ...]] = []
    while not found or found[-1] != "eof":
        for message in consumer.consume(100, 5):
            found.append("eof" if message.error() else decode(message.value())[1:])
    consumer.close()
    positions = [at for at, _ in found[:-1]]
    assert [item for _, item in found[:-1]] == [SlotClock("pumpfun", s, t) for s, t in ((9, 1_700_000_001),
        (10, 1_700_000_001), (8, 1_700_000_000), (11, 1_700_000_002))] + [End()]  # fmt: skip
    assert positions == [(9, 0), (10, 0), (10, 1), (11, 0), (11, 1)] and positions == sorted(set(positions))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:9092/trades", "kafka://HOST:PORT/TOPIC"),
        ("kafka://127.0.0.1/trades", "HOST:PORT"),
        ("kafka://127.0.0.1:99999/trades", "HOST:PORT"),
        ("kafka://127.0.0.1:9092/", "topic"),
        ("kafka://127.0.0.1:9092/a b", "topic"),
        ("kafka://127.0.0.1:9092/trades.run", "run topic"),
    ],
)
def test_kafka_urls_are_checked(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_kafka_url(url)


def test_ingest_then_cluster_member_write_what_the_embedded_run_writes(
    tmp_path: Path, kafka: Component, embedded: tuple[dict[str, Any], str]
) -> None:
    url = topic_url(kafka)
    ingest = run_flow(flow_env(tmp_path / "ingest", sample_capture(), SOLFLOW_PUBLISH=url))
    assert_ok(ingest)
    assert not (tmp_path / "ingest").exists(), "the ingest writes to Kafka only"
    [ingest_summary] = summary_lines(ingest.stdout)
    expected_outputs, expected_summary = embedded
    assert ingest_summary.split(";")[:3] == expected_summary.split(";")[:3], "the same transactions and trades"
    trades = len(expected_outputs["sqlite.trades"])
    assert f"rows written: kafka_trades {trades};" in ingest_summary

    # The capture's end reached the cluster through the end markers: it flushed its windows and ended.
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO_ROOT)
    env = flow_env(tmp_path / "member", sample_capture(), SOLFLOW_INPUT=url, SOLFLOW_LEGACY="both")
    member = run_flow(env, "-r", str(recovery), "-s", "1", "-b", "0")
    assert_ok(member)
    outputs = read_outputs(tmp_path / "member")
    assert comparable(outputs) == comparable(expected_outputs)
    [member_summary] = summary_lines(member.stdout)
    assert without_timing(member_summary) == without_timing(expected_summary)

    # A member resumed after the end has nothing more to read: it ends at once, adding nothing.
    again = run_flow(env, "-r", str(recovery), "-s", "1", "-b", "0")
    assert_ok(again)
    assert read_outputs(tmp_path / "member") == outputs


def test_a_live_ingest_never_ends_the_cluster(
    tmp_path: Path, kafka: Component, embedded: tuple[dict[str, Any], str]
) -> None:
    url = topic_url(kafka)
    server = ReplayServer(sample_capture())
    port = server.start()
    try:
        ingest = run_flow(flow_env(tmp_path / "ingest", sample_capture(), SOLFLOW_PUBLISH=url,
                                   GEYSER_URL=f"http://127.0.0.1:{port}"))  # fmt: skip
    finally:
        server.stop()
        server.wait(timeout=10)
    assert_ok(ingest)  # the server's stream ended, but a live stream has no end the cluster should act on

    out = tmp_path / "member"
    [metrics_port] = free_ports(1)
    env = flow_env(
        out, sample_capture(), SOLFLOW_INPUT=url, SOLFLOW_LEGACY="both", SOLFLOW_METRICS_PORT=str(metrics_port)
    )
    member = start_flow(env, log=tmp_path / "m.log")
    try:
        expected = len(embedded[0]["sqlite.trades"])
        wait_until(lambda: _sqlite_trades(out) >= expected or member.poll() is not None, RUN_TIMEOUT_S, "every trade")
        assert member.poll() is None, "the member ended although the ingest was live"
        # A member serves health and metrics as a single process does, the Kafka consumers' lag among them.
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10) as health:
            assert health.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as metrics:
            assert "bytewax_kafka_consumer_lag" in metrics.read().decode()
        member.send_signal(signal.SIGTERM)  # a drain: the windows are flushed as at the end of input
        assert member.wait(timeout=RUN_TIMEOUT_S) == 0
    finally:
        if member.poll() is None:
            member.kill()
    assert comparable(read_outputs(out)) == comparable(embedded[0])


def test_an_ingest_stopped_and_resumed_leaves_the_members_run_finished(
    tmp_path: Path, kafka: Component, embedded_out: tuple[Path, str], embedded: tuple[dict[str, Any], str]
) -> None:
    url = topic_url(kafka)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO_ROOT)
    speed = max(1.0, block_time_span(embedded_out[0]) / 8)  # the capture's chain time in about 8 s
    env = flow_env(tmp_path / "ingest", sample_capture(), SOLFLOW_PUBLISH=url, SOLFLOW_REPLAY_SPEED=f"{speed:.3f}")
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    ingest = start_flow(env, *args, log=tmp_path / "ingest-1.log")
    try:
        wait_until(lambda: committed_epoch(recovery) > 2 or ingest.poll() is not None, RUN_TIMEOUT_S, "a snapshot")
        assert ingest.poll() is None, "the paced ingest ended before it could be stopped"
        ingest.send_signal(signal.SIGTERM)  # a drain: the sources stop, the run topic says so
        assert ingest.wait(timeout=RUN_TIMEOUT_S) == 0
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert "solflow run stopped" in (tmp_path / "ingest-1.log").read_text()
    assert_ok(run_flow(env, *args))  # resumed: on to the end, then the end markers

    out = tmp_path / "member"
    member = run_flow(flow_env(out, sample_capture(), SOLFLOW_INPUT=url, SOLFLOW_LEGACY="both"))
    assert_ok(member)
    [summary] = summary_lines(member.stdout)
    assert summary.startswith("solflow run finished:"), "the ingest's stop is not the members' run's"
    outputs = read_outputs(out)
    trades = outputs["sqlite.trades"]
    lines = [line for name, data in outputs.items() if name.startswith("jsonl.") for line in data.splitlines()]
    assert len(lines) == len(set(lines)) == len(trades) == run_stats(out)["trades"], "each trade once, counted once"
    # A stop with -r leaves a slot still open to the resumed ingest, which reads it again in full.
    assert sorted(trades) == sorted(embedded[0]["sqlite.trades"])


def _sqlite_trades(out: Path) -> int:
    import sqlite3

    if not (out / "solflow.db").exists():
        return 0
    db = sqlite3.connect(f"file:{out / 'solflow.db'}?mode=ro", uri=True, timeout=1)
    try:
        return db.execute("SELECT count(*) FROM trades").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


@pytest.mark.parametrize(
    ("variables", "status", "message"),
    [
        ({"SOLFLOW_PUBLISH": "kafka://127.0.0.1:1/t", "SOLFLOW_INPUT": "kafka://127.0.0.1:1/t"}, 2, "not both"),
        ({"SOLFLOW_PUBLISH": "kafka://127.0.0.1:1/t", "SOLFLOW_SINKS": "delta:s3://b/p"}, 2, "SOLFLOW_SINKS"),
        ({"SOLFLOW_INPUT": "kafka://127.0.0.1/t"}, 2, "SOLFLOW_INPUT"),
        ({"SOLFLOW_SINKS": "local,parquet"}, 2, "unknown sink"),
        ({"SOLFLOW_SINKS": "postgres:mysql://u:hunter2@h/db"}, 2, "postgresql://"),
    ],
)
def test_scale_out_settings_mistakes_are_one_line(
    tmp_path: Path, variables: dict[str, str], status: int, message: str
) -> None:
    result = run_flow(flow_env(tmp_path, sample_capture(), **variables))
    lines = result.stderr.splitlines()
    assert result.returncode == status and len(lines) == 1 and message in lines[0], result.stderr
    assert "hunter2" not in result.stderr, "a password in SOLFLOW_SINKS is never printed"


def test_unreachable_brokers_are_one_line(tmp_path: Path) -> None:
    [port] = free_ports(1)  # nothing listens there
    result = run_flow(flow_env(tmp_path, sample_capture(), SOLFLOW_INPUT=f"kafka://127.0.0.1:{port}/t"))
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("solflow: error: kafka://127.0.0.1:") and "cannot reach" in lines[0]
