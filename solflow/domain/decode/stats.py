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


COUNTERS: tuple[str, ...] = tuple(f.name for f in fields(ProgramCounters))


class DecodeStats:
    """Counters keyed by program name; ``merge`` adds another decoder's.

    A row ``"unattributed"`` appears only when a multi-program decoder met an update too malformed to
    tell which program it was for.
    """

    __slots__ = ("programs",)

    def __init__(self, program_names: tuple[str, ...] | list[str] = ()) -> None:
        self.programs: dict[str, ProgramCounters] = {name: ProgramCounters() for name in program_names}

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
        return self
