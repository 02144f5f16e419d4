"""pump.fun bonding curve (6EF8…) as a layout table: every event, instruction and defined type of the
current public IDL (``scripts/idl_table.py`` output), with the older layouts marked ``|``.

Older layouts, from the official IDL's history (pump-fun/pump-public-docs) and mainnet events:
``TradeEvent`` 129 bytes until spring 2025 (to ``real_token_reserves``), then to ``creator_fee`` (May
2025), ``last_update_timestamp`` (August 2025, 258 bytes), ``ix_name`` (October 2025), ``mayhem_mode``
(January 2026), ``cashback`` (February 2026), ``real_quote_reserves`` (May 2026, 358+ bytes);
``CreateEvent`` to ``user`` (2024), ``timestamp`` (April 2025), ``token_total_supply`` (May 2025),
``is_mayhem_mode`` (November 2025), ``is_cashback_enabled`` (February 2026); ``CompleteEvent`` and
``CompletePumpAmmMigrationEvent`` gained ``quote_mint`` in May 2026.
"""

from __future__ import annotations

from solflow.domain.decode.layout import ProgramLayouts

TABLE = ProgramLayouts("pumpfun")

TABLE.struct("Shareholder", "address:pubkey share_bps:u16")
TABLE.struct("OptionBool", "_0:bool")
TABLE.event(
    "AdminSetCreatorEvent",
    "timestamp:i64 admin_set_creator_authority:pubkey mint:pubkey bonding_curve:pubkey "
    "old_creator:pubkey new_creator:pubkey",
)
TABLE.event("AdminSetIdlAuthorityEvent", "idl_authority:pubkey")
TABLE.event(
    "AdminUpdateTokenIncentivesEvent",
    "start_time:i64 end_time:i64 day_number:u64 token_supply_per_day:u64 mint:pubkey "
    "seconds_in_a_day:i64 timestamp:i64",
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
TABLE.event("CollectCreatorFeeEvent", "timestamp:i64 creator:pubkey creator_fee:u64 quote_mint:pubkey")
TABLE.event("CompleteEvent", "user:pubkey mint:pubkey bonding_curve:pubkey timestamp:i64 | quote_mint:pubkey")
TABLE.event(
    "CompletePumpAmmMigrationEvent",
    "user:pubkey mint:pubkey mint_amount:u64 sol_amount:u64 pool_migration_fee:u64 "
    "bonding_curve:pubkey timestamp:i64 pool:pubkey | quote_mint:pubkey",
)
TABLE.event(
    "CreateEvent",
    "name:string symbol:string uri:string mint:pubkey bonding_curve:pubkey user:pubkey | creator:pubkey "
    "timestamp:i64 | virtual_token_reserves:u64 virtual_sol_reserves:u64 real_token_reserves:u64 "
    "token_total_supply:u64 | token_program:pubkey is_mayhem_mode:bool | is_cashback_enabled:bool | "
    "quote_mint:pubkey virtual_quote_reserves:u64",
)
TABLE.event(
    "DistributeCreatorFeesEvent",
    "timestamp:i64 mint:pubkey bonding_curve:pubkey sharing_config:pubkey admin:pubkey "
    "shareholders:vec<Shareholder> distributed:u64 quote_mint:pubkey",
)
TABLE.event("ExtendAccountEvent", "account:pubkey user:pubkey current_size:u64 new_size:u64 timestamp:i64")
TABLE.event("InitUserVolumeAccumulatorEvent", "payer:pubkey user:pubkey timestamp:i64")
TABLE.event(
    "MigrateBondingCurveCreatorEvent",
    "timestamp:i64 mint:pubkey bonding_curve:pubkey sharing_config:pubkey old_creator:pubkey new_creator:pubkey",
)
TABLE.event("MinimumDistributableFeeEvent", "minimum_required:u64 distributable_fees:u64 can_distribute:bool")
TABLE.event(
    "ReservedFeeRecipientsEvent",
    "timestamp:i64 reserved_fee_recipient:pubkey reserved_fee_recipients:[pubkey;7]",
)
TABLE.event("SetCreatorEvent", "timestamp:i64 mint:pubkey bonding_curve:pubkey creator:pubkey")
TABLE.event("SetMetaplexCreatorEvent", "timestamp:i64 mint:pubkey bonding_curve:pubkey metadata:pubkey creator:pubkey")
TABLE.event(
    "SetParamsEvent",
    "initial_virtual_token_reserves:u64 initial_virtual_sol_reserves:u64 "
    "initial_real_token_reserves:u64 final_real_sol_reserves:u64 token_total_supply:u64 "
    "fee_basis_points:u64 withdraw_authority:pubkey enable_migrate:bool pool_migration_fee:u64 "
    "creator_fee_basis_points:u64 fee_recipients:[pubkey;8] timestamp:i64 "
    "set_creator_authority:pubkey admin_set_creator_authority:pubkey",
)
TABLE.event(
    "SyncUserVolumeAccumulatorEvent",
    "user:pubkey total_claimed_tokens_before:u64 total_claimed_tokens_after:u64 timestamp:i64",
)
TABLE.event(
    "TradeEvent",
    "mint:pubkey sol_amount:u64 token_amount:u64 is_buy:bool user:pubkey timestamp:i64 "
    "virtual_sol_reserves:u64 virtual_token_reserves:u64 real_sol_reserves:u64 "
    "real_token_reserves:u64 | fee_recipient:pubkey fee_basis_points:u64 fee:u64 creator:pubkey "
    "creator_fee_basis_points:u64 creator_fee:u64 | track_volume:bool total_unclaimed_tokens:u64 "
    "total_claimed_tokens:u64 current_sol_volume:u64 last_update_timestamp:i64 | ix_name:string | "
    "mayhem_mode:bool | cashback_fee_basis_points:u64 cashback:u64 | buyback_fee_basis_points:u64 "
    "buyback_fee:u64 shareholders:vec<Shareholder> quote_mint:pubkey quote_amount:u64 "
    "virtual_quote_reserves:u64 real_quote_reserves:u64 | holder_rewards_bps:u64 holder_rewards:u64 "
    "creator_fee_unclaimed:u64",
)
TABLE.event("UpdateGlobalAuthorityEvent", "global:pubkey authority:pubkey new_authority:pubkey timestamp:i64")
TABLE.event(
    "UpdateMayhemVirtualParamsEvent",
    "timestamp:i64 mint:pubkey virtual_token_reserves:u64 virtual_sol_reserves:u64 "
    "new_virtual_token_reserves:u64 new_virtual_sol_reserves:u64 real_token_reserves:u64 "
    "real_sol_reserves:u64",
)
TABLE.instruction("add_quote_mint", "global authority event_authority program", "quote_mint:pubkey")
TABLE.instruction(
    "admin_set_creator",
    "admin_set_creator_authority global mint bonding_curve event_authority program",
    "creator:pubkey",
)
TABLE.instruction(
    "admin_set_idl_authority",
    "authority global idl_account system_program program_signer event_authority program",
    "idl_authority:pubkey",
)
TABLE.instruction(
    "admin_update_token_incentives",
    "authority global global_volume_accumulator mint global_incentive_token_account "
    "associated_token_program system_program token_program event_authority program",
    "start_time:i64 end_time:i64 seconds_in_a_day:i64 day_number:u64 pump_token_supply_per_day:u64",
)
TABLE.instruction(
    "buy",
    "global fee_recipient mint bonding_curve associated_bonding_curve associated_user user "
    "system_program token_program creator_vault event_authority program global_volume_accumulator "
    "user_volume_accumulator fee_config fee_program",
    "amount:u64 max_sol_cost:u64 | track_volume:OptionBool",
)
TABLE.instruction(
    "buy_exact_quote_in_v2",
    "global base_mint quote_mint base_token_program quote_token_program associated_token_program "
    "fee_recipient associated_quote_fee_recipient buyback_fee_recipient "
    "associated_quote_buyback_fee_recipient bonding_curve associated_base_bonding_curve "
    "associated_quote_bonding_curve user associated_base_user associated_quote_user creator_vault "
    "associated_creator_vault sharing_config global_volume_accumulator user_volume_accumulator "
    "associated_user_volume_accumulator fee_config fee_program system_program event_authority program",
    "spendable_quote_in:u64 min_tokens_out:u64",
)
TABLE.instruction(
    "buy_exact_sol_in",
    "global fee_recipient mint bonding_curve associated_bonding_curve associated_user user "
    "system_program token_program creator_vault event_authority program global_volume_accumulator "
    "user_volume_accumulator fee_config fee_program",
    "spendable_sol_in:u64 min_tokens_out:u64 track_volume:OptionBool",
)
TABLE.instruction(
    "buy_v2",
    "global base_mint quote_mint base_token_program quote_token_program associated_token_program "
    "fee_recipient associated_quote_fee_recipient buyback_fee_recipient "
    "associated_quote_buyback_fee_recipient bonding_curve associated_base_bonding_curve "
    "associated_quote_bonding_curve user associated_base_user associated_quote_user creator_vault "
    "associated_creator_vault sharing_config global_volume_accumulator user_volume_accumulator "
    "associated_user_volume_accumulator fee_config fee_program system_program event_authority program",
    "amount:u64 max_sol_cost:u64",
)
TABLE.instruction("claim_cashback", "user user_volume_accumulator system_program event_authority program")
TABLE.instruction(
    "claim_cashback_v2",
    "user user_volume_accumulator quote_mint quote_token_program associated_token_program "
    "associated_user_volume_accumulator associated_quote_user system_program event_authority program",
)
TABLE.instruction(
    "claim_token_incentives",
    "user user_ata global_volume_accumulator global_incentive_token_account user_volume_accumulator "
    "mint token_program system_program associated_token_program event_authority program payer",
)
TABLE.instruction("close_user_volume_accumulator", "user user_volume_accumulator event_authority program")
TABLE.instruction("collect_creator_fee", "creator creator_vault system_program event_authority program")
TABLE.instruction(
    "collect_creator_fee_v2",
    "creator creator_token_account creator_vault creator_vault_token_account quote_mint "
    "quote_token_program associated_token_program system_program event_authority program",
)
TABLE.instruction(
    "create",
    "mint mint_authority bonding_curve associated_bonding_curve global mpl_token_metadata metadata "
    "user system_program token_program associated_token_program rent event_authority program",
    "name:string symbol:string uri:string | creator:pubkey",
)
TABLE.instruction(
    "create_v2",
    "mint mint_authority bonding_curve associated_bonding_curve global user system_program "
    "token_program associated_token_program mayhem_program_id global_params sol_vault mayhem_state "
    "mayhem_token_vault event_authority program",
    "name:string symbol:string uri:string creator:pubkey is_mayhem_mode:bool | is_cashback_enabled:OptionBool",
)
TABLE.instruction(
    "distribute_creator_fees",
    "mint bonding_curve sharing_config creator_vault system_program event_authority program",
)
TABLE.instruction(
    "distribute_creator_fees_v2",
    "payer mint bonding_curve sharing_config creator_vault system_program event_authority program "
    "creator_vault_quote_token_account quote_mint quote_token_program associated_token_program",
    "initialize_ata:bool",
)
TABLE.instruction("extend_account", "account user system_program event_authority program")
TABLE.instruction("get_minimum_distributable_fee", "mint bonding_curve sharing_config creator_vault")
TABLE.instruction(
    "init_user_volume_accumulator",
    "payer user user_volume_accumulator system_program event_authority program",
)
TABLE.instruction("initialize", "global user system_program")
TABLE.instruction(
    "migrate",
    "global withdraw_authority mint bonding_curve associated_bonding_curve user system_program "
    "token_program pump_amm pool pool_authority pool_authority_mint_account "
    "pool_authority_wsol_account amm_global_config wsol_mint lp_mint user_pool_token_account "
    "pool_base_token_account pool_quote_token_account token_2022_program associated_token_program "
    "pump_amm_event_authority event_authority program rent",
)
TABLE.instruction("migrate_bonding_curve_creator", "mint bonding_curve sharing_config event_authority program")
TABLE.instruction(
    "migrate_v2",
    "global withdraw_authority base_mint quote_mint bonding_curve associated_base_bonding_curve "
    "associated_quote_bonding_curve user system_program pump_amm pool pool_authority "
    "pool_authority_mint_account pool_authority_quote_account amm_global_config lp_mint "
    "user_pool_token_account pool_base_token_account pool_quote_token_account base_token_program "
    "quote_token_program token_2022_program associated_token_program pump_amm_event_authority rent "
    "event_authority program",
)
TABLE.instruction("remove_quote_mint", "global authority event_authority program", "quote_mint:pubkey")
TABLE.instruction(
    "sell",
    "global fee_recipient mint bonding_curve associated_bonding_curve associated_user user "
    "system_program creator_vault token_program event_authority program fee_config fee_program",
    "amount:u64 min_sol_output:u64",
)
TABLE.instruction(
    "sell_v2",
    "global base_mint quote_mint base_token_program quote_token_program associated_token_program "
    "fee_recipient associated_quote_fee_recipient buyback_fee_recipient "
    "associated_quote_buyback_fee_recipient bonding_curve associated_base_bonding_curve "
    "associated_quote_bonding_curve user associated_base_user associated_quote_user creator_vault "
    "associated_creator_vault sharing_config user_volume_accumulator "
    "associated_user_volume_accumulator fee_config fee_program system_program event_authority program",
    "amount:u64 min_sol_output:u64",
)
TABLE.instruction(
    "set_creator",
    "set_creator_authority global mint metadata bonding_curve event_authority program",
    "creator:pubkey",
)
TABLE.instruction(
    "set_mayhem_virtual_params",
    "sol_vault_authority mayhem_token_vault mint global bonding_curve token_program event_authority program",
)
TABLE.instruction("set_metaplex_creator", "mint metadata bonding_curve event_authority program")
TABLE.instruction(
    "set_params",
    "global authority event_authority program",
    "initial_virtual_token_reserves:u64 initial_virtual_sol_reserves:u64 "
    "initial_real_token_reserves:u64 token_total_supply:u64 fee_basis_points:u64 "
    "withdraw_authority:pubkey enable_migrate:bool pool_migration_fee:u64 "
    "creator_fee_basis_points:u64 set_creator_authority:pubkey admin_set_creator_authority:pubkey",
)
TABLE.instruction("set_reserved_fee_recipients", "global authority event_authority program", "whitelist_pda:pubkey")
TABLE.instruction(
    "set_virtual_quote_reserves",
    "global authority event_authority program",
    "initial_virtual_quote_reserves:u64",
)
TABLE.instruction(
    "sync_user_volume_accumulator",
    "user global_volume_accumulator user_volume_accumulator event_authority program",
)
TABLE.instruction("toggle_cashback_enabled", "global authority event_authority program", "enabled:bool")
TABLE.instruction("toggle_create_v2", "global authority event_authority program", "enabled:bool")
TABLE.instruction("toggle_mayhem_mode", "global authority event_authority program", "enabled:bool")
TABLE.instruction(
    "update_buyback_config",
    "global authority event_authority program",
    "buyback_basis_points:option<u64>",
)
TABLE.instruction("update_global_authority", "global authority new_authority event_authority program")
