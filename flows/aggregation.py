"""The aggregation step: one ``ShardAggregator`` per shard key inside a Bytewax ``StatefulLogic``.

A shard receives ``ShardInput`` items (its mints' trades of one source batch, then the clocks of
the partitions that batch moved on; see ``flows.decoding``) and emits ``(kind, payload)`` pairs:

* ``("aggregates", RowBlock)`` -- the history rows of the ticks an item's clocks passed;
* ``("current", RowBlock)`` -- current state for ``token_aggregates``: the final rows of mints whose
  windows emptied, as they happen, and the latest state of every other changed mint at most every
  ``CURRENT_EVERY_S`` seconds of wall time and at end of input. Only *when* the state is refreshed
  depends on the wall clock; each row is the mint's state at its latest change, stamped with that
  tick, so the table at the end of a run does not depend on it;
* ``("signal", row)`` -- each signal on/off row;
* ``("token", row)`` -- each ``token_metadata`` row (a mint's metadata changed at the row's tick);
* ``("dca", row)`` -- ``dca_activity_buckets`` rows: a minute's DCA buys so far;
* ``("scores", ScoreBatch)`` -- the shard's scorer candidates at each 60 s boundary and at the end;
* ``("alert", row)`` -- an alert (with ``SOLFLOW_ALERT_WEBHOOK``);
* ``("mints", n)`` -- how many mints started a window run since the last report (the summary's count).

Every shard carries an ``Enricher`` (``solflow.domain.enrich``): the price columns of its rows, the
token facts, the blocklist (the process's ``<out>/control.db``, re-read at most four times a second)
and, with ``SOLFLOW_RPC_URL``, the process's RPC lookups, asked for as facts arrive.

Event time only advances through the clocks, so the history and signals do not depend on worker
count, batch sizes or restarts.

Snapshots: Bytewax asks every stateful step for a snapshot at each epoch end, with or without
recovery; without ``-r`` nobody keeps it, so the shard answers ``None`` and costs nothing. With
``-r`` the snapshot is the pickled aggregator and the mints counter, and a stop (SIGTERM, a failed
source) does not flush the last ticks as the end of the input does: the resumed run goes on with
them, as if never stopped.

Shards are never discarded, not even when ``is_empty``: there are only ``SOLFLOW_AGG_SHARDS`` of
them, an empty one is small, and it holds every partition's clock -- a rebuilt shard would know no
clock until each partition crossed another tick, and at end of input it could not process its
last ticks at all, so its rows would depend on how items interleaved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.operators import StatefulLogic
from typing_extensions import override

from flows.decoding import ShardInput
from flows.enrichment import ProcessBlocklist, account_lookup, enrich_config, process_blocklist
from solflow import run_control
from solflow.domain.aggregate import AggregationConfig, Emitted, ShardAggregator
from solflow.domain.enrich import EnrichConfig, Enricher
from solflow.domain.signals import SignalConfig
from solflow.settings import Settings, SettingsError
from sources.solana_rpc import AccountLookup

ShardOutput = tuple[str, Any]  # ("aggregates" | "current", RowBlock), ("signal" | "token" | ..., row), ("mints", int)
ShardState = tuple[bytes, int] | None  # (ShardAggregator snapshot, mints counted so far); None without -r

CURRENT_EVERY_S = 1.0


def aggregation_config(settings: Settings) -> AggregationConfig:
    """The domain's configuration from the settings; a combination it refuses is a ``SettingsError``."""
    try:
        signals = SignalConfig.with_overrides(settings.signal_overrides)
    except ValueError as exc:
        raise SettingsError(f"SOLFLOW_SIGNALS: {exc}") from None
    try:
        return AggregationConfig(windows=tuple(settings.windows), tick_s=settings.agg_tick_s, signals=signals)
    except ValueError as exc:  # (SOLFLOW_AGG_TICK is a positive integer by then: what is left is the windows')
        raise SettingsError(f"SOLFLOW_WINDOWS={','.join(map(str, settings.windows))}: {exc}") from None


class ShardServices:
    """What the shards of a process share beyond their state: the enrichment settings, the user's
    blocklist and the RPC lookups (made when the first shard is built, not when the flow is)."""

    def __init__(self, settings: Settings):
        self.enrich: EnrichConfig = enrich_config(settings)
        self._settings = settings
        self._ready = False
        self.blocklist: ProcessBlocklist | None = None
        self.lookup: AccountLookup | None = None

    def attach(self, enricher: Enricher) -> None:
        if not self._ready:
            self.blocklist = process_blocklist(self._settings.out_dir)
            self.lookup = account_lookup(self._settings)
            self._ready = True
        assert self.blocklist is not None
        enricher.blocked = self.blocklist.blocked
        enricher.resolve = None if self.lookup is None else self.lookup.resolve


class ShardLogic(StatefulLogic[ShardInput, ShardOutput, ShardState]):
    def __init__(
        self,
        config: AggregationConfig,
        services: ShardServices,
        partitions: Sequence[str],
        recovery: bool,
        resume: ShardState | None,
    ):
        if resume is None:
            self._aggregator = ShardAggregator(config, partitions, Enricher(services.enrich))
            self._mints_reported = 0
        else:
            snapshot, self._mints_reported = resume
            self._aggregator = ShardAggregator.restore(config, snapshot, partitions, services.enrich)
        enricher = self._aggregator.enricher
        assert enricher is not None
        services.attach(enricher)
        self._enricher = enricher
        self._services = services
        self._recovery = recovery
        self._refresh_at: datetime | None = None

    @override
    def on_item(self, value: ShardInput) -> tuple[Iterable[ShardOutput], bool]:
        aggregator, enricher = self._aggregator, self._enricher
        add = aggregator.add_record
        for record in value.records:
            add(record)
        if value.facts:
            add_fact = enricher.add
            for fact in value.facts:
                add_fact(fact)
            lookup = self._services.lookup
            if lookup is not None:
                lookup.ask(enricher.take_lookups())
        outputs: list[ShardOutput] = []
        if value.clocks:
            blocklist = self._services.blocklist
            if blocklist is not None:
                blocklist.refresh()
            for clock in value.clocks:
                self._collect(aggregator.advance(clock.partition, clock.block_time), outputs)
        self._count_mints(outputs)
        if self._refresh_at is None and len(aggregator):
            self._refresh_at = datetime.now(UTC) + timedelta(seconds=CURRENT_EVERY_S)
        return outputs, StatefulLogic.RETAIN

    @override
    def notify_at(self) -> datetime | None:
        return self._refresh_at

    @override
    def on_notify(self) -> tuple[Iterable[ShardOutput], bool]:
        self._refresh_at = None
        current = self._aggregator.current_rows()
        return ([("current", current)] if current is not None else []), StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[ShardOutput], bool]:
        outputs: list[ShardOutput] = []
        if not (self._recovery and run_control.stop_requested()):
            # The end of the input: every held trade reaches the rows. A stop with -r is no end --
            # the resumed run goes on from this state, and its rows must be an uninterrupted run's.
            self._collect(self._aggregator.finish(), outputs)
            self._count_mints(outputs)
        current = self._aggregator.current_rows()
        if current is not None:
            outputs.append(("current", current))
        self._refresh_at = None
        return outputs, StatefulLogic.RETAIN

    @override
    def snapshot(self) -> ShardState:
        if not self._recovery:
            return None
        return self._aggregator.snapshot(), self._mints_reported

    @staticmethod
    def _collect(emitted: Emitted, outputs: list[ShardOutput]) -> None:
        history = emitted.history_block()
        if history is not None:
            outputs.append(("aggregates", history))
        finals = emitted.finals_block()
        if finals is not None:
            outputs.append(("current", finals))
        outputs += (("signal", row) for row in emitted.signals)
        outputs += (("token", row) for row in emitted.tokens)
        outputs += (("dca", row) for row in emitted.dca)
        outputs += (("scores", batch) for batch in emitted.scores)
        outputs += (("alert", row) for row in emitted.alerts)

    def _count_mints(self, outputs: list[ShardOutput]) -> None:
        runs = self._aggregator.new_runs
        if runs != self._mints_reported:
            outputs.append(("mints", runs - self._mints_reported))
            self._mints_reported = runs


def shard_logic_builder(
    config: AggregationConfig, settings: Settings, partitions: Sequence[str], recovery: bool
) -> Callable[[ShardState | None], ShardLogic]:
    """The ``op.stateful`` builder: a fresh shard, or one restored from its snapshot."""
    services = ShardServices(settings)

    def build(resume: ShardState | None) -> ShardLogic:
        return ShardLogic(config, services, partitions, recovery, resume)

    return build
