"""Prometheus metrics of the Yellowstone source, labelled by partition, and their HTTP endpoint.

The metrics live in the default ``prometheus_client`` registry, so ``bytewax.run``'s own API
endpoint shows them too; ``serve_metrics`` additionally serves them on ``SOLFLOW_METRICS_PORT``
(127.0.0.1), started at most once per process whatever the number of workers.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter, Gauge, start_http_server

log = logging.getLogger(__name__)

RECEIVED = Counter(
    "solflow_source_updates_received", "Updates received from the stream, by kind", ["partition", "type"]
)
DROPPED = Counter("solflow_source_updates_dropped", "Updates dropped on a full buffer", ["partition"])
BUFFER_DEPTH = Gauge("solflow_source_buffer_depth", "Updates waiting between reader and dataflow", ["partition"])
SLOT_LAG = Gauge(
    "solflow_source_slot_lag", "Newest slot seen on the stream minus the last slot handed downstream", ["partition"]
)
RECONNECTS = Counter("solflow_source_reconnects", "Reconnect attempts after a stream ended or failed", ["partition"])
REPLAYED = Counter(
    "solflow_source_replayed_updates", "Updates dropped as duplicates of ones already delivered", ["partition"]
)
GAPS = Counter("solflow_source_gaps", "Gap records emitted (data known to be lost)", ["partition", "reason"])
LAST_SLOT = Gauge("solflow_source_last_processed_slot", "Last slot handed downstream", ["partition"])
MALFORMED = Counter(
    "solflow_source_malformed_updates", "Received messages that were not valid SubscribeUpdates", ["partition"]
)
DEAD_SLOT_TRANSACTIONS = Counter(
    "solflow_source_dead_slot_transactions",
    "Transactions discarded because their slot died (never on chain)",
    ["partition"],
)
PINGS_ANSWERED = Counter("solflow_source_pings_answered", "Server pings answered with a ping request", ["partition"])

_server_lock = threading.Lock()
_server_port: int | None = None  # the first port asked for: only one server per process
_server_up = False


class PartitionMetrics:
    """The metric children of one partition, resolved once (label lookups are not free)."""

    def __init__(self, partition: str):
        self.partition = partition
        self.transactions = RECEIVED.labels(partition, "transaction")
        self.block_metas = RECEIVED.labels(partition, "block_meta")
        self.slots = RECEIVED.labels(partition, "slot")
        self.pings = RECEIVED.labels(partition, "ping")
        self.pongs = RECEIVED.labels(partition, "pong")
        self.other = RECEIVED.labels(partition, "other")
        self.dropped = DROPPED.labels(partition)
        self.buffer_depth = BUFFER_DEPTH.labels(partition)
        self.slot_lag = SLOT_LAG.labels(partition)
        self.reconnects = RECONNECTS.labels(partition)
        self.replayed = REPLAYED.labels(partition)
        self.last_slot = LAST_SLOT.labels(partition)
        self.malformed = MALFORMED.labels(partition)
        self.pings_answered = PINGS_ANSWERED.labels(partition)
        self.dead_slot_transactions = DEAD_SLOT_TRANSACTIONS.labels(partition)
        self._by_kind = {
            "transaction": self.transactions,
            "block_meta": self.block_metas,
            "slot": self.slots,
            "ping": self.pings,
            "pong": self.pongs,
        }

    def received(self, kind: str | None) -> Counter:
        """The received-updates counter for an update kind (``WhichOneof`` name)."""
        return self._by_kind.get(kind or "", self.other)

    def gap(self, reason: str) -> None:
        GAPS.labels(self.partition, reason).inc()


def serve_metrics(port: int) -> int | None:
    """Serve the registry on 127.0.0.1:``port``, at most once per process; returns the port this
    process serves on (the first one asked for), or ``None`` if it could not bind.

    A port already taken (another SolFlow process on this host) is logged once, not fatal.
    """
    global _server_port, _server_up
    with _server_lock:
        if _server_port is None:
            _server_port = port
            try:
                start_http_server(port, addr="127.0.0.1")
                _server_up = True
                log.info("metrics served on http://127.0.0.1:%d/metrics", port)
            except OSError as exc:
                log.warning("metrics not served on 127.0.0.1:%d: %s", port, exc.strerror or exc)
        return _server_port if _server_up else None
