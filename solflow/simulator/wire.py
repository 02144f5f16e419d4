"""Protobuf wire encoding of the messages the simulator writes, by hand.

A simulated transaction is mostly bytes and strings it already holds (keys, instruction data, log
lines); encoding them directly is several times cheaper than building protobuf objects field by
field. Field numbers are those of `protos/geyser.proto` and `protos/solana_storage.proto`; numeric
arrays still go through the protobuf runtime, which packs them in C.
"""

from __future__ import annotations

import struct

_DOUBLE = struct.Struct("<d")
# Varints of 0 … 16,383, precomputed: every length, index and stack height the simulator writes is one.
SMALL = [bytes((n,)) if n < 128 else bytes((n & 0x7F | 0x80, n >> 7)) for n in range(16_384)]


def varint(value: int) -> bytes:
    if value < 16_384:
        return SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(field_tag: bytes, payload: bytes) -> bytes:
    return field_tag + varint(len(payload)) + payload


def repeated_bytes(field_tag: bytes, items) -> bytes:
    return b"".join(field_tag + varint(len(item)) + item for item in items)


def double(field_tag: bytes, value: float) -> bytes:
    return field_tag + _DOUBLE.pack(value)
