"""``sources.solana_rpc.AccountLookup`` against a real local JSON-RPC HTTP server: batching (at most 100
accounts a call), the rate limit, the memory and on-disk caches, retries, a dead RPC that costs no
waiting, and the account layouts (SPL mint, Token-2022 metadata extension, Metaplex metadata)."""

from __future__ import annotations

import struct
import time

import pytest
from local_http import JsonRpcServer, metaplex_metadata, mint_account
from solders.keypair import Keypair

from solflow.domain.token_accounts import (
    AccountLayoutError,
    account_facts,
    metadata_address,
    parse_metaplex,
    parse_mint,
)
from solflow.settings import display_url
from sources.solana_rpc import AccountLookup


@pytest.fixture
def rpc():
    server = JsonRpcServer()
    yield server
    server.close()


def mints(count: int) -> list[str]:
    return [str(Keypair().pubkey()) for _ in range(count)]


def test_answers_come_in_batches_within_the_rate_limit(rpc, tmp_path):
    tokens = mints(120)
    for i, mint in enumerate(tokens):
        rpc.add_token(mint, f"Token {i}", f"T{i}", supply=10**15 + i)
    lookup = AccountLookup(rpc.url, rps=4, cache_path=tmp_path / "cache.db")
    try:
        lookup.ask(tokens)
        answers = lookup.resolve(tokens)
    finally:
        lookup.close()
    assert [answers[m].name for m in tokens] == [f"Token {i}" for i in range(120)]
    assert answers[tokens[7]].supply == 10**15 + 7 and answers[tokens[7]].decimals == 6
    assert answers[tokens[7]].slot == rpc.slot and answers[tokens[7]].uri == "https://example.invalid/T7"
    asked = rpc.keys_asked()
    assert [len(keys) for keys in asked] == [100, 100, 40]  # 50 mints a call: mint + metadata account
    assert asked[0][:2] == [tokens[0], metadata_address(tokens[0])]
    times = [t for t, _, _ in rpc.requests]
    assert all(later - earlier >= 0.25 * 0.95 for earlier, later in zip(times, times[1:]))  # 4 calls a second


def test_cached_answers_are_not_asked_again_even_by_a_new_process(rpc, tmp_path):
    tokens = mints(3)
    for mint in tokens:
        rpc.add_token(mint, "Name", "SYM", supply=5)
    cache = tmp_path / "rpc_cache.db"
    first = AccountLookup(rpc.url, rps=50, cache_path=cache)
    try:
        assert {m: a.symbol for m, a in first.resolve(tokens).items()} == dict.fromkeys(tokens, "SYM")
        first.resolve(tokens)
    finally:
        first.close()
    assert len(rpc.requests) == 1
    rpc.accounts.clear()  # the chain changed since: the recorded answer still wins
    second = AccountLookup(rpc.url, rps=50, cache_path=cache)
    try:
        assert {m: a.name for m, a in second.resolve(tokens).items()} == dict.fromkeys(tokens, "Name")
    finally:
        second.close()
    assert len(rpc.requests) == 1


def test_a_failing_call_is_retried(rpc):
    (mint,) = mints(1)
    rpc.add_token(mint, "Back", "BK", supply=1)
    rpc.fail_next = 2
    lookup = AccountLookup(rpc.url, rps=50)
    try:
        assert lookup.resolve([mint])[mint].name == "Back"
    finally:
        lookup.close()
    assert [ok for _, _, ok in rpc.requests] == [False, False, True]


def test_a_dead_rpc_costs_no_waiting(rpc):
    first, second = mints(2)
    rpc.fail_next = 1_000
    lookup = AccountLookup(rpc.url, rps=50, wait_s=30, down_s=60)
    try:
        started = time.monotonic()
        assert lookup.resolve([first]) == {first: None}  # three attempts with backoff, then given up
        assert time.monotonic() - started < 10
        started = time.monotonic()
        assert lookup.resolve([second]) == {second: None}  # down: no waiting at all
        assert time.monotonic() - started < 0.5
    finally:
        lookup.close()
    assert len(rpc.requests) == 3


def test_unknown_accounts_are_an_answer_without_facts(rpc):
    (mint,) = mints(1)
    lookup = AccountLookup(rpc.url, rps=50)
    try:
        answer = lookup.resolve([mint])[mint]
    finally:
        lookup.close()
    assert answer is not None and (answer.name, answer.supply, answer.slot) == (None, None, rpc.slot)


def test_urls_with_keys_are_logged_by_host_only():
    assert display_url("https://rpc.example.com/v1/secret?api-key=abc") == "https://rpc.example.com"
    assert display_url("http://127.0.0.1:8899") == "http://127.0.0.1:8899"


def test_account_layouts():
    assert parse_mint(mint_account(10**18, 9)).supply == 10**18
    assert parse_metaplex(metaplex_metadata("Padded", "PAD", "u")) == ("Padded", "PAD", "u")
    with pytest.raises(AccountLayoutError):
        parse_mint(b"\0" * 40)
    with pytest.raises(AccountLayoutError):
        parse_metaplex(b"\x05" + bytes(100))
    # a Token-2022 mint carrying its own metadata (extension 19) after the 165-byte base
    texts = b"".join(struct.pack("<I", len(t)) + t for t in (b"Inline", b"INL", b"https://x"))
    extension = bytes(64) + texts + struct.pack("<I", 0)
    token_2022 = mint_account(7, 6).ljust(165, b"\0") + bytes([1]) + struct.pack("<HH", 19, len(extension)) + extension
    parsed = parse_mint(token_2022)
    assert (parsed.supply, parsed.name, parsed.symbol, parsed.uri) == (7, "Inline", "INL", "https://x")
    facts = account_facts("M", 9, token_2022, None)
    assert (facts.name, facts.decimals, facts.slot) == ("Inline", 6, 9)
    broken = account_facts("M", 9, b"garbage", metaplex_metadata("Meta", "M", ""))
    assert (broken.name, broken.supply, broken.uri) == ("Meta", None, None)
