"""ProgramEvent (the non-trade events: creates, pools, migrations, DCA opens/closes) and ``event_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from solflow.domain.trade import TradeEvent

EventKind = Literal["create", "create_pool", "migrate", "dca_open", "dca_close"]


@dataclass(slots=True)
class ProgramEvent:
    """A tracked program's non-trade event. ``trader`` is the creator / migration user / DCA owner;
    ``mint`` the created, pooled or migrated token (None for DCA events, whose mints are in ``details``)."""

    kind: EventKind
    program: str
    program_id: str
    signature: str
    slot: int
    block_time: int | None
    outer_ix_index: int
    inner_ix_index: int | None
    trader: str
    fee_payer: str
    mint: str | None
    quote_mint: str | None
    via: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_dict(event: TradeEvent | ProgramEvent) -> dict[str, Any]:
    """JSON-ready dict of either event type; trades get ``"kind": "trade"``."""
    if isinstance(event, TradeEvent):
        return {"kind": "trade", **event.to_dict()}
    return event.to_dict()
