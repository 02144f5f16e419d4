"""What a token's on-chain accounts say about it: the mint account (supply, decimals, and for
Token-2022 mints the metadata extension) and the Metaplex metadata account (name, symbol, uri).

Read with JSON-RPC ``getMultipleAccounts`` (``sources.solana_rpc``) for mints whose creation SolFlow
did not see. Layouts:

* SPL mint (Token and Token-2022, first 82 bytes): ``mint_authority`` COption<Pubkey> (36),
  ``supply`` u64 at 36, ``decimals`` u8 at 44, ``is_initialized`` bool at 45, ``freeze_authority``
  (36). A Token-2022 mint with extensions continues after byte 165 with the account type (1 = mint)
  and TLV entries ``type u16, length u16, value``; type 19 is ``TokenMetadata``: update authority
  (32), mint (32), then Borsh strings name, symbol, uri.
* Metaplex ``Metadata`` (program ``metaqbxx…``, address ``PDA("metadata", program, mint)``): key u8
  (4 = MetadataV1), update authority (32), mint (32), then Borsh strings name, symbol, uri (older
  tokens pad them with NUL bytes to 32, 10 and 200 bytes; the padding is stripped).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

METADATA_PROGRAM_ID = "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s"
_METADATA_PROGRAM = Pubkey.from_string(METADATA_PROGRAM_ID)
_METADATA_V1 = 4
_MINT_SIZE = 82
_MINT_EXTENSIONS_AT = 165  # Token-2022: account type byte, then TLV entries
_ACCOUNT_TYPE_MINT = 1
_TOKEN_METADATA_EXTENSION = 19
_MAX_TEXT = 1024  # longer strings are not metadata


class AccountLayoutError(ValueError):
    """Account data that does not have the expected layout."""


@dataclass(frozen=True, slots=True)
class TokenAccountFacts:
    """What the mint and metadata accounts of one token said at ``slot`` (None: not said)."""

    mint: str
    slot: int
    name: str | None = None
    symbol: str | None = None
    uri: str | None = None
    decimals: int | None = None
    supply: int | None = None


def metadata_address(mint: str) -> str:
    """The Metaplex metadata account of ``mint``."""
    seeds = [b"metadata", bytes(_METADATA_PROGRAM), bytes(Pubkey.from_string(mint))]
    address, _bump = Pubkey.find_program_address(seeds, _METADATA_PROGRAM)
    return str(address)


@dataclass(frozen=True, slots=True)
class MintAccount:
    supply: int
    decimals: int
    name: str | None  # from a Token-2022 metadata extension
    symbol: str | None
    uri: str | None


def parse_mint(data: bytes) -> MintAccount:
    """An SPL (or Token-2022) mint account's supply and decimals, and its metadata extension if any."""
    if len(data) < _MINT_SIZE:
        raise AccountLayoutError(f"a mint account has at least {_MINT_SIZE} bytes, this one {len(data)}")
    supply, decimals, initialized = struct.unpack_from("<QBB", data, 36)
    if not initialized:
        raise AccountLayoutError("the mint account is not initialized")
    name = symbol = uri = None
    if len(data) > _MINT_EXTENSIONS_AT and data[_MINT_EXTENSIONS_AT] == _ACCOUNT_TYPE_MINT:
        extension = _find_extension(data, _TOKEN_METADATA_EXTENSION)
        if extension is not None:
            name, symbol, uri = _texts(extension, 64, 3)
    return MintAccount(supply, decimals, name, symbol, uri)


def parse_metaplex(data: bytes) -> tuple[str, str, str]:
    """(name, symbol, uri) of a Metaplex metadata account."""
    if not data or data[0] != _METADATA_V1:
        raise AccountLayoutError("not a Metaplex MetadataV1 account")
    name, symbol, uri = _texts(data, 65, 3)
    return name, symbol, uri


def account_facts(mint: str, slot: int, mint_data: bytes | None, metadata_data: bytes | None) -> TokenAccountFacts:
    """The facts of one token from its two accounts' data (None: the account does not exist); a
    malformed account contributes nothing."""
    decimals = supply = None
    name = symbol = uri = None
    if mint_data is not None:
        try:
            parsed = parse_mint(mint_data)
        except AccountLayoutError:
            pass
        else:
            decimals, supply = parsed.decimals, parsed.supply
            name, symbol, uri = parsed.name, parsed.symbol, parsed.uri
    if metadata_data is not None:
        try:
            name, symbol, uri = parse_metaplex(metadata_data)
        except AccountLayoutError:
            pass
    return TokenAccountFacts(mint, slot, name or None, symbol or None, uri or None, decimals, supply)


def _find_extension(data: bytes, wanted: int) -> bytes | None:
    at = _MINT_EXTENSIONS_AT + 1
    while at + 4 <= len(data):
        kind, length = struct.unpack_from("<HH", data, at)
        at += 4
        if kind == 0 and length == 0:  # uninitialized space
            return None
        if kind == wanted:
            return data[at : at + length]
        at += length
    return None


def _texts(data: bytes, at: int, count: int) -> list[str]:
    texts = []
    for _ in range(count):
        if at + 4 > len(data):
            raise AccountLayoutError("account data ends inside a string length")
        (length,) = struct.unpack_from("<I", data, at)
        at += 4
        if length > _MAX_TEXT or at + length > len(data):
            raise AccountLayoutError(f"string of {length} bytes does not fit the account data")
        texts.append(data[at : at + length].decode("utf-8", errors="replace").rstrip("\x00").strip())
        at += length
    return texts
