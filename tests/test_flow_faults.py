"""Off the happy path, end to end: ``python -m bytewax.run flows.solflow`` against damaged input and
the replay server's faults. Nothing is lost without a ``gaps`` row, nothing hangs, and what the
summary and ``run_stats`` say matches what is on disk.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import base58
import pytest
from test_flow_support import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    assert_ok,
    flow_env,
    jsonl_lines,
    read_outputs,
    run_flow,
    run_stats,
    sample_capture,
    start_flow,
    summary_lines,
    wait_until,
)

from protos import geyser_pb2
from solflow.domain.programs import BY_NAME, PUMPSWAP
from solflow.server.replay import ReplayServer
from sources.capture import CaptureReader, CaptureWriter

UNTIMED_START_SLOTS = 12
OPEN_SLOT_UPDATES = 6000  # served at SERVED_RATE: the open slot waits 5 s for its rest
SERVED_RATE = 1200.0


@pytest.fixture(scope="module")
def capture() -> Path:
    return sample_capture()


def test_invalid_messages_are_counted_in_run_stats_and_the_summary(tmp_path: Path, capture: Path) -> None:
    damaged = tmp_path / "malformed.capture"
    with CaptureReader(capture) as reader, CaptureWriter(damaged, source="test") as writer:
        for n, raw in enumerate(reader):
            writer.write(raw)
            if n in (100, 2000):
                # a field claiming 96 bytes that holds 32: a program id, so the pass must parse it
                writer.write(b"\x0a\x60" + PUMPSWAP.id_bytes)
    clean, out = tmp_path / "clean", tmp_path / "out"
    assert_ok(run_flow(flow_env(clean, capture, SOLFLOW_LEGACY="both")))
    result = run_flow(flow_env(out, damaged, SOLFLOW_LEGACY="both"))
    assert_ok(result)
    stats = run_stats(out)
    assert stats["invalid_messages"] == 2 * 5  # every partition's share of the pass skipped each one
    assert stats["end"] == "incomplete" and stats["finished"] == 0
    [summary] = summary_lines(result.stdout)
    assert summary.startswith("solflow run incomplete:") and "0 dropped, 10 invalid messages, 10 gaps" in summary
    written, expected = read_outputs(out), read_outputs(clean)
    assert written["sqlite.trades"] == expected["sqlite.trades"]  # the other messages all came through
    assert {row[4] for row in written["sqlite.gaps"]} == {"malformed_update"}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, capture: Path) -> dict[str, Any]:
    """The trades of the sample capture replayed without faults: what a server serves."""
    out = tmp_path_factory.mktemp("baseline")
    assert_ok(run_flow(flow_env(out, capture, SOLFLOW_LEGACY="both")))
    return read_outputs(out)


def served_paced(capture: Path, rate: float = 1200.0) -> ReplayServer:
    """The capture as a live endpoint; its chain starts once ``begin_when_subscribed`` sees the flow."""
    server = ReplayServer(
        capture, rate=rate, replay_window_slots=150, ping_interval_s=1.0, clock_start=time.time() + 3600
    )
    server.start()
    return server


def begin_when_subscribed(server: ReplayServer, proc: subprocess.Popen[bytes], partitions: int = 5) -> None:
    wait_until(lambda: server.subscriber_count == partitions or proc.poll() is not None, RUN_TIMEOUT_S, "subscriptions")
    assert proc.poll() is None, "the flow ended before it subscribed"
    server.start_clock(time.time())


def trade_key(row: tuple) -> tuple:
    return (row[0], row[16], row[17])  # signature, outer_ix_index, inner_ix_index


def assert_written_once_or_in_a_gap(
    out: Path, baseline: dict[str, Any], up_to_last_written_slot: bool = False
) -> list[tuple]:
    """Every served trade is on disk exactly once (SQLite and JSONL) or in a slot range of a ``gaps``
    row of its partition; returns the gaps rows. A stopped run was served up to the last slot each
    partition wrote, that slot perhaps in part."""
    written = read_outputs(out)
    jsonl = [
        json.loads(line) for name, data in written.items() if name.startswith("jsonl.") for line in data.splitlines()
    ]
    jsonl_keys = [(t["signature"], t["outer_ix_index"], t["inner_ix_index"]) for t in jsonl]
    assert len(jsonl_keys) == len(set(jsonl_keys)), "a trade written twice"
    sqlite_keys = {trade_key(row) for row in written["sqlite.trades"]}
    assert set(jsonl_keys) == sqlite_keys
    gap_rows = written["sqlite.gaps"]
    last_slot: dict[str, int] = {}
    for row in written["sqlite.trades"]:
        last_slot[row[4]] = max(last_slot.get(row[4], 0), row[1])
    for row in baseline["sqlite.trades"]:
        if trade_key(row) in sqlite_keys:
            continue
        program, slot = row[4], row[1]
        if up_to_last_written_slot and slot >= last_slot.get(program, 0):
            continue  # after the stop; the last slot's rest may still have been on its way
        assert any(g[0] in (program, "all") and g[1] <= slot and (g[2] is None or slot <= g[2]) for g in gap_rows), (
            f"trade {trade_key(row)} of {program} slot {slot} neither written nor in a gap"
        )
    assert sqlite_keys <= {trade_key(row) for row in baseline["sqlite.trades"]}
    return gap_rows


@pytest.mark.parametrize(("refusal", "reason"), [("end", "replay_ended"), ("out_of_range", "out_of_range")])
def test_a_refused_resume_is_a_gap_the_run_says_incomplete_and_the_stream_goes_on_live(
    tmp_path: Path, capture: Path, baseline: dict[str, Any], refusal: str, reason: str
) -> None:
    server = served_paced(capture)
    env = flow_env(tmp_path, capture, GEYSER_URL=f"http://127.0.0.1:{server.port}", SOLFLOW_LEGACY="both")
    proc = start_flow(env, log=tmp_path / "run.log")
    try:
        begin_when_subscribed(server, proc)
        wait_until(lambda: jsonl_lines(tmp_path) > len(baseline["sqlite.trades"]) // 3, RUN_TIMEOUT_S, "progress")
        server.replay_refusal = refusal
        assert server.cut() == 5
        assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    gap_rows = assert_written_once_or_in_a_gap(tmp_path, baseline)
    assert {g[4] for g in gap_rows} == {reason} and len(gap_rows) == 5, gap_rows
    stats = run_stats(tmp_path)
    assert (stats["end"], stats["finished"], stats["gaps"]) == ("incomplete", 0, 5)
    [summary] = summary_lines((tmp_path / "run.log").read_text())
    assert summary.startswith("solflow run incomplete:") and ", 5 gaps;" in summary
    written = read_outputs(tmp_path)["sqlite.trades"]
    assert any(row[1] > max(g[2] for g in gap_rows) for row in written), "the stream went on from the live tip"


def test_a_database_locked_by_another_process_for_15_s_is_ridden_out(
    tmp_path: Path, capture: Path, baseline: dict[str, Any]
) -> None:
    times = [row[3] for row in baseline["sqlite.trades"] if row[3] is not None]
    speed = (max(times) - min(times)) / 10  # a 10-second run
    env = flow_env(tmp_path, capture, SOLFLOW_LEGACY="both", SOLFLOW_REPLAY_SPEED=f"{speed:.3f}")
    proc = start_flow(env, log=tmp_path / "run.log")
    try:
        wait_until(lambda: jsonl_lines(tmp_path) > 100 or proc.poll() is not None, RUN_TIMEOUT_S, "progress")
        analysis = sqlite3.connect(tmp_path / "solflow.db", isolation_level=None)
        analysis.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        analysis.execute("CREATE TABLE my_analysis (x)")
        time.sleep(15)
        assert proc.poll() is None, "the run survives the lock"
        analysis.execute("COMMIT")
        analysis.close()
        assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "run.log").read_text()
    assert "solflow.db is locked by another writer; waiting" in log
    written = read_outputs(tmp_path)
    assert written == baseline, "every row reached every sink"


def test_sigterm_while_another_process_holds_the_lock_stops_within_10_s_and_keeps_the_rows(
    tmp_path: Path, capture: Path, baseline: dict[str, Any]
) -> None:
    times = [row[3] for row in baseline["sqlite.trades"] if row[3] is not None]
    speed = (max(times) - min(times)) / 10  # a 10-second run
    out, recovery = tmp_path / "out", tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO_ROOT)
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    env = flow_env(out, capture, SOLFLOW_LEGACY="both", SOLFLOW_REPLAY_SPEED=f"{speed:.3f}")
    log = tmp_path / "run.log"
    proc = start_flow(env, *args, log=log)
    try:
        wait_until(lambda: jsonl_lines(out) > 100 or proc.poll() is not None, RUN_TIMEOUT_S, "progress")
        analysis = sqlite3.connect(out / "solflow.db", isolation_level=None, timeout=RUN_TIMEOUT_S)
        analysis.execute("BEGIN IMMEDIATE")  # another writer holds the write lock, longer than the stop may take
        try:
            time.sleep(2)
            assert proc.poll() is None, "the paced run ended before it could be stopped"
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            wait_until(lambda: proc.poll() is not None, 30, "the stop")
            stopped_in = time.monotonic() - signalled
        finally:
            analysis.execute("ROLLBACK")  # (also lets a run that did not stop in time finish)
            analysis.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert stopped_in < 10, f"the stop took {stopped_in:.1f} s"
    [kept_line] = [line for line in text.splitlines() if "stayed locked by another writer after the stop" in line]
    unwritten = out / "solflow.db.unwritten"
    assert f"are kept in {unwritten}" in kept_line and re.search(r"; \d+ rows \(trades \d+", kept_line), kept_line
    assert unwritten.is_file() and "Traceback" not in text and "panicked" not in text
    assert len(read_outputs(out)["sqlite.trades"]) < jsonl_lines(out), "some trades were kept aside"

    # Resumed, the run writes the kept rows first, then goes on as if never stopped.
    resumed = run_flow(dict(env, SOLFLOW_REPLAY_SPEED="0"), *args)
    assert_ok(resumed)
    assert "an earlier run had kept in" in resumed.stderr and not unwritten.exists()
    assert read_outputs(out) == baseline, "every row once: none lost to the lock"


def test_absurd_decimals_or_amounts_are_counted_decode_errors_and_never_hang(
    tmp_path: Path, capture: Path, baseline: dict[str, Any]
) -> None:
    by_program: dict[str, str] = {}
    for row in baseline["sqlite.trades"]:
        by_program.setdefault(row[4], row[0])
    damage = {base58.b58decode(by_program["pumpfun"]): "decimals", base58.b58decode(by_program["pumpswap"]): "u64"}
    damaged = tmp_path / "absurd.capture"
    with CaptureReader(capture) as reader, CaptureWriter(damaged, source="test") as writer:
        for raw in reader:
            update = geyser_pb2.SubscribeUpdate.FromString(raw)
            what = damage.get(update.transaction.transaction.signature) if update.HasField("transaction") else None
            if what is not None:
                meta = update.transaction.transaction.meta
                for balance in [*meta.pre_token_balances, *meta.post_token_balances]:
                    if what == "decimals":
                        balance.ui_token_amount.decimals = 2**31
                    else:
                        balance.ui_token_amount.amount = str(2**64)
                raw = update.SerializeToString()
            writer.write(raw)
    out = tmp_path / "out"
    result = run_flow(flow_env(out, damaged, SOLFLOW_LEGACY="both"))  # today: hangs until the timeout
    assert_ok(result)
    stats = run_stats(out)
    assert stats["decode_errors"] == 2
    [summary] = summary_lines(result.stdout)
    assert " 2 errors," in summary
    written = {trade_key(row): row for row in read_outputs(out)["sqlite.trades"]}
    assert set(written) == {trade_key(row) for row in baseline["sqlite.trades"]}, "every trade is written"
    for program in ("pumpfun", "pumpswap"):
        # the events' exact amounts stand; the decimals of the damaged balances are unknown
        [row] = [row for key, row in written.items() if key[0] == by_program[program] and row[4] == program]
        assert row[12] is None


def test_live_runs_time_untimed_trades_from_the_chain_so_every_run_is_identical(tmp_path: Path, capture: Path) -> None:
    # Every third slot's block meta carries no block time: its trades must be timed from the chain.
    # The first slot keeps its time (untimed first slots are the next test's).
    untimed = tmp_path / "untimed.capture"
    first_slot = None
    with CaptureReader(capture) as reader, CaptureWriter(untimed, source="test") as writer:
        for raw in reader:
            update = geyser_pb2.SubscribeUpdate.FromString(raw)
            if update.HasField("block_meta") and first_slot is None:
                first_slot = update.block_meta.slot
            elif update.HasField("block_meta") and update.block_meta.slot % 3 == 0:
                update.block_meta.ClearField("block_time")
                raw = update.SerializeToString()
            writer.write(raw)
    outputs = []
    for run, (rate, workers) in enumerate([(None, "1"), (900.0, "2"), (2500.0, "1")]):
        out = tmp_path / f"run{run}"
        server = ReplayServer(untimed, rate=rate, clock_start=None if rate is None else time.time() + 3600)
        server.start()
        try:
            env = flow_env(out, untimed, GEYSER_URL=f"http://127.0.0.1:{server.port}", SOLFLOW_LEGACY="both")
            proc = start_flow(env, "-w", workers, log=tmp_path / f"run{run}.log")
            if rate is not None:
                begin_when_subscribed(server, proc)
            assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / f"run{run}.log").read_text()
        finally:
            server.stop()
        written = read_outputs(out)
        assert all(row[3] is not None for row in written["sqlite.trades"]), "every trade has a chain time"
        outputs.append({name: rows for name, rows in written.items() if not name.startswith("jsonl.")})
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]


def test_trades_before_a_partitions_first_known_time_are_timed_from_its_next_timed_slot(
    tmp_path: Path, capture: Path
) -> None:
    """The capture's first slots lose their block time; LetsBonk, Moonshot and Jupiter DCA events
    carry no timestamp, so those partitions start with slots that have no chain time of their own.
    Their trades are estimated back from the partition's next timed slot (400 ms a slot), at any
    worker count -- never null, never the local clock."""
    untimed = tmp_path / "untimed-start.capture"
    block_times: dict[int, int | None] = {}
    with CaptureReader(capture) as reader, CaptureWriter(untimed, source="test") as writer:
        for raw in reader:
            update = geyser_pb2.SubscribeUpdate.FromString(raw)
            if update.HasField("block_meta"):
                meta = update.block_meta
                if len(block_times) < UNTIMED_START_SLOTS:
                    meta.ClearField("block_time")
                    raw = update.SerializeToString()
                block_times[meta.slot] = meta.block_time.timestamp if meta.HasField("block_time") else None
            writer.write(raw)
    timed = sorted(slot for slot, known in block_times.items() if known is not None)

    def estimate(slot: int) -> int:
        after = next(t for t in timed if t > slot)
        return block_times[after] - (after - slot) * 400 // 1000  # type: ignore[operator]

    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert_ok(run_flow(flow_env(out, untimed, SOLFLOW_LEGACY="sqlite"), "-w", workers))
        outputs.append(read_outputs(out))
        trades = outputs[-1]["sqlite.trades"]
        assert all(row[3] is not None for row in trades), "every trade has a chain time"
        early = [row for row in trades if row[1] < timed[0] and row[4] in ("launchlab", "moonshot", "jupiter_dca")]
        assert {row[4] for row in early} >= {"launchlab", "moonshot"}, "the test covers untimestamped partitions"
        assert [(row[1], row[3]) for row in early] == [(row[1], estimate(row[1])) for row in early]
    assert outputs[1] == outputs[0]


def test_cut_refused_resume_lock_and_sigterm_in_one_live_run_lose_nothing_silently(
    tmp_path: Path, capture: Path, baseline: dict[str, Any]
) -> None:
    total = len(baseline["sqlite.trades"])
    server = served_paced(capture, rate=400.0)
    env = flow_env(tmp_path, capture, GEYSER_URL=f"http://127.0.0.1:{server.port}", SOLFLOW_LEGACY="both")
    log = tmp_path / "run.log"
    proc = start_flow(env, log=log)

    def progress(share: float) -> None:
        wait_until(lambda: jsonl_lines(tmp_path) >= total * share or proc.poll() is not None, RUN_TIMEOUT_S, "progress")
        assert proc.poll() is None, log.read_text()

    try:
        begin_when_subscribed(server, proc)
        progress(0.15)
        assert server.cut() == 5  # a plain cut: resumed from the last slot, nothing lost
        progress(0.3)
        server.replay_refusal = "end"
        assert server.cut() == 5  # the server comes back without the missed slots
        progress(0.4)
        analysis = sqlite3.connect(tmp_path / "solflow.db", isolation_level=None)
        analysis.execute("BEGIN IMMEDIATE")  # a long analysis write holds the lock
        time.sleep(4)
        analysis.execute("ROLLBACK")
        analysis.close()
        progress(0.6)
        server.stall()  # what was sent reaches the client before the stop
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, log.read_text()
        assert time.monotonic() - signalled < 10
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    text = log.read_text()
    assert text.endswith("solflow: stopped by SIGTERM; outputs were flushed and closed\n")
    assert "is locked by another writer" in text and "Traceback" not in text and "panicked" not in text
    gap_rows = assert_written_once_or_in_a_gap(tmp_path, baseline, up_to_last_written_slot=True)
    assert {g[4] for g in gap_rows} == {"replay_ended"}
    stats = run_stats(tmp_path)
    assert (stats["end"], stats["gaps"]) == ("stopped", len(gap_rows))
    written = read_outputs(tmp_path)
    assert stats["trades"] == len(written["sqlite.trades"]) == stats["rows_written.jsonl"]


def served_with_an_open_slot(capture: Path) -> tuple[ReplayServer, int]:
    """The capture served live, with a slot held open halfway: its first transactions are out, then
    processed statuses of that slot (which complete nothing) keep its rest and block meta back for
    seconds. Returns the started server and how many updates precede the hold."""
    updates = [geyser_pb2.SubscribeUpdate.FromString(raw) for raw in CaptureReader(capture)]
    metas = [n for n, update in enumerate(updates) if update.HasField("block_meta")]
    middle = metas[len(metas) // 2]
    open_slot = updates[middle].block_meta.slot
    inside = [
        n for n in range(middle) if updates[n].HasField("transaction") and updates[n].transaction.slot == open_slot
    ]
    assert len(inside) >= 2, "the slot has transactions to split"
    cut_at = inside[len(inside) // 2]  # some of the slot's transactions are out, the rest wait
    hold = geyser_pb2.SubscribeUpdate(slot=geyser_pb2.SubscribeUpdateSlot(slot=open_slot, status=0))
    served = [*updates[:cut_at], *[hold] * OPEN_SLOT_UPDATES, *updates[cut_at:]]
    server = ReplayServer(
        served, rate=SERVED_RATE, replay_window_slots=150, ping_interval_s=1.0, clock_start=time.time() + 3600
    )
    server.start()
    return server, cut_at


def sigterm_inside_the_open_slot(server: ReplayServer, cut_at: int, env: dict[str, str], *args: str, log: Path) -> None:
    """Runs the flow against ``served_with_an_open_slot`` and stops it by SIGTERM once the slot's
    first transactions went out and its rest is seconds away."""
    proc = start_flow(env, *args, log=log)
    try:
        begin_when_subscribed(server, proc)
        opened = cut_at + OPEN_SLOT_UPDATES // 4
        wait_until(lambda: server._published() > opened or proc.poll() is not None, RUN_TIMEOUT_S, "the open slot")
        assert server._published() < cut_at + OPEN_SLOT_UPDATES * 3 // 4, "the machine is too slow for this test"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_with_recovery_inside_an_open_slot_resumes_to_an_uninterrupted_runs_outputs(
    tmp_path: Path, capture: Path, baseline: dict[str, Any]
) -> None:
    """SIGTERM lands while a served slot is open; the same command with ``-r`` must re-read the open
    slot, so the outputs equal an uninterrupted run's, each trade once."""
    server, cut_at = served_with_an_open_slot(capture)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO_ROOT)
    env = flow_env(tmp_path / "out", capture, GEYSER_URL=f"http://127.0.0.1:{server.port}", SOLFLOW_LEGACY="both")
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    try:
        sigterm_inside_the_open_slot(server, cut_at, env, *args, log=tmp_path / "stopped.log")
        stopped = read_outputs(tmp_path / "out")["sqlite.trades"]
        assert 0 < len(stopped) < len(baseline["sqlite.trades"])
        resumed = run_flow(env, *args)
        assert_ok(resumed)
    finally:
        server.stop()
    written = read_outputs(tmp_path / "out")
    assert [name for name in baseline if written.get(name) != baseline[name]] == []
    assert run_stats(tmp_path / "out")["trades"] == len(baseline["sqlite.trades"]), "each trade counted once"


def test_sigterm_inside_an_open_slot_then_an_appending_run_writes_each_trade_of_that_slot_once(
    tmp_path: Path, capture: Path, baseline: dict[str, Any]
) -> None:
    """SIGTERM without ``-r`` while a served slot is open: the stop writes no part of that slot and
    ``run_stats``/the summary say where the next run continues; a run with ``SOLFLOW_APPEND=on`` into
    the same outputs starts there, so the trades (SQLite, JSONL, Parquet) equal an uninterrupted
    run's, each once. The aggregates of an appended run start afresh (README): every mint has its row."""
    server, cut_at = served_with_an_open_slot(capture)
    out = tmp_path / "out"
    env = flow_env(out, capture, GEYSER_URL=f"http://127.0.0.1:{server.port}", SOLFLOW_LEGACY="both")
    log = tmp_path / "stopped.log"
    try:
        sigterm_inside_the_open_slot(server, cut_at, env, log=log)
        stopped = read_outputs(out)["sqlite.trades"]
        assert 0 < len(stopped) < len(baseline["sqlite.trades"])
        stats = run_stats(out)
        assert stats["end"] == "stopped" and stats["trades"] == len(stopped)
        continue_at = json.loads(stats["continue_at"])
        assert set(continue_at) == set(BY_NAME)
        # No partition wrote a slot it will read again: each trade is at or before where it continues
        # or in a slot listed as written.
        for row in stopped:
            where = continue_at[row[4]]
            assert row[1] < where["slot"] or row[1] in where["written"]
        [summary] = summary_lines(log.read_text())
        first = min(where["slot"] for where in continue_at.values() if where is not None)
        assert summary.endswith(f"the next run (-r, or SOLFLOW_APPEND=on) continues at slot {first}")
        appended = run_flow({**env, "SOLFLOW_APPEND": "on"})
        assert_ok(appended)
    finally:
        server.stop()
    written = read_outputs(out)
    trades = ["sqlite.trades", "parquet.trades", *(name for name in baseline if name.startswith("jsonl."))]
    assert [name for name in trades if written.get(name) != baseline[name]] == []
    mints = {row[0] for row in baseline["sqlite.token_aggregates"]}
    assert {row[0] for row in written["sqlite.token_aggregates"]} == mints
    assert run_stats(out)["end"] == "finished" and run_stats(out)["continue_at"] is None


def test_a_gap_is_backfilled_as_the_readme_says(tmp_path: Path, capture: Path, baseline: dict[str, Any]) -> None:
    out = tmp_path / "out"
    server = served_paced(capture)
    url = f"http://127.0.0.1:{server.port}"
    try:
        proc = start_flow(flow_env(out, capture, GEYSER_URL=url, SOLFLOW_LEGACY="sqlite"), log=tmp_path / "run.log")
        try:
            begin_when_subscribed(server, proc)
            wait_until(lambda: _trades_in(out) > len(baseline["sqlite.trades"]) // 3, RUN_TIMEOUT_S, "progress")
            server.replay_refusal = "end"
            server.cut()
            assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "run.log").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
        db = sqlite3.connect(out / "solflow.db")
        first, last = db.execute("SELECT min(first_slot), max(last_slot) FROM gaps").fetchone()
        db.close()
        assert _trades_in(out) < len(baseline["sqlite.trades"])
        # README, "When things go wrong": record the gap's slots from an endpoint that still has them ...
        server.replay_refusal, server.replay_window_slots = None, 1_000_000
        gap_capture = tmp_path / "gap.capture"
        record = subprocess.run(
            [sys.executable, "-m", "solflow.cli.main", "capture", "record", "--url", url, "--seconds", "60",
             "--from-slot", str(first), "--until-slot", str(last), "-o", str(gap_capture)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=flow_env(tmp_path, capture),
        )  # fmt: skip
        assert record.returncode == 0, record.stderr
    finally:
        server.stop()
    # ... replay them into a directory of their own, and merge its trades into the run's database.
    backfill = tmp_path / "backfill"
    assert_ok(run_flow(flow_env(backfill, gap_capture, SOLFLOW_LEGACY="sqlite", SOLFLOW_PIPELINE="off")))
    db = sqlite3.connect(out / "solflow.db")
    db.execute("ATTACH ? AS backfill", (str(backfill / "solflow.db"),))
    db.execute("INSERT OR IGNORE INTO trades SELECT * FROM backfill.trades")
    db.commit()
    db.close()
    merged = read_outputs(out)["sqlite.trades"]
    assert {trade_key(row) for row in merged} == {trade_key(row) for row in baseline["sqlite.trades"]}
    assert len(merged) == len(baseline["sqlite.trades"])


def _trades_in(out: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{out / 'solflow.db'}?mode=ro", uri=True, timeout=0.2)
        try:
            return int(db.execute("SELECT count(*) FROM trades").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0
