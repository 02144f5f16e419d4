"""Subscription filters: validate a ``SubscribeRequest`` and name the filters an update matches.

Matching follows the Yellowstone server: within a transaction filter the fields are AND-ed
(``vote`` → ``failed`` → ``signature`` → ``account_required`` → ``account_include`` →
``account_exclude``) against the combined key set; across named filters an update goes out once,
listing every matching name. A filter with no fields set matches everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import base58

from protos import geyser_pb2
from solflow.server.chain import TxFacts

MAX_FILTER_NAME_BYTES = 128
_COMMITMENTS = (geyser_pb2.PROCESSED, geyser_pb2.CONFIRMED, geyser_pb2.FINALIZED)
_COMMITMENT_STATUSES = (geyser_pb2.SLOT_PROCESSED, geyser_pb2.SLOT_CONFIRMED, geyser_pb2.SLOT_FINALIZED)


class FilterError(ValueError):
    """A request the server refuses; the message follows ``failed to create filter: …``."""

    def __init__(self, detail: str):
        super().__init__(f"failed to create filter: {detail}")


@dataclass(frozen=True, slots=True)
class TxFilter:
    vote: bool | None
    failed: bool | None
    signature: bytes | None
    required: frozenset[bytes]
    include: frozenset[bytes]
    exclude: frozenset[bytes]

    def matches(self, tx: TxFacts) -> bool:
        if self.vote is not None and self.vote != tx.is_vote:
            return False
        if self.failed is not None and self.failed != tx.failed:
            return False
        if self.signature is not None and self.signature != tx.signature:
            return False
        if self.required and not self.required <= tx.keys:
            return False
        if self.include and self.include.isdisjoint(tx.keys):
            return False
        return not (self.exclude and not self.exclude.isdisjoint(tx.keys))


@dataclass(frozen=True, slots=True)
class SlotFilter:
    filter_by_commitment: bool
    interslot_updates: bool

    def matches(self, status: int, commitment: int) -> bool:
        if self.filter_by_commitment:
            return status == _COMMITMENT_STATUSES[commitment]
        return self.interslot_updates or status in _COMMITMENT_STATUSES


@dataclass(frozen=True, slots=True)
class FilterSet:
    """The active filters of one stream; every non-ping request replaces the whole set."""

    transactions: tuple[tuple[str, TxFilter], ...]
    transactions_status: tuple[tuple[str, TxFilter], ...]
    blocks_meta: tuple[str, ...]
    slots: tuple[tuple[str, SlotFilter], ...]
    commitment: int

    @property
    def empty(self) -> bool:
        return not (self.transactions or self.transactions_status or self.blocks_meta or self.slots)

    @classmethod
    def from_request(cls, request: geyser_pb2.SubscribeRequest) -> FilterSet:
        """Validate ``request`` (raises ``FilterError``) and compile its filters."""
        commitment = request.commitment if request.HasField("commitment") else geyser_pb2.PROCESSED
        if commitment not in _COMMITMENTS:
            raise FilterError(f"unknown commitment level {commitment}")
        for name in (*request.blocks_meta, *request.slots):
            _check_name(name)
        return cls(
            transactions=_tx_filters("transactions", request.transactions.items()),
            transactions_status=_tx_filters("transactions_status", request.transactions_status.items()),
            blocks_meta=tuple(sorted(request.blocks_meta)),
            slots=tuple(
                (name, SlotFilter(f.filter_by_commitment, f.interslot_updates))
                for name, f in sorted(request.slots.items())
            ),
            commitment=commitment,
        )

    def transaction_names(self, tx: TxFacts) -> tuple[str, ...]:
        return tuple(name for name, f in self.transactions if f.matches(tx))

    def status_names(self, tx: TxFacts) -> tuple[str, ...]:
        return tuple(name for name, f in self.transactions_status if f.matches(tx))

    def slot_names(self, status: int) -> tuple[str, ...]:
        return tuple(name for name, f in self.slots if f.matches(status, self.commitment))


def _tx_filters(field: str, items: Iterable[tuple[str, geyser_pb2.SubscribeRequestFilterTransactions]]):
    compiled = []
    for name, f in sorted(items):
        _check_name(name)
        where = f"{field}[{name!r}]"
        compiled.append(
            (
                name,
                TxFilter(
                    vote=f.vote if f.HasField("vote") else None,
                    failed=f.failed if f.HasField("failed") else None,
                    signature=_decoded(f.signature, 64, f"{where}.signature") if f.HasField("signature") else None,
                    required=_pubkeys(f.account_required, f"{where}.account_required"),
                    include=_pubkeys(f.account_include, f"{where}.account_include"),
                    exclude=_pubkeys(f.account_exclude, f"{where}.account_exclude"),
                ),
            )
        )
    return tuple(compiled)


def _check_name(name: str) -> None:
    size = len(name.encode())
    if size > MAX_FILTER_NAME_BYTES:
        raise FilterError(f"filter name of {size} bytes exceeds the limit of {MAX_FILTER_NAME_BYTES}")


def _pubkeys(values: Iterable[str], where: str) -> frozenset[bytes]:
    return frozenset(_decoded(value, 32, where) for value in values)


def _decoded(text: str, size: int, where: str) -> bytes:
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raise FilterError(f"{where}: {text!r} is not base58") from None
    if len(raw) != size:
        raise FilterError(f"{where}: {text!r} decodes to {len(raw)} bytes, expected {size}")
    return raw
