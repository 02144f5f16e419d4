"""Balance changes of one transaction: token deltas by (owner, mint), lamport deltas, mint decimals.

Token changes are summed per (owner, mint) over the pre (negative) and post (positive) balances, so
an account that appears only before (closed) or only after (created) counts, and list positions
never matter. Amounts are the raw integer strings; an amount beyond u64 or decimals outside 0-18
are a ``DecodeError``. Reading balance entries is the costly part of a
decode, so callers name the mints (and owners) they need and only those entries are read.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from solflow.domain.decode.errors import DecodeError

TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
# SPL mints store decimals in a u8, and no real mint uses more than 18; anything else is corrupt
# input (and 10**decimals of a huge value would never finish computing).
MAX_DECIMALS = 18
U64_MAX = 2**64 - 1


class TokenBalances:
    __slots__ = ("deltas", "decimals", "_first_entry")

    def __init__(self, meta: Any, mints: Collection[str] | None = None, owners: Collection[str] | None = None) -> None:
        """Changes of ``mints`` held by ``owners`` (None = all); decimals of every listed mint seen."""
        deltas: dict[tuple[str, str], int] = {}
        decimals: dict[str, int] = {}
        first_entry: dict[str, Any] = {}
        for sign, balances in ((-1, meta.pre_token_balances), (1, meta.post_token_balances)):
            for balance in balances:
                mint = balance.mint
                if mints is not None and mint not in mints:
                    continue
                if mint not in first_entry:
                    first_entry[mint] = balance
                    places = balance.ui_token_amount.decimals
                    if not 0 <= places <= MAX_DECIMALS:
                        raise DecodeError(
                            f"token balance of {mint} claims {places} decimals (expected 0-{MAX_DECIMALS})"
                        )
                    decimals[mint] = places
                owner = balance.owner
                if owners is not None and owner not in owners:
                    continue
                text = balance.ui_token_amount.amount
                if not text.isdigit():
                    raise DecodeError(f"token balance amount {text!r} of {mint} is not a non-negative integer")
                amount = int(text)
                if amount > U64_MAX:
                    raise DecodeError(f"token balance amount of {mint} is {len(text)} digits, beyond u64")
                key = (owner, mint)
                deltas[key] = deltas.get(key, 0) + sign * amount
        self.deltas = deltas  # (owner, mint) -> net change; present = the owner held an account of the mint
        self.decimals = decimals
        self._first_entry = first_entry

    def delta(self, owner: str, mint: str) -> int:
        return self.deltas.get((owner, mint), 0)

    def issued(self, mint: str) -> int:
        """Net change of ``mint`` over all the owners read: for a mint created in this transaction, where
        every account of it is in the balances, its supply."""
        return sum(delta for (_, held), delta in self.deltas.items() if held == mint)

    def token_program(self, mint: str) -> str | None:
        entry = self._first_entry.get(mint)
        return None if entry is None else str(entry.program_id)

    def is_token_2022(self, mint: str) -> bool:
        entry = self._first_entry.get(mint)
        return entry is not None and entry.program_id == TOKEN_2022_PROGRAM


def lamport_delta(meta: Any, index: int) -> int:
    pre, post = meta.pre_balances, meta.post_balances
    if index >= len(pre) or index >= len(post):
        raise DecodeError(f"no lamport balance for account index {index} ({len(pre)} pre, {len(post)} post)")
    return int(post[index] - pre[index])
