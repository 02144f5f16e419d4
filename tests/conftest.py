"""Shared test fixtures: where the real mainnet fixtures live, and the repo root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from solflow import run_control

REPO_ROOT = Path(__file__).resolve().parent.parent


def _fixtures_dir() -> Path | None:
    configured = os.environ.get("SOLFLOW_FIXTURES")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "fixtures"
    return candidate if (candidate / "rpc").is_dir() else None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared mainnet fixtures (``SOLFLOW_FIXTURES`` or ``../shared/fixtures``); skip if absent."""
    found = _fixtures_dir()
    if found is None:
        pytest.skip("mainnet fixtures not found: set SOLFLOW_FIXTURES or check out ../shared/fixtures")
    return found


@pytest.fixture(autouse=True)
def fresh_run_control():
    """A source that failed stops every later source in its process: each test starts afresh."""
    run_control.reset()
    yield
    run_control.reset()
