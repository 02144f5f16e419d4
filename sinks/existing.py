"""What an output directory already holds: an earlier run's outputs, the last slot they reached (or,
after a stop, where each partition continues), the windows of their aggregates. Read before a run
starts (``flows.solflow``), to refuse a run that would duplicate rows or change the aggregates'
columns, and to start an appending run where the earlier one left off.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from sinks.parquet_files import DATASETS
from solflow.domain.stream import SlotPosition

__all__ = ["aggregate_windows", "earlier_outputs", "last_slot", "stopped_positions"]

DB_NAME = "solflow.db"
_WINDOW_COLUMN = re.compile(r"^net_flow_(\d+)s_sol$")
_TAIL_BYTES = 64 * 1024  # a JSONL line is far shorter


def earlier_outputs(out: Path) -> list[str]:
    """The outputs of an earlier run under ``out`` (empty: none), as paths relative to it."""
    found = []
    for dataset in DATASETS:
        if next((out / dataset).glob("date=*/*.parquet"), None) is not None:
            found.append(f"{dataset}/")
    found += [str(path.relative_to(out)) for path in sorted(out.glob("streams/*/events.jsonl")) if path.stat().st_size]
    db = out / DB_NAME
    if db.is_file() and _rows(db, _DB_HOLDS_A_RUN):
        found.append(DB_NAME)
    return found


# A database counts once a run read something into it: a run that read nothing (a refused token, an
# unreachable endpoint, an empty capture) wrote nothing a second run could duplicate.
_DB_HOLDS_A_RUN = """SELECT (SELECT count(*) FROM trades) + (SELECT count(*) FROM gaps)
    + coalesce((SELECT value FROM run_stats WHERE name = 'transactions'), 0)"""


def aggregate_windows(out: Path) -> tuple[int, ...] | None:
    """The windows the Parquet aggregates under ``out`` were computed with (None: no aggregates)."""
    first = next((out / "aggregates").glob("date=*/*.parquet"), None)
    if first is None:
        return None
    names = pq.read_schema(first).names
    return tuple(sorted(int(match[1]) for match in map(_WINDOW_COLUMN.match, names) if match))


def last_slot(out: Path) -> int | None:
    """The newest slot of any trade the outputs under ``out`` hold (None: no trade)."""
    slots = [_parquet_last_slot(out / "trades"), _jsonl_last_slot(out)]
    db = out / DB_NAME
    if db.is_file():
        slots.append(_rows(db, "SELECT max(slot) FROM trades"))
    known = [slot for slot in slots if slot is not None]
    return max(known) if known else None


def stopped_positions(out: Path) -> dict[str, SlotPosition] | None:
    """Where each partition of a stopped run into ``out`` continues, from its ``run_stats``
    ``continue_at`` (``flows.run_stats``): ``(last slot written in full, later slots written)``; a
    partition that wrote nothing is left out. None: the last run was not stopped (or is not known)."""
    db = out / DB_NAME
    if not db.is_file():
        return None
    connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        stats = dict(connection.execute("SELECT name, value FROM run_stats WHERE name IN ('end', 'continue_at')"))
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    if stats.get("end") != "stopped" or not stats.get("continue_at"):
        return None
    return {
        partition: (where["slot"] - 1, tuple(where["written"]))
        for partition, where in json.loads(stats["continue_at"]).items()
        if where is not None
    }


def _parquet_last_slot(directory: Path) -> int | None:
    highest = None
    for path in directory.glob("date=*/*.parquet"):
        metadata = pq.read_metadata(path)
        index = metadata.schema.to_arrow_schema().get_field_index("slot")
        for group in range(metadata.num_row_groups):
            statistics = metadata.row_group(group).column(index).statistics
            if statistics is not None and statistics.has_min_max:
                highest = statistics.max if highest is None else max(highest, statistics.max)
    return highest


def _jsonl_last_slot(out: Path) -> int | None:
    """The slot of the last line of each program's current file (lines are written in chain order)."""
    highest = None
    for path in out.glob("streams/*/events.jsonl"):
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - _TAIL_BYTES))
            lines = file.read().splitlines()
        if lines and lines[-1].strip():
            slot = json.loads(lines[-1])["slot"]
            highest = slot if highest is None else max(highest, slot)
    return highest


def _rows(db: Path, query: str) -> int | None:
    connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        value = connection.execute(query).fetchone()[0]
    except sqlite3.Error:  # not a database of ours, or no such table yet
        return None
    finally:
        connection.close()
    return None if value is None else int(value)
