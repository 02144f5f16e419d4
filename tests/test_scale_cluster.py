"""End to end beyond one machine: the ingest publishes ``data/sample.capture`` to Kafka (Tansu), a
two-process Bytewax cluster aggregates it into Delta tables on S3 (moto) and Postgres -- and the
rows equal the single-process run's Parquet and SQLite rows, row for row. Then the same with
``kill -9`` of a cluster process and of the ingest mid-run, both restarted with ``-r``: no row lost,
none twice. Every server runs on 127.0.0.1 and is started and stopped by these tests.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from components import Component, postgres_uri, s3_env, start_kafka, start_postgres, start_s3
from test_flow_support import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    SQLITE_TABLES,
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
from test_scale_sinks import postgres_rows, sqlite_rows

from sinks.delta import EPOCH, PART
from solflow.bench.flowruns import free_ports

PACED_RUN_S = 12  # the interrupted runs replay the capture's chain time this fast
COUNTERS = ("transactions", "trades", "mints", "decode_fallbacks", "rows_written.parquet_aggregates")
_names = itertools.count()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Component]]:
    workdir = tmp_path_factory.mktemp("servers")
    started: dict[str, Component] = {}
    try:
        started["kafka"] = start_kafka(workdir)
        started["s3"] = start_s3(workdir, "lake")
        started["postgres"] = start_postgres()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process run of the sample capture: the rows to match."""
    out = tmp_path_factory.mktemp("embedded")
    assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_LEGACY="both")))
    return out


class Setup:
    """One scenario's topic, Delta root and Postgres database, and the environments that use them."""

    def __init__(self, servers: dict[str, Component], workdir: Path):
        name = f"e2e{next(_names)}"
        self.workdir = workdir
        self.topic = f"kafka://{servers['kafka'].address}/{name}"
        self.delta = f"s3://lake/{name}"
        self.s3 = s3_env(servers["s3"])
        with psycopg.connect(postgres_uri(servers["postgres"], "postgres"), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        self.postgres = postgres_uri(servers["postgres"], name)

    def ingest_env(self, **variables: str) -> dict[str, str]:
        return flow_env(self.workdir / "ingest-out", sample_capture(), SOLFLOW_PUBLISH=self.topic, **variables)

    def member_env(self) -> dict[str, str]:
        return flow_env(
            self.workdir / "member-out",
            sample_capture(),
            SOLFLOW_INPUT=self.topic,
            SOLFLOW_SINKS=f"delta:{self.delta},postgres:{self.postgres}",
            SOLFLOW_LEGACY="sqlite",  # the trades table too, to compare with SQLite's
            **self.s3,
        )

    def start_members(self, *args: str, log_prefix: str) -> list[subprocess.Popen[bytes]]:
        addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
        return [
            start_flow(
                self.member_env(), "-i", str(i), "-a", addresses, *args, log=self.workdir / f"{log_prefix}-{i}.log"
            )
            for i in range(2)
        ]

    def delta_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """The Delta tables as the Parquet datasets' rows (Parquet's types, its ``date`` column last)."""
        saved = {name: os.environ.get(name) for name in self.s3}
        os.environ.update(self.s3)
        try:
            out = {}
            for dataset in ("trades", "aggregates", "signals"):
                frame = pl.scan_delta(f"{self.delta}/{dataset}").collect()
                out[dataset] = frame.drop(PART, EPOCH)  # the date column stays: Parquet has it too
            return out
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def postgres_count(self, table: str) -> int:
        try:
            with psycopg.connect(self.postgres, connect_timeout=5) as db:
                return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except psycopg.Error:  # the table is not there yet
            return 0

    def published_trades(self) -> int:
        """Trade messages in the trade topic, every copy counted."""
        from confluent_kafka import Consumer, TopicPartition

        brokers, _, topic = self.topic.removeprefix("kafka://").partition("/")
        consumer = Consumer({"bootstrap.servers": brokers, "group.id": "count", "enable.partition.eof": True})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            trades, ended = 0, 0
            while ended < len(partitions):
                for message in consumer.consume(1000, 5):
                    if message.error():
                        ended += 1
                    else:
                        trades += json.loads(message.value())["kind"] == "trade"
            return trades
        finally:
            consumer.close()

    def published_messages(self) -> int:
        """Messages in the trade topic so far (its partitions' high watermarks): cheap enough to poll."""
        from confluent_kafka import Consumer, TopicPartition

        brokers, _, topic = self.topic.removeprefix("kafka://").partition("/")
        consumer = Consumer({"bootstrap.servers": brokers, "group.id": "count"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
        finally:
            consumer.close()

    def postgres_stats(self) -> dict[str, str]:
        with psycopg.connect(self.postgres) as db:
            return dict(db.execute("SELECT name, value FROM run_stats").fetchall())


def assert_same_rows(setup: Setup, embedded: Path) -> None:
    expected = read_outputs(embedded)
    for dataset, frame in setup.delta_rows().items():
        parquet = pl.scan_parquet(embedded / dataset, hive_partitioning=True).collect()
        as_parquet = frame.select(pl.col(name).cast(dtype) for name, dtype in parquet.schema.items())
        assert sorted(as_parquet.rows(), key=repr) == expected[f"parquet.{dataset}"], f"Delta {dataset}"
    assert postgres_rows(setup.postgres, SQLITE_TABLES) == sqlite_rows(embedded / "solflow.db", SQLITE_TABLES)
    stats, wanted = setup.postgres_stats(), run_stats(embedded)
    for counter in COUNTERS:
        assert stats[counter] == str(wanted[counter]), f"run_stats {counter}"


def test_a_two_process_cluster_writes_the_embedded_rows_to_delta_and_postgres(
    tmp_path: Path, servers: dict[str, Component], embedded: Path
) -> None:
    setup = Setup(servers, tmp_path)
    assert_ok(run_flow(setup.ingest_env()))
    members = setup.start_members(log_prefix="member")
    for member in members:
        assert member.wait(timeout=RUN_TIMEOUT_S) == 0, (setup.workdir / "member-0.log").read_text()[-3000:]
    logs = [(tmp_path / f"member-{i}.log").read_text() for i in range(2)]
    assert sum(len(summary_lines(log)) for log in logs) == 1, "one summary for the whole cluster"
    assert_same_rows(setup, embedded)

    # The analysis commands read the Delta tables as they read the embedded run's Parquet ...
    for command in (["top", "--window", "300", "--limit", "50"], ["signals", "--since", "0"]):
        on_delta = _cli(*command, "--json", "--delta", setup.delta, env=setup.s3)
        assert on_delta == _cli(*command, "--json", "--out", str(embedded)), command
    # ... and the dashboard serves the cluster's Postgres as it serves the embedded run's SQLite.
    with _dashboard("--db", setup.postgres, "--out", str(tmp_path / "view")) as cluster_view:
        with _dashboard("--db", str(embedded / "solflow.db")) as embedded_view:
            for path in ("api/tokens?limit=500&sort=nf_300", "api/signals?since=0&limit=1000"):
                assert _view(cluster_view + path) == _view(embedded_view + path), path


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", *args],
        cwd=REPO_ROOT,
        env={**flow_env(REPO_ROOT / "unused", sample_capture()), **(env or {})},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextlib.contextmanager
def _dashboard(*args: str) -> Iterator[str]:
    """``solflow dashboard`` on a free port: its URL once it has data to show."""
    command = [sys.executable, "-m", "solflow.cli.main", "dashboard", *args, "--port", "0"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline() if process.stdout else ""
        assert first.startswith("dashboard: http://127.0.0.1:"), (
            first,
            process.stderr.read() if process.stderr else "",
        )
        url = first.split(" ", 1)[1].strip()
        wait_until(lambda: _fetch(url + "api/health")["status"] != "waiting", RUN_TIMEOUT_S, "the dashboard's data")
        yield url
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def _fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _view(url: str) -> Any:
    """A dashboard answer without what depends on the wall clock or on how the view started."""
    answer = _fetch(url)
    for name in ("status", "problem", "lag_s", "last_commit_age_s", "generation", "database_exists"):
        answer.pop(name, None)
    for token in answer.get("tokens", ()):
        token.pop("spark", None)  # seeded from the Parquet history, which only the embedded run has
    if "signals" in answer:  # signals of one tick come in insertion order, which differs between runs
        answer["signals"] = sorted(answer["signals"], key=repr)
    return answer


def _recovery_dir(path: Path, partitions: int, snapshot_s: int = 1) -> tuple[str, ...]:
    path.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(path), str(partitions)], check=True, cwd=REPO_ROOT)
    return ("-r", str(path), "-s", str(snapshot_s), "-b", "0")


def _wait_past_a_commit(recovery: Path, progressed: Any, what: str, *running: subprocess.Popen[bytes]) -> None:
    """Wait for a committed epoch and, after it, more progress -- so a kill lands between commits."""
    committed = committed_epoch(recovery)
    wait_until(lambda: committed_epoch(recovery) > max(committed, 1), RUN_TIMEOUT_S, f"a committed epoch ({what})")
    before = progressed()
    wait_until(lambda: progressed() > before, RUN_TIMEOUT_S, f"progress after the commit ({what})")
    for process in running:
        assert process.poll() is None, f"the run ended before it could be killed ({what})"


def test_kill_9_of_a_member_and_of_the_ingest_resume_to_the_same_rows(
    tmp_path: Path, servers: dict[str, Component], embedded: Path
) -> None:
    setup = Setup(servers, tmp_path)
    total = len(sqlite_rows(embedded / "solflow.db", ("trades",))["trades"])
    speed = max(1.0, block_time_span(embedded) / PACED_RUN_S)
    paced = setup.ingest_env(SOLFLOW_REPLAY_SPEED=f"{speed:.3f}")
    ingest_recovery, member_recovery = tmp_path / "ingest-recovery", tmp_path / "member-recovery"
    # The ingest snapshots every 5 s, so a kill soon after it published past a snapshot lands before the next.
    ingest_args, member_args = _recovery_dir(ingest_recovery, 1, snapshot_s=5), _recovery_dir(member_recovery, 2)

    ingest = start_flow(paced, *ingest_args, log=tmp_path / "ingest-1.log")
    members = setup.start_members(*member_args, log_prefix="first")
    processes = [ingest, *members]
    try:
        trades_written = lambda: setup.postgres_count("trades")  # noqa: E731
        # The ingest dies between two of its snapshots and comes back: it publishes again what followed
        # its last snapshot, and the members drop what they already have.
        _wait_past_a_commit(ingest_recovery, setup.published_messages, "ingest", ingest, *members)
        ingest.send_signal(signal.SIGKILL)
        assert ingest.wait(timeout=RUN_TIMEOUT_S) == -signal.SIGKILL
        ingest = start_flow(paced, *ingest_args, log=tmp_path / "ingest-2.log")
        processes.append(ingest)
        # A member dies between two snapshots of the cluster; its peer cannot go on without it.
        _wait_past_a_commit(member_recovery, trades_written, "members", *members)
        members[1].send_signal(signal.SIGKILL)
        assert members[1].wait(timeout=RUN_TIMEOUT_S) == -signal.SIGKILL
        try:
            members[0].wait(timeout=60)
        except subprocess.TimeoutExpired:
            members[0].kill()
            members[0].wait(timeout=RUN_TIMEOUT_S)
        assert 0 < trades_written() < total, "the kill landed mid-run"

        members = setup.start_members(*member_args, log_prefix="resumed")
        processes += members
        assert ingest.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "ingest-2.log").read_text()[-3000:]
        for i, member in enumerate(members):
            assert member.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / f"resumed-{i}.log").read_text()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert setup.published_trades() > total, "the restarted ingest published some trades again"
    assert_same_rows(setup, embedded)
