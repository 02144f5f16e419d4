"""Layout tables: Anchor events and instructions as field lists, and a version-tolerant Borsh decoder.

A table entry is written like the IDL it comes from: ``"mint:pubkey sol_amount:u64 is_buy:bool"``.
Programs grow their events by appending fields, so an event's field list is its newest layout and
``|`` marks where each older layout ended. Decoding reads the fields in order and returns the
newest layout the bytes fully contain: the fields after it are None and the bytes beyond it are
*trailing* -- counted by the caller, never a reason to distrust the prefix. An event shorter than
its oldest layout is truncated (``DecodeError``). A layout that changed in the middle rather than
at the end (LaunchLab's mid-2025 TradeEvent) is a *variant* chosen by exact length.

Types: ``u8 i8 u16 i16 u32 i32 u64 i64 u128 i128 bool pubkey string``, ``vec<T>``, ``option<T>``,
``[T;N]`` and the program's defined types (``struct(...)``, ``enum(...)``). Values: ints, bools,
32-byte ``bytes`` for keys, 16 little-endian bytes for 128-bit integers, ``str``, tuples for
vectors, arrays and structs, the variant index for an enum (``(index, payload)`` when variants
carry data).

Runs of fixed-size fields compile into one ``struct.Struct`` each, split where a layout ends, so
an event costs a few ``unpack_from`` calls.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from solflow.domain.decode.errors import DecodeError

Reader = Callable[[bytes, int], tuple[Any, int]]  # (data, offset) -> (value, next offset)


def discriminator(namespace: str, name: str) -> bytes:
    """Anchor discriminator: first 8 bytes of sha256("<namespace>:<name>") (``event`` / ``global``)."""
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


class _Short(Exception):
    """The bytes end inside a value (internal: ends the read at the last complete layout)."""


@dataclass(frozen=True, slots=True)
class FieldType:
    """A Borsh type: fixed ones carry their ``struct`` format, variable ones a reader (and maybe a
    cheaper ``skip``, which moves past the value without building it)."""

    name: str
    fmt: str | None = None  # struct format when the size is fixed
    convert: Callable[[tuple[Any, ...]], Any] | None = None  # flat unpacked values -> the value
    read: Reader | None = None  # variable size
    skip: Reader | None = None  # as ``read``, the value None

    @property
    def fixed(self) -> bool:
        return self.fmt is not None

    @property
    def size(self) -> int:
        return struct.calcsize("<" + (self.fmt or ""))

    @property
    def width(self) -> int:
        """How many values ``struct`` yields for it."""
        return len(struct.unpack("<" + (self.fmt or ""), bytes(self.size)))


SCALARS: dict[str, FieldType] = {
    name: FieldType(name, fmt)
    for name, fmt in (
        ("u8", "B"),
        ("i8", "b"),
        ("u16", "H"),
        ("i16", "h"),
        ("u32", "I"),
        ("i32", "i"),
        ("u64", "Q"),
        ("i64", "q"),
        ("bool", "?"),
        ("pubkey", "32s"),
        ("publicKey", "32s"),  # legacy Anchor IDLs (Moonshot, Jupiter DCA)
    )
}
# left as their 16 little-endian bytes: no decoder reads one, and converting every event costs
SCALARS["u128"] = FieldType("u128", "16s")
SCALARS["i128"] = FieldType("i128", "16s")
_U32 = struct.Struct("<I")


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    if pos + 4 > len(data):
        raise _Short
    size = _U32.unpack_from(data, pos)[0]
    end = pos + 4 + size
    if end > len(data):
        raise _Short
    return data[pos + 4 : end].decode("utf-8", errors="replace"), end


def _skip_string(data: bytes, pos: int) -> tuple[None, int]:
    if pos + 4 > len(data):
        raise _Short
    end = pos + 4 + _U32.unpack_from(data, pos)[0]
    if end > len(data):
        raise _Short
    return None, end


SCALARS["string"] = FieldType("string", read=_read_string, skip=_skip_string)


def _reader(kind: FieldType) -> Reader:
    """A reader for any type (fixed ones through their struct)."""
    if kind.read is not None:
        return kind.read
    layout = struct.Struct("<" + (kind.fmt or ""))
    size = layout.size
    convert = kind.convert

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        if pos + size > len(data):
            raise _Short
        values = layout.unpack_from(data, pos)
        if convert is not None:
            return convert(values), pos + size
        return (values[0] if len(values) == 1 else values), pos + size

    return read


def vec(item: FieldType) -> FieldType:
    read_item = _reader(item)

    def read(data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        if pos + 4 > len(data):
            raise _Short
        count = _U32.unpack_from(data, pos)[0]
        pos += 4
        if item.fixed and pos + count * item.size > len(data):
            raise _Short  # checked up front: a garbage count must not loop for long
        items = []
        for _ in range(count):
            value, pos = read_item(data, pos)
            items.append(value)
        return tuple(items), pos

    if not item.fixed:
        return FieldType(f"vec<{item.name}>", read=read)
    item_size = item.size

    def skip(data: bytes, pos: int) -> tuple[None, int]:
        if pos + 4 > len(data):
            raise _Short
        end = pos + 4 + _U32.unpack_from(data, pos)[0] * item_size
        if end > len(data):
            raise _Short
        return None, end

    return FieldType(f"vec<{item.name}>", read=read, skip=skip)


def option(item: FieldType) -> FieldType:
    read_item = _reader(item)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        if pos >= len(data):
            raise _Short
        tag = data[pos]
        if tag == 0:
            return None, pos + 1
        if tag != 1:
            raise DecodeError(f"option tag {tag} is neither 0 nor 1")
        return read_item(data, pos + 1)

    return FieldType(f"option<{item.name}>", read=read)


def array(item: FieldType, length: int) -> FieldType:
    name = f"[{item.name};{length}]"
    if item.fixed and item.convert is None and item.width == 1:
        return FieldType(name, (item.fmt or "") * length, tuple)
    read_item = _reader(item)

    def read(data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        items = []
        for _ in range(length):
            value, pos = read_item(data, pos)
            items.append(value)
        return tuple(items), pos

    return FieldType(name, read=read)


def struct_of(name: str, members: list[FieldType]) -> FieldType:
    """A defined struct; its value is the tuple of its members' values."""
    if all(m.fixed and m.convert is None and m.width == 1 for m in members):
        return FieldType(name, "".join(m.fmt or "" for m in members), tuple)
    readers = [_reader(m) for m in members]

    def read(data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        values = []
        for read_member in readers:
            value, pos = read_member(data, pos)
            values.append(value)
        return tuple(values), pos

    return FieldType(name, read=read)


def enum_of(name: str, variants: list[FieldType | None]) -> FieldType:
    """A defined enum: its u8 variant index (not checked: the decoder that reads it does), or, when
    variants carry data, ``(index, payload)``."""
    if all(v is None for v in variants):
        return FieldType(name, "B")
    readers = [None if v is None else _reader(v) for v in variants]

    def read(data: bytes, pos: int) -> tuple[tuple[int, Any], int]:
        if pos >= len(data):
            raise _Short
        index = data[pos]
        if index >= len(readers):
            raise DecodeError(f"{name} variant {index} does not exist (it has {len(readers)})")
        read_payload = readers[index]
        if read_payload is None:
            return (index, None), pos + 1
        payload, end = read_payload(data, pos + 1)
        return (index, payload), end

    return FieldType(name, read=read)


_GENERIC = re.compile(r"^(vec|option)<(.+)>$")
_ARRAY = re.compile(r"^\[(.+);\s*(\d+)\]$")


def parse_type(text: str, defined: Mapping[str, FieldType]) -> FieldType:
    """A type as the tables write it: a scalar, ``vec<T>``, ``option<T>``, ``[T;N]`` or a defined name."""
    text = text.strip()
    found = SCALARS.get(text) or defined.get(text)
    if found is not None:
        return found
    generic = _GENERIC.match(text)
    if generic:
        inner = parse_type(generic.group(2), defined)
        return vec(inner) if generic.group(1) == "vec" else option(inner)
    fixed_array = _ARRAY.match(text)
    if fixed_array:
        return array(parse_type(fixed_array.group(1), defined), int(fixed_array.group(2)))
    raise ValueError(f"unknown type {text!r}")


def parse_fields(spec: str, defined: Mapping[str, FieldType]) -> tuple[list[tuple[str, FieldType]], list[int]]:
    """``"a:u64 b:pubkey | c:u8"`` -> the fields, and the field count at the end of each layout."""
    fields: list[tuple[str, FieldType]] = []
    ends: list[int] = []
    for token in spec.split():
        if token == "|":
            ends.append(len(fields))
            continue
        name, _, type_text = token.partition(":")
        if not type_text:
            raise ValueError(f"field {token!r} has no type")
        fields.append((name, parse_type(type_text, defined)))
    ends.append(len(fields))
    return fields, ends


# how a run's struct values become field values, when they are not already: (function, its table)
Conversion = tuple[Callable[[tuple[Any, ...], list[Any]], tuple[Any, ...]], list[Any]] | None


class _Run(NamedTuple):
    """Consecutive fixed-size fields read with one struct, or one variable-size field (``read``).

    ``fields``: values it yields (fields not selected are skipped). ``cuts``: the layouts ending
    inside a fixed run -- (values, bytes, struct of that prefix, its conversion), shortest first;
    ``ends_at`` / ``ends_size`` are the last of them (-1: none; for a variable field, 0 when a
    layout ends with it)."""

    struct: struct.Struct | None
    size: int
    fields: int
    conversion: Conversion
    read: Reader | None
    ends_at: int
    ends_size: int
    cuts: tuple[tuple[int, int, struct.Struct, Conversion], ...]


def _run(types: list[FieldType], chosen: list[bool], ends: list[int]) -> _Run:
    read = types[0].read
    if read is not None:
        if not chosen[0]:
            read = types[0].skip or read
        return _Run(None, 0, int(chosen[0]), None, read, 0 if ends else -1, 0, ())
    layout, conversion = _fixed(types, chosen)
    cuts = tuple((sum(chosen[:count]), *_prefix(types[:count], chosen[:count])) for count in ends)
    last = cuts[-1] if cuts else (-1, 0)
    return _Run(layout, layout.size, sum(chosen), conversion, None, last[0], last[1], cuts)


def _prefix(types: list[FieldType], chosen: list[bool]) -> tuple[int, struct.Struct, Conversion]:
    layout, conversion = _fixed(types, chosen)
    return layout.size, layout, conversion


def _fixed(types: list[FieldType], chosen: list[bool]) -> tuple[struct.Struct, Conversion]:
    """One struct for the run: fields not chosen become pad bytes, so they cost nothing."""
    layout = struct.Struct("<" + "".join((t.fmt or "") if keep else f"{t.size}x" for t, keep in zip(types, chosen)))
    kept = [t for t, keep in zip(types, chosen) if keep]
    if all(t.width == 1 for t in kept):
        sparse = [(i, t.convert) for i, t in enumerate(kept) if t.convert is not None]
        return layout, (_in_place, sparse) if sparse else None
    return layout, (_gather, [(t.width, t.convert) for t in kept])


def _in_place(flat: tuple[Any, ...], converters: list[Any]) -> tuple[Any, ...]:
    """One struct value per field; convert the few that need it (tuple structs of one member)."""
    values = list(flat)
    for index, convert in converters:
        values[index] = convert((values[index],))
    return tuple(values)


def _gather(flat: tuple[Any, ...], converters: list[Any]) -> tuple[Any, ...]:
    """Several struct values per field (arrays, structs): gather them, converting where needed."""
    out = []
    at = 0
    for width, convert in converters:
        chunk = flat[at : at + width]
        at += width
        out.append(convert(chunk) if convert is not None else chunk[0])
    return tuple(out)


class Layout:
    """One field list with its layouts (versions); ``decode`` -> (values, trailing bytes).

    ``select(names)`` gives a reader of the same layouts that yields only those fields (in the
    layout's order): the others are skipped, not converted -- what a decoder on the hot path uses.
    """

    __slots__ = ("name", "fields", "index", "ends", "sizes", "_all", "_runs", "_pads", "_whole")

    def __init__(
        self,
        name: str,
        fields: Sequence[tuple[str, FieldType]],
        ends: Sequence[int],
        keep: Collection[str] | None = None,
    ) -> None:
        """``fields`` in order, ``ends`` the field count at the end of each layout (oldest first), ``keep``
        the fields to yield (None: all)."""
        if not fields:
            raise ValueError(f"{name} has no fields")
        self.name = name
        self._all = tuple(fields)
        self.ends = tuple(ends)
        types = [t for _, t in fields]
        chosen = [keep is None or field_name in keep for field_name, _ in fields]
        self.fields = tuple(field_name for (field_name, _), take in zip(fields, chosen) if take)  # what it yields
        self.index = {field_name: i for i, field_name in enumerate(self.fields)}
        self._runs = _compile(types, chosen, list(self.ends))
        total = len(self.fields)
        self._pads = {sum(chosen[:end]): (None,) * (total - sum(chosen[:end])) for end in self.ends}
        # byte size of each layout when all its fields are fixed, else None
        self.sizes = tuple(_fixed_size(types[:end]) for end in self.ends)
        # an all-fixed layout as long as the bytes: one struct, nothing to pad (the usual event)
        whole = self._runs[0]
        self._whole = whole if len(self._runs) == 1 and whole.struct is not None else None

    @classmethod
    def parse(cls, name: str, spec: str, defined: Mapping[str, FieldType] = {}) -> Layout:
        """A layout as the tables write it: ``"a:u64 b:pubkey | c:u8"``."""
        fields, ends = parse_fields(spec, defined)
        return cls(name, fields, ends)

    def select(self, names: str) -> Layout:
        """A reader of the same layouts yielding only ``names`` (space-separated, in layout order)."""
        wanted = names.split()
        unknown = [n for n in wanted if n not in self.index]
        if unknown:
            raise ValueError(f"{self.name} has no field(s) {', '.join(unknown)}")
        if wanted != sorted(wanted, key=self.index.__getitem__):
            raise ValueError(f"{self.name}: select fields in layout order")
        return Layout(self.name, self._all, self.ends, set(wanted))

    def __getitem__(self, field_name: str) -> int:
        """Position of a field in the decoded values."""
        return self.index[field_name]

    def decode(self, data: bytes, offset: int = 8) -> tuple[tuple[Any, ...], int]:
        """Values of the newest layout ``data[offset:]`` fully contains (later fields None) and the
        number of bytes after it. Raises ``DecodeError`` when even the oldest layout is cut short."""
        whole = self._whole
        if whole is not None and offset + whole.size <= len(data):
            flat = whole.struct.unpack_from(data, offset)  # type: ignore[union-attr]
            conversion = whole.conversion
            if conversion is not None:
                flat = conversion[0](flat, conversion[1])
            return flat, len(data) - offset - whole.size
        values: list[Any] = []
        count = 0  # values read
        pos = offset
        kept = -1  # values at the end of the newest complete layout
        kept_pos = pos
        end = len(data)
        try:
            for layout, size, fields, conversion, read, ends_at, ends_size, cuts in self._runs:
                if read is not None:
                    value, pos = read(data, pos)
                    if fields:
                        values.append(value)
                        count += 1
                    if ends_at >= 0:
                        kept = count
                        kept_pos = pos
                elif pos + size <= end:
                    flat = layout.unpack_from(data, pos)  # type: ignore[union-attr]
                    if ends_at >= 0:
                        kept = count + ends_at
                        kept_pos = pos + ends_size
                    values += flat if conversion is None else conversion[0](flat, conversion[1])
                    count += fields
                    pos += size
                else:  # the bytes end inside this run: keep the longest layout ending before that
                    for cut, cut_size, prefix, cut_conversion in reversed(cuts):
                        if pos + cut_size <= end:
                            flat = prefix.unpack_from(data, pos)
                            values += flat if cut_conversion is None else cut_conversion[0](flat, cut_conversion[1])
                            kept = count + cut
                            kept_pos = pos + cut_size
                            break
                    break
        except _Short:
            pass
        except (struct.error, IndexError) as exc:
            raise DecodeError(f"{self.name}: malformed field at offset {pos}: {exc}") from None
        if kept < 0:
            need = self.sizes[0]
            wanted = f"{need} bytes" if need is not None else "its oldest layout"
            raise DecodeError(f"{self.name} truncated: {end - offset} bytes after the discriminator, needs {wanted}")
        if kept < len(values):
            del values[kept:]
        return (*values, *self._pads[kept]), end - kept_pos


def _fixed_size(types: list[FieldType]) -> int | None:
    if all(t.fixed for t in types):
        return sum(t.size for t in types)
    return None


def _compile(types: list[FieldType], chosen: list[bool], ends: list[int]) -> list[_Run]:
    """Maximal runs of fixed fields, and each variable field alone; layout ends kept per run."""
    runs: list[_Run] = []
    start = 0
    for position, kind in enumerate(types):
        if kind.fixed:
            continue
        if start < position:
            inside = [e - start for e in ends if start < e <= position]
            runs.append(_run(types[start:position], chosen[start:position], inside))
        runs.append(_run([kind], [chosen[position]], [1] if position + 1 in ends else []))
        start = position + 1
    if start < len(types):
        inside = [e - start for e in ends if start < e <= len(types)]
        runs.append(_run(types[start:], chosen[start:], inside))
    return runs


class EventLayout:
    """An Anchor event of a program: its discriminator, layout and exact-length variants.

    ``read(data)`` -> (values, trailing bytes) for ``data`` = discriminator + payload, in the order of
    ``layout`` or of the variant its length picks; ``decode`` also says which layout that was."""

    __slots__ = ("name", "layout", "variants", "discriminator", "read")

    def __init__(self, name: str, layout: Layout, variants: Mapping[int, Layout]) -> None:
        self.name = name
        self.layout = layout
        self.variants = dict(variants)  # total length (discriminator included) -> layout
        self.discriminator = discriminator("event", name)
        self.read: Callable[[bytes], tuple[tuple[Any, ...], int]] = (
            self._read_variant if self.variants else layout.decode
        )

    def decode(self, data: bytes) -> tuple[Layout, tuple[Any, ...], int]:
        """(the layout used, values, trailing bytes)."""
        layout = self.variants.get(len(data), self.layout)
        values, trailing = layout.decode(data)
        return layout, values, trailing

    def _read_variant(self, data: bytes) -> tuple[tuple[Any, ...], int]:
        return self.variants.get(len(data), self.layout).decode(data)

    def select(self, names: str) -> EventLayout:
        """The same event read for ``names`` only (each layout yields those of them it has)."""

        def pick(layout: Layout) -> Layout:
            return layout.select(" ".join(n for n in names.split() if n in layout.index))

        unknown = [n for n in names.split() if all(n not in x.index for x in (self.layout, *self.variants.values()))]
        if unknown:
            raise ValueError(f"{self.name} has no field(s) {', '.join(unknown)}")
        return EventLayout(self.name, pick(self.layout), {n: pick(v) for n, v in self.variants.items()})


@dataclass(frozen=True, slots=True)
class InstructionLayout:
    """An Anchor instruction: discriminator, account names (positions) and argument layout."""

    name: str
    accounts: tuple[str, ...]
    args: Layout | None
    discriminator: bytes

    def account(self, name: str) -> int:
        """Position of the named account among the instruction's accounts."""
        return self.accounts.index(name)


class ProgramLayouts:
    """A program's layout table: defined types, events and instructions, by discriminator."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.types: dict[str, FieldType] = {}
        self.events: dict[bytes, EventLayout] = {}
        self.instructions: dict[bytes, InstructionLayout] = {}
        self._events_by_name: dict[str, EventLayout] = {}
        self._instructions_by_name: dict[str, InstructionLayout] = {}

    def struct(self, name: str, spec: str) -> None:
        """A defined struct: ``"address:pubkey share_bps:u16"``."""
        members, _ = parse_fields(spec, self.types)
        self.types[name] = struct_of(name, [t for _, t in members])

    def enum(self, name: str, variants: str) -> None:
        """A defined enum: ``"Buy Sell"``, or with data ``"Constant:ConstantCurve Fixed:FixedCurve"``."""
        payloads: list[FieldType | None] = []
        for variant in variants.split():
            _, _, payload = variant.partition(":")
            payloads.append(parse_type(payload, self.types) if payload else None)
        self.types[name] = enum_of(name, payloads)

    def event(self, name: str, spec: str, variants: Mapping[int, str] | None = None) -> EventLayout:
        entry = EventLayout(
            name,
            Layout.parse(name, spec, self.types),
            {
                length: Layout.parse(f"{name} ({length} bytes)", text, self.types)
                for length, text in (variants or {}).items()
            },
        )
        self.events[entry.discriminator] = entry
        self._events_by_name[name] = entry
        return entry

    def instruction(self, name: str, accounts: str, args: str = "") -> InstructionLayout:
        entry = InstructionLayout(
            name,
            tuple(accounts.split()),
            Layout.parse(f"{name} arguments", args, self.types) if args.strip() else None,
            discriminator("global", _snake(name)),
        )
        self.instructions[entry.discriminator] = entry
        self._instructions_by_name[name] = entry
        return entry

    def event_named(self, name: str) -> EventLayout:
        return self._events_by_name[name]

    def instruction_named(self, name: str) -> InstructionLayout:
        return self._instructions_by_name[name]

    def event_names(self) -> Iterable[str]:
        return self._events_by_name.keys()


def _snake(name: str) -> str:
    """Anchor hashes instruction names in snake_case (legacy IDLs write them in camelCase)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
