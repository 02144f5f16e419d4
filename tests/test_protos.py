"""The committed protobuf modules match the .proto files, and the subset is wire-compatible."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from google.protobuf.internal import api_implementation

from protos import geyser_pb2, solana_storage_pb2


def test_committed_modules_are_not_stale(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "protos.generate", "--check"], cwd=repo_root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_stale_check_names_a_module_that_differs(repo_root: Path, tmp_path: Path, monkeypatch) -> None:
    from protos import generate

    copy = tmp_path / "protos"
    copy.mkdir()
    for path in (repo_root / "protos").glob("*_pb2*.py*"):
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "geyser_pb2.py").write_text("# edited by hand\n")
    monkeypatch.setattr(generate, "PROTO_DIR", copy)
    assert generate.stale_files() == ["geyser_pb2.py"]


def test_upb_backend_is_active_and_no_warning_on_import() -> None:
    assert api_implementation.Type() == "upb"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import protos  # noqa: F401


def test_pure_python_backend_gives_a_clear_warning(repo_root: Path) -> None:
    env = {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import protos"], cwd=repo_root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "'python' backend, not 'upb'" in result.stderr


def test_wire_bytes_match_the_upstream_field_numbers() -> None:
    # A ping-only request is field 9 holding {id: 1}; the reference gives these exact bytes.
    assert geyser_pb2.SubscribeRequest(ping=geyser_pb2.SubscribeRequestPing(id=1)).SerializeToString() == bytes.fromhex(
        "4a020801"
    )
    # vote/failed are tri-state: an explicit false must reach the wire (field 1 and 2, value 0).
    tx_filter = geyser_pb2.SubscribeRequestFilterTransactions(vote=False, failed=False)
    assert tx_filter.SerializeToString() == bytes.fromhex("08001000")
    # A server ping is field 6 with an empty message.
    assert geyser_pb2.SubscribeUpdate(ping=geyser_pb2.SubscribeUpdatePing()).SerializeToString() == bytes.fromhex(
        "3200"
    )
    # from_slot is field 11 (varint), commitment field 6.
    request = geyser_pb2.SubscribeRequest(from_slot=300, commitment=geyser_pb2.CONFIRMED)
    assert request.SerializeToString() == bytes.fromhex("3001") + bytes.fromhex("58ac02")


def test_unknown_update_kinds_decode_with_no_oneof_case() -> None:
    # An upstream `account` update (field 2) is not in the subset: it parses, with no case set.
    update = geyser_pb2.SubscribeUpdate.FromString(bytes.fromhex("0a0166") + bytes.fromhex("1200"))
    assert list(update.filters) == ["f"]
    assert update.WhichOneof("update_oneof") is None


def test_storage_messages_keep_loaded_addresses_separate_from_static_keys() -> None:
    meta = solana_storage_pb2.TransactionStatusMeta(
        loaded_writable_addresses=[b"\x01" * 32], loaded_readonly_addresses=[b"\x02" * 32]
    )
    wire = meta.SerializeToString()
    assert b"\x62\x20" + b"\x01" * 32 in wire  # field 12, length 32
    assert b"\x6a\x20" + b"\x02" * 32 in wire  # field 13, length 32
