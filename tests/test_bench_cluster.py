"""``python -m solflow.bench.cluster`` end to end on a tiny capture: it starts its own Kafka broker,
every measure is present and positive, and the ratios are to the first cluster size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from components import tansu_binary


def test_the_cluster_benchmark_measures_every_size(repo_root: Path, tmp_path: Path) -> None:
    tansu_binary()  # skips without a broker to start
    command = [sys.executable, "-m", "solflow.bench.cluster", "--transactions", "300", "--processes", "1,2"]
    command += ["--runs", "1", "--cache-dir", str(tmp_path), "--json"]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    names = ["ingest", "embedded", "members_p1", "members_p2", "pipeline_p1", "pipeline_p2"]
    assert list(results) == names
    assert all(results[n]["seconds"] > 0 and results[n]["tx_per_s"] > 0 for n in names)
    assert results["members_p1"]["ratio"] == results["pipeline_p1"]["ratio"] == 1.0
