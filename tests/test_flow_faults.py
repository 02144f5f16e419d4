"""Off the happy path, end to end: ``python -m bytewax.run flows.solflow`` against damaged input and
the replay server's faults. Nothing is lost without a ``gaps`` row, nothing hangs, and what the
summary and ``run_stats`` say matches what is on disk.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from test_flow_support import (
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

from solflow.domain.programs import PUMPSWAP
from solflow.server.replay import ReplayServer
from sources.capture import CaptureReader, CaptureWriter


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


def assert_written_once_or_in_a_gap(out: Path, baseline: dict[str, Any]) -> list[tuple]:
    """Every served trade is on disk exactly once (SQLite and JSONL) or in a slot range of a ``gaps``
    row of its partition; returns the gaps rows."""
    written = read_outputs(out)
    jsonl = [
        json.loads(line) for name, data in written.items() if name.startswith("jsonl.") for line in data.splitlines()
    ]
    jsonl_keys = [(t["signature"], t["outer_ix_index"], t["inner_ix_index"]) for t in jsonl]
    assert len(jsonl_keys) == len(set(jsonl_keys)), "a trade written twice"
    sqlite_keys = {trade_key(row) for row in written["sqlite.trades"]}
    assert set(jsonl_keys) == sqlite_keys
    gap_rows = written["sqlite.gaps"]
    for row in baseline["sqlite.trades"]:
        if trade_key(row) in sqlite_keys:
            continue
        program, slot = row[4], row[1]
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
