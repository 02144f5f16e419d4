"""Run totals across every worker and process: one ``"run"`` key in a stateful step.

The decode step reports each batch's counters, gaps arrive as they are found, and the aggregation
output is counted per batch; all of it is routed to the single ``"run"`` key, whose
``RunStatsLogic`` keeps the totals (snapshotted, so a resumed run continues its counts) and emits
them as a dict -- at most twice a second while running and once more at end of input. That dict
feeds SQLite ``run_stats`` (nested dicts become dotted names) and the summary sink.

``transactions`` counts transactions handed to the decoders: with the per-program layout a
transaction that touches two tracked programs reaches both partitions and counts once in each.
``slots`` is how many slots every partition has completed (the slowest partition's count).
``mints`` counts mints entering the aggregation windows: over a run shorter than the longest
window that is the number of distinct mints traded; a mint that drops out after idling longer than
the longest window and trades again later counts again.
``continue_at`` (a run that was stopped) says per partition where the next run continues: ``slot``,
the first slot not written in full, and ``written``, the later slots that were; null for a partition
that handed on nothing (the next run continues it after the last slot written). An appending run
(``SOLFLOW_APPEND=on``) starts there (``flows.solflow``).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from bytewax.operators import StatefulLogic
from typing_extensions import override

from flows.decoding import RUN_KEY, DecodeReport
from solflow.domain.decode import DecodeStats
from solflow.domain.decode.stats import UNATTRIBUTED
from solflow.domain.stream import MALFORMED_UPDATE, Gap, SlotPosition, SourceStopped

PROCESS_STARTED = time.monotonic()
EMIT_EVERY_S = 0.5

RunRow = dict[str, Any]


class RowCount(NamedTuple):
    """What one batch of aggregation output carried: history rows, current-state rows (how many
    depends on how often the state was refreshed), signal rows, and mints that started a window run."""

    aggregates: int
    current: int
    signals: int
    mints: int
    tokens: int = 0  # token_metadata rows


RunItem = DecodeReport | Gap | RowCount | SourceStopped  # what reaches the "run" key


@dataclass(frozen=True)
class Outputs:
    """Which outputs this run writes, so the totals can say how many rows went to each."""

    jsonl: bool
    sqlite_trades: bool
    pipeline: bool
    sqlite: bool
    kafka: bool = False  # the ingest: trades published to Kafka


def count_rows(batch: list[tuple[str, tuple[str, Any]]]) -> list[tuple[str, RowCount]]:
    """``flat_map_batch`` mapper over the aggregation output: one small count per batch."""
    aggregates = current = signals = mints = tokens = 0
    for _key, (kind, payload) in batch:
        if kind == "aggregates":
            aggregates += len(payload)
        elif kind == "current":
            current += len(payload)
        elif kind == "signal":
            signals += 1
        elif kind == "token":
            tokens += 1
        elif kind == "mints":
            mints += payload
    return [(RUN_KEY, RowCount(aggregates, current, signals, mints, tokens))]


class RunTotals:
    """Counters of the whole run; plain attributes, so it pickles small. Attributes added since a
    recovery snapshot may have been taken have class defaults, so older snapshots still load."""

    stopped: str | None = None  # why a partition ended before its input: "signal" or "error"
    invalid_messages = 0
    token_rows = 0
    positions: dict[str, SlotPosition | None] | None = None  # where each stopped partition's next run continues

    def __init__(self, programs: tuple[str, ...]) -> None:
        self.transactions_by_partition: dict[str, int] = {}
        self.slots_by_partition: dict[str, int] = {}
        self.decode = DecodeStats(programs)
        self.gaps = 0
        self.dropped = 0
        self.aggregate_rows = 0
        self.current_rows = 0
        self.signal_rows = 0
        self.mints = 0

    @property
    def transactions(self) -> int:
        return sum(self.transactions_by_partition.values())

    def add(self, item: RunItem) -> None:
        if type(item) is DecodeReport:
            by_part = self.transactions_by_partition
            by_part[item.partition] = by_part.get(item.partition, 0) + item.transactions
            slots = self.slots_by_partition
            slots[item.partition] = slots.get(item.partition, 0) + item.slots
            self.decode.merge(item.stats)
        elif type(item) is Gap:
            self.gaps += 1
            if item.reason == "buffer_full" and item.count:
                self.dropped += item.count
            elif item.reason == MALFORMED_UPDATE and item.count:
                self.invalid_messages += item.count
        elif type(item) is SourceStopped:
            if self.stopped != "error":
                self.stopped = item.reason
            self.positions = {**(self.positions or {}), item.partition: item.position}
        elif type(item) is RowCount:
            self.aggregate_rows += item.aggregates
            self.current_rows += item.current
            self.signal_rows += item.signals
            self.mints += item.mints
            self.token_rows += item.tokens
        else:
            raise TypeError(f"unexpected run-stats item {type(item).__name__}: {item!r}")

    def as_row(self, outputs: Outputs, elapsed_s: float, transactions_this_run: int, at_end: bool) -> RunRow:
        """``at_end``: every partition's input ended (or was stopped); ``end`` then says how: ``finished``
        (nothing missing), ``incomplete`` (gaps recorded) or ``stopped`` (a signal or an error)."""
        decode = self.decode
        trades_by_program = {
            name: counters.trades for name, counters in sorted(decode.programs.items()) if name != UNATTRIBUTED
        }
        trades = sum(trades_by_program.values())
        aggregates = self.aggregate_rows if outputs.pipeline else 0
        current = self.current_rows if outputs.pipeline else 0
        signals = self.signal_rows if outputs.pipeline else 0
        rows = {
            "jsonl": trades if outputs.jsonl else 0,
            "sqlite_trades": trades if outputs.sqlite_trades else 0,
            "sqlite_token_aggregates": current,
            "sqlite_token_signals": signals,
            "sqlite_gaps": self.gaps if outputs.sqlite else 0,
            "parquet_trades": trades if outputs.pipeline else 0,
            "parquet_aggregates": aggregates,
            "parquet_signals": signals,
            "kafka_trades": trades if outputs.kafka else 0,
            "parquet_tokens": self.token_rows if outputs.pipeline else 0,
        }
        return {
            "transactions": self.transactions,
            "transactions_by_partition": dict(sorted(self.transactions_by_partition.items())),
            "slots": min(self.slots_by_partition.values(), default=0),
            "trades": trades,
            "trades_by_program": trades_by_program,
            "failed_transactions": decode.total("failed_transactions"),
            "decode_fallbacks": decode.total("fallbacks"),
            "decode_disagreements": decode.total("cross_check_disagreements"),
            "decode_errors": decode.total("errors"),
            "decode_unknown_events": decode.total("unknown_events"),
            "decode_trailing_events": decode.total("trailing_events"),
            "dropped": self.dropped,
            "invalid_messages": self.invalid_messages,
            "gaps": self.gaps,
            "mints": self.mints,
            "rows_written": rows,
            "elapsed_s": round(elapsed_s, 3),
            "tx_per_s": round(transactions_this_run / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "end": self._end(at_end),
            "finished": int(at_end and self._end(at_end) == "finished"),
            "continue_at": self._continue_at() if at_end else None,
        }

    def _continue_at(self) -> str | None:
        """JSON of where each stopped partition's next run continues (None: no partition stopped)."""
        if self.positions is None:
            return None
        where = {
            partition: None if position is None else {"slot": position[0] + 1, "written": list(position[1])}
            for partition, position in sorted(self.positions.items())
        }
        return json.dumps(where, separators=(",", ":"))

    def _end(self, at_end: bool) -> str:
        if not at_end:
            return "running"
        if self.stopped is not None:
            return "stopped"
        return "incomplete" if self.gaps else "finished"


class RunStatsLogic(StatefulLogic[RunItem, RunRow, bytes]):
    def __init__(self, programs: tuple[str, ...], outputs: Outputs, resume: bytes | None):
        self._outputs = outputs
        self._totals: RunTotals = RunTotals(programs) if resume is None else pickle.loads(resume)
        # A resumed run goes on past the stop that ended the snapshotted one: only its own stop counts.
        self._totals.stopped = self._totals.positions = None
        self._resumed_transactions = self._totals.transactions
        self._emitted_at = time.monotonic()

    @override
    def on_item(self, value: RunItem) -> tuple[Iterable[RunRow], bool]:
        self._totals.add(value)
        now = time.monotonic()
        if now - self._emitted_at < EMIT_EVERY_S:
            return (), StatefulLogic.RETAIN
        self._emitted_at = now
        return [self._row(now, at_end=False)], StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[RunRow], bool]:
        return [self._row(time.monotonic(), at_end=True)], StatefulLogic.RETAIN

    @override
    def snapshot(self) -> bytes:
        return pickle.dumps(self._totals, protocol=pickle.HIGHEST_PROTOCOL)

    def _row(self, now: float, at_end: bool) -> RunRow:
        transactions_this_run = self._totals.transactions - self._resumed_transactions
        return self._totals.as_row(self._outputs, now - PROCESS_STARTED, transactions_this_run, at_end)


def run_stats_builder(programs: tuple[str, ...], outputs: Outputs) -> Callable[[bytes | None], RunStatsLogic]:
    def build(resume: bytes | None) -> RunStatsLogic:
        return RunStatsLogic(programs, outputs, resume)

    return build
