"""What the outputs say about tokens: names (the ``tokens`` dataset), price, market cap and bonding
progress (the latest aggregate row), and the persistence score (the ``scores`` dataset).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import polars as pl

from solflow.analysis.outputs import Outputs

__all__ = ["PRICE_FIELDS", "SCORE_FIELDS", "TOKEN_FIELDS", "scores_at", "token_columns"]

TOKEN_FIELDS = ("token_name", "token_symbol")
PRICE_FIELDS = ("price_sol", "market_cap_sol", "bonding_progress")
SCORE_FIELDS = ("persistence_score", "pattern_tag", "confidence")


def token_columns(outputs: Outputs, mints: Collection[str], at: int, after: int | None = None) -> pl.DataFrame:
    """Per mint: its name and symbol as of ``at``, and the price columns of its latest aggregate row
    at or before ``at`` (after ``after``, when the caller knows no older row is needed)."""
    wanted = pl.col("mint").is_in(list(mints))
    names = outputs.collect(
        "tokens",
        outputs.scan("tokens", through=at)
        .filter(wanted)
        .sort("ts")
        .group_by("mint")
        .agg(pl.col(name).last() for name in TOKEN_FIELDS),
    )
    prices = outputs.collect(
        "aggregates",
        outputs.scan("aggregates", after=after, through=at)
        .filter(wanted)
        .sort("ts")
        .group_by("mint")
        .agg(pl.col(name).last() for name in PRICE_FIELDS),
    )
    frame = pl.DataFrame({"mint": list(mints)}, schema={"mint": pl.String()})
    return frame.join(names, on="mint", how="left").join(prices, on="mint", how="left")


def scores_at(outputs: Outputs, mints: Collection[str], at: int | None = None) -> dict[str, dict[str, Any]]:
    """The persistence scores of ``mints`` (only candidates have one) in the latest scoring at or
    before ``at`` (default: the latest), from the ``scores`` dataset: each scoring's rows."""
    scores = outputs.scan("scores", through=at)
    latest = outputs.collect("scores", scores.select(pl.col("ts").max())).item()
    if latest is None:
        return {}
    rows = outputs.collect(
        "scores", scores.filter(pl.col("ts") == latest, pl.col("mint").is_in(list(mints))).unique("mint")
    )
    return {row["mint"]: {name: row[name] for name in (*SCORE_FIELDS, "ts")} for row in rows.iter_rows(named=True)}
