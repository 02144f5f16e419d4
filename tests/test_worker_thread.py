"""Bytewax worker threads keep one Python thread state once ``keep_thread_state`` ran on them."""

from __future__ import annotations

import threading

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main

from sources.worker_thread import keep_thread_state


def _calls_seen_by_thread_local(keep: bool) -> list[int]:
    """Run a two-worker flow whose mapper counts its calls in a ``threading.local``."""
    local = threading.local()
    seen: list[int] = []

    def count(item: int) -> int:
        if keep:
            keep_thread_state()
        before = getattr(local, "calls", 0)
        local.calls = before + 1
        return before

    flow = Dataflow("thread_state")
    counted = op.map("count", op.input("numbers", flow, TestingSource(range(50))), count)
    op.output("out", counted, TestingSink(seen))
    cluster_main(flow, [], 0, worker_count_per_proc=2)
    return seen


def test_without_it_every_callback_gets_a_fresh_thread_state() -> None:
    # What the helper works around: Bytewax's worker threads lose their Python state between calls.
    assert _calls_seen_by_thread_local(keep=False) == [0] * 50


def test_with_it_the_worker_thread_keeps_its_state() -> None:
    assert _calls_seen_by_thread_local(keep=True) == list(range(50))
