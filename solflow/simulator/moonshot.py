"""Moonshot bonding curves: `tokenMint` (a new token and its curve, no event), `buy` / `sell`, whose
TradeEvent exists only as a `Program data:` log line, and `migrateFunds` (MigrationEvent, also a log
line) once a curve sold out.

`collateralAmount` is the curve side: a buyer also pays `dexFee` and `helioFee`, a seller receives
the collateral minus both. Because the event is only in the logs, a transaction whose logs the
runtime truncated (`Log truncated`) carries no event at all.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solflow.simulator import events, keys, spl
from solflow.simulator.common import Asset, Outcome, enter_venue, event_bytes, exit_venue, fee
from solflow.simulator.tx import ExpectedTrade, TxBuilder

PROGRAM = keys.MOONSHOT_PROGRAM
BUY = events.instruction_discriminator("buy")
SELL = events.instruction_discriminator("sell")
TOKEN_MINT = events.instruction_discriminator("token_mint")
MIGRATE_FUNDS = events.instruction_discriminator("migrate_funds")
MINT_RENT = 1_461_600
CURVE_RENT = 1_600_000
METADATA_RENT = 15_115_600
MIGRATION_FEE_BPS = 500
DECIMALS = 9
VIRTUAL_TOKENS = 1_073_000_000_000_000_000
VIRTUAL_COLLATERAL = 30_000_000_000
CURVE_TOKENS = 800_000_000_000_000_000
DEX_FEE_BPS = 50
HELIO_FEE_BPS = 50
INVALID_SLIPPAGE = 6002
_TRADE_PARAMS = struct.Struct("<QQBQ")


@dataclass(eq=False)
class Curve:
    mint: Asset
    key: bytes
    token_account: bytes
    sold: int = 0  # tokens out of the curve so far


def new_curve(world_keys: keys.Keyring, mint: Asset) -> Curve:
    curve = keys.pda(PROGRAM, b"token", mint.mint)
    return Curve(mint=mint, key=curve, token_account=world_keys.ata(curve, mint.mint, mint.program))


def fee_accounts(world_keys: keys.Keyring) -> tuple[bytes, bytes, bytes]:
    """(dex fee, helio fee, config) accounts of the Moonshot deployment."""
    return (
        world_keys.fresh("moonshot/dex-fee"),
        world_keys.fresh("moonshot/helio-fee"),
        world_keys.fresh("moonshot/config"),
    )


def unsold(curve: Curve) -> int:
    """Tokens the curve may still sell before it completes and migrates away."""
    return CURVE_TOKENS * 95 // 100 - curve.sold


def tokens_for(curve: Curve, spend: int) -> int:
    net = spend * 10_000 // (10_000 + DEX_FEE_BPS + HELIO_FEE_BPS)
    token_reserve = VIRTUAL_TOKENS - curve.sold
    collateral_reserve = VIRTUAL_COLLATERAL * VIRTUAL_TOKENS // token_reserve
    return token_reserve * net // (collateral_reserve + net)


def trade(
    b: TxBuilder,
    curve: Curve,
    user: bytes,
    *,
    is_buy: bool,
    token_amount: int,
    outcome: Outcome = "ok",
    via: bytes | None = None,
) -> None:
    """A buy or sell of `token_amount`; a `truncated_log` outcome expects logs already near the limit."""
    rng = b.world.rng
    mint = curve.mint
    dex_fee_account, helio_fee_account, config = fee_accounts(b.world.keyring)
    token_reserve = VIRTUAL_TOKENS - curve.sold
    collateral_reserve = VIRTUAL_COLLATERAL * VIRTUAL_TOKENS // token_reserve
    if is_buy:
        collateral = -(-collateral_reserve * token_amount // (token_reserve - token_amount))
    else:
        collateral = collateral_reserve * token_amount // (token_reserve + token_amount)
    dex_fee, helio_fee = fee(collateral, DEX_FEE_BPS), fee(collateral, HELIO_FEE_BPS)
    user_quote = collateral + dex_fee + helio_fee if is_buy else collateral - dex_fee - helio_fee
    slippage_bps = 100 if outcome != "failed" else 0
    user_account = (
        spl.create_ata(b, user, user, mint.mint, mint.program, mint.decimals)
        if is_buy
        else b.world.keyring.ata(user, mint.mint, mint.program)
    )

    accounts = (
        user,
        user_account,
        curve.key,
        curve.token_account,
        dex_fee_account,
        helio_fee_account,
        mint.mint,
        config,
        mint.program,
        keys.ATA_PROGRAM,
        keys.SYSTEM_PROGRAM,
    )
    limit = collateral + collateral // 50 if is_buy else collateral - collateral // 50
    data = (BUY if is_buy else SELL) + _TRADE_PARAMS.pack(token_amount, limit, 1 if is_buy else 0, slippage_bps)
    enter_venue(b, PROGRAM, accounts, "Swwwwwrrrrr", data, via, "Instruction: Swap")
    b.log("Instruction: Buy" if is_buy else "Instruction: Sell")
    if outcome == "failed":
        b.fail(
            INVALID_SLIPPAGE,
            (
                "AnchorError occurred. Error Code: InvalidSlippage. Error Number: 6002. "
                "Error Message: The slippage must be under 100 percent.",
            ),
            rng.randrange(10_000, 20_000),
        )
        exit_venue(b, 0, via)
        return
    if is_buy:
        spl.transfer(
            b, curve.token_account, user_account, curve.key, token_amount, mint.mint, mint.decimals, mint.program
        )
        spl.system_transfer(b, user, curve.key, collateral)
        spl.system_transfer(b, user, helio_fee_account, helio_fee)
        spl.system_transfer(b, user, dex_fee_account, dex_fee)
        b.log(
            f"Transfering collateral from buyer to curve account: {collateral}, Helio fee: {helio_fee}, "
            f"Dex fee: {dex_fee}"
        )
        curve.sold += token_amount
    else:
        spl.transfer(b, user_account, curve.token_account, user, token_amount, mint.mint, mint.decimals, mint.program)
        b.move_lamports(curve.key, user, user_quote)
        b.move_lamports(curve.key, helio_fee_account, helio_fee)
        b.move_lamports(curve.key, dex_fee_account, dex_fee)
        b.log(
            f"Transfering collateral from curve to seller account: {user_quote}, Helio fee: {helio_fee}, "
            f"Dex fee: {dex_fee}"
        )
        curve.sold -= token_amount
    event = event_bytes(
        events.moonshot_trade(
            amount=token_amount,
            collateral_amount=collateral,
            dex_fee=dex_fee,
            helio_fee=helio_fee,
            allocation=CURVE_TOKENS - curve.sold,
            curve=curve.key,
            cost_token=keys.WSOL,
            sender=user,
            is_buy=is_buy,
        ),
        outcome,
    )
    b.log_data(event)
    outer = b.outer_index
    exit_venue(b, rng.randrange(30_000, 45_000), via)
    known = outcome == "ok"
    b.expect(
        ExpectedTrade(
            program_id=PROGRAM,
            direction="buy" if is_buy else "sell",
            trader=user,
            mint=mint.mint,
            quote_mint=keys.WSOL,
            token_amount_raw=token_amount,
            token_decimals=mint.decimals,
            quote_amount_raw=user_quote,
            quote_decimals=9,
            fee_amount_raw=dex_fee + helio_fee if known else None,
            outer_ix_index=outer,
            inner_ix_index=None,
            via=via,
            pool=curve.key if known else None,
            is_dca=False,
            decode_source="log_event" if known else "balance_delta",
        )
    )


def token_mint(b: TxBuilder, curve: Curve, creator: bytes, name: str, symbol: str) -> None:
    """`tokenMint`: a new mint with metadata, its curve, and the curve's tokens minted to it."""
    keyring = b.world.keyring
    mint = curve.mint
    _, _, config = fee_accounts(keyring)
    metadata = keys.pda(keys.METAPLEX_PROGRAM, b"metadata", keys.METAPLEX_PROGRAM, mint.mint)
    uri = f"https://cdn.dexscreener.com/cms/tokens/metadata/{keyring.fresh('moon-uri/' + symbol).hex()[:24]}"
    params = b"".join(events.borsh_string(t) for t in (name, symbol, uri)) + struct.pack(
        "<BBQBB", mint.decimals, 0, CURVE_TOKENS, 0, 0
    )
    accounts = (
        creator,
        keyring.fresh("moonshot/backend-authority"),
        curve.key,
        mint.mint,
        metadata,
        curve.token_account,
        config,
        mint.program,
        keys.ATA_PROGRAM,
        keys.METAPLEX_PROGRAM,
        keys.SYSTEM_PROGRAM,
    )
    b.enter(PROGRAM, accounts, "SrwSwwrrrrr", TOKEN_MINT + params)
    b.log("Instruction: TokenMint")
    spl.create_account(b, creator, mint.mint, MINT_RENT, 82, mint.program)
    b.call(
        mint.program,
        (mint.mint,),
        "",
        b"\x14" + bytes((mint.decimals,)) + curve.key + b"\x00",
        2_780,
        "Instruction: InitializeMint2",
    )
    spl.create_account(b, creator, curve.key, CURVE_RENT, 180, PROGRAM)
    spl.create_ata(b, creator, curve.key, mint.mint, mint.program, mint.decimals, idempotent=False)
    b.enter(keys.METAPLEX_PROGRAM, (metadata, mint.mint, curve.key, creator), "", b"\x21" + params[:-12])
    b.log("IX: Create Metadata Accounts v3")
    spl.create_account(b, creator, metadata, METADATA_RENT, 679, keys.METAPLEX_PROGRAM)
    b.exit(b.world.rng.randrange(30_000, 40_000))
    b.mint_tokens(curve.token_account, CURVE_TOKENS)
    b.call(
        mint.program,
        (mint.mint, curve.token_account, curve.key),
        "",
        struct.pack("<BQ", 7, CURVE_TOKENS),
        4_492,
        "Instruction: MintTo",
    )
    b.expect_lifecycle("token_created")
    b.exit(b.world.rng.randrange(50_000, 70_000))


def migrate_funds(b: TxBuilder, curve: Curve, authority: bytes, migration_authority: bytes) -> None:
    """`migrateFunds`: the sold-out curve's tokens and collateral go to the migration authority, which
    seeds the target pool elsewhere; the MigrationEvent says how much (a log line only)."""
    keyring = b.world.keyring
    mint = curve.mint
    dex_fee_account, helio_fee_account, config = fee_accounts(keyring)
    migration_account = keyring.ata(migration_authority, mint.mint, mint.program)
    accounts = (
        authority,
        migration_authority,
        curve.key,
        curve.token_account,
        migration_account,
        mint.mint,
        dex_fee_account,
        helio_fee_account,
        config,
        keys.SYSTEM_PROGRAM,
        mint.program,
        keys.ATA_PROGRAM,
    )
    b.enter(PROGRAM, accounts, "Swwwwwwwrrrr", MIGRATE_FUNDS)
    b.log("Instruction: MigrateFunds")
    spl.create_ata(b, authority, migration_authority, mint.mint, mint.program, mint.decimals)
    tokens = b.token_amount(curve.token_account)
    spl.transfer(b, curve.token_account, migration_account, curve.key, tokens, mint.mint, mint.decimals, mint.program)
    raised = max(b.lamport_balance(curve.key) - CURVE_RENT, 0)
    migration_fee = fee(raised, MIGRATION_FEE_BPS)
    b.move_lamports(curve.key, dex_fee_account, migration_fee)
    b.move_lamports(curve.key, migration_authority, raised - migration_fee)
    b.log_data(
        events.moonshot_migration(
            tokens_migrated=tokens, tokens_burned=0, collateral_migrated=raised - migration_fee, fee=migration_fee
        )
    )
    b.expect_lifecycle("migrated")
    b.exit(b.world.rng.randrange(40_000, 60_000))
