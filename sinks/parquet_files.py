"""The files of a Parquet dataset partition: names, merges that remember their sources, resume cuts,
and ``solflow compact``.

A partition's files are ``date=…/<partition>-<seq>.parquet``, numbered in the order the partition
wrote them (the sink's recovery snapshot is the next number). A *merged* file,
``<partition>-<lowest seq>-merged.parquet``, holds the row groups of the files it replaced in their
order, and its footer (``SOURCES_KEY``) lists for each row group the number of the file it came
from. That makes every merge safe:

* against a crash: the merged file is written under a hidden name, synced and renamed; only then
  are its sources deleted. A writer or a later compaction that finds a merged file next to files
  it lists deletes them (``finish_merges``);
* against recovery: a run resumed from a snapshot taken before a merge drops from the merged file
  exactly the row groups of files numbered at or after the snapshot (``cut_after``), as it deletes
  such files -- so the sink can merge the files of finished hours while it runs, under ``-r`` too.

``compact_outputs`` merges every group of a partition's files that hold rows of the same date and
hour into one. ``OutputsLock`` keeps it away from an output directory a flow is writing to.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import pyarrow.parquet as pq

__all__ = [
    "DATASETS",
    "MERGED_SUFFIX",
    "TIME_COLUMNS",
    "CompactReport",
    "OutputsLock",
    "commit",
    "compact_outputs",
    "cut_after",
    "finish_merges",
    "first_hour",
    "merge",
    "next_sequence",
    "part_files",
    "sources",
]

DATASETS = ("trades", "aggregates", "signals", "tokens", "scores")
TIME_COLUMNS = {"trades": "block_time", "aggregates": "ts", "signals": "ts", "tokens": "ts", "scores": "ts"}
COMPRESSION = "zstd"
MERGED_SUFFIX = "-merged.parquet"
SOURCES_KEY = b"solflow.sources"  # footer metadata of a merged file: the source file of each row group
LOCK_NAME = ".solflow.lock"
_PART_NAME = re.compile(r"^(?P<part>.+)-(?P<seq>\d{10})(-merged)?\.parquet$")
_SECONDS_PER_HOUR = 3_600


class OutputsLock:
    """An advisory lock on an output directory: sink partitions hold it shared while they write,
    ``solflow compact`` exclusively (and gives up at once, ``BlockingIOError``, when a flow holds it)."""

    def __init__(self, out: Path, exclusive: bool):
        out.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = open(out / LOCK_NAME, "ab")  # held until release()
        try:
            fcntl.flock(self._file, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            self.release()
            raise

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


def part_files(directory: Path, partition: str) -> list[tuple[int, Path]]:
    """(sequence number, path) of a partition's finished files in every date partition of a dataset,
    by number; a merged file carries the lowest number it holds."""
    found = []
    for path in directory.glob(f"date=*/{partition}-*.parquet"):
        match = _PART_NAME.match(path.name)
        if match and match["part"] == partition:
            found.append((int(match["seq"]), path))
    return sorted(found)


def is_merged(path: Path) -> bool:
    return path.name.endswith(MERGED_SUFFIX)


def sources(path: Path, seq: int | None = None) -> list[int]:
    """The number of the file each row group of ``path`` was written as (``seq``: the file's own
    number, for a file that is not merged)."""
    metadata = pq.read_metadata(path)
    if not is_merged(path):
        number = seq if seq is not None else int(_PART_NAME.match(path.name)["seq"])  # type: ignore[index]
        return [number] * metadata.num_row_groups
    return list(json.loads((metadata.metadata or {})[SOURCES_KEY]))


def next_sequence(written: Iterable[tuple[int, Path]]) -> int:
    """The first number no file uses, the sources of merged files included."""
    highest = -1
    for seq, path in written:
        highest = max(highest, seq, *(sources(path) if is_merged(path) else ()))
    return highest + 1


def merge(files: list[tuple[int, Path]]) -> Path:
    """Merge a partition's files (all in one date directory) into one, row groups in file order;
    returns its path. The sources are deleted once the merged file is in place."""
    files = sorted(files)
    partition = _PART_NAME.match(files[0][1].name)["part"]  # type: ignore[index]
    origins = [number for seq, path in files for number in sources(path, seq)]
    target = files[0][1].parent / f"{partition}-{min(origins):010d}{MERGED_SUFFIX}"
    _copy_row_groups([(path, None) for _, path in files], origins, target)
    for _, path in files:
        if path != target:
            path.unlink()
    return target


def cut_after(written: list[tuple[int, Path]], resume_state: int) -> None:
    """Undo everything written at or after the snapshot ``resume_state``: such files are deleted,
    and merged files lose the row groups that came from such files (the replay writes them again)."""
    for seq, path in written:
        if not is_merged(path):
            if seq >= resume_state:
                path.unlink()
            continue
        origins = sources(path)
        keep = [index for index, number in enumerate(origins) if number < resume_state]
        if len(keep) == len(origins):
            continue
        if keep:
            kept = [origins[index] for index in keep]
            partition = _PART_NAME.match(path.name)["part"]  # type: ignore[index]
            target = path.parent / f"{partition}-{min(kept):010d}{MERGED_SUFFIX}"
            _copy_row_groups([(path, keep)], kept, target)
            if target != path:
                path.unlink()
        else:
            path.unlink()


def finish_merges(directory: Path, partition: str) -> None:
    """A merge interrupted after renaming its file may have left its sources: delete them."""
    written = part_files(directory, partition)
    merged = [(path, set(sources(path))) for _, path in written if is_merged(path)]
    for seq, path in written:
        if is_merged(path):
            held = set(sources(path))
            if any(held < other for other_path, other in merged if other_path != path):
                path.unlink()  # an older merge, taken into a newer one
        elif any(seq in held for _, held in merged):
            path.unlink()


@dataclass(frozen=True)
class CompactReport:
    """Files before and after, per dataset."""

    before: dict[str, int]
    after: dict[str, int]


def compact_outputs(out: Path, datasets: Iterable[str] = DATASETS) -> CompactReport:
    """Merge, per dataset, partition, date and hour of event time, every group of more than one file
    (a file counts for the hour of its earliest row); raises ``BlockingIOError`` while a flow is
    writing to ``out``."""
    lock = OutputsLock(out, exclusive=True)
    try:
        before, after = {}, {}
        for dataset in datasets:
            directory = out / dataset
            before[dataset] = _count(directory)
            for partition in _partitions(directory):
                finish_merges(directory, partition)
                groups: dict[tuple[Path, int | None], list[tuple[int, Path]]] = {}
                for seq, path in part_files(directory, partition):
                    hour = first_hour(path, TIME_COLUMNS[dataset])
                    groups.setdefault((path.parent, hour), []).append((seq, path))
                for files in groups.values():
                    if len(files) > 1:
                        merge(files)
            after[dataset] = _count(directory)
        return CompactReport(before, after)
    finally:
        lock.release()


def _copy_row_groups(inputs: list[tuple[Path, list[int] | None]], origins: list[int], target: Path) -> None:
    """Write the given row groups of ``inputs`` (None: all), in order, as the row groups of ``target``."""
    staging = target.with_name(f".{target.name}.tmp")
    schema = pq.read_schema(inputs[0][0])
    metadata: Mapping[bytes, bytes] = {**(schema.metadata or {}), SOURCES_KEY: json.dumps(origins).encode()}
    with pq.ParquetWriter(staging, schema.with_metadata(metadata), compression=COMPRESSION) as writer:
        for path, groups in inputs:
            file = pq.ParquetFile(path)
            for group in range(file.num_row_groups) if groups is None else groups:
                table = file.read_row_group(group).replace_schema_metadata(metadata)
                writer.write_table(table, row_group_size=max(1, table.num_rows))
    commit(staging, target)


def first_hour(path: Path, time_column: str) -> int | None:
    """The hour (since the epoch) of a file's earliest row, from its footer; None without a time."""
    metadata = pq.read_metadata(path)
    index = metadata.schema.to_arrow_schema().get_field_index(time_column)
    lowest = None
    for group in range(metadata.num_row_groups):
        statistics = metadata.row_group(group).column(index).statistics
        if statistics is not None and statistics.has_min_max:
            lowest = statistics.min if lowest is None else min(lowest, statistics.min)
    if lowest is None:
        return None
    seconds = lowest.timestamp() if isinstance(lowest, datetime) else lowest  # a Datetime column
    return int(seconds) // _SECONDS_PER_HOUR


def _partitions(directory: Path) -> list[str]:
    names = set()
    for path in directory.glob("date=*/*.parquet"):
        match = _PART_NAME.match(path.name)
        if match:
            names.add(match["part"])
    return sorted(names)


def _count(directory: Path) -> int:
    return sum(1 for _ in directory.glob("date=*/*.parquet")) if directory.is_dir() else 0


def commit(staging: Path, path: Path) -> None:
    """Sync ``staging`` and rename it to ``path``: a reader sees the whole file or none."""
    fd = os.open(staging, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staging, path)
