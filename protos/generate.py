"""Regenerate the committed protobuf/gRPC modules from ``protos/*.proto``.

Usage: ``python -m protos.generate`` (writes the modules) or ``python -m protos.generate --check``
(exit 1 and name the stale files when the committed modules differ from a fresh generation).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent
PROTO_FILES = ("protos/solana_storage.proto", "protos/geyser.proto")


def generate_into(out_root: Path) -> list[Path]:
    """Run protoc over the project's .proto files, writing ``protos/*_pb2*.py`` under ``out_root``."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    (out_root / "protos").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *PROTO_FILES,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + ", ".join(PROTO_FILES))
    return sorted((out_root / "protos").glob("*_pb2*.py*"))


def stale_files() -> list[str]:
    """Names of generated modules whose committed text differs from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate_into(Path(tmp))
        stale = []
        for path in fresh:
            committed = PROTO_DIR / path.name
            if not committed.exists() or committed.read_bytes() != path.read_bytes():
                stale.append(path.name)
        return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m protos.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale modules")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print("stale generated protobuf modules: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("generated protobuf modules are up to date")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate_into(Path(tmp)):
            shutil.copyfile(path, PROTO_DIR / path.name)
            print(f"wrote protos/{path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
