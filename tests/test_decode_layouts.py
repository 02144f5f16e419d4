"""The layout tables against the programs' current IDLs, and version-tolerant decoding.

Every event and instruction of the five IDLs (``idl/current/`` for pump.fun and PumpSwap) must be in
the tables with the IDL's field names, accounts and types: values are encoded here with the IDL's
own field list (an encoder independent of the decoder's) and must decode to the same values. Events
longer than the newest known layout decode their known prefix and count the rest; shorter ones
decode the newest layout they fully contain. Real transactions whose events are re-encoded in the
current layouts (and beyond) must still give the oracle's trades, with no fallback.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from protos import geyser_pb2
from solflow.domain.decode import DecodeError, TransactionDecoder
from solflow.domain.decode.anchor import EVENT_IX_TAG
from solflow.domain.decode.idl import jupiter_dca, launchlab, moonshot, pumpfun, pumpswap
from solflow.domain.decode.layout import ProgramLayouts
from sources.rpc_json import load_rpc_file, rpc_to_updates

IDLS = {  # idl file (under idl/) -> its table
    "current/pump.json": pumpfun.TABLE,
    "current/pump_amm.json": pumpswap.TABLE,
    "raydium_launchpad.json": launchlab.TABLE,
    "moonshot.json": moonshot.TABLE,
    "jupiter_dca.json": jupiter_dca.TABLE,
}
_INTS = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "u64": "<Q", "i64": "<q"}


class Idl:
    """An Anchor IDL (either format) as an encoder of values in the decoder's representation."""

    def __init__(self, path: Path) -> None:
        self.document = json.loads(path.read_text())
        self.types = {t["name"]: t["type"] for t in self.document.get("types", [])}

    def event_fields(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return event.get("fields") or self.types[event["name"]]["fields"]

    def random_value(self, kind: Any, rng: random.Random) -> Any:
        if isinstance(kind, str):
            if kind in _INTS:
                low, high = _range(kind)
                return rng.randint(low, high)
            if kind in ("u128", "i128"):
                return rng.randbytes(16)
            if kind == "bool":
                return rng.random() < 0.5
            if kind in ("pubkey", "publicKey"):
                return rng.randbytes(32)
            if kind == "string":
                return "".join(rng.choice("abcXYZ é") for _ in range(rng.randrange(0, 12)))
            raise AssertionError(f"type {kind}")
        if "vec" in kind:
            return tuple(self.random_value(kind["vec"], rng) for _ in range(rng.randrange(0, 4)))
        if "option" in kind:
            return None if rng.random() < 0.4 else self.random_value(kind["option"], rng)
        if "array" in kind:
            item, length = kind["array"]
            return tuple(self.random_value(item, rng) for _ in range(length))
        body = self.types[_defined(kind)]
        if body["kind"] == "struct":
            return tuple(self.random_value(_member_type(m), rng) for m in body["fields"])
        index = rng.randrange(len(body["variants"]))
        members = body["variants"][index].get("fields", [])
        if not any(v.get("fields") for v in body["variants"]):
            return index
        return (index, self.random_value(_member_type(members[0]), rng) if members else None)

    def encode(self, kind: Any, value: Any) -> bytes:
        if isinstance(kind, str):
            if kind in _INTS:
                return struct.pack(_INTS[kind], value)
            if kind in ("u128", "i128", "pubkey", "publicKey"):
                return bytes(value)
            if kind == "bool":
                return bytes((int(value),))
            if kind == "string":
                raw = value.encode()
                return struct.pack("<I", len(raw)) + raw
            raise AssertionError(f"type {kind}")
        if "vec" in kind:
            return struct.pack("<I", len(value)) + b"".join(self.encode(kind["vec"], v) for v in value)
        if "option" in kind:
            return b"\x00" if value is None else b"\x01" + self.encode(kind["option"], value)
        if "array" in kind:
            return b"".join(self.encode(kind["array"][0], v) for v in value)
        body = self.types[_defined(kind)]
        if body["kind"] == "struct":
            return b"".join(self.encode(_member_type(m), v) for m, v in zip(body["fields"], value))
        if isinstance(value, int):
            return bytes((value,))
        index, payload = value
        members = body["variants"][index].get("fields", [])
        return bytes((index,)) + (self.encode(_member_type(members[0]), payload) if members else b"")


def _range(kind: str) -> tuple[int, int]:
    bits = struct.calcsize(_INTS[kind]) * 8
    return (0, 2**bits - 1) if kind.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _defined(kind: dict[str, Any]) -> str:
    defined = kind["defined"]
    return defined if isinstance(defined, str) else defined["name"]


def _member_type(member: Any) -> Any:
    return member["type"] if isinstance(member, dict) and "type" in member else member


@pytest.fixture(scope="module")
def idls(fixtures_dir: Path) -> dict[str, tuple[Idl, ProgramLayouts]]:
    return {name: (Idl(fixtures_dir / "idl" / name), table) for name, table in IDLS.items()}


@pytest.mark.parametrize("idl_name", list(IDLS))
def test_every_event_and_instruction_of_the_idl_is_in_the_table(idls, idl_name):
    idl, table = idls[idl_name]
    events = idl.document["events"]
    assert sorted(table.event_names()) == sorted(e["name"] for e in events)
    for event in events:
        layout = table.event_named(event["name"]).layout
        assert layout.fields == tuple(f["name"] for f in idl.event_fields(event)), event["name"]
        if "discriminator" in event:  # Anchor >= 0.30 IDLs state it
            assert table.event_named(event["name"]).discriminator == bytes(event["discriminator"])
    instructions = idl.document["instructions"]
    assert len(table.instructions) == len(instructions)
    for instruction in instructions:
        entry = table.instruction_named(instruction["name"])
        assert entry.accounts == tuple(_account_names(instruction["accounts"])), instruction["name"]
        assert (entry.args.fields if entry.args else ()) == tuple(a["name"] for a in instruction["args"])
        if "discriminator" in instruction:
            assert entry.discriminator == bytes(instruction["discriminator"])


def _account_names(accounts: list[dict[str, Any]]) -> list[str]:
    return [n for a in accounts for n in (_account_names(a["accounts"]) if "accounts" in a else [a["name"]])]


@pytest.mark.parametrize("idl_name", list(IDLS))
def test_events_encoded_with_the_idl_field_list_decode_to_the_same_values(idls, idl_name):
    idl, table = idls[idl_name]
    rng = random.Random(idl_name)
    for event in idl.document["events"]:
        entry = table.event_named(event["name"])
        fields = idl.event_fields(event)
        for _ in range(25):
            values = tuple(idl.random_value(f["type"], rng) for f in fields)
            data = entry.discriminator + b"".join(idl.encode(f["type"], v) for f, v in zip(fields, values))
            assert entry.layout.decode(data) == (values, 0), event["name"]
            # a newer version appended fields SolFlow does not know yet: the known prefix, the rest counted
            extra = rng.randbytes(rng.randrange(1, 80))
            assert entry.layout.decode(data + extra) == (values, len(extra)), event["name"]


@pytest.mark.parametrize("idl_name", list(IDLS))
def test_instruction_arguments_encoded_with_the_idl_decode_to_the_same_values(idls, idl_name):
    idl, table = idls[idl_name]
    rng = random.Random(idl_name)
    for instruction in idl.document["instructions"]:
        entry = table.instruction_named(instruction["name"])
        if entry.args is None:
            continue
        for _ in range(10):
            values = tuple(idl.random_value(a["type"], rng) for a in instruction["args"])
            data = entry.discriminator + b"".join(idl.encode(a["type"], v) for a, v in zip(instruction["args"], values))
            assert entry.args.decode(data) == (values, 0), instruction["name"]


def test_shorter_events_decode_the_newest_layout_they_contain(idls):
    """pump.fun's TradeEvent at every length: each older layout's fields, the rest None, bytes past the
    last complete layout counted; shorter than the oldest is an error."""
    idl, table = idls["current/pump.json"]
    (event,) = [e for e in idl.document["events"] if e["name"] == "TradeEvent"]
    fields = idl.event_fields(event)
    rng = random.Random(7)
    values = tuple(idl.random_value(f["type"], rng) for f in fields)
    parts = [idl.encode(f["type"], v) for f, v in zip(fields, values)]
    layout = table.event_named("TradeEvent").layout
    ends = [sum(len(p) for p in parts[:count]) for count in layout.ends]
    assert len(ends) == 8 and ends[0] == 121  # 129 bytes with the discriminator: the 2024 layout
    data = layout_bytes = table.event_named("TradeEvent").discriminator + b"".join(parts)
    for size in range(121, len(layout_bytes) - 8 + 1):
        decoded, trailing = layout.decode(data[: 8 + size])
        newest = max(i for i, end in enumerate(ends) if end <= size)
        count = layout.ends[newest]
        assert decoded == values[:count] + (None,) * (len(values) - count), size
        assert trailing == size - ends[newest], size
    with pytest.raises(DecodeError, match="TradeEvent truncated: 120 bytes after the discriminator, needs 121 bytes"):
        layout.decode(data[: 8 + 120])


def test_a_selected_reader_yields_only_its_fields_of_the_same_layouts(idls):
    idl, table = idls["current/pump_amm.json"]
    entry = table.event_named("BuyEvent")
    selected = entry.select("timestamp pool user cashback")
    (event,) = [e for e in idl.document["events"] if e["name"] == "BuyEvent"]
    fields = idl.event_fields(event)
    rng = random.Random(3)
    values = dict(zip((f["name"] for f in fields), (idl.random_value(f["type"], rng) for f in fields)))
    data = entry.discriminator + b"".join(idl.encode(f["type"], values[f["name"]]) for f in fields)
    assert selected.read(data) == ((values["timestamp"], values["pool"], values["user"], values["cashback"]), 0)
    cut = data[: 8 + 352]  # the June 2025 layout: no cashback yet
    assert selected.read(cut) == ((values["timestamp"], values["pool"], values["user"], None), 0)
    with pytest.raises(ValueError, match="no field"):
        entry.select("timestamp nonsense")


# ----- real transactions with their events in newer layouts ---------------------------------------


def _transaction(fixtures_dir: Path, program: str, prefix: str) -> tuple[Any, int, int | None]:
    (path,) = (fixtures_dir / "rpc" / program).glob(f"{prefix}*")
    updates = rpc_to_updates(load_rpc_file(path)[0])
    block_time = next((u.block_meta.block_time.timestamp for u in updates[1:] if u.HasField("block_meta")), None)
    return updates[0].transaction.transaction, updates[0].transaction.slot, block_time


def _with_event(info: Any, change) -> Any:
    """A copy whose self-CPI events went through ``change(event bytes) -> event bytes`` (logs dropped:
    the self-CPI is where the decoder reads them)."""
    copy = geyser_pb2.SubscribeUpdateTransactionInfo()
    copy.CopyFrom(info)
    for group in copy.meta.inner_instructions:
        for ix in group.instructions:
            if ix.data.startswith(EVENT_IX_TAG):
                ix.data = EVENT_IX_TAG + change(ix.data[8:])
    del copy.meta.log_messages[:]
    copy.meta.log_messages.extend(line for line in info.meta.log_messages if not line.startswith("Program data: "))
    return copy


def _reencoded(idl: Idl, table: ProgramLayouts, name: str, added: dict[str, Any]):
    """Decode an event with the table, encode it again with the IDL's current field list, taking the
    fields its older layout lacked from ``added``."""
    (event,) = [e for e in idl.document["events"] if e["name"] == name]
    fields = idl.event_fields(event)
    entry = table.event_named(name)

    def change(data: bytes) -> bytes:
        if data[:8] != entry.discriminator:
            return data
        decoded, _ = entry.layout.decode(data)
        known = dict(zip(entry.layout.fields, decoded))
        values = [added[f["name"]] if known[f["name"]] is None else known[f["name"]] for f in fields]
        return entry.discriminator + b"".join(idl.encode(f["type"], v) for f, v in zip(fields, values))

    return change


@pytest.fixture(scope="module")
def oracle(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (fixtures_dir / "expected" / "trades.jsonl").read_text().splitlines()]
    return {row["signature"]: row for row in rows if row["kind"] == "trade"}


COMPARED = ("direction", "trader", "mint", "quote_mint", "token_amount_raw", "quote_amount_raw", "fee_amount_raw")


@pytest.mark.parametrize(
    ("program", "prefix", "event", "added"),
    [
        # the 2026 pump.fun layout (358 bytes) grown to the current one: holder rewards are part of the fee
        (
            "pumpfun",
            "5EDHe12K",
            "TradeEvent",
            {"holder_rewards_bps": 25, "holder_rewards": 1234, "creator_fee_unclaimed": 99},
        ),
        # an October 2025 PumpSwap buy (393 bytes) in the current layout: buyback fee and holder rewards are
        # parts of the protocol fee, cashback 0 on this coin
        (
            "pumpswap",
            "4pCgZ28W",
            "BuyEvent",
            {
                "min_base_amount_out": 1,
                "ix_name": "buy",
                "cashback_fee_basis_points": 0,
                "cashback": 0,
                "buyback_fee_basis_points": 5,
                "buyback_fee": 1000,
                "virtual_quote_reserves": bytes(16),
                "can_boost": False,
                "base_supply": 10**15,
                "holder_rewards_bps": 3,
                "holder_rewards": 500,
                "creator_fee_unclaimed": 0,
            },
        ),
        # a June 2025 PumpSwap sell (360 bytes) in the current layout
        (
            "pumpswap",
            "3QvhUBMp",
            "SellEvent",
            {
                "cashback_fee_basis_points": 0,
                "cashback": 0,
                "buyback_fee_basis_points": 5,
                "buyback_fee": 100,
                "virtual_quote_reserves": bytes(16),
                "can_boost": True,
                "base_supply": 10**15,
                "holder_rewards_bps": 0,
                "holder_rewards": 0,
                "creator_fee_unclaimed": 7,
            },
        ),
    ],
)
def test_real_trades_in_the_current_layout_and_beyond_decode_exactly(
    idls, oracle, fixtures_dir, program, prefix, event, added
):
    idl, table = idls["current/pump.json" if program == "pumpfun" else "current/pump_amm.json"]
    info, slot, block_time = _transaction(fixtures_dir, program, prefix)
    current = _with_event(info, _reencoded(idl, table, event, added))
    beyond = _with_event(
        current, lambda data: data + bytes(range(1, 41)) if data[:8] == table.event_named(event).discriminator else data
    )
    for changed, trailing in ((current, 0), (beyond, 40)):
        decoder = TransactionDecoder()
        trades = decoder.decode(changed, slot, block_time)
        (trade,) = [t for t in trades if t.program == program]
        row = oracle[trade.signature]
        assert {k: getattr(trade, k) for k in COMPARED} == {k: row[k] for k in COMPARED}
        assert trade.decode_source == "cpi_event"
        counters = decoder.stats.as_dict()[program]
        assert (counters["fallbacks"], counters["errors"], counters["cross_check_disagreements"]) == (0, 0, 0)
        assert counters["trailing_events"] == (1 if trailing else 0)
        assert decoder.stats.trailing == ({f"{program}.{event}": [1, trailing]} if trailing else {})


def test_a_trade_event_cut_back_to_each_older_layout_with_fee_fields_gives_the_same_trade(idls, fixtures_dir, oracle):
    """The 2026 pump.fun buy (358 bytes, cashback 0) cut to each layout since fee fields appeared (May 2025:
    225 bytes; August: 258; October: + ix_name; January 2026: + mayhem_mode; February: + cashback): the
    decoder reads that layout and the trade stays the oracle's, with no fallback and no trailing bytes."""
    _, table = idls["current/pump.json"]
    info, slot, block_time = _transaction(fixtures_dir, "pumpfun", "5EDHe12K")
    trade_event = table.event_named("TradeEvent").discriminator
    for size in (225, 258, 265, 266, 282):
        changed = _with_event(info, lambda data, size=size: data[:size] if data[:8] == trade_event else data)
        decoder = TransactionDecoder()
        (trade,) = decoder.decode(changed, slot, block_time)
        row = oracle[trade.signature]
        assert {k: getattr(trade, k) for k in COMPARED} == {k: row[k] for k in COMPARED}, size
        assert trade.decode_source == "cpi_event"
        counters = decoder.stats.as_dict()["pumpfun"]
        assert (counters["fallbacks"], counters["trailing_events"], counters["errors"]) == (0, 0, 0), size


@pytest.mark.parametrize("idl_name", list(IDLS))
def test_the_table_script_prints_the_committed_tables_entries(fixtures_dir, repo_root, idl_name):
    """``scripts/idl_table.py`` (what docs/decode.md has users run for a new version) prints entries
    that build the same layouts as the committed table, the older-layout marks aside."""
    result = subprocess.run(
        [sys.executable, "scripts/idl_table.py", str(fixtures_dir / "idl" / idl_name)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = ProgramLayouts("printed")
    exec(result.stdout, {"TABLE": printed})  # the script's output is the table module's body
    committed = IDLS[idl_name]
    assert sorted(printed.event_names()) == sorted(committed.event_names())
    for name in committed.event_names():
        assert printed.event_named(name).layout.fields == committed.event_named(name).layout.fields
    assert {i.name: (i.accounts, i.args.fields if i.args else ()) for i in printed.instructions.values()} == {
        i.name: (i.accounts, i.args.fields if i.args else ()) for i in committed.instructions.values()
    }


def test_the_table_script_prints_only_what_is_asked_and_names_what_the_idl_lacks(fixtures_dir, repo_root):
    """docs/decode.md step 2: ``--only`` prints the named entries; a name the IDL lacks is one line and exit 1."""
    idl = str(fixtures_dir / "idl" / "current" / "pump_amm.json")
    script = [sys.executable, "scripts/idl_table.py", idl]
    asked = subprocess.run([*script, "--only", "BuyEvent", "--only", "deposit"],
                           cwd=repo_root, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    printed = ProgramLayouts("printed")
    exec(asked.stdout, {"TABLE": printed})
    assert list(printed.event_names()) == ["BuyEvent"]
    assert [i.name for i in printed.instructions.values()] == ["deposit"]
    typo = subprocess.run([*script, "--only", "BuyEvnet"], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert (typo.returncode, typo.stdout) == (1, "")
    assert typo.stderr == f"idl_table: {idl} has no event or instruction BuyEvnet\n"
