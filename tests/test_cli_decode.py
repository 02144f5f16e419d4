"""``solflow decode`` as users run it: a subprocess over the real RPC fixtures and over capture files
written by ``sources.capture``, with unreadable files mixed in among good ones, and over fixtures whose
events were changed the way newer program versions change them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import base58
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


SUMMARY = "solflow decode: 29 transactions, 28 trades, 12 lifecycle records; 0 unknown events, 0 events with"
LIFECYCLE_KINDS = {
    "create": "token_created",
    "create_pool": "pool_created",
    "migrate": "migrated",
    "dca_open": "dca_opened",
    "dca_close": "dca_closed",
}


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
    (summary,) = result.stderr.splitlines()  # nothing unknown, no trailing bytes: only the summary
    assert summary.startswith(SUMMARY)
    assert summary.endswith("event-vs-balance mismatches 0 of 28 cross-checked trades (0.00%)")
    trades = lines(result.stdout)
    assert all(set(trade) == {"kind", *TRADE_FIELDS} and trade["kind"] == "trade" for trade in trades)
    expected_trades = {key: row for key, row in oracle.items() if row["kind"] == "trade"}
    printed = {(t["signature"], t["outer_ix_index"], t["inner_ix_index"]): t for t in trades}
    assert len(printed) == len(trades) == len(expected_trades) + 9  # + the 9 trades of the 8 blind trade files
    for key, row in expected_trades.items():
        assert {k: printed[key][k] for k in COMPARED} == {k: row[k] for k in COMPARED}
        if row["block_time"] is not None:  # else the event's own timestamp, which the oracle leaves out
            assert printed[key]["block_time"] == row["block_time"]


@pytest.mark.parametrize("kind", ["lifecycle", "all"])
def test_kind_selects_lifecycle_records_and_trades(repo_root, rpc_paths, oracle, kind):
    result = solflow_decode(repo_root, "--kind", kind, *rpc_paths)
    assert result.returncode == 0, result.stderr
    printed = lines(result.stdout)
    records = [line for line in printed if line["kind"] != "trade"]
    assert len(printed) - len(records) == (28 if kind == "all" else 0)
    expected = {key: row for key, row in oracle.items() if row["kind"] != "trade"}
    assert len(records) == len(expected) + 3  # blind files: a DCA open, a DCA close, a LaunchLab create
    for record in records:
        row = expected.get((record["signature"], record["outer_ix_index"], record["inner_ix_index"]))
        if row is None:
            continue
        assert record["kind"] == LIFECYCLE_KINDS[row["kind"]]
        assert record["program"] == row["program"]
        mint = record.get("mint", record.get("base_mint"))
        assert mint == row["mint"] or row["mint"] is None


def test_program_filter(repo_root, fixtures_dir):
    (migration,) = (fixtures_dir / "rpc" / "pumpswap").glob("2ffHb9AX*")
    result = solflow_decode(repo_root, "--all", "--program", "pumpfun", migration)
    assert result.returncode == 0, result.stderr
    assert [(line["kind"], line["program"]) for line in lines(result.stdout)] == [("migrated", "pumpfun")]


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
    assert len(errors) == 4 and errors[3].startswith("solflow decode: 2 transactions, 5 trades")
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
    error, summary = result.stderr.splitlines()
    assert error.startswith(f"solflow decode: {cut}: ") and summary.startswith("solflow decode: ")
    assert lines(result.stdout)[-1]["signature"].startswith("5UWcde33")


def changed_events(source: Path, target: Path, change) -> None:
    """A copy of an RPC fixture whose self-CPI event instructions went through ``change(bytes) -> bytes``."""
    document = json.loads(source.read_text())
    result = document.get("result", document)
    result = result[0] if isinstance(result, list) else result
    for group in result["meta"]["innerInstructions"]:
        for ix in group["instructions"]:
            data = base58.b58decode(ix["data"])
            if data.startswith(bytes.fromhex("e445a52e51cb9a1d")):
                ix["data"] = base58.b58encode(change(data)).decode()
    logs = result["meta"]["logMessages"]
    result["meta"]["logMessages"] = [line for line in logs if not line.startswith("Program data: ")]
    target.write_text(json.dumps(document))


def test_grown_and_unknown_events_are_reported_per_transaction(repo_root, fixtures_dir, oracle, tmp_path):
    (buy,) = (fixtures_dir / "rpc" / "pumpswap").glob("59GXCxvQ*")
    grown = tmp_path / "grown.json"
    changed_events(buy, grown, lambda data: data + bytes(range(24)))  # a newer version appended 24 bytes
    unknown = tmp_path / "unknown.json"
    changed_events(buy, unknown, lambda data: data[:8] + bytes(8) + data[16:])  # an event no layout knows
    result = solflow_decode(repo_root, grown, unknown)
    assert result.returncode == 0, result.stderr
    first, second = lines(result.stdout)
    row = oracle[(first["signature"], first["outer_ix_index"], first["inner_ix_index"])]
    # the grown event still decodes exactly; the unknown one leaves only the balance changes
    assert (first["quote_amount_raw"], first["fee_amount_raw"], first["decode_source"]) == (
        row["quote_amount_raw"],
        row["fee_amount_raw"],
        "cpi_event",
    )
    assert second["decode_source"] == "balance_delta" and second["fee_amount_raw"] is None
    signature = first["signature"]
    trailing, unknown_line, summary = result.stderr.splitlines()
    assert trailing == (
        f"solflow decode: {signature}: pumpswap BuyEvent at instruction 4, inner 4 has 24 unknown trailing bytes"
        " (384 bytes): decoded the known layout"
    )
    assert unknown_line == (
        f"solflow decode: {signature}: unknown pumpswap event 0000000000000000 (360 bytes) at instruction 4, inner 4"
    )
    assert "1 unknown events, 1 events with unknown trailing bytes" in summary
    assert summary.endswith("event-vs-balance mismatches 0 of 1 cross-checked trades (0.00%)")
