"""Combined account keys of a transaction (static keys, then loaded writable, then loaded read-only)
and base58 text for the keys a decoder outputs.

Every index in instructions, inner instructions and balances points into the combined list; the fee
payer is key 0. Text is produced only on demand and cached, because encoding is the costly part.
"""

from __future__ import annotations

from solders.pubkey import Pubkey

from solflow.domain.decode.errors import DecodeError

_TEXT_CACHE: dict[bytes, str] = {}
_TEXT_CACHE_LIMIT = 1 << 16


def pubkey_text(raw: bytes) -> str:
    """Base58 of a 32-byte key; recently seen keys (mints, pools, programs) come from a bounded cache."""
    text = _TEXT_CACHE.get(raw)
    if text is None:
        if len(raw) != 32:
            raise DecodeError(f"public key has {len(raw)} bytes, expected 32")
        if len(_TEXT_CACHE) >= _TEXT_CACHE_LIMIT:
            _TEXT_CACHE.clear()
        text = _TEXT_CACHE[raw] = str(Pubkey.from_bytes(raw))
    return text


class AccountKeys:
    __slots__ = ("raw",)

    def __init__(self, raw: list[bytes]) -> None:
        self.raw = raw  # message.account_keys + meta.loaded_writable_addresses + meta.loaded_readonly_addresses

    def __len__(self) -> int:
        return len(self.raw)

    def key(self, index: int) -> bytes:
        if index >= len(self.raw):
            raise DecodeError(f"account index {index} out of range ({len(self.raw)} keys)")
        return self.raw[index]

    def text(self, index: int) -> str:
        return pubkey_text(self.key(index))

    def account_text(self, accounts: bytes, position: int) -> str:
        """Text of the instruction's ``position``-th account (``accounts`` = one index byte per account)."""
        if position >= len(accounts):
            raise DecodeError(f"instruction has {len(accounts)} accounts, needs account #{position}")
        return self.text(accounts[position])
