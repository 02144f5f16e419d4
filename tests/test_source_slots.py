"""Slot assembly and resume points: when slots are released, dedup of replays, stragglers, dead slots."""

from __future__ import annotations

from test_source_support import block_meta, signature, transaction

from protos import geyser_pb2
from solflow.domain.stream import SlotClock, TxUpdate
from sources.slots import RELEASE_DISTANCE_SLOTS, RESUME_WINDOW_SLOTS, ResumePoint, SlotAssembler

PID = bytes(32)
CONFIRMED = geyser_pb2.CONFIRMED


def tx(slot: int, n: int) -> geyser_pb2.SubscribeUpdate:
    return transaction(slot, signature(slot, n), [PID])


def slot_status(slot: int, status: int) -> geyser_pb2.SubscribeUpdate:
    update = geyser_pb2.SubscribeUpdate()
    update.slot.slot = slot
    update.slot.status = status
    return update


def feed(assembler: SlotAssembler, *updates: geyser_pb2.SubscribeUpdate) -> list:
    out: list = []
    for update in updates:
        assembler.push(update, out)
    return out


def shape(items: list) -> list[tuple]:
    return [
        ("tx", item.slot, item.block_time, item.info.signature)
        if type(item) is TxUpdate
        else ("clock", item.slot, item.block_time)
        for item in items
    ]


def test_slot_is_released_on_its_block_meta_in_arrival_order_then_one_clock():
    assembler = SlotAssembler("p", CONFIRMED)
    assert feed(assembler, tx(10, 2), tx(11, 0), tx(10, 1)) == []
    out = feed(assembler, block_meta(10, 1_000))
    assert shape(out) == [
        ("tx", 10, 1_000, signature(10, 2)),
        ("tx", 10, 1_000, signature(10, 1)),
        ("clock", 10, 1_000),
    ]
    assert all(item.partition == "p" for item in out)
    assert assembler.held_transactions == 1
    assert assembler.max_released_slot == 10


def test_block_meta_of_a_quiet_slot_still_gives_a_clock():
    assembler = SlotAssembler("p", CONFIRMED)
    assert feed(assembler, block_meta(7, 99)) == [SlotClock("p", 7, 99)]


def test_slot_status_at_or_above_the_commitment_releases_without_block_time():
    assembler = SlotAssembler("p", CONFIRMED)
    assert feed(assembler, tx(5, 0), slot_status(5, geyser_pb2.SLOT_PROCESSED)) == []
    assert feed(assembler, slot_status(5, geyser_pb2.SLOT_COMPLETED)) == []  # not a commitment level
    out = feed(assembler, slot_status(5, geyser_pb2.SLOT_CONFIRMED))
    assert shape(out) == [("tx", 5, None, signature(5, 0)), ("clock", 5, None)]
    # the block meta that follows adds the block time as a second clock; nothing is re-emitted
    assert feed(assembler, block_meta(5, 123)) == [SlotClock("p", 5, 123)]
    assert feed(assembler, block_meta(5, 123)) == []
    assert assembler.duplicates == 1


def test_slot_is_released_once_the_stream_is_far_past_it():
    assembler = SlotAssembler("p", CONFIRMED)
    feed(assembler, tx(100, 0))
    assert feed(assembler, block_meta(100 + RELEASE_DISTANCE_SLOTS - 1, 1)) == [
        SlotClock("p", 100 + RELEASE_DISTANCE_SLOTS - 1, 1)
    ]
    out = feed(assembler, tx(100 + RELEASE_DISTANCE_SLOTS, 0))
    assert shape(out) == [("tx", 100, None, signature(100, 0)), ("clock", 100, None)]


def test_end_of_stream_releases_held_slots_in_slot_order():
    assembler = SlotAssembler("p", CONFIRMED)
    feed(assembler, tx(9, 0), tx(8, 0))
    out: list = []
    assembler.finish(out)
    assert shape(out) == [
        ("tx", 8, None, signature(8, 0)),
        ("clock", 8, None),
        ("tx", 9, None, signature(9, 0)),
        ("clock", 9, None),
    ]


def test_replayed_transactions_and_block_metas_are_dropped_by_slot_and_signature():
    assembler = SlotAssembler("p", CONFIRMED)
    first = feed(assembler, tx(1, 0), tx(1, 1), block_meta(1, 50), tx(2, 0))
    # a reconnect replays from slot 1: everything again, plus a transaction never seen before
    replay = feed(assembler, tx(1, 0), tx(1, 1), block_meta(1, 50), tx(2, 0), tx(2, 1), block_meta(2, 51))
    assert shape(first) == [("tx", 1, 50, signature(1, 0)), ("tx", 1, 50, signature(1, 1)), ("clock", 1, 50)]
    assert shape(replay) == [("tx", 2, 51, signature(2, 0)), ("tx", 2, 51, signature(2, 1)), ("clock", 2, 51)]
    assert assembler.duplicates == 4


def test_same_signature_in_another_slot_is_another_transaction():
    assembler = SlotAssembler("p", CONFIRMED)
    same = transaction(4, signature("x"), [PID])
    moved = transaction(5, signature("x"), [PID])
    out = feed(assembler, same, moved, block_meta(4, 1), block_meta(5, 2))
    delivered = [(i.slot, i.info.signature) for i in out if type(i) is TxUpdate]
    assert delivered == [(4, signature("x")), (5, signature("x"))]


def test_a_straggler_for_a_released_slot_is_delivered_late_with_its_block_time():
    assembler = SlotAssembler("p", CONFIRMED)
    feed(assembler, tx(3, 0), block_meta(3, 77))
    assert shape(feed(assembler, tx(3, 9))) == [("tx", 3, 77, signature(3, 9))]
    assert feed(assembler, tx(3, 9)) == []


def test_a_transaction_for_a_slot_long_gone_is_delivered_at_once():
    assembler = SlotAssembler("p", CONFIRMED)
    feed(assembler, block_meta(500, 1))
    assert shape(feed(assembler, tx(400, 0))) == [("tx", 400, None, signature(400, 0))]
    assert assembler.held_transactions == 0


def test_dead_slot_transactions_are_discarded_and_counted():
    assembler = SlotAssembler("p", geyser_pb2.PROCESSED)
    assert feed(assembler, tx(6, 0), tx(6, 1), slot_status(6, geyser_pb2.SLOT_DEAD)) == []
    assert feed(assembler, tx(6, 2), block_meta(6, 1)) == []
    assert assembler.dead_discarded == 3
    assert assembler.held_transactions == 0


def test_updates_at_or_below_the_resume_slot_are_skipped():
    assembler = SlotAssembler("p", CONFIRMED, resume_slot=20)
    out = feed(assembler, tx(20, 0), block_meta(20, 1), tx(21, 0), block_meta(21, 2))
    assert shape(out) == [("tx", 21, 2, signature(21, 0)), ("clock", 21, 2)]
    assert assembler.resumed_skipped == 2


def test_the_position_is_before_the_oldest_open_slot_and_a_resume_skips_what_was_released_after_it():
    assembler = SlotAssembler("p", CONFIRMED)
    assert assembler.position() is None
    feed(assembler, tx(10, 0), block_meta(10, 1), tx(11, 0), tx(12, 0), block_meta(12, 2))
    assert assembler.position() == (10, (12,))  # 11 is open: it comes again in full
    resumed = SlotAssembler("p", CONFIRMED, *assembler.position())
    out = feed(resumed, tx(10, 0), block_meta(10, 1), tx(11, 0), tx(11, 1), block_meta(11, 3))
    out += feed(resumed, tx(12, 0), block_meta(12, 2), tx(13, 0), block_meta(13, 4))
    assert shape(out) == [
        ("tx", 11, 3, signature(11, 0)),
        ("tx", 11, 3, signature(11, 1)),
        ("clock", 11, 3),
        ("tx", 13, 4, signature(13, 0)),
        ("clock", 13, 4),
    ]
    assert resumed.position() == (13, ())


def test_dedup_memory_is_bounded_by_the_resume_window():
    assembler = SlotAssembler("p", CONFIRMED)
    for slot in range(1, 3 * RESUME_WINDOW_SLOTS):
        feed(assembler, tx(slot, 0), block_meta(slot, slot))
    assert len(assembler._released) <= RESUME_WINDOW_SLOTS + 1


def test_resume_point_starts_where_told_then_follows_complete_and_open_slots():
    point = ResumePoint(start_slot=41)
    assert point.from_slot == 41
    point.saw_transaction(50)
    assert point.from_slot == 50  # open: its block meta has not arrived
    point.saw_block_meta(50)
    point.saw_transaction(51)
    point.saw_transaction(52)
    point.saw_block_meta(52)
    assert point.from_slot == 51  # 51 is still open, 52 complete
    point.saw_block_meta(51)
    assert point.from_slot == 52
    point.saw_transaction(60)
    point.saw_slot(60 + RELEASE_DISTANCE_SLOTS)
    assert point.from_slot == 52  # slot 60 left behind counts as complete


def test_resume_point_without_anything_seen_is_the_head():
    assert ResumePoint().from_slot is None
    point = ResumePoint()
    point.saw_slot(9)
    assert point.from_slot == 9


def test_resume_point_forgets_what_a_refused_replay_skipped():
    point = ResumePoint(start_slot=10)
    point.saw_transaction(12)
    point.forget_before(90)
    point.saw_transaction(90)
    assert point.from_slot == 90
