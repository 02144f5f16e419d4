"""SQLite sink: the single writer of ``<out>/solflow.db``, and ``open_db`` for readers.

Items are ``(key, (kind, payload))``; the key is ignored (everything goes to one partition, so one
thread owns the connection at any worker count; which worker, see ``_PARTITIONS``). Items are checked as they arrive (a bad item rejects
its batch) and committed together, as one transaction, once ``FLUSH_ITEMS`` are pending, when a batch
arrives ``FLUSH_INTERVAL_S`` after the oldest pending one, at every snapshot and at close -- so
recovery never replays past uncommitted rows, and a run of many small batches costs few commits.
Between commits ``token_aggregates`` keeps only each mint's newest row.

============ ============ ==================================================================
kind         payload      table and write
============ ============ ==================================================================
``trade``    TradeEvent   ``trades``: every TradeEvent field; upsert on (signature,
                          outer_ix_index, inner_ix_index) -- a NULL inner index counts as one
                          value -- so a replay rewrites the same rows
``aggregates`` row tuples ``token_aggregates``: one row per mint, the current state; upsert on
             (a list)     ``mint`` unless the stored row is newer (``updated_at`` never moves
                          back); tuples in ``sinks.schema.aggregate_columns`` order
``signal``   row dict     ``token_signals``: the original's columns plus ``state`` ("on"/"off")
                          and ``ts``; one row per (mint, signal_type, ts, state), repeats ignored
``gap``      Gap          ``gaps``: one row per distinct gap, repeats ignored
``stats``    dict         ``run_stats(name, value)``: counters of the latest run, nested dicts
                          flattened to dotted names (``trades_by_program.pumpswap``), upserted
============ ============ ==================================================================

``token_aggregates`` keeps the original's column names: ``net_flow_{60,300,900,3600,7200,14400}s_sol``,
``buy_count_/sell_count_{60,300,900}s``, ``unique_wallets_300s``, ``bot_trades_300s``,
``bot_wallets_300s``, ``avg_trade_size_300s_sol``, ``dca_buys_{60,300,900,3600,14400}s``, plus every
per-window column of the configured windows (``buy_volume_300s_sol``, ``unique_buyers_60s``, ...; see
``sinks.schema``). Differences from the original: ``volume_300s_sol`` is gross volume (buy + sell),
not ``|net flow|``; ``last_trade_timestamp`` is the last trade's block time; ``source_program`` holds
the comma-joined programs seen in the longest window (the original always wrote "unknown");
``updated_at`` is the row's event time and ``created_at`` the event time of the mint's first row
(the original used the wall clock); ``trades_total`` is new. Columns of windows that are not
configured stay NULL. ``token_signals.created_at`` is the signal's event time.

Raw amounts (``*_amount_raw``) are unsigned 64-bit; SQLite integers are signed, so the columns have
no declared type: values up to 2**63 - 1 are INTEGER and larger ones are stored as their exact
decimal TEXT (SQLite would turn them into lossy REALs in an INTEGER column).

The schema is created by numbered migrations recorded in ``schema_version``; starting on an
existing database applies only the missing ones, and adds columns for newly configured windows.
Pragmas: ``journal_mode=WAL`` (readers never block the writer), ``synchronous=NORMAL``, a 20 MiB cache.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from operator import attrgetter, itemgetter
from pathlib import Path
from time import monotonic
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from sinks.schema import aggregate_columns, check_row_keys, check_row_lengths, window_metric_columns
from solflow.domain.stream import Gap
from solflow.domain.trade import TRADE_FIELDS
from solflow.settings import DEFAULT_WINDOWS

__all__ = ["SCHEMA_VERSION", "NotASolflowDatabase", "SqliteSink", "open_db"]

Item = tuple[str, Any]  # (kind, payload)

# Bytewax 0.21 hands a sink's partitions to the workers in turn, in name order, so a lone partition
# always lands on worker 0 -- together with the Parquet aggregates writer and several source
# partitions. A second name that never receives an item (and so is never built) puts the one writer
# on worker 1 whenever there is one: a 2-process run finished in 0.93x the time (4 of 4 A/B pairs).
_PARTITIONS = ("sqlite-0", "sqlite-1")
_WRITER = "sqlite-1"

FLUSH_ITEMS = 20_000  # pending items that force a commit
FLUSH_INTERVAL_S = 1.0  # while items keep arriving, none waits longer than this for its commit

_MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "trades, token_aggregates, token_signals, gaps, run_stats",
        (
            """CREATE TABLE trades (
                signature TEXT NOT NULL,
                slot INTEGER NOT NULL,
                tx_index INTEGER NOT NULL,
                block_time INTEGER,
                program TEXT NOT NULL,
                program_id TEXT NOT NULL,
                direction TEXT NOT NULL,
                trader TEXT NOT NULL,
                fee_payer TEXT NOT NULL,
                mint TEXT NOT NULL,
                quote_mint TEXT NOT NULL,
                token_amount_raw NOT NULL,  -- u64: INTEGER, or exact decimal TEXT above 2**63-1
                token_decimals INTEGER,
                quote_amount_raw NOT NULL,  -- u64, as token_amount_raw
                quote_decimals INTEGER,
                fee_amount_raw,             -- u64, as token_amount_raw
                outer_ix_index INTEGER NOT NULL,
                inner_ix_index INTEGER,
                via TEXT,
                pool TEXT,
                is_dca INTEGER NOT NULL,
                decode_source TEXT NOT NULL
            )""",
            "CREATE UNIQUE INDEX trades_identity ON trades(signature, outer_ix_index, coalesce(inner_ix_index, -1))",
            "CREATE INDEX trades_mint_time ON trades(mint, block_time)",
            "CREATE INDEX trades_program_time ON trades(program, block_time)",
            """CREATE TABLE token_aggregates (
                mint TEXT PRIMARY KEY,
                source_program TEXT NOT NULL,
                last_trade_timestamp INTEGER,
                net_flow_60s_sol REAL,
                net_flow_300s_sol REAL,
                net_flow_900s_sol REAL,
                net_flow_3600s_sol REAL,
                net_flow_7200s_sol REAL,
                net_flow_14400s_sol REAL,
                buy_count_60s INTEGER,
                sell_count_60s INTEGER,
                buy_count_300s INTEGER,
                sell_count_300s INTEGER,
                buy_count_900s INTEGER,
                sell_count_900s INTEGER,
                unique_wallets_300s INTEGER,
                bot_trades_300s INTEGER,
                bot_wallets_300s INTEGER,
                avg_trade_size_300s_sol REAL,
                volume_300s_sol REAL,
                dca_buys_60s INTEGER,
                dca_buys_300s INTEGER,
                dca_buys_900s INTEGER,
                dca_buys_3600s INTEGER,
                dca_buys_14400s INTEGER,
                trades_total INTEGER,
                updated_at INTEGER NOT NULL,
                created_at INTEGER NOT NULL
            )""",
            "CREATE INDEX token_aggregates_updated ON token_aggregates(updated_at)",
            "CREATE INDEX token_aggregates_program ON token_aggregates(source_program)",
            "CREATE INDEX token_aggregates_flow ON token_aggregates(net_flow_300s_sol DESC)",
            "CREATE INDEX token_aggregates_dca ON token_aggregates(dca_buys_3600s DESC)",
            """CREATE TABLE token_signals (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                mint TEXT NOT NULL,
                signal_type TEXT NOT NULL,
                window_seconds INTEGER NOT NULL,
                severity INTEGER DEFAULT 1,  -- NULL on "off" rows
                score REAL,
                details_json TEXT,
                created_at INTEGER NOT NULL,
                sent_to_discord INTEGER NOT NULL DEFAULT 0,
                seen_in_terminal INTEGER NOT NULL DEFAULT 0,
                state TEXT NOT NULL,
                ts INTEGER NOT NULL
            )""",
            "CREATE UNIQUE INDEX token_signals_identity ON token_signals(mint, signal_type, ts, state)",
            "CREATE INDEX token_signals_mint ON token_signals(mint, created_at DESC)",
            "CREATE INDEX token_signals_type ON token_signals(signal_type, created_at DESC)",
            """CREATE TABLE gaps (
                partition TEXT NOT NULL,
                first_slot INTEGER,
                last_slot INTEGER,
                count INTEGER,
                reason TEXT NOT NULL,
                detected_at_slot INTEGER
            )""",
            "CREATE UNIQUE INDEX gaps_identity ON gaps(partition, reason, coalesce(first_slot, -1),"
            " coalesce(last_slot, -1), coalesce(detected_at_slot, -1))",
            "CREATE TABLE run_stats (name TEXT PRIMARY KEY, value)",
        ),
    ),
)
SCHEMA_VERSION = _MIGRATIONS[-1][0]

_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "u64": ""}
_I64_MAX = 2**63 - 1
_U64_FIELDS = ("token_amount_raw", "quote_amount_raw", "fee_amount_raw")


class NotASolflowDatabase(ValueError):
    """The file is not a database this sink wrote."""


class SqliteSink(FixedPartitionedSink[Item, None]):
    """Items ``(key, (kind, payload))`` → ``db_path``; one partition, so one writer thread.

    >>> op.output("sqlite", tagged_items, SqliteSink(Path("out/solflow.db")))  # doctest: +SKIP
    """

    def __init__(self, db_path: Path, windows: Iterable[int] = DEFAULT_WINDOWS):
        self._path = Path(db_path)
        self._windows = tuple(sorted(set(windows)))

    @override
    def list_parts(self) -> list[str]:
        return list(_PARTITIONS)

    @override
    def part_fn(self, item_key: str) -> int:
        return _PARTITIONS.index(_WRITER)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SqlitePartition:
        return _SqlitePartition(self._path, self._windows)


class _SqlitePartition(StatefulSinkPartition[Item, None]):
    def __init__(self, path: Path, windows: tuple[int, ...]):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA cache_size=-20000")  # 20 MiB as the original: index pages stay cached
        self._db.execute("PRAGMA temp_store=MEMORY")
        _migrate(self._db, windows)
        self._pending = _Pending(windows)
        self._first_pending_at = 0.0

    @override
    def write_batch(self, values: list[Item]) -> None:
        grouped: dict[str, list[Any]] = {}
        for kind, payload in values:
            grouped.setdefault(kind, []).append(payload)
        unknown = grouped.keys() - _KINDS
        if unknown:
            raise ValueError(f"SqliteSink got item kind(s) {sorted(unknown)}; expected {sorted(_KINDS)}")
        pending = self._pending
        if not pending.items:
            self._first_pending_at = monotonic()
        pending.add(grouped)
        if pending.items >= FLUSH_ITEMS or monotonic() - self._first_pending_at >= FLUSH_INTERVAL_S:
            self._commit()

    @override
    def snapshot(self) -> None:
        # Everything before the snapshot is committed and every write is an idempotent upsert, so a
        # replay after recovery needs no position.
        self._commit()
        return None

    @override
    def close(self) -> None:
        self._commit()
        self._db.close()

    def _commit(self) -> None:
        if self._pending.items:
            with _transaction(self._db):
                self._pending.write(self._db)


def open_db(path: Path) -> sqlite3.Connection:
    """A read-only connection (rows as ``sqlite3.Row``) to a database written by ``SqliteSink``.

    >>> db = open_db(Path("out/solflow.db"))  # doctest: +SKIP
    >>> db.execute("SELECT mint, net_flow_300s_sol FROM token_aggregates LIMIT 1").fetchone()  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SolFlow database at {path}")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        has_version = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise NotASolflowDatabase(f"{path} is not a SQLite database ({exc})") from None
    if not has_version:
        db.close()
        raise NotASolflowDatabase(f"{path} is not a SolFlow database (no schema_version table)")
    return db


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _migrate(db: sqlite3.Connection, windows: tuple[int, ...]) -> None:
    with _transaction(db):
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL)")
        applied = {row[0] for row in db.execute("SELECT version FROM schema_version")}
        for version, description, statements in _MIGRATIONS:
            if version in applied:
                continue
            for statement in statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, description))
        existing = {row[1] for row in db.execute("PRAGMA table_info(token_aggregates)")}
        for name, kind in window_metric_columns(windows):
            if name not in existing:
                db.execute(f"ALTER TABLE token_aggregates ADD COLUMN {name} {_SQL_TYPES[kind]}")


# ---------------------------------------------------------------- trades

_TRADE_UPSERT = (
    f"INSERT INTO trades ({', '.join(TRADE_FIELDS)}) VALUES ({', '.join('?' * len(TRADE_FIELDS))})"
    " ON CONFLICT(signature, outer_ix_index, coalesce(inner_ix_index, -1)) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in TRADE_FIELDS if f not in ("signature", "outer_ix_index"))
)
_trade_row = attrgetter(*TRADE_FIELDS)
_U64_POSITIONS = tuple(TRADE_FIELDS.index(f) for f in _U64_FIELDS)


def _write_trades(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    try:
        db.executemany(_TRADE_UPSERT, rows)
    except OverflowError:
        # Rare: a u64 amount beyond SQLite's signed range. Upserts make re-running the batch safe.
        db.executemany(_TRADE_UPSERT, [_u64_as_text(row) for row in rows])


def _u64_as_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for i in _U64_POSITIONS:
        if values[i] is not None and values[i] > _I64_MAX:
            values[i] = str(values[i])
    return tuple(values)


# ---------------------------------------------------------------- aggregates


class _AggregateRows:
    """Aggregate row tuples (``sinks.schema.aggregate_columns`` order) waiting for ``token_aggregates``.

    The table keeps one row per mint, so only each mint's newest row is kept (the last of equals,
    as sequential upserts would leave it) together with the ``ts`` of the first one, its
    ``created_at`` should this upsert insert the mint.
    """

    def __init__(self, windows: tuple[int, ...]):
        self._columns = aggregate_columns(windows)
        names = [name for name, _ in self._columns]
        metrics = [name for name, _ in window_metric_columns(windows)]
        self._has_300 = 300 in windows
        columns = ["mint", "source_program", "last_trade_timestamp", "updated_at", "created_at", "trades_total"]
        columns += metrics + (["volume_300s_sol"] if self._has_300 else [])
        self._mint_at, self._ts_at = names.index("mint"), names.index("ts")
        picked = ("mint", "programs", "last_trade_ts", "ts", "ts", "trades_total", *metrics)
        self._pick = itemgetter(*map(names.index, picked))
        if self._has_300:
            self._volume_at = (names.index("buy_volume_300s_sol"), names.index("sell_volume_300s_sol"))
        updated = [c for c in columns if c not in ("mint", "created_at")]
        self._sql = (
            f"INSERT INTO token_aggregates ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            " ON CONFLICT(mint) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in updated)
            + " WHERE excluded.updated_at >= token_aggregates.updated_at"
        )
        self._newest: dict[str, tuple[tuple, int]] = {}  # mint -> (row, first ts)

    def check(self, batches: list[list[tuple]]) -> None:
        for batch in batches:
            check_row_lengths(batch, self._columns, "aggregate")

    def add(self, batches: list[list[tuple]]) -> None:
        """Keep checked rows."""
        newest, mint_at, ts_at = self._newest, self._mint_at, self._ts_at
        for batch in batches:
            for row in batch:
                mint, ts = row[mint_at], row[ts_at]
                seen = newest.get(mint)
                if seen is None:
                    newest[mint] = (row, ts)
                elif ts >= seen[0][ts_at]:
                    newest[mint] = (row, seen[1])

    def write(self, db: sqlite3.Connection) -> None:
        params = []
        pick, has_300, ts_at = self._pick, self._has_300, self._ts_at
        if has_300:
            buy_at, sell_at = self._volume_at
        for row, created_at in self._newest.values():
            values = pick(row)
            if created_at != row[ts_at]:
                values = values[:4] + (created_at,) + values[5:]
            if has_300:
                values += (row[buy_at] + row[sell_at],)
            params.append(values)
        db.executemany(self._sql, params)
        self._newest.clear()


# ---------------------------------------------------------------- signals, gaps, stats

_SIGNAL_INSERT = (
    "INSERT INTO token_signals"
    " (mint, signal_type, window_seconds, severity, score, details_json, created_at, state, ts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(mint, signal_type, ts, state) DO NOTHING"
)
_SIGNAL_KEYS = frozenset(("mint", "signal_type", "window_seconds", "severity", "score", "details", "ts", "state"))
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _signal_params(s: Mapping[str, Any]) -> tuple[Any, ...]:
    check_row_keys(s, _SIGNAL_KEYS, "signal")
    return (s["mint"], s["signal_type"], s["window_seconds"], s["severity"], s["score"],
            _encode(s["details"]), s["ts"], s["state"], s["ts"])  # fmt: skip


# Drops of the same slot range noticed at the same slot are one gap: their counts add up.
_GAP_INSERT = (
    "INSERT INTO gaps (partition, first_slot, last_slot, count, reason, detected_at_slot)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(partition, reason, coalesce(first_slot, -1), coalesce(last_slot, -1),"
    " coalesce(detected_at_slot, -1))"
    " DO UPDATE SET count = CASE WHEN gaps.count IS NULL OR excluded.count IS NULL THEN NULL"
    " ELSE gaps.count + excluded.count END"
)


_STATS_UPSERT = (
    "INSERT INTO run_stats (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value"
)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}{key}.", inner, out)
    elif isinstance(value, (list, tuple)):
        out[prefix[:-1]] = _encode(value)
    else:
        out[prefix[:-1]] = value


# ---------------------------------------------------------------- pending writes

_KINDS = frozenset(("trade", "aggregates", "signal", "gap", "stats"))


class _Pending:
    """Items accepted since the last commit, already in the shape of their statements."""

    def __init__(self, windows: tuple[int, ...]):
        self.items = 0
        self._trades: list[tuple[Any, ...]] = []
        self._aggregates = _AggregateRows(windows)
        self._signals: list[tuple[Any, ...]] = []
        self._gaps: list[Gap] = []
        self._stats: dict[str, Any] = {}  # flattened name -> latest value

    def add(self, grouped: dict[str, list[Any]]) -> None:
        """Take one batch: every item is checked and converted before any is kept, so a bad item
        rejects its whole batch and nothing of it is written."""
        trades = [_trade_row(t) for t in grouped.get("trade", ())]
        signals = [_signal_params(s) for s in grouped.get("signal", ())]
        aggregates = grouped.get("aggregates", [])
        self._aggregates.check(aggregates)
        self._aggregates.add(aggregates)
        self._trades += trades
        self._signals += signals
        self._gaps += grouped.get("gap", ())
        for counters in grouped.get("stats", ()):
            _flatten("", counters, self._stats)
        self.items += sum(len(v) for k, v in grouped.items() if k != "aggregates") + sum(map(len, aggregates))

    def write(self, db: sqlite3.Connection) -> None:
        """Execute everything pending (inside the caller's transaction) and start afresh."""
        if self._trades:
            _write_trades(db, self._trades)
        self._aggregates.write(db)
        if self._signals:
            db.executemany(_SIGNAL_INSERT, self._signals)
        if self._gaps:
            db.executemany(_GAP_INSERT, self._gaps)  # a Gap is a tuple in column order
        if self._stats:
            db.executemany(_STATS_UPSERT, self._stats.items())
        self._trades, self._signals, self._gaps, self._stats = [], [], [], {}
        self.items = 0
