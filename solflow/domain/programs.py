"""The five tracked programs, their ids and the names used in each output."""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

WSOL_MINT = "So11111111111111111111111111111111111111112"
SOL_DECIMALS = 9


@dataclass(frozen=True, slots=True)
class Program:
    name: str  # SolFlow's name: TradeEvent.program, partition and JSONL directory names
    program_id: str
    legacy_name: str  # the original system's program_name in the legacy JSONL line

    @property
    def id_bytes(self) -> bytes:
        return bytes(Pubkey.from_string(self.program_id))


PUMPSWAP = Program("pumpswap", "pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA", "PumpSwap")
PUMPFUN = Program("pumpfun", "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P", "PumpFun")
LAUNCHLAB = Program("launchlab", "LanMV9sAd7wArD4vJFi2qDdfnVhFxYSUg6eADduJ3uj", "BonkSwap")
MOONSHOT = Program("moonshot", "MoonCVVNZFSYkqNXP6bxHLPL6QQJiMagDL3qcqUQTrG", "Moonshot")
JUPITER_DCA = Program("jupiter_dca", "DCA265Vj8a9CEuX1eb1LWRnDT7uK6q1xMipnNyatn23M", "JupiterDCA")

PROGRAMS: tuple[Program, ...] = (PUMPSWAP, PUMPFUN, LAUNCHLAB, MOONSHOT, JUPITER_DCA)
BY_NAME: dict[str, Program] = {p.name: p for p in PROGRAMS}
BY_ID: dict[str, Program] = {p.program_id: p for p in PROGRAMS}
PROGRAM_NAMES: tuple[str, ...] = tuple(p.name for p in PROGRAMS)
