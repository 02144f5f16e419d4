"""End-to-end runs of ``python -m bytewax.run flows.solflow`` replaying the sample capture.

One uninterrupted ``-w 1`` run with every output on (``SOLFLOW_LEGACY=both``) is the baseline; the
other runs -- output modes, ``-w 4``, two processes, ``kill -9`` + ``-r`` resume, SIGTERM, the same
capture streamed live by the replay server over gRPC -- are compared with it row for row. Also:
updates dropped on a full buffer become gaps and counts, and the metrics endpoint serves the
counters while a run is going.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_flow_support import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    assert_ok,
    block_time_span,
    committed_epoch,
    flow_command,
    flow_env,
    jsonl_lines,
    parse_jsonl,
    read_outputs,
    run_flow,
    run_stats,
    sample_capture,
    start_flow,
    summary_lines,
    wait_until,
)

from solflow.bench.flowruns import free_ports
from solflow.cli.simulate import add_arguments as add_simulate_arguments
from solflow.domain.decode import TransactionDecoder
from solflow.domain.programs import PROGRAM_NAMES, WSOL_MINT
from solflow.domain.trade import TRADE_FIELDS
from solflow.server.replay import ReplayServer
from solflow.simulator import simulate
from sources.capture import CaptureReader, iter_updates

PACED_RUN_S = 8  # chain time is replayed this fast in the interrupted runs


@pytest.fixture(scope="module")
def capture() -> Path:
    return sample_capture()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, capture: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("baseline")
    result = run_flow(flow_env(out, capture, SOLFLOW_LEGACY="both"))
    assert_ok(result)
    return out, result


@pytest.fixture(scope="module")
def baseline_outputs(baseline: tuple[Path, Any]) -> dict[str, Any]:
    return read_outputs(baseline[0])


def test_replay_writes_every_output(baseline: tuple[Path, Any], baseline_outputs: dict[str, Any]) -> None:
    out, _ = baseline
    jsonl_total = 0
    for program in PROGRAM_NAMES:
        lines = parse_jsonl(out / "streams" / program / "events.jsonl")
        assert lines, f"no JSONL trades for {program}"
        assert {line["program"] for line in lines} == {program}
        jsonl_total += len(lines)

    trades = pl.scan_parquet(out / "trades", hive_partitioning=True).collect()
    aggregates = pl.scan_parquet(out / "aggregates", hive_partitioning=True).collect()
    signals = pl.scan_parquet(out / "signals", hive_partitioning=True).collect()
    assert len(baseline_outputs["sqlite.trades"]) == jsonl_total == trades.height > 0
    assert aggregates.height > 0 and signals.height > 0
    assert len(baseline_outputs["sqlite.token_signals"]) == signals.height
    assert aggregates["mint"].n_unique() == len(baseline_outputs["sqlite.token_aggregates"])

    # The history has a row per mint and tick with a trade (and a final row once a mint's windows
    # empty, which no mint of the sample does); token_aggregates holds each mint's state at the end
    # of the replay, decays included, stamped with the tick of its latest change. (Parquet times are
    # Datetime, SQLite's unix seconds.)
    trades = trades.with_columns(pl.col("block_time").dt.epoch("s"))
    aggregates = aggregates.with_columns(pl.col(pl.Datetime).dt.epoch("s"))
    assert aggregates.height <= trades.height + aggregates["mint"].n_unique()
    traded_ticks = trades.select("mint", ((pl.col("block_time") + 4) // 5 * 5).alias("ts")).unique()
    assert aggregates.select("mint", "ts").sort("mint", "ts").equals(traded_ticks.sort("mint", "ts"))
    latest = dict(aggregates.group_by("mint").agg(pl.col("ts").max()).rows())
    db = sqlite3.connect(out / "solflow.db")
    current = {row[0]: row[1:] for row in db.execute(
        "SELECT mint, ts, buy_count_60s, sell_count_300s, net_flow_900s_sol, first_ts FROM token_aggregates")}  # fmt: skip
    db.close()
    assert current.keys() == latest.keys()
    decayed = 0
    first_trade = dict(trades.group_by("mint").agg(pl.col("block_time").min()).rows())
    for mint, (ts, buys_60s, sells_300s, net_flow_900s, first_ts) in current.items():
        assert ts >= latest[mint] and first_ts == -(-first_trade[mint] // 5) * 5
        decayed += ts > latest[mint]
        mine = trades.filter(pl.col("mint") == mint, pl.col("block_time") <= ts)
        inside = {w: mine.filter(pl.col("block_time") > ts - w) for w in (60, 300, 900)}
        assert buys_60s == inside[60].filter(pl.col("direction") == "buy").height
        assert sells_300s == inside[300].filter(pl.col("direction") == "sell").height
        signed = pl.when(pl.col("direction") == "buy").then(1).otherwise(-1) * pl.col("quote_amount_raw").cast(pl.Int64)
        in_sol = inside[900].filter(pl.col("quote_mint") == WSOL_MINT)
        assert net_flow_900s == pytest.approx(in_sol.select(signed.sum()).item() / 1e9)
    assert decayed > 10


def test_end_of_input_brings_every_trade_into_the_aggregates(
    baseline: tuple[Path, Any], baseline_outputs: dict[str, Any]
) -> None:
    """The replay's last trades come after its last full tick; they still reach the current state
    and the history (no mint of the sample idles out, so trades_total counts all its trades)."""
    out, _ = baseline
    db = sqlite3.connect(out / "solflow.db")
    traded = {mint: (last, count) for mint, last, count in db.execute(
        "SELECT mint, max(block_time), count(*) FROM trades GROUP BY mint")}  # fmt: skip
    current = {mint: (last, total) for mint, last, total in db.execute(
        "SELECT mint, last_trade_ts, trades_total FROM token_aggregates")}  # fmt: skip
    db.close()
    assert current == traded
    history = pl.scan_parquet(out / "aggregates", hive_partitioning=True).collect()
    newest = history.sort("ts").group_by("mint").last().with_columns(pl.col("last_trade_ts").dt.epoch("s"))
    assert {
        mint: (last, total) for mint, last, total in newest.select("mint", "last_trade_ts", "trades_total").rows()
    } == traded


def test_end_of_input_flushes_mainnet_fixtures(tmp_path: Path, fixtures_dir: Path) -> None:
    """Fixture transactions are far apart in time and some carry no block time: every traded mint
    still gets its current-state row."""
    capture = tmp_path / "fixtures.capture"
    imported = subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", "capture", "import-rpc",
         *map(str, sorted((fixtures_dir / "rpc").glob("*/*.json"))), "-o", str(capture)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "out"
    # The fixtures span years: retention off keeps every trade and every (long idle) mint's row.
    assert_ok(run_flow(flow_env(out, capture, SOLFLOW_LEGACY="sqlite", SOLFLOW_RETENTION="off")))
    db = sqlite3.connect(out / "solflow.db")
    traded = {mint for (mint,) in db.execute("SELECT DISTINCT mint FROM trades")}
    current = {mint for (mint,) in db.execute("SELECT mint FROM token_aggregates WHERE trades_total > 0")}
    db.close()
    assert len(traded) > 15 and current == traded


def _simulated_trades(capture: Path) -> set[tuple]:
    """The trades the simulator put in the capture, from the command its header records."""
    with CaptureReader(capture) as reader:
        command = shlex.split(reader.header.source)
    assert command[:2] == ["solflow", "simulate"], f"{capture} is not a simulated capture"
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    args = parser.parse_args([*command[2:], "-o", "unused"])
    programs = tuple(name for name in args.programs.split(",") if name)
    simulated = simulate(args.transactions, args.seed, args.start_time, programs, transactions_per_slot=args.per_slot)
    return {tuple(getattr(trade, name) for name in TRADE_FIELDS) for update in simulated for trade in update.expected}


def test_trades_are_exactly_the_simulated_ones(capture: Path, baseline: tuple[Path, Any]) -> None:
    out, _ = baseline
    expected = _simulated_trades(capture)
    parquet = (
        pl.scan_parquet(out / "trades", hive_partitioning=True)
        .select(TRADE_FIELDS)
        .with_columns(pl.col("block_time").dt.epoch("s"))
        .collect()
    )
    db = sqlite3.connect(out / "solflow.db")
    stored = db.execute(f"SELECT {', '.join(TRADE_FIELDS)} FROM trades").fetchall()
    db.close()
    lines = [line for program in PROGRAM_NAMES for line in parse_jsonl(out / "streams" / program / "events.jsonl")]
    for name, rows in [
        ("parquet", parquet.rows()),
        ("sqlite", stored),
        ("jsonl", [tuple(line[field] for field in TRADE_FIELDS) for line in lines]),
    ]:
        assert len(rows) == len(expected) and set(rows) == expected, f"{name} trades differ from the simulated ones"


def test_summary_is_printed_and_stored(baseline: tuple[Path, Any], baseline_outputs: dict[str, Any]) -> None:
    out, result = baseline
    [summary] = summary_lines(result.stdout)
    stats = run_stats(out)
    trades = len(baseline_outputs["sqlite.trades"])
    assert summary.startswith("solflow run finished:") and f"{trades} trades" in summary
    assert stats["finished"] == 1 and stats["trades"] == trades
    assert stats["rows_written.jsonl"] == stats["rows_written.parquet_trades"] == trades
    assert stats["rows_written.parquet_aggregates"] == len(baseline_outputs["parquet.aggregates"])
    assert stats["rows_written.sqlite_token_signals"] == len(baseline_outputs["sqlite.token_signals"])
    db = sqlite3.connect(out / "solflow.db")
    [(mints,)] = db.execute("SELECT count(DISTINCT mint) FROM trades").fetchall()
    db.close()
    assert stats["mints"] == mints, "no mint idles past the longest window in the sample, so runs == mints"
    assert stats["transactions"] >= stats["trades_by_program.pumpfun"] > 0
    assert stats["dropped"] == stats["gaps"] == 0
    assert "\x1b[" not in result.stdout, "no progress bar when stdout is not a terminal"


def test_summary_and_run_stats_count_events_newer_than_the_layout_tables(
    capture: Path, baseline: tuple[Path, Any]
) -> None:
    """The sample holds events no layout knows and events with fields beyond the newest layout; the
    run reports as many as the decoder finds in the capture itself."""
    decoder = TransactionDecoder()
    for update in iter_updates(capture):
        if update.HasField("transaction"):
            tx = update.transaction
            decoder.decode(tx.transaction, tx.slot, None)
    unknown, trailing = decoder.stats.total("unknown_events"), decoder.stats.total("trailing_events")
    assert unknown > 0 and trailing > 0
    out, result = baseline
    stats = run_stats(out)
    assert (stats["decode_unknown_events"], stats["decode_trailing_events"]) == (unknown, trailing)
    [summary] = summary_lines(result.stdout)
    assert f" {unknown} unknown events, {trailing} events with unknown trailing bytes," in summary


def test_pipeline_off_writes_only_legacy_outputs(
    tmp_path: Path, capture: Path, baseline_outputs: dict[str, Any]
) -> None:
    result = run_flow(flow_env(tmp_path, capture, SOLFLOW_PIPELINE="off"))
    assert_ok(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streams"]
    outputs = read_outputs(tmp_path)
    assert outputs == {k: v for k, v in baseline_outputs.items() if k.startswith("jsonl.")}
    assert len(summary_lines(result.stdout)) == 1


@pytest.mark.parametrize("legacy", ["sqlite", "off"])
def test_legacy_modes(tmp_path: Path, capture: Path, baseline_outputs: dict[str, Any], legacy: str) -> None:
    result = run_flow(flow_env(tmp_path, capture, SOLFLOW_LEGACY=legacy))
    assert_ok(result)
    assert not (tmp_path / "streams").exists()
    outputs = read_outputs(tmp_path)
    expected_trades = baseline_outputs["sqlite.trades"] if legacy == "sqlite" else []
    assert outputs["sqlite.trades"] == expected_trades
    without_legacy = {k: v for k, v in baseline_outputs.items() if not k.startswith("jsonl.") and k != "sqlite.trades"}
    assert {k: v for k, v in outputs.items() if k != "sqlite.trades"} == without_legacy


def test_pipeline_off_with_sqlite_legacy(tmp_path: Path, capture: Path, baseline_outputs: dict[str, Any]) -> None:
    result = run_flow(flow_env(tmp_path, capture, SOLFLOW_PIPELINE="off", SOLFLOW_LEGACY="sqlite"))
    assert_ok(result)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("solflow.db-")) == ["solflow.db"]
    outputs = read_outputs(tmp_path)
    assert outputs["sqlite.trades"] == baseline_outputs["sqlite.trades"]
    assert outputs["sqlite.token_aggregates"] == outputs["sqlite.token_signals"] == []


@pytest.mark.parametrize(
    ("args", "variables"),
    [(("-w", "4"), {}), ((), {"SOLFLOW_LAYOUT": "single"})],
    ids=["four-workers", "single-subscription"],
)
def test_identical_outputs_at_any_scale_or_layout(
    tmp_path: Path, capture: Path, baseline_outputs: dict[str, Any], args: tuple[str, ...], variables: dict[str, str]
) -> None:
    result = run_flow(flow_env(tmp_path, capture, SOLFLOW_LEGACY="both", **variables), *args)
    assert_ok(result)
    assert read_outputs(tmp_path) == baseline_outputs
    assert len(summary_lines(result.stdout)) == 1


def test_two_processes_give_identical_outputs(tmp_path: Path, capture: Path, baseline_outputs: dict[str, Any]) -> None:
    env = flow_env(tmp_path, capture, SOLFLOW_LEGACY="both")
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
    procs = [
        subprocess.Popen(
            flow_command("-i", str(i), "-a", addresses),
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=RUN_TIMEOUT_S) for p in procs]
    for proc, (_stdout, stderr) in zip(procs, outs):
        assert proc.returncode == 0, stderr[-3000:]
    assert read_outputs(tmp_path) == baseline_outputs
    assert sum(len(summary_lines(stdout)) for stdout, _ in outs) == 1, "one summary for the whole cluster"


def test_a_process_started_first_connects_once_the_first_listens(
    tmp_path: Path, capture: Path, baseline_outputs: dict[str, Any]
) -> None:
    """Process 1 waits for process 0's listener instead of being refused and retried a second later
    (Timely prints "error connecting" on stdout for every refused attempt)."""
    out = tmp_path / "out"
    env = flow_env(out, capture, SOLFLOW_LEGACY="both")
    ports = free_ports(2)
    addresses = ";".join(f"127.0.0.1:{port}" for port in ports)
    logs = [(tmp_path / f"process-{i}.out", tmp_path / f"process-{i}.err") for i in range(2)]
    waiting = f"process 1: waiting for 127.0.0.1:{ports[0]} to listen"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in (1, 0):  # process 0 only once process 1 says it is waiting for it
            stdout, stderr = logs[i]
            with open(stdout, "wb") as out_file, open(stderr, "wb") as err_file:
                command = flow_command("-i", str(i), "-a", addresses)
                procs.append(subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out_file, stderr=err_file))
            if i == 1:
                wait_until(lambda: waiting in logs[1][1].read_text(), RUN_TIMEOUT_S, "process 1 to wait for process 0")
        for proc in procs:
            proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_stdout, stderr) in zip(procs, reversed(logs)):
        assert proc.returncode == 0, stderr.read_text()[-3000:]
    assert "error connecting" not in logs[1][0].read_text()
    assert read_outputs(out) == baseline_outputs


@pytest.fixture(scope="module")
def geyser_url(capture: Path):
    """A Yellowstone endpoint on 127.0.0.1 serving the whole capture to every subscriber."""
    server = ReplayServer(capture)
    port = server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    server.wait(timeout=10)


def test_live_stream_gives_identical_outputs(
    tmp_path: Path, capture: Path, geyser_url: str, baseline_outputs: dict[str, Any]
) -> None:
    result = run_flow(flow_env(tmp_path, capture, GEYSER_URL=geyser_url, SOLFLOW_LEGACY="both"))
    assert_ok(result)
    assert read_outputs(tmp_path) == baseline_outputs
    assert len(summary_lines(result.stdout)) == 1


def test_dropped_updates_are_counted_and_recorded_as_gaps(
    tmp_path: Path, capture: Path, geyser_url: str, baseline_outputs: dict[str, Any]
) -> None:
    # A one-update buffer cannot keep up with a server sending the whole capture at once.
    env = flow_env(tmp_path, capture, GEYSER_URL=geyser_url, SOLFLOW_LEGACY="both", SOLFLOW_BUFFER="1")
    result = run_flow(env)
    assert_ok(result)
    db = sqlite3.connect(tmp_path / "solflow.db")
    reasons, rows, dropped_in_rows = db.execute(
        "SELECT group_concat(DISTINCT reason), count(*), sum(count) FROM gaps"
    ).fetchone()
    db.close()
    stats = run_stats(tmp_path)
    assert reasons == "buffer_full" and rows > 0
    # Every dropped update is in the gaps table; Gap items for the same slot range noticed at the
    # same slot share a row, so there may be fewer rows than Gap items.
    assert dropped_in_rows == stats["dropped"] > 0
    assert stats["gaps"] >= rows
    [summary] = summary_lines(result.stdout)
    assert f"{stats['dropped']} dropped, 0 invalid messages, {stats['gaps']} gaps" in summary
    assert summary.startswith("solflow run incomplete:") and (stats["end"], stats["finished"]) == ("incomplete", 0)

    # What got through is the same trades, except that a slot whose block meta was dropped has its
    # time from its transactions' events or an earlier slot (never from the local clock).
    trades = read_outputs(tmp_path)["sqlite.trades"]
    assert 0 < len(trades) < len(baseline_outputs["sqlite.trades"])
    assert untimed(trades) <= untimed(baseline_outputs["sqlite.trades"])


def untimed(rows: list[tuple]) -> set[tuple]:
    """SQLite trade rows without their block time."""
    return {row[:3] + row[4:] for row in rows}


def _paced_env(out: Path, capture: Path, baseline_out: Path) -> dict[str, str]:
    speed = max(1.0, block_time_span(baseline_out) / PACED_RUN_S)
    return flow_env(out, capture, SOLFLOW_LEGACY="both", SOLFLOW_REPLAY_SPEED=f"{speed:.3f}")


def _wait_for_progress(out: Path, proc: subprocess.Popen[bytes], total: int) -> int:
    """Wait until about a third of the trades are written and a few epochs have closed since."""
    wait_until(lambda: jsonl_lines(out) >= total // 3 or proc.poll() is not None, RUN_TIMEOUT_S, "progress")
    written = jsonl_lines(out)
    wait_until(lambda: jsonl_lines(out) > written or proc.poll() is not None, RUN_TIMEOUT_S, "more progress")
    assert proc.poll() is None, "the paced run ended before it could be interrupted"
    return jsonl_lines(out)


def test_kill_and_resume_gives_identical_outputs(
    tmp_path: Path, capture: Path, baseline: tuple[Path, Any], baseline_outputs: dict[str, Any]
) -> None:
    out, recovery = tmp_path / "out", tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "4"], check=True, cwd=REPO_ROOT)
    recovery_args = ("-r", str(recovery), "-s", "1", "-b", "0")
    total = len(baseline_outputs["sqlite.trades"])

    first = start_flow(_paced_env(out, capture, baseline[0]), *recovery_args, log=tmp_path / "first.log")
    try:
        _wait_for_progress(out, first, total)
        # Resuming needs a committed epoch; the kill then lands after it, with more written since.
        committed = committed_epoch(recovery)
        wait_until(lambda: committed_epoch(recovery) > max(committed, 1), RUN_TIMEOUT_S, "a committed epoch")
        written = jsonl_lines(out)
        wait_until(lambda: jsonl_lines(out) > written, RUN_TIMEOUT_S, "writes after the committed epoch")
        assert first.poll() is None, "the paced run ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=RUN_TIMEOUT_S) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    assert 0 < jsonl_lines(out) < total, "the kill landed mid-stream"

    resumed = run_flow(flow_env(out, capture, SOLFLOW_LEGACY="both"), "-w", "2", *recovery_args)
    assert_ok(resumed)
    assert read_outputs(out) == baseline_outputs
    stats, expected = run_stats(out), run_stats(baseline[0])
    for counter in ("transactions", "trades", "mints", "rows_written.parquet_aggregates"):
        assert stats[counter] == expected[counter], f"{counter} counted exactly once across the restart"


def rows_on_disk(out: Path) -> dict[str, int]:
    """Rows each sink holds, under the names ``run_stats`` counts them by."""
    written = read_outputs(out)
    return {
        "jsonl": sum(len(data.splitlines()) for name, data in written.items() if name.startswith("jsonl.")),
        "sqlite_trades": len(written["sqlite.trades"]),
        "sqlite_token_signals": len(written["sqlite.token_signals"]),
        "sqlite_gaps": len(written["sqlite.gaps"]),
        "parquet_trades": len(written["parquet.trades"]),
        "parquet_aggregates": len(written["parquet.aggregates"]),
        "parquet_signals": len(written["parquet.signals"]),
    }


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_the_run_and_reports_exactly_what_is_on_disk(
    tmp_path: Path, capture: Path, baseline: tuple[Path, Any], baseline_outputs: dict[str, Any], workers: str
) -> None:
    log = tmp_path / "run.log"
    env = _paced_env(tmp_path, capture, baseline[0])
    proc = start_flow(env, "-w", workers, log=log)
    try:
        _wait_for_progress(tmp_path, proc, len(baseline_outputs["sqlite.trades"]))
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        returncode = proc.wait(timeout=RUN_TIMEOUT_S)
        stopped_in = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
    assert returncode == 0, log.read_text()
    assert stopped_in < 10
    lines = log.read_text().splitlines()
    [summary] = summary_lines(log.read_text())
    assert lines == [summary, "solflow: stopped by SIGTERM; outputs were flushed and closed"]
    stats = run_stats(tmp_path)
    assert summary.startswith("solflow run stopped:") and stats["end"] == "stopped" and stats["finished"] == 0
    on_disk = rows_on_disk(tmp_path)
    assert 0 < on_disk["sqlite_trades"] < len(baseline_outputs["sqlite.trades"])
    assert stats["trades"] == on_disk["sqlite_trades"]
    for sink, rows in on_disk.items():
        assert stats[f"rows_written.{sink}"] == rows, sink
        assert f"{sink} {rows}" in summary or rows == 0, sink
    written = read_outputs(tmp_path)  # every Parquet part is complete (footer written at close)
    assert not list(tmp_path.rglob("*.tmp*")) and not list(tmp_path.rglob(".*.parquet"))
    assert untimed(written["sqlite.trades"]) <= untimed(baseline_outputs["sqlite.trades"])
    # No slot is written in part: a run appending into the same outputs starts each partition where
    # it stopped (run_stats continue_at) and ends with an uninterrupted run's trades, each once.
    assert summary.endswith(f"continues at slot {_first_continued(stats['continue_at'])}")
    env.pop("SOLFLOW_REPLAY_SPEED")
    assert_ok(run_flow({**env, "SOLFLOW_APPEND": "on"}, "-w", workers))
    appended = read_outputs(tmp_path)
    trades = ["sqlite.trades", "parquet.trades", *(name for name in baseline_outputs if name.startswith("jsonl."))]
    assert [name for name in trades if appended.get(name) != baseline_outputs[name]] == []


def _first_continued(continue_at: str) -> int:
    return min(where["slot"] for where in json.loads(continue_at).values() if where is not None)


def test_metrics_endpoint_shows_source_and_decode_counters(
    tmp_path: Path, capture: Path, baseline: tuple[Path, Any], baseline_outputs: dict[str, Any]
) -> None:
    [port] = free_ports(1)
    env = _paced_env(tmp_path, capture, baseline[0])
    env["SOLFLOW_METRICS_PORT"] = str(port)
    proc = start_flow(env, log=tmp_path / "run.log")
    scraped: dict[str, float] = {}

    def decode_counters_seen() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return proc.poll() is not None
        scraped.clear()
        for line in text.splitlines():
            if line.startswith("solflow_") and " " in line:
                name, value = line.rsplit(" ", 1)
                scraped[name] = float(value)
        newer_versions = [  # events of program versions newer than the layout tables (the sample has both kinds)
            sum(value for name, value in scraped.items() if name.startswith(f"solflow_decode_{counter}_total{{"))
            for counter in ("unknown_events", "trailing_events")
        ]
        return scraped.get('solflow_decode_trades_total{program="pumpfun"}', 0) > 0 and min(newer_versions) > 0

    try:
        wait_until(decode_counters_seen, RUN_TIMEOUT_S, "decode counters on the metrics endpoint")
        assert proc.poll() is None, "the endpoint was scraped while the flow ran"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=RUN_TIMEOUT_S)
    assert scraped['solflow_decode_transactions_total{partition="pumpfun"}'] > 0
    assert scraped['solflow_source_updates_received_total{partition="pumpfun",type="transaction"}'] > 0
