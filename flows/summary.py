"""The summary sink: a live progress bar while a finite replay runs, one summary line at the end.

A single-partition ``FixedPartitionedSink``, so every run total (from ``flows.run_stats``) lands
on one worker in the whole cluster and the summary is printed exactly once, at ``close()`` --
after end of input, and also on SIGINT/SIGTERM so an interrupted run still reports what it did.
"""

from __future__ import annotations

import sys
from typing import Callable, TextIO

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from flows.run_stats import RunRow


def format_summary(row: RunRow) -> str:
    """One line: what was read, decoded, lost and written, and how fast."""
    by_program = ", ".join(f"{name} {n}" for name, n in row["trades_by_program"].items() if n) or "none"
    written = ", ".join(f"{name} {n}" for name, n in row["rows_written"].items() if n) or "none"
    state = "finished" if row["finished"] else "stopped"
    return (
        f"solflow run {state}: {row['transactions']} transactions, {row['trades']} trades ({by_program});"
        f" decode: {row['decode_fallbacks']} fallbacks, {row['decode_disagreements']} disagreements,"
        f" {row['decode_errors']} errors, {row['failed_transactions']} failed transactions skipped;"
        f" {row['dropped']} dropped, {row['gaps']} gaps; {row['mints']} mints; rows written: {written};"
        f" {row['elapsed_s']:.1f} s, {row['tx_per_s']:.0f} tx/s"
    )


class SummarySink(FixedPartitionedSink[RunRow, None]):
    """Prints the last run totals at close; shows a progress bar when ``progress`` is set.

    ``expected_transactions`` (called once, in the worker that owns the sink) gives the bar its
    total for a finite replay, or None for an open-ended stream.
    """

    def __init__(
        self,
        progress: bool,
        expected_transactions: Callable[[], int | None] = lambda: None,
        out: TextIO | None = None,
    ):
        self._progress = progress
        self._expected = expected_transactions
        self._out = out

    @override
    def list_parts(self) -> list[str]:
        return ["summary"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SummaryPartition:
        return _SummaryPartition(self._progress, self._expected, self._out or sys.stdout)


class _SummaryPartition(StatefulSinkPartition[RunRow, None]):
    def __init__(self, progress: bool, expected: Callable[[], int | None], out: TextIO):
        self._out = out
        self._last: RunRow | None = None
        self._bar = _ProgressBar(expected()) if progress else None

    @override
    def write_batch(self, values: list[RunRow]) -> None:
        self._last = values[-1]
        if self._bar is not None:
            self._bar.update(self._last)

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        if self._last is not None:
            print(format_summary(self._last), file=self._out, flush=True)


class _ProgressBar:
    def __init__(self, total: int | None):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]solflow"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("transactions  {task.fields[trades]} trades  {task.fields[rate]} tx/s"),
            TimeElapsedColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("replay", total=total, trades=0, rate=0)
        self._total = total
        self._progress.start()

    def update(self, row: RunRow) -> None:
        done = row["transactions"] if self._total is None else min(row["transactions"], self._total)
        self._progress.update(self._task, completed=done, trades=row["trades"], rate=f"{row['tx_per_s']:.0f}")

    def stop(self) -> None:
        self._progress.stop()
