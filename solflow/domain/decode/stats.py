"""DecodeStats: per-program counters of what the decoder saw, emitted, skipped and could not decode."""

from __future__ import annotations

from dataclasses import dataclass, fields

UNATTRIBUTED = "unattributed"  # errors in updates too malformed to tell which program they are for


@dataclass(slots=True)
class ProgramCounters:
    transactions: int = 0  # transactions invoking the program, failed ones included
    trades: int = 0  # trades emitted, fallbacks included
    failed_transactions: int = 0  # meta.err set: skipped, no events
    fallbacks: int = 0  # trades rebuilt from balance deltas (no decodable event)
    cross_check_disagreements: int = 0  # event token amount vs the trader's token balance change
    cross_check_unverifiable: int = 0  # no owner with a balance change of the traded mint
    errors: int = 0  # malformed input: bad event bytes, bad account index, bad token amount, ...
    unknown_events: int = 0  # events whose discriminator is in none of the program's layouts
    trailing_events: int = 0  # events longer than their newest known layout (the tail is ignored)
    lifecycle_events: int = 0  # lifecycle records emitted (``decode_all`` / ``inspect`` only)


COUNTERS: tuple[str, ...] = tuple(f.name for f in fields(ProgramCounters))


class DecodeStats:
    """Counters keyed by program name, and events with trailing bytes per event kind
    (``"pumpfun.TradeEvent"`` -> [events, bytes]); ``merge`` adds another decoder's.

    A row ``"unattributed"`` appears only when a multi-program decoder met an update too malformed to
    tell which program it was for.
    """

    __slots__ = ("programs", "trailing")

    def __init__(self, program_names: tuple[str, ...] | list[str] = ()) -> None:
        self.programs: dict[str, ProgramCounters] = {name: ProgramCounters() for name in program_names}
        self.trailing: dict[str, list[int]] = {}

    def add_trailing(self, program: str, event: str, trailing: int) -> None:
        self[program].trailing_events += 1
        found = self.trailing.get(f"{program}.{event}")
        if found is None:
            self.trailing[f"{program}.{event}"] = [1, trailing]
        else:
            found[0] += 1
            found[1] += trailing

    def __getitem__(self, program: str) -> ProgramCounters:
        counters = self.programs.get(program)
        if counters is None:
            counters = self.programs[program] = ProgramCounters()
        return counters

    def total(self, counter: str) -> int:
        return sum(getattr(c, counter) for c in self.programs.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {name: {k: getattr(c, k) for k in COUNTERS} for name, c in self.programs.items()}

    def merge(self, other: DecodeStats) -> DecodeStats:
        """Add ``other``'s counters into these (in place); returns self."""
        for name, theirs in other.programs.items():
            mine = self[name]
            for k in COUNTERS:
                setattr(mine, k, getattr(mine, k) + getattr(theirs, k))
        for kind, (events, size) in other.trailing.items():
            found = self.trailing.setdefault(kind, [0, 0])
            found[0] += events
            found[1] += size
        return self
