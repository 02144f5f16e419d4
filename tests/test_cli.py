"""``solflow`` conventions shared by every command: ``--version``, exit statuses in ``--help`` and README."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from solflow.cli.main import COMMANDS
from solflow.cli.output import EXIT_STATUSES

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "solflow.cli.main"]


def solflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_version() -> None:
    done = solflow("--version")
    assert done.returncode == 0 and done.stdout == f"solflow {metadata.version('solflow')}\n"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_ends_with_the_exit_statuses(command: str | None) -> None:
    done = solflow(*([command] if command else []), "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(EXIT_STATUSES)


def test_readme_lists_the_exit_statuses() -> None:
    assert EXIT_STATUSES in (REPO_ROOT / "README.md").read_text()


def test_a_usage_error_exits_2_and_a_partly_unreadable_input_1(tmp_path: Path) -> None:
    assert solflow("top", "--limit").returncode == 2
    missing = tmp_path / "missing.json"
    done = solflow("decode", str(missing))
    assert done.returncode == 1 and str(missing) in done.stderr
