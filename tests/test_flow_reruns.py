"""Running again into the same ``SOLFLOW_OUT``: a plain second run is refused (one line, exit 2,
nothing written), ``SOLFLOW_APPEND=on`` adds only the slots after the last one written (no trade key
twice in JSONL, SQLite or Parquet), and a run with other windows is refused while README's Polars
and DuckDB queries keep working on every dataset. A run that read nothing still ends with its summary
and its own ``run_stats``, and leaves nothing that refuses the next run. Real ``bytewax.run``
subprocesses."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from test_flow_support import (
    REPO_ROOT,
    assert_ok,
    flow_env,
    parse_jsonl,
    read_outputs,
    run_flow,
    run_stats,
    sample_capture,
    summary_lines,
)
from test_readme import snippets

from solflow.bench.capture import head_capture, load_records
from solflow.domain.programs import PROGRAM_NAMES
from solflow.server.replay import ReplayServer
from sources.capture import CaptureWriter

REFUSAL_S = 10


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reruns") / "out"
    assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_LEGACY="both")))
    return out


def _one_line(result: Any) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _trade_keys(out: Path) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every trade identity per output, counted."""
    lines = [line for program in PROGRAM_NAMES for line in parse_jsonl(out / "streams" / program / "events.jsonl")]
    db = sqlite3.connect(out / "solflow.db")
    stored = db.execute("SELECT signature, outer_ix_index, coalesce(inner_ix_index, -1) FROM trades").fetchall()
    db.close()
    parquet = pl.scan_parquet(out / "trades", hive_partitioning=True).select(
        "signature", "outer_ix_index", pl.col("inner_ix_index").fill_null(-1)
    )
    return {
        "jsonl": Counter((t["signature"], t["outer_ix_index"], t["inner_ix_index"] or -1) for t in lines),
        "sqlite": Counter(map(tuple, stored)),
        "parquet": Counter(parquet.collect().rows()),
    }


def test_a_second_plain_run_is_refused_and_writes_nothing(first_run: Path, tmp_path: Path) -> None:
    before = read_outputs(first_run)
    again = run_flow(flow_env(first_run, sample_capture(), SOLFLOW_LEGACY="both"))
    line = _one_line(again)
    assert line.startswith(f"solflow: configuration error: SOLFLOW_OUT='{first_run}' holds an earlier run's outputs")
    assert "another SOLFLOW_OUT" in line and "-r" in line and "SOLFLOW_APPEND=on" in line
    assert read_outputs(first_run) == before


def test_a_fresh_recovery_directory_does_not_make_a_rerun_a_resume(first_run: Path, tmp_path: Path) -> None:
    """``-r`` with a recovery store that committed nothing resumes nothing: into an earlier run's
    outputs it is refused like a plain second run, unless the run appends."""
    before = read_outputs(first_run)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO_ROOT)
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    started = time.monotonic()
    again = run_flow(flow_env(first_run, sample_capture(), SOLFLOW_LEGACY="both"), *args)
    assert time.monotonic() - started < REFUSAL_S
    line = _one_line(again)
    assert line.startswith(f"solflow: configuration error: SOLFLOW_OUT='{first_run}' holds an earlier run's outputs")
    assert f"recovery directory '{recovery}' holds no snapshot" in line and "SOLFLOW_APPEND=on" in line
    assert read_outputs(first_run) == before

    work = tmp_path / "out"
    shutil.copytree(first_run, work)
    appended = run_flow(flow_env(work, sample_capture(), SOLFLOW_LEGACY="both", SOLFLOW_APPEND="on"), *args)
    assert_ok(appended)
    assert read_outputs(work)["sqlite.trades"] == before["sqlite.trades"], "nothing after the last slot: no trade"


def test_append_writes_only_the_slots_after_the_last_one_written(first_run: Path, tmp_path: Path) -> None:
    records = load_records(sample_capture())
    head = tmp_path / "head.capture"
    head_capture(records, records.transactions // 2, head)
    out = tmp_path / "out"
    assert_ok(run_flow(flow_env(out, head, SOLFLOW_LEGACY="both")))
    halfway = _trade_keys(out)["sqlite"]
    assert 0 < sum(halfway.values()) < sum(_trade_keys(first_run)["sqlite"].values())

    for _ in range(2):  # the whole capture, then the same again: only the new slots, once
        assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_LEGACY="both", SOLFLOW_APPEND="on")))
        keys = _trade_keys(out)
        whole = _trade_keys(first_run)
        for name, counted in keys.items():
            assert max(counted.values()) == 1, f"{name} holds a trade twice"
            assert counted == whole[name], f"{name} differs from one run over the whole capture"


def test_other_windows_are_refused_and_every_dataset_stays_readable(first_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(first_run, work / "out")
    other = run_flow(flow_env(work / "out", sample_capture(), SOLFLOW_WINDOWS="60,300,1800", SOLFLOW_APPEND="on"))
    line = _one_line(other)
    assert "SOLFLOW_WINDOWS=60,300,1800" in line and "60,300,900,3600,7200,14400" in line
    assert "another SOLFLOW_OUT" in line
    # README's queries, as written, over aggregates, trades and signals.
    [code] = snippets("python")
    namespace: dict[str, Any] = {}
    cwd = Path.cwd()
    os.chdir(work)
    try:
        exec(compile(code, "README.md", "exec"), namespace)
        with duckdb.connect() as con:
            [sql] = snippets("sql")
            results = [con.sql(s).pl() for s in re.sub(r"--.*", "", sql).split(";") if s.strip()]
            [signals] = con.sql(
                "SELECT count(*) FROM read_parquet('out/signals/**/*.parquet', hive_partitioning = true)"
            ).fetchall()
    finally:
        os.chdir(cwd)
    assert namespace["latest"].height > 0 and namespace["volume"].height > 0
    assert all(result.height > 0 for result in results) and signals[0] > 0
    assert pl.scan_parquet(work / "out" / "signals" / "**" / "*.parquet", hive_partitioning=True).collect().height > 0


def _read_nothing(result: Any) -> None:
    """A finished run that read nothing: its summary says so."""
    assert_ok(result)
    [summary] = summary_lines(result.stdout)
    assert summary.startswith("solflow run finished: 0 transactions, 0 trades (none);"), summary


def test_a_run_that_reads_nothing_still_reports_and_replaces_the_last_runs_stats(
    first_run: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.capture"
    with CaptureWriter(empty, source="test"):
        pass
    out = tmp_path / "out"
    _read_nothing(run_flow(flow_env(out, empty, SOLFLOW_LEGACY="both")))
    assert (run_stats(out)["transactions"], run_stats(out)["end"]) == (0, "finished")

    # Appending the same capture again: every slot is already written, nothing is read.
    work = tmp_path / "work"
    shutil.copytree(first_run, work)
    before = read_outputs(work)
    assert run_stats(work)["transactions"] > 0
    _read_nothing(run_flow(flow_env(work, sample_capture(), SOLFLOW_LEGACY="both", SOLFLOW_APPEND="on")))
    stats = run_stats(work)
    assert (stats["transactions"], stats["trades"], stats["end"]) == (0, 0, "finished"), "this run's stats"
    assert read_outputs(work) == before


def test_a_run_refused_by_the_endpoint_does_not_refuse_the_next_one(first_run: Path, tmp_path: Path) -> None:
    """A wrong ``X_TOKEN`` ends the run before it read anything; the run with the right one, into the
    same ``SOLFLOW_OUT`` and without ``SOLFLOW_APPEND``, is no second run: it writes everything."""
    server = ReplayServer(sample_capture(), x_token="the-right-token")
    url = f"http://127.0.0.1:{server.start()}"
    out = tmp_path / "out"
    try:
        live = flow_env(out, sample_capture(), GEYSER_URL=url, SOLFLOW_LEGACY="both")
        refused = run_flow({**live, "X_TOKEN": "a-wrong-token"})
        assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr, refused.stderr
        assert (out / "solflow.db").is_file() and run_stats(out)["transactions"] == 0
        accepted = run_flow({**live, "X_TOKEN": "the-right-token"})
    finally:
        server.stop()
    assert_ok(accepted)
    assert summary_lines(accepted.stdout)[0].startswith("solflow run finished:")
    assert read_outputs(out)["sqlite.trades"] == read_outputs(first_run)["sqlite.trades"]
