"""The summary sink: a live progress bar while a finite replay runs, one summary line at the end.

A single-partition ``FixedPartitionedSink``, so every run total (from ``flows.run_stats``) lands
on one worker in the whole cluster and the summary is printed exactly once, at ``close()`` --
after end of input, and also on SIGINT/SIGTERM so an interrupted run still reports what it did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from flows.run_stats import RunRow

if TYPE_CHECKING:
    from flows.progress import ProgressBar


def format_summary(row: RunRow) -> str:
    """One line: what was read, decoded, lost and written, and how fast."""
    by_program = ", ".join(f"{name} {n}" for name, n in row["trades_by_program"].items() if n) or "none"
    written = ", ".join(f"{name} {n}" for name, n in row["rows_written"].items() if n) or "none"
    state = "stopped" if row["end"] == "running" else row["end"]
    return (
        f"solflow run {state}: {row['transactions']} transactions, {row['trades']} trades ({by_program});"
        f" decode: {row['decode_fallbacks']} fallbacks, {row['decode_disagreements']} disagreements,"
        f" {row['decode_errors']} errors, {row['decode_unknown_events']} unknown events,"
        f" {row['decode_trailing_events']} events with unknown trailing bytes,"
        f" {row['failed_transactions']} failed transactions skipped;"
        f" {row['dropped']} dropped, {row['invalid_messages']} invalid messages, {row['gaps']} gaps;"
        f" {row['mints']} mints; rows written: {written};"
        f" {row['elapsed_s']:.1f} s, {row['tx_per_s']:.0f} tx/s{_continues(row.get('continue_at'))}"
    )


def _continues(continue_at: str | None) -> str:
    """Where the next run of a stopped one continues: the oldest slot any partition did not write in full."""
    if continue_at is None:
        return ""
    slots = [where["slot"] for where in json.loads(continue_at).values() if where is not None]
    start = f"at slot {min(slots)}" if slots else "after the last slot written"
    return f"; the next run (-r, or SOLFLOW_APPEND=on) continues {start}"


class SummarySink(FixedPartitionedSink[RunRow, None]):
    """Items ``("run", totals)``; prints the last totals at close.

    With ``progress`` set, shows a progress bar while running; ``capture`` (a finite replay) lets
    the bar know how many slots there are.
    """

    def __init__(self, progress: bool, capture: Path | None = None):
        self._progress = progress
        self._capture = capture

    @override
    def list_parts(self) -> list[str]:
        return ["summary"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SummaryPartition:
        if not self._progress:
            return _SummaryPartition(None)
        from flows.progress import ProgressBar  # rich loads only when a bar is shown

        return _SummaryPartition(ProgressBar(self._capture))


class _SummaryPartition(StatefulSinkPartition[RunRow, None]):
    def __init__(self, bar: ProgressBar | None):
        self._bar = bar
        self._last: RunRow | None = None

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
            # Printed after the bar stopped, so stdout is the real stream again, not rich's redirect.
            print(format_summary(self._last), flush=True)
