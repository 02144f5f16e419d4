"""Replay mode: the source reads a capture file per partition, with the live filter and slot assembly."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import cluster_main, run_main
from test_source_support import (
    block_meta,
    clocks,
    delivered_txs,
    make_chain,
    metric,
    settings_for,
    signature,
    source_flow,
    transaction,
)

from protos import geyser_pb2
from solflow import run_control
from solflow.domain.programs import PROGRAM_NAMES, PUMPFUN, PUMPSWAP
from solflow.domain.stream import MALFORMED_UPDATE, Gap, SlotClock, SourceStopped, TxUpdate
from sources.capture import CaptureError
from sources.capture_demux import update_field
from sources.yellowstone import YellowstoneSource


def causes(error: BaseException) -> list[BaseException]:
    chain = []
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def test_each_partition_gets_exactly_its_programs_transactions_once(tmp_path: Path):
    chain = make_chain(40, skip_every=7)
    path = chain.write(tmp_path / "chain.capture")
    out: list = []
    cluster_main(source_flow(settings_for(replay_path=path), out), [], 0, worker_count_per_proc=2)
    for name in PROGRAM_NAMES:
        got = delivered_txs(out, name)
        assert sorted(got) == chain.expected_for([name]), name
        assert len(got) == len(set(got)), f"{name} emitted a transaction twice"
        # every slot of the capture gives this partition one clock, with the block time
        assert [(c.slot, c.block_time) for c in clocks(out) if c.partition == name] == sorted(chain.block_times.items())
    votes_or_failed = {signature(slot, kind) for slot in chain.slots for kind in ("vote", "failed")}
    assert not votes_or_failed & {sig for _, sig in delivered_txs(out)}


def test_transactions_carry_their_slots_block_time_and_come_before_its_clock(tmp_path: Path):
    chain = make_chain(6)
    out: list = []
    run_main(source_flow(settings_for(replay_path=chain.write(tmp_path / "c.capture"), programs=("pumpswap",)), out))
    clock_seen: set[int] = set()
    for item in out:
        if type(item) is TxUpdate:
            assert item.slot not in clock_seen
            assert item.block_time == chain.block_times[item.slot]
        elif type(item) is SlotClock:
            clock_seen.add(item.slot)
    assert clock_seen == set(chain.slots)


def test_single_layout_reads_one_partition_with_every_tracked_transaction_once(tmp_path: Path):
    chain = make_chain(12)
    out: list = []
    run_main(source_flow(settings_for(replay_path=chain.write(tmp_path / "c.capture", None), layout="single"), out))
    got = delivered_txs(out)
    assert {item.partition for item in out} == {"all"}
    assert sorted(got) == chain.expected_for(PROGRAM_NAMES)
    assert len(got) == len(set(got))


def test_settings_layouts_name_the_partitions():
    assert YellowstoneSource(settings_for()).list_parts() == list(PROGRAM_NAMES)
    assert YellowstoneSource(settings_for(programs=("pumpfun", "moonshot"))).list_parts() == ["pumpfun", "moonshot"]
    assert YellowstoneSource(settings_for(layout="single")).list_parts() == ["all"]


def test_a_restarted_flow_resumes_after_the_last_slot_it_handed_downstream(tmp_path: Path):
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    config = RecoveryConfig(str(recovery))
    first_part, longer = make_chain(18), make_chain(30)  # the same first 18 slots
    first: list = []
    second: list = []
    for chain, name, out in ((first_part, "a.capture", first), (longer, "b.capture", second)):
        settings = settings_for(replay_path=chain.write(tmp_path / name), programs=("pumpswap", "pumpfun"))
        run_main(source_flow(settings, out), epoch_interval=timedelta(seconds=0), recovery_config=config)
    last_first = max(first_part.slots)
    assert sorted(delivered_txs(first, "pumpswap")) == first_part.expected_for(["pumpswap"])
    after_first = [t for t in longer.expected_for(["pumpswap"]) if t[0] > last_first]
    assert sorted(delivered_txs(second, "pumpswap")) == after_first
    assert min(c.slot for c in clocks(second)) == last_first + 1


def test_missing_capture_is_one_error_naming_the_file(tmp_path: Path):
    missing = tmp_path / "nowhere.capture"
    with pytest.raises(Exception) as raised:
        run_main(source_flow(settings_for(replay_path=missing, programs=("pumpswap",)), []))
    errors = [e for e in causes(raised.value) if isinstance(e, CaptureError)]
    assert errors and str(missing) in str(errors[0])


def test_corrupt_capture_fails_with_the_file_named_after_delivering_what_was_readable(tmp_path: Path):
    chain = make_chain(10)
    path = chain.write(tmp_path / "cut.capture", compression=None)
    path.write_bytes(path.read_bytes()[:-200])  # cut inside the last slot
    out: list = []
    run_main(source_flow(settings_for(replay_path=path, programs=("pumpswap",)), out))
    # The run drains instead of raising inside the dataflow; the error is reported at exit.
    error = run_control.failure()
    assert isinstance(error, CaptureError) and str(path) in str(error) and "truncated" in str(error)
    assert delivered_txs(out)  # complete slots before the damage came through
    last = max(c.slot for c in clocks(out))
    # The slot cut short is not handed on in part: the next run (-r, or SOLFLOW_APPEND=on) reads it in full.
    assert all(tx.slot <= last for tx in out if type(tx) is TxUpdate)
    assert out[-1] == SourceStopped("pumpswap", "error", last, (last, ()))


def test_a_malformed_record_is_skipped_counted_and_the_rest_delivered(tmp_path: Path):
    chain = make_chain(4, programs=[PUMPSWAP, PUMPFUN])
    from sources.capture import CaptureWriter

    path = tmp_path / "bad.capture"
    with CaptureWriter(path, source="test", compression=None) as writer:
        for n, update in enumerate(chain.updates):
            writer.write(update)
            if n == 3:
                writer.write(b"\x0a\x60" + PUMPSWAP.id_bytes)  # claims 96 bytes, has 32
    before = metric("solflow_source_malformed_updates_total", partition="pumpswap")
    out: list = []
    run_main(source_flow(settings_for(replay_path=path, programs=("pumpswap",)), out))
    assert sorted(delivered_txs(out)) == chain.expected_for(["pumpswap"])
    assert metric("solflow_source_malformed_updates_total", partition="pumpswap") == before + 1
    [gap] = [item for item in out if type(item) is Gap]
    assert (gap.partition, gap.count, gap.reason) == ("pumpswap", 1, MALFORMED_UPDATE)


def test_replay_speed_paces_block_metas_by_block_time(tmp_path: Path):
    chain = make_chain(11, programs=[PUMPSWAP])  # 4 s of block time
    path = chain.write(tmp_path / "paced.capture")
    source = YellowstoneSource(settings_for(replay_path=path, programs=("pumpswap",), replay_speed=40.0))
    part = source.build_part("step", "pumpswap", None)
    items: list = []
    waits: list[datetime] = []
    try:
        while True:
            try:
                items.extend(part.next_batch())
            except StopIteration:
                break
            wake = part.next_awake()
            if wake is not None and wake > datetime.now(UTC) + timedelta(milliseconds=15):
                waits.append(wake)  # longer than the idle poll: the feed is waiting for a block time
            if wake is not None:
                time.sleep(max(0.0, (wake - datetime.now(UTC)).total_seconds()))
    finally:
        part.close()
    assert sorted(delivered_txs(items)) == chain.expected_for(["pumpswap"])
    assert len(waits) >= 3


def test_update_kind_is_read_from_the_tags_without_parsing():
    tx = transaction(1, signature(1), [PUMPSWAP.id_bytes])
    tx.filters.extend(["pumpswap", "x" * 200])
    meta = block_meta(2, 3)
    meta.created_at.seconds = 5
    assert update_field(tx.SerializeToString()) == 4
    assert update_field(meta.SerializeToString()) == 7
    assert update_field(b"") == 0


def _drain(part, items: list) -> bool:
    """Poll once; False at the end of the partition."""
    try:
        items.extend(part.next_batch())
        return True
    except StopIteration:
        return False


def test_partitions_built_together_share_one_read_of_the_capture_and_late_ones_read_it_again(tmp_path: Path):
    chain = make_chain(30, programs=[PUMPSWAP, PUMPFUN])
    path = chain.write(tmp_path / "c.capture")
    source = YellowstoneSource(settings_for(replay_path=path, programs=("pumpswap", "pumpfun")))
    swap, fun = source.build_part("s", "pumpswap", None), source.build_part("s", "pumpfun", None)
    got = {"pumpswap": [], "pumpfun": [], "late": []}
    try:
        assert _drain(swap, got["pumpswap"])
        assert fun._feed.buffered > 0  # pumpfun's updates were read along with pumpswap's
        late = source.build_part("s", "pumpfun", None)  # after reading began: a pass of its own
        try:
            while _drain(swap, got["pumpswap"]) | _drain(fun, got["pumpfun"]) | _drain(late, got["late"]):
                pass
        finally:
            late.close()
    finally:
        swap.close()
        fun.close()
    assert sorted(delivered_txs(got["pumpswap"])) == chain.expected_for(["pumpswap"])
    assert sorted(delivered_txs(got["pumpfun"])) == chain.expected_for(["pumpfun"])
    assert sorted(delivered_txs(got["late"])) == chain.expected_for(["pumpfun"])


def test_a_partition_that_is_not_polled_pauses_the_shared_read_instead_of_piling_up(tmp_path: Path, monkeypatch):
    import sources.capture_demux as demux

    monkeypatch.setattr(demux, "QUEUE_LIMIT", 50)
    monkeypatch.setattr(demux, "RECORDS_PER_READ", 20)
    chain = make_chain(40, programs=[PUMPSWAP, PUMPFUN])
    path = chain.write(tmp_path / "c.capture")
    source = YellowstoneSource(settings_for(replay_path=path, programs=("pumpswap", "pumpfun")))
    swap, fun = source.build_part("s", "pumpswap", None), source.build_part("s", "pumpfun", None)
    got: dict[str, list] = {"pumpswap": [], "pumpfun": []}
    try:
        for _ in range(100):  # only pumpswap is polled
            _drain(swap, got["pumpswap"])
        assert fun._feed.buffered < 50 + 20
        assert len(delivered_txs(got["pumpswap"])) < len(chain.expected_for(["pumpswap"]))
        while _drain(swap, got["pumpswap"]) | _drain(fun, got["pumpfun"]):
            pass
    finally:
        swap.close()
        fun.close()
    for name in got:
        assert sorted(delivered_txs(got[name])) == chain.expected_for([name])


def test_each_partition_logs_its_rates_every_10000_updates(tmp_path: Path, caplog):
    chain = make_chain(1_050, txs_per_program=9, programs=[PUMPSWAP])  # 10 updates a slot for pumpswap
    settings = settings_for(replay_path=chain.write(tmp_path / "long.capture"), programs=("pumpswap",))
    with caplog.at_level(logging.INFO, logger="sources.yellowstone"):
        run_main(source_flow(settings, []))
    lines = [r.getMessage() for r in caplog.records if "updates (" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("partition pumpswap: 10") and "/s)" in lines[0]


def test_transactions_of_a_dead_slot_are_discarded_counted_and_logged(tmp_path: Path, caplog):
    chain = make_chain(3, programs=[PUMPSWAP])
    dead = geyser_pb2.SubscribeUpdate()
    dead.slot.slot = chain.slots[1]
    dead.slot.status = geyser_pb2.SLOT_DEAD
    metas = [i for i, u in enumerate(chain.updates) if u.HasField("block_meta")]
    chain.updates[metas[1]] = dead  # the slot died instead of completing
    before = metric("solflow_source_dead_slot_transactions_total", partition="pumpswap")
    out: list = []
    with caplog.at_level(logging.WARNING, logger="sources.yellowstone"):
        settings = settings_for(replay_path=chain.write(tmp_path / "d.capture"), programs=("pumpswap",))
        run_main(source_flow(settings, out))
    lost = [t for t in chain.expected_for(["pumpswap"]) if t[0] == dead.slot.slot]
    assert sorted(delivered_txs(out)) == [t for t in chain.expected_for(["pumpswap"]) if t not in lost]
    assert metric("solflow_source_dead_slot_transactions_total", partition="pumpswap") == before + len(lost)
    assert "dead slots" in caplog.text
