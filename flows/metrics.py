"""Prometheus counters of the dataflow's decode stage, labelled by program.

They live in the default ``prometheus_client`` registry next to the source's metrics
(``sources.metrics``), so they appear on ``SOLFLOW_METRICS_PORT`` and on Bytewax's own API
endpoint. Updated once per decode report (one per partition per batch), never per item.
"""

from __future__ import annotations

from prometheus_client import Counter

from solflow.domain.decode import DecodeStats

TRANSACTIONS = Counter(
    "solflow_decode_transactions", "Transactions handed to the decoder, by source partition", ["partition"]
)
PROGRAM_COUNTERS = {
    "trades": Counter("solflow_decode_trades", "Trades decoded (balance-delta fallbacks included)", ["program"]),
    "failed_transactions": Counter(
        "solflow_decode_failed_transactions", "Failed transactions skipped (meta.err set)", ["program"]
    ),
    "fallbacks": Counter(
        "solflow_decode_fallbacks", "Trades rebuilt from balance changes (no decodable event)", ["program"]
    ),
    "cross_check_disagreements": Counter(
        "solflow_decode_cross_check_disagreements", "Event amounts that disagree with balance changes", ["program"]
    ),
    "errors": Counter("solflow_decode_errors", "Malformed transactions or events", ["program"]),
    "unknown_events": Counter(
        "solflow_decode_unknown_events", "Events whose discriminator no layout of the program knows", ["program"]
    ),
    "trailing_events": Counter(
        "solflow_decode_trailing_events",
        "Events longer than their newest known layout (decoded by the known prefix)",
        ["program"],
    ),
}


def record_decode(partition: str, transactions: int, stats: DecodeStats) -> None:
    TRANSACTIONS.labels(partition).inc(transactions)
    for program, counters in stats.programs.items():
        for name, counter in PROGRAM_COUNTERS.items():
            value = getattr(counters, name)
            if value:
                counter.labels(program).inc(value)
