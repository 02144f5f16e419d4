"""Legacy JSONL sink: the original system's per-program ``events.jsonl`` files, exactly once under recovery.

Files, per program (SolFlow program name, e.g. ``pumpswap``) under ``<out_dir>/streams/<program>/``::

    events.jsonl        the file being written
    events.jsonl.1      newest rotated file ... events.jsonl.N the oldest kept (N = max_rotations)
    .generations/       the same files, named by rotation generation (hard links, not copies)

One compact JSON object per line (``\\n``-terminated). The original's 11 keys come first, in its order:

- ``timestamp``: ``block_time`` (chain time, unix s); null when the stream never carried it -- never
  the local clock.
- ``signature``: base58 transaction signature. ``program_id``: the program that emitted the trade.
- ``program_name``: the original's name (``PumpSwap``, ``PumpFun``, ``BonkSwap``, ``Moonshot``,
  ``JupiterDCA``). ``action``: ``BUY`` / ``SELL``. ``mint``: the traded token.
- ``sol_amount``: ``quote_amount_raw / 1e9`` when the quote is SOL or WSOL -- what the trader paid on
  a buy (fees included) or received on a sell (fees deducted). **null when the trade is quoted in
  another token** (USDC, an xStock, ...): that amount is not SOL; it is exact in
  ``quote_amount_raw`` with ``quote_mint`` / ``quote_decimals``.
- ``token_amount``: ``token_amount_raw / 10**token_decimals``; ``token_decimals``: decimals of
  ``mint``. Both null when the decimals are unknown.
- ``user_account``: the trader the program records (event ``user`` / ``sender``, LaunchLab ``payer``).
- ``discriminator``: hex of the 8-byte discriminator of the **program event** the trade was decoded
  from -- PumpSwap ``BuyEvent`` 67f4521f2cf57777 / ``SellEvent`` 3e2f370aa503dc2a; pump.fun,
  LaunchLab and Moonshot ``TradeEvent`` bddb7fd34ee661ee; Jupiter DCA ``Filled`` 8604113fdd2db1ad;
  ``0000000000000000`` for a trade recovered from balance changes (no event). The original wrote the
  first 8 data bytes of the first outer instruction, usually a ComputeBudget instruction.

then every other trade column of ``sinks.schema.TRADE_COLUMNS``, under the name the SQLite and Parquet
trades use (``slot``, ``tx_index``, ``block_time``, ``program``, ``direction``, ``trader``,
``fee_payer``, ``quote_mint``, ``token_amount_raw``, ``quote_amount_raw``, ``quote_decimals``,
``fee_amount_raw``, ``outer_ix_index``, ``inner_ix_index``, ``via``, ``pool``, ``is_dca``,
``decode_source``, ``quote_amount``, ``fee_amount``), so a line carries the whole exact trade.

Rotation: before a line would take the file past ``max_size_mb`` MiB, ``events.jsonl`` becomes
``.1``, ``.1`` becomes ``.2`` ... and the file past ``max_rotations`` is deleted. A file exceeds the
limit only when one line alone does. Rotation points depend only on the bytes written, never on how
Bytewax batched them, so a replay rotates exactly where the first run did.

Recovery: the snapshot is ``(generation, byte offset)`` of the active file. A resumed partition
deletes the generations written after the snapshot, truncates the snapshotted one to the offset and
re-links the visible names, so after ``kill -9`` and ``-r`` the files equal an uninterrupted run's.
The generation numbers live in ``.generations/``; the visible names are re-derived from it at every
start, which also repairs a rotation interrupted half-way. Without ``-r`` a run appends to what is
there (as the original did), so a crash before the first snapshot can repeat up to one epoch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _q  # quoted, escaped, ASCII-only
from pathlib import Path

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from sinks.schema import TRADE_COLUMNS
from solflow.domain.programs import BY_NAME, PROGRAM_NAMES, WSOL_MINT
from solflow.domain.trade import TradeEvent

__all__ = ["LEGACY_FIELDS", "LINE_FIELDS", "LegacyJsonlSink", "legacy_line"]

log = logging.getLogger(__name__)

LEGACY_FIELDS: tuple[str, ...] = (
    "timestamp",
    "signature",
    "program_id",
    "program_name",
    "action",
    "mint",
    "sol_amount",
    "token_amount",
    "token_decimals",
    "user_account",
    "discriminator",
)
EXTRA_FIELDS: tuple[str, ...] = tuple(name for name, _ in TRADE_COLUMNS if name not in LEGACY_FIELDS)
LINE_FIELDS: tuple[str, ...] = LEGACY_FIELDS + EXTRA_FIELDS

NO_EVENT_DISCRIMINATOR = "0000000000000000"
_ANCHOR_TRADE_EVENT = "bddb7fd34ee661ee"  # sha256("event:TradeEvent")[:8], shared by three programs
_EVENT_DISCRIMINATORS: dict[tuple[str, str], str] = {
    ("pumpswap", "buy"): "67f4521f2cf57777",
    ("pumpswap", "sell"): "3e2f370aa503dc2a",
    ("pumpfun", "buy"): _ANCHOR_TRADE_EVENT,
    ("pumpfun", "sell"): _ANCHOR_TRADE_EVENT,
    ("launchlab", "buy"): _ANCHOR_TRADE_EVENT,
    ("launchlab", "sell"): _ANCHOR_TRADE_EVENT,
    ("moonshot", "buy"): _ANCHOR_TRADE_EVENT,
    ("moonshot", "sell"): _ANCHOR_TRADE_EVENT,
    ("jupiter_dca", "buy"): "8604113fdd2db1ad",
    ("jupiter_dca", "sell"): "8604113fdd2db1ad",
}

_LAMPORTS_PER_SOL = 10**9

ACTIVE_NAME = "events.jsonl"
ARCHIVE_DIR = ".generations"
_MIB = 1024 * 1024


def _constant_parts() -> dict[tuple[str, str], tuple[str, str, str]]:
    """Per (program, direction): the JSON text of the fields that follow from them alone."""
    parts = {}
    for (program, direction), disc in _EVENT_DISCRIMINATORS.items():
        head = f'"program_name":{_q(BY_NAME[program].legacy_name)},"action":{_q(direction.upper())}'
        tail = f'"program":{_q(program)},"direction":{_q(direction)}'
        parts[(program, direction)] = (head, disc, tail)
    return parts


_CONSTANT_PARTS = _constant_parts()


def _json(value: str | int | float | None) -> str:
    return "null" if value is None else _q(value) if type(value) is str else repr(value)


def legacy_line(trade: TradeEvent) -> str:
    """One JSONL line (with its ``\\n``) for a trade, keys in ``LINE_FIELDS`` order.

    Built by hand rather than through ``json.dumps`` of a dict: this runs once per trade on the
    hot path. Strings go through the stdlib's JSON string encoder; numbers print as ``json`` would.
    """
    t = trade
    head, event_disc, tail = _CONSTANT_PARTS[(t.program, t.direction)]
    decimals = t.token_decimals
    sol = t.quote_amount_raw / _LAMPORTS_PER_SOL if t.quote_mint == WSOL_MINT else None  # SOL has 9 decimals
    disc = NO_EVENT_DISCRIMINATOR if t.decode_source == "balance_delta" else event_disc
    return (
        f'{{"timestamp":{_json(t.block_time)},"signature":{_q(t.signature)},"program_id":{_q(t.program_id)},'
        f'{head},"mint":{_q(t.mint)},"sol_amount":{_json(sol)},"token_amount":{_json(t.token_amount)},'
        f'"token_decimals":{_json(decimals)},"user_account":{_q(t.trader)},"discriminator":"{disc}",'
        f'"slot":{t.slot},"tx_index":{t.tx_index},"block_time":{_json(t.block_time)},{tail},'
        f'"trader":{_q(t.trader)},"fee_payer":{_q(t.fee_payer)},"quote_mint":{_q(t.quote_mint)},'
        f'"token_amount_raw":{t.token_amount_raw},"quote_amount_raw":{t.quote_amount_raw},'
        f'"quote_decimals":{_json(t.quote_decimals)},"fee_amount_raw":{_json(t.fee_amount_raw)},'
        f'"outer_ix_index":{t.outer_ix_index},"inner_ix_index":{_json(t.inner_ix_index)},'
        f'"via":{_json(t.via)},"pool":{_json(t.pool)},"is_dca":{"true" if t.is_dca else "false"},'
        f'"decode_source":{_q(t.decode_source)},"quote_amount":{_json(t.quote_amount)},'
        f'"fee_amount":{_json(t.fee_amount)},"virtual_base_reserves":{_json(t.virtual_base_reserves)},'
        f'"virtual_quote_reserves":{_json(t.virtual_quote_reserves)},'
        f'"real_base_reserves":{_json(t.real_base_reserves)},"real_quote_reserves":{_json(t.real_quote_reserves)}}}\n'
    )


class LegacyJsonlSink(FixedPartitionedSink[TradeEvent, tuple[int, int]]):
    """Items ``(program, TradeEvent)`` → ``<out_dir>/streams/<program>/events.jsonl`` with rotation.

    One partition per program, so each file has exactly one writer at any worker count.

    >>> op.output("legacy_jsonl", trades_by_program, LegacyJsonlSink(Path("out"), 100, 10))  # doctest: +SKIP
    """

    def __init__(
        self,
        out_dir: Path,
        max_size_mb: float,
        max_rotations: int,
        programs: Iterable[str] = PROGRAM_NAMES,
    ):
        if not max_size_mb > 0:
            raise ValueError(f"max_size_mb must be positive, got {max_size_mb!r}")
        if max_rotations < 1:
            raise ValueError(f"max_rotations must be at least 1, got {max_rotations!r}")
        self._streams = Path(out_dir) / "streams"
        self._max_bytes = max(1, int(max_size_mb * _MIB))
        self._max_rotations = max_rotations
        self._parts = tuple(sorted(set(programs)))
        unknown = [p for p in self._parts if p not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown program(s) {unknown}; expected some of {', '.join(PROGRAM_NAMES)}")
        self._part_index = {name: i for i, name in enumerate(self._parts)}

    @override
    def list_parts(self) -> list[str]:
        return list(self._parts)

    @override
    def part_fn(self, item_key: str) -> int:
        try:
            return self._part_index[item_key]
        except KeyError:
            raise ValueError(
                f"no legacy JSONL stream for program {item_key!r}; this sink writes {', '.join(self._parts)}"
            ) from None

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: tuple[int, int] | None) -> _RotatingJsonlPartition:
        return _RotatingJsonlPartition(self._streams / for_part, self._max_bytes, self._max_rotations, resume_state)


class _RotatingJsonlPartition(StatefulSinkPartition[TradeEvent, tuple[int, int]]):
    def __init__(self, directory: Path, max_bytes: int, max_rotations: int, resume_state: tuple[int, int] | None):
        self._dir = directory
        self._archive = directory / ARCHIVE_DIR
        self._archive.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._max_rotations = max_rotations
        if resume_state is None:
            self._generation = self._latest_generation()
            self._size = self._generation_path(self._generation).stat().st_size
        else:
            self._generation, self._size = resume_state
            self._rewind_to_snapshot()
        self._publish()
        self._file = open(self._generation_path(self._generation), "a", encoding="ascii", newline="\n")

    @override
    def write_batch(self, values: list[TradeEvent]) -> None:
        chunk: list[str] = []
        size = self._size
        for trade in values:
            line = legacy_line(trade)
            if size and size + len(line) > self._max_bytes:
                self._file.write("".join(chunk))
                self._rotate()
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)  # lines are ASCII (strings are \u-escaped), so characters == bytes
        self._file.write("".join(chunk))
        self._file.flush()
        self._size = size

    @override
    def snapshot(self) -> tuple[int, int]:
        # The recovery store must never hold an offset the disk does not.
        os.fsync(self._file.fileno())
        return (self._generation, self._size)

    @override
    def close(self) -> None:
        self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        self._generation += 1
        self._generation_path(self._generation).touch()
        self._publish()
        self._file = open(self._generation_path(self._generation), "a", encoding="ascii", newline="\n")
        self._size = 0

    def _generation_path(self, generation: int) -> Path:
        return self._archive / f"{generation:012d}.jsonl"

    def _generations(self) -> list[int]:
        return sorted(int(p.stem) for p in self._archive.glob("*.jsonl") if p.stem.isdigit())

    def _visible_path(self, age: int) -> Path:
        return self._dir / (ACTIVE_NAME if age == 0 else f"{ACTIVE_NAME}.{age}")

    def _latest_generation(self) -> int:
        generations = self._generations()
        if generations:
            return generations[-1]
        # First run in this directory: adopt files the original system (or anyone) left here.
        ages = [
            int(p.name.rsplit(".", 1)[1])
            for p in self._dir.glob(f"{ACTIVE_NAME}.*")
            if p.name.rsplit(".", 1)[1].isdigit()
        ]
        newest = max(ages, default=0)
        for age in [0, *ages]:
            visible = self._visible_path(age)
            if visible.exists():
                os.link(visible, self._generation_path(newest - age))
        self._generation_path(newest).touch()
        return newest

    def _rewind_to_snapshot(self) -> None:
        for generation in self._generations():
            if generation > self._generation:
                self._generation_path(generation).unlink()
        path = self._generation_path(self._generation)
        if not path.exists():
            # Rotated out of the kept set after the snapshot; the replay rotates it out again.
            # Its logical size stays the offset so the replay rotates at the same lines.
            path.touch()
            return
        on_disk = path.stat().st_size
        if on_disk < self._size:
            log.warning(
                "%s holds %d bytes but the snapshot recorded %d; %d bytes written before the crash are gone",
                path,
                on_disk,
                self._size,
                self._size - on_disk,
            )
        else:
            os.truncate(path, self._size)

    def _publish(self) -> None:
        """Point the visible names at the current generations and drop those past the kept set."""
        for age in range(self._max_rotations + 1):
            source = self._generation_path(self._generation - age)
            visible = self._visible_path(age)
            if source.exists():
                _link_over(source, visible)
            elif visible.exists():
                visible.unlink()
        for generation in self._generations():
            if generation < self._generation - self._max_rotations:
                self._generation_path(generation).unlink()


def _link_over(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source``, atomically replacing whatever ``target`` was."""
    if target.exists() and os.path.samefile(source, target):
        return
    staging = target.with_name(f".{target.name}.link")
    staging.unlink(missing_ok=True)
    os.link(source, staging)
    os.replace(staging, target)
