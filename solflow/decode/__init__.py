"""Exact TradeEvents from Yellowstone transactions: one decoder per tracked program, one table, one entry point.

``TransactionDecoder(programs).decode(info, slot, block_time)`` returns the listed programs' trades;
``decode_events`` adds the non-trade ``ProgramEvent``s; ``stats`` counts what was seen and skipped.
"""

from solflow.decode.decoder import TransactionDecoder
from solflow.decode.errors import DecodeError
from solflow.decode.events import ProgramEvent, event_dict
from solflow.decode.stats import DecodeStats, ProgramCounters

__all__ = ["DecodeError", "DecodeStats", "ProgramCounters", "ProgramEvent", "TransactionDecoder", "event_dict"]
