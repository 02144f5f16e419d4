"""The one table of program decoders, keyed by SolFlow program name. Adding a program = adding a row."""

from __future__ import annotations

from solflow.domain.decode import jupiter_dca, launchlab, moonshot, pumpfun, pumpswap
from solflow.domain.decode.context import ProgramDecoder

DECODERS: dict[str, ProgramDecoder] = {
    module.DECODER.program.name: module.DECODER for module in (pumpswap, pumpfun, launchlab, moonshot, jupiter_dca)
}
