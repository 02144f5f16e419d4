"""Prometheus metrics of the Yellowstone source, labelled by partition, and their HTTP endpoint.

The metrics live in the default ``prometheus_client`` registry, so ``bytewax.run``'s own API
endpoint shows them too; ``serve_metrics`` additionally serves them on ``SOLFLOW_METRICS_ADDR``
(default 127.0.0.1) and ``SOLFLOW_METRICS_PORT`` (plus the process id in a multi-process run, see
``flows.solflow``), started at most once per process whatever the number of workers:

* ``/metrics`` (and any other path, as ``prometheus_client`` does): the registry;
* ``/healthz``: ``200 ok`` while the run goes on, ``503`` with the reason once it is stopping (a
  signal, or a source that cannot go on), so a supervisor can tell a draining run from a live one.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge
from prometheus_client.exposition import MetricsHandler

from solflow import run_control

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


def serve_metrics(port: int, addr: str = "127.0.0.1") -> int | None:
    """Serve the registry and ``/healthz`` on ``addr``:``port``, at most once per process; returns the
    port this process serves on (the first one asked for), or ``None`` if it could not bind.

    A port already taken (another program on this host) is logged once, not fatal.
    """
    global _server_port, _server_up
    with _server_lock:
        if _server_port is None:
            _server_port = port
            shown = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
            try:
                server = (_Server6 if ":" in addr else _Server)((addr, port), _Handler)
            except OSError as exc:
                log.warning("metrics not served on %s: %s", shown, exc.strerror or exc)
            else:
                threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
                _server_up = True
                log.info("metrics served on http://%s/metrics (health: /healthz)", shown)
        return _server_port if _server_up else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(MetricsHandler):
    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/healthz":
            super().do_GET()
            return
        reason = _stopping_because()
        body = b"ok\n" if reason is None else f"stopping: {reason}\n".encode()
        self.send_response(200 if reason is None else 503)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _stopping_because() -> str | None:
    if not run_control.stop_requested():
        return None
    failure = run_control.failure()
    if failure is not None:
        return str(failure)
    signum = run_control.stop_signal()
    return f"signal {signum}" if signum is not None else "stop requested"
