"""build_transaction: one transaction of a chosen program and shape, for tests.

Each kind sets up the market it needs (a pool, a funded wallet holding the token, an open DCA order)
on a fresh simulated chain, then builds exactly that transaction.
"""

from __future__ import annotations

KINDS: dict[str, tuple[str, ...]] = {}


def build_transaction(program: str, kind: str, **params):  # placeholder until the kinds land
    raise NotImplementedError
