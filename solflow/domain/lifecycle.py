"""LifecycleEvent: what happens to a token besides trades -- its creation, its bonding curve filling,
its graduation to a pool, that pool's liquidity, and DCA orders on it.

One record class per kind, all sharing where they were found (``LifecycleEvent``'s fields, the same
as a trade's: signature, slot, positions, via, fee payer, chain time). They are never trades and
never become trades. Amounts are raw integers; keys are base58 text; ``None`` where the program's
event (or instruction) of that version does not carry the value.

| kind | program(s) | from |
|---|---|---|
| ``token_created`` | pumpfun, launchlab, moonshot | CreateEvent, PoolCreateEvent, ``tokenMint`` |
| ``curve_completed`` | pumpfun, launchlab | CompleteEvent; a TradeEvent leaving the pool in ``Migrate`` |
| ``migrated`` | pumpfun, launchlab, moonshot | CompletePumpAmmMigrationEvent; ``migrate_to_amm`` /
  ``migrate_to_cpswap``; MigrationEvent |
| ``pool_created`` | pumpswap | CreatePoolEvent |
| ``liquidity_deposit`` / ``liquidity_withdraw`` | pumpswap | DepositEvent / WithdrawEvent |
| ``dca_opened`` / ``dca_closed`` | jupiter_dca | Opened / Closed |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

LifecycleKind = Literal[
    "token_created",
    "curve_completed",
    "migrated",
    "pool_created",
    "liquidity_deposit",
    "liquidity_withdraw",
    "dca_opened",
    "dca_closed",
]
LifecycleSource = Literal["cpi_event", "log_event", "instruction"]


@dataclass(slots=True, kw_only=True)
class LifecycleEvent:
    """Where a lifecycle event was found; ``kind`` names the record class."""

    kind: ClassVar[LifecycleKind]
    signature: str
    slot: int
    tx_index: int
    block_time: int | None  # the block's time, else the event's own timestamp, else None
    program: str
    program_id: str
    fee_payer: str
    outer_ix_index: int
    inner_ix_index: int | None
    via: str | None  # the top-level program when it is not ``program`` (router, migrate, ...)
    decode_source: LifecycleSource

    @property
    def key(self) -> tuple[str, int, int]:
        """Identity, as a trade's: (signature, outer_ix_index, inner_ix_index or -1)."""
        inner = -1 if self.inner_ix_index is None else self.inner_ix_index
        return (self.signature, self.outer_ix_index, inner)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``kind`` first, then every field."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(slots=True, kw_only=True)
class TokenCreated(LifecycleEvent):
    kind: ClassVar[LifecycleKind] = "token_created"
    mint: str
    name: str
    symbol: str
    uri: str
    creator: str
    decimals: int | None
    supply: int | None  # raw units
    quote_mint: str | None  # what the curve is priced in (WSOL's mint for SOL)
    curve: str | None  # bonding curve / LaunchLab pool state / Moonshot curve account
    token_program: str | None


@dataclass(slots=True, kw_only=True)
class CurveCompleted(LifecycleEvent):
    """The bonding curve sold out: trading on it stops until the token migrates."""

    kind: ClassVar[LifecycleKind] = "curve_completed"
    mint: str
    curve: str | None
    user: str  # whose trade completed it
    quote_mint: str | None


@dataclass(slots=True, kw_only=True)
class Migrated(LifecycleEvent):
    """The token graduated: its curve's liquidity went to ``pool`` on ``target_program``."""

    kind: ClassVar[LifecycleKind] = "migrated"
    mint: str
    curve: str | None
    user: str  # who ran the migration
    pool: str | None  # the pool it graduated to, when the program names it
    target_program: str | None
    base_amount: int | None  # tokens moved to the pool
    quote_amount: int | None  # quote moved to the pool
    fee: int | None  # migration fee, quote raw units
    quote_mint: str | None


@dataclass(slots=True, kw_only=True)
class PoolCreated(LifecycleEvent):
    kind: ClassVar[LifecycleKind] = "pool_created"
    pool: str
    base_mint: str
    quote_mint: str
    creator: str
    base_amount: int  # initial liquidity
    quote_amount: int
    lp_mint: str
    coin_creator: str | None


@dataclass(slots=True, kw_only=True)
class LiquidityChange(LifecycleEvent):
    """Liquidity added to or taken from a pool (``liquidity_deposit`` / ``liquidity_withdraw``)."""

    pool: str
    user: str
    base_mint: str
    quote_mint: str
    base_amount: int
    quote_amount: int
    lp_amount: int  # LP tokens minted (deposit) or burnt (withdraw)
    lp_supply: int  # LP mint supply after


@dataclass(slots=True, kw_only=True)
class LiquidityDeposit(LiquidityChange):
    kind: ClassVar[LifecycleKind] = "liquidity_deposit"


@dataclass(slots=True, kw_only=True)
class LiquidityWithdraw(LiquidityChange):
    kind: ClassVar[LifecycleKind] = "liquidity_withdraw"


@dataclass(slots=True, kw_only=True)
class DcaOrder(LifecycleEvent):
    """A Jupiter DCA order as its Opened / Closed event reports it."""

    dca: str
    user: str
    input_mint: str
    output_mint: str
    in_deposited: int
    in_amount_per_cycle: int
    cycle_frequency: int  # seconds
    created_at: int


@dataclass(slots=True, kw_only=True)
class DcaOpened(DcaOrder):
    kind: ClassVar[LifecycleKind] = "dca_opened"


@dataclass(slots=True, kw_only=True)
class DcaClosed(DcaOrder):
    kind: ClassVar[LifecycleKind] = "dca_closed"
    total_in_withdrawn: int
    total_out_withdrawn: int
    unfilled_amount: int
    user_closed: bool


LIFECYCLE_CLASSES: tuple[type[LifecycleEvent], ...] = (
    TokenCreated,
    CurveCompleted,
    Migrated,
    PoolCreated,
    LiquidityDeposit,
    LiquidityWithdraw,
    DcaOpened,
    DcaClosed,
)
BY_KIND: dict[str, type[LifecycleEvent]] = {cls.kind: cls for cls in LIFECYCLE_CLASSES}
