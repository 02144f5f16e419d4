"""PumpSwap AMM: pools of a token against WSOL, `buy` (and `buy_exact_quote_in`) / `sell` / `create_pool`,
liquidity `deposit` / `withdraw`, and their events.

A buy pays `quote_amount_in` into the pool plus the LP, protocol and coin-creator fees
(`user_quote_amount_in` is the sum); a sell receives `quote_amount_out` minus the same fees.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from solflow.simulator import events, keys, spl
from solflow.simulator.common import SOL, Asset, Outcome, enter_venue, event_bytes, exit_venue, fee
from solflow.simulator.ledger import token_account_rent
from solflow.simulator.tx import ExpectedTrade, TxBuilder

PROGRAM = keys.PUMPSWAP_PROGRAM
BUY = events.instruction_discriminator("buy")
SELL = events.instruction_discriminator("sell")
CREATE_POOL = events.instruction_discriminator("create_pool")
BUY_EXACT_QUOTE_IN = events.instruction_discriminator("buy_exact_quote_in")
DEPOSIT = events.instruction_discriminator("deposit")
WITHDRAW = events.instruction_discriminator("withdraw")
LP_DECIMALS = 9
NEWER_LAYOUT_TAIL = bytes(range(24))  # fields of a program version newer than SolFlow's tables
LP_FEE_BPS = 20
PROTOCOL_FEE_BPS = 5
COIN_CREATOR_FEE_BPS = 5
SLIPPAGE_ERROR = 6004  # ExceededSlippage
POOL_ACCOUNT_RENT = 4_000_000
LP_MINT_RENT = 1_600_000
_AMOUNTS = struct.Struct("<QQ")
_CREATE_POOL_ARGS = struct.Struct("<HQQ32s??")


@dataclass(eq=False)
class Pool:
    key: bytes
    base: Asset
    quote: Asset
    index: int
    creator: bytes
    coin_creator: bytes
    lp_mint: bytes
    base_vault: bytes
    quote_vault: bytes
    creator_vault_authority: bytes
    creator_vault: bytes
    lp_supply: int = 0
    providers: dict[bytes, int] = field(default_factory=dict)  # LP tokens per liquidity provider


def new_pool(world_keys: keys.Keyring, base: Asset, creator: bytes, coin_creator: bytes, index: int = 0) -> Pool:
    pool = keys.pda(PROGRAM, b"pool", struct.pack("<H", index), creator, base.mint, SOL.mint)
    authority = keys.pda(PROGRAM, b"creator_vault", coin_creator)
    return Pool(
        key=pool,
        base=base,
        quote=SOL,
        index=index,
        creator=creator,
        coin_creator=coin_creator,
        lp_mint=keys.pda(PROGRAM, b"pool_lp_mint", pool),
        base_vault=world_keys.ata(pool, base.mint, base.program),
        quote_vault=world_keys.ata(pool, SOL.mint, SOL.program),
        creator_vault_authority=authority,
        creator_vault=world_keys.ata(authority, SOL.mint, SOL.program),
    )


def fee_recipient(world_keys: keys.Keyring, number: int) -> tuple[bytes, bytes]:
    """One of the protocol's eight fee recipients and its WSOL account."""
    recipient = world_keys.fresh(f"pumpswap/protocol-fee-recipient/{number % 8}")
    return recipient, world_keys.ata(recipient, SOL.mint, SOL.program)


def _accounts(
    b: TxBuilder,
    pool: Pool,
    user: bytes,
    user_base: bytes,
    user_quote: bytes,
    is_buy: bool,
    recipient: bytes,
    recipient_account: bytes,
) -> tuple[tuple[bytes, ...], str]:
    accounts: tuple[bytes, ...] = (
        pool.key,
        user,
        keys.PUMPSWAP_GLOBAL_CONFIG,
        pool.base.mint,
        pool.quote.mint,
        user_base,
        user_quote,
        pool.base_vault,
        pool.quote_vault,
        recipient,
        recipient_account,
        pool.base.program,
        pool.quote.program,
        keys.SYSTEM_PROGRAM,
        keys.ATA_PROGRAM,
        keys.PUMPSWAP_EVENT_AUTHORITY,
        PROGRAM,
        pool.creator_vault,
        pool.creator_vault_authority,
    )
    roles = "wSrrrwwwwrwrrrrrrwr"
    user_volume = keys.pda(PROGRAM, b"user_volume_accumulator", user)
    if is_buy:
        accounts += (keys.PUMPSWAP_GLOBAL_VOLUME, user_volume)
        roles += "ww"
    accounts += (keys.PUMPSWAP_FEE_CONFIG, keys.PUMP_FEE_PROGRAM)
    return accounts, roles + "rr"


def quote_for_spend(b: TxBuilder, pool: Pool, spend: int) -> int:
    """The base amount a buyer spending about `spend` lamports (fees included) asks for."""
    base_reserve, quote_reserve = b.token_amount(pool.base_vault), b.token_amount(pool.quote_vault)
    net = spend * 10_000 // (10_000 + LP_FEE_BPS + PROTOCOL_FEE_BPS + COIN_CREATOR_FEE_BPS)
    return base_reserve * net // (quote_reserve + net)


def swap(
    b: TxBuilder,
    pool: Pool,
    user: bytes,
    *,
    is_buy: bool,
    base_amount: int,
    outcome: Outcome = "ok",
    via: bytes | None = None,
    keep_wsol: bool = False,
    variant: bool = False,
    newer: bool = False,
) -> None:
    """A complete buy or sell: wrap SOL / open accounts, the swap instruction, unwrap. `variant`: a buy as
    `buy_exact_quote_in`; `newer`: its event carries fields of a program version newer than SolFlow's."""
    world = b.world
    rng = world.rng
    base_reserve, quote_reserve = b.token_amount(pool.base_vault), b.token_amount(pool.quote_vault)
    if is_buy:
        quote_amount = -(-quote_reserve * base_amount // (base_reserve - base_amount))
        lp_fee, protocol_fee = fee(quote_amount, LP_FEE_BPS), fee(quote_amount, PROTOCOL_FEE_BPS)
        creator_fee = fee(quote_amount, COIN_CREATOR_FEE_BPS)
        user_quote = quote_amount + lp_fee + protocol_fee + creator_fee
        limit = user_quote + user_quote * rng.randrange(1, 30) // 100
        if outcome == "failed":
            limit = user_quote - user_quote * rng.randrange(1, 5) // 100
        user_quote_account = spl.wrap_sol(b, user, limit)
        user_base_account = spl.create_ata(b, user, user, pool.base.mint, pool.base.program, pool.base.decimals)
        if variant:
            data = BUY_EXACT_QUOTE_IN + _AMOUNTS.pack(limit, base_amount * 99 // 100) + b"\x01"
        else:
            data = BUY + _AMOUNTS.pack(base_amount, limit) + b"\x01"
        with_lp = quote_amount + lp_fee
    else:
        quote_amount = quote_reserve * base_amount // (base_reserve + base_amount)
        lp_fee, protocol_fee = fee(quote_amount, LP_FEE_BPS), fee(quote_amount, PROTOCOL_FEE_BPS)
        creator_fee = fee(quote_amount, COIN_CREATOR_FEE_BPS)
        user_quote = quote_amount - lp_fee - protocol_fee - creator_fee
        limit = user_quote - user_quote * rng.randrange(1, 30) // 100
        if outcome == "failed":
            limit = user_quote + user_quote * rng.randrange(1, 5) // 100
        user_quote_account = spl.create_ata(b, user, user, SOL.mint, SOL.program, SOL.decimals)
        user_base_account = world.keyring.ata(user, pool.base.mint, pool.base.program)
        data = SELL + _AMOUNTS.pack(base_amount, limit)
        with_lp = quote_amount - lp_fee

    recipient, recipient_account = fee_recipient(world.keyring, rng.randrange(8))
    accounts, roles = _accounts(
        b, pool, user, user_base_account, user_quote_account, is_buy, recipient, recipient_account
    )
    enter_venue(b, PROGRAM, accounts, roles, data, via, "Instruction: Swap")
    b.log("Instruction: Buy" if is_buy else "Instruction: Sell")
    b.enter(keys.PUMP_FEE_PROGRAM, (keys.PUMPSWAP_FEE_CONFIG, PROGRAM), "", bytes.fromhex("e7257e55cf5b3f34"))
    b.log("Instruction: GetFees")
    b.exit(4_641, returned=struct.pack("<QQQ", LP_FEE_BPS, PROTOCOL_FEE_BPS, COIN_CREATOR_FEE_BPS))
    if outcome == "failed":
        b.fail(
            SLIPPAGE_ERROR,
            (
                "AnchorError occurred. Error Code: ExceededSlippage. Error Number: 6004. "
                "Error Message: Exceeded slippage.",
            ),
            rng.randrange(20_000, 30_000),
        )
        exit_venue(b, 0, via)
        return

    base, quote = pool.base, pool.quote
    if is_buy:
        spl.transfer(
            b, pool.base_vault, user_base_account, pool.key, base_amount, base.mint, base.decimals, base.program
        )
        spl.transfer(b, user_quote_account, pool.quote_vault, user, with_lp, quote.mint, quote.decimals)
        spl.transfer(b, user_quote_account, recipient_account, user, protocol_fee, quote.mint, quote.decimals)
        spl.transfer(b, user_quote_account, pool.creator_vault, user, creator_fee, quote.mint, quote.decimals)
    else:
        spl.transfer(b, user_base_account, pool.base_vault, user, base_amount, base.mint, base.decimals, base.program)
        spl.transfer(b, pool.quote_vault, user_quote_account, pool.key, user_quote, quote.mint, quote.decimals)
        spl.transfer(b, pool.quote_vault, recipient_account, pool.key, protocol_fee, quote.mint, quote.decimals)
        spl.transfer(b, pool.quote_vault, pool.creator_vault, pool.key, creator_fee, quote.mint, quote.decimals)

    event = event_bytes(
        events.pumpswap_trade(
            is_buy=is_buy,
            timestamp=b.block_time,
            base_amount=base_amount,
            quote_limit=limit,
            user_base_reserves=b.token_amount(user_base_account),
            user_quote_reserves=b.token_amount(user_quote_account),
            pool_base_reserves=base_reserve,
            pool_quote_reserves=quote_reserve,
            quote_amount=quote_amount,
            lp_fee_basis_points=LP_FEE_BPS,
            lp_fee=lp_fee,
            protocol_fee_basis_points=PROTOCOL_FEE_BPS,
            protocol_fee=protocol_fee,
            quote_amount_with_lp_fee=with_lp,
            user_quote_amount=user_quote,
            pool=pool.key,
            user=user,
            user_base_token_account=user_base_account,
            user_quote_token_account=user_quote_account,
            protocol_fee_recipient=recipient,
            protocol_fee_recipient_token_account=recipient_account,
            coin_creator=pool.coin_creator,
            coin_creator_fee_basis_points=COIN_CREATOR_FEE_BPS,
            coin_creator_fee=creator_fee,
            base_supply=1_000_000_000_000_000,
            ix_name="buy_exact_quote_in" if variant and is_buy else "buy",
            newer=NEWER_LAYOUT_TAIL if newer else b"",
        ),
        outcome,
    )
    b.log_data(event)
    outer = b.outer_index
    inner = b.emit_cpi_event(PROGRAM, keys.PUMPSWAP_EVENT_AUTHORITY, event)
    exit_venue(b, rng.randrange(40_000, 60_000), via)
    if is_buy or not keep_wsol:
        spl.close_account(b, user_quote_account, user, user)

    b.expect(
        ExpectedTrade(
            program_id=PROGRAM,
            direction="buy" if is_buy else "sell",
            trader=user,
            mint=base.mint,
            quote_mint=quote.mint,
            token_amount_raw=base_amount,
            token_decimals=base.decimals,
            quote_amount_raw=user_quote,
            quote_decimals=quote.decimals,
            fee_amount_raw=lp_fee + protocol_fee + creator_fee,
            outer_ix_index=outer,
            inner_ix_index=inner,
            via=via,
            pool=pool.key,
            is_dca=False,
            decode_source="cpi_event",
            reserves=(
                None,
                None,
                base_reserve - base_amount if is_buy else base_reserve + base_amount,
                quote_reserve + with_lp if is_buy else quote_reserve - with_lp,
            ),
        )
        if outcome == "ok"
        else _fallback(b, pool, user, is_buy, base_amount, user_quote, outer, via)
    )


def _fallback(
    b: TxBuilder,
    pool: Pool,
    user: bytes,
    is_buy: bool,
    base_amount: int,
    user_quote: int,
    outer: int,
    via: bytes | None,
) -> ExpectedTrade:
    return ExpectedTrade(
        program_id=PROGRAM,
        direction="buy" if is_buy else "sell",
        trader=user,
        mint=pool.base.mint,
        quote_mint=pool.quote.mint,
        token_amount_raw=base_amount,
        token_decimals=pool.base.decimals,
        quote_amount_raw=user_quote,
        quote_decimals=pool.quote.decimals,
        fee_amount_raw=None,
        outer_ix_index=outer,
        inner_ix_index=None,
        via=via,
        pool=None,
        is_dca=False,
        decode_source="balance_delta",
    )


def create_pool_rent(pool: Pool) -> int:
    """Lamports the creator of ``create_pool`` pays for the pool's accounts (pool, LP mint, vaults)."""
    return (
        POOL_ACCOUNT_RENT
        + LP_MINT_RENT
        + token_account_rent(pool.base.program)
        + token_account_rent(pool.quote.program)
    )


def create_pool(
    b: TxBuilder,
    pool: Pool,
    creator: bytes,
    creator_base: bytes,
    creator_quote: bytes,
    base_amount: int,
    quote_amount: int,
) -> int:
    """`create_pool` (here always as a CPI of pump.fun's `migrate`); returns the event's inner index."""
    rng = b.world.rng
    accounts = (
        pool.key,
        keys.PUMPSWAP_GLOBAL_CONFIG,
        creator,
        pool.base.mint,
        pool.quote.mint,
        pool.lp_mint,
        creator_base,
        creator_quote,
        b.world.keyring.ata(creator, pool.lp_mint, keys.TOKEN_2022_PROGRAM),
        pool.base_vault,
        pool.quote_vault,
        keys.SYSTEM_PROGRAM,
        keys.TOKEN_2022_PROGRAM,
        pool.base.program,
        pool.quote.program,
        keys.ATA_PROGRAM,
        keys.PUMPSWAP_EVENT_AUTHORITY,
        PROGRAM,
    )
    b.enter(
        PROGRAM,
        accounts,
        "",
        CREATE_POOL + _CREATE_POOL_ARGS.pack(pool.index, base_amount, quote_amount, pool.coin_creator, False, False),
    )
    b.log("Instruction: CreatePool")
    spl.create_account(b, creator, pool.key, POOL_ACCOUNT_RENT, 300, PROGRAM)
    spl.create_account(b, creator, pool.lp_mint, LP_MINT_RENT, 82, keys.TOKEN_2022_PROGRAM)
    spl.create_ata(b, creator, pool.key, pool.base.mint, pool.base.program, pool.base.decimals, idempotent=False)
    spl.create_ata(b, creator, pool.key, pool.quote.mint, pool.quote.program, pool.quote.decimals, idempotent=False)
    spl.transfer(
        b, creator_base, pool.base_vault, creator, base_amount, pool.base.mint, pool.base.decimals, pool.base.program
    )
    spl.transfer(b, creator_quote, pool.quote_vault, creator, quote_amount, pool.quote.mint, pool.quote.decimals)
    liquidity = math.isqrt(base_amount * quote_amount)
    pool.lp_supply = liquidity
    event = events.pumpswap_create_pool(
        timestamp=b.block_time,
        index=pool.index,
        creator=creator,
        base_mint=pool.base.mint,
        quote_mint=pool.quote.mint,
        base_mint_decimals=pool.base.decimals,
        quote_mint_decimals=pool.quote.decimals,
        base_amount_in=base_amount,
        quote_amount_in=quote_amount,
        minimum_liquidity=100,
        initial_liquidity=liquidity,
        pool_bump=255,
        pool=pool.key,
        lp_mint=pool.lp_mint,
        user_base_token_account=creator_base,
        user_quote_token_account=creator_quote,
        coin_creator=pool.coin_creator,
    )
    b.log_data(event)
    inner = b.emit_cpi_event(PROGRAM, keys.PUMPSWAP_EVENT_AUTHORITY, event)
    b.expect_lifecycle("pool_created")
    b.exit(rng.randrange(90_000, 120_000))
    return inner


def liquidity(b: TxBuilder, pool: Pool, user: bytes, *, deposit: bool, lp_amount: int) -> None:
    """`deposit` (base and WSOL in, LP tokens minted) or `withdraw` (LP tokens burnt, base and SOL out),
    in proportion to the pool's reserves."""
    keyring = b.world.keyring
    base, quote = pool.base, pool.quote
    base_reserve, quote_reserve = b.token_amount(pool.base_vault), b.token_amount(pool.quote_vault)
    supply = pool.lp_supply
    if deposit:
        base_amount = -(-lp_amount * base_reserve // supply)
        quote_amount = -(-lp_amount * quote_reserve // supply)
        user_quote = spl.wrap_sol(b, user, quote_amount)
        user_lp = spl.create_ata(b, user, user, pool.lp_mint, keys.TOKEN_2022_PROGRAM, LP_DECIMALS)
    else:
        base_amount = lp_amount * base_reserve // supply
        quote_amount = lp_amount * quote_reserve // supply
        user_quote = spl.create_ata(b, user, user, quote.mint, quote.program, quote.decimals)
        user_lp = keyring.ata(user, pool.lp_mint, keys.TOKEN_2022_PROGRAM)
    user_base = keyring.ata(user, base.mint, base.program)
    accounts = (
        pool.key,
        keys.PUMPSWAP_GLOBAL_CONFIG,
        user,
        base.mint,
        quote.mint,
        pool.lp_mint,
        user_base,
        user_quote,
        user_lp,
        pool.base_vault,
        pool.quote_vault,
        keys.TOKEN_PROGRAM,
        keys.TOKEN_2022_PROGRAM,
        keys.PUMPSWAP_EVENT_AUTHORITY,
        PROGRAM,
    )
    slack = 1 + b.world.rng.randrange(1, 5) / 100
    base_limit = int(base_amount * slack) if deposit else int(base_amount / slack)
    quote_limit = int(quote_amount * slack) if deposit else int(quote_amount / slack)
    b.enter(
        PROGRAM,
        accounts,
        "wrSrrwwwwwwrrrr",
        (DEPOSIT if deposit else WITHDRAW) + struct.pack("<QQQ", lp_amount, base_limit, quote_limit),
    )
    b.log("Instruction: Deposit" if deposit else "Instruction: Withdraw")
    if deposit:
        spl.transfer(b, user_base, pool.base_vault, user, base_amount, base.mint, base.decimals, base.program)
        spl.transfer(b, user_quote, pool.quote_vault, user, quote_amount, quote.mint, quote.decimals)
        b.mint_tokens(user_lp, lp_amount)
        b.call(
            keys.TOKEN_2022_PROGRAM,
            (pool.lp_mint, user_lp, pool.key),
            "wwr",
            b"\x07" + struct.pack("<Q", lp_amount),
            4_500,
            "Instruction: MintTo",
        )
    else:
        b.mint_tokens(user_lp, -lp_amount)
        b.call(
            keys.TOKEN_2022_PROGRAM,
            (user_lp, pool.lp_mint, user),
            "wwr",
            b"\x08" + struct.pack("<Q", lp_amount),
            4_700,
            "Instruction: Burn",
        )
        spl.transfer(b, pool.base_vault, user_base, pool.key, base_amount, base.mint, base.decimals, base.program)
        spl.transfer(b, pool.quote_vault, user_quote, pool.key, quote_amount, quote.mint, quote.decimals)
    supply_after = supply + lp_amount if deposit else supply - lp_amount
    event = events.pumpswap_liquidity(
        deposit=deposit,
        timestamp=b.block_time,
        lp_amount=lp_amount,
        base_limit=base_limit,
        quote_limit=quote_limit,
        user_base_reserves=b.token_amount(user_base),
        user_quote_reserves=b.token_amount(user_quote),
        pool_base_reserves=base_reserve,
        pool_quote_reserves=quote_reserve,
        base_amount=base_amount,
        quote_amount=quote_amount,
        lp_mint_supply=supply_after,
        pool=pool.key,
        user=user,
        user_base_token_account=user_base,
        user_quote_token_account=user_quote,
        user_pool_token_account=user_lp,
    )
    b.log_data(event)
    b.emit_cpi_event(PROGRAM, keys.PUMPSWAP_EVENT_AUTHORITY, event)
    b.expect_lifecycle("liquidity_deposit" if deposit else "liquidity_withdraw")
    b.exit(b.world.rng.randrange(40_000, 70_000))
    spl.close_account(b, user_quote, user, user)
    pool.lp_supply = supply_after
    held = pool.providers.get(user, 0) + (lp_amount if deposit else -lp_amount)
    if held:
        pool.providers[user] = held
    else:
        pool.providers.pop(user, None)
