"""Run totals across every worker and process: one ``"run"`` key in a stateful step.

The decode step reports each batch's counters, gaps arrive as they are found, and the aggregation
step's output is counted per batch; all of it is routed to the single ``"run"`` key, whose
``RunStatsLogic`` keeps the totals (snapshotted, so a resumed run continues its counts) and emits
them as a flat dict -- at most a few times a second while running and once more at end of input.
That dict feeds SQLite ``run_stats`` and the summary sink.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from bytewax.operators import StatefulLogic
from typing_extensions import override

from flows.decoding import DecodeReport
from solflow.decode import DecodeStats
from solflow.stream import Gap

PROCESS_STARTED = time.monotonic()
EMIT_EVERY_S = 0.5


class RowCount(NamedTuple):
    """Rows one batch of aggregation output carried, and mints that started a new window run."""

    aggregates: int
    signals: int


@dataclass(frozen=True)
class Outputs:
    """Which outputs this run writes, so totals can say how many rows went to each."""

    jsonl: bool
    sqlite_trades: bool
    pipeline: bool
    sqlite: bool


def count_rows(batch: list[tuple[str, tuple[str, dict]]]) -> list[tuple[str, RowCount]]:
    """``flat_map_batch`` mapper over the aggregation output: one small count per batch."""
    signals = sum(1 for _key, (kind, _row) in batch if kind == "signal")
    return [("run", RowCount(len(batch) - signals, signals))]


class RunTotals:
    """Counters for the whole run; plain attributes so it pickles small."""

    def __init__(self) -> None:
        self.transactions = 0
        self.transactions_by_partition: dict[str, int] = {}
        self.decode = DecodeStats()
        self.gaps = 0
        self.dropped = 0
        self.aggregate_rows = 0
        self.signal_rows = 0

    def add(self, item: DecodeReport | Gap | RowCount) -> None:
        kind = type(item)
        if kind is DecodeReport:
            self.transactions += item.transactions
            by_part = self.transactions_by_partition
            by_part[item.partition] = by_part.get(item.partition, 0) + item.transactions
            self.decode.merge(item.stats)
        elif kind is Gap:
            self.gaps += 1
            if item.reason == "buffer_full" and item.count:
                self.dropped += item.count
        elif kind is RowCount:
            self.aggregate_rows += item.aggregates
            self.signal_rows += item.signals
        else:
            raise TypeError(f"unexpected run-stats item {kind.__name__}: {item!r}")

    def as_dict(self, outputs: Outputs, elapsed_s: float, transactions_this_run: int, finished: bool) -> dict:
        """Flat counters (name -> number), the shape of SQLite ``run_stats`` and of the summary."""
        decode = self.decode.as_dict()
        trades_by_program = {program: counters["trades"] for program, counters in sorted(decode.items())}
        trades = sum(trades_by_program.values())

        def total(counter: str) -> int:
            return sum(counters[counter] for counters in decode.values())

        row = {
            "transactions": self.transactions,
            "trades": trades,
            **{f"trades_{program}": n for program, n in trades_by_program.items()},
            "failed_transactions": total("failed_transactions"),
            "decode_fallbacks": total("fallbacks"),
            "decode_disagreements": total("cross_check_disagreements"),
            "decode_errors": total("errors"),
            "dropped": self.dropped,
            "gaps": self.gaps,
            "rows_jsonl": trades if outputs.jsonl else 0,
            "rows_sqlite_trades": trades if outputs.sqlite_trades else 0,
            "rows_sqlite_token_aggregates": self.aggregate_rows if outputs.pipeline else 0,
            "rows_sqlite_token_signals": self.signal_rows if outputs.pipeline else 0,
            "rows_sqlite_gaps": self.gaps if outputs.sqlite else 0,
            "rows_parquet_trades": trades if outputs.pipeline else 0,
            "rows_parquet_aggregates": self.aggregate_rows if outputs.pipeline else 0,
            "rows_parquet_signals": self.signal_rows if outputs.pipeline else 0,
            "elapsed_s": round(elapsed_s, 3),
            "tx_per_s": round(transactions_this_run / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "finished": int(finished),
        }
        return row


class RunStatsLogic(StatefulLogic[DecodeReport | Gap | RowCount, dict, RunTotals]):
    def __init__(self, outputs: Outputs, resume: RunTotals | None):
        self._outputs = outputs
        self._totals = RunTotals() if resume is None else resume
        self._resumed_transactions = self._totals.transactions
        self._emitted_at = time.monotonic()

    @override
    def on_item(self, value: DecodeReport | Gap | RowCount) -> tuple[Iterable[dict], bool]:
        self._totals.add(value)
        now = time.monotonic()
        if now - self._emitted_at < EMIT_EVERY_S:
            return (), StatefulLogic.RETAIN
        self._emitted_at = now
        return [self._row(now, finished=False)], StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[dict], bool]:
        return [self._row(time.monotonic(), finished=True)], StatefulLogic.RETAIN

    @override
    def snapshot(self) -> RunTotals:
        return copy_totals(self._totals)

    def _row(self, now: float, finished: bool) -> dict:
        transactions_this_run = self._totals.transactions - self._resumed_transactions
        return self._totals.as_dict(self._outputs, now - PROCESS_STARTED, transactions_this_run, finished)


def copy_totals(totals: RunTotals) -> RunTotals:
    copy = RunTotals()
    copy.__dict__.update(totals.__dict__)
    copy.transactions_by_partition = dict(totals.transactions_by_partition)
    copy.decode = DecodeStats()
    copy.decode.merge(totals.decode)
    return copy


def run_stats_builder(outputs: Outputs):
    def build(resume: RunTotals | None) -> RunStatsLogic:
        return RunStatsLogic(outputs, resume)

    return build
