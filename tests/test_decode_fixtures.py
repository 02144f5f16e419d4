"""The decoders against real mainnet transactions: every ``rpc/`` fixture goes through ``sources.rpc_json``
into ``TransactionDecoder``; trades must equal ``expected/trades.jsonl`` exactly, lifecycle records must
match the oracle's non-trade rows, and nothing may disagree with the balance changes. Modified copies
of real transactions exercise the balance-delta fallback, grown events, failures and the program filter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from protos import geyser_pb2
from solflow.domain.decode import TransactionDecoder
from solflow.domain.decode.anchor import EVENT_IX_TAG
from solflow.domain.lifecycle import LifecycleEvent
from solflow.domain.programs import PROGRAM_NAMES, WSOL_MINT
from solflow.domain.trade import TradeEvent
from sources.rpc_json import load_rpc_file, rpc_to_updates

COMPARED = (
    "direction",
    "trader",
    "mint",
    "quote_mint",
    "token_amount_raw",
    "quote_amount_raw",
    "fee_amount_raw",
    "outer_ix_index",
    "inner_ix_index",
    "token_decimals",
    "quote_decimals",
    "via",
)
# the oracle's non-trade kinds and details -> lifecycle kinds and record fields
LIFECYCLE_KINDS = {
    "create": "token_created",
    "create_pool": "pool_created",
    "migrate": "migrated",
    "dca_open": "dca_opened",
    "dca_close": "dca_closed",
}
ORACLE_FIELDS = {  # record field -> the oracle row's key or details key
    "token_created": {
        "creator": "trader",
        "mint": "mint",
        "quote_mint": "quote_mint",
        "name": "name",
        "symbol": "symbol",
        "curve": ("bonding_curve", "pool_state"),
        "token_program": "token_program",
    },
    "pool_created": {
        "creator": "trader",
        "base_mint": "mint",
        "quote_mint": "quote_mint",
        "pool": "pool",
        "base_amount": "base_amount_in",
        "quote_amount": "quote_amount_in",
        "coin_creator": "coin_creator",
    },
    "migrated": {
        "user": "trader",
        "mint": "mint",
        "quote_mint": "quote_mint",
        "pool": "pool",
        "base_amount": "mint_amount",
        "quote_amount": "sol_amount",
        "fee": "pool_migration_fee",
    },
    "dca_opened": {
        "user": "trader",
        "dca": "dcaKey",
        "input_mint": "inputMint",
        "output_mint": "outputMint",
        "in_deposited": "inDeposited",
        "in_amount_per_cycle": "inAmountPerCycle",
        "cycle_frequency": "cycleFrequency",
    },
}
ORACLE_FIELDS["dca_closed"] = {
    **ORACLE_FIELDS["dca_opened"],
    "total_in_withdrawn": "totalInWithdrawn",
    "total_out_withdrawn": "totalOutWithdrawn",
    "unfilled_amount": "unfilledAmount",
    "user_closed": "userClosed",
}

Tx = tuple[Any, int, "int | None"]  # (SubscribeUpdateTransactionInfo, slot, block_time)


def load_transactions(path: Path) -> list[Tx]:
    transactions = []
    for result in load_rpc_file(path):
        updates = rpc_to_updates(result)
        update = updates[0].transaction
        block_time = next((u.block_meta.block_time.timestamp for u in updates[1:] if u.HasField("block_meta")), None)
        transactions.append((update.transaction, update.slot, block_time))
    return transactions


def one_transaction(fixtures_dir: Path, program: str, prefix: str) -> Tx:
    (path,) = (fixtures_dir / "rpc" / program).glob(f"{prefix}*")
    (tx,) = load_transactions(path)
    return tx


def copy_info(info: Any) -> Any:
    clone = geyser_pb2.SubscribeUpdateTransactionInfo()
    clone.CopyFrom(info)
    return clone


@pytest.fixture(scope="module")
def rpc_files(fixtures_dir: Path) -> dict[str, Path]:
    return {str(path.relative_to(fixtures_dir)): path for path in sorted((fixtures_dir / "rpc").glob("*/*.json"))}


@pytest.fixture(scope="module")
def expected(fixtures_dir: Path) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for line in (fixtures_dir / "expected" / "trades.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows.setdefault(row["file"], []).append(row)
    return rows


@pytest.fixture(scope="module")
def decoded(rpc_files: dict[str, Path]) -> dict[str, tuple[list[TradeEvent | LifecycleEvent], TransactionDecoder]]:
    """Every rpc file's events, each file through its own decoder (so its stats are its own)."""
    out = {}
    for name, path in rpc_files.items():
        decoder = TransactionDecoder()
        events = [event for tx in load_transactions(path) for event in decoder.decode_all(*tx)]
        out[name] = (events, decoder)
    return out


def trades_of(events: list) -> list[TradeEvent]:
    return [event for event in events if isinstance(event, TradeEvent)]


def test_all_29_transactions_decode_without_errors_fallbacks_or_disagreements(rpc_files, decoded):
    assert len(rpc_files) == 29
    for name, (_, decoder) in decoded.items():
        counters = decoder.stats.as_dict()
        for program, values in counters.items():
            assert values["errors"] == 0, (name, program, list(decoder.recent_errors))
            assert values["fallbacks"] == 0, (name, program)
            assert values["cross_check_disagreements"] == 0, (name, program)
            assert values["cross_check_unverifiable"] == 0, (name, program)
            assert values["failed_transactions"] == 0, (name, program)


@pytest.mark.parametrize("program", PROGRAM_NAMES)
def test_trades_equal_the_oracle(program, expected, decoded):
    files = {name: rows for name, rows in expected.items() if name.startswith(f"rpc/{program}/")}
    assert files, f"no expected rows for {program}"
    for name, rows in files.items():
        events, _ = decoded[name]
        trades = trades_of(events)
        want = sorted(tuple(row[k] for k in COMPARED) for row in rows if row["kind"] == "trade")
        got = sorted(tuple(getattr(trade, k) for k in COMPARED) for trade in trades)
        assert got == want, name
        by_position = {(row["outer_ix_index"], row["inner_ix_index"]): row for row in rows}
        for trade in trades:
            row = by_position[(trade.outer_ix_index, trade.inner_ix_index)]
            assert trade.signature == row["signature"]
            assert trade.slot == (row["slot"] or 0)
            assert trade.program == row["program"] == program
            assert trade.program_id == row["program_id"]
            assert trade.fee_payer == row["fee_payer"]
            assert trade.decode_source == ("log_event" if program == "moonshot" else "cpi_event")
            assert trade.is_dca is False
            if row["block_time"] is not None:
                assert trade.block_time == row["block_time"]


def test_files_with_only_non_trade_rows_yield_no_trade(expected, rpc_files):
    only_events = [name for name, rows in expected.items() if all(row["kind"] != "trade" for row in rows)]
    assert len(only_events) == 3  # the three DCA open/close transactions
    for name in only_events:
        decoder = TransactionDecoder()
        for tx in load_transactions(rpc_files[name]):
            assert decoder.decode(*tx) == []


def test_non_trade_rows_are_lifecycle_records_matching_the_oracle(expected, decoded):
    rows = [row for file_rows in expected.values() for row in file_rows if row["kind"] != "trade"]
    assert {row["kind"] for row in rows} == set(LIFECYCLE_KINDS)
    for row in rows:
        events, _ = decoded[row["file"]]
        position = (row["outer_ix_index"], row["inner_ix_index"])
        (record,) = [
            e for e in events if isinstance(e, LifecycleEvent) and (e.outer_ix_index, e.inner_ix_index) == position
        ]
        assert record.kind == LIFECYCLE_KINDS[row["kind"]]
        assert (record.signature, record.program, record.via) == (row["signature"], row["program"], row["via"])
        for name, source in ORACLE_FIELDS[record.kind].items():
            keys = source if isinstance(source, tuple) else (source,)
            found = [row[k] if k in row else row["details"][k] for k in keys if k in row or k in row["details"]]
            if found:  # the oracle leaves out what older event layouts do not carry
                assert getattr(record, name) == found[0], (row["file"], name)


def test_transactions_outside_the_oracle(expected, decoded):
    """The blind files: what the fixture README says each one is."""
    blind = {name: decoded[name][0] for name in decoded if name not in expected}
    assert len(blind) == 10
    by_prefix = {name.split("/")[1] + ":" + name.split("/")[2][:8]: events for name, events in blind.items()}

    def only(key: str) -> tuple[list[TradeEvent], list[Any]]:
        events = by_prefix[key]
        return trades_of(events), [e for e in events if isinstance(e, LifecycleEvent)]

    trades, others = only("jupiter_dca:63hssgYb")
    assert trades == [] and [e.kind for e in others] == ["dca_opened"]
    assert others[0].output_mint == WSOL_MINT  # token -> SOL
    trades, others = only("jupiter_dca:F47c3Ciz")
    assert trades == [] and [e.kind for e in others] == ["dca_closed"]

    trades, others = only("launchlab:mqSGNwKK")  # 138-byte TradeEvent: share_fee, then direction
    assert [e.kind for e in others] == ["token_created"] and len(trades) == 1
    (trade,) = trades
    assert trade.direction == "buy" and trade.quote_mint == WSOL_MINT and trade.quote_amount_raw == 1_000_000_000
    assert trade.fee_amount_raw == 2_500_000 + 7_500_000  # protocol + platform (+ share 0) fee of that layout
    assert trade.trader == others[0].creator and trade.mint == others[0].mint

    (trade,) = only("launchlab:dLsNUswJ")[0]  # bought with an xStock after a Jupiter route
    assert trade.direction == "buy" and trade.quote_mint == "Xs3oZwbHvqis4NYcf4YKWmEia2eC84wSiVrcYcTqpH8"
    assert trade.quote_decimals == 8 and trade.via is None

    (trade,) = only("pumpfun:22K6ixTV")[0]  # via an unknown bot program
    assert trade.direction == "buy" and trade.via is not None and trade.inner_ix_index is not None

    (trade,) = only("pumpfun:2m5nWLnD")[0]  # buy_v2 on a USDC-quoted coin via a router
    assert trade.direction == "buy" and trade.quote_decimals == 6
    assert trade.quote_mint == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    assert trade.trader != trade.fee_payer and trade.via is not None

    buy, sell = only("pumpfun:33LHUzKf")[0]  # round trip: same amount back
    assert (buy.direction, sell.direction) == ("buy", "sell")
    assert buy.token_amount_raw == sell.token_amount_raw and buy.outer_ix_index < sell.outer_ix_index
    assert buy.quote_amount_raw > sell.quote_amount_raw  # the fees of both legs

    (trade,) = only("pumpfun:628Q5CDN")[0]
    assert trade.direction == "buy" and trade.via == "BSfD6SHZigAfDWSjzD5Q41jw8LmKwtmjskPH9XW1mrRW"

    (trade,) = only("pumpswap:5dnX6d6M")[0]  # the migrate before it is a no-op: no event
    assert trade.direction == "sell" and trade.via == "BSfD6SHZigAfDWSjzD5Q41jw8LmKwtmjskPH9XW1mrRW"
    assert [e for e in by_prefix["pumpswap:5dnX6d6M"] if isinstance(e, LifecycleEvent)] == []

    (trade,) = only("pumpswap:5gtu6ARV")[0]  # OKX router: the event's user is the router authority
    assert trade.direction == "sell" and trade.trader != trade.fee_payer


def test_program_filter_emits_only_the_listed_programs(fixtures_dir):
    tx = one_transaction(fixtures_dir, "pumpswap", "2ffHb9AX")  # pump.fun migrate -> create_pool, then a buy
    swap_only = TransactionDecoder(["pumpswap"])
    events = swap_only.decode_all(*tx)
    assert [(e.program, getattr(e, "kind", "trade")) for e in events] == [
        ("pumpswap", "pool_created"),
        ("pumpswap", "trade"),
    ]
    assert set(swap_only.stats.as_dict()) == {"pumpswap"}
    curve_only = TransactionDecoder(["pumpfun"])
    assert curve_only.decode(*tx) == []
    assert [e.kind for e in curve_only.decode_all(*tx)] == ["migrated"]
    # TradeEvent's discriminator is shared: a pump.fun event is never LaunchLab's or Moonshot's
    bundle = one_transaction(fixtures_dir, "pumpfun", "JBnrBbgq")
    assert TransactionDecoder(["launchlab", "moonshot"]).decode(*bundle) == []
    trades = TransactionDecoder(["pumpfun"]).decode(*bundle)
    assert [t.outer_ix_index for t in trades] == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="unknown program"):
        TransactionDecoder(["raydium"])


def test_block_time_and_tx_index(fixtures_dir):
    info, slot, block_time = one_transaction(fixtures_dir, "pumpswap", "3QvhUBMp")
    assert block_time is None
    (trade,) = TransactionDecoder().decode(info, slot, None)
    assert trade.block_time == int(datetime(2025, 6, 5, 10, 39, 46, tzinfo=UTC).timestamp())
    (trade,) = TransactionDecoder().decode(info, slot, 1_700_000_000)
    assert trade.block_time == 1_700_000_000  # the block's time wins over the event's
    info, slot, _ = one_transaction(fixtures_dir, "launchlab", "5LzhiGZB")  # LaunchLab events carry no time
    (trade,) = TransactionDecoder().decode(info, slot, None)
    assert trade.block_time is None
    info, slot, block_time = one_transaction(fixtures_dir, "launchlab", "37hc3CBz")
    (trade,) = TransactionDecoder().decode(info, slot, block_time)
    assert trade.tx_index == 149 and trade.slot == 453240685


def test_truncated_log_falls_back_to_balance_deltas(fixtures_dir):
    info, slot, _ = one_transaction(fixtures_dir, "moonshot", "5UWcde33")
    logs = list(info.meta.log_messages)
    cut = next(i for i, line in enumerate(logs) if line.startswith("Program data: "))
    truncated = copy_info(info)
    del truncated.meta.log_messages[:]
    truncated.meta.log_messages.extend([*logs[:cut], "Log truncated"])
    decoder = TransactionDecoder()
    (trade,) = decoder.decode(truncated, slot, None)
    assert trade.decode_source == "balance_delta" and trade.inner_ix_index is None
    assert (trade.direction, trade.trader, trade.mint) == (
        "buy",
        "3xPtPLAfgBan33sbmcoxgDaAm2qkSNRKajMBj1oN1w27",
        "8bhuFRNgQxiKFVsGzmygaiwX1CyGf4hu4A5giVE9moon",
    )
    # the trader's token and SOL changes (tx fee added back) are exactly the event's amounts here
    assert (trade.token_amount_raw, trade.quote_amount_raw, trade.fee_amount_raw) == (6551568276092, 1984878, None)
    assert trade.token_decimals == 9 and trade.quote_decimals == 9
    counters = decoder.stats.as_dict()["moonshot"]
    assert counters["fallbacks"] == 1 and counters["trades"] == 1 and counters["errors"] == 0


def test_unknown_event_layout_falls_back_and_is_counted(fixtures_dir):
    info, slot, block_time = one_transaction(fixtures_dir, "pumpswap", "59GXCxvQ")
    changed = copy_info(info)
    outer = changed.meta.inner_instructions[[g.index for g in changed.meta.inner_instructions].index(4)]
    event = outer.instructions[4]
    assert event.data.startswith(EVENT_IX_TAG)
    event.data = EVENT_IX_TAG + bytes(8) + event.data[16:]  # an event discriminator nobody knows
    decoder = TransactionDecoder()
    (trade,) = decoder.decode(changed, slot, block_time)
    assert trade.decode_source == "balance_delta" and trade.direction == "buy"
    assert trade.token_amount_raw == 1806759473  # the trader's token change = the event's amount
    # SOL + WSOL change with the tx fee added back: the event's 458092929 plus a 55000 tip in the same tx
    assert trade.quote_amount_raw == 458147929 and trade.fee_amount_raw is None
    assert decoder.stats.as_dict()["pumpswap"]["fallbacks"] == 1

    truncated = copy_info(info)
    group = truncated.meta.inner_instructions[[g.index for g in truncated.meta.inner_instructions].index(4)]
    group.instructions[4].data = group.instructions[4].data[:100]
    decoder = TransactionDecoder()
    (trade,) = decoder.decode(truncated, slot, block_time)
    assert trade.decode_source == "balance_delta"
    counters = decoder.stats.as_dict()["pumpswap"]
    assert counters["errors"] == 1 and counters["fallbacks"] == 1
    assert "truncated" in decoder.recent_errors[-1]


def test_launchlab_event_between_its_two_layouts_is_an_error_then_a_fallback(fixtures_dir):
    """The mid-2025 layout is not a prefix of the current one, so only its exact length picks it: 140
    bytes are too long for it and too short for the current one."""
    info, slot, block_time = one_transaction(fixtures_dir, "launchlab", "uzuSemMh")
    changed = copy_info(info)
    group = changed.meta.inner_instructions[[g.index for g in changed.meta.inner_instructions].index(3)]
    group.instructions[0].data = group.instructions[0].data[: 8 + 140]
    decoder = TransactionDecoder()
    (trade,) = decoder.decode(changed, slot, block_time)
    assert trade.decode_source == "balance_delta" and trade.direction == "sell"
    assert trade.token_amount_raw == 11568986763999
    assert "truncated: 132 bytes" in decoder.recent_errors[-1]


def test_failed_and_meta_less_transactions_yield_nothing(fixtures_dir):
    info, slot, block_time = one_transaction(fixtures_dir, "pumpfun", "JBnrBbgq")
    failed = copy_info(info)
    failed.meta.err.err = bytes.fromhex("08000000021900000071170000")  # ix 2, custom error 6001
    decoder = TransactionDecoder()
    assert decoder.decode_all(failed, slot, block_time) == []
    assert decoder.stats.as_dict()["pumpfun"]["failed_transactions"] == 1
    no_meta = copy_info(info)
    no_meta.ClearField("meta")  # without meta even the loaded keys, so the programs, are unknown
    decoder = TransactionDecoder(["pumpfun"])  # a partition's decoder: the update was meant for pumpfun
    assert decoder.decode(no_meta, slot, block_time) == []
    assert decoder.stats.as_dict()["pumpfun"]["errors"] == 1
    decoder = TransactionDecoder()
    assert decoder.decode(no_meta, slot, block_time) == []
    assert decoder.stats.as_dict()["unattributed"]["errors"] == 1
    assert "no meta" in decoder.recent_errors[-1]


def test_stats_take_and_merge(fixtures_dir):
    tx = one_transaction(fixtures_dir, "pumpfun", "JBnrBbgq")
    decoder = TransactionDecoder(["pumpfun"])
    decoder.decode(*tx)
    first = decoder.take_stats()
    assert first.as_dict()["pumpfun"]["trades"] == 4 and decoder.stats.as_dict()["pumpfun"]["trades"] == 0
    decoder.decode(*tx)
    merged = first.merge(decoder.take_stats())
    assert merged.as_dict()["pumpfun"]["trades"] == 8 and merged.as_dict()["pumpfun"]["transactions"] == 2


def test_dca_fill_from_the_partial_fixture(fixtures_dir):
    """The one real DCA fill (instruction tree and logs, no balances): Filled becomes an is_dca trade."""
    (path,) = (fixtures_dir / "transactions" / "jupiter_dca").glob("*.PARTIAL-*.json")
    tree = json.loads(path.read_text())
    info = geyser_pb2.SubscribeUpdateTransactionInfo()
    keys: list[bytes] = []

    def index(key: list[int]) -> int:
        raw = bytes(key)
        if raw not in keys:
            keys.append(raw)
        return keys.index(raw)

    index([0] * 31 + [1])  # a fee payer that is none of the tree's accounts
    message, meta = info.transaction.message, info.meta
    outer = sorted({tuple(ix["ix_index"]) for ix in tree["instructions"] if ix["ix_index"][1] == 0})
    for ix in tree["instructions"]:
        outer_index, position = ix["ix_index"]
        accounts = bytes(index(a) for a in ix["accounts"])
        program = index(ix["program"])
        if position == 0:
            while len(message.instructions) < outer_index:  # the tree left out the other programs' instructions
                message.instructions.add(program_id_index=0)
            message.instructions.add(program_id_index=program, accounts=accounts, data=bytes(ix["data"]))
        else:
            groups = {g.index: g for g in meta.inner_instructions}
            group = groups.get(outer_index) or meta.inner_instructions.add(index=outer_index)
            group.instructions.add(program_id_index=program, accounts=accounts, data=bytes(ix["data"]), stack_height=2)
    assert [o[0] for o in outer] == [1, 3, 4]
    message.account_keys.extend(keys)
    meta.log_messages.extend(tree["log_messages"])
    info.signature = bytes(range(64))
    decoder = TransactionDecoder(["jupiter_dca"])
    (trade,) = decoder.decode(info, 1, None)
    assert trade.is_dca and trade.program == "jupiter_dca" and trade.decode_source == "cpi_event"
    # input 9BEcn9… (not SOL) -> a buy of the output mint JUP, quoted in the input mint
    assert (trade.direction, trade.mint, trade.quote_mint) == (
        "buy",
        "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
        "9BEcn9aPEmhSPbPQeFGjidRiEKki46fVQDyPpSQXPA2D",
    )
    assert (trade.token_amount_raw, trade.quote_amount_raw) == (319726771, 48233333)
    assert trade.fee_amount_raw is None  # the 320046 fee was taken in JUP, the traded token
    assert trade.trader == "5VVSx5VPxksfcz3z8C1r3wH8ybsUSTqofarFcrzUQmuJ"
    assert trade.pool == "47zL8dTwdxiYkd8RgYRpNvQvswMDpkw95iBhXZMQVfuK" and trade.outer_ix_index == 3
    assert decoder.stats.as_dict()["jupiter_dca"]["cross_check_unverifiable"] == 1  # no balances in the tree
