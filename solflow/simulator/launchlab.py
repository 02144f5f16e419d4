"""Raydium LaunchLab (LetsBonk) pools: `initialize_v2` (+ creator buy), `buy_exact_in` / `sell_exact_in`
(and their exact-out twins), the buy that sells a pool out (it leaves it in `Migrate`), and
`migrate_to_cpswap`, which moves the pool's tokens and quote into a Raydium CPMM pool (no event).

`amount_in` of a buy and `amount_out` of a sell are trader-side (fees included / deducted); token
amounts are pool-side, so on a Token-2022 mint with a transfer fee the trader's own balance moves by
a different amount. Pools are quoted in SOL or in another token (an xStock with 8 decimals). The
mid-2025 TradeEvent (138 bytes) has no `creator_fee`/`exact_in` and was written only by self-CPI.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solflow.simulator import events, keys, spl
from solflow.simulator.common import Asset, Outcome, enter_venue, event_bytes, exit_venue, fee
from solflow.simulator.keys import b58
from solflow.simulator.tx import ExpectedTrade, TxBuilder

PROGRAM = keys.LAUNCHLAB_PROGRAM
BUY_EXACT_IN = events.instruction_discriminator("buy_exact_in")
SELL_EXACT_IN = events.instruction_discriminator("sell_exact_in")
BUY_EXACT_OUT = events.instruction_discriminator("buy_exact_out")
SELL_EXACT_OUT = events.instruction_discriminator("sell_exact_out")
MIGRATE_TO_CPSWAP = events.instruction_discriminator("migrate_to_cpswap")
INITIALIZE_V2 = events.instruction_discriminator("initialize_v2")

DECIMALS = 6
SUPPLY = 1_000_000_000_000_000
TOTAL_BASE_SELL = 793_100_000_000_000
VIRTUAL_BASE = 1_073_025_605_596_382
PROTOCOL_FEE_BPS = 25
PLATFORM_FEE_BPS = 100
CREATOR_FEE_BPS = 5
EXCEEDED_SLIPPAGE = 6004
POOL_RENT = 4_491_360
_TRADE_ARGS = struct.Struct("<QQQ")


@dataclass(eq=False)
class Pool:
    key: bytes
    base: Asset
    quote: Asset
    creator: bytes
    base_vault: bytes
    quote_vault: bytes
    platform_config: bytes
    global_config: bytes
    platform_fee_vault: bytes
    creator_fee_vault: bytes
    virtual_quote: int
    real_base: int = 0  # tokens sold so far
    real_quote: int = 0  # quote raised so far, fees excluded
    completed: bool = False  # sold out: no more trades, waiting for its migration


def new_pool(world_keys: keys.Keyring, base: Asset, quote: Asset, creator: bytes, virtual_quote: int) -> Pool:
    pool = keys.pda(PROGRAM, b"pool", base.mint, quote.mint)
    platform = world_keys.fresh("launchlab/letsbonk-platform")
    return Pool(
        key=pool,
        base=base,
        quote=quote,
        creator=creator,
        base_vault=keys.pda(PROGRAM, b"pool_vault", pool, base.mint),
        quote_vault=keys.pda(PROGRAM, b"pool_vault", pool, quote.mint),
        platform_config=keys.pda(PROGRAM, b"platform_config", platform),
        global_config=keys.pda(PROGRAM, b"global_config", quote.mint, b"\x00"),
        platform_fee_vault=world_keys.ata(platform, quote.mint, quote.program),
        creator_fee_vault=keys.pda(PROGRAM, b"creator_fee_vault", creator, quote.mint),
        virtual_quote=virtual_quote,
    )


def unsold(pool: Pool) -> int:
    """Tokens the pool may still sell before it completes and migrates away."""
    return TOTAL_BASE_SELL - pool.real_base


def completion_cost(pool: Pool) -> int:
    """What the buy of every token left for sale costs, fees included (a `buy_exact_out`)."""
    amount_out = unsold(pool)
    base_reserve, quote_reserve = VIRTUAL_BASE - pool.real_base, pool.virtual_quote + pool.real_quote
    needed = -(-quote_reserve * amount_out // (base_reserve - amount_out))
    return -(-needed * 10_000 // (10_000 - PROTOCOL_FEE_BPS - PLATFORM_FEE_BPS - CREATOR_FEE_BPS))


def buy_amount_out(pool: Pool, amount_in: int) -> int:
    """An upper bound of what `amount_in` buys now (the creator fee left out)."""
    net = amount_in - fee(amount_in, PROTOCOL_FEE_BPS) - fee(amount_in, PLATFORM_FEE_BPS)
    return (VIRTUAL_BASE - pool.real_base) * net // (pool.virtual_quote + pool.real_quote + net)


def trade(
    b: TxBuilder,
    pool: Pool,
    user: bytes,
    *,
    is_buy: bool,
    amount_in: int,
    outcome: Outcome = "ok",
    via: bytes | None = None,
    legacy_layout: bool = False,
    variant: bool = False,
    complete: bool = False,
) -> None:
    """`buy_exact_in` spending `amount_in` quote, or `sell_exact_in` selling `amount_in` tokens; `variant`:
    the same trade as `buy_exact_out` / `sell_exact_out`; `complete`: a `buy_exact_out` of every token
    the pool has left for sale (what it costs replaces `amount_in`)."""
    rng = b.world.rng
    keyring = b.world.keyring
    base, quote = pool.base, pool.quote
    base_reserve = VIRTUAL_BASE - pool.real_base
    quote_reserve = pool.virtual_quote + pool.real_quote
    creator_bps = 0 if legacy_layout else CREATOR_FEE_BPS
    if complete:
        amount_out, amount_in = unsold(pool), completion_cost(pool)
        protocol_fee, platform_fee = fee(amount_in, PROTOCOL_FEE_BPS), fee(amount_in, PLATFORM_FEE_BPS)
        creator_fee = fee(amount_in, creator_bps)
        net = amount_in - protocol_fee - platform_fee - creator_fee
        token_amount, user_quote, pool_quote_change = amount_out, amount_in, net
    elif is_buy:
        protocol_fee, platform_fee = fee(amount_in, PROTOCOL_FEE_BPS), fee(amount_in, PLATFORM_FEE_BPS)
        creator_fee = fee(amount_in, creator_bps)
        net = amount_in - protocol_fee - platform_fee - creator_fee
        amount_out = base_reserve * net // (quote_reserve + net)
        token_amount, user_quote, pool_quote_change = amount_out, amount_in, net
    else:
        gross = quote_reserve * amount_in // (base_reserve + amount_in)
        protocol_fee, platform_fee = fee(gross, PROTOCOL_FEE_BPS), fee(gross, PLATFORM_FEE_BPS)
        creator_fee = fee(gross, creator_bps)
        amount_out = gross - protocol_fee - platform_fee - creator_fee
        token_amount, user_quote, pool_quote_change = amount_in, amount_out, -gross
    if is_buy:
        arrives = amount_out - base.withheld(amount_out)
        pool_side_in = amount_in
    else:
        pool_side_in = amount_in - base.withheld(amount_in)
        token_amount = pool_side_in
    minimum = amount_out - amount_out * rng.randrange(1, 20) // 100
    if outcome == "failed":
        minimum = amount_out + amount_out * rng.randrange(1, 5) // 100 + 1

    if quote.is_sol:
        user_quote_account = (
            spl.wrap_sol(b, user, amount_in)
            if is_buy
            else spl.create_ata(b, user, user, quote.mint, quote.program, quote.decimals)
        )
    else:
        user_quote_account = keyring.ata(user, quote.mint, quote.program)
    user_base_account = (
        spl.create_ata(b, user, user, base.mint, base.program, base.decimals)
        if is_buy
        else keyring.ata(user, base.mint, base.program)
    )

    accounts = (
        user,
        keys.LAUNCHLAB_AUTHORITY,
        pool.global_config,
        pool.platform_config,
        pool.key,
        user_base_account,
        user_quote_account,
        pool.base_vault,
        pool.quote_vault,
        base.mint,
        quote.mint,
        base.program,
        quote.program,
        keys.LAUNCHLAB_EVENT_AUTHORITY,
        PROGRAM,
        keys.SYSTEM_PROGRAM,
        pool.platform_fee_vault,
        pool.creator_fee_vault,
    )
    exact_in = not (variant or complete)
    if exact_in:
        data = (BUY_EXACT_IN if is_buy else SELL_EXACT_IN) + _TRADE_ARGS.pack(amount_in, minimum, 0)
    else:  # names what it takes out and the most it gives for it
        data = (BUY_EXACT_OUT if is_buy else SELL_EXACT_OUT) + _TRADE_ARGS.pack(amount_out, amount_in * 101 // 100, 0)
    enter_venue(b, PROGRAM, accounts, "Srrrwwwwwrrrrrrrww", data, via, "Instruction: Swap")
    b.log(f"Instruction: {'Buy' if is_buy else 'Sell'}Exact{'In' if exact_in else 'Out'}")
    if outcome == "failed":
        b.fail(
            EXCEEDED_SLIPPAGE,
            (
                "AnchorError occurred. Error Code: ExceededSlippage. Error Number: 6004. "
                "Error Message: Exceeded slippage tolerance.",
            ),
            rng.randrange(20_000, 35_000),
        )
        exit_venue(b, 0, via)
        return

    new_real_base = pool.real_base + (amount_out if is_buy else -pool_side_in)
    new_real_quote = pool.real_quote + pool_quote_change
    event = event_bytes(
        events.launchlab_trade(
            pool_state=pool.key,
            total_base_sell=TOTAL_BASE_SELL,
            virtual_base=VIRTUAL_BASE,
            virtual_quote=pool.virtual_quote,
            real_base_before=pool.real_base,
            real_quote_before=pool.real_quote,
            real_base_after=new_real_base,
            real_quote_after=new_real_quote,
            amount_in=amount_in if is_buy else pool_side_in,
            amount_out=amount_out,
            protocol_fee=protocol_fee,
            platform_fee=platform_fee,
            creator_fee=creator_fee,
            share_fee=0,
            is_buy=is_buy,
            legacy_layout=legacy_layout,
            completed=complete,
            exact_in=exact_in,
        ),
        outcome,
    )
    outer = b.outer_index
    inner = b.emit_cpi_event(PROGRAM, keys.LAUNCHLAB_EVENT_AUTHORITY, event)
    if complete:
        b.expect_lifecycle("curve_completed")
    if not legacy_layout:
        b.log_data(event)
    authority = keys.LAUNCHLAB_AUTHORITY
    if is_buy:
        spl.transfer(
            b, user_quote_account, pool.quote_vault, user, net + protocol_fee, quote.mint, quote.decimals, quote.program
        )
        spl.transfer(
            b,
            user_quote_account,
            pool.platform_fee_vault,
            user,
            platform_fee,
            quote.mint,
            quote.decimals,
            quote.program,
        )
        if creator_fee:
            spl.transfer(
                b,
                user_quote_account,
                pool.creator_fee_vault,
                user,
                creator_fee,
                quote.mint,
                quote.decimals,
                quote.program,
            )
        spl.transfer(
            b,
            pool.base_vault,
            user_base_account,
            authority,
            amount_out,
            base.mint,
            base.decimals,
            base.program,
            withheld=amount_out - arrives,
        )
    else:
        spl.transfer(
            b,
            user_base_account,
            pool.base_vault,
            user,
            amount_in,
            base.mint,
            base.decimals,
            base.program,
            withheld=amount_in - pool_side_in,
        )
        spl.transfer(
            b, pool.quote_vault, user_quote_account, authority, amount_out, quote.mint, quote.decimals, quote.program
        )
        spl.transfer(
            b,
            pool.quote_vault,
            pool.platform_fee_vault,
            authority,
            platform_fee,
            quote.mint,
            quote.decimals,
            quote.program,
        )
        if creator_fee:
            spl.transfer(
                b,
                pool.quote_vault,
                pool.creator_fee_vault,
                authority,
                creator_fee,
                quote.mint,
                quote.decimals,
                quote.program,
            )
    exit_venue(b, rng.randrange(35_000, 60_000), via)
    if quote.is_sol:
        spl.close_account(b, user_quote_account, user, user)
    pool.real_base, pool.real_quote = new_real_base, new_real_quote
    pool.completed = pool.completed or complete

    known = outcome == "ok"
    if not known:  # the balance-delta view: what the trader's own accounts show
        token_amount = arrives if is_buy else amount_in
    b.expect(
        ExpectedTrade(
            program_id=PROGRAM,
            direction="buy" if is_buy else "sell",
            trader=user,
            mint=base.mint,
            quote_mint=quote.mint,
            token_amount_raw=token_amount,
            token_decimals=base.decimals,
            quote_amount_raw=user_quote,
            quote_decimals=quote.decimals,
            fee_amount_raw=protocol_fee + platform_fee + creator_fee if known else None,
            outer_ix_index=outer,
            inner_ix_index=inner if known else None,
            via=via,
            pool=pool.key if known else None,
            is_dca=False,
            decode_source="cpi_event" if known else "balance_delta",
            # as the decoder reports them: pricing reserves, and tokens still for sale
            reserves=(
                VIRTUAL_BASE - new_real_base,
                pool.virtual_quote + new_real_quote,
                TOTAL_BASE_SELL - new_real_base,
                new_real_quote,
            )
            if known
            else (None,) * 4,
        )
    )


def initialize(b: TxBuilder, pool: Pool, payer: bytes, name: str, symbol: str, legacy_layout: bool) -> None:
    """`initialize_v2`: mint the token into the pool's vault and open the quote vault."""
    rng = b.world.rng
    base, quote = pool.base, pool.quote
    metadata = keys.pda(keys.METAPLEX_PROGRAM, b"metadata", keys.METAPLEX_PROGRAM, base.mint)
    uri = f"https://ipfs.io/ipfs/bafkrei{b.world.keyring.fresh('bonk-uri/' + symbol).hex()[:44]}"
    mint_params = bytes((base.decimals,)) + b"".join(events.borsh_string(s) for s in (name, symbol, uri))
    curve = struct.pack("<BQQQB", 0, SUPPLY, TOTAL_BASE_SELL, 85_000_000_000, 1)
    accounts = (
        payer,
        pool.creator,
        pool.global_config,
        pool.platform_config,
        keys.LAUNCHLAB_AUTHORITY,
        pool.key,
        base.mint,
        quote.mint,
        pool.base_vault,
        pool.quote_vault,
        metadata,
        base.program,
        quote.program,
        keys.METAPLEX_PROGRAM,
        keys.SYSTEM_PROGRAM,
        keys.RENT_SYSVAR,
        keys.LAUNCHLAB_EVENT_AUTHORITY,
        PROGRAM,
    )
    b.enter(PROGRAM, accounts, "SrrrrwSrwwwrrrrrrr", INITIALIZE_V2 + mint_params + curve + bytes(25) + b"\x00")
    b.log("Instruction: InitializeV2")
    spl.create_account(b, payer, pool.key, POOL_RENT, 521, PROGRAM)
    spl.create_account(b, payer, base.mint, 1_461_600, 82, base.program)
    b.enter(base.program, (base.mint,), "", b"\x14" + bytes((base.decimals,)) + keys.LAUNCHLAB_AUTHORITY + b"\x00")
    b.log("Instruction: InitializeMint2")
    b.exit(2_780)
    for vault, asset in ((pool.base_vault, base), (pool.quote_vault, quote)):
        spl.create_account(
            b, payer, vault, 2_039_280 if asset.program == keys.TOKEN_PROGRAM else 2_074_080, 165, asset.program
        )
        b.enter(asset.program, (vault, asset.mint), "", b"\x12" + keys.LAUNCHLAB_AUTHORITY)
        b.log("Instruction: InitializeAccount3")
        b.open_token_account(vault, keys.LAUNCHLAB_AUTHORITY, asset.mint, asset.program, asset.decimals)
        b.exit(3_500)
    b.enter(
        keys.METAPLEX_PROGRAM, (metadata, base.mint, keys.LAUNCHLAB_AUTHORITY, payer), "", b"\x21" + mint_params[1:]
    )
    b.log("IX: Create Metadata Accounts v3")
    spl.create_account(b, payer, metadata, 15_115_600, 679, keys.METAPLEX_PROGRAM)
    b.exit(rng.randrange(30_000, 40_000))
    b.enter(base.program, (base.mint, pool.base_vault, keys.LAUNCHLAB_AUTHORITY), "", struct.pack("<BQ", 7, SUPPLY))
    b.log("Instruction: MintTo")
    b.mint_tokens(pool.base_vault, SUPPLY)
    b.exit(4_492)
    event = events.launchlab_pool_create(
        pool_state=pool.key,
        creator=pool.creator,
        config=pool.global_config,
        decimals=base.decimals,
        name=name,
        symbol=symbol,
        uri=uri,
        supply=SUPPLY,
        total_base_sell=TOTAL_BASE_SELL,
        total_quote_fund_raising=85_000_000_000,
    )
    b.emit_cpi_event(PROGRAM, keys.LAUNCHLAB_EVENT_AUTHORITY, event)
    b.expect_lifecycle("token_created")
    if not legacy_layout:
        b.log_data(event)
    b.exit(rng.randrange(60_000, 80_000))


def migrate_to_cpswap(b: TxBuilder, pool: Pool, payer: bytes) -> None:
    """A sold-out pool's tokens and quote go to a new Raydium CPMM pool; the instruction names it."""
    keyring = b.world.keyring
    base, quote = pool.base, pool.quote
    cpswap = keyring.fresh("raydium/cpswap-program")
    cpswap_pool = keys.pda(cpswap, b"pool", pool.key)
    cpswap_authority = keys.pda(cpswap, b"vault_and_lp_mint_auth_seed")
    lp_mint = keys.pda(cpswap, b"pool_lp_mint", cpswap_pool)
    accounts = (
        payer,
        base.mint,
        quote.mint,
        pool.platform_config,
        cpswap,
        cpswap_pool,
        cpswap_authority,
        lp_mint,
        keyring.ata(cpswap_authority, base.mint, base.program),
        keyring.ata(cpswap_authority, quote.mint, quote.program),
        keyring.fresh("raydium/cpswap-config"),
        keyring.fresh("raydium/cpswap-create-pool-fee"),
        keys.pda(cpswap, b"observation", cpswap_pool),
        keyring.fresh("raydium/lock-program"),
        keyring.fresh("raydium/lock-authority"),
        keyring.fresh(f"raydium/lock-lp-vault/{b58(pool.key)}"),
        keys.LAUNCHLAB_AUTHORITY,
        pool.key,
        pool.global_config,
        pool.base_vault,
        pool.quote_vault,
        keyring.ata(keys.LAUNCHLAB_AUTHORITY, lp_mint, keys.TOKEN_PROGRAM),
        base.program,
        quote.program,
        keys.ATA_PROGRAM,
        keys.SYSTEM_PROGRAM,
        keys.RENT_SYSVAR,
        keys.METAPLEX_PROGRAM,
    )
    b.enter(PROGRAM, accounts, "Srrrrwrwwwrwwrrwwwrwwwrrrrrr", MIGRATE_TO_CPSWAP)
    b.log("Instruction: MigrateToCpswap")
    base_left, quote_left = b.token_amount(pool.base_vault), b.token_amount(pool.quote_vault)
    b.enter(cpswap, accounts[4:16], "", events.instruction_discriminator("initialize"))
    b.log("Instruction: Initialize")
    base_vault = spl.create_ata(b, payer, cpswap_authority, base.mint, base.program, base.decimals)
    quote_vault = spl.create_ata(b, payer, cpswap_authority, quote.mint, quote.program, quote.decimals)
    authority = keys.LAUNCHLAB_AUTHORITY
    spl.transfer(
        b,
        pool.base_vault,
        base_vault,
        authority,
        base_left,
        base.mint,
        base.decimals,
        base.program,
        withheld=base.withheld(base_left),
    )
    spl.transfer(b, pool.quote_vault, quote_vault, authority, quote_left, quote.mint, quote.decimals, quote.program)
    b.exit(b.world.rng.randrange(60_000, 90_000))
    b.expect_lifecycle("migrated")
    b.exit(b.world.rng.randrange(40_000, 60_000))
