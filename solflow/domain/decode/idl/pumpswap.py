"""PumpSwap AMM (pAMM…) as a layout table: every event, instruction and defined type of the current
public IDL (``scripts/idl_table.py`` output), with the older layouts marked ``|``.

Older layouts, from the official IDL's history (pump-fun/pump-public-docs) and mainnet events:
``BuyEvent`` / ``SellEvent`` 312 bytes (to ``protocol_fee_recipient_token_account``), 360 from May 2025
(coin creator fee), the buy 393 from August 2025 (volume tracking) and to ``ix_name`` from October
2025, both to ``cashback`` (February 2026), ``buyback_fee`` (May 2026), ``base_supply`` (July 2026);
``CreatePoolEvent`` to ``user_quote_token_account``, then ``coin_creator`` (May 2025).
"""

from __future__ import annotations

from solflow.domain.decode.layout import ProgramLayouts

TABLE = ProgramLayouts("pumpswap")

TABLE.struct("OptionBool", "_0:bool")
TABLE.event(
    "AdminSetCoinCreatorEvent",
    "timestamp:i64 admin_set_coin_creator_authority:pubkey base_mint:pubkey pool:pubkey "
    "old_coin_creator:pubkey new_coin_creator:pubkey",
)
TABLE.event(
    "AdminUpdateTokenIncentivesEvent",
    "start_time:i64 end_time:i64 day_number:u64 token_supply_per_day:u64 mint:pubkey "
    "seconds_in_a_day:i64 timestamp:i64",
)
TABLE.event(
    "BoostBuyAndBurnEvent",
    "timestamp:i64 mint:pubkey bonding_curve:pubkey pool:pubkey authority:pubkey "
    "quote_amount_in_requested:u64 quote_amount_in_used:u64 base_amount_burned:u64 "
    "virtual_quote_reserves:i128 real_quote_reserves_after:u64 base_reserves_after:u64 "
    "boost_vault_remaining:u64",
)
TABLE.event(
    "BuyEvent",
    "timestamp:i64 base_amount_out:u64 max_quote_amount_in:u64 user_base_token_reserves:u64 "
    "user_quote_token_reserves:u64 pool_base_token_reserves:u64 pool_quote_token_reserves:u64 "
    "quote_amount_in:u64 lp_fee_basis_points:u64 lp_fee:u64 protocol_fee_basis_points:u64 "
    "protocol_fee:u64 quote_amount_in_with_lp_fee:u64 user_quote_amount_in:u64 pool:pubkey "
    "user:pubkey user_base_token_account:pubkey user_quote_token_account:pubkey "
    "protocol_fee_recipient:pubkey protocol_fee_recipient_token_account:pubkey | coin_creator:pubkey "
    "coin_creator_fee_basis_points:u64 coin_creator_fee:u64 | track_volume:bool "
    "total_unclaimed_tokens:u64 total_claimed_tokens:u64 current_sol_volume:u64 "
    "last_update_timestamp:i64 | min_base_amount_out:u64 ix_name:string | cashback_fee_basis_points:u64 "
    "cashback:u64 | buyback_fee_basis_points:u64 buyback_fee:u64 | virtual_quote_reserves:i128 "
    "can_boost:bool base_supply:u64 | holder_rewards_bps:u64 holder_rewards:u64 "
    "creator_fee_unclaimed:u64",
)
TABLE.event("ClaimCashbackEvent", "user:pubkey amount:u64 timestamp:i64 total_claimed:u64 total_cashback_earned:u64")
TABLE.event(
    "ClaimTokenIncentivesEvent",
    "user:pubkey mint:pubkey amount:u64 timestamp:i64 total_claimed_tokens:u64 current_sol_volume:u64",
)
TABLE.event(
    "CloseUserVolumeAccumulatorEvent",
    "user:pubkey timestamp:i64 total_unclaimed_tokens:u64 total_claimed_tokens:u64 "
    "current_sol_volume:u64 last_update_timestamp:i64",
)
TABLE.event(
    "CollectCoinCreatorFeeEvent",
    "timestamp:i64 coin_creator:pubkey coin_creator_fee:u64 coin_creator_vault_ata:pubkey "
    "coin_creator_token_account:pubkey",
)
TABLE.event(
    "CreateConfigEvent",
    "timestamp:i64 admin:pubkey lp_fee_basis_points:u64 protocol_fee_basis_points:u64 "
    "protocol_fee_recipients:[pubkey;8] coin_creator_fee_basis_points:u64 "
    "admin_set_coin_creator_authority:pubkey",
)
TABLE.event(
    "CreatePoolEvent",
    "timestamp:i64 index:u16 creator:pubkey base_mint:pubkey quote_mint:pubkey base_mint_decimals:u8 "
    "quote_mint_decimals:u8 base_amount_in:u64 quote_amount_in:u64 pool_base_amount:u64 "
    "pool_quote_amount:u64 minimum_liquidity:u64 initial_liquidity:u64 lp_token_amount_out:u64 "
    "pool_bump:u8 pool:pubkey lp_mint:pubkey user_base_token_account:pubkey "
    "user_quote_token_account:pubkey | coin_creator:pubkey | is_mayhem_mode:bool",
)
TABLE.event(
    "DepositEvent",
    "timestamp:i64 lp_token_amount_out:u64 max_base_amount_in:u64 max_quote_amount_in:u64 "
    "user_base_token_reserves:u64 user_quote_token_reserves:u64 pool_base_token_reserves:u64 "
    "pool_quote_token_reserves:u64 base_amount_in:u64 quote_amount_in:u64 lp_mint_supply:u64 "
    "pool:pubkey user:pubkey user_base_token_account:pubkey user_quote_token_account:pubkey "
    "user_pool_token_account:pubkey",
)
TABLE.event(
    "DisableEvent",
    "timestamp:i64 admin:pubkey disable_create_pool:bool disable_deposit:bool disable_withdraw:bool "
    "disable_buy:bool disable_sell:bool",
)
TABLE.event("ExtendAccountEvent", "timestamp:i64 account:pubkey user:pubkey current_size:u64 new_size:u64")
TABLE.event(
    "InitBoostEvent",
    "timestamp:i64 mint:pubkey bonding_curve:pubkey pool:pubkey virtual_quote_reserves:i128 "
    "real_quote_reserves_after:u64",
)
TABLE.event("InitUserVolumeAccumulatorEvent", "payer:pubkey user:pubkey timestamp:i64")
TABLE.event(
    "MigratePoolCoinCreatorEvent",
    "timestamp:i64 base_mint:pubkey pool:pubkey sharing_config:pubkey old_coin_creator:pubkey new_coin_creator:pubkey",
)
TABLE.event(
    "ReservedFeeRecipientsEvent",
    "timestamp:i64 reserved_fee_recipient:pubkey reserved_fee_recipients:[pubkey;7]",
)
TABLE.event(
    "SellEvent",
    "timestamp:i64 base_amount_in:u64 min_quote_amount_out:u64 user_base_token_reserves:u64 "
    "user_quote_token_reserves:u64 pool_base_token_reserves:u64 pool_quote_token_reserves:u64 "
    "quote_amount_out:u64 lp_fee_basis_points:u64 lp_fee:u64 protocol_fee_basis_points:u64 "
    "protocol_fee:u64 quote_amount_out_without_lp_fee:u64 user_quote_amount_out:u64 pool:pubkey "
    "user:pubkey user_base_token_account:pubkey user_quote_token_account:pubkey "
    "protocol_fee_recipient:pubkey protocol_fee_recipient_token_account:pubkey | coin_creator:pubkey "
    "coin_creator_fee_basis_points:u64 coin_creator_fee:u64 | cashback_fee_basis_points:u64 "
    "cashback:u64 | buyback_fee_basis_points:u64 buyback_fee:u64 | virtual_quote_reserves:i128 "
    "can_boost:bool base_supply:u64 | holder_rewards_bps:u64 holder_rewards:u64 "
    "creator_fee_unclaimed:u64",
)
TABLE.event(
    "SetBondingCurveCoinCreatorEvent",
    "timestamp:i64 base_mint:pubkey pool:pubkey bonding_curve:pubkey coin_creator:pubkey",
)
TABLE.event(
    "SetBoostAuthorityEvent",
    "timestamp:i64 admin:pubkey old_boost_authority:pubkey new_boost_authority:pubkey",
)
TABLE.event(
    "SetMetaplexCoinCreatorEvent",
    "timestamp:i64 base_mint:pubkey pool:pubkey metadata:pubkey coin_creator:pubkey",
)
TABLE.event(
    "SyncUserVolumeAccumulatorEvent",
    "user:pubkey total_claimed_tokens_before:u64 total_claimed_tokens_after:u64 timestamp:i64",
)
TABLE.event("UpdateAdminEvent", "timestamp:i64 admin:pubkey new_admin:pubkey")
TABLE.event(
    "UpdateFeeConfigEvent",
    "timestamp:i64 admin:pubkey lp_fee_basis_points:u64 protocol_fee_basis_points:u64 "
    "protocol_fee_recipients:[pubkey;8] coin_creator_fee_basis_points:u64 "
    "admin_set_coin_creator_authority:pubkey",
)
TABLE.event(
    "WithdrawEvent",
    "timestamp:i64 lp_token_amount_in:u64 min_base_amount_out:u64 min_quote_amount_out:u64 "
    "user_base_token_reserves:u64 user_quote_token_reserves:u64 pool_base_token_reserves:u64 "
    "pool_quote_token_reserves:u64 base_amount_out:u64 quote_amount_out:u64 lp_mint_supply:u64 "
    "pool:pubkey user:pubkey user_base_token_account:pubkey user_quote_token_account:pubkey "
    "user_pool_token_account:pubkey",
)
TABLE.instruction(
    "admin_set_coin_creator",
    "admin_set_coin_creator_authority global_config pool event_authority program",
    "coin_creator:pubkey",
)
TABLE.instruction(
    "admin_update_token_incentives",
    "admin global_config global_volume_accumulator mint global_incentive_token_account "
    "associated_token_program system_program token_program event_authority program",
    "start_time:i64 end_time:i64 seconds_in_a_day:i64 day_number:u64 token_supply_per_day:u64",
)
TABLE.instruction(
    "boost_buy_and_burn",
    "pool authority global_config base_mint quote_mint pool_base_token_account "
    "pool_quote_token_account boost_vault_authority boost_vault base_token_program "
    "quote_token_program event_authority program",
    "quote_amount_in:u64 min_base_amount_burned:u64",
)
TABLE.instruction(
    "buy",
    "pool user global_config base_mint quote_mint user_base_token_account user_quote_token_account "
    "pool_base_token_account pool_quote_token_account protocol_fee_recipient "
    "protocol_fee_recipient_token_account base_token_program quote_token_program system_program "
    "associated_token_program event_authority program coin_creator_vault_ata "
    "coin_creator_vault_authority global_volume_accumulator user_volume_accumulator fee_config "
    "fee_program",
    "base_amount_out:u64 max_quote_amount_in:u64 | track_volume:OptionBool",
)
TABLE.instruction(
    "buy_exact_quote_in",
    "pool user global_config base_mint quote_mint user_base_token_account user_quote_token_account "
    "pool_base_token_account pool_quote_token_account protocol_fee_recipient "
    "protocol_fee_recipient_token_account base_token_program quote_token_program system_program "
    "associated_token_program event_authority program coin_creator_vault_ata "
    "coin_creator_vault_authority global_volume_accumulator user_volume_accumulator fee_config "
    "fee_program",
    "spendable_quote_in:u64 min_base_amount_out:u64 track_volume:OptionBool",
)
TABLE.instruction(
    "claim_cashback",
    "user user_volume_accumulator quote_mint quote_token_program "
    "user_volume_accumulator_wsol_token_account user_wsol_token_account system_program "
    "event_authority program",
)
TABLE.instruction(
    "claim_token_incentives",
    "user user_ata global_volume_accumulator global_incentive_token_account user_volume_accumulator "
    "mint token_program system_program associated_token_program event_authority program payer",
)
TABLE.instruction("close_user_volume_accumulator", "user user_volume_accumulator event_authority program")
TABLE.instruction(
    "collect_coin_creator_fee",
    "quote_mint quote_token_program coin_creator coin_creator_vault_authority coin_creator_vault_ata "
    "coin_creator_token_account event_authority program",
)
TABLE.instruction(
    "create_config",
    "admin global_config system_program event_authority program",
    "lp_fee_basis_points:u64 protocol_fee_basis_points:u64 protocol_fee_recipients:[pubkey;8] "
    "coin_creator_fee_basis_points:u64 admin_set_coin_creator_authority:pubkey",
)
TABLE.instruction(
    "create_pool",
    "pool global_config creator base_mint quote_mint lp_mint user_base_token_account "
    "user_quote_token_account user_pool_token_account pool_base_token_account "
    "pool_quote_token_account system_program token_2022_program base_token_program "
    "quote_token_program associated_token_program event_authority program",
    "index:u16 base_amount_in:u64 quote_amount_in:u64 | coin_creator:pubkey | is_mayhem_mode:bool | "
    "is_cashback_coin:OptionBool",
)
TABLE.instruction(
    "deposit",
    "pool global_config user base_mint quote_mint lp_mint user_base_token_account "
    "user_quote_token_account user_pool_token_account pool_base_token_account "
    "pool_quote_token_account token_program token_2022_program event_authority program",
    "lp_token_amount_out:u64 max_base_amount_in:u64 max_quote_amount_in:u64",
)
TABLE.instruction(
    "disable",
    "admin global_config event_authority program",
    "disable_create_pool:bool disable_deposit:bool disable_withdraw:bool disable_buy:bool disable_sell:bool",
)
TABLE.instruction("extend_account", "account user system_program event_authority program")
TABLE.instruction(
    "init_boost",
    "pool global_config creator base_mint quote_mint pool_base_token_account pool_quote_token_account "
    "boost_vault_authority boost_vault quote_token_program system_program associated_token_program "
    "event_authority program",
)
TABLE.instruction(
    "init_user_volume_accumulator",
    "payer user user_volume_accumulator system_program event_authority program",
)
TABLE.instruction("migrate_pool_coin_creator", "pool sharing_config event_authority program")
TABLE.instruction(
    "sell",
    "pool user global_config base_mint quote_mint user_base_token_account user_quote_token_account "
    "pool_base_token_account pool_quote_token_account protocol_fee_recipient "
    "protocol_fee_recipient_token_account base_token_program quote_token_program system_program "
    "associated_token_program event_authority program coin_creator_vault_ata "
    "coin_creator_vault_authority fee_config fee_program",
    "base_amount_in:u64 min_quote_amount_out:u64",
)
TABLE.instruction("set_boost_authority", "admin global_config boost_authority system_program event_authority program")
TABLE.instruction("set_coin_creator", "pool metadata bonding_curve event_authority program")
TABLE.instruction("set_reserved_fee_recipients", "global_config admin event_authority program", "whitelist_pda:pubkey")
TABLE.instruction(
    "sync_user_volume_accumulator",
    "user global_volume_accumulator user_volume_accumulator event_authority program",
)
TABLE.instruction("toggle_boost", "admin global_config", "enabled:bool")
TABLE.instruction("toggle_cashback_enabled", "admin global_config event_authority program", "enabled:bool")
TABLE.instruction("toggle_mayhem_mode", "admin global_config event_authority program", "enabled:bool")
TABLE.instruction(
    "transfer_creator_fees_to_pump",
    "wsol_mint token_program system_program associated_token_program coin_creator "
    "coin_creator_vault_authority coin_creator_vault_ata pump_creator_vault event_authority program",
)
TABLE.instruction(
    "transfer_creator_fees_to_pump_v2",
    "payer quote_mint token_program system_program associated_token_program coin_creator "
    "coin_creator_vault_authority coin_creator_vault_ata pump_creator_vault pump_creator_vault_ata "
    "event_authority program",
)
TABLE.instruction("update_admin", "admin global_config new_admin event_authority program")
TABLE.instruction(
    "update_buyback_config",
    "admin global_config event_authority program",
    "buyback_basis_points:option<u64>",
)
TABLE.instruction(
    "update_fee_config",
    "admin global_config event_authority program",
    "lp_fee_basis_points:u64 protocol_fee_basis_points:u64 protocol_fee_recipients:[pubkey;8] "
    "coin_creator_fee_basis_points:u64 admin_set_coin_creator_authority:pubkey",
)
TABLE.instruction(
    "withdraw",
    "pool global_config user base_mint quote_mint lp_mint user_base_token_account "
    "user_quote_token_account user_pool_token_account pool_base_token_account "
    "pool_quote_token_account token_program token_2022_program event_authority program",
    "lp_token_amount_in:u64 min_base_amount_out:u64 min_quote_amount_out:u64",
)
