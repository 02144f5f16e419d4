"""``solflow capture`` as users run it: real subprocesses on real fixture files and captures, and
``record`` against a real gRPC replay server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import base58
import pytest

from solflow.domain.programs import PROGRAMS
from sources.capture import CaptureReader, iter_updates

SOLFLOW = Path(sys.executable).with_name("solflow")
CLI = (
    [str(SOLFLOW)]
    if SOLFLOW.exists()
    else [sys.executable, "-c", "import sys; from solflow.cli.main import main; sys.exit(main())"]
)


# No endpoint or token from the developer's environment.
ENV = {k: v for k, v in os.environ.items() if k not in ("GEYSER_URL", "X_TOKEN")}


def solflow(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=120)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def rpc_files(fixtures_dir: Path) -> list[Path]:
    return sorted((fixtures_dir / "rpc").glob("*/*.json"))


@pytest.fixture(scope="module")
def fixtures_capture(rpc_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    result = solflow("capture", "import-rpc", *rpc_files, "-o", work / "fixtures.capture", cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "wrote 29 transactions and 21 block metas from 29 of 29 files" in result.stdout
    return work / "fixtures.capture"


def expected_summary(rpc_files: list[Path]) -> dict[str, Any]:
    """What info must report, computed from the JSON files alone."""
    program_ids = {p.program_id: p.name for p in PROGRAMS}
    programs: dict[str, int] = {}
    slots = set()
    for path in rpc_files:
        tx = json.loads(path.read_text())
        keys = tx["transaction"]["message"]["accountKeys"]
        addresses = {k["pubkey"] if isinstance(k, dict) else k for k in keys}
        loaded = tx["meta"].get("loadedAddresses") or {}
        addresses |= set(loaded.get("writable", [])) | set(loaded.get("readonly", []))
        for name in {program_ids[a] for a in addresses if a in program_ids}:
            programs[name] = programs.get(name, 0) + 1
        slots.add(tx["slot"] or 0)
    return {"programs": programs, "slots": slots}


def test_import_then_info_json(fixtures_capture: Path, rpc_files: list[Path]) -> None:
    result = solflow("capture", "info", fixtures_capture, "--json", cwd=fixtures_capture.parent)
    assert result.returncode == 0 and result.stderr == ""
    info = json.loads(result.stdout)
    expected = expected_summary(rpc_files)
    assert info["header"]["version"] == 1
    assert info["header"]["source"] == "solflow capture import-rpc"
    assert info["header"]["compression"] == "zstd"
    assert info["updates"] == 50
    assert info["update_types"] == {"block_meta": 21, "transaction": 29}
    assert info["transactions"] == 29 and info["transactions_succeeded"] == 29
    assert info["slots"] == len(expected["slots"])
    assert (info["first_slot"], info["last_slot"]) == (min(expected["slots"]), max(expected["slots"]))
    assert info["programs"] == expected["programs"]
    assert set(info["programs"]) == {p.name for p in PROGRAMS}


def test_import_orders_by_slot_with_block_meta_after_its_transactions(
    fixtures_capture: Path, rpc_files: list[Path]
) -> None:
    signatures = {json.loads(p.read_text())["transaction"]["signatures"][0] for p in rpc_files}
    seen_signatures = set()
    last_slot = -1
    closed_slots = set()
    for update in iter_updates(fixtures_capture):
        if update.HasField("transaction"):
            slot = update.transaction.slot
            assert slot >= last_slot and slot not in closed_slots
            last_slot = slot
            seen_signatures.add(base58.b58encode(update.transaction.transaction.signature).decode())
        else:
            assert update.block_meta.slot == last_slot and last_slot not in closed_slots
            closed_slots.add(last_slot)
    assert seen_signatures == signatures


def test_info_table(fixtures_capture: Path) -> None:
    result = solflow("capture", "info", fixtures_capture, cwd=fixtures_capture.parent)
    assert result.returncode == 0 and result.stderr == ""
    for text in ("transactions succeeded", "block_meta", "slot range", "program pumpfun", "13 transactions", "zstd"):
        assert text in result.stdout, text


def test_import_keeps_going_past_bad_files(tmp_path: Path, rpc_files: list[Path]) -> None:
    good = rpc_files[:3]
    sample = json.loads(good[0].read_text())
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"slot": 12, "transaction": ')
    base64_file = tmp_path / "base64.json"
    base64_file.write_text(json.dumps({**sample, "transaction": ["AQIDBA==", "base64"]}))
    no_transaction = tmp_path / "no_transaction.json"
    no_transaction.write_text(json.dumps({"slot": 1, "meta": sample["meta"]}))
    missing = tmp_path / "missing.json"
    output = tmp_path / "partial.capture"
    result = solflow(
        "capture",
        "import-rpc",
        good[0],
        bad_json,
        base64_file,
        good[1],
        no_transaction,
        missing,
        good[2],
        "-o",
        output,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    assert f"{bad_json}: not valid JSON" in lines[0]
    assert f"{base64_file}: transaction is in encoding 'base64'" in lines[1]
    assert f"{no_transaction}: missing field 'transaction'" in lines[2]
    assert f"{missing}: cannot read file" in lines[3]
    assert "from 3 of 7 files" in result.stdout
    transactions = [u for u in iter_updates(output) if u.HasField("transaction")]
    assert len(transactions) == 3


def _damaged_captures(source: Path, directory: Path) -> dict[str, tuple[Path, str]]:
    data = source.read_bytes()
    header_end = 16 + int.from_bytes(data[12:16], "little")
    cases = {
        "truncated": (data[:-5], "truncated capture"),
        "magic": (b"NOTACAPTUR" + data[10:], "not a SolFlow capture (wrong magic"),
        "version": (data[:10] + b"\x02" + data[11:], "unsupported capture format version 2"),
        "zstd": (
            data[: header_end + 30]
            + bytes(b ^ 0x33 for b in data[header_end + 30 : header_end + 60])
            + data[header_end + 60 :],
            "corrupt zstd stream",
        ),
    }
    damaged = {}
    for name, (content, problem) in cases.items():
        path = directory / f"{name}.capture"
        path.write_bytes(content)
        damaged[name] = (path, problem)
    return damaged


def test_info_on_damaged_captures_prints_one_line(fixtures_capture: Path, tmp_path: Path) -> None:
    for name, (path, problem) in _damaged_captures(fixtures_capture, tmp_path).items():
        for extra in ((), ("--json",)):
            result = solflow("capture", "info", path, *extra, cwd=tmp_path)
            assert result.returncode == 2, (name, result.stderr)
            line = one_error_line(result)
            assert line.startswith(f"solflow capture: error: {path}: "), line
            assert problem in line, (name, line)
            assert result.stdout == ""
    result = solflow("capture", "info", tmp_path / "absent.capture", cwd=tmp_path)
    assert result.returncode == 2 and "absent.capture: cannot open capture" in one_error_line(result)


def test_import_compression_choice(tmp_path: Path, rpc_files: list[Path]) -> None:
    for compression, expected in (("gzip", "gzip"), ("none", None)):
        output = tmp_path / f"{compression}.capture"
        result = solflow(
            "capture", "import-rpc", *rpc_files[:2], "-o", output, "--compression", compression, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        with CaptureReader(output) as reader:
            assert reader.header.compression == expected
            assert len(list(reader)) >= 2


# --- record ---------------------------------------------------------------------------------


@pytest.fixture()
def replay_server(fixtures_capture: Path):
    replay = pytest.importorskip(
        "solflow.server.replay", reason="the replay server (server/replay.py) is not available"
    )
    pytest.importorskip(
        "sources.geyser_client", reason="the Yellowstone client (sources/geyser_client.py) is not available"
    )
    server = replay.ReplayServer(fixtures_capture, x_token="s3cret-token-value", ping_interval_s=0.2)
    port = server.start()
    yield port
    server.stop(grace=0)


def test_record_from_a_live_endpoint(replay_server: int, fixtures_capture: Path, tmp_path: Path) -> None:
    output = tmp_path / "recorded.capture"
    result = solflow(
        "capture",
        "record",
        "--url",
        f"http://127.0.0.1:{replay_server}",
        "--x-token",
        "s3cret-token-value",
        "--seconds",
        "60",
        "-o",
        output,
        "--compression",
        "gzip",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret-token-value" not in result.stdout + result.stderr
    with CaptureReader(output) as reader:
        assert reader.header.source == f"solflow capture record http://127.0.0.1:{replay_server}"
        assert reader.header.compression == "gzip"

    def signatures(path: Path) -> list[tuple[int, str]]:
        return sorted(
            (u.transaction.slot, base58.b58encode(u.transaction.transaction.signature).decode())
            for u in iter_updates(path)
            if u.HasField("transaction")
        )

    assert signatures(output) == signatures(fixtures_capture)
    kinds = {u.WhichOneof("update_oneof") for u in iter_updates(output)}
    assert "ping" not in kinds and "block_meta" in kinds
    assert f"recorded {sum(1 for _ in iter_updates(output))} updates" in result.stdout


def test_record_with_a_wrong_token_fails_cleanly(replay_server: int, tmp_path: Path) -> None:
    output = tmp_path / "never.capture"
    result = solflow(
        "capture",
        "record",
        "--url",
        f"http://127.0.0.1:{replay_server}",
        "--x-token",
        "wrong-token-value",
        "--seconds",
        "30",
        "-o",
        output,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert "UNAUTHENTICATED" in line and "nothing recorded" in line
    assert "wrong-token-value" not in result.stderr and "s3cret" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no capture, no temporary file


def test_record_needs_an_endpoint_and_a_duration(tmp_path: Path) -> None:
    env_free = solflow("capture", "record", "--seconds", "1", "-o", tmp_path / "x.capture", cwd=tmp_path)
    assert env_free.returncode == 2 and "no endpoint" in one_error_line(env_free)
    negative = solflow(
        "capture", "record", "--url", "http://127.0.0.1:9", "--seconds", "0", "-o", tmp_path / "x.capture", cwd=tmp_path
    )
    assert negative.returncode == 2 and "--seconds must be positive" in one_error_line(negative)
