"""Pump.fun bonding curves: `create`/`create_v2` (+ creator buy), `buy`/`sell` (and `buy_exact_sol_in`),
USDC `buy_v2`/`sell_v2` (and `buy_exact_quote_in_v2`), the buy that completes a curve, `migrate`.

Curve reserves are read from the ledger (the curve's lamports and token accounts), so a failed
transaction leaves them untouched. Buyers pay `sol_amount` to the curve plus the protocol fee, the
creator fee and, on cashback coins, the cashback; sellers receive `sol_amount` minus the same fees. The
129-byte 2024 event layout carries no fee fields: its 1 % protocol fee is only visible as the
transfer to the instruction's fee recipient.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solflow.simulator import events, keys, pumpswap, spl
from solflow.simulator.common import SOL, USDC, Asset, Outcome, enter_venue, event_bytes, exit_venue, fee
from solflow.simulator.tx import ExpectedTrade, TxBuilder

PROGRAM = keys.PUMPFUN_PROGRAM
BUY = events.instruction_discriminator("buy")
SELL = events.instruction_discriminator("sell")
BUY_V2 = events.instruction_discriminator("buy_v2")
SELL_V2 = events.instruction_discriminator("sell_v2")
CREATE = events.instruction_discriminator("create")
CREATE_V2 = events.instruction_discriminator("create_v2")
BUY_EXACT_SOL_IN = events.instruction_discriminator("buy_exact_sol_in")
BUY_EXACT_QUOTE_IN_V2 = events.instruction_discriminator("buy_exact_quote_in_v2")
MIGRATE = events.instruction_discriminator("migrate")

DECIMALS = 6
TOTAL_SUPPLY = 1_000_000_000_000_000
INITIAL_REAL_TOKENS = 793_100_000_000_000
INITIAL_VIRTUAL_TOKENS = 1_073_000_000_000_000
INITIAL_VIRTUAL_SOL = 30_000_000_000
INITIAL_VIRTUAL_USDC = 4_500_000_000
MIGRATION_RESERVE = TOTAL_SUPPLY - INITIAL_REAL_TOKENS  # tokens kept back for the AMM pool
COMPLETE_BELOW = INITIAL_REAL_TOKENS // 50  # a curve with fewer tokens left for sale is complete
NEWER_LAYOUT_TAIL = bytes(range(16))  # fields of a program version newer than SolFlow's tables
CURVE_RENT = 1_934_880
MINT_RENT = 1_461_600
METADATA_RENT = 15_115_600
POOL_MIGRATION_FEE = 15_000_000
FEE_BPS = 95
CREATOR_FEE_BPS = 5
LEGACY_FEE_BPS = 100
CASHBACK_BPS = 20
BUYBACK_BPS = 10  # carved out of the protocol fee, not added to it
TOO_MUCH_SOL_REQUIRED = 6002
TOO_LITTLE_SOL_RECEIVED = 6003
_AMOUNTS = struct.Struct("<QQ")
_MINT_TO = struct.Struct("<BQ")


@dataclass(eq=False)
class BondingCurve:
    mint: Asset
    quote: Asset
    creator: bytes
    key: bytes
    base_vault: bytes
    quote_vault: bytes | None  # the curve's USDC account; SOL curves hold lamports
    creator_vault: bytes
    cashback: bool = False
    migrated: bool = False

    @property
    def usdc(self) -> bool:
        return self.quote is USDC

    @property
    def usdc_vault(self) -> bytes:
        """The quote vault of a USDC curve (SOL curves have none)."""
        assert self.quote_vault is not None, "a SOL curve holds its quote as lamports"
        return self.quote_vault


def new_curve(
    world_keys: keys.Keyring, mint: Asset, creator: bytes, quote: Asset = SOL, cashback: bool = False
) -> BondingCurve:
    curve = keys.pda(PROGRAM, b"bonding-curve", mint.mint)
    return BondingCurve(
        mint=mint,
        quote=quote,
        creator=creator,
        key=curve,
        base_vault=world_keys.ata(curve, mint.mint, mint.program),
        quote_vault=world_keys.ata(curve, quote.mint, quote.program) if quote is USDC else None,
        creator_vault=keys.pda(PROGRAM, b"creator-vault", creator),
        cashback=cashback,
    )


def fee_recipient(world_keys: keys.Keyring, number: int) -> bytes:
    return world_keys.fresh(f"pumpfun/fee-recipient/{number % 8}")


def reserves(b: TxBuilder, curve: BondingCurve) -> tuple[int, int, int, int]:
    """(virtual_base, virtual_quote, real_base, real_quote) as the curve's accounts hold them now."""
    real_base = b.token_amount(curve.base_vault) - MIGRATION_RESERVE
    if curve.usdc:
        real_quote = b.token_amount(curve.usdc_vault)
        virtual_quote = INITIAL_VIRTUAL_USDC + real_quote
    else:
        real_quote = b.lamport_balance(curve.key) - CURVE_RENT
        virtual_quote = INITIAL_VIRTUAL_SOL + real_quote
    return INITIAL_VIRTUAL_TOKENS - (INITIAL_REAL_TOKENS - real_base), virtual_quote, real_base, real_quote


def tokens_for(b: TxBuilder, curve: BondingCurve, spend: int) -> int:
    """Tokens a buyer spending about `spend` (fees included) asks for."""
    virtual_base, virtual_quote, real_base, _ = reserves(b, curve)
    net = spend * 10_000 // (10_000 + FEE_BPS + CREATOR_FEE_BPS + CASHBACK_BPS)
    return min(virtual_base * net // (virtual_quote + net), real_base)


def trade(
    b: TxBuilder,
    curve: BondingCurve,
    user: bytes,
    *,
    is_buy: bool,
    token_amount: int,
    outcome: Outcome = "ok",
    via: bytes | None = None,
    legacy_layout: bool = False,
    variant: bool = False,
    newer: bool = False,
) -> None:
    """`variant`: a buy as `buy_exact_sol_in` / `buy_exact_quote_in_v2`; `newer`: its event carries fields
    of a program version newer than SolFlow's layout tables."""
    world = b.world
    rng = world.rng
    mint, quote = curve.mint, curve.quote
    virtual_base, virtual_quote, real_base_before, _real_quote = reserves(b, curve)
    if is_buy:
        quote_amount = -(-virtual_quote * token_amount // (virtual_base - token_amount))
    else:
        quote_amount = virtual_quote * token_amount // (virtual_base + token_amount)
    if legacy_layout:
        protocol_fee, creator_fee, cashback = quote_amount * LEGACY_FEE_BPS // 10_000, 0, 0
    else:
        protocol_fee, creator_fee = fee(quote_amount, FEE_BPS), fee(quote_amount, CREATOR_FEE_BPS)
        cashback = fee(quote_amount, CASHBACK_BPS) if curve.cashback and not curve.usdc else 0
    fees = protocol_fee + creator_fee + cashback
    user_quote = quote_amount + fees if is_buy else quote_amount - fees
    slack = user_quote * rng.randrange(1, 25) // 100
    wrong = user_quote * rng.randrange(1, 5) // 100 + 1
    if is_buy:
        limit = user_quote - wrong if outcome == "failed" else user_quote + slack
    else:
        limit = user_quote + wrong if outcome == "failed" else user_quote - slack
    recipient = fee_recipient(world.keyring, rng.randrange(8))
    user_base = (
        spl.create_ata(b, user, user, mint.mint, mint.program, mint.decimals)
        if is_buy
        else world.keyring.ata(user, mint.mint, mint.program)
    )
    user_quote_account = world.keyring.ata(user, quote.mint, quote.program) if curve.usdc else None

    exact_in = variant and is_buy and not legacy_layout
    accounts, roles, data = _instruction(
        b, curve, user, user_base, user_quote_account, recipient, is_buy, token_amount, limit, legacy_layout, exact_in
    )
    enter_venue(b, PROGRAM, accounts, roles, data, via, "Instruction: PumpBuy" if is_buy else "Instruction: PumpSell")
    b.log("Instruction: Buy" if is_buy else "Instruction: Sell")
    if outcome == "failed":
        code, name, text = (
            (
                TOO_MUCH_SOL_REQUIRED,
                "TooMuchSolRequired",
                "slippage: Too much SOL required to buy the given amount of tokens.",
            )
            if is_buy
            else (
                TOO_LITTLE_SOL_RECEIVED,
                "TooLittleSolReceived",
                "slippage: Too little SOL received to sell the given amount of tokens.",
            )
        )
        b.fail(
            code,
            (
                f"AnchorError thrown in programs/pump/src/lib.rs:{rng.randrange(300, 900)}. Error Code: {name}. "
                f"Error Number: {code}. Error Message: {text}.",
            ),
            rng.randrange(15_000, 30_000),
        )
        exit_venue(b, 0, via)
        return

    if is_buy:
        spl.transfer(
            b,
            curve.base_vault,
            user_base,
            curve.key,
            token_amount,
            mint.mint,
            mint.decimals,
            mint.program,
            checked=mint.program == keys.TOKEN_2022_PROGRAM,
        )
        _pay(b, curve, user, user_quote_account, curve.key, curve.quote_vault, quote_amount)
        _pay(b, curve, user, user_quote_account, recipient, _quote_ata(b, recipient, curve), protocol_fee)
        if creator_fee:
            _pay(
                b,
                curve,
                user,
                user_quote_account,
                curve.creator_vault,
                _quote_ata(b, curve.creator_vault, curve),
                creator_fee,
            )
        if cashback:
            _pay(
                b, curve, user, user_quote_account, keys.pda(PROGRAM, b"user_volume_accumulator", user), None, cashback
            )
    else:
        spl.transfer(
            b,
            user_base,
            curve.base_vault,
            user,
            token_amount,
            mint.mint,
            mint.decimals,
            mint.program,
            checked=mint.program == keys.TOKEN_2022_PROGRAM,
        )
        _pay_out(b, curve, user, user_quote_account, user_quote)
        _pay_out(b, curve, recipient, _quote_ata(b, recipient, curve), protocol_fee)
        if creator_fee:
            _pay_out(b, curve, curve.creator_vault, _quote_ata(b, curve.creator_vault, curve), creator_fee)
        if cashback:  # accrues to the seller's volume accumulator, claimed later: not part of the proceeds
            _pay_out(b, curve, keys.pda(PROGRAM, b"user_volume_accumulator", user), None, cashback)

    after_base, after_quote, after_real_base, after_real_quote = reserves(b, curve)
    event = event_bytes(
        events.pumpfun_trade(
            mint=mint.mint,
            sol_amount=0 if curve.usdc else quote_amount,
            token_amount=token_amount,
            is_buy=is_buy,
            user=user,
            timestamp=b.block_time,
            virtual_sol_reserves=0 if curve.usdc else after_quote,
            virtual_token_reserves=after_base,
            real_sol_reserves=0 if curve.usdc else after_real_quote,
            real_token_reserves=after_real_base,
            legacy_layout=legacy_layout,
            fee_recipient=recipient,
            fee_basis_points=FEE_BPS,
            fee=protocol_fee,
            creator=curve.creator,
            creator_fee_basis_points=CREATOR_FEE_BPS,
            creator_fee=creator_fee,
            ix_name=_ix_name(curve, is_buy, exact_in),
            cashback_fee_basis_points=CASHBACK_BPS if cashback else 0,
            cashback=cashback,
            buyback_fee_basis_points=BUYBACK_BPS,
            buyback_fee=fee(quote_amount, BUYBACK_BPS),
            quote_mint=curve.quote.mint if curve.usdc else bytes(32),
            quote_amount=quote_amount if curve.usdc else 0,
            virtual_quote_reserves=after_quote if curve.usdc else 0,
            real_quote_reserves=after_real_quote if curve.usdc else 0,
            newer=NEWER_LAYOUT_TAIL if newer else b"",
        ),
        outcome,
    )
    b.log_data(event)
    outer = b.outer_index
    inner = b.emit_cpi_event(PROGRAM, keys.PUMPFUN_EVENT_AUTHORITY, event)
    if real_base_before >= COMPLETE_BELOW > after_real_base:  # this buy sold the curve out
        complete = events.pumpfun_complete(
            user=user,
            mint=mint.mint,
            bonding_curve=curve.key,
            timestamp=b.block_time,
            quote_mint=curve.quote.mint if curve.usdc else bytes(32),
        )
        b.log_data(complete)
        b.emit_cpi_event(PROGRAM, keys.PUMPFUN_EVENT_AUTHORITY, complete)
        b.expect_lifecycle("curve_completed")
    exit_venue(b, rng.randrange(25_000, 45_000), via)
    known = outcome == "ok"
    b.expect(
        ExpectedTrade(
            program_id=PROGRAM,
            direction="buy" if is_buy else "sell",
            trader=user,
            mint=mint.mint,
            quote_mint=quote.mint,
            token_amount_raw=token_amount,
            token_decimals=mint.decimals,
            quote_amount_raw=user_quote,
            quote_decimals=quote.decimals,
            fee_amount_raw=fees if known else None,
            outer_ix_index=outer,
            inner_ix_index=inner if known else None,
            via=via,
            pool=curve.key if known else None,
            is_dca=False,
            decode_source="cpi_event" if known else "balance_delta",
            reserves=(after_base, after_quote, after_real_base, after_real_quote) if known else (None,) * 4,
        )
    )


def _ix_name(curve: BondingCurve, is_buy: bool, exact_in: bool) -> str:
    if exact_in:
        return "buy_exact_quote_in_v2" if curve.usdc else "buy_exact_sol_in"
    if curve.usdc:
        return "buy_v2" if is_buy else "sell_v2"
    return "buy" if is_buy else "sell"


def _quote_ata(b: TxBuilder, owner: bytes, curve: BondingCurve) -> bytes | None:
    return b.world.keyring.ata(owner, curve.quote.mint, curve.quote.program) if curve.usdc else None


def _pay(
    b: TxBuilder,
    curve: BondingCurve,
    user: bytes,
    user_account: bytes | None,
    recipient: bytes,
    recipient_account: bytes | None,
    amount: int,
) -> None:
    if curve.usdc:
        assert user_account is not None and recipient_account is not None, "USDC moves between token accounts"
        spl.transfer(b, user_account, recipient_account, user, amount, curve.quote.mint, curve.quote.decimals)
    else:
        spl.system_transfer(b, user, recipient, amount)


def _pay_out(b: TxBuilder, curve: BondingCurve, recipient: bytes, recipient_account: bytes | None, amount: int) -> None:
    """The curve pays out: a token transfer for USDC, a direct lamport debit (no CPI) for SOL."""
    if curve.usdc:
        assert recipient_account is not None, "USDC moves between token accounts"
        spl.transfer(b, curve.usdc_vault, recipient_account, curve.key, amount, curve.quote.mint, curve.quote.decimals)
    else:
        b.move_lamports(curve.key, recipient, amount)


def _instruction(
    b: TxBuilder,
    curve: BondingCurve,
    user: bytes,
    user_base: bytes,
    user_quote: bytes | None,
    recipient: bytes,
    is_buy: bool,
    token_amount: int,
    limit: int,
    legacy_layout: bool,
    exact_in: bool,
) -> tuple[tuple[bytes, ...], str, bytes]:
    """Accounts, roles and data; an `exact_in` buy names what it spends (`limit`) and the least it takes."""
    mint = curve.mint
    volume = keys.pda(PROGRAM, b"user_volume_accumulator", user)
    if curve.usdc:
        quote = curve.quote
        keyring = b.world.keyring
        buyback = keyring.fresh("pumpfun/buyback-fee-recipient")
        assert user_quote is not None, "a USDC trader pays from a token account"
        head: tuple[bytes, ...] = (
            keys.PUMPFUN_GLOBAL,
            mint.mint,
            quote.mint,
            mint.program,
            quote.program,
            keys.ATA_PROGRAM,
            recipient,
            keyring.ata(recipient, quote.mint, quote.program),
            buyback,
            keyring.ata(buyback, quote.mint, quote.program),
            curve.key,
            curve.base_vault,
            curve.usdc_vault,
            user,
            user_base,
            user_quote,
            curve.creator_vault,
            keyring.ata(curve.creator_vault, quote.mint, quote.program),
            keys.pda(PROGRAM, b"sharing-config", mint.mint),
        )
        head_roles = "rrrrrrwwwwwwwSwwwwr"
        tail: tuple[bytes, ...]
        if is_buy:
            tail = (keys.PUMPFUN_GLOBAL_VOLUME, volume)
            tail_roles = "ww"
        else:
            tail, tail_roles = (volume,), "w"
        tail += (
            keyring.ata(volume, quote.mint, quote.program),
            keys.PUMPFUN_FEE_CONFIG,
            keys.PUMP_FEE_PROGRAM,
            keys.SYSTEM_PROGRAM,
            keys.PUMPFUN_EVENT_AUTHORITY,
            PROGRAM,
        )
        if exact_in:
            data = BUY_EXACT_QUOTE_IN_V2 + _AMOUNTS.pack(limit, token_amount * 99 // 100)
        else:
            data = (BUY_V2 if is_buy else SELL_V2) + _AMOUNTS.pack(token_amount, limit)
        return head + tail, head_roles + tail_roles + "wrrrrr", data
    common: tuple[bytes, ...] = (
        keys.PUMPFUN_GLOBAL,
        recipient,
        mint.mint,
        curve.key,
        curve.base_vault,
        user_base,
        user,
        keys.SYSTEM_PROGRAM,
    )
    common_roles = "rwrwwwSr"
    rest: tuple[bytes, ...]
    if legacy_layout:
        if is_buy:
            rest = (mint.program, keys.RENT_SYSVAR, keys.PUMPFUN_EVENT_AUTHORITY, PROGRAM)
        else:
            rest = (keys.ATA_PROGRAM, mint.program, keys.PUMPFUN_EVENT_AUTHORITY, PROGRAM)
        data = (BUY if is_buy else SELL) + _AMOUNTS.pack(token_amount, limit)
        return common + rest, common_roles + "rrrr", data
    if is_buy:
        rest = (
            mint.program,
            curve.creator_vault,
            keys.PUMPFUN_EVENT_AUTHORITY,
            PROGRAM,
            keys.PUMPFUN_GLOBAL_VOLUME,
            volume,
            keys.PUMPFUN_FEE_CONFIG,
            keys.PUMP_FEE_PROGRAM,
        )
        if exact_in:
            data = BUY_EXACT_SOL_IN + _AMOUNTS.pack(limit, token_amount * 99 // 100) + b"\x01"
        else:
            data = BUY + _AMOUNTS.pack(token_amount, limit) + b"\x01"
        return common + rest, common_roles + "rwrrwwrr", data
    rest = (
        curve.creator_vault,
        mint.program,
        keys.PUMPFUN_EVENT_AUTHORITY,
        PROGRAM,
        keys.PUMPFUN_FEE_CONFIG,
        keys.PUMP_FEE_PROGRAM,
    )
    if curve.cashback:  # the seller's cashback accrues here (the first remaining account)
        return common + rest + (volume,), common_roles + "wrrrrrw", SELL + _AMOUNTS.pack(token_amount, limit)
    return common + rest, common_roles + "wrrrrr", SELL + _AMOUNTS.pack(token_amount, limit)


def create(b: TxBuilder, curve: BondingCurve, user: bytes, name: str, symbol: str) -> None:
    """`create` (SPL Token mint + Metaplex metadata) or `create_v2` (Token-2022 mint): a new curve."""
    rng = b.world.rng
    mint = curve.mint
    v2 = mint.program == keys.TOKEN_2022_PROGRAM
    uri = f"https://ipfs.io/ipfs/bafkrei{b.world.keyring.fresh('uri/' + symbol).hex()[:44]}"
    args = events.borsh_string(name) + events.borsh_string(symbol) + events.borsh_string(uri) + curve.creator
    accounts: tuple[bytes, ...]
    if v2:
        accounts = (
            mint.mint,
            keys.PUMPFUN_MINT_AUTHORITY,
            curve.key,
            curve.base_vault,
            keys.PUMPFUN_GLOBAL,
            user,
            keys.SYSTEM_PROGRAM,
            keys.TOKEN_2022_PROGRAM,
            keys.ATA_PROGRAM,
            b.world.keyring.fresh("pumpfun/mayhem-program"),
            b.world.keyring.fresh("pumpfun/global-params"),
            b.world.keyring.fresh("pumpfun/sol-vault"),
            keys.pda(PROGRAM, b"mayhem-state", mint.mint),
            b.world.keyring.fresh("pumpfun/mayhem-token-vault"),
            keys.PUMPFUN_EVENT_AUTHORITY,
            PROGRAM,
        )
        b.enter(PROGRAM, accounts, "SrwwrSrrrrrwwwrr", CREATE_V2 + args + b"\x00\x00")
        b.log("Instruction: CreateV2")
    else:
        metadata = keys.pda(keys.METAPLEX_PROGRAM, b"metadata", keys.METAPLEX_PROGRAM, mint.mint)
        accounts = (
            mint.mint,
            keys.PUMPFUN_MINT_AUTHORITY,
            curve.key,
            curve.base_vault,
            keys.PUMPFUN_GLOBAL,
            keys.METAPLEX_PROGRAM,
            metadata,
            user,
            keys.SYSTEM_PROGRAM,
            keys.TOKEN_PROGRAM,
            keys.ATA_PROGRAM,
            keys.RENT_SYSVAR,
            keys.PUMPFUN_EVENT_AUTHORITY,
            PROGRAM,
        )
        b.enter(PROGRAM, accounts, "SrwwrrwSrrrrrr", CREATE + args)
        b.log("Instruction: Create")
    spl.create_account(b, user, mint.mint, MINT_RENT + (1_000_000 if v2 else 0), 82, mint.program)
    b.enter(mint.program, (mint.mint,), "", b"\x14" + bytes((mint.decimals,)) + keys.PUMPFUN_MINT_AUTHORITY + b"\x00")
    b.log("Instruction: InitializeMint2")
    b.exit(2_780)
    spl.create_account(b, user, curve.key, CURVE_RENT, 150, PROGRAM)
    spl.create_ata(b, user, curve.key, mint.mint, mint.program, mint.decimals, idempotent=False)
    if not v2:
        b.enter(
            keys.METAPLEX_PROGRAM, (metadata, mint.mint, keys.PUMPFUN_MINT_AUTHORITY, user), "", b"\x21" + args[:-32]
        )
        b.log("IX: Create Metadata Accounts v3")
        spl.create_account(b, user, metadata, METADATA_RENT, 679, keys.METAPLEX_PROGRAM)
        b.exit(rng.randrange(30_000, 40_000))
    b.enter(
        mint.program, (mint.mint, curve.base_vault, keys.PUMPFUN_MINT_AUTHORITY), "", _MINT_TO.pack(7, TOTAL_SUPPLY)
    )
    b.log("Instruction: MintTo")
    b.mint_tokens(curve.base_vault, TOTAL_SUPPLY)
    b.exit(4_492)
    b.enter(mint.program, (mint.mint, keys.PUMPFUN_MINT_AUTHORITY), "", b"\x06\x00\x00")
    b.log("Instruction: SetAuthority")
    b.exit(2_911)
    event = events.pumpfun_create(
        name=name,
        symbol=symbol,
        uri=uri,
        mint=mint.mint,
        bonding_curve=curve.key,
        user=user,
        creator=curve.creator,
        timestamp=b.block_time,
        virtual_token_reserves=INITIAL_VIRTUAL_TOKENS,
        virtual_sol_reserves=0 if curve.usdc else INITIAL_VIRTUAL_SOL,
        real_token_reserves=INITIAL_REAL_TOKENS,
        token_total_supply=TOTAL_SUPPLY,
        token_program=mint.program,
        quote_mint=curve.quote.mint if curve.usdc else bytes(32),
        virtual_quote_reserves=INITIAL_VIRTUAL_USDC if curve.usdc else 0,
    )
    b.log_data(event)
    b.emit_cpi_event(PROGRAM, keys.PUMPFUN_EVENT_AUTHORITY, event)
    b.expect_lifecycle("token_created")
    b.exit(rng.randrange(60_000, 90_000))
    if curve.usdc:
        spl.create_ata(b, user, curve.key, curve.quote.mint, curve.quote.program, curve.quote.decimals)


def migrate(b: TxBuilder, curve: BondingCurve, pool: pumpswap.Pool, authority: bytes) -> None:
    """Move a completed curve's tokens and SOL into a new PumpSwap pool (`create_pool` by CPI)."""
    rng = b.world.rng
    keyring = b.world.keyring
    mint = curve.mint
    pool_authority = keys.pda(PROGRAM, b"pool-authority", mint.mint)
    authority_mint_account = keyring.ata(pool_authority, mint.mint, mint.program)
    authority_wsol_account = keyring.ata(pool_authority, SOL.mint, SOL.program)
    withdraw_authority = keyring.fresh("pumpfun/withdraw-authority")
    accounts = (
        keys.PUMPFUN_GLOBAL,
        withdraw_authority,
        mint.mint,
        curve.key,
        curve.base_vault,
        authority,
        keys.SYSTEM_PROGRAM,
        keys.TOKEN_PROGRAM,
        pumpswap.PROGRAM,
        pool.key,
        pool_authority,
        authority_mint_account,
        authority_wsol_account,
        keys.PUMPSWAP_GLOBAL_CONFIG,
        SOL.mint,
        pool.lp_mint,
        keyring.ata(pool_authority, pool.lp_mint, keys.TOKEN_2022_PROGRAM),
        pool.base_vault,
        pool.quote_vault,
        keys.TOKEN_2022_PROGRAM,
        keys.ATA_PROGRAM,
        keys.PUMPSWAP_EVENT_AUTHORITY,
        keys.PUMPFUN_EVENT_AUTHORITY,
        PROGRAM,
        keys.RENT_SYSVAR,
    )
    b.enter(PROGRAM, accounts, "rwrwwSrrrwwwwrrwwwwrrrrrr", MIGRATE)
    b.log("Instruction: Migrate")
    spl.create_ata(b, authority, pool_authority, mint.mint, mint.program, mint.decimals)
    spl.create_ata(b, authority, pool_authority, SOL.mint, SOL.program, SOL.decimals)
    _, _, real_base, real_quote = reserves(b, curve)
    base_amount = real_base + MIGRATION_RESERVE
    quote_amount = real_quote - POOL_MIGRATION_FEE
    spl.transfer(
        b,
        curve.base_vault,
        authority_mint_account,
        curve.key,
        base_amount,
        mint.mint,
        mint.decimals,
        mint.program,
        checked=False,
    )
    b.move_lamports(curve.key, authority_wsol_account, quote_amount)
    b.move_lamports(curve.key, withdraw_authority, POOL_MIGRATION_FEE)
    spl.sync_native(b, authority_wsol_account)
    # The pool authority pays the pool's rent; a PDA that holds less (its first-seen balance comes
    # from its address) is topped up by the migration authority, or its balance would go negative.
    shortfall = pumpswap.create_pool_rent(pool) - b.lamport_balance(pool_authority)
    if shortfall > 0:
        spl.system_transfer(b, authority, pool_authority, shortfall)
    pumpswap.create_pool(
        b, pool, pool_authority, authority_mint_account, authority_wsol_account, base_amount, quote_amount
    )
    spl.close_account(b, authority_wsol_account, authority, pool_authority)
    event = events.pumpfun_migration(
        user=authority,
        mint=mint.mint,
        mint_amount=base_amount,
        sol_amount=quote_amount,
        pool_migration_fee=POOL_MIGRATION_FEE,
        bonding_curve=curve.key,
        timestamp=b.block_time,
        pool=pool.key,
        quote_mint=SOL.mint,
    )
    b.log_data(event)
    b.emit_cpi_event(PROGRAM, keys.PUMPFUN_EVENT_AUTHORITY, event)
    b.expect_lifecycle("migrated")
    b.exit(rng.randrange(150_000, 200_000))
