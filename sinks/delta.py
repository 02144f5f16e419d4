"""Delta Lake sink: the ``trades``, ``aggregates`` and ``signals`` datasets as Delta tables (``deltalake``).

``SOLFLOW_SINKS=delta:s3://BUCKET/PATH`` puts the tables at ``PATH/trades``, ``PATH/aggregates`` and
``PATH/signals`` (any root ``deltalake`` opens: S3 with the standard ``AWS_*`` variables, or a local
directory). The rows are the Parquet datasets' (``sinks.parquet.dataset_tables``: the same columns,
made by the same code), with three changes Delta's types ask for: raw u64 amounts are
``decimal(20, 0)`` (Delta has no unsigned integers), times are microseconds (UTC), and ``date`` (the
UTC day of the row's event time, as the Parquet ``date=`` directories) is a column the tables are
partitioned by. Two bookkeeping columns say which writer committed the row and when:
``sink_part`` (the sink partition: the program for trades, ``part-000`` otherwise) and
``sink_epoch`` (that partition's commit number). A table's description records the aggregation tick
(``tick_s=5``), as the Parquet files' metadata does.

A commit per epoch: each partition collects its rows and appends them as one Delta commit at every
Bytewax snapshot (and at close); its snapshot is the next commit number. A resumed partition first
deletes its rows committed at or after that number -- what a crashed run wrote after its last
snapshot -- and the replay writes them again, so ``kill -9`` + ``-r`` leaves no duplicates and loses
nothing. A fresh run (no resume state) numbers on after the partition's highest commit, so it appends
without touching earlier runs' rows. Writers of different partitions commit concurrently; Delta's
optimistic concurrency settles their appends.

Read a table with ``polars.scan_delta("s3://BUCKET/PATH/aggregates")`` (or ``deltalake.DeltaTable``).
Small files add up over a long run -- one per writer and epoch: ``compact_tables`` (``solflow compact
--delta ROOT``) merges them; it is a Delta commit of its own, safe while the writers go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from typing_extensions import override

from sinks.parquet import dataset_tables
from solflow.settings import DEFAULT_TICK_S, DEFAULT_WINDOWS
from solflow.wire import ServiceError

__all__ = ["BOOKKEEPING", "EPOCH", "PART", "TICK_KEY", "DeltaSink", "compact_tables", "delta_schema", "table_uri"]

log = logging.getLogger(__name__)

PART, EPOCH, DATE = "sink_part", "sink_epoch", "date"
TICK_KEY = "tick_s"  # in the table's description: the aggregation tick the rows were computed with
BOOKKEEPING = (DATE, PART, EPOCH)  # columns beyond the Parquet dataset's
_U64 = pa.decimal128(20, 0)


def table_uri(root: str, dataset: str) -> str:
    return f"{root.rstrip('/')}/{dataset}"


def compact_tables(root: str) -> dict[str, tuple[int, int]]:
    """Merge the small files of each table under ``root``: ``{dataset: (files before, files after)}``."""
    report = {}
    for dataset in ("trades", "aggregates", "signals"):
        uri = table_uri(root, dataset)
        try:
            if not DeltaTable.is_deltatable(uri):
                continue
            table = DeltaTable(uri)
            before = len(table.file_uris())
            table.optimize.compact()
            report[dataset] = (before, len(DeltaTable(uri).file_uris()))
        except (DeltaError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceError(f"Delta table {uri}: cannot compact ({reason})") from None
    return report


def delta_schema(parquet: pa.Schema) -> pa.Schema:
    """The Delta table's schema for a Parquet dataset's: u64 as decimal(20, 0), the bookkeeping columns."""
    fields = [pa.field(f.name, _U64 if pa.types.is_uint64(f.type) else f.type) for f in parquet]
    fields += [pa.field(DATE, pa.date32()), pa.field(PART, pa.string()), pa.field(EPOCH, pa.int64())]
    return pa.schema(fields)


class DeltaSink(FixedPartitionedSink[Any, int]):
    """Items ``(key, value)`` of ``dataset`` (as ``ParquetDatasetSink`` takes them) -> ``ROOT/dataset``.
    ``partitions``: the item keys, a writer each (trades: the programs), or one writer for all."""

    def __init__(
        self,
        root: str,
        dataset: str,
        windows: Iterable[int] = DEFAULT_WINDOWS,
        partitions: Sequence[str] = ("part-000",),
        tick_s: int = DEFAULT_TICK_S,
    ):
        self._uri = table_uri(root, dataset)
        self._parts = sorted(set(partitions))
        self._tables = dataset_tables(dataset, windows, tick_s)
        self._description = f"SolFlow {dataset}; {TICK_KEY}={tick_s}"

    @override
    def list_parts(self) -> list[str]:
        return list(self._parts)

    @override
    def part_fn(self, item_key: str) -> int:
        return 0 if len(self._parts) == 1 else self._parts.index(item_key)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _DeltaPartition:
        return _DeltaPartition(self._uri, self._description, for_part, *self._tables, resume_state)


class _DeltaPartition(StatefulSinkPartition[Any, int]):
    def __init__(
        self,
        uri: str,
        description: str,
        name: str,
        schema: pa.Schema,
        time_column: str,
        table_of: Any,
        resume_state: int | None,
    ):
        self._uri = uri
        self._description = description
        self._name = name
        self._schema = delta_schema(schema)
        self._time_column = time_column
        self._table_of = table_of
        self._pending: list[pa.Table] = []
        table = self._guarded("open", self._open)
        if resume_state is None:
            self._epoch = self._guarded("read", lambda: self._last_epoch(table)) + 1
        else:
            self._epoch = resume_state
            predicate = f"{PART} = '{name}' AND {EPOCH} >= {resume_state}"
            deleted = self._guarded("delete", lambda: table.delete(predicate).get("num_deleted_rows", 0))
            if deleted:
                log.info("%s: removed %d row(s) %s committed after its last snapshot", uri, deleted, name)

    @override
    def write_batch(self, values: list[Any]) -> None:
        table = self._table_of(values)  # checked now: a bad row fails its batch, not a later commit
        if table.num_rows:
            self._pending.append(table)

    @override
    def snapshot(self) -> int:
        self._commit()
        self._epoch += 1
        return self._epoch

    @override
    def close(self) -> None:
        self._commit()

    def _open(self) -> DeltaTable:
        try:
            return DeltaTable(self._uri)
        except TableNotFoundError:
            pass
        try:
            return DeltaTable.create(
                self._uri, self._schema, partition_by=[DATE], mode="ignore", description=self._description
            )
        except DeltaError:  # another writer created it meanwhile
            return DeltaTable(self._uri)

    def _last_epoch(self, table: DeltaTable) -> int:
        mine = table.to_pyarrow_dataset().to_table(columns=[EPOCH], filter=pc.field(PART) == self._name)
        last = pc.max(mine[EPOCH]).as_py() if mine.num_rows else None
        return -1 if last is None else int(last)

    def _commit(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        columns = [table[f.name].cast(_U64) if pa.types.is_uint64(f.type) else table[f.name] for f in table.schema]
        days = pc.cast(table[self._time_column], pa.date32())
        part = pa.array([self._name] * table.num_rows, pa.string())
        epoch = pa.array([self._epoch] * table.num_rows, pa.int64())
        rows = pa.Table.from_arrays([*columns, days, part, epoch], schema=self._schema)
        self._guarded("write", lambda: write_deltalake(self._uri, rows, mode="append"))
        self._pending = []

    def _guarded(self, what: str, action: Any) -> Any:
        try:
            return action()
        except (DeltaError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceError(f"Delta table {self._uri}: cannot {what} ({reason})") from None
