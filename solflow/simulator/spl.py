"""System, SPL Token and Associated Token Account steps shared by every program's transactions.

Each helper invokes the real program (a top-level instruction when called at depth 0, a CPI
otherwise) with its real instruction data, writes the program's own log lines and moves the
lamports and tokens it moves on chain.
"""

from __future__ import annotations

import struct

from solflow.simulator import keys
from solflow.simulator.ledger import token_account_rent
from solflow.simulator.tx import TxBuilder

_SYSTEM_TRANSFER = struct.Struct("<IQ")
_CREATE_ACCOUNT = struct.Struct("<IQQ32s")
_TRANSFER = struct.Struct("<BQ")
_TRANSFER_CHECKED = struct.Struct("<BQB")
_U64 = struct.Struct("<Q")

TOKEN_ACCOUNT_SPACE = 165
TOKEN_2022_ACCOUNT_SPACE = 170


def system_transfer(b: TxBuilder, source: bytes, destination: bytes, lamports: int) -> int:
    b.move_lamports(source, destination, lamports)
    return b.call(keys.SYSTEM_PROGRAM, (source, destination), "ww", _SYSTEM_TRANSFER.pack(2, lamports), 150)


def create_account(b: TxBuilder, payer: bytes, account: bytes, lamports: int, space: int, owner: bytes) -> None:
    b.new_account(account)
    b.move_lamports(payer, account, lamports)
    b.call(keys.SYSTEM_PROGRAM, (payer, account), "ww", _CREATE_ACCOUNT.pack(0, lamports, space, owner), 150)


def create_ata(
    b: TxBuilder,
    payer: bytes,
    owner: bytes,
    mint: bytes,
    token_program: bytes,
    decimals: int,
    *,
    idempotent: bool = True,
) -> bytes:
    """The owner's associated token account for `mint`, created (rent paid by `payer`) if missing."""
    ata = b.world.keyring.ata(owner, mint, token_program)
    exists = b.token_account(ata) is not None
    rng = b.world.rng
    b.enter(
        keys.ATA_PROGRAM,
        (payer, ata, owner, mint, keys.SYSTEM_PROGRAM, token_program),
        "wwrrrr",
        b"\x01" if idempotent else b"",
    )
    b.log("CreateIdempotent" if idempotent else "Create")
    if exists:
        b.exit(rng.randrange(4_200, 6_000))
        return ata
    space = TOKEN_2022_ACCOUNT_SPACE if token_program == keys.TOKEN_2022_PROGRAM else TOKEN_ACCOUNT_SPACE
    b.call(token_program, (mint,), "", b"\x15\x07\x00", 1_569, "Instruction: GetAccountDataSize", _U64.pack(space))
    create_account(b, payer, ata, token_account_rent(token_program), space, token_program)
    b.log("Initialize the associated token account")
    b.enter(token_program, (ata,), "", b"\x16")
    b.log("Instruction: InitializeImmutableOwner")
    if token_program == keys.TOKEN_PROGRAM:
        b.log("Please upgrade to SPL Token 2022 for immutable owner support")
    b.exit(1_405)
    b.call(
        token_program,
        (ata, mint),
        "",
        b"\x12" + owner,
        4_188 if token_program == keys.TOKEN_PROGRAM else 3_158,
        "Instruction: InitializeAccount3",
    )
    b.open_token_account(ata, owner, mint, token_program, decimals)
    b.exit(rng.randrange(12_000, 16_000))
    return ata


def transfer(
    b: TxBuilder,
    source: bytes,
    destination: bytes,
    authority: bytes,
    amount: int,
    mint: bytes,
    decimals: int,
    token_program: bytes = keys.TOKEN_PROGRAM,
    *,
    checked: bool = True,
    withheld: int = 0,
) -> int:
    b.move_tokens(source, destination, amount, mint, withheld)
    if checked:
        return b.call(
            token_program,
            (source, mint, destination, authority),
            "wrwr",
            _TRANSFER_CHECKED.pack(12, amount, decimals),
            6_147,
            "Instruction: TransferChecked",
        )
    return b.call(
        token_program,
        (source, destination, authority),
        "wwr",
        _TRANSFER.pack(3, amount),
        4_645,
        "Instruction: Transfer",
    )


def sync_native(b: TxBuilder, account: bytes) -> None:
    b.mint_tokens(
        account, b.lamport_balance(account) - token_account_rent(keys.TOKEN_PROGRAM) - b.token_amount(account)
    )
    b.call(keys.TOKEN_PROGRAM, (account,), "w", b"\x11", 3_045, "Instruction: SyncNative")


def close_account(
    b: TxBuilder, account: bytes, destination: bytes, owner: bytes, token_program: bytes = keys.TOKEN_PROGRAM
) -> None:
    b.close_token_account(account, destination)
    b.call(token_program, (account, destination, owner), "wwr", b"\x09", 2_915, "Instruction: CloseAccount")


def wrap_sol(b: TxBuilder, owner: bytes, lamports: int) -> bytes:
    """Create the owner's WSOL account if needed, fund it with `lamports` and sync it."""
    account = create_ata(b, owner, owner, keys.WSOL, keys.TOKEN_PROGRAM, 9)
    system_transfer(b, owner, account, lamports)
    sync_native(b, account)
    return account
