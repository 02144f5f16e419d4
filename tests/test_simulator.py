"""The market simulator, `solflow simulate` and the committed sample capture.

Simulated transactions are checked as the chain would have them (lamports conserved, token balances
consistent, keys and lookups well formed, logs balanced), decoded by the project's decoder into
exactly the trades the simulator says they contain, and written by the CLI into captures that the
capture reader and `solflow capture info` accept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from solflow.domain.decode import TransactionDecoder
from solflow.domain.lifecycle import LifecycleEvent
from solflow.domain.programs import BY_ID, PROGRAM_NAMES, WSOL_MINT
from solflow.simulator import KINDS, build_transaction, simulate
from sources.capture import CaptureReader, iter_updates

SEED = 11
STREAM_TRANSACTIONS = 2_500
TOKEN_ACCOUNT_RENT = 2_039_280
SAMPLE = Path("data/sample.capture")
SAMPLE_COMMAND = ["--transactions", "3300", "--seed", "7", "--per-slot", "4"]


def _text(raw: bytes) -> str:
    return str(Pubkey.from_bytes(raw))


def _keys(info) -> list[str]:
    meta = info.meta
    raw = [*info.transaction.message.account_keys, *meta.loaded_writable_addresses, *meta.loaded_readonly_addresses]
    return [_text(k) for k in raw]


@pytest.fixture(scope="module")
def stream() -> list:
    return list(simulate(STREAM_TRANSACTIONS, SEED))


@pytest.fixture(scope="module")
def transactions(stream) -> list:
    return [u for u in stream if u.update.HasField("transaction")]


@pytest.fixture(scope="module")
def block_times(stream) -> dict[int, int]:
    return {
        u.update.block_meta.slot: u.update.block_meta.block_time.timestamp
        for u in stream
        if u.update.HasField("block_meta")
    }


# ----- determinism and stream shape -------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(stream):
    again = [u.raw for u in simulate(STREAM_TRANSACTIONS, SEED)]
    assert again == [u.raw for u in stream]
    other = {u.raw for u in simulate(50, SEED + 1) if u.kind not in ("block_meta", "slot")}
    assert len(other) == 50 and not other & set(again)


def test_stream_has_the_requested_transactions_and_every_slot_closes_with_meta_then_status(stream, transactions):
    assert len(transactions) == STREAM_TRANSACTIONS
    slot_of_open: int | None = None
    previous_slot = 0
    for position, simulated in enumerate(stream):
        update = simulated.update
        which = update.WhichOneof("update_oneof")
        assert update.HasField("created_at")
        if which == "transaction":
            slot = update.transaction.slot
            assert slot_of_open in (None, slot), "a slot's transactions come before its block meta"
            slot_of_open = slot
            assert slot > previous_slot
        elif which == "block_meta":
            meta = update.block_meta
            assert slot_of_open in (None, meta.slot)
            assert (meta.slot > previous_slot and meta.parent_slot == previous_slot) or previous_slot == 0
            assert meta.blockhash and meta.parent_blockhash and meta.block_time.timestamp
            following = stream[position + 1].update
            assert following.WhichOneof("update_oneof") == "slot" and following.slot.slot == meta.slot
            assert following.slot.parent == meta.parent_slot
            previous_slot, slot_of_open = meta.slot, None
        else:
            assert which == "slot"
    slots = [u.update.block_meta for u in stream if u.update.HasField("block_meta")]
    span_ms = (slots[-1].slot - slots[0].slot) * 400
    assert slots[-1].block_time.timestamp - slots[0].block_time.timestamp == pytest.approx(span_ms / 1000, abs=1)
    assert any(b.slot - a.slot > 1 for a, b in zip(slots, slots[1:])), "some leader slots are skipped"


def test_stream_mixes_what_real_traffic_has(transactions):
    programs = Counter()
    seen = Counter()
    for simulated in transactions:
        info = simulated.update.transaction.transaction
        keys = set(_keys(info))
        programs.update(BY_ID[k].name for k in keys & BY_ID.keys())
        message = info.transaction.message
        seen["v0"] += message.versioned
        seen["legacy"] += not message.versioned
        seen["loaded"] += bool(info.meta.loaded_writable_addresses or info.meta.loaded_readonly_addresses)
        seen["failed"] += info.meta.HasField("err")
        seen["token_2022"] += any(
            b.program_id == "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb" for b in info.meta.post_token_balances
        )
        seen["multi_signer"] += message.header.num_required_signatures > 1
        for trade in simulated.expected:
            seen["via"] += trade.via is not None
            seen["dca"] += trade.is_dca
            seen["non_sol_quote"] += trade.quote_mint != WSOL_MINT
            seen["trader_not_payer"] += trade.trader != trade.fee_payer
            seen[trade.decode_source] += 1
        seen.update(simulated.events)
    assert set(programs) == set(PROGRAM_NAMES)
    for what in (
        "v0",
        "legacy",
        "loaded",
        "failed",
        "token_2022",
        "multi_signer",
        "via",
        "dca",
        "non_sol_quote",
        "trader_not_payer",
        "cpi_event",
        "log_event",
        "balance_delta",
        "token_created",
        "dca_opened",
    ):
        assert seen[what] > 0, f"the stream has no {what}"
    trades = sum(len(u.expected) for u in transactions)
    assert 0.02 < seen["failed"] / len(transactions) < 0.08
    assert seen["balance_delta"] / trades < 0.03


def test_mint_activity_is_heavy_tailed(transactions):
    per_mint = Counter(t.mint for u in transactions for t in u.expected)
    ranked = sorted(per_mint.values(), reverse=True)
    top_tenth = sum(ranked[: max(len(ranked) // 10, 1)])
    assert len(ranked) > 50
    assert top_tenth > 0.4 * sum(ranked), "a tenth of the mints carries a large share of the trades"
    assert ranked[-1] <= 2


# ----- every transaction is internally consistent ----------------------------------------------


def test_lamports_are_conserved_and_failed_transactions_only_pay_the_fee(transactions):
    for simulated in transactions:
        meta = simulated.update.transaction.transaction.meta
        assert len(meta.pre_balances) == len(meta.post_balances) == len(_keys(simulated.update.transaction.transaction))
        assert sum(meta.pre_balances) - sum(meta.post_balances) == meta.fee > 0
        if meta.HasField("err"):
            changed = [i for i, (a, b) in enumerate(zip(meta.pre_balances, meta.post_balances)) if a != b]
            assert changed == [0] and meta.pre_balances[0] - meta.post_balances[0] == meta.fee
            assert simulated.expected == []


def test_token_balances_are_consistent(transactions):
    for simulated in transactions:
        info = simulated.update.transaction.transaction
        meta = info.meta
        keys = _keys(info)
        pre = {b.account_index: b for b in meta.pre_token_balances}
        post = {b.account_index: b for b in meta.post_token_balances}
        assert len(pre) == len(meta.pre_token_balances) and len(post) == len(meta.post_token_balances)
        for balance in [*pre.values(), *post.values()]:
            amount = balance.ui_token_amount
            assert balance.account_index < len(keys)
            assert (
                balance.mint
                and balance.owner
                and balance.program_id
                in ("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
            )
            raw = int(amount.amount)
            assert raw >= 0
            assert amount.ui_amount_string == _ui_string(raw, amount.decimals)
            assert amount.ui_amount == pytest.approx(raw / 10**amount.decimals)
        for index in pre.keys() & post.keys():
            before, after = pre[index], post[index]
            assert (before.mint, before.owner, before.program_id, before.ui_token_amount.decimals) == (
                after.mint,
                after.owner,
                after.program_id,
                after.ui_token_amount.decimals,
            )
        if meta.HasField("err"):
            assert list(meta.pre_token_balances) == list(meta.post_token_balances)
        for index, balance in post.items():
            if balance.mint == WSOL_MINT and balance.program_id.startswith("Tokenkeg"):
                # a native-mint account's lamports are its token amount plus its rent
                assert meta.post_balances[index] == TOKEN_ACCOUNT_RENT + int(balance.ui_token_amount.amount)


def _ui_string(raw: int, decimals: int) -> str:
    whole, fraction = divmod(raw, 10**decimals)
    return str(whole) + ("." + str(fraction).rjust(decimals, "0").rstrip("0") if fraction else "")


def test_messages_keys_and_lookup_tables_are_well_formed(transactions):
    table_entries: dict[tuple[bytes, int], bytes] = {}
    for simulated in transactions:
        info = simulated.update.transaction.transaction
        message, meta = info.transaction.message, info.meta
        header = message.header
        keys = _keys(info)
        assert len(set(keys)) == len(keys)
        assert info.signature == info.transaction.signatures[0]
        assert len(info.transaction.signatures) == header.num_required_signatures
        assert len(message.recent_blockhash) == 32
        if not message.versioned:
            assert not message.address_table_lookups and not meta.loaded_writable_addresses
        writable = [
            a
            for lookup in message.address_table_lookups
            for a in [(lookup.account_key, i) for i in lookup.writable_indexes]
        ]
        readonly = [
            a
            for lookup in message.address_table_lookups
            for a in [(lookup.account_key, i) for i in lookup.readonly_indexes]
        ]
        assert len(writable) == len(meta.loaded_writable_addresses)
        assert len(readonly) == len(meta.loaded_readonly_addresses)
        for entry, address in zip(
            writable + readonly, [*meta.loaded_writable_addresses, *meta.loaded_readonly_addresses]
        ):
            assert table_entries.setdefault(entry, address) == address, "a lookup table entry never changes"
        static = len(message.account_keys)
        for ix in message.instructions:
            assert ix.program_id_index < static, "top-level programs are never loaded from a lookup table"
            assert all(i < len(keys) for i in ix.accounts)
        for group in meta.inner_instructions:
            assert group.index < len(message.instructions) and group.instructions
            for ix in group.instructions:
                assert ix.stack_height >= 2 and ix.program_id_index < len(keys)
                assert all(i < len(keys) for i in ix.accounts)


def test_logs_follow_the_invocations(transactions):
    for simulated in transactions:
        info = simulated.update.transaction.transaction
        meta = info.meta
        keys = _keys(info)
        stack: list[str] = []
        top_level: list[str] = []
        logs = list(meta.log_messages)
        assert sum(map(len, logs)) <= 10_000
        for line in logs:
            words = line.split()
            if line.startswith("Program ") and len(words) == 4 and words[2] == "invoke":
                assert words[3] == f"[{len(stack) + 1}]"
                if not stack:
                    top_level.append(words[1])
                stack.append(words[1])
            elif (
                line.startswith("Program ") and len(words) == 3 and words[2] == "success"
            ) or " failed: custom program error: 0x" in line:
                assert stack.pop() == words[1]
            elif line.startswith("Program data: "):
                assert stack and base64.b64decode(words[2])
        if logs[-1] == "Log truncated":
            continue
        if meta.HasField("err"):
            kind, outer, error, code = struct.unpack("<IBII", meta.err.err)
            assert (kind, error) == (8, 25) and logs[-1].endswith(f"failed: custom program error: {code:#x}")
            assert top_level == [keys[ix.program_id_index] for ix in info.transaction.message.instructions][: outer + 1]
        else:
            assert not stack
            assert top_level == [keys[ix.program_id_index] for ix in info.transaction.message.instructions]
        events = [
            ix
            for group in meta.inner_instructions
            for ix in group.instructions
            if ix.data[:8] == bytes.fromhex("e445a52e51cb9a1d")
        ]
        for ix in events:
            assert keys[ix.program_id_index] in BY_ID, "Anchor events are self-CPIs of the tracked programs"


# ----- the decoder finds exactly the simulated trades ------------------------------------------


def _decode(simulated, block_time, decoder=None):
    decoder = decoder or TransactionDecoder()
    tx = simulated.update.transaction
    return decoder.decode(tx.transaction, tx.slot, block_time)


def test_decoder_returns_exactly_the_expected_trades_of_the_stream(transactions, block_times):
    decoder = TransactionDecoder()
    mismatches = []
    for simulated in transactions:
        tx = simulated.update.transaction
        got = [t.to_dict() for t in decoder.decode(tx.transaction, tx.slot, block_times[tx.slot])]
        if got != [t.to_dict() for t in simulated.expected]:
            mismatches.append((simulated.kind, got, [t.to_dict() for t in simulated.expected]))
    assert mismatches == []
    stats = decoder.stats.as_dict()
    assert all(counts["errors"] == 0 and counts["cross_check_disagreements"] == 0 for counts in stats.values())
    assert sum(counts["fallbacks"] for counts in stats.values()) == sum(
        t.decode_source == "balance_delta" for u in transactions for t in u.expected
    )


@pytest.mark.parametrize(("program", "kind"), [(p, k) for p, kinds in KINDS.items() for k in kinds])
def test_decoder_returns_exactly_the_expected_trades_of_each_kind(program, kind):
    simulated = build_transaction(program, kind, seed=3)
    info = simulated.update.transaction.transaction
    block_time = 1_764_000_000
    decoder = TransactionDecoder()
    trades = [t.to_dict() for t in _decode(simulated, block_time, decoder)]
    for trade in simulated.expected:
        trade.block_time = block_time
    assert trades == [t.to_dict() for t in simulated.expected]
    events = decoder.decode_all(info, simulated.update.transaction.slot, block_time)
    assert sorted(e.kind for e in events if isinstance(e, LifecycleEvent)) == sorted(simulated.events)
    if kind.startswith("failed"):
        assert info.meta.HasField("err") and trades == []
    elif kind.startswith(("unknown_event", "truncated_log")):
        assert [t["decode_source"] for t in trades] == ["balance_delta"]
        assert trades[0]["fee_amount_raw"] is None
    elif kind in ("open", "close", "migrate", "create_pool", "deposit", "withdraw"):
        assert trades == []
    else:
        assert trades and {t["decode_source"] for t in trades} <= {"cpi_event", "log_event"}


@pytest.mark.parametrize(
    ("program", "kind", "check"),
    [
        ("pumpfun", "buy_legacy_layout", lambda t, info: len(_event_data(info, t)) == 129),
        ("pumpfun", "buy", lambda t, info: len(_event_data(info, t)) > 300),
        ("launchlab", "buy_legacy_layout", lambda t, info: len(_event_data(info, t)) == 138),
        ("launchlab", "sell", lambda t, info: len(_event_data(info, t)) == 147),
        ("moonshot", "buy", lambda t, info: t.inner_ix_index is None and t.decode_source == "log_event"),
        ("pumpfun", "buy_usdc", lambda t, info: t.quote_mint == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
        ("launchlab", "buy_xstock", lambda t, info: t.quote_decimals == 8),
        ("launchlab", "sell_transfer_fee", lambda t, info: _trader_token_change(info, t) != t.token_amount_raw),
        ("pumpfun", "routed", lambda t, info: t.via is not None and t.inner_ix_index is not None),
        ("pumpfun", "relayed", lambda t, info: t.trader != t.fee_payer),
        ("jupiter_dca", "fill", lambda t, info: t.is_dca and t.direction == "buy" and t.fee_amount_raw is None),
        ("jupiter_dca", "fill_sell", lambda t, info: t.is_dca and t.direction == "sell" and t.fee_amount_raw > 0),
    ],
)
def test_kinds_have_the_layout_they_name(program, kind, check):
    simulated = build_transaction(program, kind, seed=5)
    trade = simulated.expected[0]
    assert check(trade, simulated.update.transaction.transaction)


def _event_data(info, trade) -> bytes:
    """The trade's Anchor event (discriminator and payload) from its self-CPI instruction."""
    inner = {g.index: g.instructions for g in info.meta.inner_instructions}[trade.outer_ix_index]
    return inner[trade.inner_ix_index].data[8:]


def _trader_token_change(info, trade) -> int:
    def total(balances):
        return sum(int(b.ui_token_amount.amount) for b in balances if b.owner == trade.trader and b.mint == trade.mint)

    return abs(total(info.meta.post_token_balances) - total(info.meta.pre_token_balances))


# ----- lifecycle records, newer layouts and variants ------------------------------------------

LIFECYCLE_KINDS = {
    "token_created",
    "curve_completed",
    "migrated",
    "pool_created",
    "liquidity_deposit",
    "liquidity_withdraw",
    "dca_opened",
    "dca_closed",
}


def test_the_stream_carries_every_lifecycle_kind_and_decodes_exactly_those(transactions, block_times):
    decoder = TransactionDecoder()
    seen: Counter = Counter()
    trailing = 0
    variants: Counter = Counter()
    for simulated in transactions:
        tx = simulated.update.transaction
        report = decoder.inspect(tx.transaction, tx.slot, block_times[tx.slot])
        kinds = sorted(r.kind for r in report.records if isinstance(r, LifecycleEvent))
        assert kinds == sorted(simulated.events), simulated.kind
        assert not report.unknown_events or simulated.kind.endswith("unknown_event")
        assert report.disagreements == 0
        seen.update(kinds)
        trailing += len(report.trailing)
        for ix in tx.transaction.transaction.message.instructions:
            variants[ix.data[:8]] += 1
    assert set(seen) == LIFECYCLE_KINDS
    assert trailing > 0  # events of a program version newer than the layout tables: read by their prefix
    for name in ("buy_exact_sol_in", "buy_exact_quote_in", "buy_exact_out", "sell_exact_out"):
        assert variants[_instruction(name)] > 0, f"no {name} in the stream"


def _instruction(name: str) -> bytes:
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


def _token_changes(info) -> dict[tuple[str, str], int]:
    """(owner, mint) -> post minus pre token balance."""
    changes: dict[tuple[str, str], int] = defaultdict(int)
    for sign, balances in ((-1, info.meta.pre_token_balances), (1, info.meta.post_token_balances)):
        for b in balances:
            changes[(b.owner, b.mint)] += sign * int(b.ui_token_amount.amount)
    return changes


def _records(simulated) -> tuple[list, list]:
    tx = simulated.update.transaction
    records = TransactionDecoder().decode_all(tx.transaction, tx.slot, 1_764_000_000)
    return [r for r in records if not isinstance(r, LifecycleEvent)], [
        r for r in records if isinstance(r, LifecycleEvent)
    ]


@pytest.mark.parametrize("program", ["pumpfun", "launchlab"])
def test_a_sold_out_curve_completes_with_the_trade_that_sold_it(program):
    simulated = build_transaction(program, "complete", seed=4)
    (trade,), (completed,) = _records(simulated)
    assert completed.kind == "curve_completed"
    assert (completed.mint, completed.user, completed.curve) == (trade.mint, trade.trader, trade.pool)
    assert completed.outer_ix_index == trade.outer_ix_index
    if program == "launchlab":  # a buy_exact_out of every token left for sale
        assert trade.real_base_reserves == 0
    else:
        assert trade.real_base_reserves < 793_100_000_000_000 // 50


@pytest.mark.parametrize("program", ["launchlab", "moonshot"])
def test_a_migration_moves_what_the_transaction_moves(program):
    simulated = build_transaction(program, "migrate", seed=4)
    trades, (migrated,) = _records(simulated)
    assert trades == [] and migrated.kind == "migrated"
    info = simulated.update.transaction.transaction
    changes = _token_changes(info)
    moved_in = {owner: change for (owner, mint), change in changes.items() if mint == migrated.mint and change > 0}
    (receiver,) = moved_in
    if program == "launchlab":  # the instruction names the CPMM pool and program; no event, so no amounts
        assert migrated.decode_source == "instruction" and migrated.base_amount is None
        assert migrated.pool and migrated.target_program and migrated.pool != migrated.curve
    else:  # the MigrationEvent's tokens are what the migration authority received
        assert migrated.decode_source == "log_event" and migrated.pool is None
        assert migrated.base_amount == moved_in[receiver]
        assert migrated.quote_amount > 0 and migrated.fee > 0


def test_a_moonshot_launch_creates_the_token_its_instruction_describes():
    simulated = build_transaction("moonshot", "create", seed=4)
    (trade,), (created,) = _records(simulated)
    info = simulated.update.transaction.transaction
    minted = sum(change for (_, mint), change in _token_changes(info).items() if mint == created.mint)
    assert created.kind == "token_created" and created.decode_source == "instruction"
    assert created.supply == minted and created.decimals == 9 and trade.mint == created.mint
    assert created.name.endswith(" moon") and created.symbol in created.name and created.uri.startswith("https://")


@pytest.mark.parametrize("kind", ["deposit", "withdraw"])
def test_liquidity_records_match_the_pool_vaults_and_lp_tokens(kind):
    simulated = build_transaction("pumpswap", kind, seed=4)
    trades, (record,) = _records(simulated)
    assert trades == [] and record.kind == f"liquidity_{kind}"
    changes = _token_changes(simulated.update.transaction.transaction)
    sign = 1 if kind == "deposit" else -1
    assert changes[(record.pool, record.base_mint)] == sign * record.base_amount
    assert changes[(record.pool, record.quote_mint)] == sign * record.quote_amount
    lp = [
        change
        for (owner, mint), change in changes.items()
        if owner == record.user and mint not in (record.base_mint, record.quote_mint)
    ]
    assert lp == [sign * record.lp_amount]


def test_build_transaction_rejects_unknown_programs_and_kinds():
    with pytest.raises(ValueError, match="unknown program"):
        build_transaction("raydium", "buy")
    with pytest.raises(ValueError, match="unknown moonshot kind 'fill'"):
        build_transaction("moonshot", "fill")


def test_simulating_a_subset_of_programs_stays_within_it():
    seen = set()
    for simulated in simulate(300, 2, programs=("moonshot", "jupiter_dca")):
        if simulated.update.HasField("transaction"):
            keys = set(_keys(simulated.update.transaction.transaction))
            seen |= {BY_ID[k].name for k in keys & BY_ID.keys()}
    assert seen == {"moonshot", "jupiter_dca"}
    with pytest.raises(ValueError, match="unknown program"):
        list(simulate(10, 1, programs=("serum",)))


# ----- the CLI and the committed sample ------------------------------------------------------


def _solflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_writes_a_readable_byte_identical_capture(tmp_path, repo_root):
    first, second = tmp_path / "a.capture", tmp_path / "b.capture"
    for path in (first, second):
        done = _solflow("simulate", "--transactions", "400", "--seed", "4", "-o", str(path), cwd=repo_root)
        assert done.returncode == 0, done.stderr
        assert "400 transactions" in done.stdout
    assert first.read_bytes() == second.read_bytes()
    with CaptureReader(first) as reader:
        assert reader.header.source.startswith("solflow simulate --transactions 400 --seed 4")
        assert reader.header.created_at == "2025-11-24T16:00:00Z"
    with CaptureReader(first) as reader:
        assert list(reader) == [u.raw for u in simulate(400, 4)]
    info = _solflow("capture", "info", str(first), "--json", cwd=repo_root)
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert set(described["programs"]) == set(PROGRAM_NAMES)
    assert described["transactions"] == 400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--transactions", "0", "--seed", "1"], "--transactions must be at least 1"),
        (["--transactions", "10", "--seed", "1", "--programs", "pumpfun,serum"], "unknown program(s) serum"),
        (["--transactions", "10", "--seed", "1", "--per-slot", "0"], "--per-slot must be a positive number"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, repo_root, args, message):
    done = _solflow("simulate", *args, "-o", str(tmp_path / "x.capture"), cwd=repo_root)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.capture").exists()


def test_cli_reports_an_unwritable_output_in_one_line(tmp_path, repo_root):
    done = _solflow(
        "simulate", "--transactions", "5", "--seed", "1", "-o", str(tmp_path / "missing" / "x.capture"), cwd=repo_root
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def sample(repo_root) -> list:
    path = repo_root / SAMPLE
    if not path.exists():
        pytest.fail(f"{SAMPLE} is missing: regenerate it with the command in data/README.md")
    return list(iter_updates(path))


def test_sample_is_what_the_documented_command_writes(tmp_path, repo_root):
    readme = (repo_root / "data" / "README.md").read_text()
    command = "solflow simulate " + " ".join(SAMPLE_COMMAND) + f" -o {SAMPLE}"
    assert command in readme
    regenerated = tmp_path / "sample.capture"
    done = _solflow("simulate", *SAMPLE_COMMAND, "-o", str(regenerated), cwd=repo_root)
    assert done.returncode == 0, done.stderr
    assert regenerated.read_bytes() == (repo_root / SAMPLE).read_bytes(), (
        "the simulator changed: regenerate data/sample.capture with the command in data/README.md"
    )


def test_sample_is_a_few_minutes_of_all_five_programs(sample, repo_root):
    assert (repo_root / SAMPLE).stat().st_size <= 5_000_000
    metas = [u.block_meta for u in sample if u.HasField("block_meta")]
    minutes = (metas[-1].block_time.timestamp - metas[0].block_time.timestamp) / 60
    assert 5 <= minutes <= 8
    programs = set()
    for update in sample:
        if update.HasField("transaction"):
            programs |= {BY_ID[k].name for k in set(_keys(update.transaction.transaction)) & BY_ID.keys()}
    assert programs == set(PROGRAM_NAMES)


def test_sample_makes_the_signals_fire(sample):
    """Decoded and aggregated by the project's own code, the sample lights BREAKOUT, SURGE, FOCUSED and
    DCA_CONVICTION on at least two mints each, and has DCA fills on mints that trade on spot venues."""
    from flows.aggregation import aggregation_config
    from solflow.domain.aggregate import ShardAggregator
    from solflow.settings import Settings

    decoder = TransactionDecoder()
    aggregator = ShardAggregator(aggregation_config(Settings()), ["sample"])
    signals = []
    waiting = []
    fills, spot = set(), set()
    for update in sample:
        if update.HasField("transaction"):
            waiting.append(update.transaction)
        elif update.HasField("block_meta"):
            block_time = update.block_meta.block_time.timestamp
            for tx in waiting:
                for trade in decoder.decode(tx.transaction, tx.slot, block_time):
                    aggregator.add_trade(trade)
                    if trade.is_dca:
                        fills.add(trade.mint)
                    elif trade.program in ("pumpswap", "launchlab", "moonshot"):
                        spot.add(trade.mint)
            waiting = []
            signals += aggregator.advance("sample", block_time).signals
    signals += aggregator.finish().signals
    fired = defaultdict(set)
    for row in signals:
        if row["state"] == "on":
            fired[row["signal_type"]].add(row["mint"])
    for signal in ("BREAKOUT", "SURGE", "FOCUSED", "DCA_CONVICTION"):
        assert len(fired[signal]) >= 2, f"{signal} fired on {len(fired[signal])} mint(s)"
    assert len(fills & spot) >= 2


@pytest.mark.parametrize(
    ("size", "seed", "per_slot"), [(8000, 3, 2.0), (8000, 3, 12.5), (20000, 3, 1.0), (8000, 11, 3.0), (3000, 5, 1.5)]
)
def test_long_streams_of_any_density_keep_every_balance_whole(size, seed, per_slot):
    """A pool authority whose address-derived balance was short of the pool's rent went negative in
    a migration (seed 3: ``ValueError: Value out of range``); every migration is funded now."""
    decoder = TransactionDecoder()
    migrations = 0
    for simulated in simulate(size, seed, transactions_per_slot=per_slot):
        if not simulated.update.HasField("transaction"):
            continue
        tx = simulated.update.transaction
        meta = tx.transaction.meta
        assert min(meta.post_balances) >= 0 and sum(meta.pre_balances) - sum(meta.post_balances) == meta.fee
        if simulated.kind == "pumpfun.migrate":
            migrations += 1
            got = decoder.decode(tx.transaction, tx.slot, 1_764_000_000)
            assert [t.to_dict() for t in got] == [t.to_dict() for t in simulated.expected]
    assert migrations > 0
