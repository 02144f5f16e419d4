"""Deterministic market simulator producing realistic SubscribeUpdate transactions.

`simulate(transactions, seed)` yields a chronological Yellowstone stream — transactions of the five
tracked programs, each slot closed by its block meta and a slot status update — and, with every
transaction, the trades a correct decoder must find in it (`SimulatedUpdate.expected`, as
`TradeEvent`s). `build_transaction(program, kind)` builds one transaction of a given shape for tests.
Everything is a pure function of the seed: no clock, no global randomness, no I/O.

    >>> from solflow.simulator import simulate
    >>> updates = list(simulate(50, seed=7))
    >>> sum(1 for u in updates if u.update.HasField("transaction"))
    50
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from solflow.domain.programs import PROGRAM_NAMES
from solflow.simulator.market import TRANSACTIONS_PER_SLOT, Market, SimulatedUpdate
from solflow.simulator.single import KINDS, build_transaction

__all__ = ["KINDS", "SimulatedUpdate", "build_transaction", "simulate"]


def simulate(
    transactions: int,
    seed: int,
    start_time: int = 1_764_000_000,
    programs: Iterable[str] = PROGRAM_NAMES,
    *,
    transactions_per_slot: float = TRANSACTIONS_PER_SLOT,
) -> Iterator[SimulatedUpdate]:
    """`transactions` transaction updates (plus block meta and slot updates) of a market seeded by `seed`.

    Slots are 400 ms apart from `start_time` (unix seconds) and carry `transactions_per_slot`
    transactions on average, plus the bursts of scripted episodes.
    """
    if transactions < 0:
        raise ValueError("transactions must not be negative")
    if transactions_per_slot <= 0:
        raise ValueError("transactions_per_slot must be positive")
    market = Market(
        seed,
        start_time,
        tuple(dict.fromkeys(programs)),
        scale=transactions,
        transactions_per_slot=transactions_per_slot,
    )
    return market.run(transactions)
