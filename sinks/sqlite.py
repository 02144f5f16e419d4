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
``trade``    TradeEvent   ``trades``: ``sinks.schema.TRADE_COLUMNS``; upsert on (signature,
                          outer_ix_index, inner_ix_index) -- a NULL inner index counts as one
                          value -- so a replay rewrites the same rows
``current``  RowBlock     ``token_aggregates``: one row per mint, the current state; upsert on
                          ``mint`` unless the stored row is newer (``ts`` never moves back)
``signal``   row dict     ``token_signals``: ``sinks.schema.SIGNAL_COLUMNS`` and a row ``id``;
                          one row per (mint, signal_type, ts, state), repeats ignored
``gap``      Gap          ``gaps``: one row per distinct gap, repeats ignored
``stats``    dict         ``run_stats(name, value)``: counters of the latest run, nested dicts
                          flattened to dotted names (``trades_by_program.pumpswap``), upserted
============ ============ ==================================================================

Columns have the names the Parquet datasets use (``sinks.schema``; ``docs/schema.md``). Beyond them,
``token_aggregates.first_ts`` is the tick at which the mint's first window run began. The original system's names map
as: ``source_program`` -> ``programs``, ``last_trade_timestamp`` -> ``last_trade_ts``,
``updated_at`` -> ``ts``, ``created_at`` -> ``first_ts``, ``token_signals.details_json`` ->
``details`` (its ``created_at`` was ``ts``); its ``volume_300s_sol`` is
``buy_volume_300s_sol + sell_volume_300s_sol``. Columns of windows that are not configured (or of
windows configured by an earlier run only) stay NULL.

Raw amounts (``*_amount_raw``) are unsigned 64-bit; SQLite integers are signed, so the columns have
no declared type: values up to 2**63 - 1 are INTEGER and larger ones are stored as their exact
decimal TEXT (SQLite would turn them into lossy REALs in an INTEGER column).

The schema is created by numbered migrations recorded in ``schema_version``; starting on an
existing database applies only the missing ones, and adds columns for newly configured windows.
Migration 2 renames a version-1 database's columns to the names above and fills the decimal-adjusted
trade amounts of the rows already there.
Pragmas: ``journal_mode=WAL`` (readers never block the writer), ``synchronous=NORMAL``, a 20 MiB cache.
Another process holding the write lock (a long analysis write) is waited out: each attempt waits
``BUSY_TIMEOUT_MS`` inside SQLite, then the commit is retried with backoff (tenacity) for as long as
it takes, with a warning on every retry; pending rows are kept until a commit succeeds. Once the run
is stopping (SIGTERM, a failed source) the wait ends ``LOCKED_AT_STOP_S`` after the stop, so the stop
stays prompt: the rows not written yet are pickled next to the database (``<db>.unwritten``), one
error line says so, and the next run into that ``SOLFLOW_OUT`` writes them first.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from time import monotonic
from typing import Any, NamedTuple, Protocol

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential
from typing_extensions import override

from sinks import token_tables
from sinks.schema import (
    SIGNAL_COLUMNS,
    TRADE_COLUMNS,
    RowShapeError,
    aggregate_columns,
    check_row_keys,
    window_metric_columns,
)
from solflow import run_control
from solflow.domain.stream import Gap
from solflow.domain.windows import RowBlock
from solflow.settings import DEFAULT_WINDOWS

__all__ = [
    "SCHEMA_VERSION",
    "Executor",
    "NotASolflowDatabase",
    "OneWriterSink",
    "PendingWrites",
    "SqliteSink",
    "TableShape",
    "open_db",
    "table_columns",
    "table_shapes",
]

Item = tuple[str, Any]  # (kind, payload)

# Bytewax 0.21 hands a sink's partitions to the workers in turn, in name order, so a lone partition
# always lands on worker 0 -- together with the Parquet aggregates writer and several source
# partitions. A second name that never receives an item (and so is never built) puts the one writer
# on worker 1 whenever there is one: a 2-process run finished in 0.93x the time (4 of 4 A/B pairs).
_PARTITIONS = ("sqlite-0", "sqlite-1")
_WRITER = "sqlite-1"

log = logging.getLogger(__name__)

FLUSH_ITEMS = 20_000  # pending items that force a commit
BUSY_TIMEOUT_MS = 1_000  # SQLite's own wait for the write lock, per attempt
LOCK_RETRY_MAX_S = 2.0  # longest pause between attempts while another process holds the lock
FLUSH_INTERVAL_S = 1.0  # while items keep arriving, none waits longer than this for its commit
LOCKED_AT_STOP_S = 4.0  # after a stop, how long a commit waits for a locked database (a stop takes < 10 s)
UNWRITTEN_SUFFIX = ".unwritten"  # <db>.unwritten: rows a stopped run could not commit, written by the next

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
    (
        2,
        "one name per quantity (the Parquet names); decimal-adjusted trade amounts",
        (
            "ALTER TABLE trades ADD COLUMN token_amount REAL",
            "ALTER TABLE trades ADD COLUMN quote_amount REAL",
            "ALTER TABLE trades ADD COLUMN fee_amount REAL",
            "UPDATE trades SET token_amount = scaled(token_amount_raw, token_decimals),"
            " quote_amount = scaled(quote_amount_raw, quote_decimals),"
            " fee_amount = scaled(fee_amount_raw, quote_decimals)",
            "DROP INDEX token_aggregates_updated",
            "DROP INDEX token_aggregates_program",
            "ALTER TABLE token_aggregates RENAME COLUMN source_program TO programs",
            "ALTER TABLE token_aggregates RENAME COLUMN last_trade_timestamp TO last_trade_ts",
            "ALTER TABLE token_aggregates RENAME COLUMN updated_at TO ts",
            "ALTER TABLE token_aggregates RENAME COLUMN created_at TO first_ts",
            "ALTER TABLE token_aggregates DROP COLUMN volume_300s_sol",
            "CREATE INDEX token_aggregates_ts ON token_aggregates(ts)",
            "CREATE INDEX token_aggregates_programs ON token_aggregates(programs)",
            "DROP INDEX token_signals_mint",
            "DROP INDEX token_signals_type",
            "ALTER TABLE token_signals RENAME COLUMN details_json TO details",
            "ALTER TABLE token_signals DROP COLUMN created_at",
            "ALTER TABLE token_signals DROP COLUMN sent_to_discord",
            "ALTER TABLE token_signals DROP COLUMN seen_in_terminal",
            "CREATE INDEX token_signals_mint ON token_signals(mint, ts DESC)",
            "CREATE INDEX token_signals_type ON token_signals(signal_type, ts DESC)",
        ),
    ),
    (
        3,
        "trades: the pool's or curve's reserves after the trade",
        tuple(  # u64, stored as token_amount_raw is
            f"ALTER TABLE trades ADD COLUMN {name}"
            for name in ("virtual_base_reserves", "virtual_quote_reserves", "real_base_reserves", "real_quote_reserves")
        ),
    ),
)
_MIGRATIONS += (token_tables.MIGRATION,)
SCHEMA_VERSION = _MIGRATIONS[-1][0]

_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "u64": ""}
_I64_MAX = 2**63 - 1
_TRADE_NAMES = tuple(name for name, _ in TRADE_COLUMNS)
_U64_POSITIONS = tuple(i for i, (_, kind) in enumerate(TRADE_COLUMNS) if kind == "u64")


class Executor(Protocol):
    """Where ``PendingWrites`` runs its statements: a ``sqlite3.Connection``, or an adapter."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> object: ...


class NotASolflowDatabase(ValueError):
    """The file is not a database this sink wrote."""


class OneWriterSink(FixedPartitionedSink[Item, Any]):
    """Every item to one partition: a single writer thread at any scale, on worker 1 when there is
    one (``_PARTITIONS``). The table sinks (this one, ``sinks.postgres``) are such sinks."""

    @override
    def list_parts(self) -> list[str]:
        return list(_PARTITIONS)

    @override
    def part_fn(self, item_key: str) -> int:
        return _PARTITIONS.index(_WRITER)


class SqliteSink(OneWriterSink):
    """Items ``(key, (kind, payload))`` → ``db_path``; one partition, so one writer thread.

    >>> op.output("sqlite", tagged_items, SqliteSink(Path("out/solflow.db")))  # doctest: +SKIP
    """

    def __init__(self, db_path: Path, windows: Iterable[int] = DEFAULT_WINDOWS, retention_s: int | None = None):
        self._path = Path(db_path)
        self._windows = tuple(sorted(set(windows)))
        self._retention_s = retention_s

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SqlitePartition:
        return _SqlitePartition(self._path, self._windows, self._retention_s)


class _SqlitePartition(StatefulSinkPartition[Item, None]):
    def __init__(self, path: Path, windows: tuple[int, ...], retention_s: int | None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._while_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA cache_size=-20000")  # 20 MiB as the original: index pages stay cached
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._while_locked(lambda: _migrate(self._db, windows))
        self._pending = PendingWrites(windows, retention_s)
        self._unwritten = path.with_name(path.name + UNWRITTEN_SUFFIX)
        self._keeping = False  # the database stayed locked after a stop: pending rows go to _unwritten
        self._write_unwritten()

    @override
    def write_batch(self, values: list[Item]) -> None:
        self._pending.add(values)
        if self._pending.due():
            self._commit()

    @override
    def snapshot(self) -> None:
        # Everything before the snapshot is committed and every write is an idempotent upsert, so a
        # replay after recovery needs no position.
        self._commit()
        return None

    @override
    def close(self) -> None:
        self._pending.finish()  # the retention's last prune
        self._commit()
        self._db.close()

    def _commit(self) -> None:
        pending = self._pending
        if not pending.items:
            return
        if self._keeping:
            self._keep_unwritten()
            return

        def write() -> None:
            with _transaction(self._db):
                pending.write(self._db)

        try:
            self._while_locked(write, until_stop=True)
        except sqlite3.OperationalError as exc:
            if not (_is_locked(exc) and run_control.stop_requested()):
                raise
            self._keeping = True
            self._keep_unwritten()
            log.error(
                "%s stayed locked by another writer after the stop; %s not written yet are kept in %s and"
                " written by the next run into this SOLFLOW_OUT (-r or SOLFLOW_APPEND=on)",
                self._path,
                pending.describe(),
                self._unwritten,
            )
            return
        pending.clear()

    def _keep_unwritten(self) -> None:
        """Pickle every pending row next to the database (replacing an earlier, smaller copy)."""
        part = self._unwritten.with_name(self._unwritten.name + ".tmp")
        with open(part, "wb") as file:
            pickle.dump(self._pending, file, protocol=pickle.HIGHEST_PROTOCOL)
            file.flush()
            os.fsync(file.fileno())
        os.replace(part, self._unwritten)

    def _write_unwritten(self) -> None:
        """Commit the rows an earlier run kept aside because the database stayed locked at its stop."""
        if not self._unwritten.is_file():
            return
        with open(self._unwritten, "rb") as file:
            kept: PendingWrites = pickle.load(file)

        def write() -> None:
            with _transaction(self._db):
                kept.write(self._db)

        self._while_locked(write)
        self._unwritten.unlink()
        log.warning("%s: wrote %s an earlier run had kept in %s", self._path, kept.describe(), self._unwritten)

    def _while_locked(self, action: Callable[[], object], until_stop: bool = False) -> None:
        """Run ``action``, retrying with backoff for as long as another process holds the write lock
        (a long analysis write, a backup): the dataflow waits, nothing is lost, a warning says why.
        ``until_stop``: give up (raise) ``LOCKED_AT_STOP_S`` after a stop was requested."""
        for attempt in Retrying(
            retry=retry_if_exception(_is_locked),
            wait=wait_exponential(multiplier=0.1, max=LOCK_RETRY_MAX_S),
            stop=_stopped_long_enough if until_stop else _never,
            before_sleep=self._warn_locked,
            reraise=True,
        ):
            with attempt:
                action()

    def _warn_locked(self, state: RetryCallState) -> None:
        log.warning(
            "%s is locked by another writer; waiting (%.0f s so far), the rows are written once it is free",
            self._path,
            state.seconds_since_start or 0.0,
        )


def _stopped_long_enough(state: RetryCallState) -> bool:
    since = run_control.seconds_since_stop()
    return since is not None and since >= LOCKED_AT_STOP_S


def _never(state: RetryCallState) -> bool:
    return False


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


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


class TableShape(NamedTuple):
    """A table as this sink creates it, for writers of the same tables elsewhere (``sinks.postgres``)."""

    columns: list[tuple[str, str, bool, bool, str | None]]  # name, declared type, NOT NULL, PRIMARY KEY, default
    indexes: list[str]  # the CREATE [UNIQUE] INDEX statements
    autoincrement: bool  # its INTEGER PRIMARY KEY numbers new rows


def table_shapes(windows: Iterable[int] = DEFAULT_WINDOWS) -> dict[str, TableShape]:
    """Every table of a database this sink creates (``schema_version`` aside), in creation order."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        _migrate(db, tuple(sorted(set(windows))))
        shapes = {}
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid"):
            if name in ("schema_version", "sqlite_sequence"):
                continue
            columns = [(r[1], r[2], bool(r[3]), bool(r[5]), r[4]) for r in db.execute(f"PRAGMA table_info({name})")]
            indexes = [
                row[0]
                for row in db.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY rowid",
                    (name,),
                )
            ]
            shapes[name] = TableShape(columns, indexes, "AUTOINCREMENT" in sql.upper())
        return shapes
    finally:
        db.close()


def table_columns(windows: Iterable[int] = DEFAULT_WINDOWS) -> dict[str, list[tuple[str, str]]]:
    """Each table's ``(column, declared type)`` in a database this sink creates (for the data dictionary)."""
    return {table: [(c[0], c[1]) for c in shape.columns] for table, shape in table_shapes(windows).items()}


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
    db.create_function("scaled", 2, _scaled, deterministic=True)
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


def _scaled(raw: int | str | None, decimals: int | None) -> float | None:
    """A stored raw amount (TEXT above 2**63 - 1) in its mint's units, as ``TradeEvent`` computes it."""
    return None if raw is None or decimals is None else int(raw) / 10**decimals


# ---------------------------------------------------------------- trades

_TRADE_UPSERT = (
    f"INSERT INTO trades ({', '.join(_TRADE_NAMES)}) VALUES ({', '.join('?' * len(_TRADE_NAMES))})"
    " ON CONFLICT(signature, outer_ix_index, coalesce(inner_ix_index, -1)) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in _TRADE_NAMES if f not in ("signature", "outer_ix_index"))
)
_trade_row = attrgetter(*_TRADE_NAMES)  # fields and the decimal-adjusted amount properties


def _write_trades(db: Executor, rows: list[tuple[Any, ...]]) -> None:
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
    """Current-state rows (``RowBlock``s) waiting for ``token_aggregates``.

    The table keeps one row per mint, so only each mint's newest row is kept (the last of equals,
    as sequential upserts would leave it), with the earliest ``first_ts`` of its rows -- the start
    of the mint's first window run in the batch -- should this upsert insert the mint (later runs
    keep the first one).
    """

    def __init__(self, windows: tuple[int, ...]):
        self._windows = windows
        self._names = [name for name, _ in aggregate_columns(windows)]
        columns = [*self._names, "first_ts"]
        updated = [c for c in self._names if c != "mint"]
        self._sql = (
            f"INSERT INTO token_aggregates ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            " ON CONFLICT(mint) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in updated)
            + " WHERE excluded.ts >= token_aggregates.ts"
        )
        self._blocks: list[RowBlock] = []

    def check(self, blocks: list[Any]) -> None:
        for block in blocks:
            if type(block) is not RowBlock:
                raise RowShapeError(f"aggregate rows come as RowBlock batches, got {type(block).__name__}")
            if not block.fits(self._windows):
                raise RowShapeError(f"aggregate rows were computed for other windows than {self._windows}")

    @property
    def rows(self) -> int:
        return sum(len(block) for block in self._blocks)

    def add(self, blocks: list[RowBlock]) -> None:
        """Keep checked rows."""
        self._blocks += blocks

    def write(self, db: Executor) -> None:
        if not self._blocks:
            return
        block = RowBlock.concat(self._blocks)
        self._blocks = [block]  # kept until the commit succeeded (a retry writes it again)
        ts, first = block.ts.tolist(), block.first_ts.tolist()
        newest: dict[str, int] = {}
        first_ts: dict[str, int] = {}
        for row, mint in enumerate(block.mints):
            seen = newest.get(mint)
            if seen is None or ts[row] >= ts[seen]:
                newest[mint] = row
            first_ts[mint] = min(first_ts.get(mint, first[row]), first[row])
        rows = block.take(list(newest.values()))
        columns = rows.columns(self._windows)
        lists = [_as_list(columns[name]) for name in self._names]
        lists.append([first_ts[mint] for mint in rows.mints])
        db.executemany(self._sql, zip(*lists))

    def clear(self) -> None:
        self._blocks = []


def _as_list(column: tuple[Any, Any]) -> list[Any]:
    values, nulls = column
    as_list = values if isinstance(values, list) else values.tolist()
    if nulls is None:
        return as_list
    return [None if null else value for value, null in zip(as_list, nulls.tolist())]


# ---------------------------------------------------------------- signals, gaps, stats

_SIGNAL_NAMES = tuple(name for name, _ in SIGNAL_COLUMNS)
_SIGNAL_INSERT = (
    f"INSERT INTO token_signals ({', '.join(_SIGNAL_NAMES)}) VALUES ({', '.join('?' * len(_SIGNAL_NAMES))})"
    " ON CONFLICT(mint, signal_type, ts, state) DO NOTHING"
)
_SIGNAL_KEYS = frozenset(_SIGNAL_NAMES)
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _signal_params(s: Mapping[str, Any]) -> tuple[Any, ...]:
    check_row_keys(s, _SIGNAL_KEYS, "signal")
    return tuple(_encode(s[name]) if name == "details" else s[name] for name in _SIGNAL_NAMES)


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

_KINDS = frozenset(("trade", "current", "signal", "gap", "stats")) | token_tables.TOKEN_KINDS


class PendingWrites:
    """Items accepted since the last commit, already in the shape of their statements; ``write``
    runs them on any connection with SQLite's ``executemany`` and ``?`` placeholders."""

    def __init__(self, windows: tuple[int, ...], retention_s: int | None = None):
        self._count = 0
        self._first_at = 0.0  # when the oldest pending item arrived
        self._trades: list[tuple[Any, ...]] = []
        self._aggregates = _AggregateRows(windows)
        self._signals: list[tuple[Any, ...]] = []
        self._gaps: list[Gap] = []
        self._stats: dict[str, Any] = {}  # flattened name -> latest value
        self._token_rows = token_tables.TokenRows()
        self._retention = token_tables.Retention(max(windows), retention_s)

    @property
    def items(self) -> int:
        """Rows waiting, counting a due prune as one (so a commit runs it)."""
        return self._count + int(self._retention.due)

    def add(self, values: list[Item]) -> None:
        """Take one batch: every item is checked and converted before any is kept, so a bad item
        rejects its whole batch and nothing of it is written."""
        grouped: dict[str, list[Any]] = {}
        for kind, payload in values:
            grouped.setdefault(kind, []).append(payload)
        unknown = grouped.keys() - _KINDS
        if unknown:
            raise ValueError(f"the table sink got item kind(s) {sorted(unknown)}; expected {sorted(_KINDS)}")
        if not self._count:
            self._first_at = monotonic()
        trades = [_trade_row(t) for t in grouped.get("trade", ())]
        signals = [_signal_params(s) for s in grouped.get("signal", ())]
        aggregates = grouped.get("current", [])
        self._aggregates.check(aggregates)
        token_items = self._token_rows.add(grouped)
        self._aggregates.add(aggregates)
        self._trades += trades
        self._signals += signals
        self._gaps += grouped.get("gap", ())
        for counters in grouped.get("stats", ()):
            _flatten("", counters, self._stats)
        self._count += sum(len(v) for k, v in grouped.items() if k not in ("current", *token_tables.TOKEN_KINDS))
        self._count += sum(map(len, aggregates)) + token_items
        times = [
            *(int(block.ts.max()) for block in aggregates if len(block)),
            *(s["ts"] for s in grouped.get("signal", ())),
            *(t.block_time for t in grouped.get("trade", ()) if t.block_time is not None),
        ]
        tokens_latest = self._token_rows.latest_time()
        if tokens_latest is not None:
            times.append(tokens_latest)
        if times:
            self._retention.seen(max(times))

    def finish(self) -> None:
        """The writer closes: the next commit prunes whatever the retention says (the last time written
        decides, so the tables a run leaves depend only on its data)."""
        self._retention.final()

    def due(self) -> bool:
        """A commit is due: ``FLUSH_ITEMS`` are pending, or the oldest waited ``FLUSH_INTERVAL_S``."""
        count = self._count
        return count >= FLUSH_ITEMS or (count > 0 and monotonic() - self._first_at >= FLUSH_INTERVAL_S)

    def write(self, db: Executor) -> None:
        """Execute everything pending (inside the caller's transaction); ``clear`` once it committed."""
        if self._trades:
            _write_trades(db, self._trades)
        self._aggregates.write(db)
        if self._signals:
            db.executemany(_SIGNAL_INSERT, self._signals)
        if self._gaps:
            db.executemany(_GAP_INSERT, self._gaps)  # a Gap is a tuple in column order
        if self._stats:
            db.executemany(_STATS_UPSERT, self._stats.items())
        self._token_rows.write(db)
        self._retention.prune(db)

    def describe(self) -> str:
        """The pending rows per table, for a message: ``"1200 rows (trades 1150, token_aggregates 40, ...)"``."""
        tokens = self._token_rows
        counts = {
            "trades": len(self._trades),
            "token_aggregates": self._aggregates.rows,
            "token_signals": len(self._signals),
            "gaps": len(self._gaps),
            "run_stats": len(self._stats),
            "token tables": len(tokens.tokens) + len(tokens.dca) + (len(tokens.scoring.rows) if tokens.scoring else 0),
        }
        shown = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
        return f"{sum(counts.values())} rows ({shown or 'none'})"

    def clear(self) -> None:
        """The pending rows (and a due prune) committed."""
        self._aggregates.clear()
        self._token_rows.clear()
        self._retention.done()
        self._trades, self._signals, self._gaps, self._stats = [], [], [], {}
        self._count = 0
