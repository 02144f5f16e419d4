"""The token tables of ``solflow.db`` and its retention, for ``sinks.sqlite``.

============ =============== ==================================================================
kind         payload         table and write
============ =============== ==================================================================
``token``    row dict        ``token_metadata`` (``sinks.schema.TOKEN_COLUMNS``): one row per mint,
                             merged: a known value is never replaced by null, ``first_seen_ts``
                             keeps the earliest, a row older (``ts``) than the stored one changes
                             nothing
``dca``      row dict        ``dca_activity_buckets`` (``DCA_BUCKET_COLUMNS``): one row per (mint,
                             minute); a minute's counts only grow, so any order of arrival ends the same
``scores``   ``Scoring``     ``token_signal_summary`` (``SUMMARY_COLUMNS``): the latest scoring
                             replaces the table's rows (at most 100, the current candidates)
============ =============== ==================================================================

Every statement is an ``executemany``, so the Postgres sink runs them as they are. Retention, on event
time (``SOLFLOW_RETENTION``, 7 days by default; ``off`` keeps everything):
``token_aggregates`` holds the active mints -- a mint without a trade in the longest window before
the table's latest tick is deleted --, and the rows of ``trades``, ``token_signals`` and ``dca_activity_buckets`` older than
the retention before the latest time written go, and so does ``token_metadata`` of mints no longer in ``token_aggregates`` and
unchanged for as long. Pruning runs every ``PRUNE_EVERY_S`` of event time and at close, so the
tables a run leaves depend only on its data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from sinks.schema import DCA_BUCKET_COLUMNS, PRICE_COLUMNS, SUMMARY_COLUMNS, TOKEN_COLUMNS, check_row_keys
from solflow.domain.programs import PROGRAM_NAMES
from solflow.domain.signals import SIGNAL_TYPES

PRUNE_EVERY_S = 600


class Executor(Protocol):
    """A connection's ``executemany`` (SQLite's, or an adapter: the Postgres sink runs these too)."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> object: ...


_I64_MAX = 2**63 - 1

MIGRATION = (
    4,
    "token_metadata, dca_activity_buckets, token_signal_summary; price columns of token_aggregates",
    (
        *(
            f"ALTER TABLE token_aggregates ADD COLUMN {name} {'TEXT' if kind == 'str' else 'REAL'}"
            for name, kind in PRICE_COLUMNS
        ),
        """CREATE TABLE token_metadata (
            mint TEXT PRIMARY KEY,
            token_name TEXT,
            token_symbol TEXT,
            token_uri TEXT,
            token_decimals INTEGER,
            supply_raw,                 -- u64: INTEGER, or exact decimal TEXT above 2**63-1
            creator TEXT,
            launch_program TEXT,
            curve TEXT,
            quote_mint TEXT,
            created_slot INTEGER,
            created_ts INTEGER,
            graduated INTEGER,
            migrated_slot INTEGER,
            migrated_ts INTEGER,
            amm_pool TEXT,
            first_seen_ts INTEGER,
            rpc_slot INTEGER,
            ts INTEGER NOT NULL
        )""",
        "CREATE INDEX token_metadata_ts ON token_metadata(ts)",
        "CREATE INDEX token_metadata_created ON token_metadata(created_ts)",
        """CREATE TABLE dca_activity_buckets (
            mint TEXT NOT NULL,
            minute INTEGER NOT NULL,
            dca_buys INTEGER NOT NULL,
            dca_buy_volume_sol REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX dca_activity_buckets_identity ON dca_activity_buckets(mint, minute)",
        "CREATE INDEX dca_activity_buckets_minute ON dca_activity_buckets(minute)",
        """CREATE TABLE token_signal_summary (
            mint TEXT PRIMARY KEY,
            persistence_score INTEGER NOT NULL,
            pattern_tag TEXT NOT NULL,
            confidence TEXT NOT NULL,
            appearance_24h INTEGER NOT NULL,
            appearance_72h INTEGER NOT NULL,
            ts INTEGER NOT NULL
        )""",
        "CREATE INDEX token_signal_summary_score ON token_signal_summary(persistence_score DESC)",
        "CREATE INDEX token_signal_summary_pattern ON token_signal_summary(pattern_tag)",
    ),
)


class Scoring(NamedTuple):
    """One run of the persistence scorer: its time and every row (``SUMMARY_COLUMNS`` keys)."""

    ts: int
    rows: tuple[dict[str, Any], ...]


_TOKEN_NAMES = tuple(name for name, _ in TOKEN_COLUMNS)
_TOKEN_KEYS = frozenset(_TOKEN_NAMES)
_MERGED = {  # the earliest first sighting (in SQL both SQLite and Postgres read)
    "first_seen_ts": "CASE WHEN excluded.first_seen_ts IS NULL OR token_metadata.first_seen_ts"
    " < excluded.first_seen_ts THEN token_metadata.first_seen_ts ELSE excluded.first_seen_ts END",
    "ts": "excluded.ts",
}
_TOKEN_UPSERT = (
    f"INSERT INTO token_metadata ({', '.join(_TOKEN_NAMES)}) VALUES ({', '.join('?' * len(_TOKEN_NAMES))})"
    " ON CONFLICT(mint) DO UPDATE SET "
    + ", ".join(
        f"{name} = {_MERGED.get(name, f'coalesce(excluded.{name}, token_metadata.{name})')}"
        for name in _TOKEN_NAMES
        if name != "mint"
    )
    + " WHERE excluded.ts >= token_metadata.ts"
)
_DCA_NAMES = tuple(name for name, _ in DCA_BUCKET_COLUMNS)
_DCA_KEYS = frozenset(_DCA_NAMES)
_DCA_UPSERT = (
    f"INSERT INTO dca_activity_buckets ({', '.join(_DCA_NAMES)}) VALUES ({', '.join('?' * len(_DCA_NAMES))})"
    " ON CONFLICT(mint, minute) DO UPDATE SET dca_buys = excluded.dca_buys,"
    " dca_buy_volume_sol = excluded.dca_buy_volume_sol WHERE excluded.dca_buys >= dca_activity_buckets.dca_buys"
)
_SUMMARY_NAMES = tuple(name for name, _ in SUMMARY_COLUMNS)
_SUMMARY_KEYS = frozenset(_SUMMARY_NAMES)
_SUMMARY_UPSERT = (  # unless a later scoring is stored already (then this one is late: it changes nothing)
    f"INSERT INTO token_signal_summary ({', '.join(_SUMMARY_NAMES)}) SELECT {', '.join('?' * len(_SUMMARY_NAMES))}"
    " WHERE NOT EXISTS (SELECT 1 FROM token_signal_summary WHERE ts > ?)"
    " ON CONFLICT(mint) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _SUMMARY_NAMES if name != "mint")
    + " WHERE excluded.ts >= token_signal_summary.ts"
)
TOKEN_KINDS = frozenset(("token", "dca", "scores"))


class TokenRows:
    """``token``, ``dca`` and ``scores`` items accepted since the last commit."""

    def __init__(self) -> None:
        self.tokens: list[tuple[Any, ...]] = []
        self.dca: list[tuple[Any, ...]] = []
        self.scoring: Scoring | None = None

    def add(self, grouped: Mapping[str, list[Any]]) -> int:
        """Check and keep a batch's items (all or none); how many there were, and the latest event time."""
        tokens = [_token_params(row) for row in grouped.get("token", ())]
        dca = [_params(row, _DCA_KEYS, _DCA_NAMES, "dca_activity_buckets") for row in grouped.get("dca", ())]
        scorings = grouped.get("scores", [])
        for scoring in scorings:
            if type(scoring) is not Scoring:
                raise TypeError(f"scores come as Scoring, got {type(scoring).__name__}")
            for row in scoring.rows:
                check_row_keys(row, _SUMMARY_KEYS, "token_signal_summary")
        self.tokens += tokens
        self.dca += dca
        for scoring in scorings:
            if self.scoring is None or scoring.ts >= self.scoring.ts:
                self.scoring = scoring
        return len(tokens) + len(dca) + len(scorings)

    def write(self, db: Executor) -> None:
        if self.tokens:
            db.executemany(_TOKEN_UPSERT, self.tokens)
        if self.dca:
            db.executemany(_DCA_UPSERT, self.dca)
        scoring = self.scoring
        if scoring is not None:
            # the rows of earlier scorings go; this one's are upserted (a late older one changes nothing)
            db.executemany("DELETE FROM token_signal_summary WHERE ts < ?", [(scoring.ts,)])
            db.executemany(
                _SUMMARY_UPSERT, [(*(row[name] for name in _SUMMARY_NAMES), scoring.ts) for row in scoring.rows]
            )

    def clear(self) -> None:
        self.tokens, self.dca, self.scoring = [], [], None

    def latest_time(self) -> int | None:
        times = [row[-1] for row in self.tokens] + [row[1] for row in self.dca]
        if self.scoring is not None:
            times.append(self.scoring.ts)
        return max(times) if times else None


class Retention:
    """When to prune, and the prune itself (``write`` runs it in the commit's transaction): every
    ``PRUNE_EVERY_S`` of event time, and once more when the writer closes."""

    def __init__(self, longest_window: int, retention_s: int | None):
        self._longest_window = longest_window
        self._retention_s = retention_s
        self._latest: int | None = None  # the latest event time written
        self._pruned_at: int | None = None
        self.due = False

    def seen(self, time: int) -> None:
        if self._retention_s is None or (self._latest is not None and time <= self._latest):
            return
        self._latest = time
        if self._pruned_at is None or time >= self._pruned_at + PRUNE_EVERY_S:
            self.due = True

    def final(self) -> None:
        self.due = self._retention_s is not None and self._latest is not None

    def prune(self, db: Executor) -> None:
        """Delete what retention and the active-mints bound say; ``SOLFLOW_RETENTION=off`` keeps everything."""
        if not self.due or self._retention_s is None or self._latest is None:
            return
        db.executemany(  # active mints: a trade in the longest window before the aggregation's latest tick
            "DELETE FROM token_aggregates WHERE last_trade_ts <= (SELECT max(ts) FROM token_aggregates) - ?",
            [(self._longest_window,)],
        )
        cutoff = self._latest - self._retention_s
        # one index range per program / signal type (trades_program_time, token_signals_type)
        db.executemany("DELETE FROM trades WHERE program = ? AND block_time < ?", [(p, cutoff) for p in PROGRAM_NAMES])
        db.executemany(
            "DELETE FROM token_signals WHERE signal_type = ? AND ts < ?", [(t, cutoff) for t in SIGNAL_TYPES]
        )
        db.executemany("DELETE FROM dca_activity_buckets WHERE minute < ?", [(cutoff,)])
        db.executemany(
            "DELETE FROM token_metadata WHERE ts < ? AND mint NOT IN (SELECT mint FROM token_aggregates)", [(cutoff,)]
        )

    def done(self) -> None:
        """The commit that ran a due prune succeeded."""
        if self.due:
            self.due = False
            self._pruned_at = self._latest


def _token_params(row: Mapping[str, Any]) -> tuple[Any, ...]:
    values = list(_params(row, _TOKEN_KEYS, _TOKEN_NAMES, "token_metadata"))
    supply_at = _TOKEN_NAMES.index("supply_raw")
    if values[supply_at] is not None and values[supply_at] > _I64_MAX:
        values[supply_at] = str(values[supply_at])
    return tuple(values)


def _params(row: Mapping[str, Any], keys: frozenset[str], names: tuple[str, ...], what: str) -> tuple[Any, ...]:
    check_row_keys(row, keys, what)
    return tuple(row[name] for name in names)
