"""The flow's side of the token enrichment (``solflow.domain.enrich``): its settings, the per-process
blocklist reader and RPC lookups the shards share, and the persistence scorer step.

The scorer is one stateful key (``SCORER_KEY``). Every shard sends a ``ScoreBatch`` at each 60 s
boundary of event time it passes -- its own first 100 candidates, so the first 100 over all shards
are among them -- and one at the end of the input (a shard without any mint reports only the latest
of the boundaries it passed). Boundary ``B`` is scored once every shard has reported ``B`` or a later
boundary (a shard that did not report ``B`` had nothing then); at the end
of the input the shards' final batches are scored at the latest of their ticks, once: a run resumed
(``-r``) after the end of its input, whose shards report the same final batches again, adds no
second final scoring. Arrival order and
worker count change nothing: a scoring depends only on the shards' states at its time. Each
scoring replaces ``token_signal_summary``.
"""

from __future__ import annotations

import atexit
import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bytewax.operators import StatefulLogic
from typing_extensions import override

from sinks.token_tables import Scoring
from solflow.control import CONTROL_DB, ControlError, ControlReader
from solflow.domain.enrich import EnrichConfig, ScoreBatch
from solflow.domain.scorer import ScoreInput, score_all
from solflow.domain.tokens import TokenConfig
from solflow.settings import Settings
from sources.solana_rpc import CACHE_NAME, AccountLookup

log = logging.getLogger(__name__)

SCORER_KEY = "scorer"
BLOCKLIST_REFRESH_S = 0.25

_lock = threading.Lock()
_lookups: dict[tuple[str, Path], AccountLookup] = {}
_blocklists: dict[Path, ProcessBlocklist] = {}


def enrich_config(settings: Settings) -> EnrichConfig:
    sol_usd = settings.sol_usd
    return EnrichConfig(
        tokens=TokenConfig(
            tick_s=settings.agg_tick_s,
            keep_s=max(settings.windows),
            metadata_keep_s=settings.retention_s,
            sol_usd=sol_usd if isinstance(sol_usd, float) else None,
            sol_usd_from_stream=sol_usd == "stream",
            rpc=settings.rpc_url is not None,
        ),
        alert_cooldown_s=settings.alert_cooldown_s if settings.alert_webhook is not None else None,
    )


def account_lookup(settings: Settings) -> AccountLookup | None:
    """The process's RPC lookups (shared by its workers), or None without ``SOLFLOW_RPC_URL``."""
    if settings.rpc_url is None:
        return None
    key = (settings.rpc_url, settings.out_dir)
    with _lock:
        lookup = _lookups.get(key)
        if lookup is None:
            settings.out_dir.mkdir(parents=True, exist_ok=True)
            lookup = _lookups[key] = AccountLookup(settings.rpc_url, settings.rpc_rps, settings.out_dir / CACHE_NAME)
            atexit.register(lookup.close)
        return lookup


class ProcessBlocklist:
    """The user's blocklist (``<out>/control.db``) as the shards of a process read it: reloaded at most
    every ``BLOCKLIST_REFRESH_S`` and only when the store changed (``ControlReader``)."""

    def __init__(self, path: Path):
        self._reader = ControlReader(path)
        self._checked = 0.0
        self._lock = threading.Lock()
        self._warned = False
        self.refresh()  # loaded before any shard reads it

    def refresh(self) -> None:
        with self._lock:  # a worker that finds a refresh under way waits for it
            now = time.monotonic()
            if now - self._checked < BLOCKLIST_REFRESH_S:
                return
            try:
                self._reader.refresh()
                self._warned = False
            except ControlError as exc:  # keep the blocks known so far; say so once
                if not self._warned:
                    log.warning("%s; the blocks read before stay in force", exc)
                    self._warned = True
            self._checked = time.monotonic()

    def blocked(self, mint: str, event_time: int) -> bool:
        return self._reader.blocklist.blocked_at(mint, event_time)


def process_blocklist(out: Path) -> ProcessBlocklist:
    path = out / CONTROL_DB
    with _lock:
        blocklist = _blocklists.get(path)
        if blocklist is None:
            blocklist = _blocklists[path] = ProcessBlocklist(path)
        return blocklist


ScorerItem = tuple[str, ScoreBatch]  # (shard key, batch)


class _ScorerState:
    def __init__(self) -> None:
        self.pending: dict[int, list[ScoreInput]] = {}  # boundary -> inputs reported so far
        self.progress: dict[str, int] = {}  # shard -> latest boundary reported
        self.finals: dict[str, ScoreBatch] = {}
        self.scored_through: int | None = None
        self.final_scored: int | None = None  # the tick of the final scoring made


class ScorerLogic(StatefulLogic[ScorerItem, Scoring, bytes | None]):
    """Scores each boundary once every shard passed it (see the module docstring)."""

    def __init__(self, shards: Sequence[str], recovery: bool, resume: bytes | None):
        self._shards = frozenset(shards)
        self._recovery = recovery
        self._state: _ScorerState = _ScorerState() if resume is None else pickle.loads(resume)

    @override
    def on_item(self, value: ScorerItem) -> tuple[Iterable[Scoring], bool]:
        shard, batch = value
        state = self._state
        if batch.final:
            state.finals[shard] = batch
            return (), StatefulLogic.RETAIN
        if state.scored_through is not None and batch.tick <= state.scored_through:
            return (), StatefulLogic.RETAIN  # replayed after a resume: scored already
        state.pending.setdefault(batch.tick, []).extend(batch.inputs)
        state.progress[shard] = max(batch.tick, state.progress.get(shard, batch.tick))
        if state.progress.keys() < self._shards:
            return (), StatefulLogic.RETAIN
        passed = min(state.progress.values())
        out = []
        for tick in sorted(t for t in state.pending if t <= passed):
            out.append(_scoring(tick, state.pending.pop(tick)))
            state.scored_through = tick
        return out, StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[Scoring], bool]:
        finals = self._state.finals
        if not finals:
            return (), StatefulLogic.RETAIN
        tick = max(batch.tick for batch in finals.values())
        if self._state.final_scored is not None and tick <= self._state.final_scored:
            return (), StatefulLogic.RETAIN  # resumed after the end: scored already
        self._state.final_scored = tick
        return [_scoring(tick, [entry for batch in finals.values() for entry in batch.inputs])], StatefulLogic.RETAIN

    @override
    def snapshot(self) -> bytes | None:
        return pickle.dumps(self._state, protocol=pickle.HIGHEST_PROTOCOL) if self._recovery else None


def _scoring(tick: int, inputs: list[ScoreInput]) -> Scoring:
    return Scoring(tick, tuple(score.as_row() for score in score_all(inputs, tick)))


def scorer_builder(shards: Sequence[str], recovery: bool) -> Callable[[bytes | None], ScorerLogic]:
    def build(resume: bytes | None) -> ScorerLogic:
        return ScorerLogic(shards, recovery, resume)

    return build


def score_batch_item(item: tuple[str, tuple[str, Any]]) -> tuple[str, ScorerItem] | None:
    """A shard's ``("scores", batch)`` output as an item for the scorer key."""
    key, (kind, payload) = item
    return (SCORER_KEY, (key, payload)) if kind == "scores" else None
