"""One output directory of the flow, read lazily: its hive-partitioned Parquet datasets and time range
-- or the same datasets as Delta tables under a ``SOLFLOW_SINKS`` ``delta:`` root (``sinks.delta``).

``Outputs(out)`` checks the directory and lists each dataset's ``date=YYYY-MM-DD`` partitions (a
directory listing, no file is opened). ``scan(dataset, after, through)`` is a Polars lazy scan with
hive partitioning; a time range becomes a predicate on the partition ``date`` (whole days are
skipped without being opened) and on the row's own time column (row groups are skipped by their
statistics), so a query over the last minutes of a long run reads only the last files. The
datasets store times as ``Datetime(ms, UTC)``; scans hand them on as unix seconds, as the SQLite
tables and JSONL lines have them, so the analysis works in one unit.

A Delta root (``s3://BUCKET/PATH``, or a directory whose ``aggregates`` is a Delta table) is read
with ``polars.scan_delta``: the same columns, the raw amounts back as UInt64, the writers'
bookkeeping columns left out; its days come from the table's partitions and its tick from the
table's description.

Every failure to read -- missing directory or dataset, a damaged Parquet file -- is an
``AnalysisError`` naming the path.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sinks.parquet import NULL_DATE, TICK_KEY, polars_schema
from sinks.schema import AGGREGATE_KEY_COLUMNS, SIGNAL_COLUMNS, SUMMARY_COLUMNS, TOKEN_COLUMNS, TRADE_COLUMNS, Column

__all__ = ["AnalysisError", "Outputs"]

SECONDS_PER_DAY = 86_400
TIME_COLUMNS = {"trades": "block_time", "aggregates": "ts", "signals": "ts", "tokens": "ts", "scores": "ts"}
_FIXED_SCHEMAS = {
    "trades": polars_schema(TRADE_COLUMNS),
    "signals": polars_schema(SIGNAL_COLUMNS),
    "tokens": polars_schema(TOKEN_COLUMNS),
    "scores": polars_schema(SUMMARY_COLUMNS),
}


def _times(columns: tuple[Column, ...]) -> list[pl.Expr]:
    return [pl.col(name).dt.epoch("s") for name, kind in columns if kind == "time"]


_AS_SECONDS = {
    "trades": _times(TRADE_COLUMNS),
    "aggregates": _times(AGGREGATE_KEY_COLUMNS),
    "signals": _times(SIGNAL_COLUMNS),
    "tokens": _times(TOKEN_COLUMNS),
    "scores": _times(SUMMARY_COLUMNS),
}
_WINDOW_COLUMN = re.compile(r"^net_flow_(\d+)s_sol$")
_PARTITION = "date"
_U64 = {"trades": tuple(name for name, kind in TRADE_COLUMNS if kind == "u64")}
# Finished parts only: a crashed writer can leave hidden ``.part-….parquet.tmp`` files behind.
_PARTS = f"{_PARTITION}=*/*.parquet"


class AnalysisError(ValueError):
    """The outputs cannot answer the question; the message names what is missing or wrong."""


class Outputs:
    """The Parquet datasets under one ``SOLFLOW_OUT`` directory, or the Delta tables under a root.

    >>> outputs = Outputs(Path("out"))  # doctest: +SKIP
    >>> outputs.scan("aggregates", after=outputs.latest_tick() - 60).collect()  # doctest: +SKIP
    """

    def __init__(self, out: Path | str):
        self.delta = is_delta_root(out)
        self.root: Path | str = str(out).rstrip("/") if self.delta else Path(out)
        if self.delta:
            self._written = {name: _is_delta_table(self._where(name)) for name in TIME_COLUMNS}
            self._days = _delta_days(self._where("aggregates")) if self._written["aggregates"] else []
        else:
            if not Path(self.root).is_dir():
                raise AnalysisError(
                    f"outputs directory {self.root} does not exist"
                    f" (run the flow first: SOLFLOW_OUT={self.root} python -m bytewax.run flows.solflow)"
                )
            self._written = {name: any((Path(self.root) / name).glob(_PARTS)) for name in TIME_COLUMNS}
            self._days = _day_partitions(Path(self.root) / "aggregates")  # where the aggregate ticks are
        if not self._days:
            raise AnalysisError(
                f"{self._where('aggregates')} holds no aggregate rows: not SolFlow's outputs,"
                " or the flow ran with SOLFLOW_PIPELINE=off"
            )
        self._schema: pl.Schema | None = None
        self._ticks: list[int] | None = None

    def scan(self, dataset: str, after: int | None = None, through: int | None = None) -> pl.LazyFrame:
        """``dataset`` rows, lazily, times in unix seconds; with bounds, only rows whose time is in
        ``(after, through]``."""
        if not self._written[dataset]:  # no part written yet: an empty frame of the dataset's columns
            return pl.LazyFrame(schema=_FIXED_SCHEMAS[dataset]).with_columns(_AS_SECONDS[dataset])
        frame = self._scan(dataset)
        time = pl.col(TIME_COLUMNS[dataset])
        if after is not None:
            frame = frame.filter(pl.col(_PARTITION) >= _day_of(after + 1), time > _datetime(after))
        if through is not None:
            frame = frame.filter(pl.col(_PARTITION) <= _day_of(through), time <= _datetime(through))
        return frame.with_columns(_AS_SECONDS[dataset])

    def collect(self, dataset: str, query: pl.LazyFrame) -> pl.DataFrame:
        """Run a query over ``dataset``, turning read failures into an ``AnalysisError``."""
        try:
            return query.collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _read_error(self._where(dataset), exc) from None

    def aggregate_schema(self) -> pl.Schema:
        if self._schema is None:
            try:
                self._schema = self._scan("aggregates").collect_schema()
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise _read_error(self._where("aggregates"), exc) from None
        return self._schema

    def windows(self) -> tuple[int, ...]:
        """The window lengths (seconds) the aggregate rows were computed for."""
        found = (_WINDOW_COLUMN.match(name) for name in self.aggregate_schema().names())
        return tuple(sorted(int(match[1]) for match in found if match))

    def check_window(self, window: int) -> None:
        windows = self.windows()
        if window not in windows:
            shown = ", ".join(str(w) for w in windows)
            raise AnalysisError(f"window {window} s is not in the data (its windows: {shown} s)")

    def first_tick(self) -> int:
        """The earliest aggregate tick."""
        first_day = self._days[0]
        query = self.scan("aggregates").filter(pl.col(_PARTITION) == first_day).select(pl.col("ts").min())
        return int(self.collect("aggregates", query).item())

    def latest_tick(self) -> int:
        """The latest aggregate tick: how far the flow's event clock got."""
        return self._last_day_ticks()[-1]

    def tick(self) -> int:
        """The aggregation tick (seconds) the rows were computed with, as the files record it."""
        if self.delta:
            return _delta_tick(self._where("aggregates"))
        first = next(iter(sorted((Path(self.root) / "aggregates").glob(_PARTS))))
        try:
            recorded = (pq.read_schema(first).metadata or {}).get(TICK_KEY)
        except (pa.ArrowException, OSError) as exc:
            raise _read_error(first, exc) from None
        if recorded is None:
            raise AnalysisError(f"{first} does not record the aggregation tick (written by an older SolFlow)")
        return int(recorded)

    def check_time(self, time: int) -> None:
        """``time`` must lie within the aggregate ticks, where the rows describe every mint."""
        first, latest = self.first_tick(), self.latest_tick()
        if not first <= time <= latest:
            raise AnalysisError(
                f"time {format_utc(time)} ({time}) is outside the data, which runs from"
                f" {format_utc(first)} ({first}) to {format_utc(latest)} ({latest})"
            )

    def _where(self, dataset: str) -> str:
        return f"{self.root}/{dataset}"

    def _scan(self, dataset: str) -> pl.LazyFrame:
        if not self.delta:
            return _scan(Path(self.root) / dataset)
        from sinks.delta import EPOCH, PART  # the writers' bookkeeping

        try:
            frame = pl.scan_delta(self._where(dataset)).drop(PART, EPOCH)
        except Exception as exc:  # deltalake's own errors: a missing table, an unreachable store
            raise _read_error(self._where(dataset), exc) from None
        return frame.with_columns(pl.col(name).cast(pl.UInt64) for name in _U64.get(dataset, ()))

    def _last_day_ticks(self) -> list[int]:
        if self._ticks is None:
            last_day = self._days[-1]
            query = self.scan("aggregates").filter(pl.col(_PARTITION) == last_day).select(pl.col("ts").unique())
            self._ticks = sorted(self.collect("aggregates", query).get_column("ts").to_list())
        return self._ticks


def is_delta_root(location: Path | str) -> bool:
    """Whether ``location`` holds the Delta tables of ``SOLFLOW_SINKS=delta:…``: a URI, or a directory
    whose ``aggregates`` is a Delta table."""
    return "://" in str(location) or (Path(location) / "aggregates" / "_delta_log").is_dir()


def _is_delta_table(uri: str) -> bool:
    from deltalake import DeltaTable

    try:
        return bool(DeltaTable.is_deltatable(uri))
    except Exception as exc:  # an unreachable store, bad credentials
        raise _read_error(uri, exc) from None


def _delta_days(uri: str) -> list[date]:
    from deltalake import DeltaTable

    try:
        partitions = DeltaTable(uri).partitions()
    except Exception as exc:
        raise _read_error(uri, exc) from None
    values = {partition.get(_PARTITION) for partition in partitions}
    return sorted(date.fromisoformat(value) for value in values if value)


def _delta_tick(uri: str) -> int:
    from deltalake import DeltaTable

    from sinks.delta import TICK_KEY

    description = DeltaTable(uri).metadata().description or ""
    found = re.search(rf"\b{TICK_KEY}=(\d+)", description)
    if found is None:
        raise AnalysisError(f"{uri} does not record the aggregation tick (its description: {description!r})")
    return int(found[1])


def format_utc(time: int) -> str:
    """Unix seconds as ``YYYY-MM-DD HH:MM:SS`` (UTC, like the ``date`` partitions)."""
    return datetime.fromtimestamp(time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _read_error(path: Path | str, exc: Exception) -> AnalysisError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return AnalysisError(f"cannot read {path}: {reason}")


def _scan(directory: Path) -> pl.LazyFrame:
    return pl.scan_parquet(directory / _PARTS, hive_partitioning=True, hive_schema={_PARTITION: pl.Date()})


def _day_partitions(directory: Path) -> list[date]:
    """The dated partitions holding at least one finished part, in order (the null date is left out)."""
    if not directory.is_dir():
        return []
    days = []
    for partition in directory.glob(f"{_PARTITION}=*"):
        value = partition.name.partition("=")[2]
        if value != NULL_DATE and any(partition.glob("*.parquet")):
            try:
                days.append(date.fromisoformat(value))
            except ValueError:
                raise AnalysisError(f"{partition} is not a date partition (expected date=YYYY-MM-DD)") from None
    return sorted(days)


def _datetime(time: int) -> datetime:
    return datetime.fromtimestamp(time, tz=UTC)


def _day_of(time: int) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + time // SECONDS_PER_DAY)
