"""The shard driver: watermark over partitions, late and untimed trades, end of input, determinism
under any batching, snapshot/restore mid-stream, configuration, and memory with 100,000 mints."""

from __future__ import annotations

import gc
import pickle
import random
import resource
from collections.abc import Callable
from dataclasses import replace
from operator import itemgetter

import pytest
from test_windows import _BASE, SOL, aggregates, dca_buy, emitted_rows, make_trade, step

from flows.aggregation import aggregation_config
from sinks.schema import aggregate_columns as sink_aggregate_columns
from solflow.domain.aggregate import AggregationConfig, Emitted, ShardAggregator
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import aggregate_columns
from solflow.settings import DEFAULT_WINDOWS, Settings


def test_a_tick_is_emitted_once_every_partition_is_past_it():
    aggregator = ShardAggregator(AggregationConfig(), ["a", "b"])
    aggregator.add_trade(make_trade(1001))
    assert aggregator.advance("a", 1100) == Emitted()  # b has no clock yet
    assert aggregator.advance("b", 1003) == Emitted() and aggregator.watermark == 1003
    aggregator.add_trade(make_trade(1004, wallet="B"))  # from the lagging partition: not late
    assert aggregator.advance("b", 1005) == Emitted()  # b may still have trades at 1005
    rows = aggregates(emitted_rows(aggregator.advance("b", 1006)))
    assert list(rows) == [1005] and rows[1005]["buy_count_60s"] == 2
    assert aggregator.late_trades == 0 and aggregator.last_tick == 1005


def test_clocks_never_go_back_and_partitions_are_checked():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1001))
    assert aggregates(emitted_rows(aggregator.advance("p", 1010))).keys() == {1005}
    assert aggregator.advance("p", 900) == Emitted() and aggregator.watermark == 1010
    with pytest.raises(ValueError, match="unknown partition 'q'; this shard expects p"):
        aggregator.advance("q", 2000)
    with pytest.raises(ValueError, match="at least one partition"):
        ShardAggregator(AggregationConfig(), [])


def test_late_trade_is_applied_at_the_next_tick_and_counted():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1001))
    assert sorted(aggregates(step(aggregator, "p", 1000, 1100))) == [1005, 1065]
    aggregator.add_trade(make_trade(1050, wallet="L"))  # 1095 was processed already
    assert aggregator.late_trades == 1
    rows = aggregates(step(aggregator, "p", 1100, 1200))
    assert rows[1100]["buy_count_60s"] == 1 and rows[1100]["buy_count_300s"] == 2
    assert rows[1100]["last_trade_ts"] == 1096  # counted one second after the last emitted tick
    assert rows[1160]["buy_count_60s"] == 0  # 60 s after 1096


def test_untimed_trades_are_timed_at_the_watermark():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(None, wallet="U1"))
    assert aggregator.untimed_trades == 1 and not aggregator.is_empty and len(aggregator) == 0
    assert aggregator.advance("p", 1003) == Emitted()
    rows = aggregates(emitted_rows(aggregator.advance("p", 1006)))
    assert rows[1005]["last_trade_ts"] == 1003 and rows[1005]["unique_wallets_60s"] == 1
    aggregator.add_trade(make_trade(None, wallet="U2"))
    rows = aggregates(emitted_rows(aggregator.advance("p", 1011)))
    assert rows[1010]["last_trade_ts"] == 1006 and rows[1010]["unique_wallets_60s"] == 2
    assert aggregator.untimed_trades == 2 and aggregator.late_trades == 0


def test_finish_flushes_every_held_trade_and_invents_no_time():
    assert ShardAggregator(AggregationConfig(), ["p"]).finish() == Emitted()
    aggregator = ShardAggregator(AggregationConfig(), ["a", "b"])
    for t in (1001, 1008, 1012, 1020):
        aggregator.add_trade(make_trade(t))
    aggregator.advance("a", 1014)
    assert aggregator.advance("b", 1004) == Emitted()
    rows = aggregates(emitted_rows(aggregator.finish()))
    # Through the tick of the latest trade (after every clock), and no tick beyond it.
    assert sorted(rows) == [1005, 1010, 1015, 1020]
    assert rows[1020]["buy_count_60s"] == 4 and rows[1020]["last_trade_ts"] == 1020
    assert aggregator.last_tick == 1020


def test_finish_times_waiting_untimed_trades_at_the_latest_time_seen():
    aggregator = ShardAggregator(AggregationConfig(), ["a", "b"])
    aggregator.add_trade(make_trade(None, wallet="U"))  # no watermark yet: b never sends a clock
    aggregator.advance("a", 1012)
    rows = aggregates(emitted_rows(aggregator.finish()))
    assert sorted(rows) == [1015] and rows[1015]["last_trade_ts"] == 1012
    untimed_only = ShardAggregator(AggregationConfig(), ["a"])
    untimed_only.add_trade(make_trade(None))
    assert untimed_only.finish() == Emitted() and untimed_only.untimed_trades == 1  # no time anywhere to give it


# --- determinism ------------------------------------------------------------------------------------


def _stream(seed: int, trades: int = 400) -> list[tuple[str, TradeEvent]]:
    """(partition, trade) pairs in chain order for two partitions, over 60 mints and 20 minutes."""
    rng = random.Random(seed)
    out = []
    for _ in range(trades):
        t = rng.randint(1000, 2200)
        mint = f"M{rng.randint(0, 59):02d}"
        wallet = rng.choice("ABCDEFGHJK")
        if rng.random() < 0.1:
            out.append(("dca", dca_buy(t, rng.choice([SOL, 2 * SOL]), wallet, mint)))
        else:
            direction = rng.choice(["buy", "buy", "sell"])
            out.append(("amm", make_trade(t, direction, rng.choice([SOL, SOL // 3, 5 * SOL]), wallet, mint)))
    out.sort(key=lambda item: (item[1].block_time, item[1].slot))
    return out


def _outputs(emitted: list[Emitted], aggregator: ShardAggregator) -> dict[str, list]:
    """Everything a run of the shard wrote, in an order that does not depend on slot numbers: the
    history, the final rows and the signals by tick, and the current state at the end."""
    windows = aggregator.config.windows
    history = [row for e in emitted for block in e.history for row in block.dicts(windows)]
    finals = [row for e in emitted for block in e.finals for row in block.dicts(windows)]
    signals = [row for e in emitted for row in e.signals]
    current = aggregator.current_rows()
    by_time = itemgetter("ts", "mint")
    return {
        "history": sorted(history, key=by_time),
        "finals": sorted(finals, key=by_time),
        "signals": sorted(signals, key=itemgetter("ts", "mint", "signal_type")),
        "current": sorted(current.dicts(windows), key=by_time) if current is not None else [],
    }


def _replay(stream, feed: Callable[[ShardAggregator, list], list[Emitted]]) -> dict[str, list]:
    aggregator = ShardAggregator(AggregationConfig(), ["amm", "dca"])
    emitted = feed(aggregator, stream)
    assert aggregator.late_trades == 0
    return _outputs([*emitted, aggregator.finish()], aggregator)


def _clock_after_each_trade(aggregator, stream):
    emitted = []
    for partition, trade in stream:
        emitted.append(aggregator.advance(partition, trade.block_time))
        aggregator.add_trade(trade)
    for partition in ("amm", "dca"):
        emitted.append(aggregator.advance(partition, 20_000))
    return emitted


def _everything_then_one_clock(aggregator, stream):
    for _, trade in reversed(stream):
        aggregator.add_trade(trade)
    return [aggregator.advance("amm", 20_000), aggregator.advance("dca", 20_000)]


def _per_tick_shuffled_with_a_lagging_partition(aggregator, stream):
    # Trades of each 5 s interval arrive shuffled; the dca partition's clock lags by 0..600 s.
    rng = random.Random(3)
    emitted = []
    by_tick: dict[int, list] = {}
    for item in stream:
        by_tick.setdefault(-(-item[1].block_time // 5) * 5, []).append(item)
    for tick in sorted(by_tick):
        batch = by_tick[tick]
        rng.shuffle(batch)
        for _, trade in batch:
            aggregator.add_trade(trade)
        emitted.append(aggregator.advance("amm", tick + 1))
        emitted.append(aggregator.advance("dca", max(1, tick + 1 - rng.randint(0, 600))))
        if rng.random() < 0.3:
            aggregator.current_rows()  # refreshing the current state on the way changes nothing
    return [*emitted, aggregator.advance("amm", 20_000), aggregator.advance("dca", 20_000)]


def test_rows_are_the_same_however_input_is_batched_or_interleaved():
    stream = _stream(seed=11)
    reference = _replay(stream, _clock_after_each_trade)
    assert {r["mint"] for r in reference["history"]} == {f"M{i:02d}" for i in range(60)}
    assert len(reference["signals"]) > 0 and len(reference["finals"]) == 60  # every mint idled out
    assert len(reference["history"]) <= len(stream) + 60
    assert _replay(stream, _everything_then_one_clock) == reference
    assert _replay(stream, _per_tick_shuffled_with_a_lagging_partition) == reference


def test_current_state_is_the_same_however_often_it_is_refreshed():
    stream = _stream(seed=7)
    states = []
    for refresh_every in (1, 7, 10_000):
        aggregator = ShardAggregator(AggregationConfig(), ["amm", "dca"])
        latest: dict[str, dict] = {}
        for i, (partition, trade) in enumerate(stream):
            aggregator.advance(partition, trade.block_time)
            aggregator.add_trade(trade)
            if i % refresh_every == 0:
                current = aggregator.current_rows()
                latest.update(
                    (row["mint"], row) for row in current.dicts(DEFAULT_WINDOWS) if current
                ) if current else None
        aggregator.finish()
        current = aggregator.current_rows()
        latest.update((row["mint"], row) for row in current.dicts(DEFAULT_WINDOWS)) if current else None
        states.append(latest)
    assert states[0] == states[1] == states[2] and len(states[0]) == 60


def test_snapshot_round_trip_mid_stream_gives_the_same_rows():
    stream = _stream(seed=5)
    reference = _replay(stream, _clock_after_each_trade)
    for cut in (1, 57, 200, 399):
        aggregator = ShardAggregator(AggregationConfig(), ["amm", "dca"])
        emitted = []
        for i, (partition, trade) in enumerate(stream):
            if i == cut:
                snapshot = aggregator.snapshot()
                aggregator = ShardAggregator.restore(AggregationConfig(), snapshot)
            emitted.append(aggregator.advance(partition, trade.block_time))
            aggregator.add_trade(trade)
        restored = pickle.loads(pickle.dumps(aggregator))  # the object itself pickles too
        for partition in ("amm", "dca"):
            emitted.append(restored.advance(partition, 20_000))
        assert _outputs([*emitted, restored.finish()], restored) == reference, f"cut at {cut}"


def test_restore_keeps_counters_and_checks_the_configuration():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1001))
    aggregator.advance("p", 1100)
    aggregator.add_trade(make_trade(1002))
    snapshot = aggregator.snapshot()
    restored = ShardAggregator.restore(AggregationConfig(), snapshot)
    assert restored.late_trades == 1 and restored.last_tick == 1095 and len(restored) == 1
    with pytest.raises(ValueError, match=r"windows \(60, 300, 900, 3600, 7200, 14400\) and tick 5 s.*tick 10 s"):
        ShardAggregator.restore(AggregationConfig(tick_s=10), snapshot)
    with pytest.raises(ValueError, match="not a ShardAggregator snapshot"):
        ShardAggregator.restore(AggregationConfig(), pickle.dumps({"state": 1}))
    widened = ShardAggregator.restore(AggregationConfig(), snapshot, partitions=["p", "q"])
    assert widened.advance("p", 1200) == Emitted()  # now waits for q as well
    assert aggregates(emitted_rows(widened.advance("q", 1200))).keys() == {1100}  # the late trade's tick


# --- configuration and row shape ------------------------------------------------------------------


def test_configuration_from_settings_and_its_checks():
    settings = Settings.from_env({"SOLFLOW_WINDOWS": "600,60,300", "SOLFLOW_AGG_TICK": "10"})
    config = aggregation_config(settings)
    assert config.windows == (60, 300, 600) and config.tick_s == 10
    aggregator = ShardAggregator(config, ["p"])
    aggregator.add_trade(make_trade(1001))
    row = aggregates(emitted_rows(aggregator.advance("p", 1011), config.windows))[1010]
    assert list(row) == list(aggregate_columns((60, 300, 600)))
    assert row["net_flow_600s_sol"] == 1.0 and "net_flow_900s_sol" not in row
    with pytest.raises(ValueError, match=r"lack \[60\]"):
        AggregationConfig(windows=(300, 900))
    with pytest.raises(ValueError, match="strictly increasing"):
        AggregationConfig(windows=(300, 60))
    with pytest.raises(ValueError, match="tick"):
        AggregationConfig(tick_s=0)


def test_rows_have_the_sink_schema_columns_and_types():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1001))
    row = aggregates(emitted_rows(aggregator.advance("p", 1006)))[1005]
    columns = aggregate_columns(AggregationConfig().windows)
    assert row.keys() == columns.keys() == {name for name, _ in sink_aggregate_columns(AggregationConfig().windows)}
    for name, kind in columns.items():
        assert row[name] is None or type(row[name]) is kind, name


# --- memory ----------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def test_memory_is_bounded_by_active_mints_and_idle_mints_are_dropped():
    mints = 100_000
    gc.collect()
    before = _rss_mb()
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    for i in range(mints):
        mint, t = f"mint{i:06d}", 10_000 + i % 600
        aggregator.add_trade(replace(_BASE, block_time=t, mint=mint, slot=2 * i))
        aggregator.add_trade(replace(_BASE, block_time=t, mint=mint, slot=2 * i + 1, direction="sell", trader="B"))
    held = _rss_mb()
    emitted = 0
    for clock in range(10_001, 10_702, 5):  # small steps: measure the state, not a burst of rows
        emitted += sum(map(len, aggregator.advance("p", clock).history))
    assert len(aggregator) == mints
    gc.collect()
    active = _rss_mb()
    snapshot_bytes = len(aggregator.snapshot())
    for clock in range(11_000, 27_000, 500):
        emitted += sum(map(len, aggregator.advance("p", clock).history))  # rows are dropped as they come
    assert emitted == 2 * mints  # each mint's trades enter, then its windows empty (an all-zero row)
    assert len(aggregator) == 0 and aggregator.is_empty
    assert len(aggregator.snapshot()) < 4000  # nothing left of the 100,000 mints
    assert snapshot_bytes < 1500 * mints  # regression guard on the per-mint state
    gc.collect()
    print(
        f"\n{mints} mints x 2 trades: RSS {before:.0f} MB before, {held:.0f} MB with the trades held, "
        f"{active:.0f} MB with every window active (~{(active - before) * 2**20 / mints:.0f} B/mint), "
        f"snapshot {snapshot_bytes / 2**20:.1f} MB ({snapshot_bytes / mints:.0f} B/mint); "
        f"after idling out: {len(aggregator)} mints, RSS {_rss_mb():.0f} MB"
    )
