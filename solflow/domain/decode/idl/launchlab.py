"""Raydium LaunchLab / LetsBonk (LanM…) as a layout table: every event, instruction and defined type of
its IDL (``scripts/idl_table.py`` output).

``TradeEvent`` changed in the middle: the mid-2025 layout (138 bytes with the discriminator) has no
``creator_fee`` and no ``exact_in``, so it is a variant chosen by exact length; ``PoolCreateEvent``
had no ``amm_fee_on`` before ``initialize_v2``.
"""

from __future__ import annotations

from solflow.domain.decode.layout import ProgramLayouts

TABLE = ProgramLayouts("launchlab")

TABLE.struct("MintParams", "decimals:u8 name:string symbol:string uri:string")
TABLE.struct("ConstantCurve", "supply:u64 total_base_sell:u64 total_quote_fund_raising:u64 migrate_type:u8")
TABLE.struct("FixedCurve", "supply:u64 total_quote_fund_raising:u64 migrate_type:u8")
TABLE.struct("LinearCurve", "supply:u64 total_quote_fund_raising:u64 migrate_type:u8")
TABLE.enum("CurveParams", "Constant:ConstantCurve Fixed:FixedCurve Linear:LinearCurve")
TABLE.struct("VestingParams", "total_locked_amount:u64 cliff_period:u64 unlock_period:u64")
TABLE.enum("AmmCreatorFeeOn", "QuoteToken BothToken")
TABLE.enum("TradeDirection", "Buy Sell")
TABLE.enum("PoolStatus", "Fund Migrate Trade")
TABLE.struct("MigrateNftInfo", "platform_scale:u64 creator_scale:u64 burn_scale:u64")
TABLE.struct(
    "PlatformParams",
    "migrate_nft_info:MigrateNftInfo fee_rate:u64 name:string web:string img:string creator_fee_rate:u64",
)
TABLE.struct("TransferFeeExtensionParams", "transfer_fee_basis_points:u16 maximum_fee:u64")
TABLE.struct(
    "PlatformConfigInfo",
    "fee_wallet:pubkey nft_wallet:pubkey migrate_nft_info:MigrateNftInfo fee_rate:u64 name:string "
    "web:string img:string transfer_fee_extension_auth:pubkey creator_fee_rate:u64",
)
TABLE.enum(
    "PlatformConfigParam",
    "FeeWallet:pubkey NFTWallet:pubkey MigrateNftInfo:MigrateNftInfo FeeRate:u64 Name:string "
    "Web:string Img:string CpSwapConfig AllInfo:PlatformConfigInfo",
)
TABLE.struct(
    "BondingCurveParam",
    "migrate_type:u8 migrate_cpmm_fee_on:u8 supply:u64 total_base_sell:u64 "
    "total_quote_fund_raising:u64 total_locked_amount:u64 cliff_period:u64 unlock_period:u64",
)
TABLE.event("ClaimVestedEvent", "pool_state:pubkey beneficiary:pubkey claim_amount:u64")
TABLE.event("CreateVestingEvent", "pool_state:pubkey beneficiary:pubkey share_amount:u64")
TABLE.event(
    "PoolCreateEvent",
    "pool_state:pubkey creator:pubkey config:pubkey base_mint_param:MintParams "
    "curve_param:CurveParams vesting_param:VestingParams | amm_fee_on:AmmCreatorFeeOn",
)
TABLE.event(
    "TradeEvent",
    "pool_state:pubkey total_base_sell:u64 virtual_base:u64 virtual_quote:u64 real_base_before:u64 "
    "real_quote_before:u64 real_base_after:u64 real_quote_after:u64 amount_in:u64 amount_out:u64 "
    "protocol_fee:u64 platform_fee:u64 creator_fee:u64 share_fee:u64 trade_direction:TradeDirection "
    "pool_status:PoolStatus exact_in:bool",
    variants={
        138: "pool_state:pubkey total_base_sell:u64 virtual_base:u64 virtual_quote:u64 real_base_before:u64 "
        "real_quote_before:u64 real_base_after:u64 real_quote_after:u64 amount_in:u64 amount_out:u64 "
        "protocol_fee:u64 platform_fee:u64 share_fee:u64 trade_direction:TradeDirection pool_status:PoolStatus",
    },
)
TABLE.instruction(
    "buy_exact_in",
    "payer authority global_config platform_config pool_state user_base_token user_quote_token "
    "base_vault quote_vault base_token_mint quote_token_mint base_token_program quote_token_program "
    "event_authority program",
    "amount_in:u64 minimum_amount_out:u64 share_fee_rate:u64",
)
TABLE.instruction(
    "buy_exact_out",
    "payer authority global_config platform_config pool_state user_base_token user_quote_token "
    "base_vault quote_vault base_token_mint quote_token_mint base_token_program quote_token_program "
    "event_authority program",
    "amount_out:u64 maximum_amount_in:u64 share_fee_rate:u64",
)
TABLE.instruction(
    "claim_creator_fee",
    "creator fee_vault_authority creator_fee_vault recipient_token_account quote_mint token_program "
    "system_program associated_token_program",
)
TABLE.instruction(
    "claim_platform_fee",
    "platform_fee_wallet authority pool_state platform_config quote_vault recipient_token_account "
    "quote_mint token_program system_program associated_token_program",
)
TABLE.instruction(
    "claim_platform_fee_from_vault",
    "platform_fee_wallet fee_vault_authority platform_config platform_fee_vault "
    "recipient_token_account quote_mint token_program system_program associated_token_program",
)
TABLE.instruction(
    "claim_vested_token",
    "beneficiary authority pool_state vesting_record base_vault user_base_token base_token_mint "
    "base_token_program system_program associated_token_program",
)
TABLE.instruction(
    "collect_fee",
    "owner authority pool_state global_config quote_vault quote_mint recipient_token_account token_program",
)
TABLE.instruction(
    "collect_migrate_fee",
    "owner authority pool_state global_config quote_vault quote_mint recipient_token_account token_program",
)
TABLE.instruction(
    "create_config",
    "owner global_config quote_token_mint protocol_fee_owner migrate_fee_owner migrate_to_amm_wallet "
    "migrate_to_cpswap_wallet system_program",
    "curve_type:u8 index:u16 migrate_fee:u64 trade_fee_rate:u64",
)
TABLE.instruction(
    "create_platform_config",
    "platform_admin platform_fee_wallet platform_nft_wallet platform_config cpswap_config "
    "system_program transfer_fee_extension_authority",
    "platform_params:PlatformParams",
)
TABLE.instruction(
    "create_vesting_account",
    "creator beneficiary pool_state vesting_record system_program",
    "share_amount:u64",
)
TABLE.instruction(
    "initialize",
    "payer creator global_config platform_config authority pool_state base_mint quote_mint base_vault "
    "quote_vault metadata_account base_token_program quote_token_program metadata_program "
    "system_program rent_program event_authority program",
    "base_mint_param:MintParams curve_param:CurveParams vesting_param:VestingParams",
)
TABLE.instruction(
    "initialize_v2",
    "payer creator global_config platform_config authority pool_state base_mint quote_mint base_vault "
    "quote_vault metadata_account base_token_program quote_token_program metadata_program "
    "system_program rent_program event_authority program",
    "base_mint_param:MintParams curve_param:CurveParams vesting_param:VestingParams amm_fee_on:AmmCreatorFeeOn",
)
TABLE.instruction(
    "initialize_with_token_2022",
    "payer creator global_config platform_config authority pool_state base_mint quote_mint base_vault "
    "quote_vault base_token_program quote_token_program system_program event_authority program",
    "base_mint_param:MintParams curve_param:CurveParams vesting_param:VestingParams "
    "amm_fee_on:AmmCreatorFeeOn transfer_fee_extension_param:option<TransferFeeExtensionParams>",
)
TABLE.instruction(
    "migrate_to_amm",
    "payer base_mint quote_mint openbook_program market request_queue event_queue bids asks "
    "market_vault_signer market_base_vault market_quote_vault amm_program amm_pool amm_authority "
    "amm_open_orders amm_lp_mint amm_base_vault amm_quote_vault amm_target_orders amm_config "
    "amm_create_fee_destination authority pool_state global_config base_vault quote_vault "
    "pool_lp_token spl_token_program associated_token_program system_program rent_program",
    "base_lot_size:u64 quote_lot_size:u64 market_vault_signer_nonce:u8",
)
TABLE.instruction(
    "migrate_to_cpswap",
    "payer base_mint quote_mint platform_config cpswap_program cpswap_pool cpswap_authority "
    "cpswap_lp_mint cpswap_base_vault cpswap_quote_vault cpswap_config cpswap_create_pool_fee "
    "cpswap_observation lock_program lock_authority lock_lp_vault authority pool_state global_config "
    "base_vault quote_vault pool_lp_token base_token_program quote_token_program "
    "associated_token_program system_program rent_program metadata_program",
)
TABLE.instruction("remove_platform_curve_param", "platform_admin platform_config", "index:u8")
TABLE.instruction(
    "sell_exact_in",
    "payer authority global_config platform_config pool_state user_base_token user_quote_token "
    "base_vault quote_vault base_token_mint quote_token_mint base_token_program quote_token_program "
    "event_authority program",
    "amount_in:u64 minimum_amount_out:u64 share_fee_rate:u64",
)
TABLE.instruction(
    "sell_exact_out",
    "payer authority global_config platform_config pool_state user_base_token user_quote_token "
    "base_vault quote_vault base_token_mint quote_token_mint base_token_program quote_token_program "
    "event_authority program",
    "amount_out:u64 maximum_amount_in:u64 share_fee_rate:u64",
)
TABLE.instruction("update_config", "owner global_config", "param:u8 value:u64")
TABLE.instruction("update_platform_config", "platform_admin platform_config", "param:PlatformConfigParam")
TABLE.instruction(
    "update_platform_curve_param",
    "platform_admin platform_config global_config system_program",
    "index:u8 bonding_curve_param:BondingCurveParam",
)
