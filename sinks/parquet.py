"""Parquet dataset sink: hive-partitioned ``trades``, ``aggregates`` and ``signals`` datasets, a file per
partition and hour of event time.

Layout::

    <root>/<dataset>/date=YYYY-MM-DD/<partition>-0000000042.parquet

``<partition>`` is ``part-000`` (``aggregates``, ``signals``) or the program (``trades``).

``date`` is the UTC day of the row's event time (``block_time`` for trades, ``ts`` for aggregates and
signals); a trade without a block time goes to ``date=__HIVE_DEFAULT_PARTITION__``, which Polars and
DuckDB read as a null date. The date is only in the path, not in the files. Read a dataset with
``pl.scan_parquet(root / "aggregates", hive_partitioning=True)`` or DuckDB
``read_parquet('<root>/aggregates/**/*.parquet', hive_partitioning=true)``.

Schema (fixed dtypes, see ``sinks.schema`` for the column lists; every column nullable):

* ``trades``: ``TRADE_COLUMNS`` (every ``TradeEvent`` field and the decimal-adjusted amounts); raw
  amounts are UInt64, other integers Int64, decimal-adjusted amounts Float64, ``is_dca`` Boolean,
  the rest String.
* ``aggregates``: ``mint`` String, ``ts`` / ``last_trade_ts`` Datetime, ``programs`` String,
  ``trades_total`` Int64, then per configured window the metrics of ``WINDOW_METRIC_COLUMNS`` (SOL
  amounts Float64, counts Int64). Columns follow the windows: one window configuration per output
  directory. The files record the tick the rows were computed with (``TICK_KEY``).
* ``signals``: ``SIGNAL_COLUMNS``; ``details`` is the details dict as compact JSON text.

Times (``block_time``, ``ts``, ``last_trade_ts``) are ``Datetime(ms, UTC)``: the rows carry unix
seconds, converted as they are written. ``slot`` stays the chain's integer.

A row whose keys (of a row tuple: whose length) differ from the schema raises ``RowShapeError``; a
value of the wrong type fails the batch's conversion, naming the column. Nothing is dropped or
coerced silently.

Files sized for analytics: each partition streams the rows of an hour of event time into one file,
a row group at a time (``row_group_rows``), written under a hidden temporary name and renamed when
the hour is done -- once the partition sees rows two hours later (so rows of the previous hour from
a lagging shard still find their file) -- and at close. A reader sees complete files only; the
current hour appears when it is done (SQLite ``token_aggregates`` has the live state). At mainnet
rates that is one file per partition and hour, a few hundred MiB for the largest trade partitions.
Rows that come for an hour already written make another file, merged with it.

Exactly once under recovery (``recovery=True``, Bytewax ``-r``): a ``FixedPartitionedSink`` whose
snapshot is the next file sequence number. Every snapshot finishes the open files, so everything
before it is in complete files numbered below the snapshot; a resumed partition deletes its files
numbered at or after it (and temporary leftovers), and the replay writes those rows again -- after
``kill -9`` and ``-r`` the dataset holds the same rows as an uninterrupted run, at any ``-w`` and
across processes (a partition's state follows it to whichever worker owns it). The files of an hour
written at each snapshot are merged into one when the hour is done; a merged file remembers which
file each of its row groups came from, so a resume cuts exactly the snapshot's later rows out of it
(``sinks.parquet_files``). Without recovery the sink does nothing at snapshots. Items are
``(key, value)``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from sinks.parquet_files import (
    COMPRESSION,
    DATASETS,
    TIME_COLUMNS,
    OutputsLock,
    commit,
    cut_after,
    finish_merges,
    first_hour,
    merge,
    next_sequence,
    part_files,
)
from sinks.schema import (
    SIGNAL_COLUMNS,
    SUMMARY_COLUMNS,
    TOKEN_COLUMNS,
    TRADE_COLUMNS,
    Column,
    RowShapeError,
    aggregate_columns,
    check_row_keys,
    row_packer,
)
from solflow.domain.windows import RowBlock
from solflow.settings import DEFAULT_TICK_S, DEFAULT_WINDOWS

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "DATASETS",
    "NULL_DATE",
    "TICK_KEY",
    "ParquetDatasetSink",
    "arrow_schema",
    "dataset_tables",
    "polars_schema",
]

NULL_DATE = "__HIVE_DEFAULT_PARTITION__"
ROW_GROUP_ROWS = 65_536
TICK_KEY = b"solflow.tick_s"  # metadata of the aggregates files: the tick their rows were computed with

_ARROW: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "u64": pa.uint64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "time": pa.timestamp("ms", tz="UTC"),
}
_MS_PER_S = 1000
_EPOCH = date(1970, 1, 1)
_SECONDS_PER_DAY = 86_400
_SECONDS_PER_HOUR = 3_600
_MS_PER_HOUR = _SECONDS_PER_HOUR * 1000
_encode = json.JSONEncoder(separators=(",", ":")).encode
_SIGNAL_KEYS = frozenset(name for name, _ in SIGNAL_COLUMNS)
_TOKEN_KEYS = frozenset(name for name, _ in TOKEN_COLUMNS)
_SCORE_KEYS = frozenset(name for name, _ in SUMMARY_COLUMNS)


def polars_schema(columns: Iterable[Column]) -> pl.Schema:
    """The Polars schema of these ``sinks.schema`` columns, as written to Parquet."""
    import polars as pl  # for readers: the flow's writers never load Polars

    dtypes: dict[str, pl.DataType] = {
        "str": pl.String(),
        "int": pl.Int64(),
        "u64": pl.UInt64(),
        "float": pl.Float64(),
        "bool": pl.Boolean(),
        "time": pl.Datetime("ms", "UTC"),
    }
    return pl.Schema({name: dtypes[kind] for name, kind in columns})


def arrow_schema(columns: Iterable[Column]) -> pa.Schema:
    """The Arrow schema of these ``sinks.schema`` columns (what the files hold)."""
    return pa.schema([(name, _ARROW[kind]) for name, kind in columns])


class ParquetDatasetSink(FixedPartitionedSink[Any, int]):
    """Items ``(key, value)`` → ``<root>/<dataset>/date=…/<partition>-….parquet``.

    ``dataset`` is ``"trades"`` (values are ``TradeEvent``), ``"aggregates"`` (``RowBlock``s of
    aggregate rows, computed with ``windows`` and ``tick_s``, which the files record) or
    ``"signals"`` (signal row dicts). ``recovery``: the run keeps snapshots (``-r``), so every
    snapshot must leave complete files.

    ``partitions`` is a count (``part-000`` ...; keys spread by ``zlib.adler32``) or the item keys
    themselves, one partition named after each (an item with another key is an error). Bytewax
    places a partition on the worker that owns the source partition of the same name, so trades
    keyed by program are written where their program's stream is read, without crossing processes.

    >>> op.output("parquet_trades", keyed_trades, ParquetDatasetSink(Path("out"), "trades"))  # doctest: +SKIP
    """

    def __init__(
        self,
        root: Path,
        dataset: str,
        windows: Iterable[int] = DEFAULT_WINDOWS,
        partitions: int | Iterable[str] = 1,
        recovery: bool = True,
        row_group_rows: int = ROW_GROUP_ROWS,
        tick_s: int = DEFAULT_TICK_S,
        retention_s: int | None = None,
    ):
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
        if isinstance(partitions, int):
            names = [f"part-{i:03d}" for i in range(partitions)]
            self._index: dict[str, int] | None = None
        else:
            names = sorted(set(partitions))
            self._index = {name: i for i, name in enumerate(names)}
        if row_group_rows < 1 or not names:
            raise ValueError("row_group_rows and partitions must be positive")
        self._dir = Path(root) / dataset
        self._shape = _shape(dataset, tuple(windows), tick_s)
        self._recovery = recovery
        self._row_group_rows = row_group_rows
        self._parts = names
        self._retention_s = retention_s

    @override
    def list_parts(self) -> list[str]:
        return list(self._parts)

    @override
    def part_fn(self, item_key: str) -> int:
        if self._index is None:
            return super().part_fn(item_key)
        try:
            return self._index[item_key]
        except KeyError:
            raise ValueError(
                f"no Parquet partition for key {item_key!r}; this sink has {', '.join(self._parts)}"
            ) from None

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ParquetPartition:
        return _ParquetPartition(
            self._dir, for_part, self._shape, self._recovery, self._row_group_rows, resume_state, self._retention_s
        )


def dataset_tables(
    dataset: str, windows: Iterable[int] = DEFAULT_WINDOWS, tick_s: int = DEFAULT_TICK_S
) -> tuple[pa.Schema, str, Callable[[list[Any]], pa.Table]]:
    """A dataset's Arrow schema, its time column and the function turning a batch of its items into
    a table of that schema (checked as the Parquet sink checks them) -- for other writers of the same
    rows (``sinks.delta``)."""
    shape = _shape(dataset, tuple(windows), tick_s)

    def table_of(items: list[Any]) -> pa.Table:
        tables = [shape.table_of(group) for _, group, _ in shape.by_hour(items)]
        return pa.concat_tables(tables) if tables else shape.schema.empty_table()

    return shape.schema, TIME_COLUMNS[dataset], table_of


class _Shape:
    """What a dataset's files look like: items are checked and grouped by hour as they come
    (``by_hour``), and turned into Arrow tables a row group at a time (``table_of``), so the
    conversion runs over many rows at once."""

    def __init__(
        self,
        schema: pa.Schema,
        by_hour: Callable[[list[Any]], list[tuple[int | None, list[Any], int]]],
        table_of: Callable[[list[Any]], pa.Table],
    ):
        self.schema = schema
        self.by_hour = by_hour  # -> (hour, items, rows)
        self.table_of = table_of


def _shape(dataset: str, windows: tuple[int, ...], tick_s: int) -> _Shape:
    if dataset == "trades":
        return _Shape(arrow_schema(TRADE_COLUMNS), _hours_by(attrgetter("block_time")), _trades_table(TRADE_COLUMNS))
    if dataset == "aggregates":
        schema = arrow_schema(aggregate_columns(windows)).with_metadata({TICK_KEY: str(tick_s).encode()})
        return _Shape(schema, _block_hours(windows), _aggregates_table(schema, windows))
    if dataset == "tokens":
        return _Shape(
            arrow_schema(TOKEN_COLUMNS), _row_hours(_TOKEN_KEYS, "token"), _rows_table(TOKEN_COLUMNS, "token")
        )
    if dataset == "scores":
        return _Shape(
            arrow_schema(SUMMARY_COLUMNS), _row_hours(_SCORE_KEYS, "score"), _rows_table(SUMMARY_COLUMNS, "score")
        )
    return _Shape(arrow_schema(SIGNAL_COLUMNS), _row_hours(_SIGNAL_KEYS, "signal"), _signals_table())


def _hours_by(time_of: Callable[[Any], int | None]) -> Callable[[list[Any]], list[tuple[int | None, list[Any], int]]]:
    """Items grouped by the hour of ``time_of(item)`` (None: no time), in order within each hour."""

    def by_hour(items: list[Any]) -> list[tuple[int | None, list[Any], int]]:
        groups: dict[int | None, list[Any]] = {}
        for item in items:
            time = time_of(item)
            hour = None if time is None else time // _SECONDS_PER_HOUR
            group = groups.get(hour)
            if group is None:
                groups[hour] = [item]
            else:
                group.append(item)
        return [(hour, group, len(group)) for hour, group in groups.items()]

    return by_hour


def _row_hours(keys: frozenset[str], what: str) -> Callable[[list[Any]], list[tuple[int | None, list[Any], int]]]:
    """Row dicts (checked to have exactly ``keys``) grouped by the hour of their ``ts``."""
    by_hour = _hours_by(itemgetter("ts"))

    def checked(rows: list[Any]) -> list[tuple[int | None, list[Any], int]]:
        for row in rows:
            check_row_keys(row, keys, what)
        return by_hour(rows)

    return checked


def _block_hours(windows: tuple[int, ...]) -> Callable[[list[Any]], list[tuple[int | None, list[Any], int]]]:
    def by_hour(blocks: list[Any]) -> list[tuple[int | None, list[Any], int]]:
        groups: dict[int | None, list[Any]] = {}
        for block in blocks:
            if type(block) is not RowBlock:
                raise RowShapeError(f"aggregate rows come as RowBlock batches, got {type(block).__name__}")
            if not block.fits(windows):
                raise RowShapeError(f"aggregate rows were computed for other windows than {windows}")
            hours = block.ts // _SECONDS_PER_HOUR
            first = int(hours[0])
            if (hours == first).all():
                groups.setdefault(first, []).append(block)
                continue
            for hour in np.unique(hours).tolist():
                groups.setdefault(hour, []).append(block.take(np.flatnonzero(hours == hour)))
        return [(hour, group, sum(map(len, group))) for hour, group in groups.items()]

    return by_hour


def _table(schema: pa.Schema, columns: Sequence[Any], what: str) -> pa.Table:
    """Columns of Python values in schema order as a table; times are unix seconds."""
    arrays = []
    for field, values in zip(schema, columns):
        try:
            if pa.types.is_timestamp(field.type):
                arrays.append(_times(pa.array(values, type=pa.int64()), field.type))
            else:
                arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as exc:
            raise RowShapeError(f"{what} column {field.name!r} holds a value that is not {field.type}: {exc}") from None
    return pa.Table.from_arrays(arrays, schema=schema)


def _times(seconds: pa.Array, kind: pa.DataType) -> pa.Array:
    return pc.multiply(seconds, _MS_PER_S).cast(kind)


def _trades_table(columns: tuple[Column, ...]) -> Callable[[list[Any]], pa.Table]:
    schema = arrow_schema(columns)
    getters = [attrgetter(name) for name, _ in columns]

    def table_of(trades: list[Any]) -> pa.Table:
        return _table(schema, [list(map(get, trades)) for get in getters], "trade")

    return table_of


def _aggregates_table(schema: pa.Schema, windows: tuple[int, ...]) -> Callable[[list[Any]], pa.Table]:
    def table_of(blocks: list[Any]) -> pa.Table:
        values = RowBlock.concat(blocks).columns(windows)
        arrays = []
        for field in schema:
            column, nulls = values[field.name]
            if pa.types.is_timestamp(field.type):
                arrays.append(_times(pa.array(column, type=pa.int64(), mask=nulls), field.type))
            elif isinstance(column, np.ndarray):
                arrays.append(pa.array(column, type=field.type, mask=nulls))
            else:
                arrays.append(pa.array(column, type=field.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    return table_of


def _rows_table(columns: tuple[Column, ...], what: str) -> Callable[[list[Any]], pa.Table]:
    """Row dicts with exactly these columns as keys."""
    schema = arrow_schema(columns)
    pack = row_packer(columns, what)

    def table_of(rows: list[Any]) -> pa.Table:
        values = [list(column) for column in zip(*map(pack, rows))] or [[] for _ in columns]
        return _table(schema, values, what)

    return table_of


def _signals_table() -> Callable[[list[Any]], pa.Table]:
    schema = arrow_schema(SIGNAL_COLUMNS)
    pack = row_packer(SIGNAL_COLUMNS, "signal")
    details_at = [name for name, _ in SIGNAL_COLUMNS].index("details")

    def table_of(rows: list[Any]) -> pa.Table:
        columns = [list(values) for values in zip(*map(pack, rows))] or [[] for _ in SIGNAL_COLUMNS]
        columns[details_at] = [_encode(details) for details in columns[details_at]]
        return _table(schema, columns, "signal")

    return table_of


class _HourFile:
    """The open file of one hour: items gathered, written a row group at a time, renamed when finished."""

    def __init__(self, seq: int, path: Path, shape: _Shape):
        self.seq = seq
        self.path = path
        self.staging = path.with_name(f".{path.name}.tmp")
        self.shape = shape
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(self.staging, shape.schema, compression=COMPRESSION)
        self.pending: list[Any] = []
        self.pending_rows = 0

    def append(self, items: list[Any], rows: int, row_group_rows: int) -> None:
        self.pending += items
        self.pending_rows += rows
        if self.pending_rows >= row_group_rows:
            self._flush()

    def finish(self) -> None:
        self._flush()
        self.writer.close()
        commit(self.staging, self.path)

    def _flush(self) -> None:
        if self.pending_rows:
            table = self.shape.table_of(self.pending)
            self.writer.write_table(table, row_group_size=table.num_rows)
        self.pending, self.pending_rows = [], 0


class _ParquetPartition(StatefulSinkPartition[Any, int]):
    def __init__(
        self,
        directory: Path,
        name: str,
        shape: _Shape,
        recovery: bool,
        row_group_rows: int,
        resume_state: int | None,
        retention_s: int | None = None,
    ):
        self._dir = directory
        self._retention_s = retention_s
        self._kept_from_day: int | None = None  # days before it are past the retention and deleted
        self._name = name
        self._shape = shape
        self._recovery = recovery
        self._row_group_rows = row_group_rows
        self._open: dict[int | None, _HourFile] = {}  # hour (since the epoch; None: no time) -> file
        self._written: dict[int | None, list[tuple[int, Path]]] = {}  # finished files by hour
        self._latest_hour: int | None = None
        self._dir.mkdir(parents=True, exist_ok=True)
        self._lock = OutputsLock(directory.parent, exclusive=False)
        for leftover in self._dir.glob(f"date=*/.{name}-*.tmp"):
            leftover.unlink()
        finish_merges(self._dir, name)
        written = part_files(self._dir, name)
        if resume_state is None:
            self._next_seq = next_sequence(written)
        else:
            self._next_seq = resume_state
            cut_after(written, resume_state)
        for seq, path in part_files(self._dir, name):  # an hour this run adds rows to is merged whole
            self._written.setdefault(first_hour(path, TIME_COLUMNS[directory.name]), []).append((seq, path))

    @override
    def write_batch(self, values: list[Any]) -> None:
        for hour, items, rows in self._shape.by_hour(values):
            file = self._open.get(hour)
            if file is None:
                file = self._open[hour] = self._new_file(hour)
            file.append(items, rows, self._row_group_rows)
            if hour is not None and (self._latest_hour is None or hour > self._latest_hour):
                self._latest_hour = hour
        self._finish(self._done_hours(self._open))
        self._expire()

    @override
    def snapshot(self) -> int:
        if self._recovery:
            self._finish(list(self._open))
        return self._next_seq

    @override
    def close(self) -> None:
        self._finish(list(self._open), all_done=True)
        self._expire()
        self._lock.release()

    def _expire(self) -> None:
        """Delete this partition's files of the days wholly older than the retention (event time:
        the latest hour written)."""
        if self._retention_s is None or self._latest_hour is None:
            return
        keep_from = (self._latest_hour * _SECONDS_PER_HOUR - self._retention_s) // _SECONDS_PER_DAY
        if self._kept_from_day is not None and keep_from <= self._kept_from_day:
            return
        self._kept_from_day = keep_from
        for hour in [
            h for h in self._written if h is not None and h * _SECONDS_PER_HOUR // _SECONDS_PER_DAY < keep_from
        ]:
            for _, path in self._written.pop(hour):
                path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # the day's last file

    def _new_file(self, hour: int | None) -> _HourFile:
        seq = self._next_seq
        self._next_seq += 1
        return _HourFile(seq, _day_directory(self._dir, hour) / f"{self._name}-{seq:010d}.parquet", self._shape)

    def _done_hours(self, hours: Iterable[int | None]) -> list[int | None]:
        """Hours no more rows are expected for: two hours before the latest one seen."""
        latest = self._latest_hour
        return [h for h in hours if h is not None and latest is not None and h < latest - 1]

    def _finish(self, hours: list[int | None], all_done: bool = False) -> None:
        """Finish the open files of ``hours``, then merge every done hour written in several files."""
        for hour in hours:
            file = self._open.pop(hour)
            file.finish()
            self._written.setdefault(hour, []).append((file.seq, file.path))
        for hour in list(self._written) if all_done else self._done_hours(self._written):
            files = self._written[hour]
            if len(files) > 1:
                self._written[hour] = [(files[0][0], merge(files))]


def _day_directory(dataset_dir: Path, hour: int | None) -> Path:
    """The ``date=`` partition of an hour (hours since the epoch; None for rows without a time)."""
    if hour is None:
        return dataset_dir / f"date={NULL_DATE}"
    day = _EPOCH + timedelta(days=hour * _SECONDS_PER_HOUR // _SECONDS_PER_DAY)
    return dataset_dir / f"date={day.isoformat()}"
