"""Notice the flow's commits to ``solflow.db`` and the user's changes to ``control.db``, cheaply.

``PipelineWatcher.poll()`` costs a ``stat`` and one ``PRAGMA data_version`` per database when nothing
happened, so a live view can call it several times a second: ``data_version`` changes exactly when
another connection committed. The database may not exist yet (the view waits for it) or be
replaced by a new run (a new inode: the watcher reopens it).

Status: ``waiting`` until the database holds data, ``live`` while the flow committed within
``STALE_AFTER_S`` seconds, ``stale`` after that. ``lag_s`` is how far the chain time was behind the
wall clock when the latest commit was seen -- a few seconds on a live stream, the data's age on a
replay. Before the first commit it sees, the watcher takes the database files' modification time
as the time of the latest commit.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sinks.sqlite import NotASolflowDatabase, open_db
from solflow.control import CONTROL_DB, ControlError, ControlReader, latest_event_time
from solflow.dashboard.view import SPARK_POINTS, SPARK_STEP_S, Control, FlowHistory

__all__ = ["STALE_AFTER_S", "PipelineWatcher", "Status"]

STALE_AFTER_S = 30.0
_log = logging.getLogger(__name__)
Status = Literal["waiting", "live", "stale"]


class PipelineWatcher:
    """Watches one pipeline database and the control store next to it.

    >>> watcher = PipelineWatcher(Path("out/solflow.db"), out=Path("out"))  # doctest: +SKIP
    >>> while True: watcher.poll() and redraw(); time.sleep(0.25)  # doctest: +SKIP
    """

    def __init__(self, db_path: Path, out: Path | None = None, control_path: Path | None = None):
        self.db_path = Path(db_path)
        self.out = out  # where the Parquet history lives, to seed the sparklines
        self.control = ControlReader(control_path or self.db_path.parent / CONTROL_DB)
        self.history = FlowHistory()
        self.generation = 0  # bumped whenever a poll found something that may change a view
        self.problem: str | None = None  # why the view is waiting, in words
        self._db: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._version: int | None = None
        self._chain_time: int | None = None
        self._last_commit: float | None = None  # wall clock of the latest commit seen
        self._lag_s: float | None = None
        self._status: Status = "waiting"
        self._seeded = False
        self._lock = threading.Lock()

    def poll(self) -> bool:
        """Look once at both databases; ``True`` (and a new ``generation``) when a view may have changed."""
        with self._lock:
            changed = self._poll_pipeline()
            try:
                changed |= self.control.refresh()
            except ControlError as exc:
                _log.warning("%s", exc)
            status = self._current_status()
            if status != self._status:
                self._status, changed = status, True
            if changed:
                self.generation += 1
            return changed

    def read(self, reader: Callable[[sqlite3.Connection | None, Control], dict[str, Any]]) -> dict[str, Any]:
        """``reader(db, control)`` on a new read-only connection of its own (``db`` is ``None``
        while waiting), so views can be read in any thread while ``poll`` goes on."""
        db = None
        if self._status != "waiting":
            try:
                db = open_db(self.db_path)
            except (OSError, NotASolflowDatabase, sqlite3.DatabaseError):
                pass  # replaced or removed since the poll: read as waiting until the next one
        try:
            return reader(db, self.control_state())
        finally:
            if db is not None:
                db.close()

    @property
    def chain_time(self) -> int | None:
        """The pipeline's chain time at the latest poll."""
        return self._chain_time

    def control_state(self) -> Control:
        return Control(self.control.blocklist, self.control.followed)

    def meta(self) -> dict[str, Any]:
        """Status fields every answer carries."""
        last = self._last_commit
        return {
            "status": self._status,
            "problem": self.problem,
            "lag_s": None if self._lag_s is None else round(self._lag_s, 1),
            "last_commit_age_s": None if last is None else round(max(0.0, time.time() - last), 1),
        }

    def close(self) -> None:
        with self._lock:
            self._close()
        self.control.close()

    def _poll_pipeline(self) -> bool:
        try:
            inode = os.stat(self.db_path).st_ino
        except FileNotFoundError:
            was_open = self._db is not None
            self._close()
            self.problem = f"no database at {self.db_path} yet: start the flow"
            return was_open
        try:
            if self._db is None or inode != self._inode:  # a new database: a new history too
                self._close()
                self._db = open_db(self.db_path)
                self._inode = inode
                self._last_commit = _modified(self.db_path)
                self.history, self._seeded = FlowHistory(), False
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            if version == self._version:
                return False
            first = self._version is None
            self._version = version
            self._chain_time = latest_event_time(self._db)
        except (NotASolflowDatabase, sqlite3.DatabaseError) as exc:
            # A database the flow is still creating looks like this for a moment; keep waiting.
            self._close()
            self.problem = str(exc)
            return True
        if not first:
            self._last_commit = time.time()
        if self._chain_time is None:
            self.problem = f"{self.db_path} holds no data yet"
            return True
        self.problem = None
        self._lag_s = (self._last_commit or time.time()) - self._chain_time
        if not self._seeded:
            self._seed_history(self._chain_time)
        self.history.update(self._db, self._chain_time)
        return True

    def _current_status(self) -> Status:
        if self._db is None or self._chain_time is None:
            return "waiting"
        if self._last_commit is None or time.time() - self._last_commit > STALE_AFTER_S:
            return "stale"
        return "live"

    def _seed_history(self, chain_time: int) -> None:
        """The sparklines' past from the Parquet aggregate history, when the outputs have one."""
        self._seeded = True
        if self.out is None or not any((self.out / "aggregates").glob("date=*/*.parquet")):
            return  # no history yet: a flow that has just started
        from solflow.analysis.outputs import AnalysisError, Outputs

        try:
            outputs = Outputs(self.out)
            query = outputs.scan("aggregates", after=chain_time - SPARK_POINTS * SPARK_STEP_S).select(
                "mint", "ts", "net_flow_300s_sol"
            )
            rows = outputs.collect("aggregates", query).rows()
        except AnalysisError as exc:
            _log.warning("sparklines start empty: %s", exc)
            return
        self.history.add(rows)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db, self._inode, self._version, self._chain_time = None, None, None, None


def _modified(db_path: Path) -> float | None:
    """When the database (or its write-ahead log) was last written. An empty log holds no commit: a
    read-only open (this watcher's, or an earlier one's) creates it when the writer has closed."""
    times = []
    for path in (db_path, db_path.with_name(db_path.name + "-wal")):
        try:
            found = path.stat()
        except FileNotFoundError:
            continue
        if found.st_size > 0 or path == db_path:
            times.append(found.st_mtime)
    return max(times) if times else None
