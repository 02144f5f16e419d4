"""The benchmark's input: a simulated capture, generated once and cached, and its records in memory.

A capture is keyed by transaction count, seed and a fingerprint of the simulator's source, so a
changed simulator never hands the benchmark a stale file. Files are written through
``CaptureWriter`` (temporary name, rename on close), so two benchmarks sharing the cache never see
a half-written capture.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import solflow.simulator
from protos import geyser_pb2
from sources.capture import CaptureReader, CaptureWriter

START_TIME = 1_764_000_000


@dataclass(frozen=True, slots=True)
class Records:
    """A capture's raw ``SubscribeUpdate`` bytes in order, and which of them are transactions."""

    raw: list[bytes]
    is_transaction: list[bool]

    @property
    def transactions(self) -> int:
        return sum(self.is_transaction)


def simulator_fingerprint() -> str:
    digest = hashlib.sha256()
    package = Path(solflow.simulator.__file__).parent
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def capture_path(transactions: int, seed: int, cache_dir: Path) -> Path:
    """Where the simulated capture of ``transactions`` transactions for ``seed`` is cached."""
    return cache_dir / f"sim-{transactions}-seed{seed}-{simulator_fingerprint()}.capture"


def cached_capture(transactions: int, seed: int, cache_dir: Path) -> tuple[Path, bool]:
    """The simulated capture of ``transactions`` transactions for ``seed``; True when it was generated now."""
    path = capture_path(transactions, seed, cache_dir)
    if path.is_file():
        return path, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    created_at = datetime.fromtimestamp(START_TIME, UTC)
    with CaptureWriter(path, source=f"solflow bench simulator seed={seed}", created_at=created_at) as writer:
        for simulated in solflow.simulator.simulate(transactions, seed, start_time=START_TIME):
            writer.write(simulated.update)
    return path, True


def load_records(path: Path) -> Records:
    parse = geyser_pb2.SubscribeUpdate.FromString
    with CaptureReader(path) as reader:
        raw = list(reader)
    return Records(raw, [parse(record).HasField("transaction") for record in raw])


def head_capture(records: Records, transactions: int, path: Path) -> Records:
    """Write the records up to the block meta of the slot holding the ``transactions``-th
    transaction (a whole number of slots) to ``path``, unless it exists; return those records."""
    parse = geyser_pb2.SubscribeUpdate.FromString
    seen = 0
    end = len(records.raw)
    for index, (record, is_transaction) in enumerate(zip(records.raw, records.is_transaction)):
        if is_transaction:
            seen += 1
        elif seen >= transactions and parse(record).HasField("block_meta"):
            end = index + 1
            break
    head = Records(records.raw[:end], records.is_transaction[:end])
    if not path.is_file():
        with CaptureWriter(
            path, source="solflow bench head", created_at=datetime.fromtimestamp(START_TIME, UTC)
        ) as writer:
            for record in head.raw:
                writer.write(record)
    return head
