"""SolFlow capture files: a versioned, streamable file of raw ``geyser.SubscribeUpdate`` messages.

Layout (``docs/capture-format.md``): magic ``SOLFLOWCAP``, format version (u8), compression code
(u8), header length (u32 LE) and a UTF-8 JSON header, all uncompressed; then the record stream --
``varint length + message bytes`` per record, closed by an end marker ``varint 0 + varint record
count``. The stream is stored as is, or cut into pieces of about 1 MiB each compressed as one zstd
frame (with content checksum) or one gzip member (CRC-32): the reader checks each piece before
yielding any record from it, and memory stays bounded by the piece size. The end marker and the
compressed formats' own end checks make every truncation detectable, even one that falls on a
record boundary.

``CaptureWriter`` writes under a hidden temporary name and renames on close, so a half-written
capture never looks complete; ``CaptureReader`` and ``iter_updates`` stream in constant memory.
Every problem with a file is a ``CaptureError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import zstandard
from google.protobuf.message import DecodeError

from protos import geyser_pb2

MAGIC = b"SOLFLOWCAP"
FORMAT_VERSION = 1
COMPRESSIONS: dict[str | None, int] = {None: 0, "gzip": 1, "zstd": 2}
MAX_RECORD_BYTES = 256 << 20  # far above any Yellowstone message; a larger claim means corruption
_COMPRESSION_NAMES = {code: name for name, code in COMPRESSIONS.items()}
_MAX_HEADER_BYTES = 1 << 20
_PREFIX = struct.Struct("<10sBBI")  # magic, version, compression code, header length
_CHUNK = 1 << 20  # writer flush size = compressed frame size; plain read size
_MAX_FRAME_BYTES = MAX_RECORD_BYTES + 2 * _CHUNK  # more than the writer ever puts in one frame
_COMPRESSED_READ = 1 << 16
_MAX_VARINT = 10
_GZIP_WBITS = 31  # zlib: gzip container
_FRAME_MAGIC = {"zstd": b"\x28\xb5\x2f\xfd", "gzip": b"\x1f\x8b"}


class CaptureError(ValueError):
    """A capture file is missing, malformed, truncated or corrupt; the message names the file."""


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    version: int
    created_at: str  # ISO 8601, UTC
    source: str
    compression: str | None  # "zstd" | "gzip" | None


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _compression_name(compression: str | None) -> str | None:
    name = None if compression in (None, "none") else compression
    if name not in COMPRESSIONS:
        raise ValueError(f"unknown capture compression {compression!r}: use 'zstd', 'gzip' or None")
    return name


class CaptureWriter:
    """Writes ``SubscribeUpdate``s (messages or their serialized bytes) to a capture file.

    >>> with CaptureWriter("out.capture", source="simulator") as writer:  # doctest: +SKIP
    ...     writer.write(update)

    The file appears under ``path`` only when the writer closes without an exception; on an
    exception the temporary file is removed. ``created_at`` defaults to now; pass a fixed time for
    byte-identical output (the format has no other time-dependent byte).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: str,
        compression: str | None = "zstd",
        created_at: datetime | None = None,
    ) -> None:
        self.compression = _compression_name(compression)
        self.path = Path(path)
        self.count = 0
        self._temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        when = (created_at or datetime.now(UTC)).astimezone(UTC)
        header = json.dumps(
            {"created_at": when.isoformat().replace("+00:00", "Z"), "source": source},
            separators=(",", ":"),
        ).encode()
        self._zstd = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
        self._pending = bytearray()
        self._file: BinaryIO = open(self._temp, "wb")
        self._open = True
        self._file.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, COMPRESSIONS[self.compression], len(header)) + header)

    def write(self, update: geyser_pb2.SubscribeUpdate | bytes) -> None:
        if not self._open:
            raise ValueError(f"{self.path}: capture writer is closed")
        payload = update if isinstance(update, (bytes, bytearray, memoryview)) else update.SerializeToString()
        size = len(payload)
        if size == 0:
            raise ValueError("an empty SubscribeUpdate carries nothing and cannot be captured")
        if size > MAX_RECORD_BYTES:
            raise ValueError(f"update of {size} bytes exceeds the capture limit of {MAX_RECORD_BYTES} bytes")
        pending = self._pending
        pending += encode_varint(size)
        pending += payload
        self.count += 1
        if len(pending) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        data = bytes(self._pending)
        self._pending.clear()
        if self.compression == "zstd":
            self._file.write(self._zstd.compress(data))
        elif self.compression == "gzip":
            member = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
            self._file.write(member.compress(data) + member.flush())
        else:
            self._file.write(data)

    def close(self) -> None:
        """Write the end marker and move the file into place (idempotent)."""
        if not self._open:
            return
        self._open = False
        try:
            self._pending += b"\x00" + encode_varint(self.count)
            self._flush()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._temp, self.path)
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Drop everything written; ``path`` is left untouched."""
        if self._open:
            self._open = False
            self._discard()

    def _discard(self) -> None:
        try:
            self._file.close()
        finally:
            self._temp.unlink(missing_ok=True)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class CaptureReader:
    """Reads a capture file: ``.header`` at once, then iterate (once) for raw message bytes.

    >>> with CaptureReader("data/sample.capture") as reader:  # doctest: +SKIP
    ...     for raw in reader:
    ...         update = geyser_pb2.SubscribeUpdate.FromString(raw)

    ``count`` is the number of records yielded so far.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.count = 0
        self._record_offset = 0  # record-stream offset of the record last yielded
        self._started = False
        self._stream_complete = False  # the compressed container ended properly
        try:
            self._file: BinaryIO = open(self.path, "rb")
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot open capture: {exc.strerror or exc}") from None
        try:
            self.header = self._read_header()
        except BaseException:
            self._file.close()
            raise

    def _fail(self, problem: str) -> CaptureError:
        return CaptureError(f"{self.path}: {problem}")

    def _read_header(self) -> CaptureHeader:
        prefix = self._file.read(_PREFIX.size)
        if not prefix.startswith(MAGIC):
            raise self._fail(f"not a SolFlow capture (wrong magic {prefix[: len(MAGIC)]!r}, expected {MAGIC!r})")
        if len(prefix) < _PREFIX.size:
            raise self._fail(f"truncated header ({len(prefix)} of {_PREFIX.size} bytes)")
        _, version, code, header_len = _PREFIX.unpack(prefix)
        if version != FORMAT_VERSION:
            raise self._fail(
                f"unsupported capture format version {version} (this SolFlow reads version {FORMAT_VERSION})"
            )
        if code not in _COMPRESSION_NAMES:
            raise self._fail(f"unknown compression code {code} (known: 0 none, 1 gzip, 2 zstd)")
        if header_len > _MAX_HEADER_BYTES:
            raise self._fail(f"header claims {header_len} bytes, more than {_MAX_HEADER_BYTES} (corrupt file?)")
        raw = self._file.read(header_len)
        if len(raw) < header_len:
            raise self._fail(f"truncated header ({len(raw)} of {header_len} JSON bytes)")
        try:
            fields = json.loads(raw)
            created_at, source = fields["created_at"], fields["source"]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._fail(f"malformed header JSON ({exc.__class__.__name__}: {exc})") from None
        if not isinstance(created_at, str) or not isinstance(source, str):
            raise self._fail("malformed header JSON (created_at and source must be strings)")
        self._stream_start = _PREFIX.size + header_len
        return CaptureHeader(FORMAT_VERSION, created_at, source, _COMPRESSION_NAMES[code])

    def _where(self, offset: int) -> str:
        if self.header.compression is None:
            return f"byte offset {self._stream_start + offset} of the file"
        return f"byte offset {offset} of the decompressed record stream"

    # Chunk sources: yield the record stream in pieces of bounded size; ``_stream_complete`` says
    # whether the container ended properly (False: the file was cut inside it).

    def _plain_chunks(self) -> Iterator[bytes]:
        read = self._file.read
        while chunk := read(_CHUNK):
            yield chunk
        self._stream_complete = True

    def _gzip_chunks(self) -> Iterator[bytes]:
        yield from self._frames("gzip", lambda: zlib.decompressobj(_GZIP_WBITS), zlib.error)

    def _zstd_chunks(self) -> Iterator[bytes]:
        decompressor = zstandard.ZstdDecompressor()
        yield from self._frames("zstd", decompressor.decompressobj, zstandard.ZstdError)

    def _frames(self, compression: str, new_frame: Callable[[], Any], error: type[Exception]) -> Iterator[bytes]:
        """Whole zstd frames / gzip members, each checked (checksum, length) before any of it is used."""
        read = self._file.read
        magic = _FRAME_MAGIC[compression]
        data = read(_COMPRESSED_READ)
        first = True
        while data:
            if len(data) < len(magic):
                data += read(_COMPRESSED_READ)
            if not data.startswith(magic) and not magic.startswith(data):
                what = "the record stream does not start with" if first else "unexpected data after the last"
                raise self._fail(f"corrupt {compression} stream: {what} {compression} frame")
            first = False
            frame = new_frame()
            parts = []
            size = 0
            while not frame.eof:
                if not data:
                    data = read(_COMPRESSED_READ)
                    if not data:
                        return  # cut inside a frame: its unchecked content is not used
                try:
                    chunk = frame.decompress(data)
                except error as exc:
                    raise self._fail(f"corrupt {compression} stream after record {self.count} ({exc})") from None
                data = frame.unused_data if frame.eof else b""
                parts.append(chunk)
                size += len(chunk)
                if size > _MAX_FRAME_BYTES:
                    raise self._fail(
                        f"corrupt {compression} stream after record {self.count} (a frame exceeds {_MAX_FRAME_BYTES} bytes)"
                    )
            yield b"".join(parts)
            data = data or read(_COMPRESSED_READ)
        self._stream_complete = True

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            raise RuntimeError(f"{self.path}: a CaptureReader can be iterated only once")
        self._started = True
        return self._records()

    def _records(self) -> Iterator[bytes]:
        compression = self.header.compression
        source = (
            self._zstd_chunks()
            if compression == "zstd"
            else self._gzip_chunks()
            if compression == "gzip"
            else self._plain_chunks()
        )
        data = b""
        pos = 0
        base = 0  # record-stream offset of data[0]
        while True:
            if len(data) - pos < _MAX_VARINT:
                parts = [data[pos:]] if pos < len(data) else []
                have = len(data) - pos
                for chunk in source:
                    parts.append(chunk)
                    have += len(chunk)
                    if have >= _MAX_VARINT:
                        break
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                base += pos
                pos = 0
            if pos >= len(data):
                raise self._truncated(base + pos, "the end marker is missing")
            length = data[pos]
            start = pos + 1
            if length >= 0x80:
                length, start = self._long_varint(data, pos, base)
            if length == 0:
                self._finish(data, start, base, source)
                return
            if length > MAX_RECORD_BYTES:
                raise self._fail(
                    f"record {self.count + 1} at {self._where(base + pos)} claims {length} bytes, "
                    f"more than the {MAX_RECORD_BYTES}-byte limit (corrupt capture?)"
                )
            end = start + length
            if end > len(data):
                # The record runs into the next chunk(s): only the record is assembled, and reading goes
                # on inside the chunk where it ends (joining the chunks would copy the stream once more).
                record_at = base + pos
                pieces = [data[start:]]
                missing = end - len(data)
                base += len(data)
                for chunk in source:
                    if len(chunk) >= missing:
                        pieces.append(chunk[:missing])
                        data, pos = chunk, missing
                        break
                    pieces.append(chunk)
                    missing -= len(chunk)
                    base += len(chunk)
                else:
                    raise self._truncated(record_at, f"record {self.count + 1} is cut short by {missing} bytes")
                self._record_offset = record_at
                self.count += 1
                yield b"".join(pieces)
                continue
            self._record_offset = base + pos
            self.count += 1
            yield data[start:end]
            pos = end

    def _long_varint(self, data: bytes, pos: int, base: int) -> tuple[int, int]:
        value = 0
        shift = 0
        for i in range(pos, min(pos + _MAX_VARINT, len(data))):
            byte = data[i]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, i + 1
            shift += 7
        if len(data) - pos < _MAX_VARINT:
            raise self._truncated(base + pos, f"the length of record {self.count + 1} is cut short")
        raise self._fail(f"malformed record length at {self._where(base + pos)} (corrupt capture?)")

    def _finish(self, data: bytes, start: int, base: int, source: Iterator[bytes]) -> None:
        """Check the end marker's record count, that nothing follows it, and that the container ended."""
        if start >= len(data):
            raise self._truncated(base + start, "the end marker's record count is missing")
        declared, end = self._long_varint(data, start, base)
        if declared != self.count:
            raise self._fail(f"end marker declares {declared} records but {self.count} were read (corrupt capture?)")
        if end < len(data) or next(source, b""):
            raise self._fail(f"unexpected data after the end marker at {self._where(base + end)}")
        if not self._stream_complete:
            raise self._truncated(base + end, f"the {self.header.compression} stream is cut short after the end marker")

    def _truncated(self, offset: int, detail: str) -> CaptureError:
        return self._fail(f"truncated capture: {detail} (after record {self.count}, at {self._where(offset)})")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def check_capture(path: str | os.PathLike[str]) -> int:
    """Read the whole file once, checking its framing, checksums and end marker (a few ms per MB);
    returns the record count, or raises the ``CaptureError`` a replay would meet midway."""
    with CaptureReader(path) as reader:
        for _ in reader:
            pass
        return reader.count


def iter_updates(path: str | os.PathLike[str]) -> Iterator[geyser_pb2.SubscribeUpdate]:
    """Yield every update of a capture, parsed; a record that is not a ``SubscribeUpdate`` is a ``CaptureError``."""
    parse = geyser_pb2.SubscribeUpdate.FromString
    with CaptureReader(path) as reader:
        for raw in reader:
            try:
                update = parse(raw)
            except DecodeError as exc:
                raise CaptureError(
                    f"{reader.path}: record {reader.count} at {reader._where(reader._record_offset)} "
                    f"does not parse as SubscribeUpdate ({exc})"
                ) from None
            yield update
