"""gRPC measures against a real replay server (``solflow serve`` subprocess on 127.0.0.1).

* ``grpc_raw``: a bare grpcio ``Subscribe`` stream (generated stub, the source's own subscription
  request) read to its end -- what any Python consumer of the stream can get;
* ``grpc_source``: ``YellowstoneSource`` (``single`` layout, so it reads the same one stream)
  polled as Bytewax polls it, until the stream ends;
* drops: the source once more against a server paced at 0.8 x the raw rate; what it lost is
  the transactions it never delivered plus those it reported in ``Gap`` items.

The server runs in its own process so it never competes with the client for the GIL.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc

from protos import geyser_pb2_grpc
from solflow.bench import BenchError
from solflow.domain.programs import PROGRAMS
from solflow.domain.stream import Gap, TxUpdate
from solflow.settings import Settings
from sources.geyser_client import subscribe_request
from sources.yellowstone import SINGLE_PARTITION, YellowstoneSource

REPO_ROOT = Path(__file__).resolve().parents[2]
STALL_LIMIT_S = 60.0  # a source that delivers nothing for this long has failed the benchmark
_MAX_MESSAGE = 64 << 20


@dataclass(frozen=True, slots=True)
class StreamRun:
    seconds: float
    transactions: int
    updates: int  # transactions and block metas
    dropped: int = 0  # transactions the source reported lost in Gap items


class ReplayProcess:
    """``solflow serve CAPTURE --port 0 [--rate R]`` in a subprocess; ``port`` once it listens."""

    def __init__(self, capture: Path, rate: float | None = None):
        argv = [sys.executable, "-m", "solflow.cli.main", "serve", str(capture), "--port", "0"]
        if rate is not None:
            argv += ["--rate", f"{rate:.3f}"]
        self._errors = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on it
        self._process = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._errors, text=True)
        banner = self._process.stdout.readline() if self._process.stdout else ""
        if " on 127.0.0.1:" not in banner:
            self._process.wait()
            self._errors.seek(0)
            errors = self._errors.read().decode(errors="replace").strip().splitlines()
            self.close()
            raise BenchError(f"replay server did not start: {banner.strip() or ' | '.join(errors[-3:])}")
        self.port = int(banner.split(" on 127.0.0.1:", 1)[1].split(":", 1)[0])

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        self._errors.close()

    def __enter__(self) -> ReplayProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def raw_stream(capture: Path) -> StreamRun:
    """Read the whole capture through a plain grpcio stream."""
    with ReplayProcess(capture) as server:
        channel = grpc.insecure_channel(
            f"127.0.0.1:{server.port}", options=[("grpc.max_receive_message_length", _MAX_MESSAGE)]
        )
        try:
            stub = geyser_pb2_grpc.GeyserStub(channel)
            request = subscribe_request(PROGRAMS, "confirmed")
            transactions = metas = 0
            started = time.perf_counter()
            for update in stub.Subscribe(iter([request])):
                kind = update.WhichOneof("update_oneof")
                if kind == "transaction":
                    transactions += 1
                elif kind == "block_meta":
                    metas += 1
            seconds = time.perf_counter() - started
        finally:
            channel.close()
    return StreamRun(seconds, transactions, transactions + metas)


def source_stream(capture: Path, rate: float | None = None) -> StreamRun:
    """Read the whole capture through ``YellowstoneSource``, the server paced at ``rate`` updates/s."""
    with ReplayProcess(capture, rate) as server:
        settings = Settings(geyser_url=f"http://127.0.0.1:{server.port}", layout="single", progress="off")
        started = time.perf_counter()
        partition = YellowstoneSource(settings).build_part("bench", SINGLE_PARTITION, None)
        transactions = metas = dropped = 0
        last_progress = started
        try:
            while True:
                try:
                    batch = partition.next_batch()
                except StopIteration:
                    break
                for item in batch:
                    if isinstance(item, TxUpdate):
                        transactions += 1
                    elif isinstance(item, Gap):
                        dropped += item.count or 0
                    else:
                        metas += 1
                now = time.perf_counter()
                if batch:
                    last_progress = now
                    continue
                if now - last_progress > STALL_LIMIT_S:
                    raise BenchError(f"the source delivered nothing for {STALL_LIMIT_S:.0f} s")
                _sleep_until(partition.next_awake())
            seconds = time.perf_counter() - started
        finally:
            partition.close()
    return StreamRun(seconds, transactions, transactions + metas, dropped)


def _sleep_until(wake: datetime | None) -> None:
    if wake is None:
        return
    delay = (wake - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)
