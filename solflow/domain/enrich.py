"""What a shard adds to its windows, tick by tick: price columns and metadata (``TokenBook``), the
blocklist, score inputs every 60 s, DCA minutes and alerts. ``ShardAggregator`` calls it as it
processes ticks, so everything here is on the shard's event clock:

* before the windows process tick ``T``, the book applies its facts up to ``T`` (``advance``); every
  mint whose windows or facts changed at ``T`` gets its price columns as of ``T`` (``price``), which
  its history row at ``T`` and its current-state row carry (``attach``);
* each 60 s boundary ``B`` the windows and the book have reached gives the shard's ``ScoreBatch``:
  its candidates for the persistence scorer as of ``B`` (the shard's first 100 -- the first 100
  over all shards are among them);
* signals that turn on are counted for ``appearance_24h/72h`` and, past the per-mint cooldown,
  become alerts;
* a mint blocked at a row's time (``blocked``, the user's blocklist) gives no aggregate row, signal,
  score input, DCA minute or alert from then on; its trades still reach the trade outputs.

``blocked`` and ``resolve`` (the RPC answers) are set by the flow and are not part of the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from solflow.domain.alerts import AlertGate, alert_row
from solflow.domain.lifecycle import LifecycleEvent
from solflow.domain.scorer import SCORE_EVERY_S, ScoreInput, appearances, candidates
from solflow.domain.tokens import NO_ENRICHMENT, Enrichment, Resolver, SolUsdPoint, TokenBook, TokenConfig, TokenTrade
from solflow.domain.windows import (
    BUY_LAMPORTS,
    BUYS,
    DCA_BUYS,
    LAMPORTS_PER_SOL,
    SELL_LAMPORTS,
    SELLS,
    U_ANY,
    RowBlock,
    ShardWindows,
)

Blocked = Callable[[str, int], bool]


def never_blocked(mint: str, time: int) -> bool:
    return False


@dataclass(frozen=True)
class EnrichConfig:
    tokens: TokenConfig = field(default_factory=TokenConfig)
    alert_cooldown_s: int | None = None  # None: no alerts


class ScoreBatch(NamedTuple):
    """One shard's scorer candidates at ``tick`` (a 60 s boundary, or the end of the input)."""

    tick: int
    final: bool
    inputs: tuple[ScoreInput, ...]


class Enricher:
    """The enrichment state of one shard (see the module docstring)."""

    def __init__(self, config: EnrichConfig):
        self.config = config
        self.book = TokenBook(config.tokens)
        self.gate = None if config.alert_cooldown_s is None else AlertGate(config.alert_cooldown_s)
        self.prices: dict[str, Enrichment] = {}  # mint -> price columns at its latest change
        self.scored_through: int | None = None  # latest 60 s boundary handed to the scorer
        self.blocked: Blocked = never_blocked
        self.resolve: Resolver | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("blocked", "resolve")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.blocked = never_blocked
        self.resolve = None

    def reconfigure(self, config: EnrichConfig) -> None:
        """Settings a restored shard may change: the SOL price, lookups, the alert cooldown."""
        self.config = config
        self.book.config = config.tokens
        if config.alert_cooldown_s is None:
            self.gate = None
        elif self.gate is None:
            self.gate = AlertGate(config.alert_cooldown_s)
        else:
            self.gate.cooldown_s = config.alert_cooldown_s

    def add(self, fact: TokenTrade | SolUsdPoint | LifecycleEvent) -> None:
        self.book.add(fact)

    def take_lookups(self) -> list[str]:
        return self.book.take_lookups()

    def advance(self, tick: int) -> list[str]:
        """Apply the book's facts through ``tick``; the mints they changed."""
        return self.book.advance(tick, self.resolve)

    def finish(self, tick: int | None) -> list[str]:
        return self.book.finish(tick, self.resolve)

    def price(self, mints: Sequence[str]) -> None:
        """Keep the price columns of ``mints`` as of the book's tick, as those of their latest change."""
        self.prices.update(zip(mints, self.book.enrichments(mints)))

    def forget(self, mints: Sequence[str]) -> None:
        for mint in mints:
            self.prices.pop(mint, None)

    def attach(self, block: RowBlock) -> RowBlock | None:
        """``block`` with the kept price columns of its mints, without the rows of blocked mints."""
        blocked, prices = self.blocked, self.prices
        keep = [row for row, (mint, ts) in enumerate(zip(block.mints, block.ts.tolist())) if not blocked(mint, ts)]
        if not keep:
            return None
        if len(keep) < len(block):
            block = block.take(keep)
        return block.with_prices([prices.get(mint, NO_ENRICHMENT) for mint in block.mints])

    def signals(self, tick: int, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The signal rows of unblocked mints, and the alerts of those that turned on."""
        kept = [row for row in rows if not self.blocked(row["mint"], tick)]
        alerts = []
        for row in kept:
            if row["state"] != "on":
                continue
            mint = row["mint"]
            self.book.record_signal(mint, tick)
            if self.gate is not None and self.gate.admit(mint, tick):
                alerts.append(alert_row(row, self.book.metadata(mint), self.prices.get(mint, NO_ENRICHMENT)))
        return kept, alerts

    def boundaries(self, before: int) -> list[int]:
        """The 60 s boundaries to score before processing tick ``before`` (every one since the last,
        in order). A fresh shard starts at its first tick: its state before is empty, which the
        scorer takes for every boundary a shard has not reported (an empty shard reports only the
        latest of a run of boundaries)."""
        if self.scored_through is None:
            self.scored_through = before - 1
            return []
        first = (self.scored_through // SCORE_EVERY_S + 1) * SCORE_EVERY_S
        return list(range(first, before, SCORE_EVERY_S))

    def score_batch(self, tick: int, windows: ShardWindows, final: bool = False) -> ScoreBatch:
        """The shard's scorer candidates as the windows and the book stand at ``tick``."""
        if not final:
            self.scored_through = tick
        layout = windows.layout
        if len(windows) == 0 or not {300, 900, 3600} <= set(layout.windows):
            return ScoreBatch(tick, final, ())
        slots = np.fromiter(windows.slot_of.values(), dtype=np.int64, count=len(windows))
        sums = windows.sums[slots]
        flows = [
            (sums[:, layout.column(w, BUY_LAMPORTS)] - sums[:, layout.column(w, SELL_LAMPORTS)]) / LAMPORTS_PER_SOL
            for w in layout.windows
        ]
        nf300 = flows[layout.windows.index(300)]
        dca = sums[:, layout.column(3600, DCA_BUYS)]
        chosen = np.flatnonzero((dca > 0) | (nf300 > 10.0))
        rated_300 = 2 * layout.rated[layout.windows.index(300)] + 1
        book, blocked = self.book, self.blocked
        inputs = []
        for index in chosen.tolist():
            slot = int(slots[index])
            mint = windows.mints[slot]
            if blocked(mint, tick):
                continue
            values = sums[index]
            appearance_24h, appearance_72h = appearances(book.signal_times(mint), tick)
            first_seen = book.first_seen(mint)
            inputs.append(
                ScoreInput(
                    mint=mint,
                    net_flows=tuple(float(flow[index]) for flow in flows),
                    net_flow_300s=float(nf300[index]),
                    net_flow_900s=float(flows[layout.windows.index(900)][index]),
                    net_flow_3600s=float(flows[layout.windows.index(3600)][index]),
                    unique_wallets_300s=int(values[layout.column(300, U_ANY)]),
                    buy_count_300s=int(values[layout.column(300, BUYS)]),
                    sell_count_300s=int(values[layout.column(300, SELLS)]),
                    bot_trades_300s=int(windows.bots[slot, rated_300]),
                    dca_buys_3600s=int(dca[index]),
                    first_seen_ts=first_seen if first_seen is not None else int(windows.first_tick[slot]),
                    launch_ts=book.launch_time(mint),
                    appearance_24h=appearance_24h,
                    appearance_72h=appearance_72h,
                )
            )
        return ScoreBatch(tick, final, tuple(candidates(inputs)))

    def take_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The ``token_metadata`` rows and (unblocked) ``dca_activity_buckets`` rows since the last call."""
        dca = [row for row in self.book.take_dca_rows() if not self.blocked(row["mint"], row["minute"])]
        return self.book.take_metadata_rows(), dca
