"""Borsh encodings of the programs' Anchor events, as the programs write them.

Each function returns the event bytes: the 8-byte event discriminator followed by the borsh payload
in the field order of the program's IDL. pump.fun's TradeEvent exists in its 129-byte 2024 layout
and the current one; LaunchLab's TradeEvent in the 138-byte mid-2025 layout and the current
147-byte one. ``newer`` bytes, where a function takes them, stand for fields a program version newer
than SolFlow's layout tables appended.
"""

from __future__ import annotations

import hashlib
import struct


def discriminator(event_name: str) -> bytes:
    return hashlib.sha256(f"event:{event_name}".encode()).digest()[:8]


def instruction_discriminator(name: str) -> bytes:
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


def borsh_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<I", len(raw)) + raw


TRADE_EVENT = discriminator("TradeEvent")  # shared by pump.fun, LaunchLab and Moonshot
CREATE_EVENT = discriminator("CreateEvent")
COMPLETE_EVENT = discriminator("CompleteEvent")
MIGRATION_EVENT = discriminator("CompletePumpAmmMigrationEvent")
MOONSHOT_MIGRATION_EVENT = discriminator("MigrationEvent")
DEPOSIT_EVENT = discriminator("DepositEvent")
WITHDRAW_LIQUIDITY_EVENT = discriminator("WithdrawEvent")
BUY_EVENT = discriminator("BuyEvent")
SELL_EVENT = discriminator("SellEvent")
CREATE_POOL_EVENT = discriminator("CreatePoolEvent")
POOL_CREATE_EVENT = discriminator("PoolCreateEvent")
FILLED_EVENT = discriminator("Filled")
OPENED_EVENT = discriminator("Opened")
CLOSED_EVENT = discriminator("Closed")
COLLECTED_FEE_EVENT = discriminator("CollectedFee")
WITHDRAW_EVENT = discriminator("Withdraw")

_PUMP_TRADE_2024 = struct.Struct("<32sQQ?32sqQQQQ")
_PUMP_TRADE_FEES = struct.Struct("<32sQQ32sQQ?QQQq")
_PUMP_TRADE_TAIL = struct.Struct("<?QQQQ")
_PUMP_TRADE_QUOTE = struct.Struct("<32sQQQ")
_HOLDER_FIELDS = struct.Struct("<QQQ")  # holder_rewards_bps, holder_rewards (part of the fee), creator_fee_unclaimed


def pumpfun_trade(
    *,
    mint: bytes,
    sol_amount: int,
    token_amount: int,
    is_buy: bool,
    user: bytes,
    timestamp: int,
    virtual_sol_reserves: int,
    virtual_token_reserves: int,
    real_sol_reserves: int,
    real_token_reserves: int,
    legacy_layout: bool = False,
    fee_recipient: bytes = bytes(32),
    fee_basis_points: int = 0,
    fee: int = 0,
    creator: bytes = bytes(32),
    creator_fee_basis_points: int = 0,
    creator_fee: int = 0,
    ix_name: str = "buy",
    cashback_fee_basis_points: int = 0,
    cashback: int = 0,
    buyback_fee_basis_points: int = 0,
    buyback_fee: int = 0,
    quote_mint: bytes = bytes(32),
    quote_amount: int = 0,
    virtual_quote_reserves: int = 0,
    real_quote_reserves: int = 0,
    newer: bytes = b"",
) -> bytes:
    head = TRADE_EVENT + _PUMP_TRADE_2024.pack(
        mint,
        sol_amount,
        token_amount,
        is_buy,
        user,
        timestamp,
        virtual_sol_reserves,
        virtual_token_reserves,
        real_sol_reserves,
        real_token_reserves,
    )
    if legacy_layout:
        return head
    return b"".join(
        (
            head,
            _PUMP_TRADE_FEES.pack(
                fee_recipient,
                fee_basis_points,
                fee,
                creator,
                creator_fee_basis_points,
                creator_fee,
                True,
                0,
                0,
                0,
                timestamp,
            ),
            borsh_string(ix_name),
            _PUMP_TRADE_TAIL.pack(False, cashback_fee_basis_points, cashback, buyback_fee_basis_points, buyback_fee),
            struct.pack("<I", 0),  # shareholders: empty vec
            _PUMP_TRADE_QUOTE.pack(quote_mint, quote_amount, virtual_quote_reserves, real_quote_reserves),
            _HOLDER_FIELDS.pack(0, 0, 0),
            newer,
        )
    )


_PUMP_CREATE = struct.Struct("<32s32s32s32sqQQQQ32s??32sQ")


def pumpfun_create(
    *,
    name: str,
    symbol: str,
    uri: str,
    mint: bytes,
    bonding_curve: bytes,
    user: bytes,
    creator: bytes,
    timestamp: int,
    virtual_token_reserves: int,
    virtual_sol_reserves: int,
    real_token_reserves: int,
    token_total_supply: int,
    token_program: bytes,
    quote_mint: bytes,
    virtual_quote_reserves: int,
) -> bytes:
    return b"".join(
        (
            CREATE_EVENT,
            borsh_string(name),
            borsh_string(symbol),
            borsh_string(uri),
            _PUMP_CREATE.pack(
                mint,
                bonding_curve,
                user,
                creator,
                timestamp,
                virtual_token_reserves,
                virtual_sol_reserves,
                real_token_reserves,
                token_total_supply,
                token_program,
                False,
                False,
                quote_mint,
                virtual_quote_reserves,
            ),
        )
    )


_PUMP_MIGRATION = struct.Struct("<32s32sQQQ32sq32s32s")


_PUMP_COMPLETE = struct.Struct("<32s32s32sq32s")


def pumpfun_complete(*, user: bytes, mint: bytes, bonding_curve: bytes, timestamp: int, quote_mint: bytes) -> bytes:
    return COMPLETE_EVENT + _PUMP_COMPLETE.pack(user, mint, bonding_curve, timestamp, quote_mint)


def pumpfun_migration(
    *,
    user: bytes,
    mint: bytes,
    mint_amount: int,
    sol_amount: int,
    pool_migration_fee: int,
    bonding_curve: bytes,
    timestamp: int,
    pool: bytes,
    quote_mint: bytes,
) -> bytes:
    return MIGRATION_EVENT + _PUMP_MIGRATION.pack(
        user, mint, mint_amount, sol_amount, pool_migration_fee, bonding_curve, timestamp, pool, quote_mint
    )


_SWAP_AMOUNTS = struct.Struct("<q13Q")
_SWAP_ACCOUNTS = struct.Struct("<32s32s32s32s32s32s32sQQ")
_SWAP_VOLUME = struct.Struct("<?QQQq")
_SWAP_TAIL = struct.Struct("<QQQQ16s?Q")


def pumpswap_trade(
    *,
    is_buy: bool,
    timestamp: int,
    base_amount: int,
    quote_limit: int,
    user_base_reserves: int,
    user_quote_reserves: int,
    pool_base_reserves: int,
    pool_quote_reserves: int,
    quote_amount: int,
    lp_fee_basis_points: int,
    lp_fee: int,
    protocol_fee_basis_points: int,
    protocol_fee: int,
    quote_amount_with_lp_fee: int,
    user_quote_amount: int,
    pool: bytes,
    user: bytes,
    user_base_token_account: bytes,
    user_quote_token_account: bytes,
    protocol_fee_recipient: bytes,
    protocol_fee_recipient_token_account: bytes,
    coin_creator: bytes,
    coin_creator_fee_basis_points: int,
    coin_creator_fee: int,
    base_supply: int,
    ix_name: str = "buy",
    newer: bytes = b"",
) -> bytes:
    """BuyEvent (`is_buy`) or SellEvent: the two share their layout up to the volume fields."""
    amounts = _SWAP_AMOUNTS.pack(
        timestamp,
        base_amount,
        quote_limit,
        user_base_reserves,
        user_quote_reserves,
        pool_base_reserves,
        pool_quote_reserves,
        quote_amount,
        lp_fee_basis_points,
        lp_fee,
        protocol_fee_basis_points,
        protocol_fee,
        quote_amount_with_lp_fee,
        user_quote_amount,
    )
    accounts = _SWAP_ACCOUNTS.pack(
        pool,
        user,
        user_base_token_account,
        user_quote_token_account,
        protocol_fee_recipient,
        protocol_fee_recipient_token_account,
        coin_creator,
        coin_creator_fee_basis_points,
        coin_creator_fee,
    )
    tail = _SWAP_TAIL.pack(0, 0, 0, 0, bytes(16), False, base_supply) + _HOLDER_FIELDS.pack(0, 0, 0) + newer
    if is_buy:
        volume = _SWAP_VOLUME.pack(True, 0, 0, 0, timestamp)
        return b"".join(
            (BUY_EVENT, amounts, accounts, volume, struct.pack("<Q", base_amount), borsh_string(ix_name), tail)
        )
    return SELL_EVENT + amounts + accounts + tail


_LIQUIDITY = struct.Struct("<q10Q32s32s32s32s32s")


def pumpswap_liquidity(
    *,
    deposit: bool,
    timestamp: int,
    lp_amount: int,
    base_limit: int,
    quote_limit: int,
    user_base_reserves: int,
    user_quote_reserves: int,
    pool_base_reserves: int,
    pool_quote_reserves: int,
    base_amount: int,
    quote_amount: int,
    lp_mint_supply: int,
    pool: bytes,
    user: bytes,
    user_base_token_account: bytes,
    user_quote_token_account: bytes,
    user_pool_token_account: bytes,
) -> bytes:
    """DepositEvent (`deposit`) or WithdrawEvent: the same layout, amounts in or out of the pool."""
    return (DEPOSIT_EVENT if deposit else WITHDRAW_LIQUIDITY_EVENT) + _LIQUIDITY.pack(
        timestamp,
        lp_amount,
        base_limit,
        quote_limit,
        user_base_reserves,
        user_quote_reserves,
        pool_base_reserves,
        pool_quote_reserves,
        base_amount,
        quote_amount,
        lp_mint_supply,
        pool,
        user,
        user_base_token_account,
        user_quote_token_account,
        user_pool_token_account,
    )


_CREATE_POOL = struct.Struct("<qH32s32s32sBBQQQQQQQB32s32s32s32s32s?")


def pumpswap_create_pool(
    *,
    timestamp: int,
    index: int,
    creator: bytes,
    base_mint: bytes,
    quote_mint: bytes,
    base_mint_decimals: int,
    quote_mint_decimals: int,
    base_amount_in: int,
    quote_amount_in: int,
    minimum_liquidity: int,
    initial_liquidity: int,
    pool_bump: int,
    pool: bytes,
    lp_mint: bytes,
    user_base_token_account: bytes,
    user_quote_token_account: bytes,
    coin_creator: bytes,
) -> bytes:
    return CREATE_POOL_EVENT + _CREATE_POOL.pack(
        timestamp,
        index,
        creator,
        base_mint,
        quote_mint,
        base_mint_decimals,
        quote_mint_decimals,
        base_amount_in,
        quote_amount_in,
        base_amount_in,
        quote_amount_in,
        minimum_liquidity,
        initial_liquidity,
        initial_liquidity - minimum_liquidity,
        pool_bump,
        pool,
        lp_mint,
        user_base_token_account,
        user_quote_token_account,
        coin_creator,
        False,
    )


_LAUNCHLAB_TRADE_2025 = struct.Struct("<32s12QBB")
_LAUNCHLAB_TRADE = struct.Struct("<32s13QBB?")


def launchlab_trade(
    *,
    pool_state: bytes,
    total_base_sell: int,
    virtual_base: int,
    virtual_quote: int,
    real_base_before: int,
    real_quote_before: int,
    real_base_after: int,
    real_quote_after: int,
    amount_in: int,
    amount_out: int,
    protocol_fee: int,
    platform_fee: int,
    creator_fee: int,
    share_fee: int,
    is_buy: bool,
    legacy_layout: bool = False,
    completed: bool = False,
    exact_in: bool = True,
) -> bytes:
    direction = 0 if is_buy else 1
    fund_status = 1 if completed else 0  # PoolStatus: Fund, Migrate (sold out, awaiting migration)
    if legacy_layout:
        return TRADE_EVENT + _LAUNCHLAB_TRADE_2025.pack(
            pool_state,
            total_base_sell,
            virtual_base,
            virtual_quote,
            real_base_before,
            real_quote_before,
            real_base_after,
            real_quote_after,
            amount_in,
            amount_out,
            protocol_fee,
            platform_fee,
            share_fee,
            direction,
            fund_status,
        )
    return TRADE_EVENT + _LAUNCHLAB_TRADE.pack(
        pool_state,
        total_base_sell,
        virtual_base,
        virtual_quote,
        real_base_before,
        real_quote_before,
        real_base_after,
        real_quote_after,
        amount_in,
        amount_out,
        protocol_fee,
        platform_fee,
        creator_fee,
        share_fee,
        direction,
        fund_status,
        exact_in,
    )


_LAUNCHLAB_CURVE = struct.Struct("<BQQQB")
_LAUNCHLAB_VESTING = struct.Struct("<QQQB")


def launchlab_pool_create(
    *,
    pool_state: bytes,
    creator: bytes,
    config: bytes,
    decimals: int,
    name: str,
    symbol: str,
    uri: str,
    supply: int,
    total_base_sell: int,
    total_quote_fund_raising: int,
) -> bytes:
    return b"".join(
        (
            POOL_CREATE_EVENT,
            pool_state,
            creator,
            config,
            bytes((decimals,)),
            borsh_string(name),
            borsh_string(symbol),
            borsh_string(uri),
            _LAUNCHLAB_CURVE.pack(0, supply, total_base_sell, total_quote_fund_raising, 1),
            _LAUNCHLAB_VESTING.pack(0, 0, 0, 0),
        )
    )


_MOONSHOT_TRADE = struct.Struct("<QQQQQ32s32s32sB")


def moonshot_trade(
    *,
    amount: int,
    collateral_amount: int,
    dex_fee: int,
    helio_fee: int,
    allocation: int,
    curve: bytes,
    cost_token: bytes,
    sender: bytes,
    is_buy: bool,
) -> bytes:
    return (
        TRADE_EVENT
        + _MOONSHOT_TRADE.pack(
            amount, collateral_amount, dex_fee, helio_fee, allocation, curve, cost_token, sender, 0 if is_buy else 1
        )
        + borsh_string("trade")
    )


def moonshot_migration(*, tokens_migrated: int, tokens_burned: int, collateral_migrated: int, fee: int) -> bytes:
    return (
        MOONSHOT_MIGRATION_EVENT
        + struct.pack("<QQQQ", tokens_migrated, tokens_burned, collateral_migrated, fee)
        + borsh_string("migrate")
    )


_DCA_FILLED = struct.Struct("<32s32s32s32sQQ32sQ")
_DCA_OPENED = struct.Struct("<32s32sQ32s32sqQq")
_DCA_CLOSED_TAIL = struct.Struct("<QQQ?")
_DCA_COLLECTED_FEE = struct.Struct("<32s32s32sQ")
_DCA_WITHDRAW = struct.Struct("<32sQQ?")


def dca_filled(
    *,
    user: bytes,
    dca: bytes,
    input_mint: bytes,
    output_mint: bytes,
    in_amount: int,
    out_amount: int,
    fee_mint: bytes,
    fee: int,
) -> bytes:
    return FILLED_EVENT + _DCA_FILLED.pack(user, dca, input_mint, output_mint, in_amount, out_amount, fee_mint, fee)


def dca_opened(
    *,
    user: bytes,
    dca: bytes,
    in_deposited: int,
    input_mint: bytes,
    output_mint: bytes,
    cycle_frequency: int,
    in_amount_per_cycle: int,
    created_at: int,
) -> bytes:
    return OPENED_EVENT + _DCA_OPENED.pack(
        user, dca, in_deposited, input_mint, output_mint, cycle_frequency, in_amount_per_cycle, created_at
    )


def dca_closed(
    *,
    user: bytes,
    dca: bytes,
    in_deposited: int,
    input_mint: bytes,
    output_mint: bytes,
    cycle_frequency: int,
    in_amount_per_cycle: int,
    created_at: int,
    total_in_withdrawn: int,
    total_out_withdrawn: int,
    unfilled_amount: int,
    user_closed: bool,
) -> bytes:
    return (
        CLOSED_EVENT
        + _DCA_OPENED.pack(
            user, dca, in_deposited, input_mint, output_mint, cycle_frequency, in_amount_per_cycle, created_at
        )
        + _DCA_CLOSED_TAIL.pack(total_in_withdrawn, total_out_withdrawn, unfilled_amount, user_closed)
    )


def dca_collected_fee(*, user: bytes, dca: bytes, mint: bytes, amount: int) -> bytes:
    return COLLECTED_FEE_EVENT + _DCA_COLLECTED_FEE.pack(user, dca, mint, amount)


def dca_withdraw(*, dca: bytes, in_amount: int, out_amount: int, user_withdraw: bool) -> bytes:
    return WITHDRAW_EVENT + _DCA_WITHDRAW.pack(dca, in_amount, out_amount, user_withdraw)
