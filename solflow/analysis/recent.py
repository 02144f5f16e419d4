"""``recent_signals``: the signal transitions (on and off) since an event time, oldest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from solflow.analysis.outputs import Outputs

__all__ = ["DEFAULT_LOOKBACK_S", "SIGNAL_FIELDS", "RecentSignals", "recent_signals", "signal_dicts"]

DEFAULT_LOOKBACK_S = 3600  # without --since: the last hour of event time
SIGNAL_FIELDS = ("ts", "state", "signal_type", "mint", "window_seconds", "severity", "score", "details")


@dataclass(frozen=True)
class RecentSignals:
    since: int
    latest_tick: int
    rows: pl.DataFrame  # SIGNAL_FIELDS; details as stored (JSON text)

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since, "latest_tick": self.latest_tick, "signals": signal_dicts(self.rows)}


def recent_signals(out: Path | str, since: int | None = None) -> RecentSignals:
    """Signal rows with ``ts >= since`` (default: an hour before the latest tick).

    >>> recent_signals(Path("out"), since=1726647000).rows  # doctest: +SKIP
    """
    outputs = Outputs(out)
    latest = outputs.latest_tick()
    if since is None:
        since = latest - DEFAULT_LOOKBACK_S
    query = (
        outputs.scan("signals", after=since - 1)
        .select(SIGNAL_FIELDS)
        .unique(("mint", "signal_type", "ts", "state"))
        .sort("ts", "mint", "signal_type")
    )
    return RecentSignals(since, latest, outputs.collect("signals", query))


def signal_dicts(signals: pl.DataFrame) -> list[dict[str, Any]]:
    """Signal rows as dicts, ``details`` decoded from its stored JSON text."""
    rows = signals.to_dicts()
    for row in rows:
        row["details"] = json.loads(row["details"]) if row["details"] else {}
    return rows
