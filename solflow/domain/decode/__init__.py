"""Exact TradeEvents and LifecycleEvents from Yellowstone transactions: one decoder per tracked program,
one table, one entry point.

``TransactionDecoder(programs).decode(info, slot, block_time)`` returns the listed programs' trades;
``decode_all`` adds their lifecycle records (``solflow.domain.lifecycle``); ``inspect`` also says what
was unknown or longer than its known layout; ``stats`` counts what was seen and skipped.
"""

from solflow.domain.decode.context import Record, Trailing
from solflow.domain.decode.decoder import TransactionDecoder, TransactionReport, UnknownEvent
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.stats import DecodeStats, ProgramCounters

__all__ = [
    "DecodeError",
    "DecodeStats",
    "ProgramCounters",
    "Record",
    "Trailing",
    "TransactionDecoder",
    "TransactionReport",
    "UnknownEvent",
]
