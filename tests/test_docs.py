"""Documentation points at files that exist: every relative Markdown link, and every ``*.md`` or
``docs/…`` path quoted in the project's Markdown and Python files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
QUOTED_PATH = re.compile(r"`{1,2}((?:[\w.-]+/)*[\w.-]+\.md|docs/[\w./-]+)`{1,2}")


def documents() -> list[Path]:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files are the project's")
    listed = subprocess.run(["git", "ls-files", "*.md", "*.py"], cwd=REPO_ROOT, capture_output=True, text=True)
    return [REPO_ROOT / name for name in listed.stdout.split() if "node_modules" not in name]


def test_relative_links_and_quoted_paths_exist() -> None:
    missing = []
    for path in documents():
        text = path.read_text()
        targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)] if path.suffix == ".md" else []
        for target in targets:
            if not (path.parent / target.split("#")[0]).exists():
                missing.append(f"{path.relative_to(REPO_ROOT)}: link {target}")
        for quoted in QUOTED_PATH.findall(text):
            if not any((base / quoted).exists() for base in (REPO_ROOT, path.parent)):
                missing.append(f"{path.relative_to(REPO_ROOT)}: {quoted}")
    assert missing == []


def test_the_architecture_document_names_every_package() -> None:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    for folder in ("sources/", "flows/", "sinks/", "protos/", "solflow/domain/", "deploy/"):
        assert folder in text, folder
