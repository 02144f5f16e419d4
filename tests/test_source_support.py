"""Helpers shared by the ``test_source_*`` files: small synthetic chains, flow runs, server spies.

The chain is built here from hand-made ``SubscribeUpdate``s (not mainnet data): per slot, some
transactions of each tracked program, one vote and one failed transaction (which the source's
filter must never deliver), one transaction touching two programs, then the slot's block meta.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Any

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from protos import geyser_pb2
from solflow.domain.programs import PROGRAMS, Program
from solflow.domain.stream import Gap, SlotClock, TxUpdate
from solflow.server import filters as server_filters
from solflow.settings import Settings
from sources.capture import CaptureWriter
from sources.yellowstone import YellowstoneSource

FIRST_SLOT = 300_000_000
FIRST_BLOCK_TIME = 1_760_000_000
_PAYER = bytes(range(1, 33))
_VOTE_PROGRAM = bytes(range(100, 132))


def signature(*parts: object) -> bytes:
    return hashlib.sha512(":".join(map(str, parts)).encode()).digest()


def transaction(
    slot: int,
    sig: bytes,
    keys: Iterable[bytes],
    *,
    vote: bool = False,
    failed: bool = False,
    loaded: Iterable[bytes] = (),
    log_bytes: int = 0,
) -> geyser_pb2.SubscribeUpdate:
    update = geyser_pb2.SubscribeUpdate()
    tx = update.transaction
    tx.slot = slot
    info = tx.transaction
    info.signature = sig
    info.is_vote = vote
    info.transaction.signatures.append(sig)
    info.transaction.message.account_keys.extend([_PAYER, *keys])
    info.meta.fee = 5000
    info.meta.loaded_readonly_addresses.extend(loaded)
    if log_bytes:
        info.meta.log_messages.append("Program log: " + "x" * log_bytes)
    if failed:
        info.meta.err.err = bytes.fromhex("0800000002190000007117000000")
    return update


def block_meta(slot: int, block_time: int) -> geyser_pb2.SubscribeUpdate:
    update = geyser_pb2.SubscribeUpdate()
    update.block_meta.slot = slot
    update.block_meta.blockhash = f"hash{slot}"
    update.block_meta.parent_slot = slot - 1
    update.block_meta.block_time.timestamp = block_time
    return update


@dataclass
class Chain:
    """A synthetic capture and what each partition must receive from it."""

    updates: list[geyser_pb2.SubscribeUpdate]
    expected: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)  # program -> (slot, sig) in order
    block_times: dict[int, int] = field(default_factory=dict)

    @property
    def slots(self) -> list[int]:
        return sorted(self.block_times)

    def expected_for(self, programs: Iterable[str]) -> list[tuple[int, bytes]]:
        seen: dict[tuple[int, bytes], None] = {}
        for name in programs:
            seen.update(dict.fromkeys(self.expected[name]))
        return sorted(seen)

    def write(self, path: Path, compression: str | None = "zstd") -> Path:
        with CaptureWriter(path, source="test_source_support", compression=compression) as writer:
            for update in self.updates:
                writer.write(update)
        return path


def make_chain(
    slots: int,
    txs_per_program: int = 2,
    programs: Iterable[Program] = PROGRAMS,
    first_slot: int = FIRST_SLOT,
    skip_every: int = 0,
    log_bytes: int = 0,
) -> Chain:
    """``slots`` slots (every ``skip_every``-th one skipped, as on mainnet) of synthetic traffic."""
    programs = tuple(programs)
    chain = Chain(updates=[], expected={p.name: [] for p in PROGRAMS})
    for n in range(slots):
        slot = first_slot + n
        if skip_every and n % skip_every == skip_every - 1:
            continue
        for i in range(txs_per_program):
            for program in programs:
                sig = signature(slot, i, program.name)
                chain.updates.append(transaction(slot, sig, [program.id_bytes], log_bytes=log_bytes))
                chain.expected[program.name].append((slot, sig))
        chain.updates.append(transaction(slot, signature(slot, "vote"), [_VOTE_PROGRAM], vote=True))
        failed_program = programs[n % len(programs)]
        chain.updates.append(transaction(slot, signature(slot, "failed"), [failed_program.id_bytes], failed=True))
        if len(programs) > 1:
            first, second = programs[n % len(programs)], programs[(n + 1) % len(programs)]
            sig = signature(slot, "both")
            # the second program only through an address lookup table: combined-key matching
            chain.updates.append(transaction(slot, sig, [first.id_bytes], loaded=[second.id_bytes]))
            chain.expected[first.name].append((slot, sig))
            chain.expected[second.name].append((slot, sig))
        block_time = FIRST_BLOCK_TIME + (n * 2) // 5  # 400 ms slots
        chain.updates.append(block_meta(slot, block_time))
        chain.block_times[slot] = block_time
    return chain


def settings_for(url: str | None = None, **overrides: Any) -> Settings:
    base = Settings(
        geyser_url=url,
        stall_timeout_s=5.0,
        backoff_initial_s=0.02,
        backoff_max_s=0.2,
        buffer_size=100_000,
    )
    return replace(base, **overrides)


def delivered_txs(items: Iterable[Any], partition: str | None = None) -> list[tuple[int, bytes]]:
    return [
        (item.slot, item.info.signature)
        for item in items
        if type(item) is TxUpdate and (partition is None or item.partition == partition)
    ]


def clocks(items: Iterable[Any]) -> list[SlotClock]:
    return [item for item in items if type(item) is SlotClock]


def gaps(items: Iterable[Any]) -> list[Gap]:
    return [item for item in items if type(item) is Gap]


def source_flow(settings: Settings, out: list, step: Callable[[Any], Any] | None = None) -> Dataflow:
    flow = Dataflow("source_test")
    items = op.input("yellowstone", flow, YellowstoneSource(settings))
    if step is not None:
        items = op.map("consumer", items, step)
    op.output("collect", items, TestingSink(out))
    return flow


class FlowThread:
    """``run_main`` of a flow in a background thread, so a test can act on the server meanwhile."""

    def __init__(self, flow: Dataflow, **run_kwargs: Any):
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(flow, run_kwargs), daemon=True)
        self._thread.start()

    def _run(self, flow: Dataflow, run_kwargs: dict) -> None:
        try:
            run_main(flow, **run_kwargs)
        except BaseException as exc:  # handed to the test by join()
            self.error = exc

    def join(self, timeout: float = 60.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"flow still running after {timeout} s"
        if self.error is not None:
            raise self.error


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)


class RequestSpy:
    """Records every ``SubscribeRequest`` the replay server receives (its filter parser sees each)."""

    def __init__(self, monkeypatch: Any):
        self.requests: list[geyser_pb2.SubscribeRequest] = []
        original = server_filters.FilterSet.from_request

        def recording(request: geyser_pb2.SubscribeRequest):
            copy = geyser_pb2.SubscribeRequest()
            copy.CopyFrom(request)
            self.requests.append(copy)
            return original(request)

        monkeypatch.setattr(server_filters.FilterSet, "from_request", staticmethod(recording))

    @property
    def subscriptions(self) -> list[geyser_pb2.SubscribeRequest]:
        return [r for r in self.requests if not r.HasField("ping")]

    @property
    def pings(self) -> list[geyser_pb2.SubscribeRequest]:
        return [r for r in self.requests if r.HasField("ping")]


def metric(name: str, **labels: str) -> float:
    """Current value of one of the source's Prometheus samples (0 when never touched)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def poll(part: Any, until: Callable[[list], bool], timeout: float = 30.0) -> list:
    """Drive a source partition the way Bytewax does (honouring ``next_awake``) until ``until(items)``
    holds or the partition ends."""
    from datetime import datetime

    items: list = []
    deadline = time.monotonic() + timeout
    while not until(items):
        assert time.monotonic() < deadline, f"partition did not get there in {timeout} s: {items[-3:]}"
        try:
            items.extend(part.next_batch())
        except StopIteration:
            break
        wake = part.next_awake()
        if wake is not None:
            time.sleep(max(0.0, (wake - datetime.now(UTC)).total_seconds()))
    return items
