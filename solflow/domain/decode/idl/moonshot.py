"""Moonshot (MoonC…) as a layout table: every event, instruction and defined type of its IDL
(``scripts/idl_table.py`` output). Moonshot writes its events only as ``Program data:`` log lines.
"""

from __future__ import annotations

from solflow.domain.decode.layout import ProgramLayouts

TABLE = ProgramLayouts("moonshot")

TABLE.enum("TradeType", "Buy Sell")
TABLE.struct(
    "TokenMintParams",
    "name:string symbol:string uri:string decimals:u8 collateralCurrency:u8 amount:u64 curveType:u8 migrationTarget:u8",
)
TABLE.struct("TradeParams", "tokenAmount:u64 collateralAmount:u64 fixedSide:u8 slippageBps:u64")
TABLE.struct(
    "ConfigParams",
    "migrationAuthority:option<pubkey> backendAuthority:option<pubkey> configAuthority:option<pubkey> "
    "helioFee:option<pubkey> dexFee:option<pubkey> feeBps:option<u16> dexFeeShare:option<u8> "
    "migrationFee:option<u64> marketcapThreshold:option<u64> marketcapCurrency:option<u8> "
    "minSupportedDecimalPlaces:option<u8> maxSupportedDecimalPlaces:option<u8> "
    "minSupportedTokenSupply:option<u64> maxSupportedTokenSupply:option<u64> coefB:option<u32>",
)
TABLE.event(
    "TradeEvent",
    "amount:u64 collateralAmount:u64 dexFee:u64 helioFee:u64 allocation:u64 curve:pubkey "
    "costToken:pubkey sender:pubkey type:TradeType label:string",
)
TABLE.event("MigrationEvent", "tokensMigrated:u64 tokensBurned:u64 collateralMigrated:u64 fee:u64 label:string")
TABLE.instruction(
    "tokenMint",
    "sender backendAuthority curveAccount mint mintMetadata curveTokenAccount configAccount "
    "tokenProgram associatedTokenProgram mplTokenMetadata systemProgram",
    "mintParams:TokenMintParams",
)
TABLE.instruction(
    "buy",
    "sender senderTokenAccount curveAccount curveTokenAccount dexFee helioFee mint configAccount "
    "tokenProgram associatedTokenProgram systemProgram",
    "data:TradeParams",
)
TABLE.instruction(
    "sell",
    "sender senderTokenAccount curveAccount curveTokenAccount dexFee helioFee mint configAccount "
    "tokenProgram associatedTokenProgram systemProgram",
    "data:TradeParams",
)
TABLE.instruction(
    "migrateFunds",
    "backendAuthority migrationAuthority curveAccount curveTokenAccount "
    "migrationAuthorityTokenAccount mint dexFeeAccount helioFeeAccount configAccount systemProgram "
    "tokenProgram associatedTokenProgram",
)
TABLE.instruction("configInit", "configAuthority configAccount systemProgram", "data:ConfigParams")
TABLE.instruction("configUpdate", "configAuthority configAccount", "data:ConfigParams")
