"""Addresses the simulator uses: well-known program ids, program PDAs, and deterministic fresh keys.

Fresh keys (wallets, mints, pools, token accounts) are SHA-256 digests of the seed and a label, so a
key never depends on how much randomness was drawn before it and the same seed gives the same chain.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from solders.pubkey import Pubkey

from solflow.domain.programs import JUPITER_DCA, LAUNCHLAB, MOONSHOT, PUMPFUN, PUMPSWAP, WSOL_MINT


def key(address: str) -> bytes:
    return bytes(Pubkey.from_string(address))


@lru_cache(maxsize=1 << 17)
def b58(raw: bytes) -> str:
    return str(Pubkey.from_bytes(raw))


@lru_cache(maxsize=1 << 16)
def pda(program: bytes, *seeds: bytes) -> bytes:
    return bytes(Pubkey.find_program_address(list(seeds), Pubkey.from_bytes(program))[0])


SYSTEM_PROGRAM = key("11111111111111111111111111111111")
TOKEN_PROGRAM = key("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = key("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ATA_PROGRAM = key("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
COMPUTE_BUDGET_PROGRAM = key("ComputeBudget111111111111111111111111111111")
RENT_SYSVAR = key("SysvarRent111111111111111111111111111111111")
INSTRUCTIONS_SYSVAR = key("Sysvar1nstructions1111111111111111111111111")
METAPLEX_PROGRAM = key("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")
PUMP_FEE_PROGRAM = key("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ")
JUPITER_V6_PROGRAM = key("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
PHOTON_ROUTER_PROGRAM = key("BSfD6SHZigAfDWSjzD5Q41jw8LmKwtmjskPH9XW1mrRW")

WSOL = key(WSOL_MINT)
USDC = key("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")

JITO_TIP_ACCOUNTS = tuple(
    key(a)
    for a in (
        "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",
        "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
        "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY",
        "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
        "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh",
        "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
        "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL",
        "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
    )
)

PUMPFUN_PROGRAM = PUMPFUN.id_bytes
PUMPSWAP_PROGRAM = PUMPSWAP.id_bytes
LAUNCHLAB_PROGRAM = LAUNCHLAB.id_bytes
MOONSHOT_PROGRAM = MOONSHOT.id_bytes
DCA_PROGRAM = JUPITER_DCA.id_bytes

EVENT_AUTHORITY_SEED = b"__event_authority"
PUMPFUN_GLOBAL = pda(PUMPFUN_PROGRAM, b"global")
PUMPFUN_EVENT_AUTHORITY = pda(PUMPFUN_PROGRAM, EVENT_AUTHORITY_SEED)
PUMPFUN_MINT_AUTHORITY = pda(PUMPFUN_PROGRAM, b"mint-authority")
PUMPFUN_GLOBAL_VOLUME = pda(PUMPFUN_PROGRAM, b"global_volume_accumulator")
PUMPFUN_FEE_CONFIG = pda(PUMP_FEE_PROGRAM, b"fee_config", PUMPFUN_PROGRAM)
PUMPSWAP_GLOBAL_CONFIG = pda(PUMPSWAP_PROGRAM, b"global_config")
PUMPSWAP_EVENT_AUTHORITY = pda(PUMPSWAP_PROGRAM, EVENT_AUTHORITY_SEED)
PUMPSWAP_GLOBAL_VOLUME = pda(PUMPSWAP_PROGRAM, b"global_volume_accumulator")
PUMPSWAP_FEE_CONFIG = pda(PUMP_FEE_PROGRAM, b"fee_config", PUMPSWAP_PROGRAM)
LAUNCHLAB_AUTHORITY = pda(LAUNCHLAB_PROGRAM, b"vault_auth_seed")
LAUNCHLAB_EVENT_AUTHORITY = pda(LAUNCHLAB_PROGRAM, EVENT_AUTHORITY_SEED)
DCA_EVENT_AUTHORITY = pda(DCA_PROGRAM, EVENT_AUTHORITY_SEED)


class Keyring:
    """Deterministic fresh keys for one simulated chain, plus cached token-account addresses."""

    def __init__(self, seed: int):
        self._prefix = b"solflow-sim/" + str(seed).encode() + b"/"
        self._atas: dict[tuple[bytes, bytes], bytes] = {}

    def fresh(self, label: str) -> bytes:
        return hashlib.sha256(self._prefix + label.encode()).digest()

    def ata(self, owner: bytes, mint: bytes, token_program: bytes) -> bytes:
        """The associated token account of (owner, mint): a real ATA derivation, cached."""
        pair = (owner, mint)
        found = self._atas.get(pair)
        if found is None:
            found = pda(ATA_PROGRAM, owner, token_program, mint)
            self._atas[pair] = found
        return found
