"""The user's control store ``<out>/control.db``: blocked and followed mints.

The CLI (``solflow block|unblock|blocklist|follow|unfollow|followed``) and the dashboard write it
through ``ControlStore``; the flow and the dashboard read it through ``ControlReader``. It is a file
of its own so that ``solflow.db`` keeps a single writer, the flow.

Time is chain time. A block made now starts at the pipeline's current chain time -- the latest event
time in ``solflow.db`` (``pipeline_clock``) -- and ``--for 24h`` ends it 24 h of chain time later,
so a replay expires it when the replayed events get there, not when the wall clock does. Only when
``solflow.db`` holds no event yet is the start taken from the wall clock, and the row says so
(``clock = 'wall'``). A block covers every event time before its expiry (``Block.active_at``),
including older data replayed later: a blocked mint stays out of sight until the block expires or
is lifted.

Reading is cheap: ``ControlReader.refresh()`` costs a ``stat`` and one ``PRAGMA data_version`` when
nothing changed and reloads the two small tables only after another connection committed. Its
``blocklist`` and ``followed`` are immutable snapshots, safe to keep and share between refreshes.
This module imports no Bytewax.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from solders.pubkey import Pubkey

from solflow.domain.programs import PROGRAM_NAMES

__all__ = [
    "CONTROL_DB",
    "Block",
    "Blocklist",
    "Clock",
    "ControlError",
    "ControlReader",
    "ControlStore",
    "Follow",
    "check_mint",
    "latest_event_time",
    "parse_duration",
    "pipeline_clock",
]

CONTROL_DB = "control.db"
ClockSource = Literal["chain", "wall"]

SCHEMA_VERSION = 1  # PRAGMA user_version of a store this module wrote
_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS mint_blocklist (
    mint TEXT PRIMARY KEY,
    reason TEXT,
    blocked_by TEXT NOT NULL,    -- 'cli' or 'dashboard'
    created_at INTEGER NOT NULL, -- chain time the block was made (unix s)
    expires_at INTEGER,          -- chain time it ends; NULL: until unblocked
    clock TEXT NOT NULL CHECK (clock IN ('chain', 'wall'))  -- where created_at came from
);
CREATE INDEX IF NOT EXISTS mint_blocklist_created ON mint_blocklist(created_at);
CREATE TABLE IF NOT EXISTS followed_mints (
    mint TEXT PRIMARY KEY,
    followed_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    clock TEXT NOT NULL CHECK (clock IN ('chain', 'wall'))
);
PRAGMA user_version = 1;
COMMIT;
"""
_BLOCK_COLUMNS = "mint, reason, blocked_by, created_at, expires_at, clock"
_FOLLOW_COLUMNS = "mint, followed_by, created_at, clock"

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class ControlError(ValueError):
    """A control store or request is unusable; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Clock:
    """A moment to stamp a block or follow with: chain time, or the wall clock when there is no data yet."""

    time: int
    source: ClockSource


@dataclass(frozen=True, slots=True)
class Block:
    mint: str
    reason: str | None
    blocked_by: str
    created_at: int
    expires_at: int | None
    clock: ClockSource

    def active_at(self, event_time: int) -> bool:
        """Whether the block covers ``event_time`` (every time before its expiry)."""
        return self.expires_at is None or event_time < self.expires_at

    def as_json(self) -> dict[str, object]:
        return {
            "mint": self.mint,
            "reason": self.reason,
            "blocked_by": self.blocked_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "clock": self.clock,
        }


@dataclass(frozen=True, slots=True)
class Follow:
    mint: str
    followed_by: str
    created_at: int
    clock: ClockSource

    def as_json(self) -> dict[str, object]:
        return {"mint": self.mint, "followed_by": self.followed_by, "created_at": self.created_at, "clock": self.clock}


@dataclass(frozen=True, slots=True)
class Blocklist:
    """Every block in the store, by mint (active or expired)."""

    blocks: Mapping[str, Block] = field(default_factory=dict)

    def blocked_at(self, mint: str, event_time: int) -> bool:
        """Whether ``mint`` is blocked at ``event_time``: one dict lookup, for the flow's hot path."""
        block = self.blocks.get(mint)
        return block is not None and block.active_at(event_time)

    def active_at(self, event_time: int) -> frozenset[str]:
        """The mints blocked at ``event_time``."""
        return frozenset(mint for mint, block in self.blocks.items() if block.active_at(event_time))


def check_mint(text: str) -> str:
    """``text`` stripped, if it is a base58 public key; else ``ControlError``."""
    mint = text.strip()
    try:
        Pubkey.from_string(mint)
    except ValueError:
        raise ControlError(f"{text!r} is not a mint address (base58, 32 bytes)") from None
    return mint


def parse_duration(text: str) -> int:
    """Seconds in ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` or a sum such as ``1h30m``.

    >>> parse_duration("1h30m")
    5400
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ControlError(f"bad duration {text!r}: expected a number and a unit, such as 30m, 24h, 7d or 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ControlError(f"bad duration {text!r}: must be longer than zero")
    return seconds


def latest_event_time(db: sqlite3.Connection) -> int | None:
    """The pipeline's chain time in ``solflow.db``: its latest aggregate tick, else its latest trade's
    block time; ``None`` when it holds neither. Both are index look-ups."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "token_aggregates" in tables:
        (tick,) = db.execute("SELECT max(ts) FROM token_aggregates").fetchone()
        if tick is not None:
            return int(tick)
    if "trades" in tables:
        # One indexed max per program (trades_program_time); a bare max(block_time) would scan.
        times = [
            t
            for (t,) in (
                db.execute("SELECT max(block_time) FROM trades WHERE program = ?", (p,)).fetchone()
                for p in PROGRAM_NAMES
            )
            if t is not None
        ]
        if times:
            return int(max(times))
    return None


def pipeline_clock(pipeline_db: Path) -> Clock:
    """Now, for a block or follow: the chain time of ``pipeline_db``, or the wall clock when it has no data."""
    if pipeline_db.is_file():
        db = sqlite3.connect(f"{pipeline_db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            chain = latest_event_time(db)
        except sqlite3.DatabaseError as exc:
            raise ControlError(f"cannot read the chain time from {pipeline_db}: {exc}") from None
        finally:
            db.close()
        if chain is not None:
            return Clock(chain, "chain")
    return Clock(int(time.time()), "wall")


class ControlStore:
    """Read-write access to a control store, created on first use.

    >>> with ControlStore(Path("out/control.db")) as store:  # doctest: +SKIP
    ...     store.block(mint, at=pipeline_clock(Path("out/solflow.db")), duration_s=86_400, reason="rug")
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            _create(self._db)
        except (sqlite3.DatabaseError, ControlError) as exc:
            raise ControlError(f"{self.path} is not a usable control store: {exc}") from None

    def __enter__(self) -> ControlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def block(
        self, mint: str, *, at: Clock, duration_s: int | None = None, reason: str | None = None, blocked_by: str = "cli"
    ) -> Block:
        """Block ``mint`` from ``at`` for ``duration_s`` seconds of chain time (``None``: until unblocked);
        blocking a blocked mint replaces its block."""
        expires_at = None if duration_s is None else at.time + duration_s
        row = self._db.execute(
            f"INSERT OR REPLACE INTO mint_blocklist ({_BLOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            f" RETURNING {_BLOCK_COLUMNS}",
            (check_mint(mint), reason or None, blocked_by, at.time, expires_at, at.source),
        ).fetchone()
        return Block(*row)

    def unblock(self, mint: str) -> Block | None:
        """Lift the block on ``mint``; the block that was lifted, or ``None`` if there was none."""
        row = self._db.execute(
            f"DELETE FROM mint_blocklist WHERE mint = ? RETURNING {_BLOCK_COLUMNS}", (mint.strip(),)
        ).fetchone()
        return None if row is None else Block(*row)

    def follow(self, mint: str, *, at: Clock, followed_by: str = "cli") -> Follow:
        """Follow ``mint`` (pinned first in the live views); following a followed mint keeps its first time."""
        row = self._db.execute(
            f"INSERT INTO followed_mints ({_FOLLOW_COLUMNS}) VALUES (?, ?, ?, ?)"
            f" ON CONFLICT(mint) DO UPDATE SET mint = mint RETURNING {_FOLLOW_COLUMNS}",
            (check_mint(mint), followed_by, at.time, at.source),
        ).fetchone()
        return Follow(*row)

    def unfollow(self, mint: str) -> Follow | None:
        row = self._db.execute(
            f"DELETE FROM followed_mints WHERE mint = ? RETURNING {_FOLLOW_COLUMNS}", (mint.strip(),)
        ).fetchone()
        return None if row is None else Follow(*row)

    def blocklist(self) -> Blocklist:
        return _load_blocks(self._db)

    def follows(self) -> dict[str, Follow]:
        return _load_follows(self._db)


class ControlReader:
    """A read-only view of a control store that may not exist yet; ``refresh()`` picks up commits.

    >>> reader = ControlReader(Path("out/control.db"))  # doctest: +SKIP
    >>> reader.refresh(); reader.blocklist.blocked_at(mint, event_time)  # doctest: +SKIP
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.blocklist = Blocklist()
        self.followed: Mapping[str, Follow] = {}
        self._db: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._version: int | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Load what other connections committed since the last call; ``True`` if anything changed."""
        with self._lock:
            before = (self.blocklist, self.followed)
            self._refresh()
            return (self.blocklist, self.followed) != before

    def close(self) -> None:
        with self._lock:
            self._close()

    def _refresh(self) -> None:
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            self._close()
            self.blocklist, self.followed = Blocklist(), {}
            return
        try:
            if self._db is None or inode != self._inode:  # created, or replaced by another file
                self._close()
                self._db = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10,
                    check_same_thread=False,
                )  # fmt: skip
                self._inode = inode
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            if version == self._version:
                return
            tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if {"mint_blocklist", "followed_mints"} <= tables:
                self.blocklist, self.followed = _load_blocks(self._db), _load_follows(self._db)
            else:  # a store being created: its first commit brings the tables
                self.blocklist, self.followed = Blocklist(), {}
            self._version = version
        except sqlite3.DatabaseError as exc:
            self._close()
            raise ControlError(f"cannot read the control store {self.path}: {exc}") from None

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db, self._inode, self._version = None, None, None


def _create(db: sqlite3.Connection) -> None:
    """Create the tables (each write is then one statement: SQLite makes it atomic)."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise ControlError(f"it was written by a newer SolFlow (schema {version}; this one knows {SCHEMA_VERSION})")
    if version < SCHEMA_VERSION:
        db.executescript(_SCHEMA)


def _load_blocks(db: sqlite3.Connection) -> Blocklist:
    rows = db.execute(
        "SELECT mint, reason, blocked_by, created_at, expires_at, clock FROM mint_blocklist ORDER BY mint"
    )
    return Blocklist({row[0]: Block(*row) for row in rows})


def _load_follows(db: sqlite3.Connection) -> dict[str, Follow]:
    rows = db.execute(f"SELECT {_FOLLOW_COLUMNS} FROM followed_mints ORDER BY mint")
    return {row[0]: Follow(*row) for row in rows}
