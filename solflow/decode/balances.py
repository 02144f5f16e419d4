"""Balance changes of one transaction: token deltas by (owner, mint), lamport deltas, mint decimals.

Pre and post token balances are matched by ``account_index`` (never list position): an account may
appear only before (closed) or only after (created). Amounts are the raw integer strings.
"""

from __future__ import annotations

from typing import Any

from solflow.decode.errors import DecodeError

TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"


class TokenBalances:
    __slots__ = ("deltas", "decimals", "token_programs")

    def __init__(self, meta: Any) -> None:
        per_account: dict[int, list] = {}  # account_index -> [owner, mint, delta]
        decimals: dict[str, int] = {}
        programs: dict[str, str] = {}
        for sign, balances in ((-1, meta.pre_token_balances), (1, meta.post_token_balances)):
            for balance in balances:
                ui = balance.ui_token_amount
                amount = _raw_amount(ui.amount)
                mint = balance.mint
                decimals[mint] = ui.decimals
                if balance.program_id:
                    programs[mint] = balance.program_id
                entry = per_account.get(balance.account_index)
                if entry is None:
                    per_account[balance.account_index] = [balance.owner, mint, sign * amount]
                else:
                    if balance.owner:
                        entry[0] = balance.owner
                    entry[2] += sign * amount
        deltas: dict[tuple[str, str], int] = {}
        for owner, mint, delta in per_account.values():
            key = (owner, mint)
            deltas[key] = deltas.get(key, 0) + delta
        self.deltas = deltas  # (owner, mint) -> net change; present = the owner held an account of the mint
        self.decimals = decimals
        self.token_programs = programs

    def delta(self, owner: str, mint: str) -> int:
        return self.deltas.get((owner, mint), 0)

    def is_token_2022(self, mint: str) -> bool:
        return self.token_programs.get(mint) == TOKEN_2022_PROGRAM


def _raw_amount(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise DecodeError(f"token balance amount {text!r} is not a non-negative integer")
    return int(text)


def lamport_delta(meta: Any, index: int) -> int:
    pre, post = meta.pre_balances, meta.post_balances
    if index >= len(pre) or index >= len(post):
        raise DecodeError(f"no lamport balance for account index {index} ({len(pre)} pre, {len(post)} post)")
    return post[index] - pre[index]
