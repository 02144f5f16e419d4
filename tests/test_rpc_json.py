"""RPC JSON -> SubscribeUpdate: every mainnet fixture, through a capture file and back, against its JSON.

Expected values are computed here straight from the JSON (base58 text, lists of ints), never from
the converter, and signed messages are re-serialised with solders and checked against the
transactions' own ed25519 signatures.
"""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path
from typing import Any

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.hash import Hash
from solders.instruction import CompiledInstruction
from solders.message import (
    Message,
    MessageAddressTableLookup,
    MessageHeader,
    MessageV0,
    MessageV1,
    TransactionConfig,
    to_bytes_versioned,
)
from solders.pubkey import Pubkey
from solders.signature import Signature

from protos import geyser_pb2
from sources.capture import CaptureWriter, iter_updates
from sources.rpc_json import (
    UNKNOWN_ERROR_TAG,
    VOTE_PROGRAM_ID,
    RpcJsonError,
    load_rpc_file,
    rpc_to_updates,
    transaction_error_bytes,
)


def b58(raw: bytes) -> str:
    return base58.b58encode(raw).decode()


class Imported:
    """One fixture file: its JSON, and the updates read back from a capture."""

    def __init__(self, path: Path, tx: dict[str, Any], updates: list[geyser_pb2.SubscribeUpdate]) -> None:
        self.path = path
        self.tx = tx
        self.updates = updates
        self.info = updates[0].transaction.transaction
        self.message_json = tx["transaction"]["message"]
        self.parsed = isinstance(self.message_json["accountKeys"][0], dict)

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name[:12]}"

    def expected_keys(self) -> tuple[list[str], list[str], list[str]]:
        """(static, loaded writable, loaded readonly) straight from the JSON."""
        keys = self.message_json["accountKeys"]
        if self.parsed:
            static = [k["pubkey"] for k in keys if k["source"] == "transaction"]
            loaded = [k for k in keys if k["source"] == "lookupTable"]
            writable = [k["pubkey"] for k in loaded if k["writable"]]
            readonly = [k["pubkey"] for k in loaded if not k["writable"]]
            return static, writable, readonly
        loaded = self.tx["meta"].get("loadedAddresses") or {"writable": [], "readonly": []}
        return list(keys), list(loaded["writable"]), list(loaded["readonly"])

    def combined(self) -> list[str]:
        static, writable, readonly = self.expected_keys()
        return static + writable + readonly


@pytest.fixture(scope="module")
def rpc_files(fixtures_dir: Path) -> list[Path]:
    files = sorted((fixtures_dir / "rpc").glob("*/*.json"))
    assert len(files) == 29, "the fixture set has 29 full transactions"
    return files


@pytest.fixture(scope="module")
def imported(rpc_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[Imported]:
    """Every fixture converted, written to one zstd capture, read back and regrouped by file."""
    capture = tmp_path_factory.mktemp("rpc") / "fixtures.capture"
    per_file: list[tuple[Path, dict[str, Any], int]] = []
    with CaptureWriter(capture, source="test", compression="zstd") as writer:
        for path in rpc_files:
            (tx,) = load_rpc_file(path)
            updates = rpc_to_updates(tx)
            for update in updates:
                writer.write(update)
            per_file.append((path, tx, len(updates)))
    read_back = iter(list(iter_updates(capture)))
    return [Imported(path, tx, [next(read_back) for _ in range(n)]) for path, tx, n in per_file]


def test_signature_slot_index_and_version(imported: list[Imported]) -> None:
    for item in imported:
        tx, info = item.tx, item.info
        assert [b58(s) for s in info.transaction.signatures] == tx["transaction"]["signatures"], item.name
        assert b58(info.signature) == tx["transaction"]["signatures"][0], item.name
        assert item.updates[0].transaction.slot == (tx["slot"] or 0), item.name
        assert info.index == tx.get("transactionIndex", 0), item.name
        assert info.transaction.message.versioned == (tx["version"] != "legacy"), item.name
        assert info.is_vote is False, item.name
        assert b58(info.transaction.message.recent_blockhash) == item.message_json["recentBlockhash"], item.name


def test_block_meta_exactly_when_block_time_known(imported: list[Imported]) -> None:
    with_time = 0
    for item in imported:
        kinds = [u.WhichOneof("update_oneof") for u in item.updates]
        if item.tx["blockTime"] is None:
            assert kinds == ["transaction"], item.name
        else:
            with_time += 1
            assert kinds == ["transaction", "block_meta"], item.name
            meta = item.updates[1].block_meta
            assert meta.slot == item.tx["slot"], item.name
            assert meta.block_time.timestamp == item.tx["blockTime"], item.name
    assert with_time == 21  # 29 files; 3 RPC elements and 5 Yellowstone-style captures lack blockTime (README)


def test_account_keys_static_and_loaded(imported: list[Imported]) -> None:
    for item in imported:
        static, writable, readonly = item.expected_keys()
        message, meta = item.info.transaction.message, item.info.meta
        assert [b58(k) for k in message.account_keys] == static, item.name
        assert [b58(k) for k in meta.loaded_writable_addresses] == writable, item.name
        assert [b58(k) for k in meta.loaded_readonly_addresses] == readonly, item.name
        if item.parsed:  # the combined order is the jsonParsed list order
            assert static + writable + readonly == [k["pubkey"] for k in item.message_json["accountKeys"]]


def test_header_and_lookups(imported: list[Imported]) -> None:
    for item in imported:
        header = item.info.transaction.message.header
        if item.parsed:
            static = [k for k in item.message_json["accountKeys"] if k["source"] == "transaction"]
            for i, key in enumerate(static):
                signer = i < header.num_required_signatures
                writable = (
                    i < header.num_required_signatures - header.num_readonly_signed_accounts
                    if signer
                    else i < len(static) - header.num_readonly_unsigned_accounts
                )
                assert (signer, writable) == (key["signer"], key["writable"]), (item.name, i)
        else:
            expected = item.message_json["header"]
            assert (
                header.num_required_signatures,
                header.num_readonly_signed_accounts,
                header.num_readonly_unsigned_accounts,
            ) == (
                expected["numRequiredSignatures"],
                expected["numReadonlySignedAccounts"],
                expected["numReadonlyUnsignedAccounts"],
            ), item.name
        lookups = [
            (b58(lt.account_key), list(lt.writable_indexes), list(lt.readonly_indexes))
            for lt in item.info.transaction.message.address_table_lookups
        ]
        assert lookups == [
            (lt["accountKey"], lt["writableIndexes"], lt["readonlyIndexes"])
            for lt in item.message_json.get("addressTableLookups") or []
        ], item.name


def test_balances_fee_compute_units_and_logs(imported: list[Imported]) -> None:
    for item in imported:
        meta_json, meta = item.tx["meta"], item.info.meta
        assert list(meta.pre_balances) == meta_json["preBalances"], item.name
        assert list(meta.post_balances) == meta_json["postBalances"], item.name
        assert meta.fee == meta_json["fee"], item.name
        assert list(meta.log_messages) == meta_json["logMessages"], item.name
        assert not meta.log_messages_none and not meta.inner_instructions_none, item.name
        assert meta.compute_units_consumed == meta_json["computeUnitsConsumed"], item.name
        assert meta.HasField("cost_units") == ("costUnits" in meta_json), item.name
        assert not meta.HasField("err"), item.name  # every fixture succeeded


def _token_rows(balances: Any) -> list[tuple[Any, ...]]:
    return [
        (
            b.account_index,
            b.mint,
            b.owner,
            b.program_id,
            b.ui_token_amount.amount,
            b.ui_token_amount.decimals,
            b.ui_token_amount.ui_amount_string,
        )
        for b in balances
    ]


def _json_token_rows(balances: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            b["accountIndex"],
            b["mint"],
            b.get("owner", ""),
            b.get("programId", ""),
            b["uiTokenAmount"]["amount"],
            b["uiTokenAmount"]["decimals"],
            b["uiTokenAmount"]["uiAmountString"],
        )
        for b in balances
    ]


def test_token_balances(imported: list[Imported]) -> None:
    for item in imported:
        meta_json, meta = item.tx["meta"], item.info.meta
        assert _token_rows(meta.pre_token_balances) == _json_token_rows(meta_json["preTokenBalances"]), item.name
        assert _token_rows(meta.post_token_balances) == _json_token_rows(meta_json["postTokenBalances"]), item.name


def _expected_instruction(ix: dict[str, Any], combined: list[str]) -> tuple[str, list[str], bytes]:
    """(program, account addresses, data) of a JSON instruction in either encoding."""
    if "programIdIndex" in ix:
        return combined[ix["programIdIndex"]], [combined[i] for i in ix["accounts"]], base58.b58decode(ix["data"])
    if "data" not in ix:  # parsed by the node: only the program survives
        return ix["programId"], [], b""
    return ix["programId"], list(ix["accounts"]), base58.b58decode(ix["data"])


def _actual_instruction(ix: Any, combined: list[str]) -> tuple[str, list[str], bytes]:
    return combined[ix.program_id_index], [combined[i] for i in ix.accounts], bytes(ix.data)


def test_instructions_and_inner_instructions(imported: list[Imported]) -> None:
    for item in imported:
        combined = item.combined()
        message, meta_json = item.info.transaction.message, item.tx["meta"]
        assert [_actual_instruction(ix, combined) for ix in message.instructions] == [
            _expected_instruction(ix, combined) for ix in item.message_json["instructions"]
        ], item.name
        groups = item.info.meta.inner_instructions
        assert [g.index for g in groups] == [g["index"] for g in meta_json["innerInstructions"]], item.name
        for group, group_json in zip(groups, meta_json["innerInstructions"]):
            assert [_actual_instruction(ix, combined) for ix in group.instructions] == [
                _expected_instruction(ix, combined) for ix in group_json["instructions"]
            ], item.name
            assert [ix.stack_height if ix.HasField("stack_height") else None for ix in group.instructions] == [
                ix["stackHeight"] for ix in group_json["instructions"]
            ], item.name


def test_version_1_transaction_config(imported: list[Imported]) -> None:
    (v1,) = [item for item in imported if item.tx["version"] == 1]
    config, expected = v1.info.transaction.message.config, v1.message_json["transactionConfig"]
    assert v1.info.transaction.message.HasField("config")
    assert config.priority_fee == expected["priorityFee"]
    assert config.compute_unit_limit == expected["computeUnitLimit"]
    assert config.loaded_accounts_data_size_limit == expected["loadedAccountsDataSizeLimit"]
    assert expected["heapSize"] is None and not config.HasField("heap_size")
    for item in imported:
        if item is not v1:
            assert not item.info.transaction.message.HasField("config"), item.name


def _signed_message_bytes(message: Any) -> bytes:
    header = message.header
    keys = [Pubkey.from_bytes(k) for k in message.account_keys]
    instructions = [
        CompiledInstruction(program_id_index=ix.program_id_index, accounts=bytes(ix.accounts), data=bytes(ix.data))
        for ix in message.instructions
    ]
    blockhash = Hash.from_bytes(message.recent_blockhash)
    counts = (
        header.num_required_signatures,
        header.num_readonly_signed_accounts,
        header.num_readonly_unsigned_accounts,
    )
    if not message.versioned:
        return bytes(Message.new_with_compiled_instructions(*counts, keys, blockhash, instructions))
    if message.HasField("config"):
        c = message.config
        config = TransactionConfig(
            **{
                f: getattr(c, f)
                for f in ("priority_fee", "compute_unit_limit", "loaded_accounts_data_size_limit", "heap_size")
                if c.HasField(f)
            }
        )
        return to_bytes_versioned(MessageV1(MessageHeader(*counts), config, blockhash, keys, instructions))
    lookups = [
        MessageAddressTableLookup(
            Pubkey.from_bytes(lt.account_key), bytes(lt.writable_indexes), bytes(lt.readonly_indexes)
        )
        for lt in message.address_table_lookups
    ]
    return to_bytes_versioned(MessageV0(MessageHeader(*counts), keys, blockhash, instructions, lookups))


def test_signed_message_is_exact(imported: list[Imported]) -> None:
    """Re-serialised from the update, the message verifies against every signature of the transaction.

    Not checkable: messages with node-parsed top-level instructions (raw data gone) and the
    Yellowstone-style captures of v0 transactions whose lookups were not preserved.
    """
    verified = []
    for item in imported:
        parsed_top_level = any("parsed" in ix for ix in item.message_json["instructions"])
        lookups_lost = (
            item.tx["version"] == 0
            and not item.message_json.get("addressTableLookups")
            and any(item.tx["meta"].get("loadedAddresses", {}).get(side) for side in ("writable", "readonly"))
        )
        if parsed_top_level or lookups_lost:
            continue
        message = item.info.transaction.message
        signed = _signed_message_bytes(message)
        for i, signature in enumerate(item.info.transaction.signatures):
            assert Signature.from_bytes(signature).verify(Pubkey.from_bytes(message.account_keys[i]), signed), item.name
        verified.append(item.name)
    assert len(verified) == 24  # 23 json files (README) + the jsonParsed one whose top level is raw


def test_capture_round_trip_is_byte_identical(imported: list[Imported]) -> None:
    for item in imported:
        direct = rpc_to_updates(item.tx)
        assert [u.SerializeToString() for u in item.updates] == [u.SerializeToString() for u in direct], item.name


# --- wrappers and file-level errors ----------------------------------------------------------


@pytest.fixture()
def sample_tx(rpc_files: list[Path]) -> dict[str, Any]:
    path = next(p for p in rpc_files if p.name.startswith("4U8kypMu"))
    return json.loads(path.read_text())


def test_load_accepts_bare_result_wrappers_and_arrays(tmp_path: Path, sample_tx: dict[str, Any]) -> None:
    shapes = {
        "bare": sample_tx,
        "result": {"result": sample_tx},
        "jsonrpc": {"jsonrpc": "2.0", "result": sample_tx, "id": 1},
        "array": [sample_tx],
    }
    expected = [u.SerializeToString() for u in rpc_to_updates(sample_tx)]
    for name, document in shapes.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        (loaded,) = load_rpc_file(path)
        assert [u.SerializeToString() for u in rpc_to_updates(loaded)] == expected, name


def _load_error(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "input.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(RpcJsonError) as caught:
        for tx in load_rpc_file(path):
            rpc_to_updates(tx)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_file_errors_name_the_file_and_the_problem(tmp_path: Path, sample_tx: dict[str, Any]) -> None:
    assert "not valid JSON" in _load_error(tmp_path, '{"slot": 1,')
    assert "not valid JSON" in _load_error(tmp_path, b"\xff\xfe garbage")
    base64_tx = {**sample_tx, "transaction": ["AQIDBA==", "base64"]}
    assert "encoding 'base64'" in _load_error(tmp_path, json.dumps(base64_tx))
    assert "missing field 'transaction'" in _load_error(tmp_path, json.dumps({"slot": 5, "meta": sample_tx["meta"]}))
    no_meta = {k: v for k, v in sample_tx.items() if k != "meta"}
    assert "missing field 'meta'" in _load_error(tmp_path, json.dumps(no_meta))
    no_message = {**sample_tx, "transaction": {"signatures": sample_tx["transaction"]["signatures"]}}
    assert "missing field 'transaction.message'" in _load_error(tmp_path, json.dumps(no_message))
    error_response = {"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid param"}, "id": 1}
    assert "JSON-RPC error response -32602: Invalid param" in _load_error(tmp_path, json.dumps(error_response))
    assert "result is null" in _load_error(tmp_path, json.dumps({"jsonrpc": "2.0", "result": None, "id": 1}))
    assert "empty array" in _load_error(tmp_path, "[]")
    assert "expected a getTransaction result object" in _load_error(tmp_path, "[1, 2]")


def test_conversion_errors_say_what_is_wrong(tmp_path: Path, sample_tx: dict[str, Any]) -> None:
    bad_data = copy.deepcopy(sample_tx)
    bad_data["transaction"]["message"]["instructions"][0]["data"] = "0OIl"  # not in the base58 alphabet
    assert "is not base58" in _load_error(tmp_path, json.dumps(bad_data))
    no_fee = copy.deepcopy(sample_tx)
    del no_fee["meta"]["fee"]
    assert "missing field 'meta.fee'" in _load_error(tmp_path, json.dumps(no_fee))
    bad_version = {**sample_tx, "version": 7}
    assert "unsupported transaction version 7" in _load_error(tmp_path, json.dumps(bad_version))
    bad_amount = copy.deepcopy(sample_tx)
    bad_amount["meta"]["preTokenBalances"][0]["uiTokenAmount"]["amount"] = "12.5"
    assert "not a decimal integer" in _load_error(tmp_path, json.dumps(bad_amount))
    negative = copy.deepcopy(sample_tx)
    negative["meta"]["preBalances"][0] = -1
    assert "must not be negative" in _load_error(tmp_path, json.dumps(negative))


def test_missing_file_is_an_rpc_json_error(tmp_path: Path) -> None:
    with pytest.raises(RpcJsonError, match="missing.json: cannot read file"):
        load_rpc_file(tmp_path / "missing.json")


# --- errors, vote, optional meta parts --------------------------------------------------------


def test_transaction_error_bytes_follow_bincode() -> None:
    # yellowstone-protocol.md §6.5: instruction 2 failed with custom error 6001.
    assert transaction_error_bytes({"InstructionError": [2, {"Custom": 6001}]}) == bytes.fromhex(
        "08000000021900000071170000"
    )
    assert transaction_error_bytes("AccountInUse") == bytes.fromhex("00000000")
    assert transaction_error_bytes("BlockhashNotFound") == bytes.fromhex("07000000")
    assert transaction_error_bytes("CommitCancelled") == bytes.fromhex("26000000")
    assert transaction_error_bytes({"DuplicateInstruction": 3}) == bytes.fromhex("1e00000003")
    assert transaction_error_bytes({"InsufficientFundsForRent": {"account_index": 4}}) == bytes.fromhex("1f00000004")
    assert transaction_error_bytes({"ProgramExecutionTemporarilyRestricted": {"account_index": 9}}) == bytes.fromhex(
        "2300000009"
    )


def test_unknown_error_shapes_keep_their_json_behind_a_tag() -> None:
    for err in (
        {"InstructionError": [0, "InvalidArgument"]},
        {"BorshIoError": "bad"},
        "SomethingNew",
        {"InstructionError": [300, {"Custom": 1}]},
    ):
        encoded = transaction_error_bytes(err)
        assert struct.unpack_from("<I", encoded)[0] == UNKNOWN_ERROR_TAG
        assert json.loads(encoded[4:]) == err


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_error_encoding_never_raises(err: Any) -> None:
    assert len(transaction_error_bytes(err)) >= 4


def test_failed_transaction_carries_its_error(sample_tx: dict[str, Any]) -> None:
    failed = copy.deepcopy(sample_tx)
    failed["meta"]["err"] = {"InstructionError": [2, {"Custom": 6001}]}
    failed["meta"]["status"] = {"Err": failed["meta"]["err"]}
    info = rpc_to_updates(failed)[0].transaction.transaction
    assert info.meta.HasField("err")
    assert info.meta.err.err == bytes.fromhex("08000000021900000071170000")


def test_simple_vote_transaction_is_marked(sample_tx: dict[str, Any]) -> None:
    payer, vote_account = sample_tx["transaction"]["message"]["accountKeys"][:2]
    vote = copy.deepcopy(sample_tx)
    vote["transaction"]["message"] = {
        "header": {"numRequiredSignatures": 1, "numReadonlySignedAccounts": 0, "numReadonlyUnsignedAccounts": 1},
        "accountKeys": [payer, vote_account, VOTE_PROGRAM_ID],
        "recentBlockhash": sample_tx["transaction"]["message"]["recentBlockhash"],
        "instructions": [{"programIdIndex": 2, "accounts": [1, 0], "data": "2", "stackHeight": None}],
    }
    vote["meta"].update(
        preBalances=[1, 2, 3], postBalances=[1, 2, 3], innerInstructions=[], preTokenBalances=[], postTokenBalances=[]
    )
    assert rpc_to_updates(vote)[0].transaction.transaction.is_vote is True
    routed = copy.deepcopy(vote)  # a second instruction makes it an ordinary transaction
    routed["transaction"]["message"]["instructions"].append({"programIdIndex": 2, "accounts": [], "data": "2"})
    assert rpc_to_updates(routed)[0].transaction.transaction.is_vote is False


def test_absent_optional_meta_parts(sample_tx: dict[str, Any]) -> None:
    bare = copy.deepcopy(sample_tx)
    bare["meta"].update(innerInstructions=None, logMessages=None, computeUnitsConsumed=None)
    bare.update(slot=None, blockTime=None)
    (update,) = rpc_to_updates(bare)
    meta = update.transaction.transaction.meta
    assert meta.inner_instructions_none and meta.log_messages_none and meta.return_data_none
    assert not meta.HasField("compute_units_consumed")
    assert update.transaction.slot == 0


def test_return_data_is_carried(sample_tx: dict[str, Any]) -> None:
    with_return = copy.deepcopy(sample_tx)
    program = sample_tx["transaction"]["message"]["accountKeys"][-1]
    with_return["meta"]["returnData"] = {"programId": program, "data": ["AQIDBA==", "base64"]}
    meta = rpc_to_updates(with_return)[0].transaction.transaction.meta
    assert not meta.return_data_none
    assert b58(meta.return_data.program_id) == program and meta.return_data.data == b"\x01\x02\x03\x04"
