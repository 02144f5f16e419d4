"""Lifecycle records of the real mainnet fixtures, checked against the transactions' own data: the
instruction that made each one (its accounts and arguments, read with the layout tables that
``test_decode_layouts`` checks against the IDLs) and the token balances. Transactions that only
create, migrate or open / close a DCA order give lifecycle records and no trades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from solders.pubkey import Pubkey

from solflow.domain.decode import TransactionDecoder
from solflow.domain.decode.idl import jupiter_dca, launchlab, pumpfun, pumpswap
from solflow.domain.lifecycle import DcaClosed, DcaOpened, LifecycleEvent, Migrated, PoolCreated, TokenCreated
from solflow.domain.programs import BY_NAME, WSOL_MINT
from sources.rpc_json import load_rpc_file, rpc_to_updates

TABLES = {
    "pumpfun": pumpfun.TABLE,
    "pumpswap": pumpswap.TABLE,
    "launchlab": launchlab.TABLE,
    "jupiter_dca": jupiter_dca.TABLE,
}


class Tx:
    """A fixture transaction: keys, instructions by position, token balances."""

    def __init__(self, path: Path) -> None:
        updates = rpc_to_updates(load_rpc_file(path)[0])
        self.info = updates[0].transaction.transaction
        self.slot = updates[0].transaction.slot
        meta = self.info.meta
        raw = [
            *self.info.transaction.message.account_keys,
            *meta.loaded_writable_addresses,
            *meta.loaded_readonly_addresses,
        ]
        self.keys = [str(Pubkey.from_bytes(k)) for k in raw]
        groups = {g.index: list(g.instructions) for g in meta.inner_instructions}
        self.top = list(self.info.transaction.message.instructions)
        self.inner = groups

    def instruction(self, outer: int, inner: int | None) -> Any:
        return self.top[outer] if inner is None else self.inner[outer][inner]

    def made_by(self, record: LifecycleEvent) -> tuple[Any, dict[str, str], dict[str, Any]]:
        """The instruction that emitted ``record``'s event: its layout, named accounts and arguments."""
        position = record.outer_ix_index, record.inner_ix_index
        group = self.inner[position[0]]
        if position[1] is None:
            raise AssertionError("lifecycle events of the fixtures are self-CPI events")
        # the emitter is the nearest earlier instruction of the program one level up (or the top one)
        event_ix = group[position[1]]
        emitter = self.top[position[0]]
        for candidate in reversed(group[: position[1]]):
            if candidate.stack_height == event_ix.stack_height - 1:
                emitter = candidate
                break
        table = TABLES[record.program]
        layout = table.instructions[emitter.data[:8]]
        accounts = {
            name: self.keys[emitter.accounts[i]] for i, name in enumerate(layout.accounts) if i < len(emitter.accounts)
        }
        args: dict[str, Any] = {}
        if layout.args is not None:
            values, _ = layout.args.decode(emitter.data)
            args = dict(zip(layout.args.fields, values))
        return layout, accounts, args

    def post_tokens(self, mint: str) -> list[Any]:
        return [b for b in self.info.meta.post_token_balances if b.mint == mint]

    def pre_tokens(self, mint: str) -> list[Any]:
        return [b for b in self.info.meta.pre_token_balances if b.mint == mint]


@pytest.fixture(scope="module")
def records(fixtures_dir: Path) -> list[tuple[Tx, LifecycleEvent, int]]:
    """Every lifecycle record of the rpc fixtures, with its transaction and the trades beside it."""
    found = []
    for path in sorted((fixtures_dir / "rpc").glob("*/*.json")):
        tx = Tx(path)
        decoded = TransactionDecoder().decode_all(tx.info, tx.slot, None)
        trades = sum(not isinstance(r, LifecycleEvent) for r in decoded)
        found.extend((tx, r, trades) for r in decoded if isinstance(r, LifecycleEvent))
    return found


def of(records: list[tuple[Tx, LifecycleEvent, int]], cls: type) -> list[tuple[Tx, Any, int]]:
    return [(tx, r, trades) for tx, r, trades in records if type(r) is cls]


def test_the_fixtures_hold_every_kind_they_can(records):
    kinds = sorted(r.kind for _, r, _ in records)
    assert kinds == sorted(
        ["token_created"] * 5 + ["pool_created", "migrated"] + ["dca_opened"] * 2 + ["dca_closed"] * 3
    )


def test_token_creations_match_their_instruction_and_the_token_balances(records):
    for tx, record, _ in of(records, TokenCreated):
        layout, accounts, args = tx.made_by(record)
        mint = record.mint
        post = tx.post_tokens(mint)
        assert not tx.pre_tokens(mint), "a created mint has no balances before"
        assert record.decimals == post[0].ui_token_amount.decimals
        assert record.supply == sum(int(b.ui_token_amount.amount) for b in post)  # all its accounts are here
        assert record.token_program == post[0].program_id
        if record.program == "pumpfun":
            assert layout.name in ("create", "create_v2")
            assert (mint, record.curve) == (accounts["mint"], accounts["bonding_curve"])
            assert (record.name, record.symbol, record.uri) == (args["name"], args["symbol"], args["uri"])
            creator = args.get("creator")
            assert record.creator == (accounts["user"] if creator is None else str(Pubkey.from_bytes(creator)))
            assert record.quote_mint == WSOL_MINT
        else:
            assert layout.name in ("initialize", "initialize_v2")
            decimals, name, symbol, uri = args["base_mint_param"]
            assert (mint, record.curve, record.creator) == (
                accounts["base_mint"],
                accounts["pool_state"],
                accounts["creator"],
            )
            assert (record.name, record.symbol, record.uri, record.decimals) == (name, symbol, uri, decimals)
            assert record.supply == args["curve_param"][1][0]
            assert (
                record.quote_mint == accounts["quote_mint"] and record.token_program == accounts["base_token_program"]
            )


def test_a_migration_and_the_pool_it_creates_match_their_instructions(records):
    ((tx, migrated, trades),) = of(records, Migrated)
    ((_, pool, _),) = of(records, PoolCreated)
    layout, accounts, _ = tx.made_by(migrated)
    assert layout.name == "migrate" and migrated.program == "pumpfun"
    assert (migrated.mint, migrated.curve, migrated.user) == (
        accounts["mint"],
        accounts["bonding_curve"],
        accounts["user"],
    )
    assert (migrated.pool, migrated.target_program) == (accounts["pool"], BY_NAME["pumpswap"].program_id)
    pool_layout, pool_accounts, pool_args = tx.made_by(pool)
    assert pool_layout.name == "create_pool" and pool.via == BY_NAME["pumpfun"].program_id
    assert (pool.pool, pool.base_mint, pool.quote_mint, pool.lp_mint) == (
        pool_accounts["pool"],
        pool_accounts["base_mint"],
        pool_accounts["quote_mint"],
        pool_accounts["lp_mint"],
    )
    assert pool.creator == pool_accounts["creator"] and pool.pool == migrated.pool
    assert (pool.base_amount, pool.quote_amount) == (pool_args["base_amount_in"], pool_args["quote_amount_in"])
    assert pool.coin_creator == str(Pubkey.from_bytes(pool_args["coin_creator"]))
    assert (migrated.base_amount, migrated.quote_amount) == (pool.base_amount, pool.quote_amount)
    assert trades == 1  # the PumpSwap buy after it; the migration itself is no trade


def test_dca_orders_match_their_instructions_and_are_no_trades(records):
    for tx, record, trades in of(records, DcaOpened) + of(records, DcaClosed):
        assert trades == 0
        layout, accounts, args = tx.made_by(record)
        assert (record.dca, record.input_mint, record.output_mint) == (
            accounts["dca"],
            accounts["inputMint"],
            accounts["outputMint"],
        )
        if isinstance(record, DcaOpened):
            assert layout.name == "openDcaV2" and record.user == accounts["user"]
            assert (record.in_deposited, record.in_amount_per_cycle, record.cycle_frequency) == (
                args["inAmount"],
                args["inAmountPerCycle"],
                args["cycleFrequency"],
            )
        else:
            assert layout.name in ("closeDca", "endAndClose") and record.user == accounts["user"]
