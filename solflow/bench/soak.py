"""``python -m solflow.bench.soak --minutes N``: a live flow left running against faults, and what it kept.

The replay server serves a capture (default: the embedded sample) as a looping live chain -- each
repetition with slots moved on and fresh signatures -- at a mainnet-like ``--trades-per-s`` (500),
with a burst of ten times that rate for 5 s every minute, and cuts every stream every two minutes
(the client resumes with ``from_slot``). One ``python -m bytewax.run flows.solflow`` process reads
it (SQLite trades + the aggregation pipeline). Every 10 s the flow's resident memory is sampled.
At the end the server stops sending, the flow gets SIGTERM, and its ``trades`` table is compared
with what was served: each served trade must be written exactly once or lie inside a ``gaps`` row.

Reported: RSS over time (and its growth from the first to the last fifth of the run after a
warm-up: the wall time the chain needs to fill the longest window, plus a minute), drops, gaps,
reconnects, the trades served, written, in gaps and unexplained.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import base58

from solflow.bench.flowruns import REPO_ROOT, flow_env, free_ports
from solflow.server.chain import looped_signature
from solflow.server.replay import ReplayServer

BURST_EVERY_S = 60.0
BURST_S = 5.0
BURST_FACTOR = 10
SAMPLE_EVERY_S = 10.0
LONGEST_WINDOW_S = 14_400  # chain time the aggregation holds: memory grows until windows are full
REPLAY_WINDOW_S = 60.0  # chain time a reconnect may replay, as a real server's 150 slots
PARTITIONS = 5

TradeKey = tuple[str, int, int | None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m solflow.bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the flow runs (default 30)")
    parser.add_argument("--capture", type=Path, default=REPO_ROOT / "data" / "sample.capture")
    parser.add_argument("--trades-per-s", type=float, default=500.0, help="average served rate (default 500)")
    parser.add_argument(
        "--cut-every", type=float, default=120.0, metavar="S", help="seconds between cuts (default 120)"
    )
    parser.add_argument("--workdir", type=Path, help="where outputs go (default: a new temporary directory)")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="solflow-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    report = soak(args.capture, args.minutes * 60, args.trades_per_s, args.cut_every, work)
    (work / "soak.json").write_text(json.dumps(report, indent=1))
    print(_summary(report))
    print(f"details: {work / 'soak.json'}")
    return 0 if report["unexplained"] == 0 and report["exit_status"] == 0 else 1


def soak(capture: Path, seconds: float, trades_per_s: float, cut_every_s: float, work: Path) -> dict[str, Any]:
    baseline, chain_seconds = _baseline_trades(capture, work / "baseline")
    server = ReplayServer(capture, loop=True, rate=1.0, clock_start=time.time() + 86_400, ping_interval_s=5.0)
    chain = server.chain
    span_slots = chain.last_slot - chain.first_slot + 1
    server.rate = trades_per_s * len(chain) / len(baseline)  # updates per second
    server.replay_window_slots = int(server.rate * span_slots / len(chain) * REPLAY_WINDOW_S)
    # The chain runs faster than real time; the longest window fills after this much wall time.
    warm_up_s = LONGEST_WINDOW_S / (chain_seconds * server.rate / len(chain)) + 60
    port = server.start()
    [metrics_port] = free_ports(1)
    out = work / "out"
    env = flow_env(capture, out)
    env.update(GEYSER_URL=f"http://127.0.0.1:{port}", SOLFLOW_LEGACY="sqlite", SOLFLOW_METRICS_PORT=str(metrics_port))
    log = work / "flow.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "flows.solflow"], cwd=REPO_ROOT, env=env, stdout=sink, stderr=sink
        )
    rss: list[tuple[float, int]] = []
    cuts = bursts = 0
    try:
        _wait(lambda: server.subscriber_count == PARTITIONS or proc.poll() is not None, 120, "the flow's subscriptions")
        started = time.time()
        server.start_clock(started)
        next_sample, next_cut, last_tick, was_bursting = 0.0, cut_every_s, started, False
        while (elapsed := time.time() - started) < seconds:
            if proc.poll() is not None:
                raise RuntimeError(f"the flow exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if elapsed >= next_sample:
                rss.append((round(elapsed, 1), _rss_kib(proc.pid)))
                next_sample += SAMPLE_EVERY_S
            if elapsed >= next_cut:
                server.cut()
                cuts += 1
                next_cut += cut_every_s
            now = time.time()
            bursting = BURST_EVERY_S / 2 <= elapsed % BURST_EVERY_S < BURST_EVERY_S / 2 + BURST_S
            if bursting:  # publish (factor - 1) x the time that passed on top: the chain runs ten times as fast
                server.start_clock((server.clock_start or started) - (now - last_tick) * (BURST_FACTOR - 1))
                bursts += not was_bursting
            was_bursting, last_tick = bursting, now
            time.sleep(0.25)
        reconnects = _scrape(metrics_port, "solflow_source_reconnects_total")
        server.stall()  # what was sent reaches the flow before the stop
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    report = _compare(out / "solflow.db", baseline, span_slots)
    report.update(
        minutes=round(seconds / 60, 1),
        served_updates_per_s=round(server.rate, 1),
        cuts=cuts,
        bursts=bursts,
        reconnects=reconnects,
        exit_status=status,
        rss_kib=rss,
        warm_up_s=round(warm_up_s),
        rss_growth_pct=_growth(rss, warm_up_s),
        parquet_trades=_parquet_rows(out / "trades"),
    )
    return report


def _baseline_trades(capture: Path, out: Path) -> tuple[list[tuple[bytes, int, int | None, int, str]], int]:
    """The capture's trades replayed once -- (signature, outer, inner, slot, program) -- and the chain
    time they span."""
    env = flow_env(capture, out)
    env["SOLFLOW_LEGACY"] = "sqlite"
    subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.solflow"], cwd=REPO_ROOT, env=env, check=True, capture_output=True
    )
    db = sqlite3.connect(out / "solflow.db")
    try:
        rows = db.execute("SELECT signature, outer_ix_index, inner_ix_index, slot, program FROM trades").fetchall()
        first, last = db.execute("SELECT min(block_time), max(block_time) FROM trades").fetchone()
    finally:
        db.close()
    return [
        (base58.b58decode(sig), outer, inner, slot, program) for sig, outer, inner, slot, program in rows
    ], last - first


def _compare(db_path: Path, baseline: list[tuple[bytes, int, int | None, int, str]], span: int) -> dict[str, Any]:
    db = sqlite3.connect(db_path)
    try:
        written_rows = db.execute(
            "SELECT signature, outer_ix_index, inner_ix_index, slot, program FROM trades"
        ).fetchall()
        gaps = db.execute("SELECT partition, first_slot, last_slot, count, reason FROM gaps").fetchall()
        stats = dict(db.execute("SELECT name, value FROM run_stats"))
    finally:
        db.close()
    written: set[TradeKey] = {(sig, outer, inner) for sig, outer, inner, _, _ in written_rows}
    last_slot: dict[str, int] = {}
    for *_, slot, program in written_rows:
        last_slot[program] = max(last_slot.get(program, 0), slot)
    cycles = (max(last_slot.values(), default=0) - min(slot for *_, slot, _ in baseline)) // span + 1
    served = in_gaps = unexplained = 0
    expected: set[TradeKey] = set()
    for cycle in range(max(cycles, 0)):
        for signature, outer, inner, slot, program in baseline:
            shifted = slot + cycle * span
            if shifted >= last_slot.get(program, 0):
                continue  # after the stop (the last slot may have been served in part)
            served += 1
            key = (base58.b58encode(looped_signature(signature, cycle)).decode(), outer, inner)
            expected.add(key)
            if key in written:
                continue
            if any(g[0] == program and g[1] is not None and g[1] <= shifted <= (g[2] or shifted) for g in gaps):
                in_gaps += 1
            else:
                unexplained += 1
    return {
        "served_trades": served,
        "written_trades": len(written),
        "written_and_served": len(written & expected),
        "in_gaps": in_gaps,
        "unexplained": unexplained,
        "gaps": len(gaps),
        "gap_reasons": sorted({g[4] for g in gaps}),
        "dropped": stats.get("dropped"),
        "run_end": stats.get("end"),
        "summary_trades": stats.get("trades"),
    }


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _growth(rss: list[tuple[float, int]], warm_up_s: float) -> float | None:
    """Median RSS of the last fifth of the samples against the first fifth after the warm-up, in %."""
    steady = [kib for at, kib in rss if at >= warm_up_s]
    if len(steady) < 10:
        return None
    fifth = len(steady) // 5
    first, last = statistics.median(steady[:fifth]), statistics.median(steady[-fifth:])
    return round((last / first - 1) * 100, 1)


def _scrape(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def _parquet_rows(dataset: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(dataset / "**" / "*.parquet", hive_partitioning=True).select(pl.len()).collect().item())


def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _summary(report: dict[str, Any]) -> str:
    rss = [kib for _, kib in report["rss_kib"]]
    return "\n".join(
        [
            f"soak: {report['minutes']} min at {report['served_updates_per_s']} updates/s, {report['cuts']} cuts,"
            f" {report['bursts']} bursts x{BURST_FACTOR}, {report['reconnects']:.0f} reconnects, exit {report['exit_status']}",
            f"RSS: {min(rss) // 1024}-{max(rss) // 1024} MiB, growth after the {report['warm_up_s']} s warm-up"
            f" {report['rss_growth_pct']}%",
            f"trades: {report['served_trades']} served, {report['written_and_served']} written,"
            f" {report['in_gaps']} inside {report['gaps']} gaps {report['gap_reasons']},"
            f" {report['unexplained']} unexplained; {report['dropped']} updates dropped;"
            f" Parquet trades {report['parquet_trades']} (SQLite {report['written_trades']})",
        ]
    )


if __name__ == "__main__":
    os.environ.setdefault("RUST_BACKTRACE", "0")
    raise SystemExit(main())
