"""Parquet dataset sink: hive-partitioned ``trades``, ``aggregates`` and ``signals`` datasets via Polars.

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
  amounts Float64, counts Int64). Columns follow the windows: keep one window configuration per
  output directory.
* ``signals``: ``SIGNAL_COLUMNS``; ``details`` is the details dict as compact JSON text.

Times (``block_time``, ``ts``, ``last_trade_ts``) are ``Datetime(ms, UTC)``: the rows carry unix
seconds, converted as a part is written. ``slot`` stays the chain's integer.

A row whose keys (of a row tuple: whose length) differ from the schema raises ``RowShapeError``; a
value of the wrong type fails the part's construction, naming the column. Nothing is dropped or
coerced silently.

Why a ``FixedPartitionedSink`` and not a per-worker ``DynamicSink``: a dynamic sink has no snapshot,
so after a crash it cannot tell which parts hold rows that recovery will replay -- the replay would
duplicate them. Here each partition numbers its parts and the snapshot is the next sequence number:
rows are buffered and written as a part every ``rows_per_part`` rows and at every snapshot (epoch
end) and close, to a temporary name then renamed, so a part is either complete or absent. A resumed
partition deletes its parts numbered at or after the snapshot (and any temporary leftovers), then
rewrites the replayed rows -- after ``kill -9`` and ``-r`` the dataset holds the same rows as an
uninterrupted run. A partition's state follows it to whichever worker owns it, so this holds at any
``-w`` and across processes. Without ``-r`` a run continues the numbering after the parts already
there, appending to the dataset; a crash before the first snapshot can therefore repeat up to one
epoch of rows. Items are ``(key, value)``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any

import polars as pl
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from sinks.schema import SIGNAL_COLUMNS, TRADE_COLUMNS, Column, aggregate_columns, check_row_lengths, row_packer
from solflow.settings import DEFAULT_WINDOWS

__all__ = ["DATASETS", "ParquetDatasetSink", "polars_schema"]

DATASETS = ("trades", "aggregates", "signals")
NULL_DATE = "__HIVE_DEFAULT_PARTITION__"

_DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "u64": pl.UInt64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "time": pl.Datetime("ms", "UTC"),
}
_MS_PER_S = 1000
_EPOCH = date(1970, 1, 1)
_SECONDS_PER_DAY = 86_400
_DAY_COLUMN = "__day"
_encode = json.JSONEncoder(separators=(",", ":")).encode


def polars_schema(columns: Iterable[Column]) -> pl.Schema:
    """The Polars schema of these ``sinks.schema`` columns, as written to Parquet."""
    return pl.Schema({name: _DTYPES[kind] for name, kind in columns})


def _row_schema(columns: Iterable[Column]) -> pl.Schema:
    """The schema of the rows as the producers make them: times are unix seconds."""
    return pl.Schema({name: pl.Int64() if kind == "time" else _DTYPES[kind] for name, kind in columns})


class ParquetDatasetSink(FixedPartitionedSink[Any, int]):
    """Items ``(key, row)`` → ``<root>/<dataset>/date=…/part-….parquet``.

    ``dataset`` is ``"trades"`` (values are ``TradeEvent``), ``"aggregates"`` (values are lists of
    aggregate row tuples in ``aggregate_columns(windows)`` order, see ``row_packer``) or ``"signals"``
    (signal row dicts).

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
        rows_per_part: int = 100_000,
        partitions: int | Iterable[str] = 1,
    ):
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
        if isinstance(partitions, int):
            names = [f"part-{i:03d}" for i in range(partitions)]
            self._index: dict[str, int] | None = None
        else:
            names = sorted(set(partitions))
            self._index = {name: i for i, name in enumerate(names)}
        if rows_per_part < 1 or not names:
            raise ValueError("rows_per_part and partitions must be positive")
        self._dir = Path(root) / dataset
        self._shape = _shape(dataset, tuple(windows))
        self._rows_per_part = rows_per_part
        self._parts = names

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
        return _ParquetPartition(self._dir, for_part, self._shape, self._rows_per_part, resume_state)


class _Shape:
    """What a dataset's parts look like and how a batch of items becomes row tuples in column order."""

    def __init__(self, columns: tuple[Column, ...], time_column: str, rows_of: Callable[[list[Any]], Iterable[tuple]]):
        self.schema = _row_schema(columns)
        self.time_column = time_column
        self.rows_of = rows_of
        self.to_datetime = [
            (pl.col(name) * _MS_PER_S).cast(_DTYPES["time"]) for name, kind in columns if kind == "time"
        ]


def _shape(dataset: str, windows: tuple[int, ...]) -> _Shape:
    if dataset == "trades":
        return _Shape(TRADE_COLUMNS, "block_time", partial(map, attrgetter(*(name for name, _ in TRADE_COLUMNS))))
    if dataset == "aggregates":
        return _Shape(aggregate_columns(windows), "ts", _batched_rows(aggregate_columns(windows)))
    return _Shape(SIGNAL_COLUMNS, "ts", partial(map, _signal_row()))


def _batched_rows(columns: tuple[Column, ...]) -> Callable[[list[list[tuple]]], list[tuple]]:
    def rows_of(batches: list[list[tuple]]) -> list[tuple]:
        rows = [row for batch in batches for row in batch]
        check_row_lengths(rows, columns, "aggregate")
        return rows

    return rows_of


def _signal_row() -> Callable[[Mapping[str, Any]], tuple]:
    pack = row_packer(SIGNAL_COLUMNS, "signal")
    details_at = [name for name, _ in SIGNAL_COLUMNS].index("details")

    def to_row(row: Mapping[str, Any]) -> tuple:
        values = pack(row)
        return values[:details_at] + (_encode(values[details_at]),) + values[details_at + 1 :]

    return to_row


_PART_NAME = re.compile(r"^(?P<part>.+)-(?P<seq>\d{10})\.parquet$")


class _ParquetPartition(StatefulSinkPartition[Any, int]):
    def __init__(self, directory: Path, name: str, shape: _Shape, rows_per_part: int, resume_state: int | None):
        self._dir = directory
        self._name = name
        self._shape = shape
        self._rows_per_part = rows_per_part
        self._rows: list[tuple] = []
        self._dir.mkdir(parents=True, exist_ok=True)
        for leftover in self._dir.glob(f"date=*/.{name}-*.tmp"):
            leftover.unlink()
        written = self._written_parts()
        if resume_state is None:
            self._next_seq = max((seq for seq, _ in written), default=-1) + 1
        else:
            self._next_seq = resume_state
            for seq, path in written:
                if seq >= resume_state:  # written after the snapshot: the replay writes these rows again
                    path.unlink()

    @override
    def write_batch(self, values: list[Any]) -> None:
        self._rows.extend(self._shape.rows_of(values))
        if len(self._rows) >= self._rows_per_part:
            self._write_part()

    @override
    def snapshot(self) -> int:
        if self._rows:
            self._write_part()
        return self._next_seq

    @override
    def close(self) -> None:
        if self._rows:
            self._write_part()

    def _written_parts(self) -> list[tuple[int, Path]]:
        """(sequence number, path) of this partition's parts; one part may span several days."""
        found = []
        for path in self._dir.glob(f"date=*/{self._name}-*.parquet"):
            match = _PART_NAME.match(path.name)
            if match and match["part"] == self._name:
                found.append((int(match["seq"]), path))
        return found

    def _write_part(self) -> None:
        schema = self._shape.schema
        frame = pl.DataFrame(dict(zip(schema.names(), zip(*self._rows))), schema=schema)
        self._rows = []
        days = frame.get_column(self._shape.time_column) // _SECONDS_PER_DAY
        frame = frame.with_columns(self._shape.to_datetime)
        if days.n_unique() == 1:
            groups = [(days[0], frame)]
        else:
            keyed = frame.with_columns(days.alias(_DAY_COLUMN))
            by_day = keyed.partition_by(_DAY_COLUMN, as_dict=True, include_key=False)
            groups = [(key[0], part) for key, part in by_day.items()]
        file_name = f"{self._name}-{self._next_seq:010d}.parquet"
        for day, rows in groups:
            day_dir = self._dir / f"date={NULL_DATE if day is None else (_EPOCH + timedelta(days=day)).isoformat()}"
            day_dir.mkdir(exist_ok=True)
            staging = day_dir / f".{file_name}.tmp"
            rows.write_parquet(staging)
            _fsync(staging)
            os.replace(staging, day_dir / file_name)
        self._next_seq += 1


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
