"""Exact TradeEvents from Yellowstone transactions: one decoder per tracked program, one table, one entry point.

``TransactionDecoder(programs).decode(info, slot, block_time)`` returns the listed programs' trades;
``decode_events`` adds the non-trade ``ProgramEvent``s; ``stats`` counts what was seen and skipped.
"""

from solflow.domain.decode.decoder import TransactionDecoder
from solflow.domain.decode.errors import DecodeError
from solflow.domain.decode.events import ProgramEvent, event_dict
from solflow.domain.decode.stats import DecodeStats, ProgramCounters

__all__ = ["DecodeError", "DecodeStats", "ProgramCounters", "ProgramEvent", "TransactionDecoder", "event_dict"]
