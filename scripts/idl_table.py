"""Print an Anchor IDL's events, instructions and defined types as layout-table entries.

    python scripts/idl_table.py path/to/idl.json [--only NAME ...]

The output is Python for a table module in ``solflow/domain/decode/idl/`` (see docs/decode.md): one
``TABLE.struct`` / ``TABLE.enum`` per defined type the events and instructions use, one ``TABLE.event`` per event
and one ``TABLE.instruction`` per instruction, in the IDL's field order. It marks no older layouts: add
a ``|`` after the last field of each layout the program wrote before (they are in the IDL's history).
Reads both IDL formats (Anchor >= 0.30 and the legacy camelCase one).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

_WIDTH = 96  # characters of spec per source line
_LINE = 120


def type_text(kind: Any) -> str:
    if isinstance(kind, str):
        return "pubkey" if kind == "publicKey" else kind
    if "defined" in kind:
        defined = kind["defined"]
        return defined if isinstance(defined, str) else defined["name"]
    if "vec" in kind:
        return f"vec<{type_text(kind['vec'])}>"
    if "option" in kind:
        return f"option<{type_text(kind['option'])}>"
    if "array" in kind:
        item, length = kind["array"]
        return f"[{type_text(item)};{length}]"
    raise ValueError(f"unsupported IDL type {kind!r}")


def fields_text(fields: list[Any]) -> str:
    parts = []
    for position, member in enumerate(fields):
        if isinstance(member, dict) and "name" in member:
            parts.append(f"{member['name']}:{type_text(member['type'])}")
        else:  # tuple struct
            parts.append(f"_{position}:{type_text(member)}")
    return " ".join(parts)


def call(function: str, name: str, *specs: str) -> str:
    """``TABLE.<function>("name", "spec", ...)`` on one line when it fits, else one wrapped argument per block."""
    one_line = f"TABLE.{function}({json.dumps(name)}, {', '.join(json.dumps(spec) for spec in specs)})"
    if len(one_line) <= _LINE:
        return one_line
    blocks = [f"    {json.dumps(name)},"]
    for spec in specs:
        lines = textwrap.wrap(spec, _WIDTH, break_on_hyphens=False) or [""]
        pieces = [line + (" " if i < len(lines) - 1 else "") for i, line in enumerate(lines)]
        blocks.append("\n".join(f"    {json.dumps(piece)}" for piece in pieces) + ",")
    return f"TABLE.{function}(\n" + "\n".join(blocks) + "\n)"


def account_names(accounts: list[Any]) -> list[str]:
    names = []
    for account in accounts:
        if "accounts" in account:  # a nested account group
            names.extend(account_names(account["accounts"]))
        else:
            names.append(account["name"])
    return names


def used_types(idl: dict[str, Any], roots: list[Any]) -> list[str]:
    defined = {t["name"]: t for t in idl.get("types", [])}
    order: list[str] = []

    def visit(kind: Any) -> None:
        if isinstance(kind, str):
            return
        if "defined" in kind:
            name = type_text(kind)
            if name in defined and name not in order:
                body = defined[name]["type"]
                for member in body.get("fields", []):
                    visit(member["type"] if isinstance(member, dict) and "type" in member else member)
                for variant in body.get("variants", []):
                    for member in variant.get("fields", []):
                        visit(member["type"] if isinstance(member, dict) and "type" in member else member)
                order.append(name)
            return
        for key in ("vec", "option"):
            if key in kind:
                visit(kind[key])
        if "array" in kind:
            visit(kind["array"][0])

    for root in roots:
        visit(root)
    return order


def render(idl: dict[str, Any], only: set[str]) -> str:
    defined = {t["name"]: t for t in idl.get("types", [])}
    events = [e for e in idl.get("events", []) if not only or e["name"] in only]
    instructions = [i for i in idl.get("instructions", []) if not only or i["name"] in only]

    def event_fields(event: dict[str, Any]) -> list[Any]:
        if "fields" in event:
            return event["fields"]  # legacy IDL: fields inline
        fields: list[Any] = defined[event["name"]]["type"]["fields"]
        return fields

    roots = [f["type"] for e in events for f in event_fields(e)] + [a["type"] for i in instructions for a in i["args"]]
    out = []
    for name in used_types(idl, roots):
        if name in {e["name"] for e in events}:
            continue
        body = defined[name]["type"]
        if body["kind"] == "struct":
            out.append(call("struct", name, fields_text(body["fields"])))
            continue
        variants = []
        for variant in body["variants"]:
            members = variant.get("fields", [])
            if len(members) > 1:
                raise ValueError(f"{name}.{variant['name']}: variants with several fields are not supported")
            if members:
                member = members[0]
                variants.append(
                    f"{variant['name']}:{type_text(member['type'] if isinstance(member, dict) and 'type' in member else member)}"
                )
            else:
                variants.append(variant["name"])
        out.append(call("enum", name, " ".join(variants)))
    for event in events:
        out.append(call("event", event["name"], fields_text(event_fields(event))))
    for instruction in instructions:
        specs = [" ".join(account_names(instruction["accounts"]))]
        if instruction["args"]:
            specs.append(fields_text(instruction["args"]))
        out.append(call("instruction", instruction["name"], *specs))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("idl", type=Path)
    parser.add_argument("--only", action="append", default=[], help="only this event or instruction (repeatable)")
    args = parser.parse_args(argv)
    try:
        idl = json.loads(args.idl.read_text())
    except (OSError, ValueError) as exc:
        print(f"idl_table: {args.idl}: {exc}", file=sys.stderr)
        return 1
    known = {entry["name"] for part in ("events", "instructions") for entry in idl.get(part, [])}
    missing = sorted(set(args.only) - known)
    if missing:
        print(f"idl_table: {args.idl} has no event or instruction {', '.join(missing)}", file=sys.stderr)
        return 1
    sys.stdout.write(render(idl, set(args.only)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
