"""Token account facts over Solana JSON-RPC ``getMultipleAccounts``, for mints whose creation the flow
did not see (``SOLFLOW_RPC_URL``).

One ``AccountLookup`` per process, shared by its workers, off the hot path:

* ``ask(mints)`` queues mints and returns at once (a shard asks when a mint's first fact arrives);
* a background thread sends them in batches -- 50 mints, i.e. their 100 mint and Metaplex metadata
  accounts, the most one call may ask for -- at most ``rps`` calls per second, retrying a failed
  call with exponential backoff (and after ``Retry-After`` on HTTP 429);
* answers are cached in memory and in ``<out>/rpc_cache.db`` (one row per mint, with the slot the
  RPC read it at), so a later run over the same outputs uses the same answers without asking;
* ``resolve(mints)`` returns the answers a shard needs now, waiting at most ``wait_s`` for those
  still on their way. A call that failed all its attempts marks its mints failed (``None``) and the
  RPC *down* for ``down_s``: meanwhile ``resolve`` does not wait for anything still queued, so a dead
  RPC costs the flow nothing but the names (``solflow.domain.tokens`` says how answers enter the
  flow deterministically).

The URL may carry an API key: logs and errors show only its scheme and host.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any

from solflow.domain.token_accounts import TokenAccountFacts, account_facts, metadata_address
from solflow.settings import display_url

if TYPE_CHECKING:  # httpx is imported by the lookup thread: a run without SOLFLOW_RPC_URL never pays for it
    import httpx

log = logging.getLogger(__name__)

MINTS_PER_CALL = 50  # two accounts each: getMultipleAccounts takes at most 100 keys
ATTEMPTS = 3
BACKOFF_S = 0.5
CALL_TIMEOUT_S = 10.0
WAIT_S = 10.0
DOWN_S = 60.0
CACHE_NAME = "rpc_cache.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS token_accounts (
    mint TEXT PRIMARY KEY,
    slot INTEGER NOT NULL,      -- the slot the RPC read the accounts at
    name TEXT, symbol TEXT, uri TEXT,
    decimals INTEGER,
    supply TEXT                 -- raw u64, as text (may exceed SQLite's signed 64 bits)
)
"""


class RpcError(Exception):
    """A JSON-RPC call that did not give a usable answer."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccountLookup:
    """Batched, cached, rate-limited account lookups on a background thread (see the module docstring)."""

    def __init__(
        self,
        url: str,
        rps: float,
        cache_path: Path | None = None,
        *,
        wait_s: float = WAIT_S,
        down_s: float = DOWN_S,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ):
        self._url = url
        self._where = display_url(url)
        self._interval = 1.0 / rps
        self._cache_path = cache_path
        self._wait_s = wait_s
        self._down_s = down_s
        self._call_timeout_s = call_timeout_s
        self._answers: dict[str, TokenAccountFacts] = {}
        self._failed: dict[str, float] = {}  # mint -> when its lookup failed
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._down_until = 0.0
        self._thread: threading.Thread | None = None
        self.calls = 0  # JSON-RPC calls made (for tests and logs)

    def ask(self, mints: Iterable[str]) -> None:
        """Queue lookups of ``mints`` not answered yet; never blocks."""
        now = monotonic()
        with self._cond:
            added = False
            for mint in mints:
                if mint in self._answers or mint in self._queued:
                    continue
                failed_at = self._failed.get(mint)
                if failed_at is not None and now - failed_at < self._down_s:
                    continue
                self._failed.pop(mint, None)
                self._queue.append(mint)
                self._queued.add(mint)
                added = True
            if added:
                self._start()
                self._cond.notify_all()

    def resolve(self, mints: Sequence[str]) -> dict[str, TokenAccountFacts | None]:
        """The answers for ``mints``, waiting at most ``wait_s`` for missing ones (not at all while
        the RPC is down); None for a mint without an answer."""
        self.ask(mints)
        deadline = monotonic() + self._wait_s
        with self._cond:
            while True:
                pending = [m for m in mints if m not in self._answers and m not in self._failed]
                now = monotonic()
                if not pending or now >= deadline or now < self._down_until or self._closed.is_set():
                    break
                self._cond.wait(deadline - now)
            return {mint: self._answers.get(mint) for mint in mints}

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._call_timeout_s + 1)

    def _start(self) -> None:
        if self._thread is None and not self._closed.is_set():
            self._thread = threading.Thread(target=self._run, name="solflow-rpc", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        import httpx

        cache = _open_cache(self._cache_path)
        next_call = 0.0
        try:
            with httpx.Client(timeout=self._call_timeout_s) as client:
                while not self._closed.is_set():
                    batch = self._next_batch()
                    if not batch:
                        continue
                    if cache is not None:
                        self._answered(_cached(cache, batch))
                        batch = [mint for mint in batch if mint not in self._answers]
                    if not batch:
                        continue
                    if self._closed.wait(max(0.0, next_call - monotonic())):
                        break
                    next_call = monotonic() + self._interval
                    facts = self._call_with_retries(client, batch)
                    if facts is None:
                        self._failed_batch(batch)
                        continue
                    self._answered(facts)
                    if cache is not None:
                        _store(cache, facts)
        except Exception:  # the lookups are an extra: a bug here must not stop the flow
            log.exception("RPC lookups at %s stopped", self._where)
        finally:
            if cache is not None:
                cache.close()
            with self._cond:
                for mint in self._queue:
                    self._failed[mint] = monotonic()
                self._queue.clear()
                self._queued.clear()
                self._cond.notify_all()

    def _next_batch(self) -> list[str]:
        with self._cond:
            while not self._queue and not self._closed.is_set():
                self._cond.wait()
            batch: list[str] = []
            while self._queue and len(batch) < MINTS_PER_CALL:
                batch.append(self._queue.popleft())
            return batch

    def _answered(self, facts: Iterable[TokenAccountFacts]) -> None:
        with self._cond:
            for fact in facts:
                self._answers[fact.mint] = fact
                self._queued.discard(fact.mint)
            self._cond.notify_all()

    def _failed_batch(self, batch: list[str]) -> None:
        now = monotonic()
        with self._cond:
            for mint in batch:
                self._failed[mint] = now
                self._queued.discard(mint)
            self._down_until = now + self._down_s
            self._cond.notify_all()

    def _call_with_retries(self, client: httpx.Client, mints: list[str]) -> list[TokenAccountFacts] | None:
        import httpx

        delay = BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.calls += 1
                return self._call(client, mints)
            except (RpcError, httpx.HTTPError, ValueError) as exc:
                wait = exc.retry_after_s if isinstance(exc, RpcError) and exc.retry_after_s else delay
                if attempt == ATTEMPTS:
                    log.warning(
                        "RPC %s: getMultipleAccounts failed %d times (%s); %d mint(s) stay without names,"
                        " no waiting for lookups for %.0f s",
                        self._where, ATTEMPTS, _describe(exc), len(mints), self._down_s,
                    )  # fmt: skip
                    return None
                if self._closed.wait(wait):
                    return None
                delay *= 2
        return None

    def _call(self, client: httpx.Client, mints: list[str]) -> list[TokenAccountFacts]:
        keys = [key for mint in mints for key in (mint, metadata_address(mint))]
        body = {
            "jsonrpc": "2.0",
            "id": self.calls,
            "method": "getMultipleAccounts",
            "params": [keys, {"encoding": "base64", "commitment": "confirmed"}],
        }
        response = client.post(self._url, json=body)
        if response.status_code == 429 or response.status_code >= 500:
            raise RpcError(f"HTTP {response.status_code}", _seconds(response.headers.get("retry-after")))
        if response.status_code != 200:
            raise RpcError(f"HTTP {response.status_code}")
        document = response.json()
        if not isinstance(document, dict) or "result" not in document:
            error = document.get("error") if isinstance(document, dict) else None
            raise RpcError(f"JSON-RPC error {error!r}" if error else "answer without a result")
        result = document["result"]
        slot = int(result["context"]["slot"])
        values = result["value"]
        if not isinstance(values, list) or len(values) != len(keys):
            raise RpcError(f"asked for {len(keys)} accounts, got {len(values) if isinstance(values, list) else 0}")
        return [
            account_facts(mint, slot, _data(values[2 * i]), _data(values[2 * i + 1])) for i, mint in enumerate(mints)
        ]


def _data(account: Any) -> bytes | None:
    """An account's data from a base64-encoded ``getMultipleAccounts`` entry (None: no account)."""
    if account is None:
        return None
    encoded, encoding = account["data"]
    if encoding != "base64":
        raise RpcError(f"account data encoded as {encoding!r}, asked for base64")
    return base64.b64decode(encoded)


def _seconds(header: str | None) -> float | None:
    try:
        return None if header is None else max(0.0, float(header))
    except ValueError:
        return None  # an HTTP date: back off as usual


def _describe(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPError):
        return type(exc).__name__  # its message may repeat the URL
    return str(exc) or type(exc).__name__


def _open_cache(path: Path | None) -> sqlite3.Connection | None:
    if path is None:
        return None
    try:
        db = sqlite3.connect(path, timeout=10)
        db.execute(_SCHEMA)
        db.commit()
        return db
    except sqlite3.Error as exc:
        log.warning("RPC answer cache %s is not usable (%s); answers are kept in memory only", path, exc)
        return None


def _cached(db: sqlite3.Connection, mints: Sequence[str]) -> list[TokenAccountFacts]:
    marks = ",".join("?" * len(mints))
    rows = db.execute(
        f"SELECT mint, slot, name, symbol, uri, decimals, supply FROM token_accounts WHERE mint IN ({marks})", mints
    )
    return [
        TokenAccountFacts(mint, slot, name, symbol, uri, decimals, None if supply is None else int(supply))
        for mint, slot, name, symbol, uri, decimals, supply in rows
    ]


def _store(db: sqlite3.Connection, facts: Sequence[TokenAccountFacts]) -> None:
    rows = [
        (f.mint, f.slot, f.name, f.symbol, f.uri, f.decimals, None if f.supply is None else str(f.supply))
        for f in facts
    ]
    try:
        db.executemany("INSERT OR REPLACE INTO token_accounts VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.commit()
    except sqlite3.Error as exc:
        log.warning("RPC answer cache: could not store %d answer(s): %s", len(rows), exc)
