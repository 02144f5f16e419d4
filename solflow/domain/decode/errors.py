"""DecodeError: the one exception decoders raise for malformed input; the decoder counts it."""

from __future__ import annotations


class DecodeError(ValueError):
    """Input that cannot be decoded: truncated event bytes, bad account index, bad token amount."""
