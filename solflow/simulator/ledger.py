"""Account state of the simulated chain: lamports of every account and the SPL token accounts.

Transactions read their pre balances here and, when they succeed, write their post balances back, so
an account's pre balance in one transaction is its post balance in the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solflow.simulator import keys

TOKEN_ACCOUNT_RENT = 2_039_280  # rent-exempt minimum of a 165-byte SPL token account
TOKEN_2022_ACCOUNT_RENT = 2_074_080  # 170 bytes: the account plus the ImmutableOwner extension
PROGRAM_ACCOUNT_LAMPORTS = 1_141_440  # an upgradeable program's 36-byte program account
NATIVE_PROGRAM_LAMPORTS = 1

_NATIVE = {keys.SYSTEM_PROGRAM, keys.COMPUTE_BUDGET_PROGRAM}


@dataclass(slots=True)
class TokenAccount:
    mint: bytes
    owner: bytes
    program: bytes
    decimals: int
    amount: int
    # Encodings for TokenBalance entries, kept with the account: its fixed fields, and the entry
    # (without account_index) for the amount it last had.
    encoded: tuple[bytes, bytes] | None = field(default=None, compare=False)
    encoded_amount: tuple[int, bytes] | None = field(default=None, compare=False)


def token_account_rent(program: bytes) -> int:
    return TOKEN_2022_ACCOUNT_RENT if program == keys.TOKEN_2022_PROGRAM else TOKEN_ACCOUNT_RENT


class Ledger:
    def __init__(self) -> None:
        self.lamports: dict[bytes, int] = {}
        self.tokens: dict[bytes, TokenAccount] = {}

    def balance(self, account: bytes) -> int:
        found = self.lamports.get(account)
        if found is None:
            found = self._first_seen_balance(account)
            self.lamports[account] = found
        return found

    def open_token_account(
        self,
        account: bytes,
        owner: bytes,
        mint: bytes,
        program: bytes,
        decimals: int,
        amount: int,
        extra_lamports: int = 0,
    ) -> None:
        """An account that exists before the simulation starts (pool vaults, long-held balances)."""
        self.tokens[account] = TokenAccount(mint, owner, program, decimals, amount)
        wrapped = amount if mint == keys.WSOL else 0
        self.lamports[account] = token_account_rent(program) + wrapped + extra_lamports

    @staticmethod
    def _first_seen_balance(account: bytes) -> int:
        # Accounts nobody funded explicitly (programs, sysvars, configs, fee vaults): a stable
        # balance derived from the address, so it does not depend on the order accounts appear in.
        if account in _NATIVE:
            return NATIVE_PROGRAM_LAMPORTS
        return PROGRAM_ACCOUNT_LAMPORTS + int.from_bytes(account[:4], "little") % 50_000_000_000
