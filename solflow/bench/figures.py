"""One benchmark figure (median rate over runs, its baseline and extras), the JSON object and the table."""

from __future__ import annotations

import statistics
import textwrap
from dataclasses import dataclass, field
from typing import Any

KEYS = ("parse", "decode", "flow", "flow_w4", "flow_2proc", "grpc_raw", "grpc_source", "aggregate")
BASELINES = {key: "parse" for key in KEYS} | {"grpc_source": "grpc_raw"}
_TABLE_COLUMNS = 80


@dataclass
class Figure:
    """``runs``: transactions per second of each run; ``extra``: whatever else the measure found."""

    runs: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tx_per_s(self) -> float:
        return statistics.median(self.runs)


def results(figures: dict[str, Figure]) -> dict[str, dict[str, Any]]:
    """The ``--json`` object: per key ``tx_per_s``, ``ratio`` (to ``ratio_to``), ``runs`` and extras."""
    out: dict[str, dict[str, Any]] = {}
    for key in KEYS:
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
    return out


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The figures in 80 columns: long notes continue on lines of their own, under the notes column."""
    lines = [f"{'measure':<12} {'tx/s':>10} {'ratio':>7}  {'to':<9} notes", "-" * _TABLE_COLUMNS]
    for key, row in rows.items():
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.3f}"
        head = f"{key:<12} {row['tx_per_s']:>10,.0f} {ratio:>7}  {row['ratio_to']:<9} "
        notes = textwrap.wrap(_note(row), _TABLE_COLUMNS - len(head)) or [""]
        lines.append(head + notes[0])
        lines.extend(" " * len(head) + note for note in notes[1:])
    return "\n".join(lines)


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
