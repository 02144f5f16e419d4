"""The layout the design card asks for: a pure domain, and a wheel with the card's packages only.

* Every module of ``solflow.domain`` imports, in a fresh interpreter, without pulling in Bytewax,
  the outputs' or the network's modules, or SolFlow's own I/O layers.
* ``pip install .`` into a clean virtual environment adds the top-level packages ``flows``,
  ``sources``, ``sinks``, ``protos`` and ``solflow`` and nothing else (no generic ``cli`` or
  ``analysis`` to collide with another distribution).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CARD_PACKAGES = {"flows", "sources", "sinks", "protos", "solflow"}

# Top-level modules the domain must not load: the dataflow engine, storage, network, threads and
# processes, logging, the dataframe and plotting stacks, and SolFlow's own layers that do I/O.
FORBIDDEN = {
    "bytewax", "sqlite3", "_sqlite3", "socket", "ssl", "_ssl", "grpc", "asyncio", "selectors", "http",
    "subprocess", "threading", "multiprocessing", "logging", "polars", "pyarrow", "duckdb", "zstandard",
    "prometheus_client", "rich", "matplotlib", "sources", "sinks", "flows",
}  # fmt: skip
FORBIDDEN_SOLFLOW = ("solflow.settings", "solflow.cli", "solflow.server", "solflow.analysis", "solflow.bench",
                     "solflow.simulator")  # fmt: skip

_IMPORT_THE_DOMAIN = """
import importlib, json, pkgutil, sys
before = set(sys.modules)
import solflow.domain
names = [m.name for m in pkgutil.walk_packages(solflow.domain.__path__, "solflow.domain.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(set(sys.modules) - before)}))
"""


def test_the_domain_imports_no_bytewax_and_no_io_modules() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_THE_DOMAIN], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {"solflow.domain.trade", "solflow.domain.windows", "solflow.domain.decode.pumpswap"} <= set(
        report["modules"]
    )
    loaded = report["loaded"]
    assert sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN) == []
    assert sorted(m for m in loaded if m.startswith(FORBIDDEN_SOLFLOW)) == []


def test_the_wheel_installs_the_card_packages_and_solflow_only(tmp_path: Path) -> None:
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout to know which files are the project's")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    source = tmp_path / "source"  # a copy of the tracked files: nothing untracked, no build output in the repo
    for name in filter(None, tracked):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    before = set(Path(site).iterdir())
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    added = {path.name for path in set(Path(site).iterdir()) - before}
    packages = {name for name in added if not name.endswith((".dist-info", ".pth"))}
    assert packages == CARD_PACKAGES
    version = subprocess.run([environment / "bin" / "solflow", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("solflow "), version.stderr
