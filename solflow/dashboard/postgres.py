"""The live views on Postgres (``solflow dashboard --db postgresql://…``): a local SQLite copy, kept current.

The dashboard reads SolFlow's SQLite schema and notices commits by SQLite's ``data_version``. For a
cluster writing Postgres (``sinks.postgres``, the same tables), ``PostgresMirror`` copies the tables
into a SQLite file of that schema and keeps it current from a background thread: every
``POLL_S`` it asks whether a writer committed (the ``solflow_progress`` rows), and if so copies the
rows changed since the last copy -- those whose ``xmin`` (the transaction that wrote them) is newer
than the newest it has seen; the single Postgres writer commits its transactions one after the
other, so none is skipped -- in one SQLite transaction. The views then read the copy exactly as they
read a flow's own ``solflow.db``, commits and all. Nothing is written to Postgres.

The first copy takes every row (the ``trades`` table too, where the cluster keeps one); later ones
only what changed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from sinks.postgres import PROGRESS_TABLE, shown_uri
from sinks.sqlite import SqliteSink, table_shapes

__all__ = ["POLL_S", "PostgresMirror"]

POLL_S = 0.5
_log = logging.getLogger(__name__)
_WINDOW = re.compile(r"^net_flow_(\d+)s_sol$")
_I64_MAX = 2**63 - 1


class PostgresMirror:
    """A SQLite copy at ``path`` of the SolFlow tables in the Postgres database at ``uri``.

    >>> mirror = PostgresMirror("postgresql://solflow@db/solflow", Path("out/postgres-copy.db"))  # doctest: +SKIP
    >>> mirror.start()  # copies now, then follows every commit until close()  # doctest: +SKIP
    """

    def __init__(self, uri: str, path: Path):
        self.uri = uri
        self.path = Path(path)
        self.problem: str | None = None
        self._seen: dict[str, int] = {}  # table -> newest xmin copied
        self._commits: int | None = None
        self._db: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="postgres-mirror", daemon=True)

    @property
    def shown(self) -> str:
        """The URI without its password."""
        return shown_uri(self.uri)

    def start(self) -> None:
        """Copy afresh (a copy left by an earlier run may be of another database), then follow."""
        for stale in (
            self.path,
            self.path.with_name(self.path.name + "-wal"),
            self.path.with_name(self.path.name + "-shm"),
        ):
            stale.unlink(missing_ok=True)
        self.refresh()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._db is not None:
            self._db.close()

    def refresh(self) -> bool:
        """Copy what changed since the last call; ``True`` when something was copied."""
        try:
            return self._refresh()
        except psycopg.Error as exc:
            self.problem = f"{shown_uri(self.uri)}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
            if self._db is not None:
                self._db.close()
                self._db = None
            return False

    def _follow(self) -> None:
        while not self._stop.wait(POLL_S):
            self.refresh()

    def _refresh(self) -> bool:
        if self._db is None:
            self._db = psycopg.connect(self.uri, autocommit=True, connect_timeout=10)
        pg = self._db
        tables = _columns(pg)
        commits = _commits(pg) if tables.pop(PROGRESS_TABLE, None) is not None else None
        if not tables or "token_aggregates" not in tables or (commits is not None and commits == self._commits):
            self.problem = None if tables else f"{shown_uri(self.uri)} holds no SolFlow tables yet"
            return False
        windows = sorted(int(found[1]) for c in tables["token_aggregates"] if (found := _WINDOW.match(c)))
        if not self.path.exists():
            SqliteSink(self.path, windows).build_part("mirror", "sqlite-1", None).close()  # SolFlow's schema
        copied = 0
        local = sqlite3.connect(self.path, isolation_level=None)
        try:
            local.execute("BEGIN IMMEDIATE")
            for table, shape in table_shapes(windows).items():
                if table not in tables:
                    continue
                names = [c[0] for c in shape.columns if c[0] in tables[table]]
                copied += self._copy(pg, local, table, names)
            local.execute("COMMIT")
        except BaseException:
            local.execute("ROLLBACK")
            raise
        finally:
            local.close()
        self._commits = commits
        self.problem = None
        return copied > 0

    def _copy(self, pg: psycopg.Connection[Any], local: sqlite3.Connection, table: str, names: list[str]) -> int:
        since = self._seen.get(table, 0)
        rows = pg.execute(
            f"SELECT {', '.join(names)}, xmin::text::bigint FROM {table} WHERE xmin::text::bigint > %s", (since,)
        ).fetchall()
        if not rows:
            return 0
        marks = ", ".join("?" * len(names))
        local.executemany(
            f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({marks})",
            ([_as_sqlite(v) for v in row[:-1]] for row in rows),
        )
        self._seen[table] = max(row[-1] for row in rows)
        return len(rows)


def _columns(pg: psycopg.Connection[Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    ).fetchall():
        found.setdefault(table, set()).add(column)
    return found


def _commits(pg: psycopg.Connection[Any]) -> int:
    row = pg.execute(f"SELECT coalesce(sum(commits), 0) FROM {PROGRESS_TABLE}").fetchone()
    return int(row[0]) if row else 0


def _as_sqlite(value: Any) -> Any:
    """A Postgres value as the SQLite sink stores it: exact u64 amounts as integers, or TEXT past 2**63 - 1."""
    if isinstance(value, Decimal):
        whole = int(value)
        return whole if whole <= _I64_MAX else str(whole)
    return value
