"""Capture files: round trips in every compression, atomic writes, constant-memory streaming, and a
clear one-line ``CaptureError`` for every kind of damage."""

from __future__ import annotations

import gc
import random
import struct
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from protos import geyser_pb2, solana_storage_pb2
from sources.capture import (
    MAGIC,
    CaptureError,
    CaptureHeader,
    CaptureReader,
    CaptureWriter,
    iter_updates,
)

COMPRESSIONS = [None, "gzip", "zstd"]


def make_update(n: int) -> geyser_pb2.SubscribeUpdate:
    """A varied transaction update (distinct keys, logs and balances per ``n``)."""
    info = geyser_pb2.SubscribeUpdateTransactionInfo(
        signature=n.to_bytes(8, "little") * 8,
        index=n % 3000,
        transaction=solana_storage_pb2.Transaction(
            signatures=[n.to_bytes(8, "little") * 8],
            message=solana_storage_pb2.Message(
                account_keys=[(n * 7 + k).to_bytes(32, "little") for k in range(4)],
                instructions=[
                    solana_storage_pb2.CompiledInstruction(
                        program_id_index=3, accounts=b"\x00\x01", data=n.to_bytes(16, "big")
                    )
                ],
            ),
        ),
        meta=solana_storage_pb2.TransactionStatusMeta(
            fee=5000 + n,
            pre_balances=[5000 + n * 11, 2, 3, 4],
            post_balances=[n * 11, 2, 3, 4],
            log_messages=[f"Program log: trade {n}", f"Program data: {n * 977:x}"],
        ),
    )
    return geyser_pb2.SubscribeUpdate(
        filters=["solflow"], transaction=geyser_pb2.SubscribeUpdateTransaction(transaction=info, slot=1_000 + n // 4)
    )


def write_capture(path: Path, updates: list[geyser_pb2.SubscribeUpdate], compression: str | None = "zstd") -> Path:
    with CaptureWriter(path, source="test", compression=compression) as writer:
        for update in updates:
            writer.write(update)
    return path


def read_error(path: Path) -> str:
    with pytest.raises(CaptureError) as caught:
        for _ in iter_updates(path):
            pass
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_round_trip(tmp_path: Path, compression: str | None) -> None:
    updates = [make_update(n) for n in range(500)]
    ping = geyser_pb2.SubscribeUpdate(ping=geyser_pb2.SubscribeUpdatePing())
    block_meta = geyser_pb2.SubscribeUpdate(
        block_meta=geyser_pb2.SubscribeUpdateBlockMeta(
            slot=1_124, block_time=solana_storage_pb2.UnixTimestamp(timestamp=1_700_000_000)
        )
    )
    created = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    path = tmp_path / "round.capture"
    with CaptureWriter(path, source="unit test", compression=compression, created_at=created) as writer:
        for update in updates:
            writer.write(update)
        writer.write(ping.SerializeToString())  # serialized bytes are accepted as they are
        writer.write(block_meta)
        assert writer.count == 502
    expected = [u.SerializeToString() for u in [*updates, ping, block_meta]]
    with CaptureReader(path) as reader:
        assert reader.header == CaptureHeader(1, "2025-06-01T12:30:00Z", "unit test", compression)
        assert list(reader) == expected
        assert reader.count == 502
    assert [u.SerializeToString() for u in iter_updates(path)] == expected
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_empty_capture_and_large_records(tmp_path: Path, compression: str | None) -> None:
    empty = write_capture(tmp_path / "empty.capture", [], compression)
    assert list(iter_updates(empty)) == []
    big = make_update(1)
    big.transaction.transaction.meta.log_messages.extend(["x" * 1000] * 3000)  # ~3 MB, several frames
    path = write_capture(tmp_path / "big.capture", [make_update(0), big, make_update(2)], compression)
    assert [u.SerializeToString() for u in iter_updates(path)] == [
        u.SerializeToString() for u in (make_update(0), big, make_update(2))
    ]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_same_input_gives_identical_bytes(tmp_path: Path, compression: str | None) -> None:
    created = datetime(2025, 1, 1, tzinfo=UTC)
    outputs = []
    for name in ("a.capture", "b.capture"):
        with CaptureWriter(tmp_path / name, source="sim", compression=compression, created_at=created) as writer:
            for n in range(300):
                writer.write(make_update(n))
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_half_written_capture_never_appears(tmp_path: Path) -> None:
    path = tmp_path / "atomic.capture"
    with CaptureWriter(path, source="test") as writer:
        writer.write(make_update(1))
        assert not path.exists()
        (partial,) = tmp_path.iterdir()
        assert partial.name.startswith(".atomic.capture.") and partial.name.endswith(".partial")
    assert path.exists() and list(tmp_path.iterdir()) == [path]

    old = path.read_bytes()
    with pytest.raises(RuntimeError):
        with CaptureWriter(path, source="test") as writer:
            writer.write(make_update(2))
            raise RuntimeError("recording failed")
    assert path.read_bytes() == old  # the earlier capture is untouched
    assert list(tmp_path.iterdir()) == [path]


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown capture compression 'lz4'"):
        CaptureWriter(tmp_path / "x.capture", source="t", compression="lz4")
    with CaptureWriter(tmp_path / "x.capture", source="t") as writer:
        with pytest.raises(ValueError, match="empty SubscribeUpdate"):
            writer.write(geyser_pb2.SubscribeUpdate())
    with pytest.raises(ValueError, match="closed"):
        writer.write(make_update(1))


class _GeneratedUpdates:
    """Yields ``count`` distinct serialized updates without keeping them: a template transaction
    plus a random 64-character ``filters`` entry (concatenated fields merge in protobuf)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.total_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        template = make_update(7).SerializeToString()
        rng = random.Random(7)
        for _ in range(self.count):
            raw = template + b"\x0a\x40" + rng.randbytes(32).hex().encode()
            self.total_bytes += len(raw)
            yield raw


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_streaming_uses_constant_memory(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "large.capture"
    generated = _GeneratedUpdates(50_000)
    with CaptureWriter(path, source="test", compression=compression) as writer:
        for raw in generated:
            writer.write(raw)
    assert generated.total_bytes > 15_000_000

    gc.collect()
    tracemalloc.start()
    try:
        with CaptureReader(path) as reader:
            records = iter(reader)
            assert not isinstance(records, (list, tuple))  # a lazy iterator, not a materialised list
            size = 0
            for raw in records:
                size += len(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.count == 50_000 and size == generated.total_bytes
    assert geyser_pb2.SubscribeUpdate.FromString(raw).filters[1] != ""  # the generated messages are real
    assert peak < 8_000_000, f"reading held {peak:,} bytes at once for a {size:,}-byte stream"


def test_reader_iterates_once(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "once.capture", [make_update(1)])
    with CaptureReader(path) as reader:
        assert len(list(reader)) == 1
        with pytest.raises(RuntimeError, match="only once"):
            iter(reader)


# --- damage ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot open capture: No such file or directory" in read_error(tmp_path / "absent.capture")


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "notes.capture"
    path.write_bytes(b"PK\x03\x04 this is a zip file, not a capture")
    assert "not a SolFlow capture (wrong magic" in read_error(path)
    path.write_bytes(b"")
    assert "not a SolFlow capture" in read_error(path)


def test_unsupported_version_and_compression(tmp_path: Path) -> None:
    data = bytearray(write_capture(tmp_path / "ok.capture", [make_update(1)]).read_bytes())
    newer = tmp_path / "newer.capture"
    newer.write_bytes(data[:10] + b"\x07" + data[11:])
    assert "unsupported capture format version 7 (this SolFlow reads version 1)" in read_error(newer)
    odd = tmp_path / "odd.capture"
    odd.write_bytes(data[:11] + b"\x09" + data[12:])
    assert "unknown compression code 9" in read_error(odd)


def test_malformed_header(tmp_path: Path) -> None:
    path = tmp_path / "header.capture"
    body = b"not json"
    path.write_bytes(MAGIC + struct.pack("<BBI", 1, 0, len(body)) + body + b"\x00\x00")
    assert "malformed header JSON" in read_error(path)
    path.write_bytes(MAGIC + struct.pack("<BBI", 1, 0, 500) + b"{}")
    assert "truncated header (2 of 500 JSON bytes)" in read_error(path)


def _stream_start(data: bytes) -> int:
    return 16 + struct.unpack_from("<I", data, 12)[0]


def _varint_size(value: int) -> int:
    return 1 if value < 0x80 else 1 + _varint_size(value >> 7)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_truncation_anywhere_is_reported(tmp_path: Path, compression: str | None) -> None:
    data = write_capture(tmp_path / "full.capture", [make_update(n) for n in range(5000)], compression).read_bytes()
    cut = tmp_path / "cut.capture"
    for keep in (len(data) - 1, len(data) - 3, len(data) // 2, _stream_start(data) + 3, _stream_start(data)):
        cut.write_bytes(data[:keep])
        message = read_error(cut)
        assert "truncated capture" in message, (keep, message)
        assert "after record" in message and "byte offset" in message, message


def test_truncation_names_record_and_file_offset(tmp_path: Path) -> None:
    updates = [make_update(n) for n in range(10)]
    data = write_capture(tmp_path / "full.capture", updates, None).read_bytes()
    sizes = [len(u.SerializeToString()) for u in updates]
    second = _stream_start(data) + _varint_size(sizes[0]) + sizes[0]  # where record 2 starts
    cut = tmp_path / "cut.capture"
    cut.write_bytes(data[: second + _varint_size(sizes[1]) + 4])  # record 2: its length and 4 bytes
    message = read_error(cut)
    assert f"record 2 is cut short by {sizes[1] - 4} bytes" in message
    assert f"after record 1, at byte offset {second} of the file" in message
    # Cut exactly between two records: only the missing end marker reveals it.
    cut.write_bytes(data[:second])
    assert f"the end marker is missing (after record 1, at byte offset {second} of the file)" in read_error(cut)


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_corrupt_compressed_stream_is_caught_before_use(tmp_path: Path, compression: str) -> None:
    data = write_capture(tmp_path / "ok.capture", [make_update(n) for n in range(5000)], compression).read_bytes()
    start = _stream_start(data)
    for offset in (start, start + 40, (start + len(data)) // 2, len(data) - 6):
        damaged = bytearray(data)
        damaged[offset] ^= 0x5A
        path = tmp_path / "damaged.capture"
        path.write_bytes(damaged)
        delivered = []
        with pytest.raises(CaptureError) as caught:
            for update in iter_updates(path):
                delivered.append(update.SerializeToString())
        assert str(caught.value).startswith(f"{path}: corrupt {compression} stream"), caught.value
        # Every record delivered before the error is intact: pieces are checked before use.
        assert delivered == [make_update(n).SerializeToString() for n in range(len(delivered))]


def test_record_that_is_not_a_subscribe_update(tmp_path: Path) -> None:
    path = tmp_path / "garbage.capture"
    with CaptureWriter(path, source="t", compression=None) as writer:
        writer.write(make_update(1))
        writer.write(b"\x0a\x7f only a few bytes")  # field 1, claims 127 bytes
    records = []
    with pytest.raises(
        CaptureError, match=r"record 2 at byte offset \d+ of the file does not parse as SubscribeUpdate"
    ):
        for update in iter_updates(path):
            records.append(update)
    assert len(records) == 1  # the good record before it was delivered


def test_trailing_data_and_wrong_count(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "ok.capture", [make_update(n) for n in range(3)], None)
    data = path.read_bytes()
    path.write_bytes(data + b"\x05hello")
    assert "unexpected data after the end marker" in read_error(path)
    path.write_bytes(data[:-1] + b"\x09")
    assert "end marker declares 9 records but 3 were read" in read_error(path)
    gz = write_capture(tmp_path / "gz.capture", [make_update(1)], "gzip")
    gz.write_bytes(gz.read_bytes() + b"junk")
    assert "corrupt gzip stream: unexpected data after the last gzip frame" in read_error(gz)


def test_oversized_length_claim(tmp_path: Path) -> None:
    path = tmp_path / "huge.capture"
    header = b'{"created_at":"2025-01-01T00:00:00Z","source":"t"}'
    huge_length = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F])  # varint 2^32 - 1
    path.write_bytes(MAGIC + struct.pack("<BBI", 1, 0, len(header)) + header + huge_length + b"abc")
    assert "claims 4294967295 bytes, more than the" in read_error(path)
