"""Property tests: whatever bytes arrive — random event payloads and instruction data, truncated events,
malformed transactions, mangled logs, mutated protobuf — the decoder never raises, and a trade it
cannot decode is either rebuilt from balance deltas or shows up as a counted error, never silently lost.

Every example starts from a real mainnet transaction (``fixtures_dir``) and breaks one part of it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from protos import geyser_pb2
from solflow.domain.decode import TransactionDecoder
from solflow.domain.decode.anchor import EVENT_IX_TAG
from solflow.domain.trade import TradeEvent
from sources.rpc_json import load_rpc_file, rpc_to_updates

BASES = {  # program dir, signature prefix: a spread of programs, layouts and event sources
    "pumpswap-buy": ("pumpswap", "59GXCxvQ"),
    "pumpswap-router-sell": ("pumpswap", "5gtu6ARV"),
    "pumpfun-bundle-2024": ("pumpfun", "JBnrBbgq"),
    "pumpfun-create-buy-2026": ("pumpfun", "5EDHe12K"),
    "launchlab-sell": ("launchlab", "uzuSemMh"),
    "moonshot-log-only": ("moonshot", "5UWcde33"),
    "dca-close": ("jupiter_dca", "5EZNycMM"),
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Base:
    def __init__(self, info: Any, slot: int, block_time: int | None) -> None:
        self.info = info
        self.slot = slot
        self.block_time = block_time
        self.trades = len(TransactionDecoder().decode(info, slot, block_time))

    def copy(self) -> Any:
        clone = geyser_pb2.SubscribeUpdateTransactionInfo()
        clone.CopyFrom(self.info)
        return clone


@pytest.fixture(scope="module")
def bases(fixtures_dir: Path) -> dict[str, Base]:
    out = {}
    for name, (program, prefix) in BASES.items():
        (path,) = (fixtures_dir / "rpc" / program).glob(f"{prefix}*")
        updates = rpc_to_updates(load_rpc_file(path)[0])
        update = updates[0].transaction
        block_time = next((u.block_meta.block_time.timestamp for u in updates[1:]), None)
        out[name] = Base(update.transaction, update.slot, block_time)
    return out


def decode(info: Any, base: Base) -> tuple[list, dict[str, dict[str, int]], TransactionDecoder]:
    decoder = TransactionDecoder()
    events = decoder.decode_all(info, base.slot, base.block_time)
    return events, decoder.stats.as_dict(), decoder


def total(stats: dict[str, dict[str, int]], counter: str) -> int:
    return sum(values[counter] for values in stats.values())


def assert_nothing_silently_lost(
    events: list, stats: dict[str, dict[str, int]], base: Base, may_vanish: bool = False
) -> None:
    """``may_vanish``: the change can make a consistent transaction in which the program never ran."""
    trades = [e for e in events if isinstance(e, TradeEvent)]
    assert total(stats, "trades") == len(trades)
    assert total(stats, "fallbacks") == sum(t.decode_source == "balance_delta" for t in trades)
    for trade in trades:
        assert trade.token_amount_raw >= 0 and trade.quote_amount_raw >= 0
        assert trade.fee_amount_raw is None or trade.fee_amount_raw >= 0
    if len(trades) < base.trades and not may_vanish:
        assert total(stats, "errors") >= 1, "a trade vanished without a counted error"


def event_sites(info: Any) -> list[Any]:
    inner = [ix for group in info.meta.inner_instructions for ix in group.instructions]
    return [ix for ix in inner if ix.data.startswith(EVENT_IX_TAG)]


base_names = st.sampled_from(sorted(BASES))


@SETTINGS
@given(name=base_names, payload=st.binary(max_size=600), which=st.integers(min_value=0, max_value=7))
def test_random_event_payloads(bases, name, payload, which):
    base = bases[name]
    info = base.copy()
    sites = event_sites(info)
    if sites:
        site = sites[which % len(sites)]
        site.data = site.data[:16] + payload  # keep tag and event discriminator, replace the fields
    else:  # Moonshot: the event is a log line
        logs = list(info.meta.log_messages)
        at = next(i for i, line in enumerate(logs) if line.startswith("Program data: "))
        info.meta.log_messages[at] = "Program data: " + base64.b64encode(payload).decode()
    events, stats, _ = decode(info, base)
    assert_nothing_silently_lost(events, stats, base)
    # a trade instruction keeps its trade: decoded from whatever the bytes say, or rebuilt from balances
    assert len([e for e in events if isinstance(e, TradeEvent)]) == base.trades


@SETTINGS
@given(name=base_names, cut=st.integers(min_value=0, max_value=700), which=st.integers(min_value=0, max_value=7))
def test_truncated_events(bases, name, cut, which):
    base = bases[name]
    info = base.copy()
    sites = event_sites(info)
    if not sites:
        info.meta.log_messages[:] = [
            line[: 14 + cut] if line.startswith("Program data: ") else line for line in info.meta.log_messages
        ]
    else:
        site = sites[which % len(sites)]
        assume(cut < len(site.data))
        site.data = site.data[:cut]
    events, stats, _ = decode(info, base)
    assert_nothing_silently_lost(events, stats, base)
    assert len([e for e in events if isinstance(e, TradeEvent)]) == base.trades


@SETTINGS
@given(name=base_names, data=st.binary(max_size=64), which=st.integers(min_value=0, max_value=15))
def test_random_instruction_data(bases, name, data, which):
    base = bases[name]
    info = base.copy()
    instructions = info.transaction.message.instructions
    instructions[which % len(instructions)].data = data
    events, stats, _ = decode(info, base)
    assert_nothing_silently_lost(events, stats, base)


malformations = st.one_of(
    st.tuples(st.just("accounts"), st.integers(0, 15), st.binary(max_size=24)),
    st.tuples(st.just("program_index"), st.integers(0, 15), st.integers(0, 300)),
    st.tuples(st.just("inner_program_index"), st.integers(0, 63), st.integers(0, 300)),
    st.tuples(st.just("inner_accounts"), st.integers(0, 63), st.binary(max_size=24)),
    st.tuples(st.just("stack_height"), st.integers(0, 63), st.integers(0, 9)),
    st.tuples(st.just("token_amount"), st.integers(0, 31), st.text(max_size=12)),
    st.tuples(st.just("token_owner"), st.integers(0, 31), st.text(max_size=12)),
    st.tuples(st.just("lamports"), st.integers(0, 63), st.integers(0, 2)),
    st.tuples(
        st.just("drop"),
        st.integers(0, 0),
        st.sampled_from(
            [
                "meta",
                "transaction",
                "signature",
                "inner_instructions",
                "log_messages",
                "account_keys",
                "pre_token_balances",
                "post_token_balances",
                "loaded_writable_addresses",
                "loaded_readonly_addresses",
            ]
        ),
    ),
)


def malform(info: Any, kind: str, where: int, value: Any) -> None:
    message, meta = info.transaction.message, info.meta
    inner = [ix for group in meta.inner_instructions for ix in group.instructions]
    balances = [*meta.pre_token_balances, *meta.post_token_balances]
    if kind in ("accounts", "program_index") and message.instructions:
        target = message.instructions[where % len(message.instructions)]
        if kind == "accounts":
            target.accounts = value
        else:
            target.program_id_index = value
    elif kind in ("inner_program_index", "inner_accounts", "stack_height") and inner:
        target = inner[where % len(inner)]
        if kind == "inner_program_index":
            target.program_id_index = value
        elif kind == "inner_accounts":
            target.accounts = value
        else:
            target.stack_height = value
    elif kind in ("token_amount", "token_owner") and balances:
        target = balances[where % len(balances)]
        if kind == "token_amount":
            target.ui_token_amount.amount = value
        else:
            target.owner = value
    elif kind == "lamports":
        lamports = meta.pre_balances if where % 2 else meta.post_balances
        del lamports[value:]
    elif kind == "drop":
        holder = {"meta": info, "transaction": info, "signature": info, "account_keys": message}.get(value, meta)
        holder.ClearField(value)


@SETTINGS
@given(name=base_names, changes=st.lists(malformations, min_size=1, max_size=3))
def test_malformed_transactions(bases, name, changes):
    base = bases[name]
    info = base.copy()
    for kind, where, value in changes:
        malform(info, kind, where, value)
    events, stats, _ = decode(info, base)
    retargeted = any(kind in ("program_index", "inner_program_index") for kind, _, _ in changes)
    assert_nothing_silently_lost(events, stats, base, may_vanish=retargeted)


log_lines = st.one_of(
    st.sampled_from(
        [
            "Program MoonCVVNZFSYkqNXP6bxHLPL6QQJiMagDL3qcqUQTrG invoke [1]",
            "Program MoonCVVNZFSYkqNXP6bxHLPL6QQJiMagDL3qcqUQTrG invoke [2]",
            "Program MoonCVVNZFSYkqNXP6bxHLPL6QQJiMagDL3qcqUQTrG success",
            "Program MoonCVVNZFSYkqNXP6bxHLPL6QQJiMagDL3qcqUQTrG failed: custom program error: 0x1",
            "Program 11111111111111111111111111111111 invoke [2]",
            "Program 11111111111111111111111111111111 success",
            "Program log: Instruction: Buy",
            "Log truncated",
            "Program data: !!not base64!!",
            "Program X invoke [x]",
        ]
    ),
    st.binary(max_size=200).map(lambda b: "Program data: " + base64.b64encode(b).decode()),
    st.text(max_size=40),
)


@SETTINGS
@given(name=st.sampled_from(["moonshot-log-only", "pumpswap-buy"]), lines=st.lists(log_lines, max_size=30))
def test_mangled_logs(bases, name, lines):
    base = bases[name]
    info = base.copy()
    info.meta.log_messages[:] = lines
    events, stats, _ = decode(info, base)
    assert_nothing_silently_lost(events, stats, base)


@SETTINGS
@given(
    name=base_names, flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), min_size=1, max_size=8)
)
def test_mutated_protobuf_bytes(bases, name, flips):
    base = bases[name]
    raw = bytearray(base.info.SerializeToString())
    for position, mask in flips:
        raw[position % len(raw)] ^= mask
    info = geyser_pb2.SubscribeUpdateTransactionInfo()
    try:
        info.ParseFromString(bytes(raw))
    except ProtobufDecodeError:
        return  # the source counts such a message as invalid before any decoder sees it; most flips end here
    decoder = TransactionDecoder()
    events = decoder.decode_all(info, base.slot, base.block_time)
    assert all(isinstance(e, TradeEvent) or e.kind for e in events)


@SETTINGS
@given(blob=st.binary(max_size=300))
def test_arbitrary_messages_and_non_messages(blob):
    decoder = TransactionDecoder(["pumpfun"])
    info = geyser_pb2.SubscribeUpdateTransactionInfo()
    try:
        info.ParseFromString(blob)
    except ProtobufDecodeError:
        info = blob  # not even a message: still no exception, one counted error
    assert decoder.decode(info, 0, None) == [] or isinstance(info, geyser_pb2.SubscribeUpdateTransactionInfo)
    if not isinstance(info, geyser_pb2.SubscribeUpdateTransactionInfo):
        assert decoder.stats.as_dict()["pumpfun"]["errors"] == 1
