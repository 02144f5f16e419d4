"""Solana RPC ``getTransaction`` JSON -> Yellowstone ``SubscribeUpdate`` messages.

``rpc_to_updates(tx)`` turns one transaction result (``encoding`` ``json`` or ``jsonParsed``) into
the transaction update Yellowstone would have streamed, plus a ``block_meta`` update carrying
``blockTime`` when it is known (transaction updates have no block time on the wire). Everything the
JSON holds is carried over exactly; the mapping, and the few things the JSON cannot say, are
documented in ``docs/capture-format.md``:

* ``jsonParsed``: the header is rebuilt from the ``signer``/``writable`` flags of the static keys;
  lookup-table keys become the loaded writable/read-only lists (split by the lookups' writable
  index count); instructions with ``accounts`` as addresses map back to indexes; instructions the
  node parsed itself (System, SPL Token, ...) have no raw form and keep only their program index,
  with empty accounts and data.
* ``err`` becomes bincode ``TransactionError`` bytes (see ``transaction_error_bytes``).
* ``is_vote`` follows the validator's simple-vote rule: a legacy message with at most two
  signatures and exactly one instruction, to the Vote program.

``load_rpc_file(path)`` is the only I/O: it reads a file holding a bare result, a ``{"result": ...}``
wrapper (full JSON-RPC responses too) or an array of results.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import base58

from protos import geyser_pb2
from protos import solana_storage_pb2 as storage

VOTE_PROGRAM_ID = "Vote111111111111111111111111111111111111111"
_VOTE_PROGRAM = base58.b58decode(VOTE_PROGRAM_ID)
SUPPORTED_VERSIONS = ("legacy", 0, 1)

# Bincode ``TransactionError`` discriminants (u32 LE) -- yellowstone-protocol.md §6.5.
_UNIT_ERRORS = {
    "AccountInUse": 0,
    "AccountLoadedTwice": 1,
    "AccountNotFound": 2,
    "ProgramAccountNotFound": 3,
    "InsufficientFundsForFee": 4,
    "InvalidAccountForFee": 5,
    "AlreadyProcessed": 6,
    "BlockhashNotFound": 7,
    "CallChainTooDeep": 9,
    "MissingSignatureForFee": 10,
    "InvalidAccountIndex": 11,
    "SignatureFailure": 12,
    "CommitCancelled": 38,
}
_INSTRUCTION_ERROR = 8
_CUSTOM_INSTRUCTION_ERROR = 25
_U8_PAYLOAD_ERRORS = {"DuplicateInstruction": 30}
_ACCOUNT_INDEX_ERRORS = {"InsufficientFundsForRent": 31, "ProgramExecutionTemporarilyRestricted": 35}
# Shapes outside that table: this tag, then the error's compact JSON text (UTF-8). No real
# discriminant comes near it, so a reader can always tell the two apart.
UNKNOWN_ERROR_TAG = 0xFFFFFFFF


class RpcJsonError(ValueError):
    """RPC JSON that cannot be converted; the message says what is wrong (and where)."""


def load_rpc_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The transaction results held by an RPC JSON file, each checked to convert cleanly.

    Accepts a bare ``getTransaction`` result, ``{"result": ...}`` (full JSON-RPC responses too) or a
    JSON array of results. Raises ``RpcJsonError`` naming the file and the problem, so
    ``rpc_to_updates`` cannot fail on what this returns.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RpcJsonError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise RpcJsonError(f"{path}: not valid JSON ({exc})") from None
    try:
        results = _results(document)
        for number, result in enumerate(results):
            where = f"array element {number}: " if len(results) > 1 else ""
            try:
                rpc_to_updates(result)  # so every problem surfaces here, named by file
            except RpcJsonError as exc:
                raise RpcJsonError(f"{where}{exc}") from None
    except RpcJsonError as exc:
        raise RpcJsonError(f"{path}: {exc}") from None
    return results


def _results(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict) and ({"result", "error", "jsonrpc"} & document.keys()):
        error = document.get("error")
        if error is not None:
            detail = f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else repr(error)
            raise RpcJsonError(f"JSON-RPC error response {detail}")
        if "result" not in document:
            raise RpcJsonError("JSON-RPC response without a result")
        document = document["result"]
        if document is None:
            raise RpcJsonError("result is null (the node did not return the transaction)")
    results = document if isinstance(document, list) else [document]
    if not results:
        raise RpcJsonError("empty array: no transaction in the file")
    for result in results:
        if not isinstance(result, dict):
            raise RpcJsonError(f"expected a getTransaction result object, found {type(result).__name__}")
    return results


def _transaction_object(tx: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``transaction`` object of a result, or an error saying why it is unusable."""
    if "transaction" not in tx or tx["transaction"] is None:
        raise RpcJsonError("missing field 'transaction' (not a getTransaction result)")
    transaction = tx["transaction"]
    if isinstance(transaction, list):
        encoding = transaction[1] if len(transaction) == 2 else "unknown"
        raise RpcJsonError(f"transaction is in encoding {encoding!r}: only 'json' and 'jsonParsed' are supported")
    if isinstance(transaction, str):
        raise RpcJsonError("transaction is an encoded string: only 'json' and 'jsonParsed' are supported")
    if not isinstance(transaction, dict):
        raise RpcJsonError(f"field 'transaction' is a {type(transaction).__name__}, expected an object")
    if "message" not in transaction and "transaction" in transaction:
        raise RpcJsonError(
            "missing field 'transaction.message' (a wrapper around a transaction, not a getTransaction result)"
        )
    for key, parent in (("message", transaction), ("signatures", transaction), ("meta", tx)):
        if parent.get(key) is None:
            where = "transaction." if parent is transaction else ""
            raise RpcJsonError(f"missing field '{where}{key}'")
    return transaction


def rpc_to_updates(tx: Mapping[str, Any]) -> list[geyser_pb2.SubscribeUpdate]:
    """The transaction update for one RPC result, then a block-meta update when ``blockTime`` is known."""
    if not isinstance(tx, Mapping):
        raise RpcJsonError(f"expected a getTransaction result object, found {type(tx).__name__}")
    transaction = _transaction_object(tx)
    signatures = transaction["signatures"]
    label = (
        signatures[0][:16] if isinstance(signatures, list) and signatures and isinstance(signatures[0], str) else "?"
    )
    try:
        return _updates(tx, transaction)
    except RpcJsonError as exc:
        raise RpcJsonError(f"transaction {label}…: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise RpcJsonError(f"transaction {label}…: malformed field ({exc.__class__.__name__}: {exc})") from None


def _updates(tx: Mapping[str, Any], transaction: Mapping[str, Any]) -> list[geyser_pb2.SubscribeUpdate]:
    meta = tx["meta"]
    message = transaction["message"]
    signatures = [_bytes58(s, 64, "transaction.signatures") for s in _list(transaction, "signatures", "transaction.")]
    if not signatures:
        raise RpcJsonError("transaction.signatures is empty")
    version = tx.get("version", "legacy")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise RpcJsonError(f"unsupported transaction version {version!r} (known: legacy, 0, 1)")

    key_entries = _list(message, "accountKeys", "transaction.message.")
    index_of: dict[str, int] = {}  # jsonParsed only: address -> combined index
    if key_entries and isinstance(key_entries[0], dict):
        header, static, loaded_writable, loaded_readonly = _parsed_keys(key_entries, message)
        for index, entry in enumerate(key_entries):
            index_of.setdefault(entry["pubkey"], index)
    else:
        header = _header(_required(message, "header", "transaction.message."))
        static = [_bytes58(k, 32, "accountKeys") for k in key_entries]
        loaded = meta.get("loadedAddresses") or {}
        loaded_writable = [_bytes58(k, 32, "loadedAddresses.writable") for k in loaded.get("writable") or ()]
        loaded_readonly = [_bytes58(k, 32, "loadedAddresses.readonly") for k in loaded.get("readonly") or ()]
    combined = static + loaded_writable + loaded_readonly

    instructions = [
        storage.CompiledInstruction(**_instruction(ix, index_of))
        for ix in _list(message, "instructions", "transaction.message.")
    ]
    storage_message = storage.Message(
        header=header,
        account_keys=static,
        recent_blockhash=_bytes58(_required(message, "recentBlockhash", "transaction.message."), 32, "recentBlockhash"),
        instructions=instructions,
        versioned=version != "legacy",
        address_table_lookups=[_lookup(entry) for entry in message.get("addressTableLookups") or ()],
    )
    config = message.get("transactionConfig")
    if config is not None:
        storage_message.config.CopyFrom(_config(config))

    status_meta = _meta(meta, index_of, loaded_writable, loaded_readonly)
    slot = _uint(tx.get("slot") or 0, "slot")
    is_vote = (
        version == "legacy"
        and len(signatures) < 3
        and len(instructions) == 1
        and instructions[0].program_id_index < len(combined)
        and combined[instructions[0].program_id_index] == _VOTE_PROGRAM
    )
    info = geyser_pb2.SubscribeUpdateTransactionInfo(
        signature=signatures[0],
        is_vote=is_vote,
        transaction=storage.Transaction(signatures=signatures, message=storage_message),
        meta=status_meta,
        index=_uint(tx.get("transactionIndex") or 0, "transactionIndex"),
    )
    updates = [
        geyser_pb2.SubscribeUpdate(transaction=geyser_pb2.SubscribeUpdateTransaction(transaction=info, slot=slot))
    ]
    block_time = tx.get("blockTime")
    if block_time is not None:
        updates.append(
            geyser_pb2.SubscribeUpdate(
                block_meta=geyser_pb2.SubscribeUpdateBlockMeta(
                    slot=slot, block_time=storage.UnixTimestamp(timestamp=_int(block_time, "blockTime"))
                )
            )
        )
    return updates


def _parsed_keys(
    entries: list[Any], message: Mapping[str, Any]
) -> tuple[storage.MessageHeader, list[bytes], list[bytes], list[bytes]]:
    """Header and key lists rebuilt from jsonParsed ``accountKeys`` objects."""
    static_entries = [e for e in entries if e.get("source", "transaction") == "transaction"]
    loaded_entries = [e for e in entries if e.get("source", "transaction") == "lookupTable"]
    if len(static_entries) + len(loaded_entries) != len(entries):
        unknown = {e.get("source") for e in entries} - {"transaction", "lookupTable", None}
        raise RpcJsonError(f"accountKeys has unknown source {sorted(map(str, unknown))}")
    if entries[: len(static_entries)] != static_entries:
        raise RpcJsonError("accountKeys lists lookup-table keys before transaction keys")
    signers = [e for e in static_entries if e.get("signer")]
    unsigned = [e for e in static_entries if not e.get("signer")]
    # Read-only unsigned keys close the static list; counting the trailing run keeps a key the
    # runtime demoted (an invoked program in a writable slot) from shifting the boundary.
    readonly_unsigned = 0
    for entry in reversed(unsigned):
        if entry.get("writable"):
            break
        readonly_unsigned += 1
    header = storage.MessageHeader(
        num_required_signatures=len(signers),
        num_readonly_signed_accounts=sum(1 for e in signers if not e.get("writable")),
        num_readonly_unsigned_accounts=readonly_unsigned,
    )
    lookups = message.get("addressTableLookups") or ()
    writable_count = sum(len(entry.get("writableIndexes") or ()) for entry in lookups)
    readonly_count = sum(len(entry.get("readonlyIndexes") or ()) for entry in lookups)
    if writable_count + readonly_count != len(loaded_entries):
        writable_count = sum(1 for e in loaded_entries if e.get("writable"))
    loaded = [_bytes58(_required(e, "pubkey", "accountKeys[]."), 32, "accountKeys") for e in loaded_entries]
    static = [_bytes58(_required(e, "pubkey", "accountKeys[]."), 32, "accountKeys") for e in static_entries]
    return header, static, loaded[:writable_count], loaded[writable_count:]


def _header(header: Mapping[str, Any]) -> storage.MessageHeader:
    return storage.MessageHeader(
        num_required_signatures=_uint(_required(header, "numRequiredSignatures", "header."), "header"),
        num_readonly_signed_accounts=_uint(_required(header, "numReadonlySignedAccounts", "header."), "header"),
        num_readonly_unsigned_accounts=_uint(_required(header, "numReadonlyUnsignedAccounts", "header."), "header"),
    )


def _instruction(ix: Mapping[str, Any], index_of: Mapping[str, int]) -> dict[str, Any]:
    """Fields shared by top-level and inner instructions, from either encoding."""
    if "programIdIndex" in ix:
        return {
            "program_id_index": _uint(ix["programIdIndex"], "programIdIndex"),
            "accounts": _index_bytes(_list(ix, "accounts", "instruction."), "instruction accounts"),
            "data": _bytes58(_required(ix, "data", "instruction."), None, "instruction data"),
        }
    program = _key_index(_required(ix, "programId", "instruction."), index_of)
    if "data" not in ix:  # parsed by the node: no raw accounts or data to carry
        return {"program_id_index": program, "accounts": b"", "data": b""}
    return {
        "program_id_index": program,
        "accounts": bytes(_key_index(a, index_of) for a in _list(ix, "accounts", "instruction.")),
        "data": _bytes58(ix["data"], None, "instruction data"),
    }


def _key_index(address: Any, index_of: Mapping[str, int]) -> int:
    try:
        index = index_of[address]
    except (KeyError, TypeError):
        raise RpcJsonError(f"instruction refers to {address!r}, which is not in accountKeys") from None
    if index > 255:
        raise RpcJsonError(f"account {address} has index {index}, beyond the 256 a message can address")
    return index


def _lookup(entry: Mapping[str, Any]) -> storage.MessageAddressTableLookup:
    return storage.MessageAddressTableLookup(
        account_key=_bytes58(_required(entry, "accountKey", "addressTableLookups[]."), 32, "addressTableLookups"),
        writable_indexes=_index_bytes(entry.get("writableIndexes") or [], "writableIndexes"),
        readonly_indexes=_index_bytes(entry.get("readonlyIndexes") or [], "readonlyIndexes"),
    )


def _config(config: Mapping[str, Any]) -> storage.TransactionConfig:
    fields = {
        "priority_fee": config.get("priorityFee"),
        "compute_unit_limit": config.get("computeUnitLimit"),
        "loaded_accounts_data_size_limit": config.get("loadedAccountsDataSizeLimit"),
        "heap_size": config.get("heapSize"),
    }
    return storage.TransactionConfig(
        **{k: _uint(v, f"transactionConfig.{k}") for k, v in fields.items() if v is not None}
    )


def _meta(
    meta: Mapping[str, Any],
    index_of: Mapping[str, int],
    loaded_writable: list[bytes],
    loaded_readonly: list[bytes],
) -> storage.TransactionStatusMeta:
    inner = meta.get("innerInstructions")
    logs = meta.get("logMessages")
    return_data = meta.get("returnData")
    status = storage.TransactionStatusMeta(
        fee=_uint(_required(meta, "fee", "meta."), "meta.fee"),
        pre_balances=[_uint(v, "meta.preBalances") for v in _list(meta, "preBalances", "meta.")],
        post_balances=[_uint(v, "meta.postBalances") for v in _list(meta, "postBalances", "meta.")],
        inner_instructions=[_inner_group(group, index_of) for group in inner or ()],
        inner_instructions_none=inner is None,
        log_messages=logs or (),
        log_messages_none=logs is None,
        pre_token_balances=[_token_balance(b) for b in meta.get("preTokenBalances") or ()],
        post_token_balances=[_token_balance(b) for b in meta.get("postTokenBalances") or ()],
        rewards=[_reward(r) for r in meta.get("rewards") or ()],
        loaded_writable_addresses=loaded_writable,
        loaded_readonly_addresses=loaded_readonly,
        return_data_none=return_data is None,
    )
    if meta.get("err") is not None:
        status.err.err = transaction_error_bytes(meta["err"])
    if return_data is not None:
        status.return_data.program_id = _bytes58(_required(return_data, "programId", "returnData."), 32, "returnData")
        status.return_data.data = _base64_field(return_data.get("data"))
    if meta.get("computeUnitsConsumed") is not None:
        status.compute_units_consumed = _uint(meta["computeUnitsConsumed"], "computeUnitsConsumed")
    if meta.get("costUnits") is not None:
        status.cost_units = _uint(meta["costUnits"], "costUnits")
    return status


def _inner_group(group: Mapping[str, Any], index_of: Mapping[str, int]) -> storage.InnerInstructions:
    instructions = []
    for ix in _list(group, "instructions", "innerInstructions[]."):
        inner = storage.InnerInstruction(**_instruction(ix, index_of))
        if ix.get("stackHeight") is not None:
            inner.stack_height = _uint(ix["stackHeight"], "stackHeight")
        instructions.append(inner)
    return storage.InnerInstructions(
        index=_uint(_required(group, "index", "innerInstructions[]."), "innerInstructions.index"),
        instructions=instructions,
    )


def _token_balance(balance: Mapping[str, Any]) -> storage.TokenBalance:
    amount = _required(balance, "uiTokenAmount", "tokenBalance.")
    raw = _required(amount, "amount", "uiTokenAmount.")
    if not isinstance(raw, str) or not raw.isdigit():
        raise RpcJsonError(f"uiTokenAmount.amount {raw!r} is not a decimal integer string")
    return storage.TokenBalance(
        account_index=_uint(_required(balance, "accountIndex", "tokenBalance."), "accountIndex"),
        mint=_required(balance, "mint", "tokenBalance."),
        owner=balance.get("owner") or "",
        program_id=balance.get("programId") or "",
        ui_token_amount=storage.UiTokenAmount(
            ui_amount=float(amount.get("uiAmount") or 0.0),
            decimals=_uint(_required(amount, "decimals", "uiTokenAmount."), "decimals"),
            amount=raw,
            ui_amount_string=amount.get("uiAmountString") or "",
        ),
    )


def _reward(reward: Mapping[str, Any]) -> storage.Reward:
    kind = reward.get("rewardType")
    commission = reward.get("commission")
    return storage.Reward(
        pubkey=_required(reward, "pubkey", "rewards[]."),
        lamports=_int(_required(reward, "lamports", "rewards[]."), "rewards.lamports"),
        post_balance=_uint(reward.get("postBalance") or 0, "rewards.postBalance"),
        reward_type=storage.RewardType.Value(kind) if kind else storage.Unspecified,
        commission="" if commission is None else str(commission),
    )


def transaction_error_bytes(err: Any) -> bytes:
    """Bincode ``TransactionError`` bytes for an RPC ``err`` value; never raises.

    Exact for the unit variants and payload shapes of yellowstone-protocol.md §6.5 (including
    ``InstructionError`` with ``Custom``); any other shape is ``UNKNOWN_ERROR_TAG`` (u32 LE) followed
    by the error's compact JSON text.
    """
    if isinstance(err, str) and err in _UNIT_ERRORS:
        return struct.pack("<I", _UNIT_ERRORS[err])
    if isinstance(err, dict) and len(err) == 1:
        ((name, value),) = err.items()
        if name == "InstructionError" and isinstance(value, list) and len(value) == 2:
            index, inner = value
            if (
                _fits(index, 8)
                and isinstance(inner, dict)
                and inner.keys() == {"Custom"}
                and _fits(inner["Custom"], 32)
            ):
                return struct.pack("<IBII", _INSTRUCTION_ERROR, index, _CUSTOM_INSTRUCTION_ERROR, inner["Custom"])
        if name in _U8_PAYLOAD_ERRORS and _fits(value, 8):
            return struct.pack("<IB", _U8_PAYLOAD_ERRORS[name], value)
        if (
            name in _ACCOUNT_INDEX_ERRORS
            and isinstance(value, dict)
            and value.keys() == {"account_index"}
            and _fits(value["account_index"], 8)
        ):
            return struct.pack("<IB", _ACCOUNT_INDEX_ERRORS[name], value["account_index"])
    text = json.dumps(err, separators=(",", ":"), sort_keys=True, default=str)
    return struct.pack("<I", UNKNOWN_ERROR_TAG) + text.encode()


def _fits(value: Any, bits: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << bits)


def _required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if not isinstance(obj, Mapping):
        raise RpcJsonError(f"{path.rstrip('.')} is a {type(obj).__name__}, expected an object")
    value = obj.get(key)
    if value is None:
        raise RpcJsonError(f"missing field '{path}{key}'")
    return value


def _list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = _required(obj, key, path)
    if not isinstance(value, list):
        raise RpcJsonError(f"field '{path}{key}' is a {type(value).__name__}, expected an array")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RpcJsonError(f"{what} must be an integer, found {value!r}")
    return value


def _uint(value: Any, what: str) -> int:
    if _int(value, what) < 0:
        raise RpcJsonError(f"{what} must not be negative, found {value}")
    return value


def _index_bytes(indexes: Any, what: str) -> bytes:
    if not isinstance(indexes, list) or not all(_fits(i, 8) for i in indexes):
        raise RpcJsonError(f"{what} must be an array of account indexes 0..255, found {indexes!r}")
    return bytes(indexes)


def _bytes58(text: Any, size: int | None, what: str) -> bytes:
    if not isinstance(text, str):
        raise RpcJsonError(f"{what}: expected a base58 string, found {text!r}")
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raise RpcJsonError(f"{what}: {text[:20]!r} is not base58") from None
    if size is not None and len(raw) != size:
        raise RpcJsonError(f"{what}: {text!r} decodes to {len(raw)} bytes, expected {size}")
    return raw


def _base64_field(value: Any) -> bytes:
    """``returnData.data``: ``[text, "base64"]``."""
    if not (isinstance(value, list) and len(value) == 2 and value[1] == "base64" and isinstance(value[0], str)):
        raise RpcJsonError(f"returnData.data must be [text, 'base64'], found {value!r}")
    try:
        return base64.b64decode(value[0], validate=True)
    except binascii.Error:
        raise RpcJsonError("returnData.data is not valid base64") from None
