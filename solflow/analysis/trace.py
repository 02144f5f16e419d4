"""``trace_mint``: everything the outputs hold about one mint -- trades, window history, signals.

A directory the flow wrote twice into (two runs without recovery over the same input) holds some
rows twice; each row is shown once, by its identity: a trade by (signature, instruction path), an
aggregate row by its tick, a signal by (type, tick, state).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sinks.schema import TRADE_COLUMNS
from solflow.analysis.outputs import AnalysisError, Outputs
from solflow.analysis.recent import SIGNAL_FIELDS, signal_dicts
from solflow.analysis.tokens import scores_at

__all__ = ["MintTrace", "mint_history", "mint_signals", "trace_mint"]

# Chain order, as the windows use it; trades without a block time last.
TRADE_ORDER = ("block_time", "slot", "tx_index", "outer_ix_index", "inner_ix_index")
_TRADE_IDENTITY = ("signature", "outer_ix_index", "inner_ix_index")


@dataclass(frozen=True)
class MintTrace:
    """``trades`` in chain order (every ``TradeEvent`` field), ``history`` the aggregate rows by
    tick, ``signals`` the signal transitions by tick; ``windows`` the window lengths of ``history``;
    ``token`` its latest ``tokens`` row (None: not in the dataset), ``score`` its persistence score in
    the latest scoring (``persistence_score``, ``pattern_tag``, ``confidence``, ``ts``; None: not a
    candidate then)."""

    mint: str
    windows: tuple[int, ...]
    trades: pl.DataFrame
    history: pl.DataFrame
    signals: pl.DataFrame
    token: dict[str, Any] | None
    score: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "mint": self.mint,
            "windows": list(self.windows),
            "token": self.token,
            "score": self.score,
            "trades": self.trades.to_dicts(),
            "history": self.history.to_dicts(),
            "signals": signal_dicts(self.signals),
        }


def trace_mint(out: Path | str, mint: str) -> MintTrace:
    """Every trade, aggregate row and signal of ``mint``.

    >>> trace_mint(Path("out"), "npB9cxTzwUiGt7jk2dXZa52xZve8SgJ8mTgjbNwpump").trades  # doctest: +SKIP
    """
    outputs = Outputs(out)
    trades = outputs.collect(
        "trades",
        outputs.scan("trades")
        .filter(pl.col("mint") == mint)
        .select(name for name, _ in TRADE_COLUMNS)
        .unique(_TRADE_IDENTITY)
        .sort(TRADE_ORDER, nulls_last=[True, False, False, False, False]),
    )
    history = mint_history(outputs, mint)
    if trades.is_empty() and history.is_empty():
        raise AnalysisError(f"mint {mint!r} has no trades and no aggregate rows in {outputs.root}")
    tokens = outputs.collect(
        "tokens", outputs.scan("tokens").filter(pl.col("mint") == mint).drop("date").sort("ts").tail(1)
    )
    token = tokens.to_dicts()[0] if tokens.height else None
    score = scores_at(outputs, [mint]).get(mint)
    return MintTrace(mint, outputs.windows(), trades, history, mint_signals(outputs, mint), token, score)


def mint_history(outputs: Outputs, mint: str) -> pl.DataFrame:
    """The mint's aggregate rows (every column but the partition date), one per tick, by tick."""
    query = outputs.scan("aggregates").filter(pl.col("mint") == mint).drop("date").unique("ts").sort("ts")
    return outputs.collect("aggregates", query)


def mint_signals(outputs: Outputs, mint: str) -> pl.DataFrame:
    """The mint's signal transitions (``SIGNAL_FIELDS``) by tick."""
    query = (
        outputs.scan("signals")
        .filter(pl.col("mint") == mint)
        .select(SIGNAL_FIELDS)
        .unique(("signal_type", "ts", "state"))
        .sort("ts", "signal_type")
    )
    return outputs.collect("signals", query)
