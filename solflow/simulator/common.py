"""What every program's trade builder shares: assets, outcomes, routing and fee arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from solflow.simulator import events, keys
from solflow.simulator.tx import LOG_LIMIT_BYTES, TxBuilder

Outcome = Literal["ok", "failed", "unknown_event", "truncated_log"]

# An event name no tracked program's IDL defines: a decoder sees an unknown discriminator.
UNKNOWN_EVENT = events.discriminator("TradeEventV3")


@dataclass(frozen=True, slots=True)
class Asset:
    """A token: its mint, decimals, token program and (Token-2022) transfer fee."""

    mint: bytes
    decimals: int
    program: bytes  # SPL Token or Token-2022
    transfer_fee_bps: int = 0  # Token-2022 transfer-fee extension: withheld from what arrives

    def withheld(self, amount: int) -> int:
        return fee(amount, self.transfer_fee_bps) if self.transfer_fee_bps else 0

    @property
    def is_sol(self) -> bool:
        return self.mint == keys.WSOL


SOL = Asset(keys.WSOL, 9, keys.TOKEN_PROGRAM)
USDC = Asset(keys.USDC, 6, keys.TOKEN_PROGRAM)


def fee(amount: int, basis_points: int) -> int:
    """A fee in raw units, rounded up as the programs do."""
    return -(-amount * basis_points // 10_000)


def enter_venue(
    b: TxBuilder,
    program: bytes,
    accounts: tuple[bytes, ...],
    roles: str,
    data: bytes,
    via: bytes | None,
    router_log: str,
) -> None:
    """Invoke a DEX instruction directly, or through a router's top-level instruction that CPIs it."""
    if via is not None:
        b.enter(via, accounts + (program,), roles + "r", _router_data(b, data))
        b.log(router_log)
        b.enter(program, accounts, "", data)
    else:
        b.enter(program, accounts, roles, data)


def exit_venue(b: TxBuilder, own_units: int, via: bytes | None) -> None:
    b.exit(own_units)
    if via is not None:
        b.exit(b.world.rng.randrange(8_000, 20_000))


def _router_data(b: TxBuilder, inner_data: bytes) -> bytes:
    # Routers carry their own 8-byte method tag and usually re-encode the amounts they forward.
    return b.world.rng.randbytes(8) + inner_data[8:]


def event_bytes(event: bytes, outcome: Outcome) -> bytes:
    """The event as emitted; an `unknown_event` outcome swaps in a discriminator nobody knows."""
    return UNKNOWN_EVENT + event[8:] if outcome == "unknown_event" else event


def fill_logs(b: TxBuilder, program: bytes, room: int) -> None:
    """A top-level instruction of a chatty program that leaves only `room` bytes of the log budget."""
    b.enter(program, (), "", b"\x00")
    message = "route step ok; " * 8
    line_bytes = len("Program log: ") + len(message)
    while b.log_bytes + line_bytes < LOG_LIMIT_BYTES - room:
        b.log(message)
    b.exit(b.world.rng.randrange(5_000, 9_000))
