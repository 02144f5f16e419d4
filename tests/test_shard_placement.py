"""Aggregation shards spread evenly over Bytewax workers: shard ``i`` runs on worker ``i % W``.

The shard names are chosen with Bytewax's own key routing (``flows.decoding.bytewax_route``); real
``cluster_main`` runs show where each key's state actually lives."""

from __future__ import annotations

import threading

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, cluster_main

from flows.decoding import shard_keys


def _threads_of(keys: tuple[str, ...], workers: int) -> dict[str, int]:
    """The thread (one per worker) on which each key's state ran."""
    placed: dict[str, int] = {}
    flow = Dataflow("placement")
    items = op.input("keys", flow, TestingSource([(key, 1) for key in keys]))
    states = op.stateful_map("where", items, lambda state, _value: (None, threading.get_ident()))
    op.inspect("record", states, lambda _step, item: placed.__setitem__(*item))
    cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return placed


@pytest.mark.parametrize(("shards", "workers"), [(4, 2), (4, 4), (8, 2), (6, 3)])
def test_shard_i_runs_on_worker_i_mod_workers(shards: int, workers: int) -> None:
    keys = shard_keys(shards)
    placed = _threads_of(keys, workers)
    assert len(set(placed.values())) == workers, "every worker gets shards"
    for i, first in enumerate(keys):
        for j, second in enumerate(keys):
            assert (placed[first] == placed[second]) == (i % workers == j % workers), (first, second)


def test_shard_names_are_stable() -> None:
    assert shard_keys(4) == shard_keys(8)[:4]
    assert len(set(shard_keys(16))) == 16
