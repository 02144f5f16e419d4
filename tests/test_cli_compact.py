"""``solflow compact`` as users run it: a real subprocess over the files a recovery run leaves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
from test_sink_parquet import T0, trade

from sinks.parquet import ParquetDatasetSink

CLI = [sys.executable, "-m", "solflow.cli.main", "compact"]


def compact(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_compact_merges_a_killed_recovery_run_and_refuses_while_a_flow_writes(tmp_path: Path) -> None:
    trades = [trade(i, block_time=T0 + 30 * i) for i in range(200)]  # 1 h 40 min
    part = ParquetDatasetSink(tmp_path, "trades", partitions=["pumpfun"]).build_part("out", "pumpfun", None)
    for start in range(0, 200, 10):
        part.write_batch(trades[start : start + 10])
        part.snapshot()  # a file per snapshot, as a run with -r -s 1 writes them
    busy = compact("--out", str(tmp_path))
    assert busy.returncode == 2 and busy.stdout == ""
    assert busy.stderr.strip().splitlines() == [
        f"solflow compact: error: a flow is writing to {tmp_path}: compact it once the flow has stopped"
    ]
    del part  # killed: its last hour's files are not merged

    done = compact("--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "before": {"trades": 20, "aggregates": 0, "signals": 0, "tokens": 0, "scores": 0},  # no hour was done
        "after": {"trades": 2, "aggregates": 0, "signals": 0, "tokens": 0, "scores": 0},
    }
    stored = pl.scan_parquet(tmp_path / "trades", hive_partitioning=True).collect()
    assert sorted(stored.get_column("slot").to_list()) == [t.slot for t in trades]

    missing = compact("--out", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "outputs directory" in missing.stderr and "Traceback" not in missing.stderr
