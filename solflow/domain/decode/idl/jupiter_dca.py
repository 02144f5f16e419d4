"""Jupiter DCA (DCA2…) as a layout table: every event, instruction and defined type of its IDL
(``scripts/idl_table.py`` output; the IDL names instructions in camelCase, Anchor hashes them in
snake_case).
"""

from __future__ import annotations

from solflow.domain.decode.layout import ProgramLayouts

TABLE = ProgramLayouts("jupiter_dca")

TABLE.enum("Withdrawal", "In Out")
TABLE.struct("WithdrawParams", "withdrawAmount:u64 withdrawal:Withdrawal")
TABLE.event("CollectedFee", "userKey:pubkey dcaKey:pubkey mint:pubkey amount:u64")
TABLE.event(
    "Filled",
    "userKey:pubkey dcaKey:pubkey inputMint:pubkey outputMint:pubkey inAmount:u64 outAmount:u64 feeMint:pubkey fee:u64",
)
TABLE.event(
    "Opened",
    "userKey:pubkey dcaKey:pubkey inDeposited:u64 inputMint:pubkey outputMint:pubkey "
    "cycleFrequency:i64 inAmountPerCycle:u64 createdAt:i64",
)
TABLE.event(
    "Closed",
    "userKey:pubkey dcaKey:pubkey inDeposited:u64 inputMint:pubkey outputMint:pubkey "
    "cycleFrequency:i64 inAmountPerCycle:u64 createdAt:i64 totalInWithdrawn:u64 totalOutWithdrawn:u64 "
    "unfilledAmount:u64 userClosed:bool",
)
TABLE.event("Withdraw", "dcaKey:pubkey inAmount:u64 outAmount:u64 userWithdraw:bool")
TABLE.event("Deposit", "dcaKey:pubkey amount:u64")
TABLE.instruction(
    "openDca",
    "dca user inputMint outputMint userAta inAta outAta systemProgram tokenProgram "
    "associatedTokenProgram eventAuthority program",
    "applicationIdx:u64 inAmount:u64 inAmountPerCycle:u64 cycleFrequency:i64 minOutAmount:option<u64> "
    "maxOutAmount:option<u64> startAt:option<i64> closeWsolInAta:option<bool>",
)
TABLE.instruction(
    "openDcaV2",
    "dca user payer inputMint outputMint userAta inAta outAta systemProgram tokenProgram "
    "associatedTokenProgram eventAuthority program",
    "applicationIdx:u64 inAmount:u64 inAmountPerCycle:u64 cycleFrequency:i64 minOutAmount:option<u64> "
    "maxOutAmount:option<u64> startAt:option<i64>",
)
TABLE.instruction(
    "closeDca",
    "user dca inputMint outputMint inAta outAta userInAta userOutAta systemProgram tokenProgram "
    "associatedTokenProgram eventAuthority program",
)
TABLE.instruction(
    "withdraw",
    "user dca inputMint outputMint dcaAta userInAta userOutAta systemProgram tokenProgram "
    "associatedTokenProgram eventAuthority program",
    "withdrawParams:WithdrawParams",
)
TABLE.instruction("deposit", "user dca inAta userInAta tokenProgram eventAuthority program", "depositIn:u64")
TABLE.instruction(
    "withdrawFees",
    "admin mint feeAuthority programFeeAta adminFeeAta systemProgram tokenProgram associatedTokenProgram",
    "amount:u64",
)
TABLE.instruction(
    "initiateFlashFill",
    "keeper dca inputMint keeperInAta inAta outAta instructionsSysvar systemProgram tokenProgram "
    "associatedTokenProgram",
)
TABLE.instruction(
    "fulfillFlashFill",
    "keeper dca inputMint outputMint keeperInAta inAta outAta feeAuthority feeAta instructionsSysvar "
    "systemProgram tokenProgram associatedTokenProgram eventAuthority program",
    "repayAmount:u64",
)
TABLE.instruction(
    "initiateDlmmFill",
    "keeper dca inputMint keeperInAta inAta outAta instructionsSysvar systemProgram tokenProgram "
    "associatedTokenProgram",
)
TABLE.instruction(
    "fulfillDlmmFill",
    "keeper dca inputMint outputMint keeperInAta inAta outAta feeAuthority feeAta instructionsSysvar "
    "systemProgram tokenProgram associatedTokenProgram eventAuthority program",
    "repayAmount:u64",
)
TABLE.instruction(
    "transfer",
    "keeper dca user outputMint dcaOutAta userOutAta intermediateAccount systemProgram tokenProgram "
    "associatedTokenProgram eventAuthority program",
)
TABLE.instruction(
    "endAndClose",
    "keeper dca inputMint outputMint inAta outAta user userOutAta initUserOutAta intermediateAccount "
    "systemProgram tokenProgram associatedTokenProgram eventAuthority program",
)
