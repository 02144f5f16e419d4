"""A small Borsh reader for Anchor event payloads: fixed layouts via ``struct``, strings, skips.

Events grew by appending fields, so decoders read a fixed prefix with one precompiled
``struct.Struct`` and then, while ``remaining`` says more is there, the newer tail.
"""

from __future__ import annotations

import struct

from solflow.domain.decode.errors import DecodeError

_U32 = struct.Struct("<I")


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
            have = len(self.data) - start
            raise DecodeError(f"event payload truncated: need {size} bytes at offset {start}, have {have}")
        self.pos = end
        return start

    def unpack(self, layout: struct.Struct) -> tuple:
        return layout.unpack_from(self.data, self._take(layout.size))

    def pubkey(self) -> bytes:
        start = self._take(32)
        return self.data[start : start + 32]

    def string(self) -> str:
        size = self._u32()
        start = self._take(size)
        return self.data[start : start + size].decode("utf-8", errors="replace")

    def skip(self, size: int) -> None:
        self._take(size)

    def skip_vec(self, item_size: int) -> None:
        self._take(self._u32() * item_size)

    def _u32(self) -> int:
        return _U32.unpack_from(self.data, self._take(4))[0]
