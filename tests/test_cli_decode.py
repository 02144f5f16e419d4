"""``solflow decode`` as users run it: a subprocess over the real RPC fixtures and over capture files
written by ``sources.capture``, with unreadable files mixed in among good ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from solflow.domain.trade import TRADE_FIELDS
from sources.capture import CaptureWriter
from sources.rpc_json import load_rpc_file, rpc_to_updates

COMPARED = (
    "direction",
    "trader",
    "mint",
    "quote_mint",
    "token_amount_raw",
    "quote_amount_raw",
    "fee_amount_raw",
    "token_decimals",
    "quote_decimals",
    "via",
)


def solflow_decode(repo_root: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", "decode", *map(str, args)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def rpc_paths(fixtures_dir: Path) -> list[Path]:
    return sorted((fixtures_dir / "rpc").glob("*/*.json"))


@pytest.fixture(scope="module")
def oracle(fixtures_dir: Path) -> dict[tuple[str, int, int | None], dict[str, Any]]:
    rows = [json.loads(line) for line in (fixtures_dir / "expected" / "trades.jsonl").read_text().splitlines()]
    return {(row["signature"], row["outer_ix_index"], row["inner_ix_index"]): row for row in rows}


def test_prints_every_trade_of_the_rpc_fixtures(repo_root, rpc_paths, oracle):
    result = solflow_decode(repo_root, *rpc_paths)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    trades = lines(result.stdout)
    assert all(set(trade) == {"kind", *TRADE_FIELDS} and trade["kind"] == "trade" for trade in trades)
    expected_trades = {key: row for key, row in oracle.items() if row["kind"] == "trade"}
    printed = {(t["signature"], t["outer_ix_index"], t["inner_ix_index"]): t for t in trades}
    assert len(printed) == len(trades) == len(expected_trades) + 9  # + the 9 trades of the 8 blind trade files
    for key, row in expected_trades.items():
        assert {k: printed[key][k] for k in COMPARED} == {k: row[k] for k in COMPARED}
        if row["block_time"] is not None:  # else the event's own timestamp, which the oracle leaves out
            assert printed[key]["block_time"] == row["block_time"]


def test_all_adds_the_non_trade_events(repo_root, rpc_paths, oracle):
    result = solflow_decode(repo_root, "--all", *rpc_paths)
    assert result.returncode == 0, result.stderr
    events = [line for line in lines(result.stdout) if line["kind"] != "trade"]
    expected = {key: row for key, row in oracle.items() if row["kind"] != "trade"}
    assert len(events) == len(expected) + 3  # blind files: a DCA open, a DCA close, a LaunchLab create
    for event in events:
        row = expected.get((event["signature"], event["outer_ix_index"], event["inner_ix_index"]))
        if row is not None:
            assert (event["kind"], event["trader"], event["mint"], event["details"]) == (
                row["kind"],
                row["trader"],
                row["mint"],
                row["details"],
            )


def test_program_filter(repo_root, fixtures_dir):
    (migration,) = (fixtures_dir / "rpc" / "pumpswap").glob("2ffHb9AX*")
    result = solflow_decode(repo_root, "--all", "--program", "pumpfun", migration)
    assert result.returncode == 0, result.stderr
    assert [(line["kind"], line["program"]) for line in lines(result.stdout)] == [("migrate", "pumpfun")]


def test_unreadable_files_cost_one_line_each_and_the_rest_is_decoded(repo_root, fixtures_dir, tmp_path):
    (bundle,) = (fixtures_dir / "rpc" / "pumpfun").glob("JBnrBbgq*")
    (moonshot,) = (fixtures_dir / "rpc" / "moonshot").glob("*.json")
    not_json = tmp_path / "not-json.json"
    not_json.write_text('{"slot": 1,')
    rpc_error = tmp_path / "rpc-error.json"
    rpc_error.write_text(json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32009, "message": "slot skipped"}}))
    missing = tmp_path / "missing.json"
    result = solflow_decode(repo_root, not_json, bundle, missing, rpc_error, moonshot)
    assert result.returncode == 1
    assert [line["signature"][:8] for line in lines(result.stdout)] == ["JBnrBbgq"] * 4 + ["5UWcde33"]
    errors = result.stderr.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"solflow decode: {not_json}: not valid JSON")
    assert errors[1] == f"solflow decode: {missing}: cannot read file: No such file or directory"
    assert errors[2].startswith(f"solflow decode: {rpc_error}: ") and "slot skipped" in errors[2]
    assert "Traceback" not in result.stderr


def write_capture(path: Path, rpc_paths: list[Path]) -> int:
    """The fixtures as a stream would carry them: each slot's transactions, then its block meta."""
    by_slot: dict[int, list[Any]] = {}
    for rpc_path in rpc_paths:
        for result in load_rpc_file(rpc_path):
            updates = rpc_to_updates(result)
            by_slot.setdefault(updates[0].transaction.slot, []).append(updates)
    with CaptureWriter(path, source="test") as writer:
        for slot in sorted(by_slot):
            metas = []
            for updates in by_slot[slot]:
                writer.write(updates[0])
                metas.extend(updates[1:])
            for meta in metas[:1]:  # one block meta per slot
                writer.write(meta)
    return len(by_slot)


def test_capture_files_join_block_times(repo_root, rpc_paths, oracle, tmp_path):
    capture = tmp_path / "fixtures.capture"
    write_capture(capture, rpc_paths)
    from_capture = solflow_decode(repo_root, capture)
    from_rpc = solflow_decode(repo_root, *rpc_paths)
    assert from_capture.returncode == 0, from_capture.stderr
    key = lambda t: (t["signature"], t["outer_ix_index"], t["inner_ix_index"])  # noqa: E731
    assert sorted(lines(from_capture.stdout), key=key) == sorted(lines(from_rpc.stdout), key=key)
    for trade in lines(from_capture.stdout):
        row = oracle.get(key(trade))
        if row is not None and row["block_time"] is not None:
            assert trade["block_time"] == row["block_time"]


def test_corrupt_capture_is_reported_after_what_it_could_read(repo_root, fixtures_dir, tmp_path):
    (bundle,) = (fixtures_dir / "rpc" / "pumpfun").glob("JBnrBbgq*")
    good = tmp_path / "good.capture"
    write_capture(good, [bundle])
    cut = tmp_path / "cut.capture"
    cut.write_bytes(good.read_bytes()[:-20])
    (moonshot,) = (fixtures_dir / "rpc" / "moonshot").glob("*.json")
    result = solflow_decode(repo_root, cut, moonshot)
    assert result.returncode == 1
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"solflow decode: {cut}: ")
    assert lines(result.stdout)[-1]["signature"].startswith("5UWcde33")
