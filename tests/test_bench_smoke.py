"""``solflow bench`` end to end on a tiny capture: every figure present and positive, errors one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from solflow.bench.figures import KEYS, RATE_KEYS

TINY = [
    "--transactions",
    "500",
    "--runs",
    "1",
    "--flow-transactions",
    "400",
    "--grpc-transactions",
    "200",
    "--mints",
    "2000",
    "--mainnet-rate",
    "50",
    "--mainnet-seconds",
    "30",
]


def _bench(repo_root: Path, *args: str, module: str = "solflow.bench") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module, *(["bench"] if module == "solflow.cli.main" else []), *args]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_results(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    cache = tmp_path_factory.mktemp("bench-cache")
    done = _bench(repo_root, *TINY, "--cache-dir", str(cache), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_figure_is_present_and_positive(tiny_results: dict) -> None:
    assert set(tiny_results) == set(KEYS)
    for key in RATE_KEYS:
        figure = tiny_results[key]
        assert figure["tx_per_s"] > 0, key
        assert figure["ratio"] > 0, key
        assert figure["runs"] and all(run > 0 for run in figure["runs"]), key
    assert tiny_results["parse"]["ratio"] == 1.0
    assert tiny_results["grpc_source"]["ratio_to"] == "grpc_raw"


def test_figures_carry_their_counts(tiny_results: dict) -> None:
    for key in ("parse", "decode", "aggregate"):
        assert tiny_results[key]["transactions"] == 500, key
    decode = tiny_results["decode"]
    assert decode["trades"] > 0
    flow = tiny_results["flow"]
    assert 400 <= flow["transactions"] < 500, "flows replay a prefix of whole slots"
    assert 0 < flow["trades"] < decode["trades"]
    for key in ("flow_w4", "flow_2proc"):
        assert (tiny_results[key]["transactions"], tiny_results[key]["trades"]) == (
            flow["transactions"],
            flow["trades"],
        )
    for key in ("flow", "flow_w4", "flow_2proc"):
        figure = tiny_results[key]
        assert figure["startup_s"] > 0, key
        steady = figure["steady_tx_per_s"]
        assert steady is None or steady > figure["tx_per_s"], key  # start-up taken out of the same runs
        assert figure["cpu_s"] >= figure["busiest_cpu_s"] > 0, key
    assert tiny_results["flow"]["cpu_s"] == tiny_results["flow"]["busiest_cpu_s"]  # one process
    assert tiny_results["flow_2proc"]["cpu_s"] > tiny_results["flow_2proc"]["busiest_cpu_s"]  # two
    two = tiny_results["flow_2proc"]
    assert two["vs_flow_cpu"] == round(tiny_results["flow"]["cpu_s"] / two["busiest_cpu_s"], 3)
    raw, source = tiny_results["grpc_raw"], tiny_results["grpc_source"]
    assert 0 < raw["transactions"] < 500
    assert source["paced_delivered"] + source["paced_missing"] == raw["transactions"]
    assert source["paced_dropped"] >= 0 and source["paced_updates_per_s"] > 0
    aggregate = tiny_results["aggregate"]
    assert aggregate["mints"] == 2000
    assert aggregate["rss_mib"] > aggregate["baseline_rss_mib"] > 0
    assert aggregate["trades_per_s"] > 0


def test_counts_at_a_mainnet_like_rate(tiny_results: dict) -> None:
    rows = tiny_results["agg_rows_per_trade"]
    assert (rows["rate"], rows["seconds"], rows["trades"]) == (50, 30, 1500)
    assert 0 < rows["value"] == round(rows["history_rows"] / rows["trades"], 4)
    assert rows["within_bound"] and rows["history_rows"] <= rows["trades"] + rows["mints"]
    assert rows["capture_within_bound"] and 0 < rows["capture_rows_per_trade"] <= 1.5
    files = tiny_results["parquet_files_per_hour"]
    assert files["hours"] == 1 and files["files"]["trades"] == 5  # a file per program in the one hour
    assert files["value"] == sum(files["files"].values()) <= 200


def test_solflow_bench_prints_the_table(repo_root: Path, tmp_path: Path) -> None:
    done = _bench(repo_root, *TINY, "--cache-dir", str(tmp_path), "--only", "parse,decode", module="solflow.cli.main")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("solflow bench: 500 transactions (seed 1)")
    assert max(map(len, lines)) <= 80
    header = next(i for i, line in enumerate(lines) if line.startswith("measure"))
    measured = [line.split()[0] for line in lines[header + 2 :] if not line.startswith(" ")]
    assert measured == ["parse", "decode"]
    assert list(tmp_path.glob("sim-500-seed1-*.capture")), "the generated capture is cached"


def test_bad_option_is_one_line(repo_root: Path, tmp_path: Path) -> None:
    done = _bench(repo_root, "--only", "parse,warp", "--cache-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "solflow bench: error: --only: unknown measure(s) warp; choose from " + ", ".join(KEYS)
    ]
    assert not list(tmp_path.iterdir()), "nothing is generated before the arguments are checked"
