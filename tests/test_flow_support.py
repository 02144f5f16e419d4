"""Helpers shared by the ``test_flow_*`` files: run ``python -m bytewax.run flows.solflow`` as a
subprocess from the repository root, and read back every output it wrote.

Each run gets a clean environment (no ``SOLFLOW_*``/``GEYSER_URL`` from the caller), its own
``SOLFLOW_OUT`` and ``RUST_BACKTRACE=0``. Outputs are read as sorted rows so runs with different
worker counts, processes or a crash in between compare equal exactly when they wrote the same data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CAPTURE = REPO_ROOT / "data" / "sample.capture"
RUN_TIMEOUT_S = 180
SUMMARY_PREFIX = "solflow run "
_CALLER_VARIABLES = ("GEYSER_URL", "X_TOKEN", "COMMITMENT_LEVEL", "OUTPUT_MAX_SIZE_MB", "OUTPUT_MAX_ROTATIONS")

# Table -> columns that identify a row; "id" columns are insertion order (differs with worker count).
SQLITE_TABLES = (
    "trades",
    "token_aggregates",
    "token_signals",
    "gaps",
    "token_metadata",
    "dca_activity_buckets",
    "token_signal_summary",
)
DATASETS = ("trades", "aggregates", "signals", "tokens", "scores")


def sample_capture() -> Path:
    """The committed sample capture the flow replays by default."""
    assert SAMPLE_CAPTURE.is_file(), f"{SAMPLE_CAPTURE} is missing; it is committed with the repository"
    return SAMPLE_CAPTURE


def flow_env(out: Path, capture: Path, **variables: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOLFLOW_", "BYTEWAX_")) and k not in _CALLER_VARIABLES
    }
    env.update(RUST_BACKTRACE="0", NO_COLOR="1", SOLFLOW_OUT=str(out), SOLFLOW_REPLAY=str(capture))
    env.update(variables)
    return env


def flow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bytewax.run", "flows.solflow", *args]


def run_flow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        flow_command(*args), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def start_flow(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as sink:
        return subprocess.Popen(flow_command(*args), cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"flow failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


def summary_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(SUMMARY_PREFIX)]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def jsonl_lines(out: Path) -> int:
    total = 0
    for path in (out / "streams").glob("*/events.jsonl"):
        with open(path, "rb") as f:
            total += sum(1 for _ in f)
    return total


def read_outputs(out: Path) -> dict[str, Any]:
    """Every output of a run: SQLite tables and Parquet datasets as sorted rows, JSONL files as bytes."""
    outputs: dict[str, Any] = {}
    db_path = out / "solflow.db"
    if db_path.exists():
        db = sqlite3.connect(db_path)
        try:
            for table in SQLITE_TABLES:
                columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
                rows = db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
                outputs[f"sqlite.{table}"] = sorted(rows, key=repr)
        finally:
            db.close()
    for dataset in DATASETS:
        if (out / dataset).exists():
            frame = pl.scan_parquet(out / dataset, hive_partitioning=True).collect()
            outputs[f"parquet.{dataset}"] = sorted(frame.rows(), key=repr)
    for path in sorted((out / "streams").glob("*/events.jsonl*")):
        outputs[f"jsonl.{path.relative_to(out / 'streams')}"] = path.read_bytes()
    return outputs


def committed_epoch(recovery: Path) -> int:
    """The latest epoch Bytewax committed to the recovery store (0 before the first)."""
    epochs = [0]
    for part in recovery.glob("part-*.sqlite3"):
        db = sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=0.1)
        try:
            epochs += [epoch for (epoch,) in db.execute("SELECT commit_epoch FROM commits")]
        except sqlite3.OperationalError:  # busy while the run writes; ask again later
            pass
        finally:
            db.close()
    return max(epochs)


def run_stats(out: Path) -> dict[str, Any]:
    db = sqlite3.connect(out / "solflow.db")
    try:
        return dict(db.execute("SELECT name, value FROM run_stats"))
    finally:
        db.close()


def block_time_span(out: Path) -> int:
    """Seconds of chain time a run's trades cover (for pacing a replay)."""
    db = sqlite3.connect(out / "solflow.db")
    try:
        first, last = db.execute("SELECT min(block_time), max(block_time) FROM trades").fetchone()
    finally:
        db.close()
    return last - first


def parse_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]
