"""Jupiter DCA: `openDcaV2` (Opened), keeper fills (`initiateFlashFill` → Jupiter route →
`fulfillFlashFill` with CollectedFee + Filled → `transfer` with Withdraw), and `closeDca` (Closed).

A fill's `inAmount` leaves the DCA's input vault; `outAmount` is what reaches the user after the
program's fee, which is taken in the output mint and reported in `fee`/`feeMint`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from solflow.simulator import events, keys, spl
from solflow.simulator.common import Asset, Outcome, fee
from solflow.simulator.tx import ExpectedTrade, TxBuilder

PROGRAM = keys.DCA_PROGRAM
OPEN_DCA_V2 = events.instruction_discriminator("open_dca_v2")
CLOSE_DCA = events.instruction_discriminator("close_dca")
INITIATE_FLASH_FILL = events.instruction_discriminator("initiate_flash_fill")
FULFILL_FLASH_FILL = events.instruction_discriminator("fulfill_flash_fill")
TRANSFER = events.instruction_discriminator("transfer")
FEE_BPS = 10
SWAP_OUT_BELOW_MINIMUM = 6020
DCA_ACCOUNT_RENT = 3_156_480
_OPEN_ARGS = struct.Struct("<QQQq")
_ROUTE = bytes.fromhex("c1209b3341d69c81")


@dataclass(eq=False)
class Dca:
    key: bytes
    user: bytes
    input: Asset
    output: Asset
    in_vault: bytes
    out_vault: bytes
    in_deposited: int
    per_cycle: int
    cycle_frequency: int
    created_at: int
    in_used: int = 0
    out_received: int = 0

    @property
    def remaining(self) -> int:
        return self.in_deposited - self.in_used


def new_dca(
    world_keys: keys.Keyring,
    user: bytes,
    input_asset: Asset,
    output_asset: Asset,
    in_deposited: int,
    cycles: int,
    cycle_frequency: int,
    created_at: int,
    uid: int,
) -> Dca:
    dca = keys.pda(PROGRAM, b"dca", user, input_asset.mint, output_asset.mint, struct.pack("<Q", uid))
    return Dca(
        key=dca,
        user=user,
        input=input_asset,
        output=output_asset,
        in_vault=world_keys.ata(dca, input_asset.mint, input_asset.program),
        out_vault=world_keys.ata(dca, output_asset.mint, output_asset.program),
        in_deposited=in_deposited,
        per_cycle=in_deposited // cycles,
        cycle_frequency=cycle_frequency,
        created_at=created_at,
    )


def fee_accounts(world_keys: keys.Keyring, mint: Asset) -> tuple[bytes, bytes]:
    authority = keys.pda(PROGRAM, b"fee")
    return authority, world_keys.ata(authority, mint.mint, mint.program)


def open_dca(b: TxBuilder, dca: Dca) -> None:
    user = dca.user
    user_in = (
        spl.wrap_sol(b, user, dca.in_deposited)
        if dca.input.is_sol
        else b.world.keyring.ata(user, dca.input.mint, dca.input.program)
    )
    accounts = (
        dca.key,
        user,
        user,
        dca.input.mint,
        dca.output.mint,
        user_in,
        dca.in_vault,
        dca.out_vault,
        keys.SYSTEM_PROGRAM,
        keys.TOKEN_PROGRAM,
        keys.ATA_PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        PROGRAM,
    )
    data = OPEN_DCA_V2 + _OPEN_ARGS.pack(0, dca.in_deposited, dca.per_cycle, dca.cycle_frequency) + b"\x00\x00\x00"
    extra = _token_2022(dca)
    b.enter(PROGRAM, accounts + extra, "wSSrrwwwrrrrr" + "r" * len(extra), data)
    b.log("Instruction: OpenDcaV2")
    spl.create_account(b, user, dca.key, DCA_ACCOUNT_RENT, 325, PROGRAM)
    spl.create_ata(b, user, dca.key, dca.input.mint, dca.input.program, dca.input.decimals, idempotent=False)
    spl.create_ata(b, user, dca.key, dca.output.mint, dca.output.program, dca.output.decimals, idempotent=False)
    spl.transfer(
        b,
        user_in,
        dca.in_vault,
        user,
        dca.in_deposited,
        dca.input.mint,
        dca.input.decimals,
        dca.input.program,
        checked=False,
    )
    b.expect_lifecycle("dca_opened")
    b.emit_cpi_event(
        PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        events.dca_opened(
            user=user,
            dca=dca.key,
            in_deposited=dca.in_deposited,
            input_mint=dca.input.mint,
            output_mint=dca.output.mint,
            cycle_frequency=dca.cycle_frequency,
            in_amount_per_cycle=dca.per_cycle,
            created_at=dca.created_at,
        ),
    )
    b.exit(b.world.rng.randrange(40_000, 60_000))
    if dca.input.is_sol:
        spl.close_account(b, user_in, user, user)


def fill(b: TxBuilder, dca: Dca, keeper: bytes, amm: bytes, gross_out: int, outcome: Outcome = "ok") -> None:
    """One cycle: the keeper borrows `in_amount`, swaps it through Jupiter and repays with the output."""
    rng = b.world.rng
    keyring = b.world.keyring
    in_amount = min(dca.per_cycle, dca.remaining)
    fee_amount = fee(gross_out, FEE_BPS)
    out_amount = gross_out - fee_amount
    inp, out = dca.input, dca.output
    keeper_in = keyring.ata(keeper, inp.mint, inp.program)
    keeper_out = keyring.ata(keeper, out.mint, out.program)
    amm_in = keyring.ata(amm, inp.mint, inp.program)
    amm_out = keyring.ata(amm, out.mint, out.program)
    fee_authority, fee_account = fee_accounts(keyring, out)
    user_out = spl.create_ata(b, keeper, dca.user, out.mint, out.program, out.decimals)

    extra = _token_2022(dca)
    b.enter(
        PROGRAM,
        (
            keeper,
            dca.key,
            inp.mint,
            keeper_in,
            dca.in_vault,
            dca.out_vault,
            keys.INSTRUCTIONS_SYSVAR,
            keys.SYSTEM_PROGRAM,
            keys.TOKEN_PROGRAM,
            keys.ATA_PROGRAM,
        )
        + extra,
        "Swrwwrrrrr" + "r" * len(extra),
        INITIATE_FLASH_FILL,
    )
    b.log("Instruction: InitiateFlashFill")
    spl.transfer(b, dca.in_vault, keeper_in, dca.key, in_amount, inp.mint, inp.decimals, inp.program, checked=False)
    b.exit(rng.randrange(35_000, 45_000))

    amm_program = keyring.fresh("amm/program")
    b.enter(
        keys.JUPITER_V6_PROGRAM,
        (keys.TOKEN_PROGRAM, keeper, keeper_in, keeper_out, amm_program, amm, amm_in, amm_out, inp.mint, out.mint),
        "rSwwrwwwrr",
        _ROUTE + struct.pack("<QQHB", in_amount, gross_out, 50, 0),
    )
    b.log("Instruction: Route")
    b.enter(
        amm_program,
        (amm, amm_in, amm_out, keeper_in, keeper_out, keeper),
        "",
        b"\x09" + struct.pack("<QQ", in_amount, gross_out),
    )
    b.log("Instruction: Swap")
    spl.transfer(b, keeper_in, amm_in, keeper, in_amount, inp.mint, inp.decimals, inp.program, checked=False)
    spl.transfer(b, amm_out, keeper_out, amm, gross_out, out.mint, out.decimals, out.program, checked=False)
    b.exit(rng.randrange(30_000, 60_000))
    b.exit(rng.randrange(20_000, 40_000), returned=struct.pack("<Q", gross_out))

    accounts = (
        keeper,
        dca.key,
        inp.mint,
        out.mint,
        keeper_in,
        dca.in_vault,
        dca.out_vault,
        fee_authority,
        fee_account,
        keys.INSTRUCTIONS_SYSVAR,
        keys.SYSTEM_PROGRAM,
        keys.TOKEN_PROGRAM,
        keys.ATA_PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        PROGRAM,
    )
    b.enter(PROGRAM, accounts, "Swrrwwwrwrrrrrr", FULFILL_FLASH_FILL + struct.pack("<Q", in_amount))
    b.log("Instruction: FulfillFlashFill")
    if outcome == "failed":
        b.fail(
            SWAP_OUT_BELOW_MINIMUM,
            (
                "AnchorError occurred. Error Code: SwapOutAmountBelowMinimum. "
                "Error Number: 6020. Error Message: Swap out amount below minimum.",
            ),
            rng.randrange(15_000, 25_000),
        )
        b.exit()
        return
    spl.transfer(b, keeper_out, dca.out_vault, keeper, out_amount, out.mint, out.decimals, out.program, checked=False)
    spl.transfer(b, keeper_out, fee_account, keeper, fee_amount, out.mint, out.decimals, out.program, checked=False)
    b.emit_cpi_event(
        PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        events.dca_collected_fee(user=dca.user, dca=dca.key, mint=out.mint, amount=fee_amount),
    )
    outer = b.outer_index
    inner = b.emit_cpi_event(
        PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        events.dca_filled(
            user=dca.user,
            dca=dca.key,
            input_mint=inp.mint,
            output_mint=out.mint,
            in_amount=in_amount,
            out_amount=out_amount,
            fee_mint=out.mint,
            fee=fee_amount,
        ),
    )
    b.exit(rng.randrange(40_000, 60_000))

    b.enter(
        PROGRAM,
        (
            keeper,
            dca.key,
            dca.user,
            out.mint,
            dca.out_vault,
            user_out,
            PROGRAM,
            keys.SYSTEM_PROGRAM,
            keys.TOKEN_PROGRAM,
            keys.ATA_PROGRAM,
            keys.DCA_EVENT_AUTHORITY,
            PROGRAM,
        ),
        "Swrrwwrrrrrr",
        TRANSFER,
    )
    b.log("Instruction: Transfer")
    spl.transfer(b, dca.out_vault, user_out, dca.key, out_amount, out.mint, out.decimals, out.program, checked=False)
    b.emit_cpi_event(
        PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        events.dca_withdraw(dca=dca.key, in_amount=0, out_amount=out_amount, user_withdraw=False),
    )
    b.exit(rng.randrange(25_000, 35_000))
    dca.in_used += in_amount
    dca.out_received += out_amount

    direction: Literal["buy", "sell"]
    if out.is_sol:  # a sell: the input token is the traded token, SOL the quote
        trade_mint, quote, token_amount, quote_amount, direction = inp, out, in_amount, out_amount, "sell"
        quote_fee: int | None = fee_amount
    else:
        trade_mint, quote, token_amount, quote_amount, direction = out, inp, out_amount, in_amount, "buy"
        quote_fee = None  # the fee was taken in the bought token, not in the quote
    b.expect(
        ExpectedTrade(
            program_id=PROGRAM,
            direction=direction,
            trader=dca.user,
            mint=trade_mint.mint,
            quote_mint=quote.mint,
            token_amount_raw=token_amount,
            token_decimals=trade_mint.decimals,
            quote_amount_raw=quote_amount,
            quote_decimals=quote.decimals,
            fee_amount_raw=quote_fee,
            outer_ix_index=outer,
            inner_ix_index=inner,
            via=None,
            pool=dca.key,
            is_dca=True,
            decode_source="cpi_event",
        )
    )


def close_dca(b: TxBuilder, dca: Dca) -> None:
    user = dca.user
    inp, out = dca.input, dca.output
    user_in = spl.create_ata(b, user, user, inp.mint, inp.program, inp.decimals)
    user_out = spl.create_ata(b, user, user, out.mint, out.program, out.decimals)
    accounts = (
        user,
        dca.key,
        inp.mint,
        out.mint,
        dca.in_vault,
        dca.out_vault,
        user_in,
        user_out,
        keys.SYSTEM_PROGRAM,
        keys.TOKEN_PROGRAM,
        keys.ATA_PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        PROGRAM,
    )
    extra = _token_2022(dca)
    b.enter(PROGRAM, accounts + extra, "Swrrwwwwrrrrr" + "r" * len(extra), CLOSE_DCA)
    b.log("Instruction: CloseDca")
    unfilled = dca.remaining
    if unfilled:
        spl.transfer(b, dca.in_vault, user_in, dca.key, unfilled, inp.mint, inp.decimals, inp.program, checked=False)
    spl.close_account(b, dca.in_vault, user, dca.key, inp.program)
    spl.close_account(b, dca.out_vault, user, dca.key, out.program)
    b.move_lamports(dca.key, user, b.lamport_balance(dca.key))
    b.expect_lifecycle("dca_closed")
    b.emit_cpi_event(
        PROGRAM,
        keys.DCA_EVENT_AUTHORITY,
        events.dca_closed(
            user=user,
            dca=dca.key,
            in_deposited=dca.in_deposited,
            input_mint=inp.mint,
            output_mint=out.mint,
            cycle_frequency=dca.cycle_frequency,
            in_amount_per_cycle=dca.per_cycle,
            created_at=dca.created_at,
            total_in_withdrawn=unfilled,
            total_out_withdrawn=dca.out_received,
            unfilled_amount=unfilled,
            user_closed=True,
        ),
    )
    b.exit(b.world.rng.randrange(30_000, 45_000))
    if inp.is_sol:
        spl.close_account(b, user_in, user, user)


def _token_2022(dca: Dca) -> tuple[bytes, ...]:
    """Token-2022 mints need that program passed along as a remaining account."""
    if keys.TOKEN_2022_PROGRAM in (dca.input.program, dca.output.program):
        return (keys.TOKEN_2022_PROGRAM,)
    return ()
