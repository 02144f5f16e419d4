"""One benchmark figure (median rate over runs, its baseline and extras), the JSON object and the table.

Rates (``RATE_KEYS``) are transactions per second with a ratio to a baseline; the counts
(``COUNT_KEYS``) are plain values: history rows per trade and Parquet files per hour, at a
mainnet-like rate (``solflow.bench.mainnet``).
"""

from __future__ import annotations

import statistics
import textwrap
from dataclasses import dataclass, field
from typing import Any

RATE_KEYS = ("parse", "decode", "flow", "flow_w4", "flow_2proc", "grpc_raw", "grpc_source", "aggregate")
COUNT_KEYS = ("agg_rows_per_trade", "parquet_files_per_hour")
KEYS = RATE_KEYS + COUNT_KEYS
BASELINES = {key: "parse" for key in RATE_KEYS} | {"grpc_source": "grpc_raw"}
_TABLE_COLUMNS = 80


@dataclass
class Figure:
    """``runs``: transactions per second of each run; ``extra``: whatever else the measure found."""

    runs: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tx_per_s(self) -> float:
        return statistics.median(self.runs)


@dataclass
class Count:
    """A measured value that is not a rate, and what else the measure found."""

    value: float
    extra: dict[str, Any] = field(default_factory=dict)


def results(figures: dict[str, Figure], counts: dict[str, Count] | None = None) -> dict[str, dict[str, Any]]:
    """The ``--json`` object: per rate key ``tx_per_s``, ``ratio`` (to ``ratio_to``), ``runs`` and
    extras; per count key its ``value`` and extras."""
    out: dict[str, dict[str, Any]] = {}
    for key in RATE_KEYS:
        figure = figures.get(key)
        if figure is None:
            continue
        baseline = figures.get(BASELINES[key])
        ratio = figure.tx_per_s / baseline.tx_per_s if baseline is not None else None
        out[key] = {
            "tx_per_s": round(figure.tx_per_s, 1),
            "ratio": None if ratio is None else round(ratio, 3),
            "ratio_to": BASELINES[key],
            "runs": [round(run, 1) for run in figure.runs],
            **figure.extra,
        }
    for key in COUNT_KEYS:
        count = (counts or {}).get(key)
        if count is not None:
            out[key] = {"value": count.value, **count.extra}
    return out


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The figures in 80 columns: long notes continue on lines of their own, under the notes column."""
    lines = [f"{'measure':<12} {'tx/s':>10} {'ratio':>7}  {'to':<9} notes", "-" * _TABLE_COLUMNS]
    for key, row in rows.items():
        if key in COUNT_KEYS:
            continue
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.3f}"
        head = f"{key:<12} {row['tx_per_s']:>10,.0f} {ratio:>7}  {row['ratio_to']:<9} "
        lines += _wrapped(head, _note(row))
    counted = [key for key in COUNT_KEYS if key in rows]
    if counted:
        lines += ["", f"{'count':<22} {'value':>8}  notes", "-" * _TABLE_COLUMNS]
        for key in counted:
            lines += _wrapped(f"{key:<22} {rows[key]['value']:>8.3f}  ", _count_note(rows[key]))
    return "\n".join(lines)


def _wrapped(head: str, note: str) -> list[str]:
    """``head`` and the note, continued on lines of their own under the notes column."""
    notes = textwrap.wrap(note, _TABLE_COLUMNS - len(head)) or [""]
    return [head + notes[0], *(" " * len(head) + line for line in notes[1:])]


def _count_note(row: dict[str, Any]) -> str:
    parts = [f"{row['rate']} trades/s for {row['seconds']:,} s", f"{row['trades']:,} trades"]
    if "history_rows" in row:
        parts.append(f"{row['history_rows']:,} history rows, {row['mints']:,} mints")
        parts.append("within trades + mints" if row["within_bound"] else "ABOVE trades + mints")
        if "capture_rows_per_trade" in row:
            parts.append(f"bench capture drained: {row['capture_rows_per_trade']:.3f} rows/trade")
    if "files" in row:
        parts.append(", ".join(f"{dataset} {count}" for dataset, count in row["files"].items()))
    return "; ".join(parts)


def _note(row: dict[str, Any]) -> str:
    """The extras worth a glance, in a fixed order."""
    parts = []
    if "transactions" in row:
        parts.append(f"{row['transactions']:,} tx")
    if "trades" in row:
        parts.append(f"{row['trades']:,} trades")
    if "vs_flow" in row:
        parts.append(f"{row['vs_flow']:.2f} x flow")
    if row.get("steady_tx_per_s") is not None:
        steady = f"steady {row['steady_tx_per_s']:,.0f} tx/s after {row['startup_s']:.1f} s start-up"
        if "vs_flow_steady" in row:
            steady += f" ({row['vs_flow_steady']:.2f} x flow)"
        parts.append(steady)
    if "cpu_s" in row:
        cpu = f"CPU {row['cpu_s']:.1f} s"
        if "vs_flow_cpu" in row:
            cpu += f", busier process {row['busiest_cpu_s']:.1f} s ({row['vs_flow_cpu']:.2f} x flow)"
        parts.append(cpu)
    if "updates_per_s" in row:
        parts.append(f"{row['updates_per_s']:,.0f} updates/s")
    if "paced_dropped" in row:
        parts.append(
            f"at {row['paced_updates_per_s']:,.0f} updates/s (0.8 x raw): "
            f"{row['paced_dropped']} dropped, {row['paced_missing']} missing"
        )
    if "rows" in row:
        parts.append(f"{row['rows']:,} rows")
    if "trades_per_s" in row:
        parts.append(f"{row['trades_per_s']:,.0f} trades/s")
    if "rss_mib" in row:
        parts.append(f"RSS {row['rss_mib']:,.0f} MiB with {row['mints']:,} mints")
    return "; ".join(parts)
