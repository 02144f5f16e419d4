"""What reaches the flow from outside the chain, in real ``python -m bytewax.run flows.solflow`` runs
over the sample: names and supply from a real local JSON-RPC server, the user's blocklist, alerts
to a real local webhook that fails then recovers, and retention. Every table is compared across
worker counts: an RPC answer, a block and an alert enter the outputs at fixed event times."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from signal import SIGKILL
from typing import Any

import polars as pl
import pytest
from local_http import JsonRpcServer, WebhookServer
from test_flow_support import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    assert_ok,
    block_time_span,
    committed_epoch,
    flow_env,
    jsonl_lines,
    read_outputs,
    run_flow,
    sample_capture,
    start_flow,
    wait_until,
)

from solflow.control import Clock, ControlStore
from solflow.domain.pricing import PUMPFUN_SUPPLY
from solflow.domain.signals import SIGNAL_TYPES

RPC_SUPPLY = 500_000_000 * 10**6


def table(out: Path, sql: str, db: str = "solflow.db") -> list[dict[str, Any]]:
    connection = sqlite3.connect(out / db)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql)]
    finally:
        connection.close()


@pytest.fixture(scope="module")
def sample_records() -> dict[str, list[dict[str, Any]]]:
    """The sample's trades and lifecycle records, as ``solflow decode`` prints them."""
    done = subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", "decode", str(sample_capture()), "--kind", "all"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records: dict[str, list[dict[str, Any]]] = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        records.setdefault(record["kind"], []).append(record)
    return records


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plain")
    assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_LEGACY="both")))
    return out


# ---------------------------------------------------------------- JSON-RPC names and supply


def test_rpc_names_are_deterministic_and_recorded(tmp_path: Path, sample_records: dict[str, Any]) -> None:
    created = {r["mint"]: r for r in sample_records["token_created"]}
    traded = {r["mint"]: r for r in sample_records["trade"]}
    rpc = JsonRpcServer()
    for mint in traded:
        rpc.add_token(mint, f"Rpc {mint[:5]}", mint[:4], supply=RPC_SUPPLY)
    try:
        outs = []
        for workers, delay in (("1", 0.0), ("4", 0.3)):  # slow answers: the replay waits, nothing moves
            rpc.delay_s = delay
            out = tmp_path / f"w{workers}"
            env = flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_RPC_URL=rpc.url)
            assert_ok(run_flow(env, "-w", workers))
            outs.append(out)
        assert all(len(keys) <= 100 for keys in rpc.keys_asked())
        asked = {key for keys in rpc.keys_asked() for key in keys[::2]}
    finally:
        rpc.close()
    first = read_outputs(outs[0])
    assert read_outputs(outs[1]) == first

    metadata = {row["mint"]: row for row in table(outs[0], "SELECT * FROM token_metadata")}
    # every mint whose creation the run did not see is looked up (so may one whose creation another
    # partition delivered after its first trade, though its answer is never used: no rpc_slot below)
    assert asked >= set(traded) - set(created)
    for mint, meta in metadata.items():
        if mint in created:
            assert (meta["token_name"], meta["rpc_slot"]) == (created[mint]["name"], None)
            continue
        assert (meta["token_name"], meta["token_symbol"], meta["rpc_slot"]) == (f"Rpc {mint[:5]}", mint[:4], rpc.slot)
        launched_on_pumpfun = meta["launch_program"] == "pumpfun"
        assert int(meta["supply_raw"]) == (PUMPFUN_SUPPLY if launched_on_pumpfun else RPC_SUPPLY)
    amm_only = [m for m, meta in metadata.items() if meta["launch_program"] is None and m not in created]
    assert amm_only
    caps = {r["mint"]: r["market_cap_sol"] for r in table(outs[0], "SELECT mint, market_cap_sol FROM token_aggregates")}
    assert all(caps[mint] is not None for mint in amm_only if mint in caps)  # the RPC's supply prices them

    # The answers are recorded: a later run over a copy, with the RPC gone, writes the same tables.
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(outs[0] / "rpc_cache.db", again / "rpc_cache.db")
    env = flow_env(again, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_RPC_URL=rpc.url)
    assert_ok(run_flow(env))
    assert read_outputs(again) == first


def test_a_dead_rpc_costs_only_the_names(tmp_path: Path, baseline: Path) -> None:
    rpc = JsonRpcServer()
    rpc.fail_next = 1_000_000
    try:
        started = time.monotonic()
        env = flow_env(
            tmp_path, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_LEGACY="both", SOLFLOW_RPC_URL=rpc.url
        )
        result = run_flow(env)
        elapsed = time.monotonic() - started
    finally:
        rpc.close()
    assert_ok(result)
    assert "getMultipleAccounts failed" in result.stderr and rpc.url.rstrip("/") in result.stderr
    assert elapsed < 60
    assert read_outputs(tmp_path) == read_outputs(baseline)


# ---------------------------------------------------------------- the blocklist


def busy_mints(baseline: Path, count: int) -> list[str]:
    rows = table(baseline, f"SELECT mint FROM token_aggregates ORDER BY trades_total DESC, mint LIMIT {count}")
    return [row["mint"] for row in rows]


def test_blocked_mints_leave_no_aggregates_signals_or_scores(tmp_path: Path, baseline: Path) -> None:
    blocked, expiring = busy_mints(baseline, 2)
    history = pl.read_parquet(baseline / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    times = history.filter(pl.col("mint") == expiring).get_column("ts").dt.epoch("s").sort()
    expiry = times[len(times) // 2]
    outs = []
    for workers in ("1", "4"):
        out = tmp_path / f"w{workers}"
        with ControlStore(out / "control.db") as store:
            store.block(blocked, at=Clock(0, "chain"), reason="rug")
            store.block(expiring, at=Clock(expiry - 3600, "chain"), duration_s=3600)
        assert_ok(
            run_flow(flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_LEGACY="both"), "-w", workers)
        )
        outs.append(out)
    written = read_outputs(outs[0])
    assert read_outputs(outs[1]) == written
    plain = read_outputs(baseline)

    mint_at = {"sqlite.token_aggregates": 0, "parquet.aggregates": 0, "sqlite.token_signals": 0}
    for name, column in mint_at.items():
        assert not any(row[column] == blocked for row in written[name]), name
        assert any(row[column] == blocked for row in plain[name]) or name == "sqlite.token_signals"
    for name in ("sqlite.token_signal_summary", "sqlite.dca_activity_buckets"):
        assert not any(row[0] == blocked for row in written[name])
    assert written["parquet.trades"] == plain["parquet.trades"] and written["sqlite.trades"] == plain["sqlite.trades"]

    rows = pl.read_parquet(outs[0] / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    kept = rows.filter(pl.col("mint") == expiring).get_column("ts").dt.epoch("s").sort()
    assert kept.to_list() == [t for t in times.to_list() if t >= expiry]  # the block ends on chain time
    others = [row for row in plain["parquet.aggregates"] if row[0] not in (blocked, expiring)]
    assert others == [row for row in written["parquet.aggregates"] if row[0] not in (blocked, expiring)]


def test_a_block_made_while_the_flow_runs_holds_until_it_is_lifted(tmp_path: Path, baseline: Path) -> None:
    (mint,) = busy_mints(baseline, 1)
    out = tmp_path / "out"
    speed = max(1.0, block_time_span(baseline) / 12)
    env = flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_REPLAY_SPEED=f"{speed:.3f}")
    cli = [sys.executable, "-m", "solflow.cli.main"]
    flow = start_flow(env, log=tmp_path / "flow.log")
    try:
        wait_until(lambda: (out / "solflow.db").exists() and _chain_time(out) is not None, RUN_TIMEOUT_S, "data")
        start = _chain_time(out)
        wait_until(lambda: (_chain_time(out) or 0) > start + 60, RUN_TIMEOUT_S, "a minute of chain time")
        blocked = subprocess.run([*cli, "block", mint, "--out", str(out)], capture_output=True, text=True, timeout=60)
        assert blocked.returncode == 0, blocked.stderr
        block_time = _chain_time(out)
        wait_until(lambda: (_chain_time(out) or 0) > block_time + 90, RUN_TIMEOUT_S, "chain time after the block")
        lifted = subprocess.run([*cli, "unblock", mint, "--out", str(out)], capture_output=True, text=True, timeout=60)
        assert lifted.returncode == 0, lifted.stderr
        unblock_time = _chain_time(out)
        assert flow.wait(timeout=RUN_TIMEOUT_S) == 0
    finally:
        if flow.poll() is None:
            flow.kill()
    plain = pl.read_parquet(baseline / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    paced = pl.read_parquet(out / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    before = set(plain.filter(pl.col("mint") == mint).get_column("ts").dt.epoch("s"))
    after = set(paced.filter(pl.col("mint") == mint).get_column("ts").dt.epoch("s"))
    missing = sorted(before - after)
    assert after <= before and missing, "rows of the blocked mint went missing while it was blocked"
    # The flow sees a block within a second, which is a minute of chain time or two at this pace.
    assert missing[0] > block_time - 60 and missing[-1] < unblock_time + 150
    assert [t for t in sorted(before) if missing[0] <= t <= missing[-1]] == missing  # one stretch
    assert max(after) > missing[-1], "rows again after the unblock"


def _chain_time(out: Path) -> int | None:
    try:
        rows = table(out, "SELECT max(ts) AS ts FROM token_aggregates")
    except sqlite3.Error:
        return None
    return rows[0]["ts"]


# ---------------------------------------------------------------- alerts


def test_alerts_once_each_through_a_failing_then_recovering_webhook(tmp_path: Path) -> None:
    hook = WebhookServer()
    hook.fail_next = 3
    try:
        env = flow_env(
            tmp_path / "w1", sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_ALERT_WEBHOOK=hook.url,
            SOLFLOW_ALERT_FORMAT="json", SOLFLOW_ALERT_COOLDOWN="2m",
        )  # fmt: skip
        out = run_alerts(env, tmp_path / "w1")
        delivered = [body["alert_id"] for body in hook.delivered()]
        run_alerts(env, tmp_path / "again", alerts_of=out)  # the same input again, its alerts.db kept
        time.sleep(1)
        assert [body["alert_id"] for body in hook.delivered()] == delivered  # nothing twice
        four = run_alerts(env, tmp_path / "w4", "-w", "4")
    finally:
        hook.close()
    alerts = table(out, "SELECT * FROM alerts ORDER BY alert_id", db="alerts.db")
    assert sorted(delivered) == [a["alert_id"] for a in alerts] and len(set(delivered)) == len(delivered)
    assert sum(a["attempts"] for a in alerts) == len(alerts) + 3  # three failures, each retried
    fields = ("alert_id", "mint", "signal_type", "severity", "score", "details", "ts", "price_sol")
    assert [{f: a[f] for f in fields} for a in table(four, "SELECT * FROM alerts ORDER BY alert_id", "alerts.db")] == [
        {f: a[f] for f in fields} for a in alerts
    ]
    # Each signal that turned on alerts, unless the mint alerted less than 2 minutes of chain time before
    # (of two at once, the first in the signals' own order).
    expected, last = [], {}
    turned_on = table(out, "SELECT mint, signal_type, ts FROM token_signals WHERE state = 'on'")
    for signal in sorted(turned_on, key=lambda s: (s["ts"], s["mint"], SIGNAL_TYPES.index(s["signal_type"]))):
        if signal["mint"] in last and signal["ts"] - last[signal["mint"]] < 120:
            continue
        last[signal["mint"]] = signal["ts"]
        expected.append(f"{signal['mint']}:{signal['signal_type']}:{signal['ts']}")
    assert sorted(expected) == [a["alert_id"] for a in alerts] and len(expected) > 5


def test_alerts_a_dead_webhook_held_are_sent_after_a_restart(tmp_path: Path) -> None:
    hook = WebhookServer()
    hook.fail_next = 1_000_000
    try:
        env = flow_env(
            tmp_path / "dead", sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_ALERT_WEBHOOK=hook.url,
            SOLFLOW_ALERT_FORMAT="discord",
        )  # fmt: skip
        started = time.monotonic()
        assert_ok(run_flow(env))
        assert time.monotonic() - started < 60
        held = table(tmp_path / "dead", "SELECT alert_id FROM alerts WHERE sent_at IS NULL", db="alerts.db")
        assert held and not hook.delivered()
        hook.fail_next = 0  # the receiver is back; the next run (over the same input) sends what waited
        run_alerts(env, tmp_path / "restart", alerts_of=tmp_path / "dead")
        sent = [body["embeds"][0]["footer"]["text"] for body in hook.delivered()]
    finally:
        hook.close()
    assert sorted(sent) == sorted(row["alert_id"] for row in held)


def run_alerts(env: dict[str, str], out: Path, *args: str, alerts_of: Path | None = None) -> Path:
    """A run into ``out`` (with a copy of ``alerts_of``'s alerts.db), until every alert is delivered."""
    out.mkdir()
    if alerts_of is not None:
        shutil.copy(alerts_of / "alerts.db", out / "alerts.db")
    assert_ok(run_flow({**env, "SOLFLOW_OUT": str(out)}, *args))
    wait_until(lambda: not _pending(out), 30, "every alert delivered")
    return out


def _pending(out: Path) -> int:
    return table(out, "SELECT count(*) AS n FROM alerts WHERE sent_at IS NULL", db="alerts.db")[0]["n"]


# ---------------------------------------------------------------- interrupted and resumed


def test_a_run_killed_and_resumed_with_r_writes_what_an_uninterrupted_one_does(
    tmp_path: Path, baseline: Path, sample_records: dict[str, Any]
) -> None:
    """With RPC names, a block and alerts: ``kill -9`` mid-stream, then ``-r`` on two workers, leaves
    every table and dataset (token_metadata, tokens/, scores, DCA minutes, price columns) and every
    alert row an uninterrupted one-worker run leaves; each alert is delivered, none twice (but the one
    a kill may catch between the receiver's 2xx and its stored ``sent_at``)."""
    (blocked,) = busy_mints(baseline, 1)
    rpc, hook = JsonRpcServer(), WebhookServer()
    for mint in {r["mint"] for r in sample_records["trade"]}:
        rpc.add_token(mint, f"Rpc {mint[:5]}", mint[:4], supply=RPC_SUPPLY)
    variables = {
        "SOLFLOW_PROGRESS": "off", "SOLFLOW_LEGACY": "both", "SOLFLOW_RPC_URL": rpc.url,
        "SOLFLOW_ALERT_WEBHOOK": hook.url, "SOLFLOW_ALERT_FORMAT": "json", "SOLFLOW_ALERT_COOLDOWN": "2m",
    }  # fmt: skip
    plain, out, recovery = tmp_path / "plain", tmp_path / "resumed", tmp_path / "recovery"
    for where in (plain, out, recovery):
        where.mkdir()
    for where in (plain, out):
        with ControlStore(where / "control.db") as store:
            store.block(blocked, at=Clock(0, "chain"), reason="rug")
    try:
        assert_ok(run_flow(flow_env(plain, sample_capture(), **variables)))
        wait_until(lambda: not _pending(plain), 30, "every alert of the uninterrupted run delivered")
        sent_before = len(hook.delivered())

        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "4"], check=True, cwd=REPO_ROOT)
        recovery_args = ("-r", str(recovery), "-s", "1", "-b", "0")
        speed = max(1.0, block_time_span(baseline) / 10)
        env = flow_env(out, sample_capture(), SOLFLOW_REPLAY_SPEED=f"{speed:.3f}", **variables)
        first = start_flow(env, *recovery_args, log=tmp_path / "first.log")
        try:
            wait_until(lambda: committed_epoch(recovery) > 1 and len(hook.delivered()) > sent_before + 2,
                       RUN_TIMEOUT_S, "alerts delivered after a committed epoch")  # fmt: skip
            committed = committed_epoch(recovery)
            wait_until(lambda: committed_epoch(recovery) > committed, RUN_TIMEOUT_S, "another committed epoch")
            assert first.poll() is None, "the paced run ended before it could be killed"
            first.send_signal(SIGKILL)
            assert first.wait(timeout=RUN_TIMEOUT_S) == -SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        total = len(read_outputs(baseline)["sqlite.trades"])
        assert 0 < jsonl_lines(out) < total, "the kill landed mid-stream"
        del env["SOLFLOW_REPLAY_SPEED"]
        assert_ok(run_flow(env, "-w", "2", *recovery_args))
        wait_until(lambda: not _pending(out), 30, "every alert of the resumed run delivered")
        delivered = [body["alert_id"] for body in hook.delivered()[sent_before:]]
    finally:
        rpc.close()
        hook.close()
    expected = read_outputs(plain)
    assert read_outputs(out) == expected
    assert any(row[1] and row[1].startswith("Rpc ") for row in expected["sqlite.token_metadata"])
    assert not any(row[0] == blocked for row in expected["sqlite.token_aggregates"])
    fields = "alert_id, mint, signal_type, severity, score, details, ts, price_sol"
    alerts = table(out, f"SELECT {fields} FROM alerts ORDER BY alert_id", db="alerts.db")
    assert alerts == table(plain, f"SELECT {fields} FROM alerts ORDER BY alert_id", db="alerts.db") and alerts
    assert set(delivered) == {a["alert_id"] for a in alerts}
    assert len(delivered) - len(set(delivered)) <= 1, "alerts delivered twice across the restart"


# ---------------------------------------------------------------- retention


def test_retention_prunes_history_on_chain_time(tmp_path: Path, baseline: Path) -> None:
    env = flow_env(tmp_path, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_LEGACY="both", SOLFLOW_RETENTION="2m")
    assert_ok(run_flow(env))
    latest = max(r["t"] for r in table(tmp_path, "SELECT max(ts) AS t FROM token_aggregates"))
    cutoff = latest - 120
    for sql, plain_sql in (
        ("SELECT min(block_time) AS t FROM trades", "SELECT count(*) AS n FROM trades WHERE block_time < {c}"),
        ("SELECT min(ts) AS t FROM token_signals", "SELECT count(*) AS n FROM token_signals WHERE ts < {c}"),
        (
            "SELECT min(minute) AS t FROM dca_activity_buckets",
            "SELECT count(*) AS n FROM dca_activity_buckets WHERE minute < {c}",
        ),
    ):
        assert table(tmp_path, sql)[0]["t"] >= cutoff - 5
        assert table(baseline, plain_sql.format(c=cutoff - 5))[0]["n"] > 0  # there was something to prune
    # the Parquet history keeps whole days: the sample is one
    assert read_outputs(tmp_path)["parquet.trades"] == read_outputs(baseline)["parquet.trades"]
