"""A small Borsh reader for Anchor event payloads: fixed-width little-endian fields, strings, skips.

Hot fixed-size prefixes are better read with one precompiled ``struct.Struct``; this reader covers the
variable-length tails (strings, vectors) and the optional fields newer layouts appended.
"""

from __future__ import annotations

import struct

from solflow.decode.errors import DecodeError

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


class BorshReader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, size: int) -> int:
        start = self.pos
        end = start + size
        if end > len(self.data):
            raise DecodeError(f"event payload truncated: need {size} bytes at offset {start}, have {len(self.data) - start}")
        self.pos = end
        return start

    def u8(self) -> int:
        return self.data[self._take(1)]

    def bool(self) -> bool:
        value = self.u8()
        if value > 1:
            raise DecodeError(f"invalid bool byte {value} at offset {self.pos - 1}")
        return value == 1

    def u16(self) -> int:
        return _U16.unpack_from(self.data, self._take(2))[0]

    def u32(self) -> int:
        return _U32.unpack_from(self.data, self._take(4))[0]

    def u64(self) -> int:
        return _U64.unpack_from(self.data, self._take(8))[0]

    def i64(self) -> int:
        return _I64.unpack_from(self.data, self._take(8))[0]

    def pubkey(self) -> bytes:
        start = self._take(32)
        return self.data[start : start + 32]

    def string(self) -> str:
        size = self.u32()
        start = self._take(size)
        return self.data[start : start + size].decode("utf-8", errors="replace")

    def skip(self, size: int) -> None:
        self._take(size)

    def skip_vec(self, item_size: int) -> None:
        self._take(self.u32() * item_size)

    def unpack(self, layout: struct.Struct) -> tuple:
        return layout.unpack_from(self.data, self._take(layout.size))
