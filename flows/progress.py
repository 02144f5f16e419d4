"""The terminal progress bar of a replay: slots completed out of the capture's slots.

Capture headers carry no counts, so a background thread counts the capture's block metas (one per
slot; records are classified by their first field, not parsed) and gives the bar its total when
it is done -- until then the bar pulses. Progress is the slowest partition's completed slots
(every partition sees every block meta), so the bar reaches its end with the run.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from flows.run_stats import RunRow
from sources.capture import CaptureError, CaptureReader

_FILTERS_TAG = 0x0A  # SubscribeUpdate.filters (field 1, length-delimited), serialized first
_BLOCK_META_TAG = 0x3A  # SubscribeUpdate.block_meta (field 7, length-delimited)


def count_block_metas(path: Path) -> int | None:
    """Block-meta records in a capture, or None if it cannot be read (the source reports why)."""
    try:
        with CaptureReader(path) as reader:
            return sum(1 for raw in reader if _first_member_tag(raw) == _BLOCK_META_TAG)
    except CaptureError:
        return None


def _first_member_tag(raw: bytes) -> int | None:
    """The tag byte of the first field after the ``filters`` strings (fields serialize in order)."""
    pos, size = 0, len(raw)
    while pos < size and raw[pos] == _FILTERS_TAG:
        length, shift, pos = 0, 0, pos + 1
        while pos < size:
            byte = raw[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        pos += length
    return raw[pos] if pos < size else None


class ProgressBar:
    def __init__(self, capture: Path | None):
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]solflow[/] slots"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "{task.fields[transactions]} transactions, {task.fields[trades]} trades, {task.fields[rate]} tx/s"
            ),
            TimeElapsedColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("replay", total=None, transactions=0, trades=0, rate="0")
        self._progress.start()
        if capture is not None:
            threading.Thread(target=self._count, args=(capture,), name="solflow-progress", daemon=True).start()

    def update(self, row: RunRow) -> None:
        self._progress.update(
            self._task,
            completed=row["slots"],
            transactions=row["transactions"],
            trades=row["trades"],
            rate=f"{row['tx_per_s']:.0f}",
        )

    def stop(self) -> None:
        self._progress.stop()

    def _count(self, capture: Path) -> None:
        total = count_block_metas(capture)
        if total is not None:
            self._progress.update(self._task, total=total)
